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
  editor.focus();
  const action = editor.getAction(actionId);
  if (!action) return false;
  void action.run();
  return true;
}
