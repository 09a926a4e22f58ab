// The review of a finished worktree session: its changes against the base commit,
// file by file with their hunks (the Git panel's diff table and styles), then Apply
// (merge the session's branch into the workspace) or Discard (drop the worktree),
// each after a confirmation. A merge conflict or a dirty workspace is shown with the
// files it names; the workspace is left as it was. A review comment goes back to the
// agent as a follow-up session on the same worktree and branch, which then opens.
import { useQueryClient } from "@tanstack/react-query";
import { useState } from "react";

import { ApiError } from "../api/client";
import { Button, ConfirmDialog, errorMessage, toast } from "../components";
import { HunkTable } from "../ide/git/DiffPreview";
import { ide } from "../ide/search/actions";
import { agentKeys, agentsApi, useRefreshAgents, useSessionDiff } from "./api";
import { canReview } from "./model";
import { useAgents } from "./store";
import type { AgentSession, DiffFile } from "./types";

const MAX_LINES = 2000;

export function DiffReview({ session, projectId }: { session: AgentSession; projectId: string }) {
  const reviewable = canReview(session);
  const diff = useSessionDiff(session.id, reviewable);
  const refresh = useRefreshAgents(projectId);
  const client = useQueryClient();
  const [confirm, setConfirm] = useState<null | "apply" | "discard">(null);
  const [conflict, setConflict] = useState<{ code: string; message: string } | null>(null);

  if (session.isolation !== "worktree") return <p className="deploy-muted agents-pad">This session worked in the workspace itself: its changes are already there (see Source Control).</p>;
  if (session.review === "applied") return <p className="agents-pad" role="status">The changes were applied to the workspace.</p>;
  if (session.review === "discarded") return <p className="agents-pad" role="status">The changes were discarded.</p>;
  if (session.review === "continued")
    return (
      <p className="agents-pad" role="status">
        A review comment went back to the agent: a follow-up session continues on <code>{session.branch}</code>, and its review covers these changes too.
      </p>
    );
  if (!reviewable) return <p className="deploy-muted agents-pad">The changes can be reviewed once the session is over.</p>;
  if (diff.isPending) return <p className="deploy-muted agents-pad" role="status">Loading the changes…</p>;
  if (diff.isError)
    return (
      <div className="panel-error" role="alert">
        {errorMessage(diff.error)}
      </div>
    );

  const files = diff.data.files;
  const apply = async () => {
    setConflict(null);
    try {
      const result = await agentsApi.apply(session.id);
      toast(result.outcome === "merged" ? `Applied ${result.files.length} changed file${result.files.length === 1 ? "" : "s"} to the workspace.` : "Nothing to apply: the workspace already has these changes.");
      ide.filesChanged(result.files.length ? result.files : undefined);
      void client.invalidateQueries({ queryKey: ["git"] });
    } catch (failure) {
      if (failure instanceof ApiError && (failure.code === "merge_conflict" || failure.code === "workspace_dirty")) {
        // Shown in the review rather than the dialog: the files stay in view.
        setConflict({ code: failure.code, message: failure.message });
        return;
      }
      throw failure;
    } finally {
      refresh(session.id);
    }
  };
  const discard = async () => {
    await agentsApi.discard(session.id);
    client.removeQueries({ queryKey: agentKeys.diff(session.id) });
    toast("Discarded the agent's changes.");
    refresh(session.id);
  };

  return (
    <div className="agents-review" role="group" aria-label="Changes to review">
      <div className="agents-review-bar">
        <span>
          {files.length} file{files.length === 1 ? "" : "s"} changed on <code>{session.branch ?? "the session's branch"}</code>
        </span>
        <Button variant="primary" className="deploy-small" onClick={() => setConfirm("apply")} disabled={files.length === 0}>
          Apply changes
        </Button>
        <Button variant="secondary" className="deploy-small deploy-danger" onClick={() => setConfirm("discard")}>
          Discard changes
        </Button>
      </div>
      {conflict ? (
        <div className="panel-error agents-conflict" role="alert" aria-label={conflict.code === "merge_conflict" ? "Merge conflict" : "Workspace has uncommitted changes"}>
          <strong>{conflict.code === "merge_conflict" ? "Merge conflict — nothing was applied." : "The workspace has uncommitted changes in the way — nothing was applied."}</strong>
          <div>{conflict.message}</div>
        </div>
      ) : null}
      {files.length === 0 ? <p className="deploy-muted agents-pad">The agent changed nothing.</p> : null}
      {files.map((file) => (
        <FileDiff key={file.path} file={file} />
      ))}
      {diff.data.truncated ? <div className="git-diff-note">The diff is longer than shown.</div> : null}
      <ReviewComment session={session} projectId={projectId} />
      <ConfirmDialog open={confirm === "apply"} title="Apply the agent's changes?" confirmLabel="Apply" danger={false} onConfirm={apply} onClose={() => setConfirm(null)}>
        Merges <code>{session.branch}</code> ({files.length} file{files.length === 1 ? "" : "s"}) into the workspace with a merge commit.
      </ConfirmDialog>
      <ConfirmDialog open={confirm === "discard"} title="Discard the agent's changes?" confirmLabel="Discard" onConfirm={discard} onClose={() => setConfirm(null)}>
        Deletes the session's worktree and its branch <code>{session.branch}</code>. The transcript stays in the history. This cannot be undone.
      </ConfirmDialog>
    </div>
  );
}

