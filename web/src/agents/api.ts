// The agent routes over fetch (errors become the app's `ApiError` with the server's
// problem code and message), and the TanStack Query hooks the view uses.
import { useQuery, useQueryClient } from "@tanstack/react-query";

import { getJson, sendJson } from "../ide/http";
import { usePageVisible } from "../deploy/queries";
import { isFinished } from "./model";
import type { AgentProfile, AgentSession, ApplyResult, ClientFrame, SessionDiff } from "./types";

const session = (id: string, rest = "") => `/api/v1/agent-sessions/${encodeURIComponent(id)}${rest}`;
const sessionsUrl = (projectId: string) => `/api/v1/projects/${encodeURIComponent(projectId)}/agent-sessions`;

export const agentsApi = {
  profiles: () => getJson<AgentProfile[]>("/api/v1/agent-profiles"),
  list(projectId: string, q: string, limit = 50): Promise<AgentSession[]> {
    const query = new URLSearchParams({ limit: String(limit) });
    if (q.trim()) query.set("q", q.trim());
    return getJson<AgentSession[]>(`${sessionsUrl(projectId)}?${query}`);
  },
  start: async (projectId: string, body: { profile: string; prompt: string; isolation: string }) => (await sendJson<AgentSession>("POST", sessionsUrl(projectId), body))!,
  get: (id: string) => getJson<AgentSession>(session(id)),
  input: (id: string, frame: Exclude<ClientFrame, { type: "stop" }>) =>
    sendJson<null>(
      "POST",
      session(id, "/input"),
      frame.type === "text" ? { text: frame.text } : frame.type === "raw" ? { data: frame.data } : { permission: { request_id: frame.request_id, option_id: frame.option_id } },
    ),
  stop: (id: string) => sendJson<AgentSession>("POST", session(id, "/stop"), {}),
  diff: (id: string) => getJson<SessionDiff>(session(id, "/diff")),
  apply: async (id: string) => (await sendJson<ApplyResult>("POST", session(id, "/apply"), {}))!,
  discard: (id: string) => sendJson<null>("POST", session(id, "/discard"), {}),
  /** A review comment for a finished worktree session: a new session continues its worktree and branch. */
  followUp: async (id: string, prompt: string) => (await sendJson<AgentSession>("POST", session(id, "/follow-up"), { prompt }))!,
};

export const agentKeys = {
  profiles: ["agents", "profiles"] as const,
  sessions: (projectId: string) => ["agents", "sessions", projectId] as const,
  list: (projectId: string, q: string) => ["agents", "sessions", projectId, q] as const,
  session: (id: string) => ["agents", "session", id] as const,
  diff: (id: string) => ["agents", "diff", id] as const,
};

export function useProfiles() {
  return useQuery({ queryKey: agentKeys.profiles, queryFn: agentsApi.profiles, refetchInterval: 30_000 });
}

/** The project's sessions, newest first; polled every 2 s while one is queued or running. */
export function useSessions(projectId: string, q = "") {
  const visible = usePageVisible();
  return useQuery({
    queryKey: agentKeys.list(projectId, q),
    queryFn: () => agentsApi.list(projectId, q),
    refetchInterval: (query) => (visible && (query.state.data ?? []).some((s) => !isFinished(s.status)) ? 2000 : visible ? 15_000 : false),
  });
}

export function useSession(id: string) {
  return useQuery({
    queryKey: agentKeys.session(id),
    queryFn: () => agentsApi.get(id),
    refetchInterval: (query) => (query.state.data && !isFinished(query.state.data.status) ? 3000 : false),
  });
}

export function useSessionDiff(id: string, enabled: boolean) {
  return useQuery({ queryKey: agentKeys.diff(id), queryFn: () => agentsApi.diff(id), enabled, retry: false, staleTime: Infinity });
}

/** Refetches the session and every list of the project's sessions. */
export function useRefreshAgents(projectId: string) {
  const client = useQueryClient();
  return (sessionId?: string) => {
    void client.invalidateQueries({ queryKey: agentKeys.sessions(projectId) });
    if (sessionId) void client.invalidateQueries({ queryKey: agentKeys.session(sessionId) });
  };
}
