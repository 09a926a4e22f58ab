// The command palette (Ctrl+Shift+P, ">" prefix) and quick open (Ctrl+P): one input over
// a fuzzy-filtered listbox. Quick open lists every workspace path (the file index, or a
// walk of the tree when the index route is missing); ":" jumps to a line.
import { useEffect, useLayoutEffect, useMemo, useRef, useState } from "react";

import { api, ApiError, unwrap } from "../api/client";
import { activeEditor } from "./editors";
import { fuzzyFilter, type FuzzyResult } from "./fuzzy";
import { getJson, projectUrl } from "./http";
import { displayKey } from "./keys";
import { useIde } from "./store";
import type { Command } from "./contract";

interface FileIndex {
  paths: string[];
  truncated: boolean;
}

const indexCache = new Map<string, { version: number; promise: Promise<FileIndex> }>();

async function walkTree(projectId: string, limit = 20000): Promise<FileIndex> {
  const paths: string[] = [];
  const queue = [""];
  while (queue.length && paths.length < limit) {
    const batch = queue.splice(0, 8);
    const trees = await Promise.all(
      batch.map((dir) => getJson<{ entries: { path: string; type: string; ignored: boolean }[] }>(projectUrl(projectId, `tree?path=${encodeURIComponent(dir)}`)).catch(() => ({ entries: [] }))),
    );
    for (const tree of trees) {
      for (const entry of tree.entries) {
        if (entry.type === "dir") {
          if (!entry.ignored && entry.path.split("/").pop() !== ".git") queue.push(entry.path);
        } else paths.push(entry.path);
      }
    }
  }
  return { paths, truncated: queue.length > 0 };
}

export function fileIndex(projectId: string, version: number): Promise<FileIndex> {
  const cached = indexCache.get(projectId);
  if (cached && cached.version === version) return cached.promise;
  const promise = unwrap(
    api.GET("/api/v1/projects/{project}/file-index", { params: { path: { project: projectId }, query: { hidden: true } } }),
  ).catch((error) => {
    if (error instanceof ApiError && (error.status === 404 || error.status === 405) && error.code !== "project_not_found") return walkTree(projectId);
    throw error;
  });
  indexCache.set(projectId, { version, promise });
  promise.catch(() => indexCache.delete(projectId));
  return promise;
}

type Item = { kind: "command"; command: Command; keybinding?: string } | { kind: "file"; path: string } | { kind: "line"; line: number; column?: number };

/** One collator for every sort, rather than `localeCompare` on each comparison. */
const collator = new Intl.Collator();

