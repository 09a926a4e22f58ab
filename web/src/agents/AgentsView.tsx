// The Agents sidebar view: start a session (profile with its health, prompt,
// isolation), or read the degraded-mode notice when no agent is configured; then the
// project's session history with status, cost and duration, searchable. A session
// opens in the Agent session panel under the editors (AgentSessionDock).
import { useQueryClient } from "@tanstack/react-query";
import { useEffect, useId, useRef, useState } from "react";

import { Button, FormError, errorMessage, relativeTime } from "../components";
import type { ViewProps } from "../ide/contract";
import { useIde } from "../ide/store";
import { agentKeys, agentsApi, useProfiles, useRefreshAgents, useSessions } from "./api";
import { defaultProfile, formatCost, formatDuration, profileAvailability, sessionTitle, statusTone } from "./model";
import { useAgents } from "./store";
import type { AgentProfile, AgentSession } from "./types";
import "../styles/panels.css";
import "../styles/deploy.css";
import "../styles/agents.css";

export function AgentsView({ projectId }: ViewProps) {
  useEffect(() => useAgents.getState().reset(projectId), [projectId]);
  const refresh = useRefreshAgents(projectId);
  const client = useQueryClient();
  return (
    <div className="agents-view">
      <div className="ide-view-header">
        <h2>Agents</h2>
        <div className="ide-view-actions">
          <button type="button" className="ide-icon-button" aria-label="New agent session" title="New session" onClick={() => useAgents.getState().requestNewSession()}>
            +
          </button>
          <button
            type="button"
            className="ide-icon-button"
            aria-label="Refresh agent sessions"
            title="Refresh"
            onClick={() => {
              refresh();
              void client.invalidateQueries({ queryKey: agentKeys.profiles });
            }}
          >
            ⟳
          </button>
        </div>
      </div>
      <div className="deploy-scroll">
        <NewSession projectId={projectId} />
        <History projectId={projectId} />
      </div>
    </div>
  );
}

const PROFILE_KEY = "dockyard.agents.profile";

/** Opens a session in the panel; on a phone the sidebar is an overlay over it, so it closes. */
function showSession(id: string) {
  useAgents.getState().openSession(id);
  if (window.matchMedia("(max-width: 700px)").matches && !useIde.getState().sidebarCollapsed) useIde.getState().toggleSidebar(true);
}

function NewSession({ projectId }: { projectId: string }) {
  const profiles = useProfiles();
  const refresh = useRefreshAgents(projectId);
  const client = useQueryClient();
  const [profile, setProfile] = useState("");
  const [prompt, setPrompt] = useState("");
  const [isolation, setIsolation] = useState<"worktree" | "workspace">("worktree");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const promptRef = useRef<HTMLTextAreaElement>(null);
  const nonce = useAgents((s) => s.newSessionNonce);
  const id = useId();
  const list = profiles.data ?? [];

  useEffect(() => {
    if (!profiles.data) return;
    let stored: string | null = null;
    try {
      stored = localStorage.getItem(PROFILE_KEY);
    } catch {
      stored = null;
    }
    setProfile((current) => (current && profiles.data.some((p) => p.name === current) ? current : defaultProfile(profiles.data, stored)));
  }, [profiles.data]);

  useEffect(() => {
    if (nonce) promptRef.current?.focus();
  }, [nonce]);

  // Each profile has a working mode: picking the profile picks its isolation (still changeable).
  const profileIsolation = list.find((p) => p.name === profile)?.isolation;
  useEffect(() => {
    if (profileIsolation === "worktree" || profileIsolation === "workspace") setIsolation(profileIsolation);
  }, [profile, profileIsolation]);

  if (profiles.isPending) return <p className="deploy-muted deploy-pad">Loading agent profiles…</p>;
  if (profiles.isError)
    return (
      <div className="panel-error" role="alert">
        {errorMessage(profiles.error)}
      </div>
    );
  if (list.length === 0)
    return (
      <div className="agents-degraded" role="note" aria-label="No agent configured">
        <p>
          <strong>No coding agent is configured on this Dockyard.</strong>
        </p>
        <p>
          An instance admin must add an agent profile (for example Claude Code, Gemini CLI over ACP, or aider in a terminal) with{" "}
          <code>POST /api/v1/admin/agent-profiles</code> or the server's config file before sessions can start here. Past sessions stay listed below.
        </p>
      </div>
    );

  const selected = list.find((p) => p.name === profile) ?? null;
  const availability = selected ? profileAvailability(selected) : null;
  const submit = async (event: React.FormEvent) => {
    event.preventDefault();
    if (!selected || !availability?.usable) return;
    if (!prompt.trim()) {
      setError("Write a prompt for the agent.");
      promptRef.current?.focus();
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const session = await agentsApi.start(projectId, { profile: selected.name, prompt, isolation });
      try {
        localStorage.setItem(PROFILE_KEY, selected.name);
      } catch {
        // Not remembered; the first usable profile is preselected next time.
      }
      setPrompt("");
      client.setQueryData<AgentSession>(agentKeys.session(session.id), session);
      refresh();
      showSession(session.id);
    } catch (failure) {
      setError(errorMessage(failure));
      // A failing profile's health changes with the answer (503 agent_unavailable).
      void client.invalidateQueries({ queryKey: agentKeys.profiles });
    } finally {
      setBusy(false);
    }
  };

  return (
    <form className="agents-new" aria-label="New agent session" onSubmit={submit} noValidate>
      <label className="agents-label" htmlFor={`${id}-profile`}>
        Agent
      </label>
      <select id={`${id}-profile`} value={profile} onChange={(e) => setProfile(e.target.value)} aria-describedby={`${id}-health`}>
        {list.map((p) => (
          <ProfileOption key={p.id} profile={p} />
        ))}
      </select>
      {availability ? (
        <div id={`${id}-health`} className={`agents-health ${availability.usable ? (selected?.health.state === "closed" ? "ok" : "busy") : "bad"}`}>
          <span aria-hidden="true">●</span> {selected!.kind} · {availability.label}
        </div>
      ) : null}
      <label className="agents-label" htmlFor={`${id}-prompt`}>
        Prompt
      </label>
      <textarea
        id={`${id}-prompt`}
        ref={promptRef}
        rows={4}
        value={prompt}
        placeholder="What should the agent do?"
        onChange={(e) => setPrompt(e.target.value)}
        onKeyDown={(e) => {
          if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) void submit(e);
        }}
      />
      <fieldset className="agents-isolation">
        <legend className="agents-label">Isolation</legend>
        <label>
          <input type="radio" name={`${id}-isolation`} value="worktree" checked={isolation === "worktree"} onChange={() => setIsolation("worktree")} /> Own git worktree
          (review, then apply)
        </label>
        <label>
          <input type="radio" name={`${id}-isolation`} value="workspace" checked={isolation === "workspace"} onChange={() => setIsolation("workspace")} /> The workspace itself
        </label>
      </fieldset>
      <FormError message={error} />
      <Button type="submit" busy={busy} disabled={!availability?.usable} title={availability && !availability.usable ? availability.label : undefined}>
        Start session
      </Button>
    </form>
  );
}

