// A modal dialog: rendered over the page in a portal, `role="dialog"` (or
// "alertdialog") with `aria-modal`, named by its title, focus moved inside on open,
// trapped there (Tab and Shift+Tab wrap), Escape (unless something inside handled
// it first) and a click on the backdrop close it, and focus goes back to where it
// was when it closes. Dialogs may stack: only the top-most one answers keys.
//
//   <Dialog open={open} title="Delete project" onClose={() => setOpen(false)}
//     footer={<Button onClick={…}>Delete</Button>}>…</Dialog>
import { useEffect, useId, useRef, type ReactNode, type RefObject } from "react";
import { createPortal } from "react-dom";

export interface DialogProps {
  open: boolean;
  title: ReactNode;
  onClose: () => void;
  children?: ReactNode;
  /** Buttons, right-aligned under the content. */
  footer?: ReactNode;
  /** Text under the title, read as the dialog's description. */
  description?: ReactNode;
  /** Focused on open; default: the first field, else the first button. */
  initialFocus?: RefObject<HTMLElement | null>;
  role?: "dialog" | "alertdialog";
  size?: "small" | "medium" | "large";
  /** False keeps the dialog open on Escape and backdrop clicks (e.g. while saving). */
  dismissible?: boolean;
  className?: string;
}

const focusableSelector = [
  "a[href]",
  "button:not([disabled])",
  "input:not([disabled]):not([type='hidden'])",
  "select:not([disabled])",
  "textarea:not([disabled])",
  "[tabindex]:not([tabindex='-1'])",
  "[contenteditable='true']",
].join(",");

/** The elements Tab can reach inside `root`, in order. */
export function focusableIn(root: HTMLElement): HTMLElement[] {
  return Array.from(root.querySelectorAll<HTMLElement>(focusableSelector)).filter(
    (element) => !element.hasAttribute("inert") && element.getClientRects().length > 0,
  );
}

export function Dialog({
  open,
  title,
  onClose,
  children,
  footer,
  description,
  initialFocus,
  role = "dialog",
  size = "medium",
  dismissible = true,
  className,
}: DialogProps) {
  const titleId = useId();
  const descriptionId = useId();
  const panel = useRef<HTMLDivElement>(null);
  const closeRef = useRef(onClose);
  closeRef.current = onClose;
  const dismissibleRef = useRef(dismissible);
  dismissibleRef.current = dismissible;

  useEffect(() => {
    if (!open) return;
    const previous = document.activeElement instanceof HTMLElement ? document.activeElement : null;
    const root = panel.current;
    if (root) {
      const target =
        initialFocus?.current ??
        root.querySelector<HTMLElement>("[autofocus], [data-autofocus]") ??
        focusableIn(root).find((element) => element.matches("input, select, textarea")) ??
        focusableIn(root).find((element) => !element.classList.contains("dialog-close")) ??
        root;
      target.focus();
    }
    const onKeyDown = (event: KeyboardEvent) => {
      const current = panel.current;
      if (!current) return;
      // Only the top-most dialog answers.
      const dialogs = document.querySelectorAll("[data-dialog-panel]");
      if (dialogs[dialogs.length - 1] !== current) return;
      if (event.key === "Escape") {
        // Something inside handled it (an open menu, an editor widget).
        if (event.defaultPrevented) return;
        event.preventDefault();
        event.stopPropagation();
        if (dismissibleRef.current) closeRef.current();
        return;
      }
      if (event.key !== "Tab") return;
      const items = focusableIn(current);
      if (items.length === 0) {
        event.preventDefault();
        current.focus();
        return;
      }
      const first = items[0]!;
      const last = items[items.length - 1]!;
      const active = document.activeElement;
      if (event.shiftKey && (active === first || !current.contains(active))) {
        event.preventDefault();
        last.focus();
      } else if (!event.shiftKey && (active === last || !current.contains(active))) {
        event.preventDefault();
        first.focus();
      }
    };
    // Focus that escapes (a click on the page behind) comes back.
    const onFocusIn = (event: FocusEvent) => {
      const current = panel.current;
      const dialogs = document.querySelectorAll("[data-dialog-panel]");
      if (!current || dialogs[dialogs.length - 1] !== current) return;
      if (event.target instanceof Node && !current.contains(event.target)) current.focus();
    };
    document.addEventListener("keydown", onKeyDown);
    document.addEventListener("focusin", onFocusIn);
    return () => {
      document.removeEventListener("keydown", onKeyDown);
      document.removeEventListener("focusin", onFocusIn);
      if (previous && previous.isConnected) previous.focus();
    };
    // initialFocus is read once, when the dialog opens.
  }, [open]);

  if (!open) return null;
  return createPortal(
    <div
      className="dialog-backdrop"
      onMouseDown={(event) => {
        if (event.target === event.currentTarget && dismissibleRef.current) closeRef.current();
      }}
    >
      <div
        ref={panel}
        data-dialog-panel=""
        className={["dialog", `dialog-${size}`, className].filter(Boolean).join(" ")}
        role={role}
        aria-modal="true"
        aria-labelledby={titleId}
        aria-describedby={description ? descriptionId : undefined}
        tabIndex={-1}
      >
        <div className="dialog-header">
          <h2 id={titleId} className="dialog-title">
            {title}
          </h2>
          {dismissible ? (
            <button type="button" className="dialog-close" aria-label="Close" onClick={() => closeRef.current()}>
              ×
            </button>
          ) : null}
        </div>
        {description ? (
          <p id={descriptionId} className="dialog-description">
            {description}
          </p>
        ) : null}
        <div className="dialog-body">{children}</div>
        {footer ? <div className="dialog-footer">{footer}</div> : null}
      </div>
    </div>,
    document.body,
  );
}