export function Palette({ projectId, keybindings }: { projectId: string; keybindings: Record<string, string> }) {
  const mode = useIde((s) => s.paletteMode);
  const nonce = useIde((s) => s.paletteNonce);
  const commands = useIde((s) => s.commands);
  const filesVersion = useIde((s) => s.filesVersion);
  const groups = useIde((s) => s.groups);
  const recent = useMemo(() => groups.flatMap((g) => g.tabs.filter((t) => t.kind === "file").map((t) => t.path)), [groups]);
  const [value, setValue] = useState("");
  const [selected, setSelected] = useState(0);
  const [index, setIndex] = useState<FileIndex | null>(null);
  const [indexError, setIndexError] = useState<string | null>(null);
  const inputRef = useRef<HTMLInputElement>(null);
  const listRef = useRef<HTMLUListElement>(null);
  const previousFocus = useRef<HTMLElement | null>(null);

  // Focus the input in the same frame it appears, so no keystroke lands elsewhere.
  useLayoutEffect(() => {
    if (!mode) return;
    if (!inputRef.current?.contains(document.activeElement)) previousFocus.current = document.activeElement as HTMLElement | null;
    setValue(mode === "commands" ? ">" : "");
    setSelected(0);
    inputRef.current?.focus();
  }, [mode, nonce]);
  useEffect(() => {
    if (mode && document.activeElement !== inputRef.current) inputRef.current?.focus();
  });

  const filesMode = mode !== null && !value.startsWith(">") && !value.startsWith(":");
  useEffect(() => {
    if (!filesMode) return;
    let live = true;
    fileIndex(projectId, filesVersion).then(
      (result) => live && (setIndex(result), setIndexError(null)),
      (error) => live && setIndexError(error instanceof Error ? error.message : String(error)),
    );
    return () => {
      live = false;
    };
  }, [filesMode, projectId, filesVersion]);

  // Sorted only while the palette is open: commands are registered one set at a time
  // as the IDE starts, and a closed palette has no use for the list.
  const open = mode !== null;
  const commandList = useMemo(
    () =>
      open
        ? Object.values(commands)
            .map((command) => ({ command, keybinding: keybindings[command.id] ?? command.keybinding }))
            .sort((a, b) => collator.compare(label(a.command), label(b.command)))
        : [],
    [open, commands, keybindings],
  );

  const results: FuzzyResult<Item>[] = useMemo(() => {
    if (!mode) return [];
    if (value.startsWith(">")) {
      return fuzzyFilter(value.slice(1), commandList, (c) => label(c.command), 200).map((r) => ({ ...r, item: { kind: "command", ...r.item } }));
    }
    if (value.startsWith(":")) {
      const [line, column] = value.slice(1).split(/[:,]/).map((n) => Number.parseInt(n, 10));
      if (!line || Number.isNaN(line)) return [];
      return [{ item: { kind: "line", line, column: column && !Number.isNaN(column) ? column : undefined }, score: 0, positions: [] }];
    }
    const query = value.trim();
    if (!query) {
      const seen = [...new Set(recent)].reverse();
      const rest = index?.paths.filter((p) => !seen.includes(p)) ?? [];
      return [...seen, ...rest].slice(0, 50).map((path) => ({ item: { kind: "file", path }, score: 0, positions: [] }));
    }
    if (!index) return [];
    return fuzzyFilter(query, index.paths, (p) => p, 100).map((r) => ({ ...r, item: { kind: "file", path: r.item } }));
  }, [mode, value, commandList, index, recent]);

  useEffect(() => {
    setSelected(0);
  }, [value]);

  useEffect(() => {
    listRef.current?.querySelector(`[data-index="${selected}"]`)?.scrollIntoView({ block: "nearest" });
  }, [selected]);

  if (!mode) return null;

  function close(restore = true) {
    useIde.getState().closePalette();
    if (restore && previousFocus.current && document.contains(previousFocus.current)) previousFocus.current.focus();
  }

  function accept(result: FuzzyResult<Item> | undefined, toSide = false) {
    if (!result) return;
    const item = result.item;
    close(item.kind === "command");
    if (item.kind === "command") {
      // Synchronously: a command that opens quick open (or a dialog) takes the focus
      // before the next keystroke arrives.
      item.command.run();
    } else if (item.kind === "file") {
      if (toSide) useIde.getState().splitRight();
      useIde.getState().openFile(item.path);
    } else {
      const editor = activeEditor();
      if (editor?.getModel()) {
        editor.setPosition({ lineNumber: item.line, column: item.column ?? 1 });
        editor.revealLineInCenter(item.line);
        editor.focus();
      }
    }
  }

  function onKeyDown(event: React.KeyboardEvent) {
    if (event.key === "ArrowDown") setSelected((s) => Math.min(results.length - 1, s + 1));
    else if (event.key === "ArrowUp") setSelected((s) => Math.max(0, s - 1));
    else if (event.key === "PageDown") setSelected((s) => Math.min(results.length - 1, s + 10));
    else if (event.key === "PageUp") setSelected((s) => Math.max(0, s - 10));
    else if (event.key === "Enter") accept(results[selected], event.ctrlKey || event.metaKey);
    else if (event.key === "Escape") close();
    else if (event.key === "Tab") event.preventDefault();
    else return;
    event.preventDefault();
    event.stopPropagation();
  }

  const isCommands = value.startsWith(">");
  const title = isCommands ? "Command palette" : value.startsWith(":") ? "Go to line" : "Go to file";
  const activeId = results[selected] ? `palette-item-${selected}` : undefined;

  return (
    <div className="ide-palette-backdrop" onMouseDown={(e) => e.target === e.currentTarget && close()}>
      <div className="ide-palette" role="dialog" aria-modal="true" aria-label={title}>
        <input
          ref={inputRef}
          role="combobox"
          aria-expanded="true"
          aria-controls="ide-palette-list"
          aria-activedescendant={activeId}
          aria-autocomplete="list"
          aria-label={isCommands ? "Type the name of a command" : "Search files by name (> for commands, : for a line)"}
          placeholder={isCommands ? "Type the name of a command to run" : "Search files by name (append : to go to a line, > for commands)"}
          value={value}
          onChange={(e) => setValue(e.target.value)}
          onKeyDown={onKeyDown}
          onBlur={(e) => {
            if (!e.currentTarget.closest(".ide-palette")?.contains(e.relatedTarget as Node)) close(false);
          }}
          spellCheck={false}
          autoComplete="off"
        />
        <ul id="ide-palette-list" ref={listRef} role="listbox" aria-label={title} className="ide-palette-list">
          {results.map((result, i) => (
            <li
              key={i}
              id={`palette-item-${i}`}
              data-index={i}
              role="option"
              aria-selected={i === selected}
              className={i === selected ? "selected" : undefined}
              onMouseDown={(e) => e.preventDefault()}
              onClick={() => accept(result)}
              onMouseMove={() => i !== selected && setSelected(i)}
            >
              <PaletteRow result={result} />
            </li>
          ))}
          {results.length === 0 && (
            <li role="option" aria-selected="false" aria-disabled="true" className="ide-palette-empty">
              {indexError ? `Could not list the files: ${indexError}` : filesMode && !index ? "Listing files…" : value.startsWith(":") ? "Type a line number" : "No matching results"}
            </li>
          )}
        </ul>
        {filesMode && index?.truncated && <div className="ide-palette-note">The workspace has more files than quick open lists.</div>}
      </div>
    </div>
  );
}