/** A review comment sent back to the agent: the follow-up session opens in the panel. */
function ReviewComment({ session, projectId }: { session: AgentSession; projectId: string }) {
  const [text, setText] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const refresh = useRefreshAgents(projectId);
  const openSession = useAgents((s) => s.openSession);
  const send = async () => {
    if (!text.trim()) return;
    setBusy(true);
    setError(null);
    try {
      const next = await agentsApi.followUp(session.id, text.trim());
      setText("");
      toast(`Sent to the agent: a follow-up session continues on ${session.branch ?? "the same branch"}.`);
      refresh(session.id);
      openSession(next.id, "transcript");
    } catch (failure) {
      setError(errorMessage(failure));
    } finally {
      setBusy(false);
    }
  };
  return (
    <form
      className="agents-followup agents-review-comment"
      aria-label="Review comment"
      onSubmit={(event) => {
        event.preventDefault();
        void send();
      }}
    >
      <textarea
        aria-label="Review comment for the agent"
        placeholder="Ask the agent for changes: it continues on the same branch"
        value={text}
        rows={2}
        onChange={(event) => setText(event.target.value)}
        onKeyDown={(event) => {
          if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
            event.preventDefault();
            void send();
          }
        }}
      />
      <Button type="submit" variant="secondary" className="deploy-small" disabled={busy || !text.trim()}>
        Send to agent
      </Button>
      {error ? (
        <div className="panel-error" role="alert">
          {error}
        </div>
      ) : null}
    </form>
  );
}

function FileDiff({ file }: { file: DiffFile }) {
  return (
    <div className="git-diff agents-file-diff" role="group" aria-label={`Diff of ${file.path}`}>
      <div className="git-diff-summary">
        <strong className="agents-file-path">{file.old_path && file.old_path !== file.path ? `${file.old_path} → ${file.path}` : file.path}</strong>
        <span className="deploy-muted">{file.change}</span>
        <span className="git-add">+{file.additions}</span> <span className="git-del">−{file.deletions}</span>
      </div>
      {file.binary ? <div className="git-diff-note">Binary file; no text diff.</div> : null}
      {file.truncated ? <div className="git-diff-note">Too large to show.</div> : null}
      <HunkTable hunks={file.hunks} maxLines={MAX_LINES} note="The file's diff is longer than shown." />
    </div>
  );
}
