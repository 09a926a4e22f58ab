// The Deploy view's pure parts: deployment statuses and step durations, the env-var
// table and its API mapping (with the secret mask rule), the service form, ANSI
// stripping and log search. No React, no fetch: unit-tested in model.test.ts.

/** What the server answers for a secret's value; sending it back keeps the stored secret. */
export const SECRET_MASK = "********";

export type DeploymentStatus = "queued" | "building" | "starting" | "active" | "superseded" | "failed" | "cancelled";

const IN_FLIGHT = new Set(["queued", "building", "starting"]);

/** Queued, building or starting: may still change, and can be cancelled. */
export function isInFlight(status: string): boolean {
  return IN_FLIGHT.has(status);
}

/** The badge tone of a status. */
export function statusTone(status: string | null | undefined): "ok" | "busy" | "bad" | "idle" {
  if (!status) return "idle";
  if (status === "active") return "ok";
  if (isInFlight(status)) return "busy";
  if (status === "failed") return "bad";
  return "idle";
}

export interface Steps {
  queued_at: string;
  building_at?: string | null;
  starting_at?: string | null;
  active_at?: string | null;
  finished_at?: string | null;
}

export interface StepDuration {
  step: "queued" | "building" | "starting";
  /** Milliseconds; for the step still running, up to `now`. */
  ms: number;
  running: boolean;
}

function time(value: string | null | undefined): number | null {
  if (!value) return null;
  const at = Date.parse(value);
  return Number.isNaN(at) ? null : at;
}

/**
 * How long each step took: queued (until building, or until the end when it never
 * built, e.g. an image source goes straight to starting), building (until starting),
 * starting (until active). A step without an end takes `now` when the deployment is
 * still in flight, else the finish time. Steps never entered are left out.
 */
export function stepDurations(steps: Steps, status: string, now: number = Date.now()): { steps: StepDuration[]; totalMs: number | null } {
  const queued = time(steps.queued_at);
  const building = time(steps.building_at);
  const starting = time(steps.starting_at);
  const active = time(steps.active_at);
  const finished = time(steps.finished_at);
  const live = isInFlight(status);
  // The end of the whole deployment: when it went live, or when it finished otherwise.
  const end = active ?? (live ? now : finished);
  const out: StepDuration[] = [];
  const marks: [StepDuration["step"], number | null][] = [
    ["queued", queued],
    ["building", building],
    ["starting", starting],
  ];
  for (let i = 0; i < marks.length; i++) {
    const [step, begin] = marks[i]!;
    if (begin === null) continue;
    const next = marks.slice(i + 1).find(([, at]) => at !== null)?.[1] ?? null;
    const stop = next ?? end;
    const running = next === null && live;
    if (stop === null) continue;
    out.push({ step, ms: Math.max(0, stop - begin), running });
  }
  const totalMs = queued !== null && end !== null ? Math.max(0, end - queued) : null;
  return { steps: out, totalMs };
}

/** 850 ms, 4.2 s, 1 m 05 s, 2 h 03 m. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const seconds = ms / 1000;
  if (seconds < 60) return `${seconds < 10 ? seconds.toFixed(1) : Math.round(seconds)} s`;
  const whole = Math.round(seconds);
  const minutes = Math.floor(whole / 60);
  if (minutes < 60) return `${minutes} m ${String(whole % 60).padStart(2, "0")} s`;
  return `${Math.floor(minutes / 60)} h ${String(minutes % 60).padStart(2, "0")} m`;
}

export interface DeploymentLike {
  id: string;
  status: string;
  steps: Steps;
  /** Its built image is no longer on the engine (image retention). */
  image_removed?: boolean;
}

/** The deployment now serving (status active), if any. */
export function currentDeployment<T extends DeploymentLike>(deployments: readonly T[]): T | null {
  return deployments.find((d) => d.status === "active") ?? null;
}