function ProfileOption({ profile }: { profile: AgentProfile }) {
  const availability = profileAvailability(profile);
  return (
    <option value={profile.name} disabled={!availability.usable}>
      {profile.name} ({profile.kind}){availability.usable ? (profile.health.state === "closed" ? "" : " — recovering") : ` — ${availability.label}`}
    </option>
  );
}

function History({ projectId }: { projectId: string }) {
  const [query, setQuery] = useState("");
  const [debounced, setDebounced] = useState("");
  useEffect(() => {
    const timer = setTimeout(() => setDebounced(query), 250);
    return () => clearTimeout(timer);
  }, [query]);
  const sessions = useSessions(projectId, debounced);
  const open = useAgents((s) => s.open);
  const list = sessions.data ?? [];
  return (
    <section className="agents-history" aria-label="Agent sessions">
      <h3 className="agents-section-title">Sessions</h3>
      <input type="search" className="agents-search" aria-label="Search sessions" placeholder="Search prompts and results" value={query} onChange={(e) => setQuery(e.target.value)} />
      {sessions.isError ? (
        <div className="panel-error" role="alert">
          {errorMessage(sessions.error)}
        </div>
      ) : null}
      {sessions.data && list.length === 0 ? <p className="deploy-muted deploy-pad">{debounced ? "No session matches." : "No sessions yet."}</p> : null}
      <ul className="agents-sessions" role="list">
        {list.map((session) => (
          <li key={session.id} className={`agents-session${open === session.id ? " selected" : ""}`}>
            <button
              type="button"
              className="agents-session-button"
              aria-label={`Session ${sessionTitle(session.prompt)}, ${session.status}`}
              aria-current={open === session.id ? "true" : undefined}
              onClick={() => showSession(session.id)}
            >
              <span className="agents-session-title">{sessionTitle(session.prompt)}</span>
              <span className="agents-session-meta">
                <span className={`deploy-badge ${statusTone(session.status)}`}>{session.status}</span>
                <span>{session.profile}</span>
                {session.cost != null ? <span>{formatCost(session.cost)}</span> : null}
                {session.duration_secs != null ? <span>{formatDuration(session.duration_secs)}</span> : null}
                {session.review ? <span>{session.review}</span> : null}
                <span title={session.created_at}>{relativeTime(session.created_at)}</span>
              </span>
            </button>
          </li>
        ))}
      </ul>
    </section>
  );
}

/** A robot head. */
export function IconAgent() {
  return (
    <svg viewBox="0 0 24 24" width="24" height="24" aria-hidden="true" fill="none" stroke="currentColor" strokeWidth="1.5" strokeLinejoin="round">
      <rect x="4.5" y="7.5" width="15" height="11" rx="2.5" />
      <path d="M12 7.5V4.5M10.5 4h3" />
      <circle cx="9.2" cy="12.5" r="1.2" />
      <circle cx="14.8" cy="12.5" r="1.2" />
      <path d="M9.5 16h5M2.5 12v3M21.5 12v3" />
    </svg>
  );
}
