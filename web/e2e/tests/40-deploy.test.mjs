// Click-to-deploy from the IDE against the real binary and a real Docker engine: create
// a project with an index.html, open the Deploy view, create the service "web" (port
// 8080, health path "/"), press Deploy, watch the build log stream into the Deploy logs
// panel and the status become active, then open the service's URL through Dockyard's
// proxy (web-<slug>.localhost, which Chromium resolves to loopback) and read the page.
// Then redeploy, roll back to the first deployment, and stop. No console errors.
//
// Needs a Docker engine (`docker info`): without one it fails under CI=true and skips
// otherwise. The base image comes from scripts/base-images.sh (cached by tag); the
// server runs with its own deploy instance id, and every container it labelled is
// removed at the end.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { test } from "node:test";

import {
  apiCall,
  dockerEngine,
  launchBrowser,
  removeDeployContainers,
  repoRoot,
  requireAll,
  requireComponent,
  screenshot,
  setupThroughApi,
  startDockyard,
} from "../harness.mjs";

async function putFile(server, cookie, projectId, path, text) {
  const response = await fetch(`${server.base}/api/v1/projects/${projectId}/files/${path}`, {
    method: "PUT",
    headers: { cookie, origin: server.base, "content-type": "application/octet-stream" },
    body: text,
  });
  assert.ok(response.ok, `PUT ${path}: ${response.status} ${await response.text()}`);
}

/** The text of the Deploy logs panel's log. */
async function logText(page) {
  return page.getByRole("region", { name: "Deploy logs" }).getByRole("log").innerText();
}

