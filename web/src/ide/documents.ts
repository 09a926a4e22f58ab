// Open documents: one Monaco model per file, shared by every editor group showing it.
// Loads bytes with their ETag, saves with If-Match, keeps unsaved drafts in localStorage
// (so they survive a reload) and reports dirty state and conflicts to the stores.
import { create } from "zustand";

import { ApiError, ensureOk, fileUrl } from "../api/client";
import type { Monaco } from "./monaco";
import type * as MonacoApi from "monaco-editor";
import { log } from "./output";
import { useIde } from "./store";

export type DocStatus = "loading" | "ready" | "binary" | "error";

export interface DocInfo {
  status: DocStatus;
  etag: string | null;
  size: number;
  error?: string;
  /** A save answered 412: the file changed on the server since it was loaded. */
  conflict?: boolean;
  saving?: boolean;
  /** The draft restored from localStorage was based on another version of the file. */
  staleDraft?: boolean;
}

export const useDocs = create<{ docs: Record<string, DocInfo> }>(() => ({ docs: {} }));

function setDoc(path: string, info: Partial<DocInfo> | null): void {
  useDocs.setState((state) => {
    const docs = { ...state.docs };
    if (info === null) delete docs[path];
    else docs[path] = { ...(docs[path] ?? { status: "loading", etag: null, size: 0 }), ...info };
    return { docs };
  });
}

interface Entry {
  model: MonacoApi.editor.ITextModel;
  savedVersion: number;
  listener: MonacoApi.IDisposable;
  draftTimer?: ReturnType<typeof setTimeout>;
}

let monacoApi: Monaco | null = null;
let currentProject: string | null = null;
const entries = new Map<string, Entry>();
const loading = new Map<string, Promise<void>>();

export async function loadMonaco(): Promise<Monaco> {
  if (monacoApi) return monacoApi;
  const module = await import("./monaco");
  monacoApi = module.monaco;
  return monacoApi;
}

export async function languageFor(path: string, firstLine?: string): Promise<string> {
  const module = await import("./monaco");
  const { languageFor: lookup } = await import("./languages");
  return lookup(module.languageTable(), path, firstLine);
}

const draftKey = (project: string, path: string) => `dockyard.draft.${project}.${path}`;

interface Draft {
  etag: string | null;
  text: string;
  at: number;
}

function readDraft(project: string, path: string): Draft | null {
  try {
    const raw = localStorage.getItem(draftKey(project, path));
    if (!raw) return null;
    const draft = JSON.parse(raw) as Draft;
    return typeof draft.text === "string" ? draft : null;
  } catch {
    return null;
  }
}

function writeDraft(project: string, path: string, draft: Draft | null): void {
  try {
    if (draft) localStorage.setItem(draftKey(project, path), JSON.stringify(draft));
    else localStorage.removeItem(draftKey(project, path));
  } catch {
    // Storage full or disabled: the draft lives only in memory.
  }
}

/** Paths of this project with a draft saved in localStorage. */
export function draftPaths(project: string): string[] {
  const prefix = `dockyard.draft.${project}.`;
  const paths: string[] = [];
  try {
    for (let i = 0; i < localStorage.length; i++) {
      const key = localStorage.key(i);
      if (key?.startsWith(prefix)) paths.push(key.slice(prefix.length));
    }
  } catch {
    // No storage.
  }
  return paths;
}

export function setProject(project: string): void {
  if (currentProject === project) return;
  for (const path of [...entries.keys()]) disposeDocument(path);
  useDocs.setState({ docs: {} });
  currentProject = project;
}

export function getModel(path: string): MonacoApi.editor.ITextModel | null {
  return entries.get(path)?.model ?? null;
}

export function isDirty(path: string): boolean {
  const entry = entries.get(path);
  return !!entry && entry.model.getAlternativeVersionId() !== entry.savedVersion;
}

function isBinary(response: Response): boolean {
  const flag = response.headers.get("x-dockyard-binary");
  if (flag) return flag === "true";
  const type = response.headers.get("content-type") ?? "";
  return !(type.startsWith("text/") || type.includes("json") || type.includes("xml") || type.includes("javascript"));
}

