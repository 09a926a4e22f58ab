// Closing the last tab of a file with unsaved changes asks first: Save, Don't Save
// (drops the draft too) or Cancel, like VS Code.
import { create } from "zustand";

import { Dialog } from "./Dialog";
import { discardDraft, isDirty, reloadDocument, saveDocument } from "./documents";
import { log } from "./output";
import { useIde } from "./store";

const usePending = create<{ pending: { groupId: string; tabId: string; path: string } | null; error: string | null }>(() => ({ pending: null, error: null }));

/** Closes a tab, asking first when it is the last view of a dirty file. */
export function requestClose(groupId: string, tabId: string): void {
  const state = useIde.getState();
  const tab = state.groups.find((g) => g.id === groupId)?.tabs.find((t) => t.id === tabId);
  if (!tab) return;
  const elsewhere = state.groups.some((g) => g.id !== groupId && g.tabs.some((t) => t.kind === "file" && t.path === tab.path));
  if (tab.kind === "file" && !elsewhere && isDirty(tab.path)) {
    usePending.setState({ pending: { groupId, tabId, path: tab.path }, error: null });
    return;
  }
  state.closeTab(groupId, tabId);
}

export function CloseGuardDialog() {
  const { pending, error } = usePending();
  if (!pending) return null;
  const name = pending.path.split("/").pop();
  const cancel = () => usePending.setState({ pending: null, error: null });
  const close = () => {
    useIde.getState().closeTab(pending.groupId, pending.tabId);
    cancel();
  };
  return (
    <Dialog title={`Save changes to ${name}?`} onClose={cancel}>
      <p>Your changes will be lost if you don't save them.</p>
      {error && (
        <p className="form-error" role="alert">
          {error}
        </p>
      )}
      <div className="ide-dialog-actions">
        <button
          type="button"
          data-autofocus
          onClick={async () => {
            const result = await saveDocument(pending.path);
            if (result === "saved") {
              log(`Saved ${pending.path}`);
              close();
            } else if (result === "conflict") cancel(); // the conflict dialog takes over
            else usePending.setState({ error: `Could not save ${pending.path}.` });
          }}
        >
          Save
        </button>
        <button
          type="button"
          className="secondary"
          onClick={async () => {
            discardDraft(pending.path);
            await reloadDocument(pending.path).catch(() => undefined);
            close();
          }}
        >
          Don't Save
        </button>
        <button type="button" className="secondary" onClick={cancel}>
          Cancel
        </button>
      </div>
    </Dialog>
  );
}
