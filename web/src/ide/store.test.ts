import { beforeEach, describe, expect, it, vi } from "vitest";

import { activeTab, parseLayout, useIde } from "./store";

const ide = () => useIde.getState();
const group = (i = 0) => ide().groups[i]!;
const paths = (i = 0) => group(i).tabs.map((t) => t.path);

beforeEach(() => {
  ide().reset("p1");
});

describe("tabs", () => {
  it("opens, focuses and does not duplicate", () => {
    ide().openFile("a.ts");
    ide().openFile("b.ts");
    ide().openFile("a.ts", { line: 3, column: 2 });
    expect(paths()).toEqual(["a.ts", "b.ts"]);
    expect(activeTab(ide())?.path).toBe("a.ts");
    expect(ide().reveal).toMatchObject({ path: "a.ts", line: 3, column: 2 });
  });

  it("inserts after the active tab", () => {
    ide().openFile("a");
    ide().openFile("b");
    ide().activateTab(group().id, "a");
    ide().openFile("c");
    expect(paths()).toEqual(["a", "c", "b"]);
  });

  it("replaces a preview tab with the next preview, keeps pinned ones", () => {
    ide().openTab("a", { preview: true });
    ide().openTab("b", { preview: true });
    expect(paths()).toEqual(["b"]);
    ide().pinTab(group().id, "b");
    ide().openTab("c", { preview: true });
    expect(paths()).toEqual(["b", "c"]);
    ide().openFile("c");
    expect(group().tabs[1]!.preview).toBe(false);
  });

  it("closes and activates the neighbour", () => {
    ide().openFile("a");
    ide().openFile("b");
    ide().openFile("c");
    ide().activateTab(group().id, "b");
    ide().closeTab(group().id, "b");
    expect(paths()).toEqual(["a", "c"]);
    expect(activeTab(ide())?.path).toBe("c");
    ide().closeTab(group().id, "c");
    expect(activeTab(ide())?.path).toBe("a");
    ide().closeTab(group().id, "a");
    expect(activeTab(ide())).toBeNull();
  });

  it("closes others", () => {
    ["a", "b", "c", "d"].forEach((p) => ide().openFile(p));
    ide().closeOthers(group().id, "b");
    expect(paths()).toEqual(["b"]);
    expect(activeTab(ide())?.path).toBe("b");
    expect(ide().closedTabs.map((c) => c.tab.path)).toEqual(["a", "c", "d"]);
  });

  it("reorders", () => {
    ["a", "b", "c"].forEach((p) => ide().openFile(p));
    ide().moveTab(group().id, "c", 0);
    expect(paths()).toEqual(["c", "a", "b"]);
    ide().moveTab(group().id, "c", 99);
    expect(paths()).toEqual(["a", "b", "c"]);
  });

  it("reopens closed tabs in reverse order at their position", () => {
    ["a", "b", "c"].forEach((p) => ide().openFile(p));
    ide().closeTab(group().id, "b");
    ide().closeTab(group().id, "a");
    ide().reopenClosed();
    expect(paths()).toEqual(["a", "c"]);
    ide().reopenClosed();
    expect(paths()).toEqual(["a", "b", "c"]);
    expect(activeTab(ide())?.path).toBe("b");
    ide().reopenClosed(); // nothing left
    expect(paths()).toEqual(["a", "b", "c"]);
  });

  it("diff tabs are separate from file tabs", () => {
    ide().openFile("a");
    ide().openGitDiff("a", false);
    ide().openGitDiff("a", true);
    expect(group().tabs.map((t) => t.id)).toEqual(["a", "diff:work:a", "diff:staged:a"]);
  });
});

describe("groups", () => {
  it("splits right with the active tab and moves tabs between groups", () => {
    ide().openFile("a");
    ide().openFile("b");
    ide().splitRight();
    expect(ide().groups).toHaveLength(2);
    expect(paths(1)).toEqual(["b"]);
    expect(ide().activeGroupId).toBe(group(1).id);
    // Opening goes to the active group.
    ide().openFile("c");
    expect(paths(1)).toEqual(["b", "c"]);
    ide().moveTabToGroup(group(0).id, "a", group(1).id, 0);
    expect(paths(0)).toEqual(["b"]);
    expect(paths(1)).toEqual(["a", "b", "c"]);
    // Moving the last tab out removes the group.
    ide().moveTabToGroup(group(0).id, "b", group(1).id);
    expect(ide().groups).toHaveLength(1);
    expect(paths()).toEqual(["a", "b", "c"]);
  });

  it("closing the last tab of a split group closes the group", () => {
    ide().openFile("a");
    ide().splitRight();
    ide().closeTab(group(1).id, "a");
    expect(ide().groups).toHaveLength(1);
    expect(ide().activeGroupId).toBe(group(0).id);
  });
});

