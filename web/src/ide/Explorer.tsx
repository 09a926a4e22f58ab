// The file explorer: a lazy tree (role="tree", one folder per request) with keyboard
// navigation, inline create/rename, delete with confirmation, drag-and-drop moves, OS
// file drops uploaded, and a context menu. Reloads what it shows on `filesChanged`.
import { useCallback, useEffect, useMemo, useRef, useState } from "react";

import { api, ApiError, ensureOk, fileUrl, unwrap } from "../api/client";
import { ContextMenu, type MenuState } from "./ContextMenu";
import { Dialog } from "./Dialog";
import { renameDocument } from "./documents";
import { projectUrl } from "./http";
import { log } from "./output";
import { useIde } from "./store";

interface Entry {
  name: string;
  path: string;
  type: string;
  size: number;
  ignored: boolean;
}

type Folder = { entries: Entry[]; error?: undefined } | { entries?: undefined; error: string } | "loading";

interface Editing {
  mode: "file" | "folder" | "rename";
  /** The folder the new entry goes into (for rename: the entry's folder). */
  parent: string;
  /** The entry renamed. */
  path?: string;
  error?: string;
  busy?: boolean;
}

interface Row {
  entry: Entry;
  depth: number;
  index: number;
  count: number;
}

const PATH_MIME = "application/x-dockyard-path";

const parentOf = (path: string) => (path.includes("/") ? path.slice(0, path.lastIndexOf("/")) : "");
const join = (dir: string, name: string) => (dir ? `${dir}/${name}` : name);

