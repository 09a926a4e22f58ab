// Asks before something that cannot be undone. `onConfirm` may be async: the
// confirm button shows it is busy, and a failure is shown inside the dialog
// (which stays open) instead of being lost.
import { useState, type ReactNode } from "react";

import { Button } from "./Button";
import { Dialog } from "./Dialog";
import { errorMessage } from "./errors";
import { FormError } from "./Field";

export interface ConfirmDialogProps {
  open: boolean;
  title: ReactNode;
  /** What will happen, naming the thing it happens to. */
  children: ReactNode;
  confirmLabel: string;
  cancelLabel?: string;
  /** Red confirm button (deleting, revoking). Default true. */
  danger?: boolean;
  onConfirm: () => unknown | Promise<unknown>;
  onClose: () => void;
}

export function ConfirmDialog({
  open,
  title,
  children,
  confirmLabel,
  cancelLabel = "Cancel",
  danger = true,
  onConfirm,
  onClose,
}: ConfirmDialogProps) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const close = () => {
    if (busy) return;
    setError(null);
    onClose();
  };
  const confirm = async () => {
    setBusy(true);
    setError(null);
    try {
      await onConfirm();
      setBusy(false);
      onClose();
    } catch (failure) {
      setBusy(false);
      setError(errorMessage(failure));
    }
  };
  return (
    <Dialog
      open={open}
      title={title}
      onClose={close}
      role="alertdialog"
      size="small"
      dismissible={!busy}
      footer={
        <>
          <Button variant="secondary" onClick={close} disabled={busy} data-autofocus="">
            {cancelLabel}
          </Button>
          <Button variant={danger ? "danger" : "primary"} busy={busy} onClick={confirm}>
            {confirmLabel}
          </Button>
        </>
      }
    >
      <div className="confirm-message">{children}</div>
      <FormError message={error} />
    </Dialog>
  );
}