/** Loads a file into its model (once); later calls wait for the same load. */
export function openDocument(path: string): Promise<void> {
  if (entries.has(path)) return Promise.resolve();
  const pending = loading.get(path);
  if (pending) return pending;
  const project = currentProject!;
  const promise = (async () => {
    setDoc(path, { status: "loading" });
    try {
      const [monaco, response] = await Promise.all([loadMonaco(), fetch(fileUrl(project, path), { credentials: "same-origin", cache: "no-store" })]);
      const missingWithDraft = response.status === 404 && !!readDraft(project, path);
      if (missingWithDraft) await response.body?.cancel();
      else await ensureOk(response);
      if (project !== currentProject) return;
      // A draft of a file deleted meanwhile comes back as an unsaved new file.
      const etag = missingWithDraft ? null : response.headers.get("etag");
      const size = Number(response.headers.get("content-length") ?? 0);
      if (!missingWithDraft && isBinary(response)) {
        setDoc(path, { status: "binary", etag, size });
        return;
      }
      const text = missingWithDraft ? "" : await response.text();
      const newline = text.indexOf("\n");
      const language = await languageFor(path, text.slice(0, Math.min(200, newline < 0 ? text.length : newline)));
      const uri = monaco.Uri.from({ scheme: "file", path: `/${path}` });
      monaco.editor.getModel(uri)?.dispose();
      const model = monaco.editor.createModel(text, language, uri);
      const entry: Entry = { model, savedVersion: model.getAlternativeVersionId(), listener: { dispose() {} } };
      entries.set(path, entry);
      const draft = readDraft(project, path);
      let staleDraft = false;
      if (draft && draft.text !== text) {
        // Restore as an edit, so undo goes back to the saved text.
        model.pushEditOperations([], [{ range: model.getFullModelRange(), text: draft.text }], () => null);
        staleDraft = draft.etag !== etag;
      } else if (draft) {
        writeDraft(project, path, null);
      }
      entry.listener = model.onDidChangeContent(() => onChange(project, path));
      setDoc(path, { status: "ready", etag, size, staleDraft, error: undefined });
      useIde.getState().setDirty(path, isDirty(path));
    } catch (error) {
      if (error instanceof ApiError && error.status === 404) {
        // Gone (deleted or moved elsewhere since the layout was saved): close its tabs.
        setDoc(path, null);
        useIde.getState().removePath(path);
        log(`${path} no longer exists; its tab was closed`);
        return;
      }
      setDoc(path, { status: "error", error: error instanceof Error ? error.message : String(error) });
    } finally {
      loading.delete(path);
    }
  })();
  loading.set(path, promise);
  return promise;
}

function onChange(project: string, path: string): void {
  const entry = entries.get(path);
  if (!entry) return;
  const dirty = isDirty(path);
  useIde.getState().setDirty(path, dirty);
  clearTimeout(entry.draftTimer);
  if (!dirty) {
    writeDraft(project, path, null);
    return;
  }
  entry.draftTimer = setTimeout(() => {
    if (!isDirty(path)) return;
    writeDraft(project, path, { etag: useDocs.getState().docs[path]?.etag ?? null, text: entry.model.getValue(), at: Date.now() });
  }, 250);
}

/** Writes the draft now (before unload). */
export function flushDrafts(): void {
  if (!currentProject) return;
  for (const [path, entry] of entries) {
    clearTimeout(entry.draftTimer);
    if (isDirty(path)) {
      writeDraft(currentProject, path, { etag: useDocs.getState().docs[path]?.etag ?? null, text: entry.model.getValue(), at: Date.now() });
    }
  }
}

export type SaveResult = "saved" | "conflict" | "failed" | "skipped";

/**
 * Saves a document. With `overwrite`, skips the If-Match precondition (the user chose
 * to replace the server's version).
 */
export async function saveDocument(path: string, options: { overwrite?: boolean } = {}): Promise<SaveResult> {
  const entry = entries.get(path);
  const project = currentProject;
  if (!entry || !project) return "skipped";
  const doc = useDocs.getState().docs[path];
  if (doc?.saving) return "skipped";
  const text = entry.model.getValue();
  const version = entry.model.getAlternativeVersionId();
  setDoc(path, { saving: true });
  try {
    const headers: Record<string, string> = { "content-type": "application/octet-stream" };
    let precondition = !options.overwrite && !!doc?.etag;
    if (precondition) {
      // Ask first whether the file is still the version we loaded (a 304 is quiet,
      // where a refused PUT's 412 would be logged as an error by the browser); the
      // PUT still carries If-Match for the race in between.
      const check = await fetch(fileUrl(project, path), { credentials: "same-origin", cache: "no-store", headers: { "if-none-match": doc!.etag! } });
      await check.body?.cancel();
      if (check.status === 200) {
        setDoc(path, { saving: false, conflict: true });
        return "conflict";
      }
      // Deleted on the server meanwhile: saving recreates it.
      if (check.status === 404) precondition = false;
    }
    if (precondition) headers["if-match"] = doc!.etag!;
    const response = await fetch(fileUrl(project, path), { method: "PUT", credentials: "same-origin", headers, body: text });
    if (response.status === 412) {
      await response.body?.cancel();
      setDoc(path, { saving: false, conflict: true });
      return "conflict";
    }
    await ensureOk(response);
    const written = (await response.json()) as { etag: string; size: number };
    entry.savedVersion = version;
    setDoc(path, { saving: false, conflict: false, etag: written.etag, size: written.size, staleDraft: false, error: undefined });
    const dirty = isDirty(path);
    useIde.getState().setDirty(path, dirty);
    if (!dirty) {
      clearTimeout(entry.draftTimer);
      writeDraft(project, path, null);
    }
    return "saved";
  } catch (error) {
    setDoc(path, { saving: false, error: error instanceof ApiError ? error.message : String(error) });
    return "failed";
  }
}

