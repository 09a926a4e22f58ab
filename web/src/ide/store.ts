// The IDE shell's state (zustand). It implements `IdeActions` from ./contract.ts, so the
// views (search, git, terminals) call `useIde.getState().openFile(…)` and never reach into
// the shell. Everything else here is the shell's own state: editor groups with their
// tabs, the sidebar and bottom panel, the status bar and the command registry.
import { create } from "zustand";

import type { Command, IdeActions, OpenFileOptions, SidebarView } from "./contract";

export type TabKind = "file" | "diff";

export interface Tab {
  /** Unique within a group: the path for a file, `diff:<staged|work>:<path>` for a diff. */
  id: string;
  kind: TabKind;
  path: string;
  /** Diff tabs: HEAD vs index when true, index vs working tree otherwise. */
  staged?: boolean;
  /** A preview tab (opened by a single click) is replaced by the next preview. */
  preview: boolean;
}

export interface EditorGroup {
  id: string;
  tabs: Tab[];
  activeTabId: string | null;
}

export interface ClosedTab {
  groupId: string;
  tab: Tab;
  index: number;
}

/** A request for the editor to reveal a position; `nonce` changes with every request. */
export interface RevealRequest extends OpenFileOptions {
  path: string;
  groupId: string;
  nonce: number;
}

export type ConnectionState = "online" | "offline" | "reconnecting";
export type Eol = "LF" | "CRLF";

export interface CursorInfo {
  line: number;
  column: number;
  selected: number;
}

export interface IdeState extends IdeActions {
  projectId: string | null;
  groups: EditorGroup[];
  activeGroupId: string;
  /** Paths whose buffer differs from the saved file (models are shared across groups). */
  dirty: Record<string, boolean>;
  closedTabs: ClosedTab[];
  sidebarView: SidebarView;
  sidebarWidth: number;
  sidebarCollapsed: boolean;
  panelOpen: boolean;
  panelHeight: number;
  panelTab: string;
  cursor: CursorInfo | null;
  language: string | null;
  eol: Eol | null;
  encoding: string;
  connection: ConnectionState;
  reveal: RevealRequest | null;
  /** Bumped by `filesChanged`; `changedPaths` is null when everything may have changed. */
  filesVersion: number;
  changedPaths: string[] | null;
  commands: Record<string, Command>;
  paletteMode: null | "commands" | "files";
  paletteNonce: number;
  /** The explorer expands to and focuses this path (breadcrumbs, "Reveal in Explorer"). */
  explorerReveal: { path: string; nonce: number } | null;

  reset(projectId: string | null): void;
  openTab(path: string, options?: OpenFileOptions & { preview?: boolean; groupId?: string }): void;
  closeTab(groupId: string, tabId: string): void;
  closeOthers(groupId: string, tabId: string): void;
  closeAll(groupId: string): void;
  activateTab(groupId: string, tabId: string): void;
  pinTab(groupId: string, tabId: string): void;
  moveTab(groupId: string, tabId: string, toIndex: number): void;
  moveTabToGroup(fromGroupId: string, tabId: string, toGroupId: string, toIndex?: number): void;
  reopenClosed(): void;
  splitRight(groupId?: string): void;
  closeGroup(groupId: string): void;
  focusGroup(groupId: string): void;
  setDirty(path: string, dirty: boolean): void;
  renamePath(from: string, to: string): void;
  removePath(path: string): void;
  setSidebarView(view: SidebarView): void;
  toggleSidebar(collapsed?: boolean): void;
  setSidebarWidth(width: number): void;
  togglePanel(open?: boolean): void;
  setPanelHeight(height: number): void;
  setPanelTab(tab: string): void;
  setCursor(cursor: CursorInfo | null): void;
  setEditorInfo(info: { language?: string | null; eol?: Eol | null; encoding?: string }): void;
  setConnection(state: ConnectionState): void;
  registerCommand(command: Command): () => void;
  registerCommands(commands: Command[]): () => void;
  runCommand(id: string): boolean;
  openPalette(mode: IdeState["paletteMode"]): void;
  closePalette(): void;
  revealInExplorer(path: string): void;
  /** The layout to persist (tabs per group, active tab, sidebar, panel). */
  layout(): SavedLayout;
  applyLayout(layout: unknown): void;
}

/** The per-project layout saved on the server (`PUT /api/v1/me/layouts/{project}`). */
export interface SavedLayout {
  version: 1;
  groups: { tabs: { kind: TabKind; path: string; staged?: boolean }[]; active: number }[];
  activeGroup: number;
  sidebar: { view: SidebarView; width: number; collapsed: boolean };
  panel: { open: boolean; height: number; tab: string };
}