/** Earlier deployments that went live (active_at set) and are not the one serving now. */
export function canRollBackTo(deployment: DeploymentLike, current: DeploymentLike | null): boolean {
  return !!deployment.steps.active_at && deployment.status !== "active" && deployment.id !== current?.id && !isInFlight(deployment.status) && !deployment.image_removed;
}

// ---------------------------------------------------------------------------------
// Env vars

export interface EnvRow {
  /** A stable key for React while the name is edited. */
  id: string;
  key: string;
  value: string;
  secret: boolean;
  /** A secret the server already stores: its value is the mask until replaced. */
  stored: boolean;
}

export type EnvApi = Record<string, { value?: string | null; secret?: boolean }>;

let rowCounter = 0;
export function newRowId(): string {
  rowCounter += 1;
  return `env-${rowCounter}`;
}

export function emptyRow(): EnvRow {
  return { id: newRowId(), key: "", value: "", secret: false, stored: false };
}

/** The table for a service's env as the API answers it (secrets masked). */
export function envRowsFromApi(env: EnvApi | null | undefined): EnvRow[] {
  return Object.entries(env ?? {}).map(([key, variable]) => {
    const secret = !!variable.secret;
    return { id: newRowId(), key, value: secret ? SECRET_MASK : (variable.value ?? ""), secret, stored: secret };
  });
}

const ENV_KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * The API body for the table, or per-row errors. A stored secret whose value is still
 * the mask is sent as the mask with `secret: true` (the server keeps its value); a
 * stored secret made plain must get a new value (the mask is not the value). Blank
 * rows are dropped.
 */
export function envRowsToApi(rows: readonly EnvRow[]): { env: Record<string, { value: string; secret: boolean }>; errors: Record<string, string> } {
  // A Map, so that names like `constructor` or `__proto__` are plain keys.
  const env = new Map<string, { value: string; secret: boolean }>();
  const errors: Record<string, string> = {};
  for (const row of rows) {
    const key = row.key.trim();
    if (!key && !row.value) continue;
    if (!key) {
      errors[row.id] = "Enter a name.";
      continue;
    }
    if (!ENV_KEY.test(key)) {
      errors[row.id] = "Use letters, digits and _, not starting with a digit.";
      continue;
    }
    if (env.has(key)) {
      errors[row.id] = `${key} is already set above.`;
      continue;
    }
    const masked = row.value === SECRET_MASK;
    if (masked && !(row.stored && row.secret)) {
      errors[row.id] = row.stored ? "Enter the value: a secret made plain needs it again." : "Enter a value.";
      continue;
    }
    env.set(key, { value: row.value, secret: row.secret });
  }
  return { env: Object.fromEntries(env), errors };
}

// ---------------------------------------------------------------------------------
// The service form

export type SourceType = "workspace" | "git" | "image";

export interface ServiceForm {
  name: string;
  sourceType: SourceType;
  gitUrl: string;
  gitBranch: string;
  image: string;
  dockerfilePath: string;
  /** Build context folder, relative to the source root ("" = the root). */
  context: string;
  /** Build args, one `KEY=value` per line. */
  buildArgs: string;
  port: string;
  healthCheckPath: string;
  /** Seconds a new instance has to pass its health check. */
  healthTimeout: string;
  replicas: string;
  /** CPU limit in cores ("0.5"); "" = no limit. */
  cpu: string;
  /** Memory limit in MB; "" = no limit. */
  memoryMb: string;
  env: EnvRow[];
}

/** The server's health-check timeout when none is given, in seconds. */
export const DEFAULT_HEALTH_TIMEOUT = 60;

/** The fields of the form's "Build and resources" section, with their defaults. */
const ADVANCED_DEFAULTS = { context: "", buildArgs: "", healthTimeout: String(DEFAULT_HEALTH_TIMEOUT), cpu: "", memoryMb: "" } as const;

/** The names of the fields in "Build and resources". */
export const ADVANCED_FIELDS: readonly string[] = Object.keys(ADVANCED_DEFAULTS);