/** Fetches the server's current text (for Compare in the conflict dialog). */
export async function fetchServerText(path: string): Promise<{ text: string; etag: string | null }> {
  const response = await ensureOk(await fetch(fileUrl(currentProject!, path), { credentials: "same-origin", cache: "no-store" }));
  return { text: await response.text(), etag: response.headers.get("etag") };
}

/** Replaces the buffer with the server's version (discarding local edits). */
export async function reloadDocument(path: string): Promise<void> {
  const entry = entries.get(path);
  if (!entry) return;
  const { text, etag } = await fetchServerText(path);
  if (entry.model.getValue() !== text) {
    entry.model.pushEditOperations([], [{ range: entry.model.getFullModelRange(), text }], () => null);
  }
  entry.savedVersion = entry.model.getAlternativeVersionId();
  clearTimeout(entry.draftTimer);
  writeDraft(currentProject!, path, null);
  setDoc(path, { etag, conflict: false, staleDraft: false, error: undefined });
  useIde.getState().setDirty(path, false);
}

/** Files changed on the server: reload clean buffers quietly; dirty ones conflict at save. */
export async function refreshDocuments(paths: string[] | null): Promise<void> {
  const targets = [...entries.keys()].filter((path) => !paths || paths.some((p) => p === path || path.startsWith(`${p}/`)));
  await Promise.all(
    targets.map(async (path) => {
      if (isDirty(path)) return;
      const etag = useDocs.getState().docs[path]?.etag;
      const response = await fetch(fileUrl(currentProject!, path), {
        credentials: "same-origin",
        cache: "no-store",
        headers: etag ? { "if-none-match": etag } : {},
      });
      if (response.status === 304 || response.status === 404) {
        await response.body?.cancel();
        return;
      }
      if (!response.ok) return;
      const text = await response.text();
      const entry = entries.get(path);
      if (!entry || isDirty(path)) return;
      entry.model.pushEditOperations([], [{ range: entry.model.getFullModelRange(), text }], () => null);
      entry.savedVersion = entry.model.getAlternativeVersionId();
      setDoc(path, { etag: response.headers.get("etag") });
      useIde.getState().setDirty(path, false);
    }),
  );
}

export function disposeDocument(path: string): void {
  const entry = entries.get(path);
  setDoc(path, null);
  if (!entry) return;
  if (isDirty(path) && currentProject) {
    // Closing a dirty tab keeps its draft only if the user did not discard it (the caller clears it).
    clearTimeout(entry.draftTimer);
  }
  entry.listener.dispose();
  entry.model.dispose();
  entries.delete(path);
}

/** Forgets local edits (closing a dirty tab with "Don't save"). */
export function discardDraft(path: string): void {
  if (currentProject) writeDraft(currentProject, path, null);
}

/** After a rename or move on the server: carry the buffer (and its draft) to the new path. */
export async function renameDocument(from: string, to: string): Promise<void> {
  const moved = [...entries.keys()].filter((p) => p === from || p.startsWith(`${from}/`));
  for (const oldPath of moved) {
    const newPath = to + oldPath.slice(from.length);
    const entry = entries.get(oldPath)!;
    const dirty = isDirty(oldPath);
    const text = entry.model.getValue();
    const info = useDocs.getState().docs[oldPath];
    discardDraft(oldPath);
    disposeDocument(oldPath);
    if (dirty && currentProject) writeDraft(currentProject, newPath, { etag: info?.etag ?? null, text, at: Date.now() });
    await openDocument(newPath);
  }
}

/** Closes models no tab shows any more. */
export function retainOnly(paths: Set<string>): void {
  for (const path of [...entries.keys()]) {
    if (!paths.has(path)) {
      if (!isDirty(path)) discardDraft(path);
      disposeDocument(path);
    }
  }
  for (const path of Object.keys(useDocs.getState().docs)) if (!paths.has(path) && !entries.has(path) && !loading.has(path)) setDoc(path, null);
}