export function Explorer({ projectId, projectName }: { projectId: string; projectName: string }) {
  const [folders, setFolders] = useState<Record<string, Folder>>({});
  const [expanded, setExpanded] = useState<Set<string>>(() => new Set([""]));
  const [focused, setFocused] = useState<string | null>(null);
  const [editing, setEditing] = useState<Editing | null>(null);
  const [menu, setMenu] = useState<MenuState | null>(null);
  const [confirm, setConfirm] = useState<Entry | null>(null);
  const [dropTarget, setDropTarget] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const treeRef = useRef<HTMLDivElement>(null);
  const uploadRef = useRef<HTMLInputElement>(null);
  const foldersRef = useRef(folders);
  foldersRef.current = folders;
  const filesVersion = useIde((s) => s.filesVersion);
  const explorerReveal = useIde((s) => s.explorerReveal);
  const activePath = useIde((s) => {
    const g = s.groups.find((x) => x.id === s.activeGroupId);
    return g?.tabs.find((t) => t.id === g.activeTabId)?.path ?? null;
  });
  const closeMenu = useCallback(() => setMenu(null), []);

  const load = useCallback(
    async (dir: string) => {
      setFolders((f) => (f[dir] && f[dir] !== "loading" ? f : { ...f, [dir]: "loading" }));
      try {
        const tree = await unwrap(api.GET("/api/v1/projects/{project}/tree", { params: { path: { project: projectId }, query: { path: dir } } }));
        // Like VS Code's default files.exclude: the repository's .git stays out of sight.
        setFolders((f) => ({ ...f, [dir]: { entries: tree.entries.filter((e) => e.name !== ".git") } }));
      } catch (error) {
        if (error instanceof ApiError && error.status === 404 && dir !== "") {
          // The folder is gone: forget it.
          setFolders((f) => {
            const next = { ...f };
            delete next[dir];
            return next;
          });
          setExpanded((e) => {
            const next = new Set(e);
            next.delete(dir);
            return next;
          });
          return;
        }
        setFolders((f) => ({ ...f, [dir]: { error: error instanceof Error ? error.message : String(error) } }));
      }
    },
    [projectId],
  );

  // Reload every loaded folder on a files change (and on mount).
  useEffect(() => {
    const dirs = Object.keys(foldersRef.current);
    if (!dirs.includes("")) dirs.push("");
    dirs.forEach((dir) => void load(dir));
  }, [filesVersion, load]);

  const rows = useMemo(() => {
    const out: Row[] = [];
    const walk = (dir: string, depth: number) => {
      const folder = folders[dir];
      if (!folder || folder === "loading" || !folder.entries) return;
      folder.entries.forEach((entry, index) => {
        out.push({ entry, depth, index, count: folder.entries!.length });
        if (entry.type === "dir" && expanded.has(entry.path)) walk(entry.path, depth + 1);
      });
    };
    walk("", 0);
    return out;
  }, [folders, expanded]);

  const toggle = useCallback(
    (path: string, open?: boolean) => {
      setExpanded((e) => {
        const next = new Set(e);
        const willOpen = open ?? !next.has(path);
        if (willOpen) {
          next.add(path);
          if (!foldersRef.current[path]) void load(path);
        } else next.delete(path);
        return next;
      });
    },
    [load],
  );

  // Reveal a path: expand its ancestors and focus it.
  useEffect(() => {
    if (!explorerReveal) return;
    const parts = explorerReveal.path.split("/");
    void (async () => {
      const opened: string[] = [];
      for (let i = 1; i < parts.length; i++) opened.push(parts.slice(0, i).join("/"));
      const target = explorerReveal.path;
      for (const dir of opened) if (!foldersRef.current[dir]) await load(dir);
      const isDir = (foldersRef.current[parentOf(target)] as { entries?: Entry[] } | undefined)?.entries?.find((e) => e.path === target)?.type === "dir";
      if (isDir && !foldersRef.current[target]) await load(target);
      setExpanded((e) => new Set([...e, ...opened, ...(isDir ? [target] : [])]));
      setFocused(target);
      requestAnimationFrame(() => focusRow(target));
    })();
  }, [explorerReveal, load]);

  function focusRow(path: string) {
    const node = treeRef.current?.querySelector<HTMLElement>(`[data-path="${CSS.escape(path)}"]`);
    node?.focus();
    node?.scrollIntoView({ block: "nearest" });
  }

  function open(entry: Entry, pin: boolean) {
    if (entry.type === "dir") toggle(entry.path);
    else if (pin) useIde.getState().openFile(entry.path);
    else useIde.getState().openTab(entry.path, { preview: true });
  }

  function exists(dir: string, name: string): boolean {
    const folder = folders[dir];
    return !!(folder && folder !== "loading" && folder.entries?.some((e) => e.name === name));
  }

  async function submitEditing(value: string) {
    if (!editing || editing.busy) return;
    const name = value.trim();
    if (!name) {
      setEditing(null);
      return;
    }
    if (/(^|\/)\.\.?(\/|$)/.test(name) || name.startsWith("/")) {
      setEditing({ ...editing, error: "A name cannot start with / or contain . or .. segments." });
      return;
    }
    const target = join(editing.parent, name);
    if (editing.mode === "rename" && editing.path === target) {
      setEditing(null);
      return;
    }
    if (!name.includes("/") && exists(editing.parent, name)) {
      setEditing({ ...editing, error: `A file or folder ${name} already exists here.` });
      return;
    }
    setEditing({ ...editing, busy: true, error: undefined });
    try {
      if (editing.mode === "file") {
        await ensureOk(await fetch(fileUrl(projectId, target), { method: "PUT", credentials: "same-origin", headers: { "content-type": "application/octet-stream" }, body: "" }));
      } else if (editing.mode === "folder") {
        await unwrap(api.POST("/api/v1/projects/{project}/folders", { params: { path: { project: projectId } }, body: { path: target } }));
      } else {
        await unwrap(api.POST("/api/v1/projects/{project}/move", { params: { path: { project: projectId } }, body: { from: editing.path!, to: target } }));
        useIde.getState().renamePath(editing.path!, target);
        await renameDocument(editing.path!, target);
      }
      setEditing(null);
      log(`${editing.mode === "rename" ? `Renamed ${editing.path} to` : "Created"} ${target}`);
      const dirs = new Set([editing.parent, parentOf(target)]);
      for (const dir of dirs) await load(dir);
      if (target.includes("/")) for (let d = parentOf(target); d && !expanded.has(d); d = parentOf(d)) toggle(d, true);
      useIde.getState().filesChanged([target, ...(editing.path ? [editing.path] : [])]);
      setFocused(target);
      if (editing.mode === "file") useIde.getState().openFile(target);
      else requestAnimationFrame(() => focusRow(target));
    } catch (error) {
      setEditing({ ...editing, busy: false, error: error instanceof Error ? error.message : String(error) });
    }
  }

  function startCreate(mode: "file" | "folder", base?: Entry | null) {
    const parent = base ? (base.type === "dir" ? base.path : parentOf(base.path)) : focusedDir();
    if (parent) toggle(parent, true);
    setEditing({ mode, parent });
  }

  function focusedDir(): string {
    const entry = rows.find((r) => r.entry.path === focused)?.entry;
    if (!entry) return "";
    return entry.type === "dir" && expanded.has(entry.path) ? entry.path : parentOf(entry.path);
  }

  async function remove(entry: Entry) {
    setConfirm(null);
    try {
      const response = await fetch(fileUrl(projectId, entry.path), { method: "DELETE", credentials: "same-origin" });
      await ensureOk(response);
      log(`Deleted ${entry.path}`);
      useIde.getState().removePath(entry.path);
      await load(parentOf(entry.path));
      useIde.getState().filesChanged([entry.path]);
    } catch (error) {
      setNotice(`Could not delete ${entry.path}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  async function move(from: string, toDir: string) {
    const name = from.split("/").pop()!;
    const to = join(toDir, name);
    if (to === from || toDir === from || toDir.startsWith(`${from}/`)) return;
    try {
      await unwrap(api.POST("/api/v1/projects/{project}/move", { params: { path: { project: projectId } }, body: { from, to } }));
      log(`Moved ${from} to ${to}`);
      useIde.getState().renamePath(from, to);
      await renameDocument(from, to);
      await Promise.all([load(parentOf(from)), load(toDir)]);
      if (toDir) toggle(toDir, true);
      useIde.getState().filesChanged([from, to]);
    } catch (error) {
      setNotice(`Could not move ${from}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  async function upload(files: { file: File; path: string }[], dir: string) {
    if (files.length === 0) return;
    const form = new FormData();
    for (const { file, path } of files) form.append("file", file, path);
    try {
      const url = projectUrl(projectId, `upload${dir ? `?path=${encodeURIComponent(dir)}` : ""}`);
      await ensureOk(await fetch(url, { method: "POST", credentials: "same-origin", body: form }));
      log(`Uploaded ${files.length} file${files.length === 1 ? "" : "s"} to ${dir || "the workspace root"}`);
      setNotice(null);
      if (dir) toggle(dir, true);
      await load(dir);
      useIde.getState().filesChanged(files.map((f) => join(dir, f.path)));
    } catch (error) {
      setNotice(`Upload failed: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  function dropDir(entry: Entry | null): string {
    if (!entry) return "";
    return entry.type === "dir" ? entry.path : parentOf(entry.path);
  }

  function onDragOver(event: React.DragEvent, entry: Entry | null) {
    const types = event.dataTransfer.types;
    if (!types.includes(PATH_MIME) && !types.includes("Files")) return;
    event.preventDefault();
    event.stopPropagation();
    event.dataTransfer.dropEffect = types.includes(PATH_MIME) ? "move" : "copy";
    setDropTarget(dropDir(entry));
  }

  async function onDrop(event: React.DragEvent, entry: Entry | null) {
    event.preventDefault();
    event.stopPropagation();
    setDropTarget(null);
    const dir = dropDir(entry);
    const from = event.dataTransfer.getData(PATH_MIME);
    if (from) {
      await move(from, dir);
      return;
    }
    const files = await droppedFiles(event.dataTransfer);
    await upload(files, dir);
  }

  function openMenu(event: React.MouseEvent | React.KeyboardEvent, entry: Entry | null) {
    event.preventDefault();
    event.stopPropagation();
    const rect = (event.currentTarget as HTMLElement).getBoundingClientRect();
    const x = "clientX" in event && event.clientX ? event.clientX : rect.left + 16;
    const y = "clientY" in event && event.clientY ? event.clientY : rect.bottom;
    if (entry) setFocused(entry.path);
    setMenu({
      x,
      y,
      label: entry ? `${entry.name} actions` : "Explorer actions",
      items: [
        ...(entry && entry.type !== "dir"
          ? [
              { label: "Open", run: () => open(entry, true) },
              { label: "Open to the Side", run: () => { useIde.getState().splitRight(); useIde.getState().openFile(entry.path); } },
              "separator" as const,
            ]
          : []),
        { label: "New File…", run: () => startCreate("file", entry) },
        { label: "New Folder…", run: () => startCreate("folder", entry) },
        { label: "Upload Files…", run: () => { uploadTarget.current = dropDir(entry); uploadRef.current?.click(); } },
        ...(entry
          ? [
              "separator" as const,
              { label: "Rename…", keybinding: "F2", run: () => setEditing({ mode: "rename", parent: parentOf(entry.path), path: entry.path }) },
              { label: "Delete", keybinding: "Delete", danger: true, run: () => setConfirm(entry) },
              "separator" as const,
              { label: "Copy Path", run: () => void navigator.clipboard?.writeText(entry.path) },
              ...(entry.type !== "dir" ? [{ label: "Download", run: () => window.open(`${fileUrl(projectId, entry.path)}?download=true`, "_blank") }] : []),
            ]
          : []),
        "separator",
        { label: "Refresh", run: () => useIde.getState().filesChanged() },
      ],
    });
  }
  const uploadTarget = useRef("");

  function onKeyDown(event: React.KeyboardEvent, row: Row, at: number) {
    const { entry } = row;
    const isDir = entry.type === "dir";
    const go = (i: number) => {
      const target = rows[Math.max(0, Math.min(rows.length - 1, i))];
      if (target) {
        setFocused(target.entry.path);
        focusRow(target.entry.path);
      }
    };
    switch (event.key) {
      case "ArrowDown":
        go(at + 1);
        break;
      case "ArrowUp":
        go(at - 1);
        break;
      case "Home":
        go(0);
        break;
      case "End":
        go(rows.length - 1);
        break;
      case "ArrowRight":
        if (isDir && !expanded.has(entry.path)) toggle(entry.path, true);
        else if (isDir) go(at + 1);
        break;
      case "ArrowLeft":
        if (isDir && expanded.has(entry.path)) toggle(entry.path, false);
        else if (parentOf(entry.path)) {
          setFocused(parentOf(entry.path));
          focusRow(parentOf(entry.path));
        }
        break;
      case "Enter":
        open(entry, true);
        break;
      case " ":
        open(entry, false);
        break;
      case "F2":
        setEditing({ mode: "rename", parent: parentOf(entry.path), path: entry.path });
        break;
      case "Delete":
        setConfirm(entry);
        break;
      case "ContextMenu":
        openMenu(event, entry);
        return;
      case "F10":
        if (!event.shiftKey) return;
        openMenu(event, entry);
        return;
      default:
        return;
    }
    event.preventDefault();
    event.stopPropagation();
  }

  const root = folders[""];
  const tabStop = focused && rows.some((r) => r.entry.path === focused) ? focused : rows[0]?.entry.path;

  const renderInput = (depth: number, initial: string) => (
    <div className="ide-tree-input" style={{ paddingLeft: 8 + depth * 12 }} role="none">
      <InlineInput
        label={editing?.mode === "rename" ? `New name for ${editing.path}` : editing?.mode === "folder" ? "New folder name" : "New file name"}
        initial={initial}
        busy={!!editing?.busy}
        error={editing?.error}
        onSubmit={(v) => void submitEditing(v)}
        onCancel={() => setEditing(null)}
      />
    </div>
  );

  const newEntryRowAt = editing && editing.mode !== "rename" ? editing.parent : null;
  const depthOf = (dir: string) => (dir ? dir.split("/").length : 0);

  return (
    <div className="ide-explorer" onDragOver={(e) => onDragOver(e, null)} onDragLeave={() => setDropTarget(null)} onDrop={(e) => void onDrop(e, null)}>
      <div className="ide-view-header">
        <h2 title={projectName}>{projectName}</h2>
        <div className="ide-view-actions">
          <button type="button" className="ide-icon-button" aria-label="New file" title="New File" onClick={() => startCreate("file", null)}>
            <Icon d="M8 3v10M3 8h10" />
          </button>
          <button type="button" className="ide-icon-button" aria-label="New folder" title="New Folder" onClick={() => startCreate("folder", null)}>
            <Icon d="M1.5 3.5h5l1 1.5h7v8.5h-13zM8 7.5v4M6 9.5h4" />
          </button>
          <button type="button" className="ide-icon-button" aria-label="Upload files" title="Upload Files" onClick={() => { uploadTarget.current = focusedDir(); uploadRef.current?.click(); }}>
            <Icon d="M8 12V3M4.5 6.5L8 3l3.5 3.5M3 13.5h10" />
          </button>
          <button type="button" className="ide-icon-button" aria-label="Refresh explorer" title="Refresh" onClick={() => useIde.getState().filesChanged()}>
            <Icon d="M13 8a5 5 0 1 1-1.5-3.5M13 2.5v3h-3" />
          </button>
          <button type="button" className="ide-icon-button" aria-label="Collapse folders" title="Collapse Folders" onClick={() => setExpanded(new Set([""]))}>
            <Icon d="M2.5 2.5h11v11h-11zM5 8h6" />
          </button>
        </div>
        <input
          ref={uploadRef}
          type="file"
          multiple
          hidden
          aria-label="Files to upload"
          onChange={(e) => {
            const files = [...(e.target.files ?? [])].map((file) => ({ file, path: file.name }));
            e.target.value = "";
            void upload(files, uploadTarget.current);
          }}
        />
      </div>
      {notice && (
        <div className="ide-notice" role="alert">
          <span>{notice}</span>
          <button type="button" className="ide-icon-button" aria-label="Dismiss" onClick={() => setNotice(null)}>
            ×
          </button>
        </div>
      )}
      <div
        ref={treeRef}
        role="tree"
        aria-label="Files"
        className={`ide-tree${dropTarget === "" ? " drop-target" : ""}`}
        onContextMenu={(e) => openMenu(e, null)}
      >
        {newEntryRowAt === "" && renderInput(0, "")}
        {root === "loading" && <div className="ide-tree-message" role="status">Loading…</div>}
        {root && root !== "loading" && root.error && (
          <div className="ide-tree-message" role="alert">
            Could not list the files: {root.error}{" "}
            <button type="button" className="ide-link-button" onClick={() => void load("")}>
              Retry
            </button>
          </div>
        )}
        {root && root !== "loading" && root.entries?.length === 0 && !editing && (
          <div className="ide-tree-message">
            The workspace is empty.{" "}
            <button type="button" className="ide-link-button" onClick={() => startCreate("file", null)}>
              Create a file
            </button>
          </div>
        )}
        {rows.map((row, at) => {
          const { entry, depth } = row;
          const isDir = entry.type === "dir";
          const isOpen = isDir && expanded.has(entry.path);
          const renaming = editing?.mode === "rename" && editing.path === entry.path;
          const folder = folders[entry.path];
          return (
            <div key={entry.path} role="none">
              {renaming ? (
                renderInput(depth, entry.name)
              ) : (
                <div
                  role="treeitem"
                  data-path={entry.path}
                  aria-level={depth + 1}
                  aria-setsize={row.count}
                  aria-posinset={row.index + 1}
                  aria-expanded={isDir ? isOpen : undefined}
                  aria-selected={entry.path === activePath || entry.path === focused}
                  tabIndex={entry.path === tabStop ? 0 : -1}
                  className={`ide-tree-row${entry.ignored ? " ignored" : ""}${entry.path === activePath ? " active" : ""}${isDir && dropTarget === entry.path ? " drop-target" : ""}`}
                  style={{ paddingLeft: 8 + depth * 12 }}
                  draggable
                  onDragStart={(e) => {
                    e.dataTransfer.setData(PATH_MIME, entry.path);
                    e.dataTransfer.effectAllowed = "move";
                  }}
                  onDragOver={(e) => onDragOver(e, entry)}
                  onDrop={(e) => void onDrop(e, entry)}
                  onFocus={() => setFocused(entry.path)}
                  onClick={() => {
                    setFocused(entry.path);
                    open(entry, false);
                  }}
                  onDoubleClick={() => !isDir && open(entry, true)}
                  onKeyDown={(e) => onKeyDown(e, row, at)}
                  onContextMenu={(e) => openMenu(e, entry)}
                  title={entry.path}
                >
                  <span className="ide-tree-twistie" aria-hidden="true">
                    {isDir ? (isOpen ? "▾" : "▸") : ""}
                  </span>
                  <span className={`ide-file-icon ${isDir ? "dir" : fileIconClass(entry.name)}`} aria-hidden="true" />
                  <span className="ide-tree-name">{entry.name}</span>
                  {entry.type === "symlink" && <span className="ide-tree-badge">link</span>}
                </div>
              )}
              {isOpen && newEntryRowAt === entry.path && renderInput(depthOf(entry.path), "")}
              {isOpen && folder === "loading" && (
                <div className="ide-tree-message" style={{ paddingLeft: 20 + (depth + 1) * 12 }} role="status">
                  Loading…
                </div>
              )}
              {isOpen && folder && folder !== "loading" && folder.error && (
                <div className="ide-tree-message" style={{ paddingLeft: 20 + (depth + 1) * 12 }} role="alert">
                  {folder.error}
                </div>
              )}
            </div>
          );
        })}
      </div>
      {menu && <ContextMenu menu={menu} onClose={closeMenu} />}
      {confirm && (
        <Dialog title={`Delete ${confirm.type === "dir" ? "folder" : "file"}?`} onClose={() => setConfirm(null)}>
          <p>
            Delete <strong>{confirm.path}</strong>
            {confirm.type === "dir" ? " and everything in it" : ""}? This cannot be undone.
          </p>
          <div className="ide-dialog-actions">
            <button type="button" className="danger" data-autofocus onClick={() => void remove(confirm)}>
              Delete
            </button>
            <button type="button" className="secondary" onClick={() => setConfirm(null)}>
              Cancel
            </button>
          </div>
        </Dialog>
      )}
    </div>
  );
}

function InlineInput({ label, initial, busy, error, onSubmit, onCancel }: { label: string; initial: string; busy: boolean; error?: string; onSubmit(value: string): void; onCancel(): void }) {
  const ref = useRef<HTMLInputElement>(null);
  const done = useRef(false);
  useEffect(() => {
    const input = ref.current;
    if (!input) return;
    input.focus();
    const dot = initial.lastIndexOf(".");
    input.setSelectionRange(0, dot > 0 ? dot : initial.length);
  }, [initial]);
  return (
    <>
      <input
        ref={ref}
        className="ide-inline-input"
        aria-label={label}
        aria-invalid={!!error || undefined}
        aria-describedby={error ? "ide-inline-error" : undefined}
        defaultValue={initial}
        disabled={busy}
        onKeyDown={(e) => {
          e.stopPropagation();
          if (e.key === "Enter") {
            e.preventDefault();
            onSubmit(e.currentTarget.value);
          } else if (e.key === "Escape") {
            e.preventDefault();
            done.current = true;
            onCancel();
          }
        }}
        onBlur={(e) => {
          if (done.current || busy) return;
          if (error) return;
          if (e.currentTarget.value.trim() === "" || e.currentTarget.value === initial) onCancel();
          else onSubmit(e.currentTarget.value);
        }}
      />
      {error && (
        <div id="ide-inline-error" className="ide-inline-error" role="alert">
          {error}
        </div>
      )}
    </>
  );
}

/** The files of a drop, folders walked, each with its path relative to the drop. */
async function droppedFiles(transfer: DataTransfer): Promise<{ file: File; path: string }[]> {
  const items = [...transfer.items].filter((item) => item.kind === "file");
  const entries = items.map((item) => item.webkitGetAsEntry?.()).filter((e): e is FileSystemEntry => !!e);
  if (entries.length === 0) return [...transfer.files].map((file) => ({ file, path: file.name }));
  const out: { file: File; path: string }[] = [];
  const walk = async (entry: FileSystemEntry, prefix: string): Promise<void> => {
    if (entry.isFile) {
      const file = await new Promise<File>((resolve, reject) => (entry as FileSystemFileEntry).file(resolve, reject));
      out.push({ file, path: prefix + entry.name });
    } else if (entry.isDirectory) {
      const reader = (entry as FileSystemDirectoryEntry).createReader();
      for (;;) {
        const batch = await new Promise<FileSystemEntry[]>((resolve, reject) => reader.readEntries(resolve, reject));
        if (batch.length === 0) break;
        for (const child of batch) await walk(child, `${prefix}${entry.name}/`);
      }
    }
  };
  for (const entry of entries) await walk(entry, "");
  return out;
}

export function fileIconClass(name: string): string {
  const ext = name.includes(".") ? name.slice(name.lastIndexOf(".") + 1).toLowerCase() : "";
  if (["ts", "tsx", "mts", "cts"].includes(ext)) return "ts";
  if (["js", "jsx", "mjs", "cjs"].includes(ext)) return "js";
  if (["json", "jsonc"].includes(ext)) return "json";
  if (["md", "mdx", "markdown"].includes(ext)) return "md";
  if (["rs"].includes(ext)) return "rs";
  if (["py"].includes(ext)) return "py";
  if (["go"].includes(ext)) return "go";
  if (["css", "scss", "less"].includes(ext)) return "css";
  if (["html", "htm"].includes(ext)) return "html";
  if (["png", "jpg", "jpeg", "gif", "svg", "webp", "ico"].includes(ext)) return "img";
  return "file";
}

function Icon({ d }: { d: string }) {
  return (
    <svg viewBox="0 0 16 16" width="16" height="16" aria-hidden="true" fill="none" stroke="currentColor" strokeWidth="1.2">
      <path d={d} />
    </svg>
  );
}
