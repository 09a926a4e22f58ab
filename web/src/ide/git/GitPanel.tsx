// The source-control view, like VS Code's: branch and sync buttons, a commit box
// (Ctrl+Enter commits), merge conflicts, staged and unstaged changes with per-file and
// all-at-once stage/unstage, an inline diff under each file, and the commit log a page
// at a time. "Initialize repository" when the workspace is not a repository yet.
import { useCallback, useState, type ReactNode } from "react";

import { ApiError, api, unwrap } from "../../api/client";
import "../../styles/panels.css";
import { ide } from "../search/actions";
import { BranchPicker } from "./BranchPicker";
import { DiffPreview } from "./DiffPreview";
import { canDiscard, discardChange } from "./discard";
import { RemotesSection } from "./RemotesSection";
import { changeLabel, changeLetter, relativeTime, sections, type ChangeItem } from "./model";
import { useGitLog, useGitStatus, useRefreshGit } from "./queries";

type Busy = null | "init" | "commit" | "stage" | "fetch" | "pull" | "push";

function basename(path: string): string {
  const at = path.lastIndexOf("/");
  return at < 0 ? path : path.slice(at + 1);
}

function dirname(path: string): string {
  const at = path.lastIndexOf("/");
  return at < 0 ? "" : path.slice(0, at);
}

function asApiError(caught: unknown): ApiError {
  return caught instanceof ApiError ? caught : new ApiError(0, null, String(caught));
}

function Section({
  title,
  count,
  actions,
  children,
}: {
  title: string;
  count: number;
  actions?: ReactNode;
  children: ReactNode;
}) {
  const [open, setOpen] = useState(true);
  const id = `git-section-${title.replace(/\W+/g, "-").toLowerCase()}`;
  return (
    <section className="git-section" aria-labelledby={`${id}-title`}>
      <div className="git-section-header">
        <button type="button" className="git-section-toggle" id={`${id}-title`} aria-expanded={open} aria-controls={id} onClick={() => setOpen(!open)}>
          <span className="twistie" aria-hidden="true">
            {open ? "▾" : "▸"}
          </span>
          {title}
        </button>
        <span className="git-section-actions">{actions}</span>
        <span className="badge" aria-label={`${count} files`}>
          {count}
        </span>
      </div>
      {open ? (
        <ul className="git-files" id={id} role="list">
          {children}
        </ul>
      ) : null}
    </section>
  );
}

/** Commit message drafts per project, kept while the view is closed. */
const drafts = new Map<string, string>();

