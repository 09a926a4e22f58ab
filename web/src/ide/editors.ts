// The live Monaco editors, by editor group, so commands (save, go to line, format) reach
// the active one without going through React.
import type * as MonacoApi from "monaco-editor";

import { useIde } from "./store";

const editors = new Map<string, MonacoApi.editor.IStandaloneCodeEditor>();

export function registerEditor(groupId: string, editor: MonacoApi.editor.IStandaloneCodeEditor): () => void {
  editors.set(groupId, editor);
  return () => {
    if (editors.get(groupId) === editor) editors.delete(groupId);
  };
}

export function activeEditor(): MonacoApi.editor.IStandaloneCodeEditor | null {
  return editors.get(useIde.getState().activeGroupId) ?? null;
}

/** Runs one of Monaco's editor actions on the active editor (focusing it first). */
export function runEditorAction(actionId: string): boolean {
  const editor = activeEditor();
  if (!editor || !editor.getModel()) return false;
  const action = editor.getAction(actionId);
  if (!action) return false;
  editor.focus();
  // Monaco's quick input wants the editor focused; focus lands after this event.
  const run = (attempt: number) => {
    if (!editor.hasTextFocus() && attempt < 10) {
      editor.focus();
      setTimeout(() => run(attempt + 1), 20);
      return;
    }
    try {
      void Promise.resolve(action.run()).catch(() => undefined);
    } catch {
      // The editor went away meanwhile.
    }
  };
  setTimeout(() => run(0), 0);
  return true;
}
