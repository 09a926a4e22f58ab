// Coding agents from the IDE against the real binary and the suite's test agents
// (crates/dockyard/tests/agents/*.mjs, run with this Node): an admin defines a
// Claude-Code-style profile and a terminal (pty) profile through the API, in a
// project whose workspace is a git repository (the Git panel's API: init, write a
// file, commit). In the browser: start a claude session, watch the timeline show the
// Write tool call and the status go succeeded, get the toast, open the changes, send a
// review comment back (a follow-up session writes a second file on the same branch),
// Apply both and find the files in the explorer. Then start the terminal agent, see its question
// in xterm, reload the page mid-session (the panel comes back and replays the
// transcript), type "y" + Enter and see the answer. Phone layout, no console errors.
import assert from "node:assert/strict";
import { test } from "node:test";

import {
  agentScript,
  apiCall,
  createAgentProfile,
  gitWorkspace,
  launchBrowser,
  requireAll,
  screenshot,
  setupThroughApi,
  startDockyard,
} from "../harness.mjs";

/** Shows the Agents view (a click on the active view's tab would hide the sidebar). */
async function showAgents(page) {
  const tab = page.getByRole("tab", { name: "Agents" });
  if ((await tab.getAttribute("aria-selected")) !== "true") await tab.click();
  await page.getByRole("region", { name: "Agent sessions" }).waitFor();
}

/** Writes a file and commits it through the API (the workspace moving on under a session). */
async function gitCommitFile(server, cookie, projectId, path, text) {
  const response = await fetch(`${server.base}/api/v1/projects/${projectId}/files/${path}`, {
    method: "PUT",
    headers: { cookie, origin: server.base, "content-type": "application/octet-stream" },
    body: text,
  });
  assert.ok(response.ok, `PUT ${path}: ${response.status}`);
  const commit = await apiCall(server, "POST", `/api/v1/projects/${projectId}/git/commit`, { message: `update ${path}`, paths: [path] }, cookie);
  assert.ok(commit.status < 300, JSON.stringify(commit.body));
}

/** The text xterm.js shows in the agent terminal. */
async function terminalText(page) {
  return page.getByRole("group", { name: "Agent terminal" }).locator(".xterm-rows").innerText();
}

async function waitTerminal(page, needle, timeout = 30_000) {
  const deadline = Date.now() + timeout;
  let text = "";
  while (Date.now() < deadline) {
    text = await terminalText(page).catch(() => "");
    if (text.includes(needle)) return text;
    await new Promise((done) => setTimeout(done, 100));
  }
  throw new Error(`the terminal never showed ${JSON.stringify(needle)}; it shows:\n${text}`);
}

