// The IDE benchmark: drives Debian's Chromium from the login page to "IDE ready with a
// file open" against the real binary (a release build with the web app embedded), and
// records what a user waits for. Writes bench/results/web.json and web.md and prints them.
//
//   node web/bench/ide.mjs [--runs 5] [--keys 240]
//
// The keys are typed on one line into `cat` (no Enter), so the screen never scrolls
// while counting echoes.
//
// Measured per run (fresh browser profile, so nothing is cached):
// - initial JS: the JavaScript the login screen needs, as transferred (the server
//   sends Brotli to Chromium) and as gzip (the target is stated in gzip);
// - total bytes transferred from login to a file open in the editor;
// - first contentful paint of the login page and of the IDE page;
// - editor ready: from the IDE page's navigation start until a key typed into Monaco
//   is on screen;
// - terminal echo on loopback: the page sends one byte on the terminal's own
//   WebSocket (from a timer) and times the echo's message: the network, the server
//   and the PTY, as the browser sees them (p50/p99);
// - terminal keystroke to screen: keydown in the page to the echoed character in
//   xterm's DOM, over the WebSocket and the PTY (p50/p99 over --keys keystrokes after
//   a warm-up), split into keydown to the WebSocket send, keydown to the echo's
//   message, and that message to the DOM change. "On screen" is the DOM change
//   xterm.js's renderer makes in its animation-frame callback: that frame paints it.
//   The page's frame interval (requestAnimationFrame deltas) is recorded too, because
//   the rendering part waits for the next frame by design. The same keystrokes are
//   measured again in a second browser with Chromium's DeferRendererTasksAfterInput
//   off: Chromium holds ordinary tasks (the echo's message among them) back after a
//   key press until the next frame, and this run shows how much of the latency that is.
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, loadavg, totalmem } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";

import { admin, apiCall, chromiumArgs, chromiumPath, repoRoot, setupThroughApi, startDockyard } from "../e2e/harness.mjs";

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const index = args.indexOf(`--${name}`);
  return index >= 0 ? Number(args[index + 1]) : fallback;
};
const runs = option("runs", 5);
const keys = option("keys", 240);
const targets = { initialJsGzipKb: 250, fcpMs: 800, editorReadyMs: 2000, terminalEchoP99Ms: 15 };

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
};
const percentile = (values, p) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
};
const round = (value, digits = 1) => Math.round(value * 10 ** digits) / 10 ** digits;
const stats = (values) => ({ samples: values.length, p50: round(percentile(values, 50), 2), p99: round(percentile(values, 99), 2) });

async function fcp(page) {
  return page.evaluate(
    () =>
      new Promise((resolve) => {
        const found = performance.getEntriesByName("first-contentful-paint")[0];
        if (found) return resolve(found.startTime);
        new PerformanceObserver((list) => {
          const entry = list.getEntriesByName("first-contentful-paint")[0];
          if (entry) resolve(entry.startTime);
        }).observe({ type: "paint", buffered: true });
      }),
  );
}

/** One run: a fresh browser context from the login page to an open file. */
async function measure(browser, server, projectId) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 720 }, baseURL: server.base });
  const page = await context.newPage();
  const responses = [];
  let phase = "login";
  page.on("requestfinished", async (request) => {
    const sizes = await request.sizes().catch(() => null);
    const response = await request.response().catch(() => null);
    responses.push({
      url: request.url(),
      type: request.resourceType(),
      bytes: sizes ? sizes.responseBodySize + sizes.responseHeadersSize : 0,
      body: sizes ? sizes.responseBodySize : 0,
      encoding: response ? ((await response.allHeaders())["content-encoding"] ?? "identity") : "?",
      phase,
    });
  });
  await page.goto("/login");
  await page.getByLabel(/e-?mail/i).waitFor();
  const loginFcp = await fcp(page);
  await page.waitForLoadState("networkidle");
  const loginScripts = responses.filter((entry) => entry.type === "script" && entry.phase === "login");

  await page.getByLabel(/e-?mail/i).fill(admin.email);
  await page.getByLabel(/password/i).first().fill(admin.password);
  phase = "ide";
  await Promise.all([page.waitForURL((url) => url.pathname === "/"), page.getByRole("button", { name: /^(log in|sign in)$/i }).click()]);
  await page.goto(`/p/${projectId}`);
  const ideFcp = await fcp(page);
  await page.getByRole("treeitem", { name: /main\.ts/ }).first().click();
  await page.locator(".monaco-editor textarea").first().waitFor({ state: "attached" });
  await page.locator(".monaco-editor").first().click();
  await page.keyboard.type("Z");
  await page.waitForFunction(() => document.querySelector(".monaco-editor .view-lines")?.textContent?.includes("Z"));
  const editorReady = await page.evaluate(() => performance.now());
  await page.keyboard.press("Control+Z");
  await page.waitForLoadState("networkidle");
  const totalBytes = responses.reduce((sum, entry) => sum + entry.bytes, 0);
  const allScripts = responses.filter((entry) => entry.type === "script");
  await context.close();
  return { loginFcp, ideFcp, editorReady, loginScripts, totalBytes, allScripts };
}

