// An import's progress, from the moment the browser starts uploading to the job's
// end: a pure reducer over the job's Server-Sent Events (`state`, `progress`,
// `end`), a follower that reads the SSE stream and falls back to polling
// `GET /api/v1/jobs/{job}` when the stream is unavailable, and an upload with
// byte progress (XMLHttpRequest: fetch reports no upload progress).
import { ApiError, type Problem, type Schemas } from "../api/client";
import { formatBytes, formatCount, plural } from "../components/format";

export type ImportAccepted = Schemas["ImportAccepted"];
export type JobDto = Schemas["JobDto"];

export type ImportPhase = "uploading" | "queued" | "extracting" | "cloning" | "installing" | "done" | "failed";

export interface ImportProgress {
  phase: ImportPhase;
  /** Upload: bytes sent and the body's size. */
  uploaded: number;
  uploadTotal: number;
  /** Extracting: entries and (uncompressed) bytes written so far; done: the totals. */
  entries: number;
  bytes: number;
  /** Cloning: objects received of the total git announced (0 while unknown). */
  objects: number;
  totalObjects: number;
  error: { code: string; message: string } | null;
  /** The last event id seen (to resume the stream). */
  lastEventId: number;
}

export const initialProgress: ImportProgress = {
  phase: "queued",
  uploaded: 0,
  uploadTotal: 0,
  entries: 0,
  bytes: 0,
  objects: 0,
  totalObjects: 0,
  error: null,
  lastEventId: 0,
};

export function uploadingProgress(uploaded: number, total: number): ImportProgress {
  return { ...initialProgress, phase: "uploading", uploaded, uploadTotal: total };
}

function asNumber(value: unknown): number {
  return typeof value === "number" && Number.isFinite(value) ? value : 0;
}

function asError(value: unknown): ImportProgress["error"] {
  if (value && typeof value === "object") {
    const record = value as Record<string, unknown>;
    return {
      code: typeof record.code === "string" ? record.code : "import_failed",
      message: typeof record.message === "string" ? record.message : "the import failed",
    };
  }
  return null;
}

/** The state after a job status (`queued`, `running`, `succeeded`, `failed`, `canceled`). */
function withStatus(state: ImportProgress, status: unknown, error: unknown): ImportProgress {
  switch (status) {
    case "queued":
      return { ...state, phase: "queued" };
    case "running":
      return state.phase === "queued" || state.phase === "uploading" ? { ...state, phase: "installing" } : state;
    case "succeeded":
      return { ...state, phase: "done", error: null };
    case "failed":
      return { ...state, phase: "failed", error: asError(error) ?? { code: "import_failed", message: "the import failed" } };
    case "canceled":
      return { ...state, phase: "failed", error: asError(error) ?? { code: "job_canceled", message: "the import was canceled" } };
    default:
      return state;
  }
}

/** The state after a `progress` payload (`{phase, entries, bytes}` or `{phase, objects, total_objects, bytes}`). */
function withProgress(state: ImportProgress, data: Record<string, unknown>): ImportProgress {
  if (state.phase === "done" || state.phase === "failed") return state;
  const phase = data.phase;
  if (phase === "extracting") return { ...state, phase: "extracting", entries: asNumber(data.entries), bytes: asNumber(data.bytes) };
  if (phase === "cloning") {
    return {
      ...state,
      phase: "cloning",
      objects: asNumber(data.objects),
      totalObjects: asNumber(data.total_objects),
      bytes: asNumber(data.bytes),
    };
  }
  if (phase === "done") return { ...state, phase: "installing", entries: asNumber(data.entries), bytes: asNumber(data.bytes) };
  return state;
}