export const MIN_SIDEBAR = 170;
export const MAX_SIDEBAR = 800;
export const MIN_PANEL = 80;
const MAX_CLOSED = 30;
const MAX_GROUPS = 4;

let groupCounter = 0;
const newGroupId = () => `g${++groupCounter}`;
let nonceCounter = 0;

export function tabIdFor(kind: TabKind, path: string, staged?: boolean): string {
  return kind === "file" ? path : `diff:${staged ? "staged" : "work"}:${path}`;
}

function initialState() {
  const group: EditorGroup = { id: newGroupId(), tabs: [], activeTabId: null };
  return {
    projectId: null as string | null,
    groups: [group],
    activeGroupId: group.id,
    dirty: {} as Record<string, boolean>,
    closedTabs: [] as ClosedTab[],
    sidebarView: "explorer" as SidebarView,
    sidebarWidth: 260,
    sidebarCollapsed: false,
    panelOpen: false,
    panelHeight: 240,
    panelTab: "terminal",
    cursor: null as CursorInfo | null,
    language: null as string | null,
    eol: null as Eol | null,
    encoding: "UTF-8",
    connection: "online" as ConnectionState,
    reveal: null as RevealRequest | null,
    filesVersion: 0,
    changedPaths: null as string[] | null,
    paletteMode: null as IdeState["paletteMode"],
    paletteNonce: 0,
    explorerReveal: null as IdeState["explorerReveal"],
  };
}

function clamp(value: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, value));
}

function updateGroup(groups: EditorGroup[], id: string, update: (group: EditorGroup) => EditorGroup): EditorGroup[] {
  return groups.map((group) => (group.id === id ? update(group) : group));
}

/** After removing the tab at `index`, the neighbour that becomes active. */
function neighbour(tabs: Tab[], index: number): string | null {
  if (tabs.length === 0) return null;
  return (tabs[Math.min(index, tabs.length - 1)] ?? tabs[0])!.id;
}

