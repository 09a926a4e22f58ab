// The built-in assistant in the IDE against the real binary, with the instance's
// endpoint pointed at a stand-in OpenAI-compatible server started here (Node http,
// the real wire format: `data: {"choices":[{"delta":{"content":…}}]}` chunks and
// `data: [DONE]` for the streamed chat, plain JSON for completions; it refuses a wrong
// key or model). In the browser: open a file, select two lines, "Assistant: Ask about
// selection" from the palette, see the chip, ask, watch the answer stream in (Stop
// shown meanwhile) and the stand-in receive the selection; "Insert at cursor" puts the
// code block in the editor; the tokens today go up; typing shows the stand-in's ghost
// text and Tab accepts it; the file saved holds both. New chat clears the conversation.
// No console errors throughout.
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { test } from "node:test";

import { apiCall, getFile, launchBrowser, putFile, requireAll, screenshot, setupThroughApi, startDockyard } from "../harness.mjs";

const KEY = "sk-stand-in-key";
const MODEL = "stand-in-coder";
const GHOST = "compute_total(items)";
/** The streamed answer, cut into the pieces the stand-in sends with pauses between them. */
const PIECES = ["Here is ", "a helper:\n\n", "```python\n", "def greet(name):\n", '    return f"hi {name}"\n', "```\n", "Call it with a name."];

/** A stand-in OpenAI-compatible endpoint; `requests` records what it was sent. */
async function startStandIn() {
  const requests = [];
  const server = createServer((request, response) => {
    let raw = "";
    request.setEncoding("utf8");
    request.on("data", (chunk) => (raw += chunk));
    request.on("end", async () => {
      let body = null;
      try {
        body = JSON.parse(raw);
      } catch {
        body = null;
      }
      requests.push({ method: request.method, url: request.url, authorization: request.headers.authorization ?? null, body });
      const fail = (status, message) => {
        response.writeHead(status, { "content-type": "application/json" });
        response.end(JSON.stringify({ error: { message, type: "invalid_request_error" } }));
      };
      if (request.method !== "POST" || request.url !== "/v1/chat/completions") return fail(404, `no route ${request.method} ${request.url}`);
      if (request.headers.authorization !== `Bearer ${KEY}`) return fail(401, "Incorrect API key provided");
      if (!body || body.model !== MODEL) return fail(404, `The model ${body?.model} does not exist`);
      if (!body.stream) {
        response.writeHead(200, { "content-type": "application/json" });
        response.end(
          JSON.stringify({
            id: "cmpl-1",
            object: "chat.completion",
            created: 1,
            model: MODEL,
            choices: [{ index: 0, message: { role: "assistant", content: GHOST }, finish_reason: "stop" }],
            usage: { prompt_tokens: 7, completion_tokens: 3, total_tokens: 10 },
          }),
        );
        return;
      }
      response.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
      const chunk = (delta) => `data: ${JSON.stringify({ id: "chat-1", object: "chat.completion.chunk", created: 1, model: MODEL, choices: [{ index: 0, delta, finish_reason: null }] })}\n\n`;
      response.write(chunk({ role: "assistant", content: "" }));
      for (const piece of PIECES) {
        response.write(chunk({ content: piece }));
        await new Promise((done) => setTimeout(done, 250));
      }
      response.write(`data: ${JSON.stringify({ id: "chat-1", object: "chat.completion.chunk", choices: [], usage: { prompt_tokens: 20, completion_tokens: 10, total_tokens: 30 } })}\n\n`);
      response.write("data: [DONE]\n\n");
      response.end();
    });
  });
  await new Promise((ready) => server.listen(0, "127.0.0.1", ready));
  const { port } = server.address();
  return {
    baseUrl: `http://127.0.0.1:${port}/v1`,
    requests,
    close: () => new Promise((done) => server.close(done)),
  };
}

/**
 * The text of the active group's editor as shown, line by line in order (Monaco reuses
 * line elements, so their DOM order is not the text's; spaces render as U+00A0).
 */
async function editorText(page) {
  const lines = await page
    .locator(".ide-group.active .monaco-editor .view-lines .view-line")
    .evaluateAll((elements) => elements.map((element) => ({ top: parseFloat(element.style.top) || 0, text: element.innerText })));
  return lines
    .sort((a, b) => a.top - b.top)
    .map((line) => line.text.replace(/\u00a0/g, " ").replace(/\n$/, ""))
    .join("\n");
}

