// The screens outside the IDE, driven through the UI against the real binary:
// first-run setup, logout and login (with a wrong password first), creating,
// importing (a .tar.gz built here, with its progress bar), exporting and deleting
// projects, an API token shown once, and the org's audit log. No console errors.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";

import { admin, launchBrowser, requireAll, screenshot, startDockyard } from "../harness.mjs";

/** A small project as a .tar.gz: a README, a package.json and a nested source file. */
function buildArchive() {
  const dir = mkdtempSync(join(tmpdir(), "dockyard-e2e-archive-"));
  const root = join(dir, "tree");
  mkdirSync(join(root, "src", "lib"), { recursive: true });
  writeFileSync(join(root, "README.md"), "# Sample app\n\nImported by the screens test.\n");
  writeFileSync(join(root, "package.json"), JSON.stringify({ name: "sample-app", version: "1.0.0" }, null, 2));
  writeFileSync(join(root, "src", "index.js"), "export const answer = 42;\n");
  writeFileSync(join(root, "src", "lib", "util.js"), "export function twice(x) {\n  return 2 * x;\n}\n");
  const archive = join(dir, "sample-app.tar.gz");
  execFileSync("tar", ["-czf", archive, "-C", root, "."]);
  return { archive, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

async function cookieHeader(context) {
  return (await context.cookies()).map((cookie) => `${cookie.name}=${cookie.value}`).join("; ");
}

test("setup, login, projects, import, tokens and the audit log through the UI", async (t) => {
  if (!requireAll(t)) return;
  const server = await startDockyard();
  t.after(() => server.stop());
  const { browser, context, page, problems } = await launchBrowser(server);
  t.after(() => browser.close());
  const { archive, cleanup } = buildArchive();
  t.after(cleanup);
  page.setDefaultTimeout(15_000);

  await t.test("first-run setup lands on the dashboard", async () => {
    await page.goto("/");
    await page.waitForURL("**/setup");
    await page.getByRole("heading", { name: "Welcome to Dockyard" }).waitFor();
    await screenshot(page, "10-setup");
    // Client-side checks first: nothing filled in.
    await page.getByRole("button", { name: "Create account" }).click();
    await page.getByText("Enter your name.").waitFor();
    await page.getByLabel("Your name").fill(admin.name);
    await page.getByLabel("E-mail").fill(admin.email);
    await page.getByLabel("Password", { exact: true }).fill(admin.password);
    await page.getByLabel("Confirm password").fill(admin.password);
    await page.getByLabel("Setup token").fill(server.setupToken);
    await page.getByRole("button", { name: "Create account" }).click();
    await page.waitForURL((url) => url.pathname === "/");
    await page.getByRole("heading", { name: "Default", level: 1 }).waitFor();
    await page.getByRole("heading", { name: "No projects yet" }).waitFor();
    await screenshot(page, "10-dashboard-empty");
  });

  await t.test("log out, a wrong password shows an inline error, log in again", async () => {
    await page.getByRole("button", { name: `User menu for ${admin.name}` }).click();
    await page.getByRole("menuitem", { name: "Log out" }).click();
    await page.waitForURL("**/login");
    await page.getByRole("heading", { name: "Log in to Dockyard" }).waitFor();
    await page.getByLabel("E-mail").fill(admin.email);
    await page.getByLabel("Password").fill("not the right password");
    const before = problems.length;
    await page.getByRole("button", { name: "Log in" }).click();
    const alert = page.getByRole("alert");
    await alert.waitFor();
    assert.match(await alert.innerText(), /Wrong e-mail or password/);
    // Chromium logs every 4xx response as "Failed to load resource"; the 401 of this
    // deliberate wrong password is expected, so exactly that one entry is dropped.
    const logged = problems.splice(before);
    assert.deepEqual(
      logged.filter((problem) => !/Failed to load resource: the server responded with a status of 401/.test(problem)),
      [],
    );
    assert.ok(logged.length <= 1, `unexpected console output: ${logged.join("\n")}`);
    await screenshot(page, "10-login");
    await page.getByLabel("Password").fill(admin.password);
    await page.getByRole("button", { name: "Log in" }).click();
    await page.waitForURL((url) => url.pathname === "/");
    await page.getByRole("heading", { name: "Default", level: 1 }).waitFor();
  });

  await t.test("create a project and see it listed", async () => {
    await page.getByRole("button", { name: "New project" }).first().click();
    const dialog = page.getByRole("dialog", { name: "New project in Default" });
    await dialog.waitFor();
    await dialog.getByLabel("Name").fill("hello-world");
    await dialog.getByLabel("Description").fill("A first project");
    await dialog.getByRole("button", { name: "Create project" }).click();
    await dialog.waitFor({ state: "detached" });
    await page.getByRole("link", { name: "hello-world" }).waitFor();
    assert.equal(await page.getByRole("list", { name: "Projects in Default" }).getByRole("listitem").count(), 1);
  });

  let importedId = "";
  await t.test("import a .tar.gz and watch the progress bar reach done", async () => {
    await page.getByRole("button", { name: "Import project" }).click();
    const dialog = page.getByRole("dialog", { name: "Import a project into Default" });
    await dialog.waitFor();
    await dialog.getByLabel("Archive", { exact: true }).setInputFiles(archive);
    assert.equal(await dialog.getByLabel("Project name").inputValue(), "sample-app");
    await dialog.getByRole("button", { name: "Import", exact: true }).click();
    const bar = dialog.getByRole("progressbar", { name: "Import progress" });
    await bar.waitFor();
    await dialog.locator('[role="progressbar"][aria-valuenow="100"]').waitFor();
    assert.match(await bar.getAttribute("aria-valuetext"), /Imported \d+ items/);
    await screenshot(page, "10-import-done");
    await dialog.getByRole("button", { name: "Close" }).first().click();
    await dialog.waitFor({ state: "detached" });
    const link = page.getByRole("link", { name: "sample-app" });
    await link.waitFor();
    importedId = decodeURIComponent((await link.getAttribute("href")).replace("/p/", ""));
    // The files are really there.
    const tree = await fetch(`${server.base}/api/v1/projects/${importedId}/tree?path=src/lib`, {
      headers: { cookie: await cookieHeader(context) },
    });
    assert.equal(tree.status, 200);
    assert.match(await tree.text(), /util\.js/);
  });

  await t.test("a broken archive fails inline with the job's error", async () => {
    const broken = join(tmpdir(), `broken-${process.pid}.tar.gz`);
    writeFileSync(broken, "this is not an archive\n");
    t.after(() => rmSync(broken, { force: true }));
    await page.getByRole("button", { name: "Import project" }).click();
    const dialog = page.getByRole("dialog", { name: "Import a project into Default" });
    await dialog.getByLabel("Archive", { exact: true }).setInputFiles(broken);
    await dialog.getByLabel("Project name").fill("broken-import");
    await dialog.getByRole("button", { name: "Import", exact: true }).click();
    const alert = dialog.getByRole("alert");
    await alert.waitFor();
    assert.match(await alert.innerText(), /The import failed\./);
    await screenshot(page, "10-import-failed");
    await dialog.getByRole("button", { name: "Close" }).first().click();
    await dialog.waitFor({ state: "detached" });
    // The failed import's project is deleted again.
    await page.getByRole("link", { name: "broken-import" }).waitFor({ state: "detached" });
  });

  await t.test("export links download the project", async () => {
    await page.getByRole("button", { name: "Export sample-app" }).click();
    const menu = page.getByRole("menu");
    await menu.waitFor();
    assert.equal(await menu.getByRole("menuitem").count(), 4);
    const href = await menu.getByRole("menuitem", { name: /Tarball/ }).getAttribute("href");
    assert.match(href, /format=tar\.gz/);
    const response = await fetch(`${server.base}${href}`, { headers: { cookie: await cookieHeader(context) } });
    assert.equal(response.status, 200);
    assert.ok((await response.arrayBuffer()).byteLength > 0);
    await page.keyboard.press("Escape");
    await menu.waitFor({ state: "detached" });
    await screenshot(page, "10-dashboard");
  });

  await t.test("delete asks first, naming the project", async () => {
    await page.getByRole("button", { name: "Delete hello-world" }).click();
    const confirm = page.getByRole("alertdialog", { name: "Delete hello-world?" });
    await confirm.waitFor();
    await confirm.getByRole("button", { name: "Delete project" }).click();
    await confirm.waitFor({ state: "detached" });
    await page.getByRole("link", { name: "hello-world" }).waitFor({ state: "detached" });
    await page.getByRole("link", { name: "sample-app" }).waitFor();
  });

  await t.test("edit a project's description", async () => {
    await page.getByRole("button", { name: "Edit sample-app" }).click();
    const dialog = page.getByRole("dialog", { name: "Edit sample-app" });
    assert.equal(await dialog.getByLabel("Name").inputValue(), "sample-app");
    await dialog.getByLabel("Description").fill("Imported from a tarball");
    await dialog.getByRole("button", { name: "Save" }).click();
    await dialog.waitFor({ state: "detached" });
    await page.getByText("Imported from a tarball").waitFor();
  });

  await t.test("dialogs and menus work from the keyboard", async () => {
    const newProject = page.getByRole("button", { name: "New project" }).first();
    await newProject.focus();
    await page.keyboard.press("Enter");
    const dialog = page.getByRole("dialog", { name: "New project in Default" });
    await dialog.waitFor();
    // Focus starts in the first field and stays inside the dialog.
    assert.equal(await page.evaluate(() => document.activeElement?.getAttribute("name")), "name");
    for (let step = 0; step < 8; step += 1) {
      await page.keyboard.press("Tab");
      assert.ok(await dialog.evaluate((element) => element.contains(document.activeElement)), "focus left the dialog");
    }
    await page.keyboard.press("Escape");
    await dialog.waitFor({ state: "detached" });
    assert.equal(await page.evaluate(() => document.activeElement?.textContent), "New project");
    // The user menu: ArrowDown opens it on the first item, Escape closes it.
    const userMenu = page.getByRole("button", { name: `User menu for ${admin.name}` });
    await userMenu.focus();
    await page.keyboard.press("ArrowDown");
    await page.getByRole("menu").waitFor();
    assert.equal(await page.evaluate(() => document.activeElement?.getAttribute("role")), "menuitem");
    await page.keyboard.press("Escape");
    await page.getByRole("menu").waitFor({ state: "detached" });
    assert.equal(await userMenu.getAttribute("aria-expanded"), "false");
  });

  await t.test("the screens follow the light theme", async () => {
    await page.evaluate(() => (document.documentElement.dataset.theme = "light"));
    await screenshot(page, "10-dashboard-light");
    await page.evaluate(() => (document.documentElement.dataset.theme = "dark"));
  });

  await t.test("the dashboard stays usable on a phone", async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    await page.getByRole("link", { name: "sample-app" }).waitFor();
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(width <= 390, `the page scrolls sideways (${width}px wide)`);
    await screenshot(page, "10-dashboard-phone");
    await page.setViewportSize({ width: 1280, height: 720 });
  });

  await t.test("an API token is shown once, with a copy button", async () => {
    await page.getByRole("button", { name: `User menu for ${admin.name}` }).click();
    await page.getByRole("menuitem", { name: "Account settings" }).click();
    await page.waitForURL("**/account");
    await page.getByRole("heading", { name: "Account", level: 1 }).waitFor();
    await page.getByRole("button", { name: "New token" }).click();
    const dialog = page.getByRole("dialog", { name: "New API token" });
    await dialog.getByLabel("Name").fill("ci");
    await dialog.getByLabel(/^Write/).check();
    await dialog.getByRole("button", { name: "Create token" }).click();
    const created = page.getByRole("dialog", { name: "Token ci created" });
    await created.waitFor();
    const secret = await created.getByLabel("New API token").inputValue();
    assert.ok(secret.length > 20);
    await created.getByText("You won't see this again").waitFor();
    await created.getByRole("button", { name: "Copy" }).waitFor();
    await screenshot(page, "10-account-token");
    const me = await fetch(`${server.base}/api/v1/me`, { headers: { authorization: `Bearer ${secret}` } });
    assert.equal(me.status, 200);
    await created.getByRole("button", { name: "Done" }).click();
    await created.waitFor({ state: "detached" });
    await page.getByRole("cell", { name: /^ci/ }).waitFor();
    await page.getByText("this session").waitFor();
    await page.evaluate(() => window.scrollTo(0, 0));
    await screenshot(page, "10-account");
  });

  await t.test("the theme chosen on the account page is stored and applied", async () => {
    await page.getByRole("radio", { name: "High contrast" }).check();
    await page.waitForFunction(() => document.documentElement.dataset.theme === "high-contrast");
    await screenshot(page, "10-account-high-contrast");
    await page.reload();
    await page.getByRole("heading", { name: "Account", level: 1 }).waitFor();
    assert.equal(await page.getByRole("radio", { name: "High contrast" }).isChecked(), true);
    assert.equal(await page.evaluate(() => document.documentElement.dataset.theme), "high-contrast");
    await page.getByRole("radio", { name: "Dark" }).check();
    await page.waitForFunction(() => document.documentElement.dataset.theme === "dark");
  });

  await t.test("revoke a token and sign out other sessions", async () => {
    await page.getByRole("button", { name: "Revoke ci" }).click();
    const confirm = page.getByRole("alertdialog", { name: "Revoke ci?" });
    await confirm.getByRole("button", { name: "Revoke token" }).click();
    await confirm.waitFor({ state: "detached" });
    await page.getByRole("button", { name: "Revoke ci" }).waitFor({ state: "detached" });
    // A second session (another device), then sign it out from here.
    const login = await fetch(`${server.base}/api/v1/auth/login`, {
      method: "POST",
      headers: { "content-type": "application/json", origin: server.base, "user-agent": "curl/8.5.0" },
      body: JSON.stringify({ email: admin.email, password: admin.password }),
    });
    assert.equal(login.status, 200);
    const other = login.headers.getSetCookie().map((header) => header.split(";")[0]).join("; ");
    await page.reload();
    const sessions = page.getByRole("table", { name: "Your sessions" });
    await sessions.getByRole("cell", { name: /^curl/ }).waitFor();
    await page.getByRole("button", { name: "Sign out other sessions" }).click();
    const ask = page.getByRole("alertdialog", { name: "Sign out every other session?" });
    await ask.getByRole("button", { name: "Sign out" }).click();
    await ask.waitFor({ state: "detached" });
    await sessions.getByRole("cell", { name: /^curl/ }).waitFor({ state: "detached" });
    const gone = await fetch(`${server.base}/api/v1/me`, { headers: { cookie: other } });
    assert.equal(gone.status, 401);
  });

  await t.test("create an organization from the org switcher", async () => {
    await page.getByRole("button", { name: "Switch organization" }).click();
    await page.getByRole("menuitem", { name: "New organization…" }).click();
    const dialog = page.getByRole("dialog", { name: "New organization" });
    await dialog.getByLabel("Name").fill("Acme Labs");
    await dialog.getByRole("button", { name: "Create organization" }).click();
    await dialog.waitFor({ state: "detached" });
    await page.waitForURL("**/?org=acme-labs");
    await page.getByRole("heading", { name: "Acme Labs", level: 1 }).waitFor();
    await page.getByRole("heading", { name: "No projects yet" }).waitFor();
    await screenshot(page, "10-dashboard-new-org");
    await page.getByRole("link", { name: /^Default/ }).click();
    await page.getByRole("heading", { name: "Default", level: 1 }).waitFor();
  });

  await t.test("org admin shows members and the audit log", async () => {
    await page.getByRole("link", { name: "Projects" }).first().click();
    await page.getByRole("link", { name: "Members and audit log" }).click();
    await page.waitForURL("**/orgs/default");
    await page.getByRole("heading", { name: "Audit log" }).waitFor();
    const audit = page.getByRole("table", { name: "Audit log of Default" });
    await audit.waitFor();
    for (const action of ["org.created", "project.created", "project.imported", "project.deleted"]) {
      await audit.getByRole("cell", { name: action, exact: true }).first().waitFor();
    }
    const members = page.getByRole("table", { name: "Members of Default" });
    await members.getByRole("cell", { name: new RegExp(admin.email) }).waitFor();
    await page.getByRole("heading", { name: "Members" }).evaluate((element) => element.scrollIntoView({ block: "start" }));
    await screenshot(page, "10-org-admin");
    await page.getByLabel("Action").selectOption("project.created");
    await audit.getByRole("cell", { name: "org.created", exact: true }).waitFor({ state: "detached" });
    const actions = await audit.locator("tbody tr td:nth-child(2)").allInnerTexts();
    assert.ok(actions.length >= 1);
    assert.deepEqual([...new Set(actions)], ["project.created"]);
  });

  await t.test("a viewer is offered only what a viewer may do", async () => {
    const viewer = { email: "vera@example.com", name: "Vera Viewer", password: "viewer password 123" };
    const created = await fetch(`${server.base}/api/v1/admin/users`, {
      method: "POST",
      headers: { "content-type": "application/json", origin: server.base, cookie: await cookieHeader(context) },
      body: JSON.stringify(viewer),
    });
    assert.equal(created.status, 201);
    // The admin adds her through the members form.
    await page.getByLabel("Add a member by e-mail").fill(viewer.email);
    await page.getByLabel("Role", { exact: true }).selectOption("viewer");
    await page.getByRole("button", { name: "Add member" }).click();
    const members = page.getByRole("table", { name: "Members of Default" });
    await members.getByRole("cell", { name: new RegExp(viewer.email) }).waitFor();
    assert.equal(await page.getByRole("combobox", { name: `Role of ${viewer.name}` }).inputValue(), "viewer");

    // She logs in on a phone.
    const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, baseURL: server.base });
    t.after(() => phone.close());
    const vpage = await phone.newPage();
    vpage.setDefaultTimeout(15_000);
    const viewerProblems = [];
    vpage.on("console", (message) => {
      if (message.type() === "error") viewerProblems.push(`viewer console error: ${message.text()}`);
    });
    vpage.on("pageerror", (error) => viewerProblems.push(`viewer page error: ${error.message}`));
    await vpage.goto("/");
    await vpage.waitForURL("**/login");
    await vpage.getByRole("heading", { name: "Log in to Dockyard" }).waitFor();
    // A signed-out page load asks GET /api/v1/me, which answers 401 (the session
    // cookie is HttpOnly, so nothing else can tell); Chromium logs that response.
    // Exactly that one entry is expected here.
    const anonymous = viewerProblems.splice(0);
    assert.ok(
      anonymous.length <= 1 && anonymous.every((line) => /status of 401/.test(line)),
      `unexpected console output: ${anonymous.join("\n")}`,
    );
    await vpage.getByLabel("E-mail").fill(viewer.email);
    await vpage.getByLabel("Password").fill(viewer.password);
    await vpage.getByRole("button", { name: "Log in" }).click();
    await vpage.getByRole("heading", { name: "Default", level: 1 }).waitFor();
    await vpage.getByRole("link", { name: "sample-app" }).waitFor();
    assert.equal(await vpage.getByRole("button", { name: "New project" }).count(), 0);
    assert.equal(await vpage.getByRole("button", { name: "Import project" }).count(), 0);
    assert.equal(await vpage.getByRole("button", { name: "Delete sample-app" }).count(), 0);
    await vpage.getByRole("button", { name: "Export sample-app" }).waitFor();
    await vpage.getByRole("link", { name: "Members and audit log" }).click();
    await vpage.getByText("Only admins and owners can read the audit log.").waitFor();
    assert.equal(await vpage.getByRole("button", { name: "Add member" }).count(), 0);
    assert.equal(await vpage.getByRole("combobox", { name: /^Role of/ }).count(), 0);
    await vpage.getByRole("button", { name: `Leave Default` }).waitFor();
    const width = await vpage.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(width <= 390, `the org page scrolls sideways (${width}px wide)`);
    await screenshot(vpage, "10-org-admin-viewer-phone");
    assert.deepEqual(viewerProblems, []);
  });

  assert.deepEqual(problems, []);
});