/** Applies one event of the job's stream. Unknown kinds (`log`, …) change nothing. */
export function reduceJobEvent(state: ImportProgress, kind: string, rawData: string, id?: string): ImportProgress {
  let data: Record<string, unknown> = {};
  try {
    const parsed: unknown = JSON.parse(rawData);
    if (parsed && typeof parsed === "object") data = parsed as Record<string, unknown>;
  } catch {
    return state;
  }
  const seq = id ? Number.parseInt(id, 10) : Number.NaN;
  const next = Number.isFinite(seq) ? { ...state, lastEventId: Math.max(state.lastEventId, seq) } : state;
  switch (kind) {
    case "state":
      return withStatus(next, data.status, data.error);
    case "progress":
      return withProgress(next, data);
    case "end":
      return withStatus(next, data.status, data.error);
    default:
      return next;
  }
}

/** The state a polled job shows. */
export function progressFromJob(state: ImportProgress, job: JobDto): ImportProgress {
  const progressed = job.progress ? withProgress(state, job.progress as Record<string, unknown>) : state;
  return withStatus(progressed, job.status, job.error);
}

export function isFinished(state: ImportProgress): boolean {
  return state.phase === "done" || state.phase === "failed";
}

/** 0..1 when the total is known (upload, git objects, done), else null. */
export function progressFraction(state: ImportProgress): number | null {
  switch (state.phase) {
    case "uploading":
      return state.uploadTotal > 0 ? state.uploaded / state.uploadTotal : null;
    case "cloning":
      return state.totalObjects > 0 ? state.objects / state.totalObjects : null;
    case "done":
      return 1;
    case "failed":
      return 0;
    default:
      return null;
  }
}

/** One line for people: "Uploading… 1.2 MB of 3.4 MB (35%)", "Extracting… 120 files, 2.0 MB". */
export function describeProgress(state: ImportProgress): string {
  switch (state.phase) {
    case "uploading": {
      if (state.uploadTotal <= 0) return "Uploading…";
      const percent = Math.floor((state.uploaded / state.uploadTotal) * 100);
      return `Uploading… ${formatBytes(state.uploaded)} of ${formatBytes(state.uploadTotal)} (${percent}%)`;
    }
    case "queued":
      return "Waiting for a worker…";
    case "extracting":
      return `Extracting… ${plural(state.entries, "item")}, ${formatBytes(state.bytes)}`;
    case "cloning":
      return state.totalObjects > 0
        ? `Cloning… ${formatCount(state.objects)} of ${formatCount(state.totalObjects)} objects, ${formatBytes(state.bytes)}`
        : "Cloning… connecting to the repository";
    case "installing":
      return "Installing into the workspace…";
    case "done":
      return state.entries > 0 ? `Imported ${plural(state.entries, "item")}, ${formatBytes(state.bytes)}` : "Imported";
    case "failed":
      return `Import failed: ${state.error?.message ?? "unknown error"}`;
  }
}

/** The subset of `EventSource` the follower uses (a fake one in tests). */
export interface EventSourceLike {
  readonly readyState: number;
  addEventListener(type: string, listener: (event: MessageEvent<string>) => void): void;
  onerror: ((event: Event) => void) | null;
  close(): void;
}

export interface FollowOptions {
  createEventSource?: (url: string) => EventSourceLike;
  fetchJob?: (jobId: string) => Promise<JobDto>;
  pollMs?: number;
  /** Stream errors in a row before polling takes over. */
  maxStreamErrors?: number;
}

const CLOSED = 2;

async function fetchJobDefault(jobId: string): Promise<JobDto> {
  const response = await fetch(`/api/v1/jobs/${encodeURIComponent(jobId)}`, { credentials: "same-origin" });
  if (!response.ok) {
    let problem: Problem | null = null;
    try {
      problem = (await response.json()) as Problem;
    } catch {
      problem = null;
    }
    throw new ApiError(response.status, problem, response.statusText);
  }
  return (await response.json()) as JobDto;
}

/**
 * Follows a job until it ends, calling `onUpdate` with each new state (the last
 * one finished). Answers a function that stops following.
 */