async function waitFor(what, check, timeout = 20_000) {
  const deadline = Date.now() + timeout;
  let last;
  while (Date.now() < deadline) {
    last = await check();
    if (last) return last;
    await new Promise((done) => setTimeout(done, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

const FILE = ["def total(items):", "    return sum(item.price for item in items)", "", "", "print(total([]))", ""].join("\n");

test("the assistant chats about the selection, inserts code and completes inline", { timeout: 240_000 }, async (t) => {
  if (!requireAll(t)) return;
  const standIn = await startStandIn();
  t.after(() => standIn.close());
  const server = await startDockyard({
    DOCKYARD_ASSISTANT__BASE_URL: standIn.baseUrl,
    DOCKYARD_ASSISTANT__MODEL: MODEL,
    DOCKYARD_ASSISTANT__API_KEY: KEY,
  });
  t.after(() => server.stop());
  const { cookie, org } = await setupThroughApi(server);
  const created = await apiCall(server, "POST", `/api/v1/orgs/${org.id}/projects`, { name: "assist" }, cookie);
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const projectId = created.body.id;
  await putFile(server, cookie, projectId, "main.py", FILE);

  const { browser, page, problems } = await launchBrowser(server, { cookie });
  t.after(() => browser.close());
  await page.goto(`/p/${projectId}`);
  const tree = page.getByRole("tree", { name: "Files" });
  await tree.getByRole("treeitem", { name: "main.py" }).dblclick();
  await page.locator(".ide-group.active .monaco-editor .view-lines").first().waitFor();
  await waitFor("the file in the editor", async () => (await editorText(page)).includes("def total(items):"));

  const view = page.locator(".assistant-view");
  const conversation = page.getByRole("log", { name: "Conversation" });

  await t.test("Ask about selection sends the selected lines, and the answer streams in", async () => {
    // Select the first two lines.
    await page.locator(".ide-group.active .monaco-editor .view-lines").first().click();
    await page.keyboard.press("Control+Home");
    await page.keyboard.press("Shift+ArrowDown");
    await page.keyboard.press("Shift+End");
    await page.keyboard.press("Control+Shift+P");
    await page.keyboard.type("Ask about selection");
    await page.getByRole("option", { name: /Assistant: Ask about selection/ }).waitFor();
    await page.keyboard.press("Enter");

    await view.getByLabel("Context: main.py, 2 lines selected").waitFor();
    await view.getByLabel("Assistant usage").getByText("0 of 200,000 tokens today").waitFor();
    const box = view.getByRole("textbox", { name: "Ask the assistant" });
    await waitFor("the question box focused", () => box.evaluate((el) => el === document.activeElement));
    await page.keyboard.type("What does this function do?");
    await page.keyboard.press("Enter");

    // Streaming: the first words show while Stop is still offered.
    await conversation.getByText("Here is a helper:").waitFor();
    assert.equal(await view.getByRole("button", { name: "Stop" }).isVisible(), true, "Stop is shown while the answer streams");
    await conversation.getByText("Call it with a name.").waitFor();
    await view.getByRole("button", { name: "Send" }).waitFor();
    await conversation.locator("pre").getByText("def greet(name):").waitFor();
    await conversation.getByText("main.py, 2 lines selected").waitFor();

    const chat = standIn.requests.find((r) => r.body?.stream === true);
    assert.ok(chat, "the stand-in got a streamed chat request");
    assert.equal(chat.authorization, `Bearer ${KEY}`);
    assert.equal(chat.body.model, MODEL);
    const prompt = chat.body.messages.map((m) => m.content).join("\n");
    assert.match(prompt, /def total\(items\):\n {4}return sum\(item\.price for item in items\)/, "the selection is in the prompt");
    assert.match(prompt, /main\.py/);
    assert.equal(chat.body.messages.at(-1).content, "What does this function do?");

    // The usage the stand-in reported counts against today's budget.
    await view.getByLabel("Assistant usage").getByText("30 of 200,000 tokens today").waitFor();
    await screenshot(page, "60-assistant-chat");
  });

  await t.test("Insert at cursor puts the code block in the editor", async () => {
    // Put the cursor on the empty line 3.
    await page.locator(".ide-group.active .monaco-editor .view-lines").first().click();
    await page.keyboard.press("Control+Home");
    await page.keyboard.press("ArrowDown");
    await page.keyboard.press("ArrowDown");
    await conversation.getByRole("button", { name: "Insert at cursor" }).click();
    await waitFor("the inserted code", async () => /return sum\(.*\)\ndef greet\(name\):\n {4}return f"hi \{name\}"/.test(await editorText(page)));
  });

  await t.test("typing shows the stand-in's ghost text and Tab accepts it", async () => {
    const before = standIn.requests.filter((r) => r.body && !r.body.stream).length;
    await page.keyboard.press("Control+End");
    await page.keyboard.type("result = ");
    await page.locator(".ide-group.active .monaco-editor .ghost-text-decoration, .ide-group.active .monaco-editor .ghost-text").first().waitFor({ timeout: 20_000 });
    const ghost = page.locator(".ide-group.active .monaco-editor").locator(".ghost-text-decoration, .ghost-text");
    await waitFor("the ghost text", async () => (await editorText(page)).includes(GHOST) || (await ghost.allInnerTexts()).join("").includes(GHOST));
    const completions = standIn.requests.filter((r) => r.body && !r.body.stream);
    assert.ok(completions.length > before, "the stand-in was asked for a completion");
    const last = completions.at(-1);
    assert.equal(last.authorization, `Bearer ${KEY}`);
    assert.equal(last.body.model, MODEL);
    assert.match(last.body.messages.map((m) => m.content).join("\n"), /result = /);
    await page.keyboard.press("Tab");
    await waitFor("the accepted completion", async () => (await editorText(page)).includes(`result = ${GHOST}`));
    await page.keyboard.press("Control+s");
    await page.getByRole("tab", { name: "main.py", exact: true }).waitFor();
    const saved = await getFile(server, cookie, projectId, "main.py");
    assert.match(saved, /def greet\(name\):/);
    assert.match(saved, new RegExp(`result = ${GHOST.replace(/[()]/g, "\\$&")}`));
  });

  await t.test("the palette's toggle turns inline completions off in the user's server-side settings", async () => {
    await page.keyboard.press("Control+Shift+P");
    await page.keyboard.type("Toggle inline completions");
    await page.keyboard.press("Enter");
    await page.getByRole("region", { name: "Notifications" }).getByText("Inline completions off").waitFor();
    await waitFor("the setting stored on the server", async () => (await apiCall(server, "GET", "/api/v1/me/settings", undefined, cookie)).body.inline_completions === false);
    const before = standIn.requests.filter((r) => r.body && !r.body.stream).length;
    await page.locator(".ide-group.active .monaco-editor .view-lines").first().click();
    await page.keyboard.press("Control+End");
    await page.keyboard.type("\nother = ");
    await page.waitForTimeout(1500);
    assert.equal(standIn.requests.filter((r) => r.body && !r.body.stream).length, before, "no completion request while off");
    await page.getByRole("tab", { name: "Settings" }).click();
    const check = page.getByRole("checkbox", { name: "Inline completions (ghost text; Tab accepts)" });
    assert.equal(await check.isChecked(), false);
    await check.check();
    await waitFor("the setting back on", async () => (await apiCall(server, "GET", "/api/v1/me/settings", undefined, cookie)).body.inline_completions === true);
    await page.getByRole("tab", { name: "Assistant" }).click();
  });

  await t.test("New chat clears the conversation; it was kept across a reload", async () => {
    // The layout (the Assistant view shown) is saved after 800 ms.
    await page.waitForTimeout(1500);
    await page.reload();
    await view.getByRole("textbox", { name: "Ask the assistant" }).waitFor();
    await conversation.getByText("Call it with a name.").waitFor();
    await view.getByRole("button", { name: "New chat" }).click();
    assert.equal(await conversation.getByText("Call it with a name.").count(), 0);
    await screenshot(page, "60-assistant");
  });

  assert.deepEqual(problems, [], "no console errors");
});

test("without an endpoint the assistant says how to configure one and never asks for completions", { timeout: 180_000 }, async (t) => {
  if (!requireAll(t)) return;
  const server = await startDockyard();
  t.after(() => server.stop());
  const { cookie, org } = await setupThroughApi(server);
  const created = await apiCall(server, "POST", `/api/v1/orgs/${org.id}/projects`, { name: "plain" }, cookie);
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const projectId = created.body.id;
  await putFile(server, cookie, projectId, "main.py", FILE);

  const { browser, page, problems } = await launchBrowser(server, { cookie });
  t.after(() => browser.close());
  const assistantCalls = [];
  page.on("request", (request) => {
    if (request.url().includes("/api/v1/assistant/")) assistantCalls.push(request.url());
  });
  await page.goto(`/p/${projectId}`);
  await page.getByRole("tree", { name: "Files" }).getByRole("treeitem", { name: "main.py" }).dblclick();
  await page.locator(".ide-group.active .monaco-editor .view-lines").first().waitFor();
  await waitFor("the file in the editor", async () => (await editorText(page)).includes("def total(items):"));

  await page.getByRole("tab", { name: "Assistant" }).click();
  const notice = page.getByRole("note", { name: "Assistant not configured" });
  await notice.getByText("The assistant is not configured.").waitFor();
  await notice.getByText(/An org admin can set an OpenAI-compatible endpoint/).waitFor();
  assert.equal(await page.getByRole("textbox", { name: "Ask the assistant" }).isDisabled(), true);

  await page.locator(".ide-group.active .monaco-editor .view-lines").first().click();
  await page.keyboard.press("Control+End");
  await page.keyboard.type("value = ");
  await page.waitForTimeout(1500);
  assert.deepEqual(assistantCalls, [], "no completion or chat request goes out while the assistant is not configured");
  await page.keyboard.press("Control+s");
  await page.getByRole("tab", { name: "main.py", exact: true }).waitFor();

  // The org admin sees the Assistant section in the org's settings.
  await page.goto(`/orgs/${org.slug}`);
  const section = page.getByRole("region", { name: "Assistant" });
  await section.getByText(/No assistant endpoint/).waitFor();
  await section.getByLabel("Base URL").waitFor();
  await screenshot(page, "60-assistant-org");
  assert.deepEqual(problems, [], "no console errors");
});

test("a spent token budget shows inline and pauses inline completions after one refusal", { timeout: 180_000 }, async (t) => {
  if (!requireAll(t)) return;
  const standIn = await startStandIn();
  t.after(() => standIn.close());
  // One streamed answer (30 tokens by the stand-in's usage) spends it.
  const server = await startDockyard({
    DOCKYARD_ASSISTANT__BASE_URL: standIn.baseUrl,
    DOCKYARD_ASSISTANT__MODEL: MODEL,
    DOCKYARD_ASSISTANT__API_KEY: KEY,
    DOCKYARD_ASSISTANT__DAILY_TOKEN_BUDGET: "30",
  });
  t.after(() => server.stop());
  const { cookie, org } = await setupThroughApi(server);
  const created = await apiCall(server, "POST", `/api/v1/orgs/${org.id}/projects`, { name: "budget" }, cookie);
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const projectId = created.body.id;
  await putFile(server, cookie, projectId, "main.py", FILE);

  const { browser, page, problems } = await launchBrowser(server, { cookie });
  t.after(() => browser.close());
  const refusals = [];
  const completions = [];
  page.on("response", (response) => {
    const path = new URL(response.url()).pathname;
    if (path === "/api/v1/assistant/complete") completions.push(response.status());
    if (response.status() === 429) refusals.push(path);
  });
  await page.goto(`/p/${projectId}`);
  await page.getByRole("tree", { name: "Files" }).getByRole("treeitem", { name: "main.py" }).dblclick();
  await page.locator(".ide-group.active .monaco-editor .view-lines").first().waitFor();
  await waitFor("the file in the editor", async () => (await editorText(page)).includes("def total(items):"));

  await page.getByRole("tab", { name: "Assistant" }).click();
  const view = page.locator(".assistant-view");
  const conversation = page.getByRole("log", { name: "Conversation" });
  const box = view.getByRole("textbox", { name: "Ask the assistant" });
  await box.fill("First question");
  await box.press("Enter");
  await conversation.getByText("Call it with a name.").waitFor();
  await view.getByLabel("Assistant usage").getByText("30 of 30 tokens today").waitFor();

  await box.fill("Second question");
  await box.press("Enter");
  const alert = conversation.getByRole("alert");
  await alert.getByText(/Your daily token budget is spent/).waitFor();

  // Inline completions: the first request is refused with 429; the gate then stops asking.
  await page.locator(".ide-group.active .monaco-editor .view-lines").first().click();
  await page.keyboard.press("Control+End");
  await page.keyboard.type("x = ");
  await waitFor("a completion request", async () => completions.length > 0);
  await page.waitForTimeout(800);
  await page.keyboard.type("1 + ");
  await page.waitForTimeout(1500);
  await page.keyboard.type("2");
  await page.waitForTimeout(1500);
  assert.deepEqual(completions, [429], "one refused completion, then no more requests");
  assert.equal(standIn.requests.filter((r) => r.body && !r.body.stream).length, 0, "the endpoint was not asked past the budget");

  // The two 429s are the point of this test; nothing else may have failed.
  assert.deepEqual(refusals.sort(), ["/api/v1/assistant/chat", "/api/v1/assistant/complete"]);
  const others = problems.filter((problem) => !/status of 429/.test(problem));
  assert.equal(problems.length - others.length, 2, problems.join("\n"));
  assert.deepEqual(others, [], "no other console errors");
});