test("agent sessions from the IDE: timeline, review and apply, a terminal agent across a reload", { timeout: 240_000 }, async (t) => {
  if (!requireAll(t)) return;
  const server = await startDockyard();
  let browser = null;
  t.after(async () => {
    await browser?.close();
    await server.stop();
  });

  const { cookie, org } = await setupThroughApi(server);
  const created = await apiCall(server, "POST", `/api/v1/orgs/${org.id}/projects`, { name: "Agents" }, cookie);
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const project = created.body;
  await gitWorkspace(server, cookie, project.id, { "README.md": "# Agents\n" });

  const launched = await launchBrowser(server, { cookie });
  browser = launched.browser;
  const { page, problems } = launched;
  await page.goto(`/p/${project.id}`);
  await page.getByRole("tab", { name: "Explorer" }).waitFor();
  const dock = page.getByRole("region", { name: "Agent session" });

  await t.test("without a profile the view says an admin must add one", async () => {
    await page.getByRole("tab", { name: "Agents" }).click();
    const notice = page.getByRole("note", { name: "No agent configured" });
    await notice.getByText("No coding agent is configured on this Dockyard.").waitFor();
    await notice.getByText(/An instance admin must add an agent profile/).waitFor();
    assert.equal(await page.getByRole("button", { name: "Start session" }).count(), 0);
  });

  const node = process.execPath;
  await createAgentProfile(server, cookie, { name: "claude", kind: "claude-code", command: [node, agentScript("claude")] });
  await createAgentProfile(server, cookie, { name: "asker", kind: "pty", command: [node, agentScript("ask"), "{prompt}"] });
  await createAgentProfile(server, cookie, { name: "gemini", kind: "acp", command: [node, agentScript("acp")] });

  await t.test("the Agents view lists the profiles with their health", async () => {
    await page.getByRole("button", { name: "Refresh agent sessions" }).click();
    const form = page.getByRole("form", { name: "New agent session" });
    await form.getByLabel("Agent").waitFor();
    const options = await form.getByLabel("Agent").locator("option").allInnerTexts();
    assert.deepEqual(options.map((o) => o.trim()).sort(), ["asker (pty)", "claude (claude-code)", "gemini (acp)"]);
    await form.getByText(/healthy/).waitFor();
    assert.equal(await form.getByLabel(/Own git worktree/).isChecked(), true, "worktree is the default isolation");
    await page.getByText("No sessions yet.").waitFor();
  });

  await t.test("a claude session shows its tool call, succeeds and notifies", async () => {
    const form = page.getByRole("form", { name: "New agent session" });
    await form.getByLabel("Agent").selectOption("claude");
    // An empty prompt is refused inline.
    await form.getByRole("button", { name: "Start session" }).click();
    await form.getByRole("alert").getByText("Write a prompt for the agent.").waitFor();
    await form.getByLabel("Prompt").fill("write notes.txt: hello");
    await form.getByRole("button", { name: "Start session" }).click();
    await dock.getByRole("heading", { name: /Agent: claude — write notes\.txt: hello/ }).waitFor();
    const log = dock.getByRole("log", { name: "Agent transcript" });
    const tool = log.getByRole("group", { name: "Tool call Write" });
    await tool.waitFor({ timeout: 30_000 });
    await tool.getByText("notes.txt").waitFor();
    await dock.getByRole("status", { name: "Session status: succeeded" }).waitFor({ timeout: 30_000 });
    await log.getByText("Writing notes.txt").waitFor();
    await log.getByText(/Usage: 100 in · 10 out · \$0\.0125/).waitFor();
    await dock.getByText(/\$0\.0125/).first().waitFor();
    // The toast, and the history row.
    await page.getByRole("region", { name: "Notifications" }).getByText(/write notes\.txt: hello.*finished/).waitFor({ timeout: 20_000 });
    await page.getByRole("button", { name: "Session write notes.txt: hello, succeeded" }).waitFor();
    await screenshot(page, "50-agents-claude");
  });

  await t.test("a review comment goes back to the agent, then both sessions' changes are applied", async () => {
    await dock.getByRole("tab", { name: /Changes/ }).click();
    const file = dock.getByRole("group", { name: "Diff of notes.txt" });
    await file.waitFor();
    await file.getByText("hello").waitFor();
    assert.equal(await page.getByRole("tree", { name: "Files" }).getByRole("treeitem", { name: "notes.txt" }).count(), 0, "not in the workspace before the apply");
    // The review comment: a follow-up session continues on the same branch and opens.
    const comment = dock.getByRole("form", { name: "Review comment" });
    await comment.getByLabel("Review comment for the agent").fill("write more.txt: again");
    await comment.getByRole("button", { name: "Send to agent" }).click();
    await dock.getByRole("heading", { name: /Agent: claude — write more\.txt: again/ }).waitFor();
    await dock.getByRole("status", { name: "Session status: succeeded" }).waitFor({ timeout: 30_000 });
    await dock.getByRole("tab", { name: /Changes/ }).click();
    await dock.getByRole("group", { name: "Diff of more.txt" }).getByText("again").waitFor();
    await dock.getByRole("group", { name: "Diff of notes.txt" }).waitFor();
    await dock.getByRole("button", { name: "Apply changes" }).click();
    const dialog = page.getByRole("alertdialog", { name: "Apply the agent's changes?" });
    await dialog.getByRole("button", { name: "Apply", exact: true }).click();
    await dock.getByText("The changes were applied to the workspace.").waitFor({ timeout: 20_000 });
    await page.getByRole("region", { name: "Notifications" }).getByText(/Applied 2 changed files/).waitFor();
    await page.getByRole("tab", { name: "Explorer" }).click();
    await page.getByRole("tree", { name: "Files" }).getByRole("treeitem", { name: "notes.txt" }).waitFor();
    for (const [name, text] of [["notes.txt", "hello\n"], ["more.txt", "again\n"]]) {
      const applied = await apiCall(server, "GET", `/api/v1/projects/${project.id}/files/${name}`, undefined, cookie);
      assert.equal(applied.status, 200, name);
      assert.equal(applied.body, text, name);
    }
    // The first session says where its changes went.
    await page.getByRole("tab", { name: "Agents" }).click();
    await page.getByRole("button", { name: "Session write notes.txt: hello, succeeded" }).click();
    await dock.getByRole("tab", { name: /Changes/ }).click();
    await dock.getByText(/A review comment went back to the agent/).waitFor();
  });

  await t.test("an apply that conflicts with the workspace names the file and changes nothing", async () => {
    const form = page.getByRole("form", { name: "New agent session" });
    await showAgents(page);
    await form.getByLabel("Agent").selectOption("claude");
    await form.getByLabel("Prompt").fill("write README.md: theirs");
    await form.getByRole("button", { name: "Start session" }).click();
    await dock.getByRole("heading", { name: /Agent: claude — write README\.md: theirs/ }).waitFor();
    await dock.getByRole("status", { name: "Session status: succeeded" }).waitFor({ timeout: 30_000 });
    // Meanwhile the workspace commits its own README.
    await gitCommitFile(server, cookie, project.id, "README.md", "ours\n");
    // The 409 is the point of this step: record its URL so only that one is excused.
    const conflicts = [];
    const onResponse = (response) => {
      if (response.status() === 409) conflicts.push(new URL(response.url()).pathname);
    };
    page.on("response", onResponse);
    await dock.getByRole("tab", { name: /Changes/ }).click();
    await dock.getByRole("group", { name: "Diff of README.md" }).waitFor();
    await dock.getByRole("button", { name: "Apply changes" }).click();
    await page.getByRole("alertdialog", { name: "Apply the agent's changes?" }).getByRole("button", { name: "Apply", exact: true }).click();
    const alert = dock.getByRole("alert", { name: "Merge conflict" });
    await alert.waitFor({ timeout: 20_000 });
    await alert.getByText(/conflict with the workspace in: README\.md/).waitFor();
    page.off("response", onResponse);
    assert.equal(conflicts.length, 1, JSON.stringify(conflicts));
    assert.match(conflicts[0], /^\/api\/v1\/agent-sessions\/[^/]+\/apply$/);
    const expected = problems.findIndex((problem) => /status of 409/.test(problem));
    assert.ok(expected >= 0, JSON.stringify(problems));
    problems.splice(expected, 1);
    const readme = await apiCall(server, "GET", `/api/v1/projects/${project.id}/files/README.md`, undefined, cookie);
    assert.equal(readme.body, "ours\n", "the workspace is as it was");
    // Still reviewable: the changes can be discarded instead.
    await dock.getByRole("button", { name: "Discard changes" }).waitFor();
    await screenshot(page, "50-agents-conflict");
  });

  await t.test("search finds the session", async () => {
    await showAgents(page);
    const search = page.getByRole("searchbox", { name: "Search sessions" });
    await search.fill("nothing-like-this");
    await page.getByText("No session matches.").waitFor();
    await search.fill("NOTES");
    await page.getByRole("button", { name: "Session write notes.txt: hello, succeeded" }).waitFor();
    await search.fill("");
  });

  await t.test("an ACP agent's permission question is answered with a button; its changes are discarded", async () => {
    const form = page.getByRole("form", { name: "New agent session" });
    await form.getByLabel("Agent").selectOption("gemini");
    await form.getByLabel("Prompt").fill("hello acp");
    await form.getByRole("button", { name: "Start session" }).click();
    await dock.getByRole("heading", { name: /Agent: gemini — hello acp/ }).waitFor();
    const question = dock.getByRole("group", { name: "Permission: Write acp-output.txt" });
    await question.waitFor({ timeout: 30_000 });
    await question.getByRole("button", { name: "Reject" }).waitFor();
    await question.getByRole("button", { name: "Allow" }).click();
    await question.getByText("Answered: Allow").waitFor({ timeout: 20_000 });
    await dock.getByRole("status", { name: "Session status: succeeded" }).waitFor({ timeout: 30_000 });
    const log = dock.getByRole("log", { name: "Agent transcript" });
    await log.getByText(/On it: hello acp/).waitFor();
    await log.getByText(/outside read refused/).waitFor();
    await dock.getByRole("tab", { name: /Changes/ }).click();
    await dock.getByRole("group", { name: "Diff of acp-output.txt" }).waitFor();
    await dock.getByRole("button", { name: "Discard changes" }).click();
    await page.getByRole("alertdialog", { name: "Discard the agent's changes?" }).getByRole("button", { name: "Discard", exact: true }).click();
    await dock.getByText("The changes were discarded.").waitFor({ timeout: 20_000 });
    await page.getByRole("button", { name: "Session hello acp, succeeded" }).waitFor();
  });

  await t.test("a terminal agent asks, survives a reload, and gets its answer typed in", async () => {
    const form = page.getByRole("form", { name: "New agent session" });
    await form.getByLabel("Agent").selectOption("asker");
    await form.getByLabel("Prompt").fill("ship it");
    await form.getByLabel(/The workspace itself/).check();
    await form.getByRole("button", { name: "Start session" }).click();
    await dock.getByRole("heading", { name: /Agent: asker — ship it/ }).waitFor();
    const before = await waitTerminal(page, "Proceed?");
    assert.match(before, /task: ship it/);
    // The prompt's colour arrived as ANSI and xterm drew it (a coloured span, no escape text).
    assert.doesNotMatch(before, /\[32m/);
    assert.ok((await dock.locator(".xterm-rows span[class*='xterm-fg-']").count()) > 0, "ANSI colours are rendered");
    await dock.getByRole("status", { name: "Session status: running" }).waitFor();

    await page.reload();
    await page.getByRole("tab", { name: "Explorer" }).waitFor();
    // The panel comes back and replays the transcript from the first event.
    await dock.getByRole("heading", { name: /Agent: asker — ship it/ }).waitFor();
    const replayed = await waitTerminal(page, "Proceed?");
    assert.equal((replayed.match(/Proceed\?/g) ?? []).length, 1, `replayed once, not twice:\n${replayed}`);
    await dock.getByText("live", { exact: true }).waitFor();

    await dock.getByRole("group", { name: "Agent terminal" }).click();
    await page.keyboard.type("y");
    await page.keyboard.press("Enter");
    await waitTerminal(page, "you said: y");
    await dock.getByRole("status", { name: "Session status: succeeded" }).waitFor({ timeout: 30_000 });
    await page.getByRole("region", { name: "Notifications" }).getByText(/ship it.*finished/).waitFor({ timeout: 20_000 });
    await dock.getByRole("textbox", { name: "Follow-up message" }).waitFor();
    assert.equal(await dock.getByRole("textbox", { name: "Follow-up message" }).isDisabled(), true, "no input once it is over");
    const written = await apiCall(server, "GET", `/api/v1/projects/${project.id}/files/ask-output.txt`, undefined, cookie);
    assert.equal(written.body, "y\n");
    await screenshot(page, "50-agents-terminal");
  });

  await t.test("Stop ends a waiting session as stopped", async () => {
    const form = page.getByRole("form", { name: "New agent session" });
    await form.getByLabel("Agent").selectOption("asker");
    await form.getByLabel("Prompt").fill("wait forever");
    await form.getByLabel(/The workspace itself/).check();
    await form.getByRole("button", { name: "Start session" }).click();
    await dock.getByRole("heading", { name: /Agent: asker — wait forever/ }).waitFor();
    await waitTerminal(page, "Proceed?");
    await dock.getByRole("button", { name: "Stop session" }).click();
    await dock.getByRole("status", { name: "Session status: stopped" }).waitFor({ timeout: 30_000 });
    await page.getByRole("region", { name: "Notifications" }).getByText(/wait forever.*was stopped/).waitFor({ timeout: 20_000 });
    assert.equal(await dock.getByRole("button", { name: "Stop session" }).count(), 0, "no Stop once it is over");
  });

  await t.test("the palette opens the view and the phone layout shows it", async () => {
    await dock.getByRole("button", { name: "Close agent session" }).click();
    await page.getByRole("tab", { name: "Explorer" }).click();
    await page.getByRole("button", { name: "Show all commands" }).click();
    const palette = page.getByRole("dialog", { name: "Command palette" });
    await palette.waitFor();
    await page.keyboard.type("agents show");
    await palette.getByRole("option", { name: /Agents: Show sessions/ }).click();
    await page.getByRole("region", { name: "Agent sessions" }).waitFor();
    await page.setViewportSize({ width: 390, height: 800 });
    await page.getByRole("button", { name: "Session ship it, succeeded" }).click();
    // The sidebar overlay gets out of the way of the session panel.
    await page.locator("#ide-sidebar").waitFor({ state: "detached" });
    await dock.getByRole("status", { name: "Session status: succeeded" }).waitFor();
    await waitTerminal(page, "you said: y");
    await screenshot(page, "50-agents-phone");
    await page.setViewportSize({ width: 1280, height: 720 });
  });

  assert.deepEqual(problems, []);
});
