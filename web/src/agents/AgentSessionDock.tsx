// The "Agent session" panel, docked under the editors like the Deploy logs: the open
// session's live output over its WebSocket (replayed, then followed; reconnects with
// `after=<last id>`), as a terminal for pty agents or as a timeline of messages,
// thoughts, tool calls and usage; permission questions as buttons; a follow-up box;
// Stop; status, tokens and cost; and the Changes tab with the diff review. It also
// watches the project's sessions and says when one finishes (a toast, and the
// browser's Notification when the user already allowed them; it never asks).
import { useQueryClient } from "@tanstack/react-query";
import { useEffect, useLayoutEffect, useRef, useState } from "react";

import { Button, errorMessage } from "../components";
import { toast } from "../components";
import { agentKeys, agentsApi, useRefreshAgents, useSession, useSessions } from "./api";
import { AgentTerminal } from "./AgentTerminal";
import { useSessionStream } from "./connection";
import { DiffReview } from "./DiffReview";
import {
  canReview,
  finishMessage,
  formatCost,
  formatDuration,
  formatTokens,
  isFinished,
  newlyFinished,
  openPermissions,
  sessionTitle,
  statusMap,
  statusTone,
  toolSummary,
  type TimelineItem,
} from "./model";
import { useAgents } from "./store";
import type { AgentSession, ClientFrame } from "./types";
import "../styles/panels.css";
import "../styles/deploy.css";
import "../styles/agents.css";

export function AgentSessionDock({ projectId }: { projectId: string }) {
  useEffect(() => useAgents.getState().reset(projectId), [projectId]);
  const open = useAgents((s) => s.open);
  const forProject = useAgents((s) => s.projectId === projectId);
  return (
    <>
      <FinishWatcher projectId={projectId} />
      {open && forProject ? <SessionPanel key={open} projectId={projectId} sessionId={open} /> : null}
    </>
  );
}

/** Toasts (and, if already allowed, notifies) when one of the project's sessions ends. */
function FinishWatcher({ projectId }: { projectId: string }) {
  const sessions = useSessions(projectId, "");
  const previous = useRef<Map<string, string> | null>(null);
  useEffect(() => {
    if (!sessions.data) return;
    const finished = newlyFinished(previous.current, sessions.data);
    previous.current = statusMap(sessions.data);
    for (const id of finished) {
      const session = sessions.data.find((s) => s.id === id);
      if (!session) continue;
      const message = finishMessage(session);
      toast(message, session.status === "failed" ? "error" : session.status === "succeeded" ? "success" : "info");
      notifyBrowser(message);
    }
  }, [sessions.data]);
  return null;
}

function notifyBrowser(message: string) {
  try {
    if (typeof Notification === "undefined" || Notification.permission !== "granted" || document.visibilityState === "visible") return;
    new Notification("Dockyard", { body: message, tag: "dockyard-agent" });
  } catch {
    // Notifications are a nicety.
  }
}