export const useIde = create<IdeState>()((set, get) => {
  /** Inserts or focuses a tab in a group. */
  function placeTab(groupId: string, tab: Tab): void {
    set((state) => ({
      groups: updateGroup(state.groups, groupId, (group) => {
        const existing = group.tabs.find((t) => t.id === tab.id);
        if (existing) {
          const tabs = tab.preview ? group.tabs : group.tabs.map((t) => (t.id === tab.id ? { ...t, preview: false } : t));
          return { ...group, tabs, activeTabId: tab.id };
        }
        const tabs = [...group.tabs];
        const activeIndex = tabs.findIndex((t) => t.id === group.activeTabId);
        // A new preview replaces the group's existing preview tab (unless it is dirty).
        const previewIndex = tab.preview ? tabs.findIndex((t) => t.preview && !get().dirty[t.path]) : -1;
        if (previewIndex >= 0) tabs.splice(previewIndex, 1, tab);
        else tabs.splice(activeIndex >= 0 ? activeIndex + 1 : tabs.length, 0, tab);
        return { ...group, tabs, activeTabId: tab.id };
      }),
      activeGroupId: groupId,
    }));
  }

  return {
    ...initialState(),
    commands: {},

    reset(projectId) {
      set({ ...initialState(), projectId });
    },

    openFile(path, options) {
      get().openTab(path, { ...options, preview: false });
    },

    openTab(path, options = {}) {
      const state = get();
      const groupId = options.groupId && state.groups.some((g) => g.id === options.groupId) ? options.groupId : state.activeGroupId;
      placeTab(groupId, { id: tabIdFor("file", path), kind: "file", path, preview: options.preview ?? false });
      set({
        reveal: { path, groupId, line: options.line, column: options.column, length: options.length, nonce: ++nonceCounter },
      });
    },

    openGitDiff(path, staged) {
      const groupId = get().activeGroupId;
      placeTab(groupId, { id: tabIdFor("diff", path, staged), kind: "diff", path, staged, preview: false });
    },

    filesChanged(paths) {
      set((state) => ({ filesVersion: state.filesVersion + 1, changedPaths: paths ?? null }));
    },

    closeTab(groupId, tabId) {
      set((state) => {
        const group = state.groups.find((g) => g.id === groupId);
        if (!group) return {};
        const index = group.tabs.findIndex((t) => t.id === tabId);
        if (index < 0) return {};
        const tab = group.tabs[index]!;
        const tabs = group.tabs.filter((t) => t.id !== tabId);
        const activeTabId = group.activeTabId === tabId ? neighbour(tabs, index) : group.activeTabId;
        let groups = updateGroup(state.groups, groupId, (g) => ({ ...g, tabs, activeTabId }));
        let activeGroupId = state.activeGroupId;
        // An empty group beside others closes itself, like VS Code.
        if (tabs.length === 0 && groups.length > 1) {
          const at = groups.findIndex((g) => g.id === groupId);
          groups = groups.filter((g) => g.id !== groupId);
          if (activeGroupId === groupId) activeGroupId = groups[Math.max(0, at - 1)]!.id;
        }
        const closedTabs = [...state.closedTabs, { groupId, tab: { ...tab, preview: false }, index }].slice(-MAX_CLOSED);
        return { groups, activeGroupId, closedTabs };
      });
    },

    closeOthers(groupId, tabId) {
      set((state) => {
        const group = state.groups.find((g) => g.id === groupId);
        if (!group) return {};
        const closed = group.tabs
          .map((tab, index) => ({ groupId, tab: { ...tab, preview: false }, index }))
          .filter((entry) => entry.tab.id !== tabId);
        const keep = group.tabs.filter((t) => t.id === tabId);
        return {
          groups: updateGroup(state.groups, groupId, (g) => ({ ...g, tabs: keep, activeTabId: keep[0]?.id ?? null })),
          closedTabs: [...state.closedTabs, ...closed].slice(-MAX_CLOSED),
        };
      });
    },

    closeAll(groupId) {
      const group = get().groups.find((g) => g.id === groupId);
      if (!group) return;
      for (const tab of [...group.tabs]) get().closeTab(groupId, tab.id);
    },

    activateTab(groupId, tabId) {
      set((state) => ({
        groups: updateGroup(state.groups, groupId, (g) => ({ ...g, activeTabId: tabId })),
        activeGroupId: groupId,
      }));
    },

    pinTab(groupId, tabId) {
      set((state) => ({
        groups: updateGroup(state.groups, groupId, (g) => ({
          ...g,
          tabs: g.tabs.map((t) => (t.id === tabId ? { ...t, preview: false } : t)),
        })),
      }));
    },

    moveTab(groupId, tabId, toIndex) {
      set((state) => ({
        groups: updateGroup(state.groups, groupId, (g) => {
          const from = g.tabs.findIndex((t) => t.id === tabId);
          if (from < 0) return g;
          const tabs = [...g.tabs];
          const [tab] = tabs.splice(from, 1);
          tabs.splice(clamp(toIndex, 0, tabs.length), 0, tab!);
          return { ...g, tabs };
        }),
      }));
    },

    moveTabToGroup(fromGroupId, tabId, toGroupId, toIndex) {
      if (fromGroupId === toGroupId) {
        if (toIndex !== undefined) get().moveTab(fromGroupId, tabId, toIndex);
        return;
      }
      set((state) => {
        const from = state.groups.find((g) => g.id === fromGroupId);
        const to = state.groups.find((g) => g.id === toGroupId);
        const tab = from?.tabs.find((t) => t.id === tabId);
        if (!from || !to || !tab) return {};
        const index = from.tabs.indexOf(tab);
        const fromTabs = from.tabs.filter((t) => t.id !== tabId);
        const already = to.tabs.findIndex((t) => t.id === tabId);
        const toTabs = to.tabs.filter((t) => t.id !== tabId);
        // Without a target index, a tab the target already shows keeps its place.
        const at = toIndex ?? (already >= 0 ? already : toTabs.length);
        toTabs.splice(clamp(at, 0, toTabs.length), 0, { ...tab, preview: false });
        let groups = state.groups.map((g) => {
          if (g.id === fromGroupId) {
            return { ...g, tabs: fromTabs, activeTabId: g.activeTabId === tabId ? neighbour(fromTabs, index) : g.activeTabId };
          }
          if (g.id === toGroupId) return { ...g, tabs: toTabs, activeTabId: tabId };
          return g;
        });
        if (fromTabs.length === 0) groups = groups.filter((g) => g.id !== fromGroupId);
        return { groups, activeGroupId: toGroupId };
      });
    },

    reopenClosed() {
      const state = get();
      const last = state.closedTabs[state.closedTabs.length - 1];
      if (!last) return;
      const groupId = state.groups.some((g) => g.id === last.groupId) ? last.groupId : state.activeGroupId;
      set((s) => ({
        closedTabs: s.closedTabs.slice(0, -1),
        activeGroupId: groupId,
        groups: updateGroup(s.groups, groupId, (g) => {
          if (g.tabs.some((t) => t.id === last.tab.id)) return { ...g, activeTabId: last.tab.id };
          const tabs = [...g.tabs];
          tabs.splice(clamp(last.index, 0, tabs.length), 0, last.tab);
          return { ...g, tabs, activeTabId: last.tab.id };
        }),
      }));
    },

    splitRight(groupId) {
      set((state) => {
        const sourceId = groupId ?? state.activeGroupId;
        const at = state.groups.findIndex((g) => g.id === sourceId);
        if (at < 0 || state.groups.length >= MAX_GROUPS) return {};
        const source = state.groups[at]!;
        const active = source.tabs.find((t) => t.id === source.activeTabId);
        const group: EditorGroup = {
          id: newGroupId(),
          tabs: active ? [{ ...active, preview: false }] : [],
          activeTabId: active?.id ?? null,
        };
        const groups = [...state.groups];
        groups.splice(at + 1, 0, group);
        return { groups, activeGroupId: group.id };
      });
    },

    closeGroup(groupId) {
      set((state) => {
        if (state.groups.length <= 1) return {};
        const at = state.groups.findIndex((g) => g.id === groupId);
        if (at < 0) return {};
        const groups = state.groups.filter((g) => g.id !== groupId);
        return {
          groups,
          activeGroupId: state.activeGroupId === groupId ? groups[Math.max(0, at - 1)]!.id : state.activeGroupId,
        };
      });
    },

    focusGroup(groupId) {
      if (get().groups.some((g) => g.id === groupId)) set({ activeGroupId: groupId });
    },

    setDirty(path, dirty) {
      if (!!get().dirty[path] === dirty) return;
      set((state) => {
        const next = { ...state.dirty };
        if (dirty) next[path] = true;
        else delete next[path];
        // Editing a preview tab pins it.
        const groups = dirty
          ? state.groups.map((g) => ({ ...g, tabs: g.tabs.map((t) => (t.path === path && t.kind === "file" ? { ...t, preview: false } : t)) }))
          : state.groups;
        return { dirty: next, groups };
      });
    },

    renamePath(from, to) {
      const rename = (path: string) =>
        path === from ? to : path.startsWith(`${from}/`) ? `${to}${path.slice(from.length)}` : path;
      set((state) => ({
        groups: state.groups.map((g) => {
          const tabs = g.tabs.map((t) => {
            const path = rename(t.path);
            return path === t.path ? t : { ...t, path, id: tabIdFor(t.kind, path, t.staged) };
          });
          const active = g.tabs.findIndex((t) => t.id === g.activeTabId);
          return { ...g, tabs, activeTabId: active >= 0 ? tabs[active]!.id : g.activeTabId };
        }),
        dirty: Object.fromEntries(Object.entries(state.dirty).map(([path, value]) => [rename(path), value])),
      }));
    },

    removePath(path) {
      const gone = (p: string) => p === path || p.startsWith(`${path}/`);
      for (const group of get().groups) {
        for (const tab of group.tabs) if (tab.kind === "file" && gone(tab.path)) get().closeTab(group.id, tab.id);
      }
    },

    setSidebarView(view) {
      const state = get();
      // Clicking the active view's icon toggles the sidebar, like VS Code.
      if (state.sidebarView === view && !state.sidebarCollapsed) set({ sidebarCollapsed: true });
      else set({ sidebarView: view, sidebarCollapsed: false });
    },

    toggleSidebar(collapsed) {
      set((state) => ({ sidebarCollapsed: collapsed ?? !state.sidebarCollapsed }));
    },

    setSidebarWidth(width) {
      set({ sidebarWidth: clamp(Math.round(width), MIN_SIDEBAR, MAX_SIDEBAR) });
    },

    togglePanel(open) {
      set((state) => ({ panelOpen: open ?? !state.panelOpen }));
    },

    setPanelHeight(height) {
      set({ panelHeight: Math.max(MIN_PANEL, Math.round(height)) });
    },

    setPanelTab(tab) {
      set({ panelTab: tab, panelOpen: true });
    },

    setCursor(cursor) {
      set({ cursor });
    },

    setEditorInfo(info) {
      set((state) => ({
        language: info.language !== undefined ? info.language : state.language,
        eol: info.eol !== undefined ? info.eol : state.eol,
        encoding: info.encoding ?? state.encoding,
      }));
    },

    setConnection(connection) {
      if (get().connection !== connection) set({ connection });
    },

    registerCommand(command) {
      set((state) => ({ commands: { ...state.commands, [command.id]: command } }));
      return () => {
        if (get().commands[command.id] !== command) return;
        set((state) => {
          const commands = { ...state.commands };
          delete commands[command.id];
          return { commands };
        });
      };
    },

    registerCommands(commands) {
      const undo = commands.map((command) => get().registerCommand(command));
      return () => undo.forEach((fn) => fn());
    },

    runCommand(id) {
      const command = get().commands[id];
      if (!command) return false;
      command.run();
      return true;
    },

    openPalette(mode) {
      set((state) => ({ paletteMode: mode, paletteNonce: state.paletteNonce + 1 }));
    },

    closePalette() {
      set({ paletteMode: null });
    },

    revealInExplorer(path) {
      set({ explorerReveal: { path, nonce: ++nonceCounter }, sidebarView: "explorer", sidebarCollapsed: false });
    },

    layout() {
      const state = get();
      return {
        version: 1,
        groups: state.groups.map((g) => ({
          tabs: g.tabs.map((t) => ({ kind: t.kind, path: t.path, ...(t.kind === "diff" ? { staged: !!t.staged } : {}) })),
          active: Math.max(0, g.tabs.findIndex((t) => t.id === g.activeTabId)),
        })),
        activeGroup: Math.max(0, state.groups.findIndex((g) => g.id === state.activeGroupId)),
        sidebar: { view: state.sidebarView, width: state.sidebarWidth, collapsed: state.sidebarCollapsed },
        panel: { open: state.panelOpen, height: state.panelHeight, tab: state.panelTab },
      };
    },

    applyLayout(raw) {
      const layout = parseLayout(raw);
      if (!layout) return;
      const groups: EditorGroup[] = layout.groups
        .slice(0, MAX_GROUPS)
        .map((g) => {
          const tabs: Tab[] = g.tabs.map((t) => ({
            id: tabIdFor(t.kind, t.path, t.staged),
            kind: t.kind,
            path: t.path,
            staged: t.kind === "diff" ? !!t.staged : undefined,
            preview: false,
          }));
          return { id: newGroupId(), tabs, activeTabId: tabs[g.active]?.id ?? tabs[0]?.id ?? null };
        })
        .filter((g, i) => g.tabs.length > 0 || i === 0);
      if (groups.length === 0) groups.push({ id: newGroupId(), tabs: [], activeTabId: null });
      set({
        groups,
        activeGroupId: (groups[layout.activeGroup] ?? groups[0])!.id,
        sidebarView: layout.sidebar.view,
        sidebarWidth: clamp(layout.sidebar.width, MIN_SIDEBAR, MAX_SIDEBAR),
        sidebarCollapsed: layout.sidebar.collapsed,
        panelOpen: layout.panel.open,
        panelHeight: Math.max(MIN_PANEL, layout.panel.height),
        panelTab: layout.panel.tab,
      });
    },
  };
});

