// Small fetch helpers for the IDE's raw routes (file bytes, multipart upload, the tree's
// query parameter) that the typed client does not cover well.
import { ensureOk } from "../api/client";

export async function getJson<T>(url: string, init?: RequestInit): Promise<T> {
  const response = await ensureOk(await fetch(url, { credentials: "same-origin", ...init }));
  return (await response.json()) as T;
}

export async function sendJson<T>(method: string, url: string, body: unknown): Promise<T | null> {
  const response = await ensureOk(
    await fetch(url, {
      method,
      credentials: "same-origin",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    }),
  );
  if (response.status === 204) return null;
  const text = await response.text();
  return text ? (JSON.parse(text) as T) : null;
}

export function projectUrl(projectId: string, rest: string): string {
  return `/api/v1/projects/${encodeURIComponent(projectId)}/${rest}`;
}
