import { describe, expect, it } from "vitest";

import {
  canRollBackTo,
  currentDeployment,
  emptyForm,
  envRowsFromApi,
  envRowsToApi,
  filterLines,
  formatDuration,
  formFieldFor,
  formFromService,
  formToBody,
  hasAdvancedSettings,
  highlightParts,
  isInFlight,
  logEventText,
  parseBuildArgs,
  planSummary,
  SECRET_MASK,
  stepDurations,
  stripAnsi,
  type EnvRow,
} from "./model";

const t0 = Date.parse("2025-01-01T00:00:00Z");
const at = (ms: number) => new Date(t0 + ms).toISOString();

describe("stepDurations", () => {
  it("times each step of a deployment that went live", () => {
    const { steps, totalMs } = stepDurations({ queued_at: at(0), building_at: at(500), starting_at: at(4_500), active_at: at(6_000), finished_at: null }, "active");
    expect(steps).toEqual([
      { step: "queued", ms: 500, running: false },
      { step: "building", ms: 4_000, running: false },
      { step: "starting", ms: 1_500, running: false },
    ]);
    expect(totalMs).toBe(6_000);
  });

  it("runs the current step up to now while in flight", () => {
    const { steps, totalMs } = stepDurations({ queued_at: at(0), building_at: at(1_000) }, "building", t0 + 3_000);
    expect(steps).toEqual([
      { step: "queued", ms: 1_000, running: false },
      { step: "building", ms: 2_000, running: true },
    ]);
    expect(totalMs).toBe(3_000);
  });

  it("ends a failed deployment at its finish time", () => {
    const { steps, totalMs } = stepDurations({ queued_at: at(0), building_at: at(100), finished_at: at(2_100) }, "failed", t0 + 99_999);
    expect(steps).toEqual([
      { step: "queued", ms: 100, running: false },
      { step: "building", ms: 2_000, running: false },
    ]);
    expect(totalMs).toBe(2_100);
  });

  it("skips steps never entered (an image goes straight to starting)", () => {
    const { steps } = stepDurations({ queued_at: at(0), starting_at: at(200), active_at: at(1_200), finished_at: at(9_000) }, "superseded");
    expect(steps.map((s) => [s.step, s.ms])).toEqual([
      ["queued", 200],
      ["starting", 1_000],
    ]);
  });

  it("formats durations", () => {
    expect(formatDuration(850)).toBe("850 ms");
    expect(formatDuration(4_200)).toBe("4.2 s");
    expect(formatDuration(42_000)).toBe("42 s");
    expect(formatDuration(65_000)).toBe("1 m 05 s");
    expect(formatDuration(2 * 3600_000 + 3 * 60_000)).toBe("2 h 03 m");
  });
});

describe("deployments", () => {
  const d = (id: string, status: string, active_at: string | null) => ({ id, status, steps: { queued_at: at(0), active_at } });
  it("knows what is in flight", () => {
    expect(["queued", "building", "starting"].every(isInFlight)).toBe(true);
    expect(["active", "failed", "cancelled", "superseded"].some(isInFlight)).toBe(false);
  });
  it("offers rollback to earlier deployments that went live, not the current one", () => {
    const list = [d("3", "active", at(3)), d("2", "failed", null), d("1", "superseded", at(1))];
    const current = currentDeployment(list);
    expect(current?.id).toBe("3");
    expect(list.filter((x) => canRollBackTo(x, current)).map((x) => x.id)).toEqual(["1"]);
    expect(canRollBackTo(d("4", "starting", null), current)).toBe(false);
    // Not to a deployment whose image image retention removed.
    expect(canRollBackTo({ ...d("1", "superseded", at(1)), image_removed: true }, current)).toBe(false);
  });
});