export function emptyForm(): ServiceForm {
  return {
    name: "",
    sourceType: "workspace",
    gitUrl: "",
    gitBranch: "main",
    image: "",
    dockerfilePath: "",
    port: "8080",
    healthCheckPath: "/",
    replicas: "1",
    ...ADVANCED_DEFAULTS,
    env: [],
  };
}

/** Whether the form's build and resource settings differ from the defaults (the form then shows them open). */
export function hasAdvancedSettings(form: ServiceForm): boolean {
  return (Object.keys(ADVANCED_DEFAULTS) as (keyof typeof ADVANCED_DEFAULTS)[]).some((field) => form[field].trim() !== ADVANCED_DEFAULTS[field]);
}

/** Build args as a textarea shows them: `KEY=value` lines, sorted by key. */
export function buildArgsToText(args: Record<string, string> | null | undefined): string {
  return Object.entries(args ?? {})
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([key, value]) => `${key}=${value}`)
    .join("\n");
}

/** Parses `KEY=value` lines (blank lines and `#` comments skipped); the first bad line is the error. */
export function parseBuildArgs(text: string): { args: Record<string, string>; error: string | null } {
  const args = new Map<string, string>();
  for (const [i, raw] of text.split(/\r?\n/).entries()) {
    const line = raw.trim();
    if (!line || line.startsWith("#")) continue;
    const eq = line.indexOf("=");
    const key = (eq < 0 ? line : line.slice(0, eq)).trim();
    if (eq < 0 || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) return { args: {}, error: `Line ${i + 1}: write NAME=value, with a name of letters, digits and _.` };
    if (args.has(key)) return { args: {}, error: `Line ${i + 1}: ${key} is set twice.` };
    args.set(key, line.slice(eq + 1));
  }
  return { args: Object.fromEntries(args), error: null };
}

/** Thousandths of a core as the form shows them ("0.5"). */
export function cpuToText(millis: number | null | undefined): string {
  return millis == null ? "" : String(millis / 1000);
}

export interface ServiceLike {
  name: string;
  source: { type: string; url?: string; branch?: string; image?: string };
  build?: { dockerfile_path?: string | null; context?: string | null; build_args?: Record<string, string> | null } | null;
  port: number;
  health_check_path?: string | null;
  health_check_timeout_secs?: number | null;
  replicas: number;
  cpu_millis?: number | null;
  memory_mb?: number | null;
  env: EnvApi;
}

export function formFromService(service: ServiceLike): ServiceForm {
  const source = service.source;
  return {
    name: service.name,
    sourceType: source.type === "git" || source.type === "image" ? source.type : "workspace",
    gitUrl: source.type === "git" ? (source.url ?? "") : "",
    gitBranch: source.type === "git" ? (source.branch ?? "main") : "main",
    image: source.type === "image" ? (source.image ?? "") : "",
    dockerfilePath: service.build?.dockerfile_path ?? "",
    context: service.build?.context ?? "",
    buildArgs: buildArgsToText(service.build?.build_args),
    port: String(service.port),
    healthCheckPath: service.health_check_path ?? "",
    healthTimeout: String(service.health_check_timeout_secs ?? DEFAULT_HEALTH_TIMEOUT),
    replicas: String(service.replicas),
    cpu: cpuToText(service.cpu_millis),
    memoryMb: service.memory_mb == null ? "" : String(service.memory_mb),
    env: envRowsFromApi(service.env),
  };
}

export type Source = { type: "workspace" } | { type: "git"; url: string; branch: string } | { type: "image"; image: string };

export interface ServiceBody {
  name: string;
  source: Source;
  build: { dockerfile_path: string | null; context: string | null; build_args: Record<string, string> } | null;
  port: number;
  health_check_path: string | null;
  health_check_timeout_secs: number;
  replicas: number;
  /** `null` means no limit (and clears one on an edit). */
  cpu_millis: number | null;
  memory_mb: number | null;
  env: Record<string, { value: string; secret: boolean }>;
}

