// The app loads: a fresh instance sends the browser to first-run setup, and the page
// loads with no console errors.
import assert from "node:assert/strict";
import { test } from "node:test";

import { launchBrowser, requireAll, screenshot, startDockyard } from "../harness.mjs";

test("a fresh instance opens on the setup screen without console errors", async (t) => {
  if (!requireAll(t)) return;
  const server = await startDockyard();
  t.after(() => server.stop());
  const { browser, page, problems } = await launchBrowser(server);
  t.after(() => browser.close());

  await page.goto("/");
  await page.waitForURL("**/setup");
  assert.match(await page.title(), /Dockyard/);
  await screenshot(page, "00-setup");
  assert.deepEqual(problems, []);
});
