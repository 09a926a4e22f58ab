// One editor group's Monaco editor. The editor instance lives as long as the group; the
// active tab's model (shared with other groups) is swapped in, with each tab's view
// state (scroll, cursor, folding) kept per group.
import { useEffect, useRef, useState } from "react";
import type * as MonacoApi from "monaco-editor";

import { fileUrl } from "../api/client";
import { getModel, isDirty, loadMonaco, openDocument, saveDocument, useDocs } from "./documents";
import { registerEditor } from "./editors";
import { monacoTheme, type Settings } from "./settings";
import { useIde } from "./store";
import { log } from "./output";

const viewStates = new Map<string, MonacoApi.editor.ICodeEditorViewState | null>();

export function editorOptions(settings: Settings): MonacoApi.editor.IEditorOptions & MonacoApi.editor.IGlobalEditorOptions {
  return {
    fontSize: settings.font_size,
    wordWrap: settings.word_wrap ? "on" : "off",
    minimap: { enabled: settings.minimap },
    tabSize: settings.tab_size,
    insertSpaces: settings.insert_spaces,
    detectIndentation: false,
  };
}

export function EditorPane({ projectId, groupId, path, settings, focused }: { projectId: string; groupId: string; path: string; settings: Settings; focused: boolean }) {
  const host = useRef<HTMLDivElement>(null);
  const [editor, setEditor] = useState<MonacoApi.editor.IStandaloneCodeEditor | null>(null);
  const doc = useDocs((s) => s.docs[path]);
  const reveal = useIde((s) => s.reveal);
  const settingsRef = useRef(settings);
  settingsRef.current = settings;

  // Create the editor once per group.
  useEffect(() => {
    let disposed = false;
    let instance: MonacoApi.editor.IStandaloneCodeEditor | null = null;
    const cleanups: (() => void)[] = [];
    void loadMonaco().then((monaco) => {
      if (disposed || !host.current) return;
      monaco.editor.setTheme(monacoTheme(settingsRef.current.theme));
      instance = monaco.editor.create(host.current, {
        model: null,
        automaticLayout: true,
        fixedOverflowWidgets: true,
        renderWhitespace: "selection",
        bracketPairColorization: { enabled: true },
        guides: { bracketPairs: true, indentation: true },
        folding: true,
        showFoldingControls: "mouseover",
        matchBrackets: "always",
        multiCursorModifier: "alt",
        stickyScroll: { enabled: true },
        scrollBeyondLastLine: false,
        ariaLabel: "Editor",
        ...editorOptions(settingsRef.current),
      });
      cleanups.push(registerEditor(groupId, instance));
      const ide = useIde.getState;
      const report = () => {
        const model = instance!.getModel();
        if (!model) return;
        const selection = instance!.getSelection();
        const position = instance!.getPosition();
        if (position) {
          ide().setCursor({
            line: position.lineNumber,
            column: position.column,
            selected: selection ? model.getValueLengthInRange(selection) : 0,
          });
        }
        ide().setEditorInfo({ language: model.getLanguageId(), eol: model.getEOL() === "\r\n" ? "CRLF" : "LF" });
      };
      const subscriptions = [
        instance.onDidChangeCursorSelection(() => {
          if (ide().activeGroupId === groupId) report();
        }),
        instance.onDidFocusEditorWidget(() => {
          ide().focusGroup(groupId);
          report();
        }),
        instance.onDidChangeModel(() => {
          if (ide().activeGroupId === groupId) report();
        }),
        instance.onDidBlurEditorText(() => {
          const model = instance!.getModel();
          if (settingsRef.current.autosave === "on-focus-change" && model) {
            const p = model.uri.path.slice(1);
            if (isDirty(p)) void saveDocument(p);
          }
        }),
      ];
      cleanups.push(() => subscriptions.forEach((s) => s.dispose()));
      setEditor(instance);
    });
    return () => {
      disposed = true;
      cleanups.forEach((fn) => fn());
      if (instance) {
        const model = instance.getModel();
        if (model) viewStates.set(`${groupId}:${model.uri.path.slice(1)}`, instance.saveViewState());
        instance.dispose();
      }
    };
  }, [groupId]);

  // Load the document.
  useEffect(() => {
    void openDocument(path);
  }, [path, projectId]);

  // Show its model once loaded.
  const ready = doc?.status === "ready";
  useEffect(() => {
    if (!editor || !ready) return;
    const model = getModel(path);
    if (!model || editor.getModel() === model) return;
    const previous = editor.getModel();
    if (previous) viewStates.set(`${groupId}:${previous.uri.path.slice(1)}`, editor.saveViewState());
    editor.setModel(model);
    model.updateOptions({ tabSize: settingsRef.current.tab_size, insertSpaces: settingsRef.current.insert_spaces });
    const state = viewStates.get(`${groupId}:${path}`);
    if (state) editor.restoreViewState(state);
    if (focused) editor.focus();
  }, [editor, ready, path, groupId, focused]);

  // Settings changes.
  useEffect(() => {
    if (!editor) return;
    editor.updateOptions(editorOptions(settings));
    editor.getModel()?.updateOptions({ tabSize: settings.tab_size, insertSpaces: settings.insert_spaces });
    void loadMonaco().then((monaco) => monaco.editor.setTheme(monacoTheme(settings.theme)));
  }, [editor, settings]);

  // Autosave after a delay.
  useEffect(() => {
    if (!editor || !ready || settings.autosave !== "after-delay") return;
    const model = getModel(path);
    if (!model) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const sub = model.onDidChangeContent(() => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        if (isDirty(path)) void saveDocument(path);
      }, settings.autosave_delay_ms);
    });
    return () => {
      clearTimeout(timer);
      sub.dispose();
    };
  }, [editor, ready, path, settings.autosave, settings.autosave_delay_ms]);

  // Reveal requests (search results, go to definition from other views).
  useEffect(() => {
    if (!editor || !ready || !reveal || reveal.groupId !== groupId || reveal.path !== path) return;
    if (editor.getModel() !== getModel(path)) return;
    if (reveal.line) {
      const line = reveal.line;
      const column = reveal.column ?? 1;
      editor.setSelection({ startLineNumber: line, startColumn: column, endLineNumber: line, endColumn: column + (reveal.length ?? 0) });
      editor.revealLineInCenterIfOutsideViewport(line);
    }
    editor.focus();
    useIde.setState({ reveal: null });
  }, [editor, ready, reveal, groupId, path]);

  useEffect(() => {
    if (doc?.status === "error" && doc.error) log(`Could not open ${path}: ${doc.error}`);
  }, [doc?.status, doc?.error, path]);

  return (
    <div className="ide-editor-host">
      <div ref={host} className="ide-monaco" hidden={!ready} />
      {(!doc || doc.status === "loading") && (
        <div className="ide-editor-message" role="status">
          Loading {path}…
        </div>
      )}
      {doc?.status === "binary" && (
        <div className="ide-editor-message">
          <p>
            <strong>{path.split("/").pop()}</strong> is a binary file ({formatBytes(doc.size)}), not shown in the editor.
          </p>
          <a href={`${fileUrl(projectId, path)}?download=true`} download>
            Download {path.split("/").pop()}
          </a>
        </div>
      )}
      {doc?.status === "error" && (
        <div className="ide-editor-message" role="alert">
          <p>
            Could not open {path}: {doc.error}
          </p>
          <button type="button" onClick={() => void openDocument(path)}>
            Retry
          </button>
        </div>
      )}
    </div>
  );
}

export function formatBytes(size: number): string {
  if (size < 1024) return `${size} B`;
  if (size < 1024 * 1024) return `${(size / 1024).toFixed(1)} KB`;
  return `${(size / 1024 / 1024).toFixed(1)} MB`;
}