describe("env table <-> API", () => {
  it("masks stored secrets and keeps plain values", () => {
    const rows = envRowsFromApi({ A: { value: "1", secret: false }, TOKEN: { value: SECRET_MASK, secret: true } });
    expect(rows.map((r) => [r.key, r.value, r.secret, r.stored])).toEqual([
      ["A", "1", false, false],
      ["TOKEN", SECRET_MASK, true, true],
    ]);
    // Unchanged: the mask goes back with secret: true, which keeps the stored value.
    expect(envRowsToApi(rows)).toEqual({ env: { A: { value: "1", secret: false }, TOKEN: { value: SECRET_MASK, secret: true } }, errors: {} });
  });

  it("takes names that Object.prototype also has as plain names", () => {
    const rows: EnvRow[] = [{ id: "r1", key: "constructor", value: "x", secret: false, stored: false }];
    expect(envRowsToApi(rows)).toEqual({ env: { constructor: { value: "x", secret: false } }, errors: {} });
  });

  it("replaces a secret with a new value", () => {
    const rows = envRowsFromApi({ TOKEN: { value: SECRET_MASK, secret: true } });
    rows[0]!.value = "new-secret";
    expect(envRowsToApi(rows).env).toEqual({ TOKEN: { value: "new-secret", secret: true } });
  });

  it("refuses the mask as a value where it would not keep a stored secret", () => {
    const rows = envRowsFromApi({ TOKEN: { value: SECRET_MASK, secret: true } });
    rows[0]!.secret = false; // made plain: the mask is not the value
    const fresh: EnvRow = { id: "x", key: "NEW", value: SECRET_MASK, secret: true, stored: false };
    const { env, errors } = envRowsToApi([...rows, fresh]);
    expect(env).toEqual({});
    expect(Object.keys(errors).sort()).toEqual([rows[0]!.id, "x"].sort());
  });

  it("drops blank rows and flags bad or duplicate names", () => {
    const rows: EnvRow[] = [
      { id: "a", key: "", value: "", secret: false, stored: false },
      { id: "b", key: "1BAD", value: "x", secret: false, stored: false },
      { id: "c", key: " GOOD ", value: "x", secret: false, stored: false },
      { id: "d", key: "GOOD", value: "y", secret: true, stored: false },
      { id: "e", key: "", value: "orphan", secret: false, stored: false },
    ];
    const { env, errors } = envRowsToApi(rows);
    expect(env).toEqual({ GOOD: { value: "x", secret: false } });
    expect(Object.keys(errors).sort()).toEqual(["b", "d", "e"]);
  });
});

describe("service form", () => {
  it("builds a create body and round-trips a service", () => {
    const form = { ...emptyForm(), name: "web", port: "8080", healthCheckPath: "/" };
    const { body, errors } = formToBody(form);
    expect(errors).toEqual({});
    expect(body).toEqual({
      name: "web",
      source: { type: "workspace" },
      build: { dockerfile_path: null, context: null, build_args: {} },
      port: 8080,
      health_check_path: "/",
      health_check_timeout_secs: 60,
      replicas: 1,
      cpu_millis: null,
      memory_mb: null,
      env: {},
    });
    const back = formFromService({ name: "web", source: { type: "git", url: "https://x/y.git", branch: "dev" }, port: 3000, health_check_path: null, replicas: 2, env: {}, build: null });
    expect(back).toMatchObject({ sourceType: "git", gitUrl: "https://x/y.git", gitBranch: "dev", port: "3000", healthCheckPath: "", replicas: "2" });
  });

  it("checks fields before sending", () => {
    const { body, errors } = formToBody({ ...emptyForm(), name: "Web!", sourceType: "image", image: "", port: "0", replicas: "99", healthCheckPath: "health" });
    expect(body).toBeNull();
    expect(Object.keys(errors).sort()).toEqual(["healthCheckPath", "image", "name", "port", "replicas"]);
  });

  it("sends build settings, the health-check timeout and resource limits, and reads them back", () => {
    const form = { ...emptyForm(), name: "api", context: "./", buildArgs: "# for the ARG lines\nNODE_ENV=production\n\nGREETING=a=b ", healthTimeout: "15", cpu: "0.5", memoryMb: "256" };
    expect(hasAdvancedSettings(emptyForm())).toBe(false);
    expect(hasAdvancedSettings(form)).toBe(true);
    const { body, errors } = formToBody(form);
    expect(errors).toEqual({});
    expect(body).toMatchObject({
      build: { dockerfile_path: null, context: null, build_args: { NODE_ENV: "production", GREETING: "a=b" } },
      health_check_timeout_secs: 15,
      cpu_millis: 500,
      memory_mb: 256,
    });
    const back = formFromService({
      name: "api",
      source: { type: "workspace" },
      build: { dockerfile_path: "docker/Dockerfile", context: "app", build_args: { B: "2", A: "1" } },
      port: 8080,
      health_check_path: "/",
      health_check_timeout_secs: 15,
      replicas: 1,
      cpu_millis: 1500,
      memory_mb: 512,
      env: {},
    });
    expect(back).toMatchObject({ context: "app", buildArgs: "A=1\nB=2", healthTimeout: "15", cpu: "1.5", memoryMb: "512" });
    expect(formToBody(back).body).toMatchObject({ build: { context: "app", build_args: { A: "1", B: "2" } }, cpu_millis: 1500, memory_mb: 512 });
    // Emptied limits are sent as null, which clears them on an edit.
    expect(formToBody({ ...back, cpu: "", memoryMb: " " }).body).toMatchObject({ cpu_millis: null, memory_mb: null });
    // An image source has no build.
    expect(formToBody({ ...back, sourceType: "image", image: "app:1", buildArgs: "not valid" }).body?.build).toBeNull();
  });

  it("checks build args and limits before sending", () => {
    expect(parseBuildArgs("A=1\nA=2").error).toBe("Line 2: A is set twice.");
    expect(parseBuildArgs("ok=1\nno equals").error).toMatch(/^Line 2: write NAME=value/);
    expect(parseBuildArgs("1BAD=x").error).toMatch(/^Line 1:/);
    expect(parseBuildArgs("").args).toEqual({});
    // Names that are also Object.prototype's are plain names.
    expect(parseBuildArgs("constructor=1\ntoString=2").args).toEqual({ constructor: "1", toString: "2" });
    const { body, errors } = formToBody({ ...emptyForm(), name: "api", buildArgs: "=x", healthTimeout: "0", cpu: "0.001", memoryMb: "1.5" });
    expect(body).toBeNull();
    expect(Object.keys(errors).sort()).toEqual(["buildArgs", "cpu", "healthTimeout", "memoryMb"]);
    for (const cpu of ["abc", "-1", "65", "1e3"]) expect(formToBody({ ...emptyForm(), name: "api", cpu }).errors.cpu).toBe("Enter 0.01 to 64 cores.");
    expect(formToBody({ ...emptyForm(), name: "api", healthTimeout: "" }).errors.healthTimeout).toBe("Enter 1 to 600 seconds.");
  });

  it("maps server fields to form fields", () => {
    const form = { ...emptyForm(), env: [{ id: "r1", key: "API_KEY", value: "x", secret: false, stored: false }] };
    expect(formFieldFor("health_check_path", form)).toBe("healthCheckPath");
    expect(formFieldFor("env.API_KEY", form)).toBe("env:r1");
    expect(formFieldFor("cpu_millis", form)).toBe("cpu");
    expect(formFieldFor("build.build_args", form)).toBe("buildArgs");
    expect(formFieldFor("build.context", form)).toBe("context");
    expect(formFieldFor("nonsense", form)).toBeNull();
  });
});

