// Shows a secret that the server reveals only once (a new API token): read-only,
// selectable, with a Copy button and a plain warning that it will not be shown again.
import { useEffect, useRef, useState, type ReactNode } from "react";

import { Button } from "./Button";

export interface CopyOnceProps {
  /** The secret itself. */
  value: string;
  /** Names the field, e.g. "New API token". */
  label: string;
  /** Extra help under the warning (how to use the secret). */
  children?: ReactNode;
}

/** Copies text to the clipboard, falling back to a selection for non-secure pages. */
export async function copyText(text: string, fallbackInput?: HTMLInputElement | null): Promise<boolean> {
  try {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(text);
      return true;
    }
  } catch {
    // Fall through to the selection.
  }
  if (fallbackInput) {
    fallbackInput.focus();
    fallbackInput.select();
    try {
      return document.execCommand("copy");
    } catch {
      return false;
    }
  }
  return false;
}

export function CopyOnce({ value, label, children }: CopyOnceProps) {
  const input = useRef<HTMLInputElement>(null);
  const [state, setState] = useState<"idle" | "copied" | "failed">("idle");
  useEffect(() => {
    if (state === "idle") return;
    const timer = setTimeout(() => setState("idle"), 4000);
    return () => clearTimeout(timer);
  }, [state]);
  return (
    <div className="copy-once">
      <p className="copy-once-warning" role="note">
        <strong>Copy it now.</strong> You won't see this again: Dockyard keeps only a hash of it.
      </p>
      <div className="copy-once-row">
        <input
          ref={input}
          className="copy-once-value mono"
          readOnly
          value={value}
          aria-label={label}
          onFocus={(event) => event.currentTarget.select()}
          spellCheck={false}
        />
        <Button
          variant="secondary"
          onClick={async () => setState((await copyText(value, input.current)) ? "copied" : "failed")}
        >
          {state === "copied" ? "Copied" : "Copy"}
        </Button>
      </div>
      <div role="status" aria-live="polite" className="copy-once-status">
        {state === "copied" ? "Copied to the clipboard." : state === "failed" ? "Could not copy: select the text and copy it yourself." : ""}
      </div>
      {children}
    </div>
  );
}