/** Checks the form and builds the request body; errors are keyed by field (`env:<rowId>` for rows). */
export function formToBody(form: ServiceForm): { body: ServiceBody | null; errors: Record<string, string> } {
  const errors: Record<string, string> = {};
  const name = form.name.trim();
  if (!name) errors.name = "Enter a name.";
  else if (!/^[a-z][a-z0-9-]{0,39}$/.test(name)) errors.name = "Use 1-40 lower-case letters, digits and '-', starting with a letter.";
  let source: Source = { type: "workspace" };
  if (form.sourceType === "git") {
    if (!form.gitUrl.trim()) errors.gitUrl = "Enter the repository URL.";
    if (!form.gitBranch.trim()) errors.gitBranch = "Enter a branch.";
    source = { type: "git", url: form.gitUrl.trim(), branch: form.gitBranch.trim() };
  } else if (form.sourceType === "image") {
    if (!form.image.trim()) errors.image = "Enter an image.";
    source = { type: "image", image: form.image.trim() };
  }
  const port = Number(form.port);
  if (!Number.isInteger(port) || port < 1 || port > 65535) errors.port = "Enter a port from 1 to 65535.";
  const replicas = Number(form.replicas);
  if (!Number.isInteger(replicas) || replicas < 1 || replicas > 20) errors.replicas = "Enter 1 to 20.";
  const health = form.healthCheckPath.trim();
  if (health && !health.startsWith("/")) errors.healthCheckPath = "Start the path with /.";
  const timeout = Number(form.healthTimeout.trim() || NaN);
  if (!Number.isInteger(timeout) || timeout < 1 || timeout > 600) errors.healthTimeout = "Enter 1 to 600 seconds.";
  const cpuText = form.cpu.trim();
  const cpuMillis = Math.round(Number(cpuText) * 1000);
  if (cpuText && (!/^\d*\.?\d+$/.test(cpuText) || cpuMillis < 10 || cpuMillis > 64_000)) errors.cpu = "Enter 0.01 to 64 cores.";
  const memoryText = form.memoryMb.trim();
  const memory = Number(memoryText);
  if (memoryText && (!Number.isInteger(memory) || memory < 6 || memory > 1_048_576)) errors.memoryMb = "Enter 6 to 1048576 MB.";
  const buildArgs = form.sourceType === "image" ? { args: {}, error: null } : parseBuildArgs(form.buildArgs);
  if (buildArgs.error) errors.buildArgs = buildArgs.error;
  const envResult = envRowsToApi(form.env);
  for (const [rowId, message] of Object.entries(envResult.errors)) errors[`env:${rowId}`] = message;
  if (Object.keys(errors).length > 0) return { body: null, errors };
  const dockerfile = form.dockerfilePath.trim();
  const context = form.context.trim().replace(/^\.\/?$/, "");
  const build = form.sourceType === "image" ? null : { dockerfile_path: dockerfile || null, context: context || null, build_args: buildArgs.args };
  const body: ServiceBody = {
    name,
    source,
    build,
    port,
    health_check_path: health || null,
    health_check_timeout_secs: timeout,
    replicas,
    cpu_millis: cpuText ? cpuMillis : null,
    memory_mb: memoryText ? memory : null,
    env: envResult.env,
  };
  return { body, errors };
}

/** The form's field for a server problem's `field` (`env.KEY` → that row). */
export function formFieldFor(field: string | null | undefined, form: ServiceForm): string | null {
  if (!field) return null;
  const map: Record<string, string> = {
    name: "name",
    port: "port",
    replicas: "replicas",
    health_check_path: "healthCheckPath",
    "source.url": "gitUrl",
    "source.branch": "gitBranch",
    "source.image": "image",
    image: "image",
    url: "gitUrl",
    branch: "gitBranch",
    "build.dockerfile_path": "dockerfilePath",
    dockerfile_path: "dockerfilePath",
    "build.context": "context",
    context: "context",
    "build.build_args": "buildArgs",
    build_args: "buildArgs",
    health_check_timeout_secs: "healthTimeout",
    cpu_millis: "cpu",
    memory_mb: "memoryMb",
  };
  if (map[field]) return map[field];
  const env = /^env[.[]"?([^\]"]+)"?\]?$/.exec(field);
  if (env) {
    const row = form.env.find((r) => r.key.trim() === env[1]);
    if (row) return `env:${row.id}`;
  }
  return null;
}