/**
 * Keydown-to-screen latency in xterm, measured inside the page, and the echo over the
 * terminal's WebSocket when no key press is involved.
 */
async function terminalEcho(browser, server, projectId, cookie, { pings = 200 } = {}) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 720 }, baseURL: server.base });
  const [name, ...rest] = cookie.split("=");
  await context.addCookies([{ name, value: rest.join("="), url: server.base }]);
  // Timestamps of every WebSocket message the page receives, to split the echo latency
  // into the network-and-PTY part and the rendering part.
  await context.addInitScript(() => {
    window.__wsIn = [];
    window.__wsOut = [];
    window.__sockets = [];
    const Native = window.WebSocket;
    window.WebSocket = class extends Native {
      constructor(...args) {
        super(...args);
        window.__sockets.push(this);
        this.addEventListener("message", () => window.__wsIn.push(performance.now()));
      }
      send(data) {
        window.__wsOut.push(performance.now());
        return super.send(data);
      }
    };
  });
  const page = await context.newPage();
  await page.goto(`/p/${projectId}`);
  // The layout reopens main.ts; Monaco takes the focus once it is ready, so wait for it.
  await page.locator(".monaco-editor").first().waitFor().catch(() => {});
  // The saved layout may already show the panel (an earlier run opened it).
  const rows = page.locator(".xterm-rows").first();
  if (!(await rows.isVisible().catch(() => false))) await page.keyboard.press("Control+`");
  await rows.waitFor();
  await page.waitForTimeout(500);
  await page.locator(".xterm").first().click();
  // The terminal may be one an earlier run left in `cat`: stop that, and start from a
  // clear screen so the echoes never scroll out of view while they are counted.
  await page.keyboard.press("Control+C");
  await page.keyboard.type("clear; cat\n");
  await page.waitForTimeout(300);
  await page.evaluate(() => {
    const target = document.querySelector(".xterm-rows");
    window.__echo = { pending: null, samples: [], network: [], sent: [] };
    document.addEventListener(
      "keydown",
      (event) => {
        if (event.key.length === 1) window.__echo.pending = { key: event.key, at: performance.now(), before: target.textContent.split(event.key).length };
      },
      true,
    );
    new MutationObserver(() => {
      const pending = window.__echo.pending;
      if (pending && target.textContent.split(pending.key).length > pending.before) {
        const now = performance.now();
        const message = window.__wsIn.find((at) => at >= pending.at);
        const sent = window.__wsOut.find((at) => at >= pending.at);
        window.__echo.sent.push(sent === undefined ? NaN : sent - pending.at);
        window.__echo.samples.push(now - pending.at);
        window.__echo.network.push(message === undefined ? NaN : message - pending.at);
        window.__echo.pending = null;
      }
    }).observe(target, { subtree: true, childList: true, characterData: true });
  });
  // The page's frame interval while idle: xterm.js draws on the next animation frame.
  const frames = await page.evaluate(
    () =>
      new Promise((resolve) => {
        const times = [];
        const tick = (at) => {
          times.push(at);
          if (times.length <= 120) requestAnimationFrame(tick);
          else resolve(times.slice(1).map((at, index) => at - times[index]));
        };
        requestAnimationFrame(tick);
      }),
  );
  const alphabet = "abcdefghijklmnopqrstuvwxyz";
  const warmup = 30;
  for (let index = 0; index < warmup + keys; index += 1) {
    if (index === warmup) await page.evaluate(() => ((window.__echo.samples = []), (window.__echo.network = []), (window.__echo.sent = [])));
    const before = await page.evaluate(() => window.__echo.samples.length);
    await page.keyboard.press(alphabet[index % alphabet.length]);
    await page.waitForFunction((count) => window.__echo.samples.length > count, before, { timeout: 5000 }).catch(async (error) => {
      await page.screenshot({ path: "/tmp/echo-fail.png" });
      console.error("focused:", await page.evaluate(() => document.activeElement?.className), "index", index);
      throw error;
    });
  }
  const { samples, network, sent } = await page.evaluate(() => window.__echo);
  // The echo with no key press: one byte from a timer on the terminal's socket (cat
  // is still reading, so the PTY echoes it), the next message timed.
  const loopback = await page.evaluate(async (count) => {
    const socket = window.__sockets.findLast((candidate) => candidate.readyState === WebSocket.OPEN && candidate.url.includes("/terminals/"));
    if (!socket) return [];
    const byte = new TextEncoder().encode("x");
    const times = [];
    for (let index = 0; index < count; index += 1) {
      const started = performance.now();
      const arrived = await new Promise((resolve) => {
        socket.addEventListener("message", () => resolve(performance.now()), { once: true });
        socket.send(byte);
      });
      times.push(arrived - started);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    return times;
  }, pings);
  await context.close();
  const finite = (values) => values.filter((value) => Number.isFinite(value));
  const render = finite(samples.map((total, index) => total - network[index]));
  return { samples, network: finite(network), sent: finite(sent), render, frames, loopback };
}