describe("logs", () => {
  it("strips ANSI colours and cursor codes without breaking the text", () => {
    expect(stripAnsi("\u001b[1;32mStep 1/3\u001b[0m : FROM busybox")).toBe("Step 1/3 : FROM busybox");
    expect(stripAnsi("\u001b]0;title\u0007hello \u001b[2Kworld")).toBe("hello world");
    expect(stripAnsi("10%\r50%\r100%")).toBe("100%");
    expect(stripAnsi("plain line\r")).toBe("plain line");
    expect(stripAnsi("ü → ✓")).toBe("ü → ✓");
  });

  it("parses log events and strips them", () => {
    expect(logEventText(JSON.stringify({ stream: "stderr", line: "\u001b[31merror\u001b[0m" }))).toEqual({ line: "error", stream: "stderr" });
    expect(logEventText("not json")).toBeNull();
    expect(logEventText(JSON.stringify({ status: "building" }))).toBeNull();
  });

  it("filters and highlights case-insensitively", () => {
    const lines = [{ text: "Step 1 FROM busybox" }, { text: "COPY . /www" }, { text: "from cache" }];
    expect(filterLines(lines, "from").map((l) => l.text)).toEqual(["Step 1 FROM busybox", "from cache"]);
    expect(filterLines(lines, "")).toHaveLength(3);
    expect(highlightParts("a FROM b from", "from")).toEqual([
      { text: "a ", match: false },
      { text: "FROM", match: true },
      { text: " b ", match: false },
      { text: "from", match: true },
    ]);
    expect(highlightParts("nothing", "zzz")).toEqual([{ text: "nothing", match: false }]);
  });

  it("summarizes plans", () => {
    expect(planSummary({ stack: { type: "static", root: "." } })).toBe("Static site (.)");
    expect(planSummary({ stack: { type: "dockerfile", path: "Dockerfile" } })).toBe("Dockerfile (Dockerfile)");
    expect(planSummary(null)).toBeNull();
  });
});