// ---------------------------------------------------------------------------------
// Logs

// CSI (ESC [ … final byte), OSC (ESC ] … BEL or ESC \), and two-byte escapes.
// eslint-disable-next-line no-control-regex
const ANSI = /\u001b\[[0-?]*[ -/]*[@-~]|\u001b\][^\u0007\u001b]*(?:\u0007|\u001b\\)|\u001b[@-Z\\-_]|\u009b[0-?]*[ -/]*[@-~]/g;

/** Removes ANSI escape sequences (colours, cursor moves) and stray carriage returns. */
export function stripAnsi(text: string): string {
  const plain = text.replace(ANSI, "");
  // A progress line redrawn with \r: keep what was drawn last.
  const at = plain.lastIndexOf("\r", plain.length - 2);
  return (at >= 0 ? plain.slice(at + 1) : plain).replace(/\r$/, "");
}

export interface LogLine {
  n: number;
  text: string;
  stream: string;
  /** A step marker ("building"), shown apart from the log. */
  marker?: boolean;
}

/** The lines matching a search (case-insensitive substring); all lines for an empty one. */
export function filterLines<T extends { text: string }>(lines: readonly T[], query: string): T[] {
  const needle = query.toLowerCase();
  if (!needle) return lines.slice();
  return lines.filter((line) => line.text.toLowerCase().includes(needle));
}

/** Splits a line into plain and matching parts for highlighting. */
export function highlightParts(text: string, query: string): { text: string; match: boolean }[] {
  if (!query) return [{ text, match: false }];
  const lower = text.toLowerCase();
  const needle = query.toLowerCase();
  const parts: { text: string; match: boolean }[] = [];
  let from = 0;
  for (;;) {
    const at = lower.indexOf(needle, from);
    if (at < 0) break;
    if (at > from) parts.push({ text: text.slice(from, at), match: false });
    parts.push({ text: text.slice(at, at + needle.length), match: true });
    from = at + needle.length;
  }
  if (from < text.length || parts.length === 0) parts.push({ text: text.slice(from), match: false });
  return parts;
}

/** The text of a parsed SSE `log` event's data, or null. */
export function logEventText(data: string): { line: string; stream: string } | null {
  try {
    const value: unknown = JSON.parse(data);
    if (value && typeof value === "object" && typeof (value as { line?: unknown }).line === "string") {
      const v = value as { line: string; stream?: unknown };
      return { line: stripAnsi(v.line), stream: typeof v.stream === "string" ? v.stream : "stdout" };
    }
  } catch {
    // Not JSON: ignore.
  }
  return null;
}

/** A plan's one-line summary: "static (busybox httpd)", "node (npm)", "Dockerfile at Dockerfile". */
export function planSummary(plan: unknown): string | null {
  if (!plan || typeof plan !== "object") return null;
  const stack = (plan as { stack?: unknown }).stack;
  if (!stack || typeof stack !== "object") return null;
  const s = stack as Record<string, unknown>;
  const type = typeof s.type === "string" ? s.type : null;
  if (!type) return null;
  switch (type) {
    case "dockerfile":
      return `Dockerfile (${String(s.path ?? "Dockerfile")})`;
    case "static":
      return `Static site (${String(s.root ?? ".")})`;
    case "node":
      return `Node (${String(s.package_manager ?? "npm")})`;
    case "python":
      return `Python (${String(s.entry ?? "")})`;
    case "go":
      return "Go";
    case "rust":
      return `Rust (${String(s.binary ?? "")})`;
    case "procfile":
      return `Procfile (${String(s.process ?? "web")}${s.language ? `, ${String(s.language)}` : ""})`;
    default:
      return type;
  }
}
