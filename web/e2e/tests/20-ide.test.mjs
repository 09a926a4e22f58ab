// The IDE shell and editor against the real binary: create a file in the explorer, type
// and save with Ctrl+S, reload and see the text; the command palette opens a file; quick
// open finds a nested file; the theme persists across a reload; a save after someone
// else changed the file shows the conflict dialog; an unsaved draft survives a reload;
// the phone layout. No console errors throughout.
import assert from "node:assert/strict";
import { test } from "node:test";

import { apiCall, getFile, launchBrowser, putFile, requireAll, screenshot, setupThroughApi, startDockyard } from "../harness.mjs";

/** The text of the active group's editor (Monaco renders spaces as U+00A0). */
async function editorText(page) {
  const text = await page.locator(".ide-group.active .monaco-editor .view-lines").first().innerText();
  return text.replace(/\u00a0/g, " ");
}

async function waitForEditorText(page, pattern) {
  for (let i = 0; i < 100; i++) {
    const text = await editorText(page).catch(() => "");
    if (pattern.test(text)) return text;
    await page.waitForTimeout(100);
  }
  assert.match(await editorText(page), pattern);
}

async function focusEditorEnd(page) {
  await page.locator(".ide-group.active .monaco-editor .view-lines").first().click();
  await page.keyboard.press("Control+End");
}

