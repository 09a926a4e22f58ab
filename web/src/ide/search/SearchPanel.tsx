// Search and replace across the project's files, like VS Code's search view: a query
// with match-case / whole-word / regex toggles, include and exclude globs, results
// streamed as NDJSON and grouped by file in a virtualized tree, and "replace all"
// that shows the server's preview before anything is written.
import { useCallback, useEffect, useMemo, useRef, useState, type ReactNode } from "react";

import { ApiError, api, unwrap, type Schemas } from "../../api/client";
import "../../styles/panels.css";
import { ide } from "./actions";
import { ResultGroups, flattenRows, highlight, replacedText, type ResultRow, type SearchDone, type SearchOptions } from "./model";
import { streamSearch } from "./stream";
import { VirtualTree } from "./VirtualTree";

const MAX_RESULTS = 10_000;
const DEBOUNCE_MS = 250;
const FLUSH_MS = 60;

type Status = "idle" | "searching" | "done" | "error";
type ReplaceResults = Schemas["ReplaceResults"];

interface Preview {
  options: SearchOptions;
  replacement: string;
  results: ReplaceResults;
}

function basename(path: string): string {
  const at = path.lastIndexOf("/");
  return at < 0 ? path : path.slice(at + 1);
}

function dirname(path: string): string {
  const at = path.lastIndexOf("/");
  return at < 0 ? "" : path.slice(0, at);
}

function plural(count: number, one: string, many = `${one}s`): string {
  return `${count.toLocaleString()} ${count === 1 ? one : many}`;
}

interface SavedForm {
  query: string;
  replacement: string;
  regex: boolean;
  caseSensitive: boolean;
  wholeWord: boolean;
  include: string;
  exclude: string;
  hidden: boolean;
  ignored: boolean;
  showReplace: boolean;
  showDetails: boolean;
}

/** The form per project, kept while the view is closed (switching to the explorer and back). */
const savedForms = new Map<string, SavedForm>();

function Toggle({ label, glyph, pressed, onChange }: { label: string; glyph: ReactNode; pressed: boolean; onChange(next: boolean): void }) {
  return (
    <button type="button" className="icon-toggle" aria-label={label} title={label} aria-pressed={pressed} onClick={() => onChange(!pressed)}>
      {glyph}
    </button>
  );
}

