// Queries and mutations shared by the screens outside the IDE: query keys, the
// typed client for plain routes, and `getJson` for the paginated routes whose
// query parameters the OpenAPI document lists as path parameters (so the typed
// client cannot send them; see the note in `getJson`).
import { useInfiniteQuery, useQuery, type Query } from "@tanstack/react-query";

import { ApiError, api, ensureOk, unwrap, type Schemas } from "../api/client";

export type Org = Schemas["OrgDto"];
export type Project = Schemas["ProjectDto"];
export type Role = Schemas["RoleDto"];
export type Member = Schemas["MemberDto"];
export type AuditEvent = Schemas["AuditEventDto"];
export type Token = Schemas["TokenDto"];
export type Session = Schemas["SessionDto"];
export type Scope = Schemas["ScopeDto"];

export const keys = {
  orgs: ["orgs"] as const,
  org: (org: string) => ["orgs", org] as const,
  projects: (org: string, q: string) => ["orgs", org, "projects", q] as const,
  allProjects: (org: string) => ["orgs", org, "projects"] as const,
  members: (org: string) => ["orgs", org, "members"] as const,
  audit: (org: string, action: string) => ["orgs", org, "audit", action] as const,
  sessions: ["me", "sessions"] as const,
  tokens: ["tokens"] as const,
};

const roleRank: Record<Role, number> = { viewer: 0, developer: 1, admin: 2, owner: 3 };

/** True when `role` is at least `needed` (the server's policy has the final word). */
export function roleAtLeast(role: Role | null | undefined, needed: Role): boolean {
  return role != null && roleRank[role] >= roleRank[needed];
}

export const roles: Role[] = ["viewer", "developer", "admin", "owner"];

export const roleDescriptions: Record<Role, string> = {
  viewer: "reads projects",
  developer: "creates and edits projects",
  admin: "manages members, deletes projects, reads the audit log",
  owner: "everything, including owners and deleting the org",
};

/**
 * GET a JSON route with query parameters. The server's OpenAPI document declares
 * the query parameters of `list_projects` and `org_audit` as path parameters, so
 * the generated types cannot carry them; this sends them as a real query string.
 */
export async function getJson<T>(path: string, query: Record<string, string | number | null | undefined> = {}): Promise<T> {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) {
    if (value !== null && value !== undefined && value !== "") params.set(name, String(value));
  }
  const search = params.toString();
  let response: Response;
  try {
    response = await fetch(search ? `${path}?${search}` : path, {
      credentials: "same-origin",
      headers: { accept: "application/json" },
    });
  } catch (cause) {
    throw new ApiError(0, null, `network error: ${String(cause)}`);
  }
  await ensureOk(response);
  return (await response.json()) as T;
}

/** Keeps the previous page list while a new filter loads, but never another org's. */
function sameOrgPlaceholder(org: string) {
  return <T,>(previous: T | undefined, previousQuery: Query<any, any, any, any> | undefined): T | undefined =>
    previousQuery?.queryKey[1] === org ? previous : undefined;
}

export function useOrgs() {
  return useQuery({ queryKey: keys.orgs, queryFn: () => unwrap(api.GET("/api/v1/orgs")) });
}

export function useOrg(org: string) {
  return useQuery({
    queryKey: keys.org(org),
    queryFn: () => unwrap(api.GET("/api/v1/orgs/{org}", { params: { path: { org } } })),
  });
}

export const PROJECT_PAGE_SIZE = 50;

export function useProjects(org: string | undefined, q: string) {
  return useInfiniteQuery({
    queryKey: keys.projects(org ?? "", q),
    enabled: Boolean(org),
    // A new search keeps showing the old list until its answer arrives.
    placeholderData: sameOrgPlaceholder(org ?? ""),
    initialPageParam: null as string | null,
    queryFn: ({ pageParam }) =>
      getJson<Schemas["ProjectPage"]>(`/api/v1/orgs/${encodeURIComponent(org ?? "")}/projects`, {
        q,
        cursor: pageParam,
        limit: PROJECT_PAGE_SIZE,
      }),
    getNextPageParam: (page) => page.next_cursor ?? null,
  });
}

export function useMembers(org: string) {
  return useQuery({
    queryKey: keys.members(org),
    queryFn: () => unwrap(api.GET("/api/v1/orgs/{org}/members", { params: { path: { org } } })),
  });
}

export function useAudit(org: string, action: string, enabled: boolean) {
  return useInfiniteQuery({
    queryKey: keys.audit(org, action),
    enabled,
    placeholderData: sameOrgPlaceholder(org),
    initialPageParam: null as string | null,
    queryFn: ({ pageParam }) =>
      getJson<Schemas["AuditPage"]>(`/api/v1/orgs/${encodeURIComponent(org)}/audit`, {
        action,
        cursor: pageParam,
        limit: 50,
      }),
    getNextPageParam: (page) => page.next_cursor ?? null,
  });
}

export function useSessions() {
  return useQuery({ queryKey: keys.sessions, queryFn: () => unwrap(api.GET("/api/v1/me/sessions")) });
}

export function useTokens() {
  return useQuery({ queryKey: keys.tokens, queryFn: () => unwrap(api.GET("/api/v1/tokens")) });
}

/** The export formats the server offers, in menu order. */
export const exportFormats = [
  { format: "zip", label: "Zip archive", detail: ".zip" },
  { format: "tar.gz", label: "Tarball", detail: ".tar.gz" },
  { format: "json", label: "JSON (re-importable)", detail: ".json" },
  { format: "md", label: "Markdown report", detail: ".md" },
] as const;

export function exportUrl(projectId: string, format: string): string {
  return `/api/v1/projects/${encodeURIComponent(projectId)}/export?format=${encodeURIComponent(format)}`;
}
