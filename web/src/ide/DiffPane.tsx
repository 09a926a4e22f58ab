// A git diff tab: Monaco's diff editor with the old side rebuilt from the structured
// diff (HEAD → index when staged, index → working tree otherwise).
import { useEffect, useRef, useState } from "react";
import type * as MonacoApi from "monaco-editor";

import { api, fileUrl, unwrap } from "../api/client";
import { languageFor, loadMonaco } from "./documents";
import { reverseHunks, type PatchHunk } from "./patch";
import { editorOptions } from "./EditorPane";
import { monacoTheme, type Settings } from "./settings";
import { useIde } from "./store";

interface Diff {
  files: { path: string; binary: boolean; hunks: PatchHunk[] }[];
  truncated: boolean;
}

async function diffHunks(projectId: string, path: string, staged: boolean): Promise<{ hunks: PatchHunk[]; binary: boolean }> {
  const diff: Diff = await unwrap(api.GET("/api/v1/projects/{project}/git/diff", { params: { path: { project: projectId }, query: { path, staged } } }));
  const file = diff.files.find((f) => f.path === path) ?? diff.files[0];
  return { hunks: file?.hunks ?? [], binary: !!file?.binary };
}

async function workingText(projectId: string, path: string): Promise<string> {
  const response = await fetch(fileUrl(projectId, path), { credentials: "same-origin", cache: "no-store" });
  if (response.status === 404) {
    await response.body?.cancel();
    return "";
  }
  return response.ok ? response.text() : "";
}

/** Answers [original, modified] for the diff tab. */
export async function diffTexts(projectId: string, path: string, staged: boolean): Promise<{ original: string; modified: string; binary: boolean }> {
  const worktree = await workingText(projectId, path);
  const unstaged = await diffHunks(projectId, path, false);
  const index = reverseHunks(worktree, unstaged.hunks);
  if (!staged) return { original: index, modified: worktree, binary: unstaged.binary };
  const stagedDiff = await diffHunks(projectId, path, true);
  return { original: reverseHunks(index, stagedDiff.hunks), modified: index, binary: stagedDiff.binary };
}

export function DiffPane({ projectId, path, staged, settings }: { projectId: string; path: string; staged: boolean; settings: Settings }) {
  const host = useRef<HTMLDivElement>(null);
  const [error, setError] = useState<string | null>(null);
  const [binary, setBinary] = useState(false);
  const version = useIde((s) => s.filesVersion);
  const editorRef = useRef<MonacoApi.editor.IStandaloneDiffEditor | null>(null);

  useEffect(() => {
    let disposed = false;
    let models: MonacoApi.editor.ITextModel[] = [];
    let editor: MonacoApi.editor.IStandaloneDiffEditor | null = null;
    void (async () => {
      try {
        const [monaco, texts, language] = await Promise.all([loadMonaco(), diffTexts(projectId, path, staged), languageFor(path)]);
        if (disposed || !host.current) return;
        setBinary(texts.binary);
        if (texts.binary) return;
        models = [monaco.editor.createModel(texts.original, language), monaco.editor.createModel(texts.modified, language)];
        editor = monaco.editor.createDiffEditor(host.current, {
          automaticLayout: true,
          readOnly: true,
          originalEditable: false,
          renderSideBySide: host.current.clientWidth > 700,
          ...editorOptions(settings),
        });
        editor.setModel({ original: models[0]!, modified: models[1]! });
        editorRef.current = editor;
        setError(null);
      } catch (cause) {
        if (!disposed) setError(cause instanceof Error ? cause.message : String(cause));
      }
    })();
    return () => {
      disposed = true;
      editor?.dispose();
      editorRef.current = null;
      models.forEach((m) => m.dispose());
    };
    // Settings apply below without rebuilding; a files change rebuilds.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [projectId, path, staged, version]);

  useEffect(() => {
    editorRef.current?.updateOptions(editorOptions(settings));
    void loadMonaco().then((monaco) => monaco.editor.setTheme(monacoTheme(settings.theme)));
  }, [settings]);

  return (
    <div className="ide-editor-host">
      <div ref={host} className="ide-monaco" aria-label={`Changes in ${path} (${staged ? "staged" : "working tree"})`} role="region" />
      {error && (
        <div className="ide-editor-message" role="alert">
          Could not show the changes of {path}: {error}
        </div>
      )}
      {binary && <div className="ide-editor-message">{path} is a binary file; its changes are not shown.</div>}
    </div>
  );
}