export function SearchPanel({ projectId }: { projectId: string }) {
  const saved = savedForms.get(projectId);
  const [query, setQuery] = useState(saved?.query ?? "");
  const [replacement, setReplacement] = useState(saved?.replacement ?? "");
  const [regex, setRegex] = useState(saved?.regex ?? false);
  const [caseSensitive, setCaseSensitive] = useState(saved?.caseSensitive ?? false);
  const [wholeWord, setWholeWord] = useState(saved?.wholeWord ?? false);
  const [include, setInclude] = useState(saved?.include ?? "");
  const [exclude, setExclude] = useState(saved?.exclude ?? "");
  const [hidden, setHidden] = useState(saved?.hidden ?? false);
  const [ignored, setIgnored] = useState(saved?.ignored ?? false);
  const [showReplace, setShowReplace] = useState(saved?.showReplace ?? false);
  const [showDetails, setShowDetails] = useState(saved?.showDetails ?? false);
  const searchInput = useRef<HTMLInputElement>(null);

  useEffect(() => {
    savedForms.set(projectId, { query, replacement, regex, caseSensitive, wholeWord, include, exclude, hidden, ignored, showReplace, showDetails });
  }, [projectId, query, replacement, regex, caseSensitive, wholeWord, include, exclude, hidden, ignored, showReplace, showDetails]);

  // Opening the view puts the cursor in the query, as VS Code does.
  useEffect(() => {
    searchInput.current?.focus();
    searchInput.current?.select();
  }, []);

  const [status, setStatus] = useState<Status>("idle");
  const [error, setError] = useState<ApiError | null>(null);
  const [summary, setSummary] = useState<SearchDone | null>(null);
  const [version, setVersion] = useState(0);
  const [collapsed, setCollapsed] = useState<ReadonlySet<string>>(new Set());
  const groups = useRef(new ResultGroups());
  const controller = useRef<AbortController | null>(null);
  const flushTimer = useRef<ReturnType<typeof setTimeout> | null>(null);

  const [preview, setPreview] = useState<Preview | null>(null);
  const [replaceBusy, setReplaceBusy] = useState<"preview" | "apply" | null>(null);
  const [replaceError, setReplaceError] = useState<ApiError | null>(null);
  const [replaceNote, setReplaceNote] = useState<string | null>(null);

  const options = useMemo<SearchOptions>(
    () => ({ query, regex, caseSensitive, wholeWord, include, exclude, hidden, ignored }),
    [query, regex, caseSensitive, wholeWord, include, exclude, hidden, ignored],
  );

  const run = useCallback(
    (current: SearchOptions) => {
      controller.current?.abort();
      if (flushTimer.current) clearTimeout(flushTimer.current);
      flushTimer.current = null;
      groups.current = new ResultGroups();
      setCollapsed(new Set());
      setSummary(null);
      setError(null);
      setVersion((value) => value + 1);
      if (!current.query) {
        controller.current = null;
        setStatus("idle");
        return;
      }
      const abort = new AbortController();
      controller.current = abort;
      setStatus("searching");
      const target = groups.current;
      const flush = () => {
        flushTimer.current = null;
        if (controller.current === abort) setVersion((value) => value + 1);
      };
      streamSearch(projectId, current, MAX_RESULTS, abort.signal, {
        onHits(hits) {
          if (abort.signal.aborted) return;
          for (const found of hits) target.add(found);
          if (!flushTimer.current) flushTimer.current = setTimeout(flush, FLUSH_MS);
        },
        onDone(done) {
          if (abort.signal.aborted) return;
          if (flushTimer.current) clearTimeout(flushTimer.current);
          flushTimer.current = null;
          target.sortByPath();
          setSummary(done);
          setStatus("done");
          setVersion((value) => value + 1);
        },
      }).catch((caught: unknown) => {
        if (abort.signal.aborted) return;
        setError(caught instanceof ApiError ? caught : new ApiError(0, null, String(caught)));
        setStatus("error");
        setVersion((value) => value + 1);
      });
    },
    [projectId],
  );

  // Debounced: a new keystroke cancels the pending search and the running stream.
  useEffect(() => {
    const timer = setTimeout(() => run(options), options.query ? DEBOUNCE_MS : 0);
    return () => clearTimeout(timer);
  }, [options, run]);

  useEffect(
    () => () => {
      controller.current?.abort();
      if (flushTimer.current) clearTimeout(flushTimer.current);
    },
    [],
  );

  // A preview no longer matches once the query or the replacement changes.
  useEffect(() => {
    setPreview(null);
    setReplaceError(null);
  }, [options, replacement]);

  const rows = useMemo(
    () => flattenRows(groups.current.files, collapsed),
    // `version` marks new hits in the mutable groups.
    [version, collapsed],
  );

  const toggle = (path: string, expand: boolean) => {
    setCollapsed((current) => {
      const next = new Set(current);
      if (expand) next.delete(path);
      else next.add(path);
      return next;
    });
  };

  const activate = (row: ResultRow) => {
    if (row.kind === "file") {
      toggle(row.group.path, !row.expanded);
      return;
    }
    const first = row.hit.ranges[0];
    ide.openFile(row.hit.path, {
      line: row.hit.line,
      column: row.hit.column,
      length: first ? first.end - first.start : undefined,
    });
  };

  const replaceBody = (current: SearchOptions, text: string) => ({
    q: current.query,
    replacement: text,
    regex: current.regex,
    case_sensitive: current.caseSensitive,
    whole_word: current.wholeWord,
    include: current.include.trim() || undefined,
    exclude: current.exclude.trim() || undefined,
  });

  const requestPreview = async () => {
    if (!query) return;
    setReplaceBusy("preview");
    setReplaceError(null);
    setReplaceNote(null);
    try {
      const results = await unwrap(
        api.POST("/api/v1/projects/{project}/replace", {
          params: { path: { project: projectId } },
          body: { ...replaceBody(options, replacement), preview: true },
        }),
      );
      setPreview({ options, replacement, results });
    } catch (caught) {
      setReplaceError(caught instanceof ApiError ? caught : new ApiError(0, null, String(caught)));
    } finally {
      setReplaceBusy(null);
    }
  };

  const applyPreview = async () => {
    if (!preview) return;
    setReplaceBusy("apply");
    setReplaceError(null);
    try {
      const etags = Object.fromEntries(preview.results.files.map((file) => [file.path, file.etag]));
      const results = await unwrap(
        api.POST("/api/v1/projects/{project}/replace", {
          params: { path: { project: projectId } },
          body: { ...replaceBody(preview.options, preview.replacement), etags },
        }),
      );
      const changed = results.files.map((file) => file.path);
      if (changed.length > 0) ide.filesChanged(changed);
      const parts = [`Replaced ${plural(results.total, "occurrence")} in ${plural(results.files.length, "file")}.`];
      if (results.conflicts.length > 0) parts.push(`${plural(results.conflicts.length, "file")} changed meanwhile and kept their edits: ${results.conflicts.join(", ")}.`);
      if (results.failed.length > 0) parts.push(`Could not write ${results.failed.map((file) => `${file.path} (${file.code})`).join(", ")}.`);
      setReplaceNote(parts.join(" "));
      setPreview(null);
      run(options);
    } catch (caught) {
      setReplaceError(caught instanceof ApiError ? caught : new ApiError(0, null, String(caught)));
    } finally {
      setReplaceBusy(null);
    }
  };

  const files = groups.current.files.length;
  const matches = groups.current.matches;
  const queryError = error && (error.field === "q" || error.code === "invalid_regex" || error.code === "invalid_query");
  const previewing = preview !== null;

  let statusText = "";
  if (status === "searching") statusText = matches > 0 ? `Searching… ${plural(matches, "result")} in ${plural(files, "file")}` : "Searching…";
  else if (status === "done")
    statusText =
      matches === 0
        ? `No results (${plural(summary?.files_searched ?? 0, "file")} searched).`
        : `${plural(matches, "result")} in ${plural(files, "file")}${summary?.truncated ? ` — showing the first ${MAX_RESULTS.toLocaleString()} lines; refine the search` : ""}`;

  const renderMatchText = (row: Extract<ResultRow, { kind: "match" }>) => {
    const segments = highlight(row.hit.preview, row.hit.ranges);
    return segments.map((segment, index) => {
      if (!segment.match) return <span key={index}>{segment.text}</span>;
      if (previewing && preview) {
        return (
          <span key={index}>
            <del className="search-del">{segment.text}</del>
            <ins className="search-ins">{replacedText(segment.text, preview.replacement, preview.options)}</ins>
          </span>
        );
      }
      return (
        <mark key={index} className="search-match">
          {segment.text}
        </mark>
      );
    });
  };

  return (
    <div className="search-view" role="region" aria-label="Search">
      <form
        className="search-form"
        role="search"
        onSubmit={(event) => {
          event.preventDefault();
          run(options);
        }}
      >
        <div className="search-row">
          <button
            type="button"
            className="icon-button search-expand"
            aria-label={showReplace ? "Hide replace" : "Show replace"}
            title="Toggle replace"
            aria-expanded={showReplace}
            aria-controls="search-replace-row"
            onClick={() => setShowReplace((value) => !value)}
          >
            {showReplace ? "▾" : "▸"}
          </button>
          <div className="search-input-wrap">
            <input
              ref={searchInput}
              type="search"
              className="search-input"
              aria-label="Search"
              placeholder="Search"
              value={query}
              spellCheck={false}
              autoComplete="off"
              aria-invalid={queryError ? true : undefined}
              aria-describedby={error ? "search-error" : undefined}
              onChange={(event) => setQuery(event.target.value)}
              onKeyDown={(event) => {
                if (event.key === "Escape" && query) {
                  event.preventDefault();
                  setQuery("");
                } else if (event.key === "ArrowDown") {
                  // Down from the query moves into the results, as in VS Code.
                  const tree = event.currentTarget.closest(".search-view")?.querySelector<HTMLElement>('[role="tree"]');
                  if (tree) {
                    event.preventDefault();
                    tree.focus();
                  }
                }
              }}
            />
            <span className="search-toggles">
              <Toggle label="Match case" glyph="Aa" pressed={caseSensitive} onChange={setCaseSensitive} />
              <Toggle label="Match whole word" glyph={<u>ab</u>} pressed={wholeWord} onChange={setWholeWord} />
              <Toggle label="Use regular expression" glyph=".*" pressed={regex} onChange={setRegex} />
            </span>
          </div>
        </div>
        {showReplace ? (
          <div className="search-row" id="search-replace-row">
            <span className="search-expand-spacer" />
            <div className="search-input-wrap">
              <input
                type="text"
                className="search-input"
                aria-label="Replace"
                placeholder="Replace"
                value={replacement}
                spellCheck={false}
                autoComplete="off"
                onChange={(event) => setReplacement(event.target.value)}
                onKeyDown={(event) => {
                  if (event.key === "Enter") {
                    event.preventDefault();
                    void requestPreview();
                  }
                }}
              />
              <span className="search-toggles">
                <button
                  type="button"
                  className="icon-button"
                  aria-label="Replace all"
                  title="Replace all (shows a preview first)"
                  disabled={!query || replaceBusy !== null}
                  onClick={() => void requestPreview()}
                >
                  ⇄
                </button>
              </span>
            </div>
          </div>
        ) : null}
        <div className="search-row search-details-toggle">
          <span className="search-expand-spacer" />
          <button type="button" className="link-button" aria-expanded={showDetails} onClick={() => setShowDetails((value) => !value)}>
            {showDetails ? "Hide file filters" : "Files to include/exclude"}
          </button>
        </div>
        {showDetails ? (
          <div className="search-details">
            <label>
              <span>files to include</span>
              <input
                type="text"
                value={include}
                placeholder="e.g. *.ts, src/**"
                spellCheck={false}
                aria-invalid={error?.field === "include" ? true : undefined}
                onChange={(event) => setInclude(event.target.value)}
              />
            </label>
            <label>
              <span>files to exclude</span>
              <input
                type="text"
                value={exclude}
                placeholder="e.g. dist, *.min.js"
                spellCheck={false}
                aria-invalid={error?.field === "exclude" ? true : undefined}
                onChange={(event) => setExclude(event.target.value)}
              />
            </label>
            <label className="search-check">
              <input type="checkbox" checked={hidden} onChange={(event) => setHidden(event.target.checked)} />
              <span>Search hidden files (.name)</span>
            </label>
            <label className="search-check">
              <input type="checkbox" checked={ignored} onChange={(event) => setIgnored(event.target.checked)} />
              <span>Search files ignored by .gitignore</span>
            </label>
            {(hidden || ignored) && showReplace ? <p className="search-hint">Replace never changes hidden or ignored files.</p> : null}
          </div>
        ) : null}
      </form>

      {error ? (
        <div id="search-error" className="panel-error" role="alert">
          {error.message}
        </div>
      ) : null}
      {replaceError ? (
        <div className="panel-error" role="alert">
          Replace failed: {replaceError.message}
        </div>
      ) : null}
      {replaceNote ? (
        <div className="panel-note" role="status">
          {replaceNote}
        </div>
      ) : null}

      {preview ? (
        <div className="replace-preview" role="group" aria-label="Replace preview">
          <p>
            {preview.results.total === 0
              ? "Nothing to replace."
              : `Replace ${plural(preview.results.total, "occurrence")} in ${plural(preview.results.files.length, "file")} with “${preview.replacement}”?`}
          </p>
          {preview.results.files.length > 0 ? (
            <ul className="replace-preview-files">
              {preview.results.files.slice(0, 50).map((file) => (
                <li key={file.path}>
                  <span className="file-name">{basename(file.path)}</span> <span className="file-dir">{dirname(file.path)}</span>{" "}
                  <span className="badge" aria-label={plural(file.replacements, "replacement")}>
                    {file.replacements}
                  </span>
                </li>
              ))}
              {preview.results.files.length > 50 ? <li>…and {preview.results.files.length - 50} more</li> : null}
            </ul>
          ) : null}
          <div className="button-row">
            <button type="button" disabled={replaceBusy !== null || preview.results.total === 0} onClick={() => void applyPreview()}>
              {replaceBusy === "apply" ? "Replacing…" : "Apply replace"}
            </button>
            <button type="button" className="secondary" onClick={() => setPreview(null)}>
              Cancel
            </button>
          </div>
        </div>
      ) : null}

      <div className="search-status" role="status" aria-live="polite">
        {statusText}
        {status === "searching" ? (
          <button type="button" className="link-button" onClick={() => {
            controller.current?.abort();
            controller.current = null;
            groups.current.sortByPath();
            setStatus("done");
            setVersion((value) => value + 1);
          }}>
            Stop
          </button>
        ) : null}
        {files > 0 ? (
          <button
            type="button"
            className="link-button"
            onClick={() => setCollapsed(collapsed.size > 0 ? new Set() : new Set(groups.current.files.map((group) => group.path)))}
          >
            {collapsed.size > 0 ? "Expand all" : "Collapse all"}
          </button>
        ) : null}
      </div>

      {rows.length > 0 ? (
        <VirtualTree
          rows={rows}
          label="Search results"
          idPrefix="search-row"
          className="search-results"
          onActivate={(row) => activate(row)}
          onToggle={(row, expand) => toggle(row.group.path, expand)}
          renderRow={(row) =>
            row.kind === "file" ? (
              <span className="search-file">
                <span className="twistie" aria-hidden="true">
                  {row.expanded ? "▾" : "▸"}
                </span>
                <span className="file-name">{basename(row.group.path)}</span>
                <span className="file-dir">{dirname(row.group.path)}</span>
                <span className="badge" aria-label={plural(row.group.matches, "match", "matches")}>
                  {row.group.matches}
                </span>
              </span>
            ) : (
              <span className="search-hit" title={`${row.hit.path}:${row.hit.line}`}>
                <span className="search-line-no" aria-label={`line ${row.hit.line}`}>
                  {row.hit.line}
                </span>
                <span className="search-text">{renderMatchText(row)}</span>
              </span>
            )
          }
        />
      ) : null}
    </div>
  );
}
