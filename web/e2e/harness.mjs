// End-to-end harness: starts the real `dockyard` binary on a free port with a fresh
// data dir (and a fresh PostgreSQL database when DOCKYARD_TEST_DATABASE_URL is set),
// and drives Debian's Chromium through playwright-core. Nothing is mocked.
//
// Environment:
//   DOCKYARD_BIN                 the binary (default: ../target/debug/dockyard)
//   DOCKYARD_TEST_DATABASE_URL   a PostgreSQL admin URL; unset means SQLite
//   CHROMIUM                     the browser (default: /usr/bin/chromium)
//   CI=true                      a missing component fails instead of skipping
//   DOCKYARD_TEST_DEPLOY_ENGINE  the deploy engine of ordinary tests (default off);
//                                startDockyard(env, { deploy: { instanceId } }) turns it on
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
export const repoRoot = resolve(here, "../..");
export const artifactsDir = join(here, "artifacts");

/** The launch flags that work on these machines (shared/MACHINE-NOTES.md). */
export const chromiumArgs = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/**
 * Skips (laptop) or fails (CI=true) when a component is missing. Answers whether the
 * caller should go on.
 * @param {import("node:test").TestContext} t
 */
export function requireComponent(t, present, what) {
  if (present) return true;
  if (process.env.CI === "true") throw new Error(`${what} is missing (CI=true makes this an error)`);
  console.warn(`skipping: ${what} is missing`);
  t.skip(`${what} is missing`);
  return false;
}

export function binaryPath() {
  return process.env.DOCKYARD_BIN ?? join(repoRoot, "target/debug/dockyard");
}

export function chromiumPath() {
  return process.env.CHROMIUM ?? "/usr/bin/chromium";
}

/** Checks the parts every browser test needs; answers whether to go on. */
export function requireAll(t) {
  return (
    requireComponent(t, existsSync(binaryPath()), `the dockyard binary at ${binaryPath()} (cargo build -p dockyard)`) &&
    requireComponent(t, existsSync(chromiumPath()), `Chromium at ${chromiumPath()} (apt-get install chromium)`) &&
    requireComponent(t, existsSync(join(here, "../dist/index.html")), "the built web app (npm run build)")
  );
}

function freshDatabase() {
  const admin = process.env.DOCKYARD_TEST_DATABASE_URL;
  if (!admin) return null;
  const name = `dockyard_e2e_${process.pid}_${Date.now()}`;
  const created = spawnSync("psql", [admin, "-v", "ON_ERROR_STOP=1", "-qc", `CREATE DATABASE ${name}`], { encoding: "utf8" });
  if (created.status !== 0) throw new Error(`could not create ${name}: ${created.stderr}`);
  const url = new URL(admin);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop() {
      spawnSync("psql", [admin, "-qc", `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`]);
    },
  };
}

/** Whether a Docker engine answers (`docker info`), with the reason when it does not. */
export function dockerEngine() {
  const info = spawnSync("docker", ["info", "--format", "{{.ServerVersion}}"], { encoding: "utf8", timeout: 20_000 });
  if (info.error) return { ok: false, reason: `docker: ${info.error.message}` };
  if (info.status !== 0) return { ok: false, reason: `docker info failed: ${(info.stderr || info.stdout).trim().split("\n")[0]}` };
  return { ok: true, version: info.stdout.trim() };
}

/**
 * The env that turns the deploy engine on for one test's server: its own instance id
 * (containers are labelled `dockyard.instance=<id>`, so cleanup cannot touch another
 * run's) and the locally built busybox image for static sites.
 */
export function deployEnv(instanceId) {
  return {
    DOCKYARD_DEPLOY__ENGINE: "on",
    DOCKYARD_DEPLOY__INSTANCE_ID: instanceId,
    DOCKYARD_DEPLOY__IMAGES__STATIC_SITE: "dockyard-base/busybox:1",
    ...(process.env.DOCKER_HOST ? { DOCKER_HOST: process.env.DOCKER_HOST } : {}),
  };
}