export function GitPanel({ projectId }: { projectId: string }) {
  const status = useGitStatus(projectId);
  const repository = status.data?.repository === true;
  const log = useGitLog(projectId, repository);
  const refresh = useRefreshGit(projectId);

  const [message, setMessageState] = useState(() => drafts.get(projectId) ?? "");
  const setMessage = (text: string) => {
    drafts.set(projectId, text);
    setMessageState(text);
  };
  const [busy, setBusy] = useState<Busy>(null);
  const [error, setError] = useState<{ where: Busy; error: ApiError } | null>(null);
  const [note, setNote] = useState<string | null>(null);
  const [expanded, setExpanded] = useState<ReadonlySet<string>>(new Set());
  const [branchesOpen, setBranchesOpen] = useState(false);
  const [showLog, setShowLog] = useState(true);
  const [showRemotes, setShowRemotes] = useState(false);
  const [confirmDiscard, setConfirmDiscard] = useState<string | null>(null);

  const act = useCallback(
    async (kind: Exclude<Busy, null>, work: () => Promise<string | null>) => {
      setBusy(kind);
      setError(null);
      setNote(null);
      try {
        const done = await work();
        if (done) setNote(done);
      } catch (caught) {
        setError({ where: kind, error: asApiError(caught) });
      } finally {
        setBusy(null);
        await refresh();
      }
    },
    [refresh],
  );

  const params = { params: { path: { project: projectId } } };

  const stage = (paths: string[]) =>
    act("stage", async () => {
      await unwrap(api.POST("/api/v1/projects/{project}/git/stage", { ...params, body: { paths } }));
      return null;
    });

  const unstage = (paths: string[]) =>
    act("stage", async () => {
      await unwrap(api.POST("/api/v1/projects/{project}/git/unstage", { ...params, body: { paths } }));
      return null;
    });

  const discard = (item: ChangeItem) =>
    act("stage", async () => {
      setConfirmDiscard(null);
      await discardChange(projectId, item);
      ide.filesChanged([item.path]);
      return item.change === "untracked" ? `Deleted ${item.path}.` : `Discarded the changes to ${item.path}.`;
    });

  const all = status.data ? sections(status.data.entries) : { conflicted: [], staged: [], unstaged: [] };

  const commit = () => {
    const text = message.trim();
    if (!text) {
      setError({ where: "commit", error: new ApiError(400, null, "Type a commit message first.") });
      return;
    }
    const commitAll = all.staged.length === 0;
    void act("commit", async () => {
      const created = await unwrap(
        api.POST("/api/v1/projects/{project}/git/commit", { ...params, body: { message: text, ...(commitAll ? { paths: ["."] } : {}) } }),
      );
      setMessage("");
      setExpanded(new Set());
      return `Committed ${created.commit.slice(0, 7)}.`;
    });
  };

  const remoteAction = (kind: "fetch" | "pull" | "push") =>
    act(kind, async () => {
      if (kind === "fetch") {
        await unwrap(api.POST("/api/v1/projects/{project}/git/fetch", { ...params, body: {} }));
        return "Fetched.";
      }
      if (kind === "pull") {
        const pulled = await unwrap(api.POST("/api/v1/projects/{project}/git/pull", { ...params, body: {} }));
        if (pulled.updated) ide.filesChanged();
        return pulled.updated ? `Pulled; now at ${pulled.head.slice(0, 7)}.` : "Already up to date.";
      }
      const setUpstream = !status.data?.upstream;
      const pushed = await unwrap(api.POST("/api/v1/projects/{project}/git/push", { ...params, body: { set_upstream: setUpstream } }));
      return `Pushed ${pushed.branch}.`;
    });

  const init = () =>
    act("init", async () => {
      await unwrap(api.POST("/api/v1/projects/{project}/git/init", { ...params, body: {} }));
      return "Initialized an empty repository.";
    });

  const toggleDiff = (key: string) =>
    setExpanded((current) => {
      const next = new Set(current);
      if (next.has(key)) next.delete(key);
      else next.add(key);
      return next;
    });

  const errorFor = (where: Busy) =>
    error && error.where === where ? (
      <div className="panel-error" role="alert">
        {error.error.message}
      </div>
    ) : null;

  const fileRow = (item: ChangeItem) => {
    const key = `${item.staged ? "s" : "u"}:${item.path}`;
    const open = expanded.has(key);
    const label = changeLabel(item.change);
    return (
      <li key={key} className="git-file">
        <div className="git-file-row">
          <button
            type="button"
            className="icon-button git-expand"
            aria-expanded={open}
            aria-label={`${open ? "Hide" : "Show"} inline diff of ${item.path}`}
            title="Inline diff"
            onClick={() => toggleDiff(key)}
          >
            {open ? "▾" : "▸"}
          </button>
          <button
            type="button"
            className="git-file-open"
            title={`${item.path} — ${label}${item.oldPath ? ` (from ${item.oldPath})` : ""}. Open the diff.`}
            aria-label={`${item.path}, ${label}${item.staged ? ", staged" : ""}: open diff`}
            onClick={() => ide.openGitDiff(item.path, item.staged)}
          >
            <span className={`file-name git-change-${item.change}`}>{basename(item.path)}</span>
            <span className="file-dir">{dirname(item.path)}</span>
          </button>
          <span className="git-file-actions">
            <button
              type="button"
              className="icon-button"
              aria-label={`Open file ${item.path}`}
              title="Open file"
              disabled={item.change === "deleted"}
              onClick={() => ide.openFile(item.path)}
            >
              ↗
            </button>
            {canDiscard(item) ? (
              <button
                type="button"
                className="icon-button"
                aria-label={`Discard changes to ${item.path}`}
                title={item.change === "untracked" ? "Delete the file" : "Discard changes"}
                disabled={busy !== null}
                onClick={() => setConfirmDiscard(key)}
              >
                ↺
              </button>
            ) : null}
            {item.staged ? (
              <button type="button" className="icon-button" aria-label={`Unstage ${item.path}`} title="Unstage changes" disabled={busy !== null} onClick={() => void unstage([item.path])}>
                −
              </button>
            ) : (
              <button type="button" className="icon-button" aria-label={`Stage ${item.path}`} title="Stage changes" disabled={busy !== null} onClick={() => void stage([item.path])}>
                +
              </button>
            )}
          </span>
          <span className={`git-letter git-change-${item.change}`} title={label} aria-hidden="true">
            {changeLetter(item.change)}
          </span>
        </div>
        {confirmDiscard === key ? (
          <div className="git-confirm" role="group" aria-label={`Confirm discarding ${item.path}`}>
            <span>
              {item.change === "untracked" ? `Delete the untracked file ${item.path}?` : `Discard the unstaged changes to ${item.path}?`} This cannot be undone.
            </span>
            <span className="button-row">
              <button type="button" className="danger" disabled={busy !== null} onClick={() => void discard(item)}>
                {item.change === "untracked" ? "Delete file" : "Discard changes"}
              </button>
              <button type="button" className="secondary" onClick={() => setConfirmDiscard(null)}>
                Cancel
              </button>
            </span>
          </div>
        ) : null}
        {open ? <DiffPreview projectId={projectId} path={item.path} staged={item.staged} /> : null}
      </li>
    );
  };

  if (status.isPending) {
    return (
      <div className="git-view" role="region" aria-label="Source control">
        <div className="git-diff-note" role="status">
          Loading source control…
        </div>
      </div>
    );
  }

  if (status.isError) {
    return (
      <div className="git-view" role="region" aria-label="Source control">
        <div className="panel-error" role="alert">
          {status.error.message}
        </div>
        <button type="button" className="secondary git-block-button" onClick={() => void status.refetch()}>
          Retry
        </button>
      </div>
    );
  }

  if (!repository) {
    return (
      <div className="git-view" role="region" aria-label="Source control">
        <p className="git-empty">This project is not a git repository yet.</p>
        <button type="button" className="git-block-button" disabled={busy !== null} onClick={() => void init()}>
          {busy === "init" ? "Initializing…" : "Initialize repository"}
        </button>
        {errorFor("init")}
      </div>
    );
  }

  const data = status.data;
  const commits = log.data?.pages.flatMap((page) => page.commits) ?? [];
  const changes = all.conflicted.length + all.staged.length + all.unstaged.length;
  const commitLabel = all.staged.length === 0 && all.unstaged.length > 0 ? "Commit all" : "Commit";

  return (
    <div className="git-view" role="region" aria-label="Source control">
      <div className="git-toolbar">
        <div className="git-branch-anchor">
          <button
            type="button"
            className="secondary git-branch-button"
            aria-haspopup="dialog"
            aria-expanded={branchesOpen}
            aria-label={`Branch: ${data.branch ?? "detached HEAD"}. Switch branch`}
            title="Switch branch"
            onClick={() => setBranchesOpen((value) => !value)}
          >
            ⎇ {data.branch ?? `(detached ${data.head?.slice(0, 7) ?? ""})`}
            {data.upstream && (data.ahead > 0 || data.behind > 0) ? (
              <span className="git-sync-counts">
                {" "}
                ↓{data.behind} ↑{data.ahead}
              </span>
            ) : null}
          </button>
          {branchesOpen ? (
            <BranchPicker
              projectId={projectId}
              current={data.branch ?? null}
              onClose={() => setBranchesOpen(false)}
              onChanged={(text, switched) => {
                setNote(text);
                setError(null);
                if (switched) ide.filesChanged();
                void refresh();
              }}
            />
          ) : null}
        </div>
        <span className="git-toolbar-actions">
          <button type="button" className="icon-button" aria-label="Refresh" title="Refresh" onClick={() => void refresh()}>
            ⟳
          </button>
          <button type="button" className="icon-button" aria-label="Fetch" title="Fetch" disabled={busy !== null} onClick={() => void remoteAction("fetch")}>
            {busy === "fetch" ? "…" : "Fetch"}
          </button>
          <button type="button" className="icon-button" aria-label="Pull" title="Pull (fast-forward)" disabled={busy !== null} onClick={() => void remoteAction("pull")}>
            {busy === "pull" ? "…" : "Pull"}
          </button>
          <button type="button" className="icon-button" aria-label="Push" title="Push" disabled={busy !== null} onClick={() => void remoteAction("push")}>
            {busy === "push" ? "…" : "Push"}
          </button>
        </span>
      </div>
      {errorFor("fetch")}
      {errorFor("pull")}
      {errorFor("push")}

      <div className="git-commit-box">
        <textarea
          aria-label="Commit message"
          placeholder={`Message (Ctrl+Enter to commit on "${data.branch ?? "HEAD"}")`}
          value={message}
          rows={Math.min(6, Math.max(2, message.split("\n").length))}
          aria-invalid={error?.where === "commit" && (error.error.field === "message" || error.error.status === 400) ? true : undefined}
          aria-describedby={error?.where === "commit" ? "git-commit-error" : undefined}
          onChange={(event) => setMessage(event.target.value)}
          onKeyDown={(event) => {
            if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
              event.preventDefault();
              commit();
            }
          }}
        />
        <button type="button" className="git-block-button" disabled={busy !== null || changes === 0} onClick={commit} title={commitLabel === "Commit all" ? "Stage all changes and commit" : "Commit the staged changes"}>
          {busy === "commit" ? "Committing…" : `✓ ${commitLabel}`}
        </button>
        {error?.where === "commit" ? (
          <div id="git-commit-error" className="panel-error" role="alert">
            {error.error.message}
          </div>
        ) : null}
      </div>

      {note ? (
        <div className="panel-note" role="status">
          {note}
        </div>
      ) : null}
      {errorFor("stage")}

      <div className="git-scroll">
        {all.conflicted.length > 0 ? (
          <Section title="Merge Changes" count={all.conflicted.length}>
            {all.conflicted.map(fileRow)}
          </Section>
        ) : null}
        {all.staged.length > 0 ? (
          <Section
            title="Staged Changes"
            count={all.staged.length}
            actions={
              <button type="button" className="icon-button" aria-label="Unstage all changes" title="Unstage all changes" disabled={busy !== null} onClick={() => void unstage(["."])}>
                −
              </button>
            }
          >
            {all.staged.map(fileRow)}
          </Section>
        ) : null}
        <Section
          title="Changes"
          count={all.unstaged.length}
          actions={
            all.unstaged.length > 0 ? (
              <button type="button" className="icon-button" aria-label="Stage all changes" title="Stage all changes" disabled={busy !== null} onClick={() => void stage(["."])}>
                +
              </button>
            ) : null
          }
        >
          {all.unstaged.length === 0 ? <li className="git-diff-note">No changes in the working tree.</li> : all.unstaged.map(fileRow)}
        </Section>

        <section className="git-section" aria-labelledby="git-remotes-title">
          <div className="git-section-header">
            <button
              type="button"
              className="git-section-toggle"
              id="git-remotes-title"
              aria-expanded={showRemotes}
              aria-controls="git-remotes"
              onClick={() => setShowRemotes(!showRemotes)}
            >
              <span className="twistie" aria-hidden="true">
                {showRemotes ? "▾" : "▸"}
              </span>
              Remotes
            </button>
          </div>
          {showRemotes ? (
            <div id="git-remotes">
              <RemotesSection projectId={projectId} />
            </div>
          ) : null}
        </section>

        <section className="git-section" aria-labelledby="git-log-title">
          <div className="git-section-header">
            <button type="button" className="git-section-toggle" id="git-log-title" aria-expanded={showLog} aria-controls="git-log" onClick={() => setShowLog(!showLog)}>
              <span className="twistie" aria-hidden="true">
                {showLog ? "▾" : "▸"}
              </span>
              Commits
            </button>
          </div>
          {showLog ? (
            <div id="git-log">
              {log.isError ? (
                <div className="panel-error" role="alert">
                  {log.error.message}
                </div>
              ) : null}
              {log.isPending ? <div className="git-diff-note">Loading history…</div> : null}
              {!log.isPending && commits.length === 0 && !log.isError ? <div className="git-diff-note">No commits yet.</div> : null}
              <ol className="git-log" aria-label="Commit history">
                {commits.map((entry) => (
                  <li key={entry.id} className="git-commit" title={`${entry.message}\n\n${entry.author_name} <${entry.author_email}>\n${entry.time}`}>
                    <span className="git-commit-summary">{entry.summary}</span>
                    <span className="git-commit-meta">
                      <code>{entry.short_id}</code> · {entry.author_name} · <time dateTime={entry.time}>{relativeTime(entry.time)}</time>
                    </span>
                  </li>
                ))}
              </ol>
              {log.hasNextPage ? (
                <button type="button" className="link-button git-more" disabled={log.isFetchingNextPage} onClick={() => void log.fetchNextPage()}>
                  {log.isFetchingNextPage ? "Loading…" : "Load more commits"}
                </button>
              ) : null}
            </div>
          ) : null}
        </section>
      </div>
    </div>
  );
}
