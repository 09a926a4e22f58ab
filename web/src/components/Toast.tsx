// Short notices ("Project deleted") in a polite live region at the bottom right.
// Call `toast("…")` from anywhere; render `<Toaster />` once per screen (the
// `TopBar`'s `AppShell` does). Errors stay until dismissed; the rest go after 4 s.
import { create } from "zustand";

export type ToastKind = "info" | "success" | "error";

export interface ToastItem {
  id: number;
  message: string;
  kind: ToastKind;
}

interface ToastState {
  items: ToastItem[];
  push(message: string, kind: ToastKind): number;
  dismiss(id: number): void;
}

let nextId = 1;

export const useToasts = create<ToastState>((set) => ({
  items: [],
  push(message, kind) {
    const id = nextId++;
    set((state) => ({ items: [...state.items.slice(-2), { id, message, kind }] }));
    return id;
  },
  dismiss(id) {
    set((state) => ({ items: state.items.filter((item) => item.id !== id) }));
  },
}));

/** Shows a notice; answers its id (for `useToasts.getState().dismiss`). */
export function toast(message: string, kind: ToastKind = "success"): number {
  const id = useToasts.getState().push(message, kind);
  if (kind !== "error") setTimeout(() => useToasts.getState().dismiss(id), 4000);
  return id;
}

export function Toaster() {
  const items = useToasts((state) => state.items);
  const dismiss = useToasts((state) => state.dismiss);
  return (
    <div className="toaster" role="region" aria-label="Notifications">
      <div role="status" aria-live="polite" className="toaster-list">
        {items.map((item) => (
          <div key={item.id} className={`toast toast-${item.kind}`}>
            <span className="toast-message">{item.message}</span>
            <button type="button" className="toast-dismiss" aria-label="Dismiss notification" onClick={() => dismiss(item.id)}>
              ×
            </button>
          </div>
        ))}
      </div>
    </div>
  );
}