/** Removes every container (and network) a deploy test's server labelled with its instance id. */
export function removeDeployContainers(instanceId) {
  const label = `label=dockyard.instance=${instanceId}`;
  const ids = spawnSync("docker", ["ps", "-aq", "--filter", label], { encoding: "utf8" }).stdout.split(/\s+/).filter(Boolean);
  if (ids.length) spawnSync("docker", ["rm", "-f", ...ids], { encoding: "utf8" });
  const networks = spawnSync("docker", ["network", "ls", "-q", "--filter", label], { encoding: "utf8" }).stdout.split(/\s+/).filter(Boolean);
  if (networks.length) spawnSync("docker", ["network", "rm", ...networks], { encoding: "utf8" });
  return ids.length;
}

/**
 * A running Dockyard: `base` is its URL, `setupToken` the one-time token it printed,
 * `proxy` the deployed services' listener (`http://127.0.0.1:PORT`) when it printed one.
 * `stop()` ends it and removes its data. `options.deploy = { instanceId }` turns the
 * deploy engine on (see `deployEnv`).
 */
export async function startDockyard(extraEnv = {}, options = {}) {
  const dataDir = mkdtempSync(join(tmpdir(), "dockyard-e2e-"));
  const database = freshDatabase();
  const env = {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    HOME: dataDir,
    DOCKYARD_DATA_DIR: dataDir,
    DOCKYARD_LOG_LEVEL: "warn",
    DOCKYARD_PROXY_LISTEN: "127.0.0.1:0",
    DOCKYARD_DEPLOY__ENGINE: process.env.DOCKYARD_TEST_DEPLOY_ENGINE ?? "off",
    ...(database ? { DOCKYARD_DATABASE_URL: database.url } : {}),
    ...(options.deploy ? deployEnv(options.deploy.instanceId) : {}),
    ...extraEnv,
  };
  const child = spawn(binaryPath(), ["serve", "--listen", "127.0.0.1:0"], { env, stdio: ["ignore", "pipe", "pipe"] });
  const output = [];
  const server = { base: "", setupToken: "", proxy: "", dataDir, output, child };
  createInterface({ input: child.stderr }).on("line", (line) => output.push(`stderr: ${line}`));
  await new Promise((resolveReady, reject) => {
    const timer = setTimeout(() => reject(new Error(`dockyard did not become ready:\n${output.join("\n")}`)), 60_000);
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`dockyard exited early (${code}):\n${output.join("\n")}`));
    });
    createInterface({ input: child.stdout }).on("line", (line) => {
      output.push(line);
      if (line.startsWith("Dockyard is listening on ")) server.base = line.slice("Dockyard is listening on ".length).trim();
      else if (line.startsWith("Setup token: ")) server.setupToken = line.slice("Setup token: ".length).trim();
      else if (line.startsWith("Deployed services are served on ")) server.proxy = line.slice("Deployed services are served on ".length).trim();
      else if (line === "Dockyard is ready") {
        clearTimeout(timer);
        resolveReady();
      }
    });
  });
  server.stop = async () => {
    child.removeAllListeners("exit");
    if (child.exitCode === null) {
      const exited = new Promise((done) => child.once("exit", done));
      child.kill("SIGTERM");
      await Promise.race([exited, new Promise((done) => setTimeout(done, 10_000))]);
      if (child.exitCode === null) child.kill("SIGKILL");
    }
    database?.drop();
    rmSync(dataDir, { recursive: true, force: true });
  };
  return server;
}

/** A JSON API call with an optional cookie jar string; answers {status, body, headers}. */
export async function apiCall(server, method, path, body, cookie) {
  const response = await fetch(`${server.base}${path}`, {
    method,
    headers: {
      ...(body !== undefined ? { "content-type": "application/json" } : {}),
      ...(cookie ? { cookie } : {}),
      origin: server.base,
    },
    body: body !== undefined ? JSON.stringify(body) : undefined,
  });
  const text = await response.text();
  let parsed = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // Not JSON: keep the text.
  }
  return { status: response.status, body: parsed, headers: response.headers };
}

/** Writes a workspace file through the raw files API. */
export async function putFile(server, cookie, projectId, path, text) {
  const response = await fetch(`${server.base}/api/v1/projects/${projectId}/files/${path}`, {
    method: "PUT",
    headers: { cookie, origin: server.base, "content-type": "application/octet-stream" },
    body: text,
  });
  assert.ok(response.ok, `PUT ${path}: ${response.status} ${await response.text()}`);
}