export function followJob(
  jobId: string,
  start: ImportProgress,
  onUpdate: (state: ImportProgress) => void,
  options: FollowOptions = {},
): () => void {
  const createEventSource =
    options.createEventSource ??
    (typeof EventSource === "undefined" ? null : (url: string) => new EventSource(url, { withCredentials: true }));
  const fetchJob = options.fetchJob ?? fetchJobDefault;
  const pollMs = options.pollMs ?? 1000;
  const maxStreamErrors = options.maxStreamErrors ?? 3;
  let state = start;
  let stopped = false;
  let source: EventSourceLike | null = null;
  let timer: ReturnType<typeof setTimeout> | null = null;
  let streamErrors = 0;

  const update = (next: ImportProgress) => {
    if (stopped || next === state) return;
    state = next;
    onUpdate(state);
    if (isFinished(state)) stop();
  };

  const poll = async () => {
    timer = null;
    if (stopped) return;
    try {
      update(progressFromJob(state, await fetchJob(jobId)));
    } catch (error) {
      if (error instanceof ApiError && error.status === 404) {
        update({ ...state, phase: "failed", error: { code: "job_not_found", message: "the import job is gone" } });
      }
    }
    if (!stopped) timer = setTimeout(poll, pollMs);
  };

  const startPolling = () => {
    source?.close();
    source = null;
    if (!stopped && timer === null) void poll();
  };

  function stop() {
    stopped = true;
    source?.close();
    source = null;
    if (timer !== null) clearTimeout(timer);
    timer = null;
  }

  if (createEventSource) {
    const url = `/api/v1/jobs/${encodeURIComponent(jobId)}/events${state.lastEventId ? `?after=${state.lastEventId}` : ""}`;
    const opened = createEventSource(url);
    source = opened;
    const listen = (kind: string) =>
      opened.addEventListener(kind, (event) => {
        streamErrors = 0;
        update(reduceJobEvent(state, kind, event.data, event.lastEventId || undefined));
      });
    for (const kind of ["state", "progress", "end"]) listen(kind);
    opened.onerror = () => {
      if (stopped) return;
      streamErrors += 1;
      // CLOSED: the server refused the stream; else the browser is reconnecting
      // with Last-Event-ID, which is fine unless it keeps failing.
      if (opened.readyState === CLOSED || streamErrors >= maxStreamErrors) startPolling();
    };
  } else {
    startPolling();
  }
  return stop;
}

/**
 * Sends an import's multipart body with upload progress; answers the server's
 * 202, or throws an `ApiError` with its problem document.
 */
export function uploadImport(
  url: string,
  body: FormData,
  onProgress: (uploaded: number, total: number) => void,
  signal?: AbortSignal,
): Promise<ImportAccepted> {
  return new Promise((resolve, reject) => {
    const request = new XMLHttpRequest();
    request.open("POST", url);
    request.responseType = "text";
    request.setRequestHeader("accept", "application/json");
    request.upload.onprogress = (event) => onProgress(event.loaded, event.lengthComputable ? event.total : 0);
    request.onload = () => {
      let parsed: unknown = null;
      try {
        parsed = JSON.parse(request.responseText);
      } catch {
        parsed = null;
      }
      if (request.status >= 200 && request.status < 300) {
        resolve(parsed as ImportAccepted);
        return;
      }
      const problem = parsed && typeof parsed === "object" && "code" in parsed ? (parsed as Problem) : null;
      reject(new ApiError(request.status, problem, request.statusText || `HTTP ${request.status}`));
    };
    request.onerror = () => reject(new ApiError(0, null, "network error: the upload did not reach the server"));
    request.onabort = () => reject(new ApiError(0, null, "the upload was canceled"));
    signal?.addEventListener("abort", () => request.abort());
    request.send(body);
  });
}

/** A project name from an archive's file name: "my-app-1.2.tar.gz" → "my-app-1.2". */
export function nameFromFile(fileName: string): string {
  return fileName
    .replace(/\.(tar\.gz|tgz|zip|json)$/i, "")
    .replace(/[_]+/g, " ")
    .trim();
}

/** A project name from a git URL: "https://github.com/acme/web.git" → "web". */
export function nameFromGitUrl(url: string): string {
  const trimmed = url.trim().replace(/\/+$/, "").replace(/\.git$/i, "");
  const last = trimmed.split("/").pop() ?? "";
  return last.includes(":") ? "" : last;
}
