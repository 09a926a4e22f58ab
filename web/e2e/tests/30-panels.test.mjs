// The IDE's search, source-control and terminal panels against the real binary: search
// finds text and opens the hit in the editor, replace shows a preview and then writes;
// the git view initializes a repository, shows an inline diff, stages and commits (the
// log shows it, and so does `git log` in the workspace); a terminal runs a command and,
// after a reload, reattaches with its earlier output. No console errors throughout.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";

import { apiCall, getFile, launchBrowser, putFile, requireAll, screenshot, setupThroughApi, startDockyard } from "../harness.mjs";

/** The folder under the data dir that holds a `.git` next to `marker` (the project's workspace). */
function findWorkspace(root, marker, depth = 0) {
  if (depth > 6) return null;
  let entries;
  try {
    entries = readdirSync(root, { withFileTypes: true });
  } catch {
    return null;
  }
  if (entries.some((entry) => entry.name === ".git") && existsSync(join(root, marker))) return root;
  for (const entry of entries) {
    if (!entry.isDirectory() || entry.name === ".git" || entry.name === "node_modules") continue;
    const found = findWorkspace(join(root, entry.name), marker, depth + 1);
    if (found) return found;
  }
  return null;
}

/** The text xterm.js shows (its DOM renderer's rows). */
async function terminalText(page) {
  return page.evaluate(() => [...document.querySelectorAll(".xterm-rows")].map((rows) => rows.textContent ?? "").join("\n"));
}