test("deploy a workspace from the IDE and open it through the proxy", { timeout: 420_000 }, async (t) => {
  if (!requireAll(t)) return;
  const engine = dockerEngine();
  if (!requireComponent(t, engine.ok, `a Docker engine (${engine.reason})`)) return;
  const images = spawnSync(join(repoRoot, "scripts/base-images.sh"), ["busybox"], { cwd: repoRoot, encoding: "utf8", timeout: 300_000 });
  assert.equal(images.status, 0, `scripts/base-images.sh busybox failed:\n${images.stdout}\n${images.stderr}`);

  const instanceId = `e2e-${randomBytes(4).toString("hex")}`;
  // Two images kept per service: the fourth deployment below prunes the second's.
  const server = await startDockyard({ DOCKYARD_DEPLOY__KEEP_IMAGES: "2" }, { deploy: { instanceId } });
  let browser = null;
  t.after(async () => {
    await browser?.close();
    await server.stop();
    removeDeployContainers(instanceId);
  });
  assert.match(server.proxy, /^http:\/\/127\.0\.0\.1:\d+$/, `the proxy address was printed:\n${server.output.join("\n")}`);
  const proxyPort = new URL(server.proxy).port;

  const { cookie, org } = await setupThroughApi(server);
  const created = await apiCall(server, "POST", `/api/v1/orgs/${org.id}/projects`, { name: "Ship It" }, cookie);
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const project = created.body;
  const marker = `hello-from-${randomBytes(4).toString("hex")}`;
  await putFile(server, cookie, project.id, "index.html", `<!doctype html><title>Shipped</title><h1>${marker}</h1>\n`);

  const launched = await launchBrowser(server, { cookie });
  browser = launched.browser;
  const { context, page, problems } = launched;
  await page.goto(`/p/${project.id}`);
  await page.getByRole("tab", { name: "Explorer" }).waitFor();

  await t.test("the Deploy view creates a service", async () => {
    await page.getByRole("tab", { name: "Deploy" }).click();
    await page.getByText("Nothing is deployed from this project yet.").waitFor();
    await page.getByRole("button", { name: "New service" }).first().click();
    const form = page.getByRole("form", { name: "New service" });
    // A bad name is refused inline, next to the field.
    await form.getByLabel("Name").fill("Web!");
    await form.getByRole("button", { name: "Create service" }).click();
    await form.getByText(/lower-case letters/).first().waitFor();
    await form.getByLabel("Name").fill("web");
    assert.equal(await form.getByLabel("Source").inputValue(), "workspace");
    await form.getByLabel("Port").fill("8080");
    await form.getByLabel(/Health-check path/).fill("/");
    // An env var and a secret.
    await form.getByRole("button", { name: "Add variable" }).click();
    await form.getByLabel("Name of variable 1").fill("GREETING");
    await form.getByLabel("Value of variable 1").fill("hello");
    await form.getByRole("button", { name: "Add variable" }).click();
    await form.getByLabel("Name of variable 2").fill("API_TOKEN");
    await form.getByLabel("Variable 2 is secret").check();
    await form.getByLabel("Value of variable 2").fill("s3cret-value");
    assert.equal(await form.getByLabel("Value of variable 2").getAttribute("type"), "password");
    // Build and resources: closed on a new service, checked before sending.
    const advanced = form.locator("details.deploy-advanced");
    assert.equal(await advanced.getAttribute("open"), null, "closed while everything is the default");
    await form.getByText("Build and resources").click();
    await form.getByLabel(/CPU limit/).fill("lots");
    await form.getByRole("button", { name: "Create service" }).click();
    await form.getByText("Enter 0.01 to 64 cores.").waitFor();
    await form.getByLabel(/CPU limit/).fill("0.5");
    await form.getByLabel(/Memory limit/).fill("128");
    await form.getByLabel(/Build args/).fill("BUILD_NOTE=from-the-form");
    await screenshot(page, "40-deploy-service-form");
    await form.getByRole("button", { name: "Create service" }).click();
    await page.getByRole("listitem", { name: "Service web" }).waitFor();
    await page.getByRole("status", { name: "web status: not deployed" }).waitFor();
    // The secret comes back masked.
    await page.getByText("API_TOKEN=••••••••").waitFor();
    assert.equal(await page.getByText("s3cret-value").count(), 0);
  });

  const services = await apiCall(server, "GET", `/api/v1/projects/${project.id}/services`, undefined, cookie);
  assert.equal(services.status, 200);
  const service = services.body.find((s) => s.name === "web");
  assert.ok(service, JSON.stringify(services.body));
  assert.equal(service.env.API_TOKEN.value, "********");
  assert.deepEqual(
    { cpu: service.cpu_millis, memory: service.memory_mb, args: service.build.build_args, timeout: service.health_check_timeout_secs },
    { cpu: 500, memory: 128, args: { BUILD_NOTE: "from-the-form" }, timeout: 60 },
  );
  const expectedUrl = `http://web-${project.slug}.localhost:${proxyPort}`;
  assert.equal(service.url.replace(/\/$/, ""), expectedUrl);

  await t.test("Deploy streams the build log and goes active", async () => {
    await page.getByRole("button", { name: "Deploy web" }).click();
    const logs = page.getByRole("region", { name: "Deploy logs" });
    await logs.getByRole("heading", { name: /Deploy logs: web #1/ }).waitFor();
    // Build lines arrive live (the static plan's generated Dockerfile starts FROM the base image).
    await logs.getByRole("log").getByText(/FROM/).first().waitFor({ timeout: 120_000 });
    await page.getByRole("status", { name: "web status: active" }).waitFor({ timeout: 180_000 });
    const text = await logText(page);
    assert.match(text, /building/);
    assert.doesNotMatch(text, /\u001b\[/, "ANSI escapes are stripped");
    // Step timings show once it is live.
    const deployment = page.getByRole("listitem", { name: "Deployment #1, active" });
    await deployment.getByText(/total /).waitFor();
    await deployment.getByText(/build \d/).waitFor();

    // Search filters the log to matching lines and counts them.
    await logs.getByRole("searchbox", { name: "Search logs" }).fill("from");
    await logs.getByText(/\d+ match(es)?/).waitFor();
    const filtered = await logText(page);
    for (const line of filtered.split("\n").filter(Boolean)) assert.match(line, /from/i);
    assert.ok(await logs.locator("mark").count() > 0, "matches are highlighted");
    await logs.getByRole("searchbox", { name: "Search logs" }).fill("");
    await logs.getByRole("button", { name: "Follow" }).waitFor();
    assert.equal(await logs.getByRole("button", { name: "Follow" }).getAttribute("aria-pressed"), "true");

    await screenshot(page, "40-deploy-active");
  });

  await t.test("the service URL serves the workspace through the proxy", async () => {
    const link = page.getByRole("link", { name: new RegExp(`web-${project.slug}\\.localhost`) });
    assert.equal((await link.getAttribute("href")).replace(/\/$/, ""), expectedUrl);
    assert.equal(await link.getAttribute("target"), "_blank");
    const site = await context.newPage();
    const response = await site.goto(`${expectedUrl}/`);
    assert.equal(response.status(), 200);
    assert.match(await site.locator("body").innerText(), new RegExp(marker));
    await site.close();
  });

  await t.test("redeploy, then roll back to the first deployment", async () => {
    await page.getByRole("button", { name: "Deploy web" }).click();
    await page.getByRole("listitem", { name: "Deployment #2, active" }).waitFor({ timeout: 180_000 });
    await page.getByRole("listitem", { name: "Deployment #1, superseded" }).waitFor();
    await page.getByRole("button", { name: "Roll back to deployment #1" }).click();
    await page.getByRole("listitem", { name: "Deployment #3, active" }).waitFor({ timeout: 120_000 });
    const third = page.getByRole("listitem", { name: "Deployment #3, active" });
    await third.getByText(/rollback/).waitFor();
    const site = await context.newPage();
    const response = await site.goto(`${expectedUrl}/`);
    assert.equal(response.status(), 200);
    assert.match(await site.locator("body").innerText(), new RegExp(marker));
    await site.close();
  });

  await t.test("runtime logs, then stop", async () => {
    // A second container with the live instance's labels and image, whose log the
    // engine does not keep (log driver none): its log cannot be read, which the
    // view says in a marker line while it follows the other instance.
    const docker = (...args) => {
      const run = spawnSync("docker", args, { encoding: "utf8" });
      assert.equal(run.status, 0, `docker ${args.join(" ")}: ${run.stderr}`);
      return run.stdout.trim();
    };
    const live = docker("ps", "-q", "--filter", `label=dockyard.instance=${instanceId}`, "--filter", `label=dockyard.service=${service.id}`).split(/\s+/)[0];
    const labels = JSON.parse(docker("inspect", "--format", "{{json .Config.Labels}}", live));
    const image = docker("inspect", "--format", "{{.Config.Image}}", live);
    const unreadable = docker("run", "-d", "--log-driver", "none", ...Object.entries(labels).flatMap(([key, value]) => ["--label", `${key}=${value}`]), image);
    const logs = page.getByRole("region", { name: "Deploy logs" });
    await logs.getByRole("button", { name: "Runtime logs" }).click();
    await logs.getByRole("heading", { name: "Runtime logs: web" }).waitFor();
    await logs.getByText(/following/).waitFor({ timeout: 30_000 });
    await logs.getByText(/── log stream broke off: .*does not support reading ──/).waitFor({ timeout: 30_000 });
    docker("rm", "-f", unreadable);
    await logs.getByRole("button", { name: "Close deploy logs" }).click();
    await page.getByRole("button", { name: "Stop web", exact: true }).click();
    await page.getByRole("status", { name: "web status: stopped" }).waitFor({ timeout: 60_000 });
    await page.getByRole("button", { name: "Start web", exact: true }).waitFor();
  });

  await t.test("editing a service shows its build and resource settings", async () => {
    await page.getByRole("button", { name: "Edit web" }).click();
    const form = page.getByRole("form", { name: "Edit web" });
    assert.notEqual(await form.locator("details.deploy-advanced").getAttribute("open"), null, "open: limits are set");
    assert.equal(await form.getByLabel(/CPU limit/).inputValue(), "0.5");
    assert.equal(await form.getByLabel(/Memory limit/).inputValue(), "128");
    assert.equal(await form.getByLabel(/Build args/).inputValue(), "BUILD_NOTE=from-the-form");
    await form.getByLabel(/CPU limit/).fill("");
    await form.getByRole("button", { name: "Save service" }).click();
    await form.waitFor({ state: "detached" });
    const after = await apiCall(server, "GET", `/api/v1/services/${service.id}`, undefined, cookie);
    assert.equal(after.status, 200, JSON.stringify(after.body));
    assert.deepEqual({ cpu: after.body.cpu_millis ?? null, memory: after.body.memory_mb }, { cpu: null, memory: 128 }, "an emptied limit is cleared");
  });

  await t.test("a later deploy removes an old image and the view stops offering rollback to it", async () => {
    await page.getByRole("button", { name: "Deploy web" }).click();
    await page.getByRole("listitem", { name: "Deployment #4, active" }).waitFor({ timeout: 180_000 });
    // Kept: #4's image and #3's (the rollback, with #1's image); #2's goes when
    // the job ends, just after go-live.
    const deadline = Date.now() + 60_000;
    let second = null;
    while (!second?.image_removed) {
      assert.ok(Date.now() < deadline, `#2's image was not removed: ${JSON.stringify(second)}`);
      await new Promise((resolve) => setTimeout(resolve, 250));
      const list = await apiCall(server, "GET", `/api/v1/services/${service.id}/deployments`, undefined, cookie);
      assert.equal(list.status, 200, JSON.stringify(list.body));
      second = list.body.find((d) => d.number === 2);
    }
    await page.getByRole("button", { name: "Refresh services" }).click();
    const item = page.getByRole("listitem", { name: "Deployment #2, superseded" });
    await item.getByText("Image removed").waitFor();
    assert.equal(await page.getByRole("button", { name: "Roll back to deployment #2" }).count(), 0);
    await page.getByRole("button", { name: "Roll back to deployment #1" }).waitFor();
  });

  await t.test("the phone layout shows the view", async () => {
    await page.setViewportSize({ width: 390, height: 800 });
    await page.getByRole("listitem", { name: "Service web" }).waitFor();
    await screenshot(page, "40-deploy-phone");
    await page.setViewportSize({ width: 1280, height: 720 });
  });

  assert.deepEqual(problems, []);
});
