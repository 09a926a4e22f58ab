// "Discard changes" of one unstaged change, through the files API: an untracked file
// is deleted; a modified or deleted file gets its index version back, rebuilt from
// the working file and the diff's hunks (the API serves no old blobs), and written
// with If-Match so an edit made meanwhile is never overwritten.
import { ApiError, ensureOk, fileUrl, type Schemas } from "../../api/client";
import { reverseHunks } from "../patch";
import type { ChangeItem } from "./model";

async function send(url: string, init: RequestInit = {}): Promise<Response> {
  let response: Response;
  try {
    response = await fetch(url, { credentials: "same-origin", ...init });
  } catch (cause) {
    throw new ApiError(0, null, `network error: ${String(cause)}`);
  }
  return ensureOk(response);
}

async function unstagedDiff(projectId: string, path: string): Promise<Schemas["FileDiffDto"]> {
  const query = new URLSearchParams({ path, staged: "false" });
  const response = await send(`/api/v1/projects/${encodeURIComponent(projectId)}/git/diff?${query}`, { headers: { accept: "application/json" } });
  const diff = (await response.json()) as Schemas["DiffDto"];
  const file = diff.files.find((candidate) => candidate.path === path) ?? diff.files[0];
  if (!file) throw new ApiError(409, null, `${path} has no unstaged changes any more`);
  if (file.binary) throw new ApiError(409, null, `${path} is binary; discard its changes with git in a terminal`);
  if (diff.truncated) throw new ApiError(409, null, `the diff of ${path} is too large to reverse here; use git checkout in a terminal`);
  return file;
}

/** Whether the view offers "discard" for a change. */
export function canDiscard(item: ChangeItem): boolean {
  return !item.staged && ["untracked", "modified", "deleted"].includes(item.change);
}

export async function discardChange(projectId: string, item: ChangeItem): Promise<void> {
  const url = fileUrl(projectId, item.path);
  if (item.change === "untracked") {
    await send(url, { method: "DELETE" });
    return;
  }
  if (item.change === "deleted") {
    const file = await unstagedDiff(projectId, item.path);
    await send(url, { method: "PUT", headers: { "content-type": "application/octet-stream" }, body: reverseHunks("", file.hunks) });
    return;
  }
  const current = await send(url);
  const etag = current.headers.get("etag");
  const text = await current.text();
  const file = await unstagedDiff(projectId, item.path);
  const restored = reverseHunks(text, file.hunks);
  await send(url, {
    method: "PUT",
    headers: { "content-type": "application/octet-stream", ...(etag ? { "if-match": etag } : {}) },
    body: restored,
  });
}