/** Reads a workspace file through the raw files API. */
export async function getFile(server, cookie, projectId, path) {
  const response = await fetch(`${server.base}/api/v1/projects/${projectId}/files/${path}`, { headers: { cookie } });
  assert.equal(response.status, 200, `GET ${path}`);
  return response.text();
}

export const admin = { email: "admin@example.com", password: "correct horse battery staple", name: "Ada Admin" };

/**
 * Completes first-run setup through the API; answers the session cookie
 * (`name=value`) and the default org.
 */
export async function setupThroughApi(server) {
  const response = await fetch(`${server.base}/api/v1/setup`, {
    method: "POST",
    headers: { "content-type": "application/json", origin: server.base },
    body: JSON.stringify({ ...admin, token: server.setupToken }),
  });
  if (response.status !== 201) throw new Error(`setup: ${response.status} ${await response.text()}`);
  const body = await response.json();
  const cookie = (response.headers.getSetCookie?.() ?? [])
    .map((header) => header.split(";")[0])
    .find((pair) => pair.startsWith("dockyard_session="));
  if (!cookie) throw new Error("setup set no session cookie");
  return { cookie, org: body.org, user: body.user };
}

/**
 * Launches Chromium with a fresh context. Every console error, page error and failed
 * request is recorded in `problems`; tests assert it is empty at the end.
 */
export async function launchBrowser(server, { cookie, viewport = { width: 1280, height: 720 } } = {}) {
  const { chromium } = await import("playwright-core");
  const browser = await chromium.launch({ executablePath: chromiumPath(), args: chromiumArgs, headless: true });
  const context = await browser.newContext({ viewport, baseURL: server.base });
  if (cookie) {
    const [name, ...rest] = cookie.split("=");
    await context.addCookies([{ name, value: rest.join("="), url: server.base }]);
  }
  const page = await context.newPage();
  const problems = [];
  page.on("console", (message) => {
    if (message.type() === "error") problems.push(`console error: ${message.text()}`);
  });
  page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
  return { browser, context, page, problems };
}

/** Saves a screenshot to e2e/artifacts/<name>.png (kept by CI as a test artifact). */
export async function screenshot(page, name) {
  mkdirSync(artifactsDir, { recursive: true });
  const path = join(artifactsDir, `${name}.png`);
  await page.screenshot({ path, fullPage: false });
  return path;
}

/** The path of one of the suite's test agents (crates/dockyard/tests/agents/<name>.mjs). */
export function agentScript(name) {
  return join(repoRoot, "crates/dockyard/tests/agents", `${name}.mjs`);
}

/** Defines an agent profile through the admin API; answers it. */
export async function createAgentProfile(server, cookie, body) {
  const created = await apiCall(server, "POST", "/api/v1/admin/agent-profiles", body, cookie);
  if (created.status !== 201) throw new Error(`create agent profile ${body.name}: ${created.status} ${JSON.stringify(created.body)}`);
  return created.body;
}

/**
 * Makes a project's workspace a git repository with one commit through the Git
 * panel's API: init, write `files` ({path: text}), commit them.
 */
export async function gitWorkspace(server, cookie, projectId, files) {
  const init = await apiCall(server, "POST", `/api/v1/projects/${projectId}/git/init`, {}, cookie);
  if (init.status >= 300) throw new Error(`git init: ${init.status} ${JSON.stringify(init.body)}`);
  for (const [path, text] of Object.entries(files)) {
    const response = await fetch(`${server.base}/api/v1/projects/${projectId}/files/${path}`, {
      method: "PUT",
      headers: { cookie, origin: server.base, "content-type": "application/octet-stream" },
      body: text,
    });
    if (!response.ok) throw new Error(`PUT ${path}: ${response.status} ${await response.text()}`);
  }
  const commit = await apiCall(server, "POST", `/api/v1/projects/${projectId}/git/commit`, { message: "first", paths: Object.keys(files) }, cookie);
  if (commit.status >= 300) throw new Error(`git commit: ${commit.status} ${JSON.stringify(commit.body)}`);
  return commit.body;
}