test("the IDE edits, saves, navigates and remembers", { timeout: 300_000 }, async (t) => {
  if (!requireAll(t)) return;
  const server = await startDockyard();
  t.after(() => server.stop());
  const { cookie, org } = await setupThroughApi(server);

  const created = await apiCall(server, "POST", `/api/v1/orgs/${org.id}/projects`, { name: "ide" }, cookie);
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const projectId = created.body.id;
  await putFile(server, cookie, projectId, "README.md", "# IDE\n\nHello.\n");
  await putFile(server, cookie, projectId, "src/main.rs", 'fn main() {\n    println!("hi");\n}\n\nstruct Thing {\n    a: u32,\n}\n');
  await putFile(server, cookie, projectId, "deep/nested/folder/needle.py", "class Needle:\n    def poke(self):\n        return 1\n");

  const { browser, page, problems } = await launchBrowser(server, { cookie });
  t.after(() => browser.close());
  await page.goto(`/p/${projectId}`);
  const tree = page.getByRole("tree", { name: "Files" });
  await tree.getByRole("treeitem", { name: "README.md" }).waitFor();

  await t.test("a file created in the explorer is typed into, saved with Ctrl+S and there after a reload", async () => {
    await page.getByRole("button", { name: "New file" }).click();
    const input = page.getByRole("textbox", { name: "New file name" });
    await input.fill("notes/todo.txt");
    await input.press("Enter");
    const tab = page.getByRole("tab", { name: /^todo\.txt/ });
    await tab.waitFor();
    await tree.getByRole("treeitem", { name: "todo.txt" }).waitFor();
    await page.locator(".ide-group.active .monaco-editor").waitFor();
    await focusEditorEnd(page);
    await page.keyboard.type("hello from the editor");
    await page.getByRole("tab", { name: "todo.txt (unsaved changes)" }).waitFor();
    await page.keyboard.press("Control+s");
    await page.getByRole("tab", { name: "todo.txt", exact: true }).waitFor();
    assert.equal(await getFile(server, cookie, projectId, "notes/todo.txt"), "hello from the editor");

    // Open a second file so the reload has two tabs to restore.
    await tree.getByRole("treeitem", { name: "src" }).click();
    await tree.getByRole("treeitem", { name: "main.rs" }).dblclick();
    await page.getByRole("tab", { name: "main.rs", exact: true }).waitFor();
    await waitForEditorText(page, /struct Thing/);
    await page.waitForTimeout(1200); // the layout is saved debounced
    await screenshot(page, "20-ide-file");

    await page.reload();
    await page.getByRole("tab", { name: "main.rs", exact: true }).waitFor();
    await page.getByRole("tab", { name: "todo.txt", exact: true }).click();
    await waitForEditorText(page, /hello from the editor/);
  });

  await t.test("the command palette lists commands with keys and opens a file", async () => {
    await page.keyboard.press("Control+Shift+P");
    const palette = page.getByRole("dialog", { name: "Command palette" });
    await palette.waitFor();
    await palette.getByRole("option", { name: /Toggle Terminal.*Ctrl\+`/ }).waitFor();
    await page.keyboard.type("go to file");
    await palette.getByRole("option", { name: /Go to File/ }).waitFor();
    await screenshot(page, "20-ide-palette");
    await page.keyboard.press("Enter");
    const quick = page.getByRole("dialog", { name: "Go to file" });
    await quick.waitFor();
    await page.keyboard.type("readme");
    await quick.getByRole("option", { name: /README\.md/ }).waitFor();
    await page.keyboard.press("Enter");
    await page.getByRole("tab", { name: "README.md", exact: true, selected: true }).waitFor();
    await waitForEditorText(page, /# IDE/);
  });

  await t.test("quick open finds a nested file by a fuzzy query", async () => {
    await page.keyboard.press("Control+p");
    const quick = page.getByRole("dialog", { name: "Go to file" });
    await quick.waitFor();
    await page.keyboard.type("dnfneedle");
    await quick.getByRole("option", { name: /needle\.py.*deep\/nested\/folder/ }).waitFor();
    await screenshot(page, "20-ide-quickopen");
    await page.keyboard.press("Enter");
    await page.getByRole("tab", { name: "needle.py", exact: true, selected: true }).waitFor();
    await waitForEditorText(page, /class Needle/);
    // Go to symbol (the regex outline for Python) lists the class and the method.
    await page.keyboard.press("Control+Shift+O");
    await page.locator(".quick-input-widget").getByText("poke").waitFor();
    await screenshot(page, "20-ide-symbols");
    await page.keyboard.press("Escape");
  });

  await t.test("the theme switch applies everywhere and persists across a reload", async () => {
    await page.getByRole("tab", { name: "Settings" }).click();
    await page.getByRole("radio", { name: "Light" }).check();
    assert.equal(await page.evaluate(() => document.documentElement.dataset.theme), "light");
    await page.getByRole("status").filter({ hasText: "Saved" }).waitFor();
    await page.reload();
    await page.getByRole("radio", { name: "Light" }).waitFor();
    assert.equal(await page.evaluate(() => document.documentElement.dataset.theme), "light");
    assert.ok(await page.getByRole("radio", { name: "Light" }).isChecked());
    await page.locator(".monaco-editor.vs").first().waitFor();
    await screenshot(page, "20-ide-light");
    await page.getByRole("radio", { name: "High contrast" }).check();
    await page.locator(".monaco-editor.hc-black").first().waitFor();
    assert.equal(await page.evaluate(() => document.documentElement.dataset.theme), "high-contrast");
    await screenshot(page, "20-ide-high-contrast");
    await page.getByRole("radio", { name: "Dark" }).check();
    await page.getByRole("status").filter({ hasText: "Saved" }).waitFor();
    const settings = await apiCall(server, "GET", "/api/v1/me/settings", undefined, cookie);
    assert.equal(settings.body.theme, "dark");
  });

  await t.test("saving over someone else's change shows the conflict dialog", async () => {
    await page.getByRole("tab", { name: "Explorer" }).click();
    await page.getByRole("tab", { name: "todo.txt", exact: true }).click();
    await waitForEditorText(page, /hello from the editor/);
    await putFile(server, cookie, projectId, "notes/todo.txt", "theirs: changed through the API\n");
    await focusEditorEnd(page);
    await page.keyboard.type(" and mine");
    await page.keyboard.press("Control+s");
    const dialog = page.getByRole("dialog", { name: "todo.txt changed on the server" });
    await dialog.waitFor();
    // Focus is trapped in the dialog.
    for (let i = 0; i < 6; i++) await page.keyboard.press("Tab");
    assert.ok(await dialog.evaluate((node) => node.contains(document.activeElement)));
    await screenshot(page, "20-ide-conflict");
    await dialog.getByRole("button", { name: "Compare" }).click();
    await dialog.locator(".monaco-diff-editor").waitFor();
    await page.waitForTimeout(500);
    await screenshot(page, "20-ide-conflict-compare");
    await dialog.getByRole("button", { name: "Overwrite" }).click();
    await dialog.waitFor({ state: "detached" });
    assert.equal(await getFile(server, cookie, projectId, "notes/todo.txt"), "hello from the editor and mine");
    await page.getByRole("tab", { name: "todo.txt", exact: true }).waitFor();
  });

  await t.test("an unsaved draft survives a reload", async () => {
    await focusEditorEnd(page);
    await page.keyboard.type(" plus a draft");
    await page.getByRole("tab", { name: "todo.txt (unsaved changes)" }).waitFor();
    await page.waitForTimeout(400);
    await page.reload();
    await page.getByRole("tab", { name: "todo.txt (unsaved changes)" }).click();
    await waitForEditorText(page, /hello from the editor and mine plus a draft/);
    // The server still has the saved text.
    assert.equal(await getFile(server, cookie, projectId, "notes/todo.txt"), "hello from the editor and mine");
    await page.keyboard.press("Control+s");
    await page.getByRole("tab", { name: "todo.txt", exact: true }).waitFor();
    assert.equal(await getFile(server, cookie, projectId, "notes/todo.txt"), "hello from the editor and mine plus a draft");
  });

  await t.test("a view picked while the saved layout is still loading is remembered", async () => {
    // The layout's GET is held back until the click, so the click lands first.
    let release = () => {};
    const held = new Promise((resolve) => (release = resolve));
    const layoutUrl = `**/api/v1/me/layouts/${projectId}`;
    await page.route(layoutUrl, async (route) => {
      if (route.request().method() === "GET") await held;
      await route.continue();
    });
    const layoutSaved = (view) =>
      page.waitForResponse(
        (response) =>
          response.url().includes(`/api/v1/me/layouts/${projectId}`) && response.request().method() === "PUT" && (response.request().postData() ?? "").includes(`"view":"${view}"`),
      );
    const saved = layoutSaved("git");
    await page.reload();
    await page.getByRole("tab", { name: "Source Control" }).click();
    await page.getByRole("tab", { name: "Source Control", selected: true }).waitFor();
    release();
    await saved;
    await page.unroute(layoutUrl);
    await page.waitForTimeout(300);
    await page.reload();
    await page.getByRole("tab", { name: "Source Control", selected: true }).waitFor();
    // Back to the explorer, saved before the next page loads the layout.
    const back = layoutSaved("explorer");
    await page.getByRole("tab", { name: "Explorer" }).click();
    await tree.getByRole("treeitem", { name: "README.md" }).waitFor();
    await back;
  });

  await t.test("split right shows the file in two groups; Ctrl+Shift+T reopens a closed tab", async () => {
    await page.getByRole("button", { name: "Split editor right" }).first().click();
    await page.getByRole("region", { name: "Editor group 2" }).waitFor();
    await page.getByRole("button", { name: "Close todo.txt" }).last().click();
    await page.getByRole("region", { name: "Editor group 2" }).waitFor({ state: "detached" });
    await page.getByRole("button", { name: "Close README.md" }).click();
    await page.getByRole("tab", { name: "README.md" }).waitFor({ state: "detached" });
    await page.keyboard.press("Control+Shift+T");
    await page.getByRole("tab", { name: "README.md", exact: true }).waitFor();
  });

  await t.test("the phone layout has one group and an overlay sidebar", async () => {
    const phone = await browser.newContext({ viewport: { width: 390, height: 780 }, baseURL: server.base, isMobile: true, hasTouch: true });
    const [name, ...rest] = cookie.split("=");
    await phone.addCookies([{ name, value: rest.join("="), url: server.base }]);
    const small = await phone.newPage();
    small.on("console", (message) => message.type() === "error" && problems.push(`phone console error: ${message.text()}`));
    small.on("pageerror", (error) => problems.push(`phone page error: ${error.message}`));
    await small.goto(`/p/${projectId}`);
    await small.getByRole("tab", { name: "Explorer" }).waitFor();
    await small.getByRole("tree", { name: "Files" }).getByRole("treeitem", { name: "README.md" }).waitFor();
    await screenshot(small, "20-ide-phone-sidebar");
    // Opening a file closes the overlay.
    await small.getByRole("tree", { name: "Files" }).getByRole("treeitem", { name: "README.md" }).click();
    await small.getByRole("tree", { name: "Files" }).waitFor({ state: "detached" });
    await small.locator(".monaco-editor").first().waitFor();
    await small.waitForTimeout(500);
    await screenshot(small, "20-ide-phone");
    assert.equal(await small.locator(".ide-group").count(), 1);
    await phone.close();
  });

  assert.deepEqual(problems, []);
});