function label(command: Command): string {
  return command.category ? `${command.category}: ${command.title}` : command.title;
}

function Highlighted({ text, positions, offset = 0 }: { text: string; positions: number[]; offset?: number }) {
  if (positions.length === 0) return <>{text}</>;
  const set = new Set(positions.map((p) => p - offset));
  const out: React.ReactNode[] = [];
  let run = "";
  let runHit = false;
  [...text].forEach((ch, i) => {
    const hit = set.has(i);
    if (hit !== runHit && run) {
      out.push(runHit ? <mark key={i}>{run}</mark> : run);
      run = "";
    }
    runHit = hit;
    run += ch;
  });
  if (run) out.push(runHit ? <mark key="end">{run}</mark> : run);
  return <>{out}</>;
}

function PaletteRow({ result }: { result: FuzzyResult<Item> }) {
  const item = result.item;
  if (item.kind === "command") {
    return (
      <>
        <span className="ide-palette-label">
          <Highlighted text={label(item.command)} positions={result.positions} />
        </span>
        {item.keybinding && <kbd>{displayKey(item.keybinding)}</kbd>}
      </>
    );
  }
  if (item.kind === "line") {
    return <span className="ide-palette-label">Go to line {item.line}{item.column ? `, column ${item.column}` : ""}</span>;
  }
  const slash = item.path.lastIndexOf("/");
  const name = item.path.slice(slash + 1);
  const dir = slash >= 0 ? item.path.slice(0, slash) : "";
  return (
    <>
      <span className="ide-palette-label">
        <Highlighted text={name} positions={result.positions} offset={slash + 1} />
      </span>
      {dir && (
        <span className="ide-palette-detail">
          <Highlighted text={dir} positions={result.positions.filter((p) => p < slash)} />
        </span>
      )}
    </>
  );
}