describe("dirty tracking", () => {
  it("tracks per path and pins previews", () => {
    ide().openTab("a", { preview: true });
    ide().setDirty("a", true);
    expect(ide().dirty).toEqual({ a: true });
    expect(group().tabs[0]!.preview).toBe(false);
    ide().openTab("b", { preview: true });
    expect(paths()).toEqual(["a", "b"]);
    ide().setDirty("a", false);
    expect(ide().dirty).toEqual({});
  });

  it("follows renames of files and folders", () => {
    ide().openFile("src/a.ts");
    ide().setDirty("src/a.ts", true);
    ide().renamePath("src", "lib");
    expect(paths()).toEqual(["lib/a.ts"]);
    expect(activeTab(ide())?.id).toBe("lib/a.ts");
    expect(ide().dirty).toEqual({ "lib/a.ts": true });
    ide().removePath("lib");
    expect(paths()).toEqual([]);
  });
});

describe("the rest of the shell", () => {
  it("filesChanged bumps the version", () => {
    const before = ide().filesVersion;
    ide().filesChanged(["x"]);
    expect(ide().filesVersion).toBe(before + 1);
    expect(ide().changedPaths).toEqual(["x"]);
    ide().filesChanged();
    expect(ide().changedPaths).toBeNull();
  });

  it("sidebar toggles when the active view is clicked again", () => {
    ide().setSidebarView("search");
    expect(ide().sidebarView).toBe("search");
    ide().setSidebarView("search");
    expect(ide().sidebarCollapsed).toBe(true);
    ide().setSidebarView("search");
    expect(ide().sidebarCollapsed).toBe(false);
    ide().setSidebarWidth(10);
    expect(ide().sidebarWidth).toBe(170);
  });

  it("registers and runs commands", () => {
    const run = vi.fn();
    const undo = ide().registerCommand({ id: "x.run", title: "Run", run });
    expect(ide().runCommand("x.run")).toBe(true);
    expect(run).toHaveBeenCalledOnce();
    undo();
    expect(ide().runCommand("x.run")).toBe(false);
  });

  it("round-trips the layout", () => {
    ide().openFile("a");
    ide().openFile("b");
    ide().splitRight();
    ide().openGitDiff("c", true);
    ide().setSidebarWidth(300);
    ide().togglePanel(true);
    const saved = JSON.parse(JSON.stringify(ide().layout()));
    ide().reset("p1");
    ide().applyLayout(saved);
    expect(ide().groups).toHaveLength(2);
    expect(paths(0)).toEqual(["a", "b"]);
    expect(group(1).tabs.map((t) => t.id)).toEqual(["b", "diff:staged:c"]);
    expect(activeTab(ide())?.id).toBe("diff:staged:c");
    expect(ide().sidebarWidth).toBe(300);
    expect(ide().panelOpen).toBe(true);
    expect(parseLayout({ nonsense: true })).toBeNull();
    expect(parseLayout(null)).toBeNull();
  });

  it("remembers the Deploy view as the sidebar's view", () => {
    ide().setSidebarView("deploy");
    const saved = JSON.parse(JSON.stringify(ide().layout()));
    ide().reset("p1");
    expect(ide().sidebarView).toBe("explorer");
    ide().applyLayout(saved);
    expect(ide().sidebarView).toBe("deploy");
  });

  it("remembers the Agents view as the sidebar's view", () => {
    ide().setSidebarView("agents");
    const saved = JSON.parse(JSON.stringify(ide().layout()));
    ide().reset("p1");
    expect(ide().sidebarView).toBe("explorer");
    ide().applyLayout(saved);
    expect(ide().sidebarView).toBe("agents");
  });

  it("remembers the Assistant view as the sidebar's view", () => {
    ide().setSidebarView("assistant");
    const saved = JSON.parse(JSON.stringify(ide().layout()));
    ide().reset("p1");
    expect(ide().sidebarView).toBe("explorer");
    ide().applyLayout(saved);
    expect(ide().sidebarView).toBe("assistant");
  });
});