const VIEWS: SidebarView[] = ["explorer", "search", "git", "settings", "deploy", "agents", "assistant"];

/** Validates a layout read from the server (it is opaque there, so anything may come back). */
export function parseLayout(raw: unknown): SavedLayout | null {
  if (!raw || typeof raw !== "object") return null;
  const value = raw as Partial<SavedLayout>;
  if (value.version !== 1 || !Array.isArray(value.groups)) return null;
  const groups = value.groups
    .filter((g) => g && Array.isArray(g.tabs))
    .map((g) => ({
      tabs: g.tabs
        .filter((t) => t && typeof t.path === "string" && (t.kind === "file" || t.kind === "diff"))
        .map((t) => ({ kind: t.kind, path: t.path, ...(t.kind === "diff" ? { staged: !!t.staged } : {}) })),
      active: typeof g.active === "number" ? g.active : 0,
    }));
  const sidebar = value.sidebar ?? { view: "explorer", width: 260, collapsed: false };
  const panel = value.panel ?? { open: false, height: 240, tab: "terminal" };
  return {
    version: 1,
    groups,
    activeGroup: typeof value.activeGroup === "number" ? value.activeGroup : 0,
    sidebar: {
      view: VIEWS.includes(sidebar.view) ? sidebar.view : "explorer",
      width: typeof sidebar.width === "number" ? sidebar.width : 260,
      collapsed: !!sidebar.collapsed,
    },
    panel: {
      open: !!panel.open,
      height: typeof panel.height === "number" ? panel.height : 240,
      tab: typeof panel.tab === "string" ? panel.tab : "terminal",
    },
  };
}

/** The active tab of the active group, if any. */
export function activeTab(state: Pick<IdeState, "groups" | "activeGroupId">): Tab | null {
  const group = state.groups.find((g) => g.id === state.activeGroupId);
  return group?.tabs.find((t) => t.id === group.activeTabId) ?? null;
}