async function gzipBytes(server, urls) {
  let total = 0;
  for (const url of urls) {
    const response = await fetch(url, { headers: { "accept-encoding": "identity" } });
    total += gzipSync(Buffer.from(await response.arrayBuffer()), { level: 9 }).length;
  }
  return total;
}

const server = await startDockyard();
try {
  const { cookie, org } = await setupThroughApi(server);
  const created = await apiCall(server, "POST", `/api/v1/orgs/${org.id}/projects`, { name: "bench" }, cookie);
  const projectId = created.body.id;
  const source = readFileSync(join(repoRoot, "web/src/api/client.ts"));
  await fetch(`${server.base}/api/v1/projects/${projectId}/files/main.ts`, { method: "PUT", headers: { cookie, origin: server.base }, body: source });

  const { chromium } = await import("playwright-core");
  const browser = await chromium.launch({ executablePath: chromiumPath(), args: chromiumArgs, headless: true });
  const results = [];
  for (let run = 0; run < runs + 1; run += 1) {
    const result = await measure(browser, server, projectId);
    if (run > 0) results.push(result); // The first run warms the server and the disk cache.
  }
  const initialJsUrls = [...new Set(results[0].loginScripts.map((entry) => entry.url))];
  const initialJsGzip = await gzipBytes(server, initialJsUrls);
  const { samples: echo, network: echoNetwork, sent: echoSent, render: echoRender, frames, loopback } = await terminalEcho(browser, server, projectId, cookie);
  await browser.close();
  const undeferredBrowser = await chromium.launch({
    executablePath: chromiumPath(),
    args: [...chromiumArgs, "--disable-features=DeferRendererTasksAfterInput"],
    headless: true,
  });
  const undeferred = await terminalEcho(undeferredBrowser, server, projectId, cookie, { pings: 0 });
  await undeferredBrowser.close();

  const document = {
    benchmark: "web",
    date: new Date().toISOString(),
    git_commit: execFileSync("git", ["-C", repoRoot, "rev-parse", "--short", "HEAD"], { encoding: "utf8" }).trim(),
    machine: { cpus: cpus().length, cpu: cpus()[0]?.model, memory_gb: round(totalmem() / 2 ** 30) },
    loadavg: loadavg().map((value) => round(value, 2)),
    chromium: execFileSync(chromiumPath(), ["--version"], { encoding: "utf8" }).trim(),
    runs,
    initial_js: {
      files: initialJsUrls.map((url) => new URL(url).pathname),
      transferred_bytes: median(results.map((result) => result.loginScripts.reduce((sum, entry) => sum + entry.body, 0))),
      encodings: [...new Set(results[0].loginScripts.map((entry) => entry.encoding))],
      gzip_bytes: initialJsGzip,
    },
    total_bytes_login_to_file_open: median(results.map((result) => result.totalBytes)),
    js_bytes_login_to_file_open: median(results.map((result) => result.allScripts.reduce((sum, entry) => sum + entry.body, 0))),
    fcp_login_ms: round(median(results.map((result) => result.loginFcp))),
    fcp_ide_ms: round(median(results.map((result) => result.ideFcp))),
    editor_ready_ms: round(median(results.map((result) => result.editorReady))),
    // One byte from a timer on the terminal's WebSocket to its echo's message: the
    // browser's network stack, the server and the PTY, with no key press involved.
    terminal_echo_loopback_ms: stats(loopback),
    terminal_echo_ms: { samples: echo.length, p50: round(percentile(echo, 50), 2), p99: round(percentile(echo, 99), 2), max: round(Math.max(...echo), 2) },
    // Keydown to xterm.js handing the key to the WebSocket.
    terminal_keydown_to_send_ms: stats(echoSent),
    // Keydown to the echo's WebSocket message (the network, the server and the PTY,
    // and however long Chromium holds the message back after the key press): the rest
    // of terminal_echo_ms is xterm.js rendering it.
    terminal_echo_network_ms: { samples: echoNetwork.length, p50: round(percentile(echoNetwork, 50), 2), p99: round(percentile(echoNetwork, 99), 2) },
    // The echo's WebSocket message to xterm.js's DOM change (parse, then the next frame).
    terminal_echo_render_ms: { samples: echoRender.length, p50: round(percentile(echoRender, 50), 2), p99: round(percentile(echoRender, 99), 2) },
    // The same keystrokes with Chromium's DeferRendererTasksAfterInput off.
    terminal_echo_undeferred_ms: stats(undeferred.samples),
    terminal_echo_undeferred_network_ms: stats(undeferred.network),
    frame_interval_ms: { samples: frames.length, p50: round(percentile(frames, 50), 2), p99: round(percentile(frames, 99), 2) },
    loadavg_end: loadavg().map((value) => round(value, 2)),
    targets,
  };
  const verdict = (ok) => (ok ? "PASS" : "MISS");
  const md = [
    `# Web IDE benchmark (${document.date}, commit ${document.git_commit}, load ${document.loadavg.join(" ")})`,
    "",
    `${document.chromium}, ${runs} runs after a warm-up, fresh browser profile each; medians.`,
    "",
    "| measure | value | target | |",
    "|---|---|---|---|",
    `| initial JS (login screen), gzip | ${round(document.initial_js.gzip_bytes / 1024)} KB | ≤ ${targets.initialJsGzipKb} KB | ${verdict(document.initial_js.gzip_bytes / 1024 <= targets.initialJsGzipKb)} |`,
    `| initial JS as transferred (${document.initial_js.encodings.join(",")}) | ${round(document.initial_js.transferred_bytes / 1024)} KB | | |`,
    `| JS from login to a file open (incl. Monaco) | ${round(document.js_bytes_login_to_file_open / 1024)} KB | | |`,
    `| total bytes from login to a file open | ${round(document.total_bytes_login_to_file_open / 1024)} KB | | |`,
    `| first contentful paint, login page | ${document.fcp_login_ms} ms | ≤ ${targets.fcpMs} ms | ${verdict(document.fcp_login_ms <= targets.fcpMs)} |`,
    `| first contentful paint, IDE page | ${document.fcp_ide_ms} ms | ≤ ${targets.fcpMs} ms | ${verdict(document.fcp_ide_ms <= targets.fcpMs)} |`,
    `| editor takes input (from IDE navigation start) | ${document.editor_ready_ms} ms | ≤ ${targets.editorReadyMs} ms | ${verdict(document.editor_ready_ms <= targets.editorReadyMs)} |`,
    `| terminal echo over the WebSocket on loopback, from the page, p50 / p99 (${loopback.length} bytes) | ${document.terminal_echo_loopback_ms.p50} / ${document.terminal_echo_loopback_ms.p99} ms | p99 ≤ ${targets.terminalEchoP99Ms} ms | ${verdict(document.terminal_echo_loopback_ms.p99 <= targets.terminalEchoP99Ms)} |`,
    `| terminal keystroke to screen p50 / p99 (${echo.length} keys) | ${document.terminal_echo_ms.p50} / ${document.terminal_echo_ms.p99} ms | (frame-bound, below) | |`,
    `| of which keydown to the WebSocket send, p50 / p99 | ${document.terminal_keydown_to_send_ms.p50} / ${document.terminal_keydown_to_send_ms.p99} ms | | |`,
    `| of which keydown to the echo's WebSocket message, p50 / p99 | ${document.terminal_echo_network_ms.p50} / ${document.terminal_echo_network_ms.p99} ms | | |`,
    `| of which that message to xterm's DOM, p50 / p99 | ${document.terminal_echo_render_ms.p50} / ${document.terminal_echo_render_ms.p99} ms | | |`,
    `| keystroke to screen with Chromium's DeferRendererTasksAfterInput off, p50 / p99 | ${document.terminal_echo_undeferred_ms.p50} / ${document.terminal_echo_undeferred_ms.p99} ms | | |`,
    `| of which keydown to the echo's message, p50 / p99 | ${document.terminal_echo_undeferred_network_ms.p50} / ${document.terminal_echo_undeferred_network_ms.p99} ms | | |`,
    `| page frame interval (requestAnimationFrame), p50 / p99 | ${document.frame_interval_ms.p50} / ${document.frame_interval_ms.p99} ms | | |`,
    "",
    "Keystroke to screen is bound by frames: xterm.js draws on the next animation frame, and after a key press Chromium holds the echo's message back until the frame that answers the key has been produced (DeferRendererTasksAfterInput), so the echo is drawn one frame later still. The run with that feature off shows the difference; the echo itself is the loopback row.",
    "",
    `Load average at the end: ${document.loadavg_end.join(" ")} (${document.machine.cpus} cores).`,
    "",
  ].join("\n");
  const outDir = join(repoRoot, "bench/results");
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, "web.json"), `${JSON.stringify(document, null, 2)}\n`);
  writeFileSync(join(outDir, "web.md"), md);
  console.log(md);
} finally {
  await server.stop();
}
