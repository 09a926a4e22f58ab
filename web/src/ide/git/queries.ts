// TanStack Query keys and fetchers of the git routes used by the source-control view.
import { useInfiniteQuery, useQuery, useQueryClient } from "@tanstack/react-query";

import { ApiError, api, ensureOk, unwrap, type Schemas } from "../../api/client";

export const gitKeys = {
  all: (projectId: string) => ["git", projectId] as const,
  status: (projectId: string) => ["git", projectId, "status"] as const,
  branches: (projectId: string) => ["git", projectId, "branches"] as const,
  log: (projectId: string) => ["git", projectId, "log"] as const,
  diff: (projectId: string, path: string, staged: boolean) => ["git", projectId, "diff", path, staged] as const,
};

const project = (projectId: string) => ({ path: { project: projectId } });

// The OpenAPI document declares the query parameters of `git/log` and `git/diff` as
// path parameters (utoipa's IntoParams without `parameter_in = Query`), so the typed
// client cannot send them; these two use fetch with the generated response types.
function gitUrl(projectId: string, route: string): string {
  return `/api/v1/projects/${encodeURIComponent(projectId)}/git/${route}`;
}

async function getJson<T>(url: string, signal?: AbortSignal): Promise<T> {
  let raw: Response;
  try {
    raw = await fetch(url, { credentials: "same-origin", headers: { accept: "application/json" }, signal });
  } catch (cause) {
    if (signal?.aborted) throw cause;
    throw new ApiError(0, null, `network error: ${String(cause)}`);
  }
  const response = await ensureOk(raw);
  return (await response.json()) as T;
}

export function useGitStatus(projectId: string) {
  return useQuery({
    queryKey: gitKeys.status(projectId),
    queryFn: () => unwrap(api.GET("/api/v1/projects/{project}/git/status", { params: project(projectId) })),
    staleTime: 2_000,
    refetchInterval: 15_000,
    refetchOnWindowFocus: true,
  });
}

export function useGitBranches(projectId: string, enabled: boolean) {
  return useQuery({
    queryKey: gitKeys.branches(projectId),
    queryFn: () => unwrap(api.GET("/api/v1/projects/{project}/git/branches", { params: project(projectId) })),
    enabled,
  });
}

export const LOG_PAGE = 30;

export function useGitLog(projectId: string, enabled: boolean) {
  return useInfiniteQuery({
    queryKey: gitKeys.log(projectId),
    initialPageParam: null as string | null,
    queryFn: ({ pageParam, signal }) => {
      const query = new URLSearchParams({ limit: String(LOG_PAGE) });
      if (pageParam) query.set("after", pageParam);
      return getJson<Schemas["LogDto"]>(`${gitUrl(projectId, "log")}?${query}`, signal);
    },
    getNextPageParam: (last) => last.next ?? null,
    enabled,
  });
}

export function useGitDiff(projectId: string, path: string, staged: boolean) {
  return useQuery({
    queryKey: gitKeys.diff(projectId, path, staged),
    queryFn: ({ signal }) =>
      getJson<Schemas["DiffDto"]>(`${gitUrl(projectId, "diff")}?${new URLSearchParams({ path, staged: String(staged) })}`, signal),
    staleTime: 0,
  });
}

/** Refreshes everything the view shows (after any action). */
export function useRefreshGit(projectId: string) {
  const client = useQueryClient();
  return () => client.invalidateQueries({ queryKey: gitKeys.all(projectId) });
}