test("search, source control and terminals drive the workspace", { timeout: 240_000 }, async (t) => {
  if (!requireAll(t)) return;
  const server = await startDockyard();
  t.after(() => server.stop());
  const { cookie, org } = await setupThroughApi(server);

  const created = await apiCall(server, "POST", `/api/v1/orgs/${org.id}/projects`, { name: "panels" }, cookie);
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const projectId = created.body.id;
  const marker = `zebra${randomBytes(4).toString("hex")}`;
  await putFile(server, cookie, projectId, "README.md", `# Panels\n\nThe ${marker} lives here.\n`);
  await putFile(server, cookie, projectId, "src/app.ts", `export const animal = "${marker}";\nconsole.log(animal);\n`);
  await putFile(server, cookie, projectId, "src/other.ts", "export const nothing = 1;\n");

  const { browser, page, problems } = await launchBrowser(server, { cookie });
  t.after(() => browser.close());
  await page.goto(`/p/${projectId}`);
  await page.getByRole("tab", { name: "Explorer" }).waitFor();

  await t.test("search finds the text and a click opens the hit in the editor", async () => {
    await page.getByRole("tab", { name: "Search" }).click();
    const query = page.getByRole("searchbox", { name: "Search" });
    await query.fill(marker);
    const results = page.getByRole("tree", { name: "Search results" });
    await results.getByRole("treeitem", { name: /app\.ts/ }).waitFor();
    await page.getByText("2 results in 2 files").waitFor();
    // Match-case and regex toggles are toggle buttons.
    assert.equal(await page.getByRole("button", { name: "Match case" }).getAttribute("aria-pressed"), "false");
    await screenshot(page, "30-search-results");
    await results.getByRole("treeitem", { name: new RegExp(`animal = "${marker}"`) }).click();
    await page.getByRole("tab", { name: /app\.ts/ }).waitFor();
    await page.locator(".monaco-editor .view-lines").filter({ hasText: "console.log(animal)" }).first().waitFor();
  });

  await t.test("replace all shows a preview, then changes the files", async () => {
    await page.getByRole("button", { name: "Show replace" }).click();
    await page.getByRole("textbox", { name: "Replace" }).fill("giraffe");
    await page.getByRole("button", { name: "Replace all" }).click();
    const preview = page.getByRole("group", { name: "Replace preview" });
    await preview.getByText("Replace 2 occurrences in 2 files").waitFor();
    // Nothing is written by the preview.
    assert.match(await getFile(server, cookie, projectId, "README.md"), new RegExp(marker));
    await preview.getByRole("button", { name: "Apply replace" }).click();
    await page.getByText("Replaced 2 occurrences in 2 files.").waitFor();
    assert.equal(await getFile(server, cookie, projectId, "README.md"), "# Panels\n\nThe giraffe lives here.\n");
    assert.match(await getFile(server, cookie, projectId, "src/app.ts"), /animal = "giraffe"/);
    await page.getByText(/^No results/).waitFor();
  });

  await t.test("the git view initializes a repository, shows a diff, stages and commits", async () => {
    await page.getByRole("tab", { name: "Source Control" }).click();
    const view = page.getByRole("region", { name: "Source control" });
    await view.getByRole("button", { name: "Initialize repository" }).click();
    await view.getByRole("textbox", { name: "Commit message" }).waitFor();
    await view.getByRole("button", { name: "Show inline diff of README.md" }).click();
    const diff = view.getByRole("group", { name: "Diff of README.md" });
    await diff.getByText("The giraffe lives here.").waitFor();
    await screenshot(page, "30-git-diff");

    await view.getByRole("button", { name: "Stage README.md" }).click();
    await view.getByRole("button", { name: "Unstage README.md" }).waitFor();
    const message = `Add the readme ${marker}`;
    await view.getByRole("textbox", { name: "Commit message" }).fill(message);
    await view.getByRole("textbox", { name: "Commit message" }).press("Control+Enter");
    await view.getByRole("list", { name: "Commit history" }).getByText(message).waitFor();
    // Only the staged file went in; the others are still changes.
    await view.getByRole("button", { name: "Stage src/app.ts" }).waitFor();
    await screenshot(page, "30-git-committed");

    // Discard: a modified file gets its committed text back; an untracked one is deleted.
    await putFile(server, cookie, projectId, "README.md", "# Panels\n\nThe giraffe lives here.\nAn edit to throw away.\n");
    await view.getByRole("button", { name: "Refresh" }).click();
    await view.getByRole("button", { name: "Discard changes to README.md" }).click();
    await view.getByRole("group", { name: "Confirm discarding README.md" }).getByRole("button", { name: "Discard changes" }).click();
    await view.getByText("Discarded the changes to README.md.").waitFor();
    assert.equal(await getFile(server, cookie, projectId, "README.md"), "# Panels\n\nThe giraffe lives here.\n");
    await view.getByRole("button", { name: "Discard changes to src/other.ts" }).click();
    await view.getByRole("group", { name: "Confirm discarding src/other.ts" }).getByRole("button", { name: "Delete file" }).click();
    await view.getByText("Deleted src/other.ts.").waitFor();
    const gone = await fetch(`${server.base}/api/v1/projects/${projectId}/files/src/other.ts`, { method: "HEAD", headers: { cookie } });
    assert.equal(gone.status, 404);

    const log = await apiCall(server, "GET", `/api/v1/projects/${projectId}/git/log`, undefined, cookie);
    assert.equal(log.status, 200);
    assert.equal(log.body.commits[0].summary, message);
    const workspace = findWorkspace(server.dataDir, "README.md");
    assert.ok(workspace, "the workspace folder with .git is under the data dir");
    const git = spawnSync("git", ["-C", workspace, "log", "--format=%s", "-n", "1"], { encoding: "utf8" });
    if (git.status === 0) assert.equal(git.stdout.trim(), message);
    const files = spawnSync("git", ["-C", workspace, "show", "--name-only", "--format=", "HEAD"], { encoding: "utf8" });
    if (files.status === 0) assert.equal(files.stdout.trim(), "README.md");
  });

  const echoed = `hello-${marker}-${Math.floor(Math.random() * 1e6)}`;
  await t.test("a terminal runs a command and shows its output", async () => {
    await page.keyboard.press("Control+`");
    const terminals = page.getByRole("region", { name: "Terminals" });
    await terminals.waitFor();
    await page.locator(".xterm-rows").first().waitFor();
    await terminals.getByRole("tab", { name: /Terminal 1/ }).waitFor();
    await page.locator(".xterm").first().click();
    // The shell's output differs from the typed line: $((…)) is expanded.
    await page.keyboard.type(`echo ${echoed.replace(/-\d+$/, "")}-$((6*7))\n`);
    const expected = `${echoed.replace(/-\d+$/, "")}-42`;
    await page.waitForFunction((text) => [...document.querySelectorAll(".xterm-rows")].some((rows) => (rows.textContent ?? "").includes(text)), expected, {
      timeout: 20_000,
    });
    await screenshot(page, "30-terminal");

    // The PTY has the size xterm.js fitted to the panel.
    const rows = await page.locator(".xterm-rows > div").count();
    await page.keyboard.type("stty size\n");
    await page.waitForFunction((count) => new RegExp(`(^|\\D)${count} \\d+`).test(document.querySelector(".xterm-rows")?.textContent ?? ""), rows, {
      timeout: 10_000,
    });
  });

  await t.test("a second terminal opens in its own tab and closes", async () => {
    const terminals = page.getByRole("region", { name: "Terminals" });
    await terminals.getByRole("button", { name: "New terminal" }).click();
    await terminals.getByRole("tab", { name: /Terminal 2/, selected: true }).waitFor();
    assert.equal(await page.locator(".xterm").count(), 2);
    await terminals.getByRole("button", { name: "Close Terminal 2" }).click();
    await terminals.getByRole("tab", { name: /Terminal 1/, selected: true }).waitFor();
    assert.equal(await terminals.getByRole("tab").count(), 1);
    const listed = await apiCall(server, "GET", `/api/v1/projects/${projectId}/terminals`, undefined, cookie);
    assert.equal(listed.body.terminals.length, 1, "closing the tab deleted the terminal");
  });

  await t.test("after a reload the terminal reattaches with its earlier output", async () => {
    const expected = `${echoed.replace(/-\d+$/, "")}-42`;
    const before = await apiCall(server, "GET", `/api/v1/projects/${projectId}/terminals`, undefined, cookie);
    assert.equal(before.body.terminals.length, 1);
    await page.reload();
    await page.getByRole("tab", { name: "Explorer" }).waitFor();
    // The saved layout reopens the panel; open it by hand only if it did not.
    try {
      await page.getByRole("region", { name: "Terminals" }).waitFor({ timeout: 5_000 });
    } catch {
      await page.keyboard.press("Control+`");
    }
    await page.waitForFunction((text) => [...document.querySelectorAll(".xterm-rows")].some((rows) => (rows.textContent ?? "").includes(text)), expected, {
      timeout: 20_000,
    });
    const after = await apiCall(server, "GET", `/api/v1/projects/${projectId}/terminals`, undefined, cookie);
    assert.equal(after.body.terminals.length, 1, "reattached instead of opening another terminal");
    assert.equal(after.body.terminals[0].id, before.body.terminals[0].id);
    // Typing still works on the reattached terminal (once the editor, which takes the
    // focus when it is ready, has loaded).
    await page.locator(".monaco-editor .view-lines").filter({ hasText: "console.log(animal)" }).first().waitFor();
    await page.locator(".xterm").first().click();
    await page.keyboard.type("echo again-$((1+1))\n");
    await page.waitForFunction(() => (document.querySelector(".xterm-rows")?.textContent ?? "").includes("again-2"), undefined, { timeout: 20_000 });
    assert.ok((await terminalText(page)).includes(expected));
    await screenshot(page, "30-terminal-reattached");
  });

  await t.test("a dropped terminal connection resumes after the last byte, nothing lost or repeated", async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 720 }, baseURL: server.base });
    t.after(() => context.close());
    const [name, ...rest] = cookie.split("=");
    await context.addCookies([{ name, value: rest.join("="), url: server.base }]);
    const routes = [];
    await context.routeWebSocket(/\/terminals\/[^/]+\/ws/, (route) => {
      routes.push({ route, url: route.url() });
      route.connectToServer();
    });
    const second = await context.newPage();
    second.on("console", (message) => {
      if (message.type() === "error") problems.push(`second page console error: ${message.text()}`);
    });
    second.on("pageerror", (error) => problems.push(`second page error: ${error.message}`));
    await second.goto(`/p/${projectId}`);
    try {
      await second.getByRole("region", { name: "Terminals" }).waitFor({ timeout: 5_000 });
    } catch {
      await second.keyboard.press("Control+`");
    }
    await second.waitForFunction(() => (document.querySelector(".xterm-rows")?.textContent ?? "").includes("again-2"), undefined, { timeout: 20_000 });
    assert.equal(new URL(routes[0].url).searchParams.get("after"), "0", "a fresh page replays from the start");
    // Let the editor finish loading first: it takes the focus when it is ready.
    await second.locator(".monaco-editor .view-lines").filter({ hasText: "console.log(animal)" }).first().waitFor();
    await second.locator(".xterm").first().click();
    await second.keyboard.type("echo once-$((2+3))\n");
    await second.waitForFunction(() => (document.querySelector(".xterm-rows")?.textContent ?? "").includes("once-5"), undefined, { timeout: 10_000 });

    // Drop the connection under the page's feet; it reconnects by itself.
    await routes[0].route.close({ code: 4000, reason: "dropped by the test" });
    await second.waitForFunction(() => true);
    const deadline = Date.now() + 15_000;
    while (routes.length < 2 && Date.now() < deadline) await new Promise((done) => setTimeout(done, 100));
    assert.equal(routes.length, 2, "the terminal reconnected");
    const after = Number(new URL(routes[1].url).searchParams.get("after"));
    assert.ok(after > 0, `reconnected after the bytes it had (after=${after})`);
    await second.getByRole("region", { name: "Terminals" }).getByRole("tab", { name: /^Terminal 1$/ }).waitFor({ timeout: 10_000 });
    await second.locator(".xterm").first().click();
    await second.keyboard.type("echo twice-$((3+3))\n");
    await second.waitForFunction(() => (document.querySelector(".xterm-rows")?.textContent ?? "").includes("twice-6"), undefined, { timeout: 10_000 });
    const text = await terminalText(second);
    assert.equal(text.split("once-5").length - 1, 1, "the output before the drop is shown exactly once");
    assert.equal(text.split("again-2").length - 1, 1);
    await screenshot(second, "30-terminal-resumed");
    await second.close();
  });

  await t.test("the views stay usable on a phone-sized screen", async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    await page.getByRole("tab", { name: "Search" }).click();
    await page.getByRole("searchbox", { name: "Search" }).fill("giraffe");
    await page.getByRole("tree", { name: "Search results" }).getByRole("treeitem", { name: /README\.md/ }).waitFor();
    await screenshot(page, "30-phone-search");
  });

  assert.deepEqual(problems, []);
});