function SessionPanel({ projectId, sessionId }: { projectId: string; sessionId: string }) {
  const session = useSession(sessionId);
  const refresh = useRefreshAgents(projectId);
  const client = useQueryClient();
  const stream = useSessionStream(sessionId, {
    onEnd: () => refresh(sessionId),
  });
  const tab = useAgents((s) => s.tab);
  const [stopping, setStopping] = useState(false);
  const [actionError, setActionError] = useState<string | null>(null);

  // A `status` event (running, then the end) refreshes the session's row and numbers.
  const lastStatus = stream.timeline.status;
  useEffect(() => {
    if (lastStatus) refresh(sessionId);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [lastStatus, sessionId]);

  useEffect(() => {
    const onKey = (event: KeyboardEvent) => {
      if (event.key === "Escape" && document.activeElement?.closest(".agents-dock") && !document.activeElement.closest(".xterm")) useAgents.getState().close();
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, []);

  const data = session.data;
  const status = data?.status ?? stream.timeline.status ?? "queued";
  const over = isFinished(status) || stream.endStatus !== null;
  const pty = data?.kind === "pty";

  /** Over the socket when it is open, else over HTTP. */
  const send = async (frame: Exclude<ClientFrame, { type: "stop" }>) => {
    setActionError(null);
    if (stream.send(frame)) return;
    try {
      await agentsApi.input(sessionId, frame);
    } catch (failure) {
      setActionError(errorMessage(failure));
    }
  };
  const stop = async () => {
    setStopping(true);
    setActionError(null);
    try {
      const stopped = await agentsApi.stop(sessionId);
      if (stopped) client.setQueryData<AgentSession>(agentKeys.session(sessionId), stopped);
    } catch (failure) {
      setActionError(errorMessage(failure));
    } finally {
      setStopping(false);
      refresh(sessionId);
    }
  };

  const title = data ? `Agent: ${data.profile} — ${sessionTitle(data.prompt, 80)}` : "Agent session";
  const connection =
    stream.state === "live" ? "live" : stream.state === "ended" ? "" : stream.state === "reconnecting" ? "reconnecting…" : "connecting…";
  const reviewable = data ? canReview(data) : false;

  return (
    <section className="deploy-logs agents-dock" aria-label="Agent session">
      <div className="deploy-logs-header">
        <h2 className="deploy-logs-title" title={data?.prompt ?? title}>
          {title}
        </h2>
        <span role="status" aria-label={`Session status: ${status}`} className={`deploy-badge ${statusTone(status)}`}>
          {status}
        </span>
        {data ? (
          <span className="deploy-muted agents-numbers">
            {[formatTokens(data.input_tokens, data.output_tokens), formatCost(data.cost), formatDuration(data.duration_secs)].filter(Boolean).join(" · ")}
          </span>
        ) : null}
        <span className="deploy-muted deploy-logs-state" aria-live="polite">
          {connection}
        </span>
        <div role="tablist" aria-label="Session views" className="agents-tabs">
          <button type="button" role="tab" aria-selected={tab === "transcript"} className="icon-toggle" onClick={() => useAgents.getState().setTab("transcript")}>
            Transcript
          </button>
          <button
            type="button"
            role="tab"
            aria-selected={tab === "changes"}
            className="icon-toggle"
            onClick={() => useAgents.getState().setTab("changes")}
            title={reviewable ? "Review the agent's changes" : undefined}
          >
            Changes{reviewable ? " •" : ""}
          </button>
        </div>
        {!over ? (
          <Button variant="secondary" className="deploy-small deploy-danger" busy={stopping} onClick={stop} aria-label="Stop session">
            Stop
          </Button>
        ) : null}
        <button type="button" className="icon-button" aria-label="Close agent session" title="Close (Esc)" onClick={() => useAgents.getState().close()}>
          ×
        </button>
      </div>
      {actionError || stream.error ? (
        <div className="panel-error" role="alert">
          {actionError ?? stream.error}
        </div>
      ) : null}
      {data?.error && isFinished(status) ? (
        <div className="panel-error" role="alert">
          {data.error.message || data.error.code}
        </div>
      ) : null}
      {tab === "changes" && data ? (
        <div className="agents-body">
          <DiffReview session={data} projectId={projectId} />
        </div>
      ) : pty ? (
        <AgentTerminal subscribeOutput={stream.subscribeOutput} onInput={(keys) => void send({ type: "raw", data: keys })} readOnly={over} label="Agent terminal" />
      ) : (
        <Transcript items={stream.timeline.items} onAnswer={(requestId, optionId) => void send({ type: "permission", request_id: requestId, option_id: optionId })} over={over} />
      )}
      {data && openPermissions(stream.timeline).length === 0 && tab === "transcript" ? <FollowUp disabled={over} pty={pty} onSend={(text) => send({ type: "text", text })} /> : null}
    </section>
  );
}

function FollowUp({ disabled, pty, onSend }: { disabled: boolean; pty: boolean; onSend(text: string): Promise<void> }) {
  const [text, setText] = useState("");
  return (
    <form
      className="agents-followup"
      aria-label="Follow-up"
      onSubmit={(event) => {
        event.preventDefault();
        if (!text.trim() || disabled) return;
        void onSend(text);
        setText("");
      }}
    >
      <input
        type="text"
        aria-label="Follow-up message"
        placeholder={disabled ? "The session is over." : pty ? "Send a line to the terminal" : "Send a follow-up message"}
        value={text}
        disabled={disabled}
        onChange={(e) => setText(e.target.value)}
      />
      <Button type="submit" className="deploy-small" disabled={disabled || !text.trim()}>
        Send
      </Button>
    </form>
  );
}

function Transcript({ items, onAnswer, over }: { items: TimelineItem[]; onAnswer(requestId: string, optionId: string): void; over: boolean }) {
  const body = useRef<HTMLDivElement>(null);
  const follow = useRef(true);
  useLayoutEffect(() => {
    const el = body.current;
    if (el && follow.current) el.scrollTop = el.scrollHeight;
  }, [items]);
  return (
    <div
      ref={body}
      className="agents-body agents-timeline"
      role="log"
      aria-label="Agent transcript"
      tabIndex={0}
      onScroll={(e) => {
        const el = e.currentTarget;
        follow.current = el.scrollHeight - el.scrollTop - el.clientHeight < 16;
      }}
    >
      {items.length === 0 ? <p className="deploy-muted">{over ? "No events." : "Waiting for the agent…"}</p> : null}
      {items.map((item) => (
        <TimelineEntry key={item.key} item={item} onAnswer={onAnswer} over={over} />
      ))}
    </div>
  );
}

function TimelineEntry({ item, onAnswer, over }: { item: TimelineItem; onAnswer(requestId: string, optionId: string): void; over: boolean }) {
  switch (item.type) {
    case "message":
      return (
        <div className={`agents-item agents-message ${item.role}`}>
          <span className="agents-item-kind">{item.role === "user" ? "You" : "Agent"}</span>
          <div className="agents-text">{item.text}</div>
        </div>
      );
    case "thought":
      return (
        <details className="agents-item agents-thought">
          <summary className="agents-item-kind">Thinking</summary>
          <div className="agents-text">{item.text}</div>
        </details>
      );
    case "tool":
      return (
        <div className={`agents-item agents-tool${item.result?.isError ? " error" : ""}`} role="group" aria-label={`Tool call ${item.name}`}>
          <span className="agents-item-kind">Tool</span>
          <span className="agents-tool-name">{item.name}</span> <code className="agents-tool-input">{toolSummary(item.input)}</code>
          {item.status ? <span className="deploy-muted"> · {item.status}</span> : null}
          {item.result ? (
            <details className="agents-tool-result">
              <summary>{item.result.isError ? "Error" : "Result"}</summary>
              <pre>{item.result.text}</pre>
            </details>
          ) : null}
        </div>
      );
    case "usage":
      return (
        <div className="agents-item agents-usage deploy-muted">
          Usage: {[formatTokens(item.inputTokens, item.outputTokens), formatCost(item.cost)].filter(Boolean).join(" · ") || "reported"}
        </div>
      );
    case "permission":
      return (
        <div className="agents-item agents-permission" role="group" aria-label={`Permission: ${item.title}`}>
          <span className="agents-item-kind">Permission</span>
          <div className="agents-text">{item.title}</div>
          {item.answer !== null ? (
            <div className="deploy-muted">Answered: {item.options.find((o) => o.id === item.answer)?.name ?? item.answer}</div>
          ) : (
            <div className="agents-permission-options">
              {item.options.map((option) => (
                <Button
                  key={option.id}
                  variant={option.kind.startsWith("reject") ? "secondary" : "primary"}
                  className="deploy-small"
                  disabled={over}
                  onClick={() => onAnswer(item.requestId, option.id)}
                >
                  {option.name}
                </Button>
              ))}
            </div>
          )}
        </div>
      );
    case "input":
      return (
        <div className="agents-item agents-message user">
          <span className="agents-item-kind">You</span>
          <div className="agents-text">{item.text}</div>
        </div>
      );
    case "output":
      return <pre className={`agents-item agents-output${item.stream === "stderr" ? " stderr" : ""}`}>{stripAnsi(item.text)}</pre>;
    case "commit":
      return <div className="agents-item deploy-muted">Committed the agent's changes as {item.commit.slice(0, 10)}</div>;
    case "status":
      return (
        <div className={`agents-item agents-status ${statusTone(item.status)}`}>
          ── {item.status}
          {item.exitCode !== null ? ` (exit code ${item.exitCode})` : ""}
          {item.error ? `: ${item.error}` : ""} ──
        </div>
      );
    case "note":
      return <div className="agents-item deploy-muted">{item.text}</div>;
  }
}

// eslint-disable-next-line no-control-regex
const ANSI = /\u001b\[[0-9;?]*[ -/]*[@-~]|\u001b\][^\u0007]*(\u0007|\u001b\\)/g;

function stripAnsi(text: string): string {
  return text.replace(ANSI, "");
}
