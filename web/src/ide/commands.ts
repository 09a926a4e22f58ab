// The shell's own commands (every one the palette lists, with its keybinding) and the
// global keyboard dispatcher that runs them. Other parts add theirs with
// `useIde.getState().registerCommand(…)`.
import { requestClose } from "./CloseGuard";
import { draftPaths, isDirty, reloadDocument, saveDocument } from "./documents";
import { activeEditor, runEditorAction } from "./editors";
import { matches, parseKey } from "./keys";
import { log } from "./output";
import type { Settings } from "./settings";
import { activeTab, useIde } from "./store";
import type { Command } from "./contract";

/** Commands Monaco binds itself: inside the editor Monaco handles the key. */
export const EDITOR_NATIVE = new Set([
  "workbench.action.gotoSymbol",
  "workbench.action.gotoLine",
  "editor.action.formatDocument",
  "actions.find",
  "editor.action.startFindReplaceAction",
  "editor.action.addSelectionToNextFindMatch",
  "editor.action.insertCursorBelow",
  "editor.action.insertCursorAbove",
  "editor.action.commentLine",
  "editor.action.changeAll",
]);

export async function saveActive(): Promise<void> {
  const tab = activeTab(useIde.getState());
  if (!tab || tab.kind !== "file") return;
  const result = await saveDocument(tab.path);
  if (result === "saved") log(`Saved ${tab.path}`);
  else if (result === "conflict") log(`${tab.path} changed on the server: not saved`);
  else if (result === "failed") log(`Could not save ${tab.path}`);
}

export async function saveAll(): Promise<void> {
  const paths = Object.keys(useIde.getState().dirty).filter((p) => isDirty(p));
  for (const path of paths) {
    const result = await saveDocument(path);
    log(result === "saved" ? `Saved ${path}` : `Could not save ${path} (${result})`);
  }
}

function cycleTab(step: number) {
  const state = useIde.getState();
  const group = state.groups.find((g) => g.id === state.activeGroupId);
  if (!group || group.tabs.length === 0) return;
  const at = group.tabs.findIndex((t) => t.id === group.activeTabId);
  const next = group.tabs[(at + step + group.tabs.length) % group.tabs.length]!;
  state.activateTab(group.id, next.id);
}

export function shellCommands(options: {
  updateSettings(patch: Partial<Settings>): void;
  settings(): Settings;
  goHome(): void;
  projectId: string;
}): Command[] {
  const ide = useIde.getState;
  const editorAction = (id: string) => () => {
    if (!runEditorAction(id)) log("Open a file first.");
  };
  const withActive = (fn: (groupId: string, tabId: string) => void) => () => {
    const state = ide();
    const group = state.groups.find((g) => g.id === state.activeGroupId);
    if (group?.activeTabId) fn(group.id, group.activeTabId);
  };
  return [
    { id: "workbench.action.showCommands", title: "Show All Commands", keybinding: "Ctrl+Shift+P", run: () => ide().openPalette("commands") },
    { id: "workbench.action.showCommandsF1", title: "Show All Commands (F1)", keybinding: "F1", run: () => ide().openPalette("commands") },
    { id: "workbench.action.quickOpen", title: "Go to File…", keybinding: "Ctrl+P", run: () => ide().openPalette("files") },
    { id: "workbench.action.gotoSymbol", title: "Go to Symbol in Editor…", keybinding: "Ctrl+Shift+O", run: editorAction("editor.action.quickOutline") },
    { id: "workbench.action.gotoLine", title: "Go to Line/Column…", keybinding: "Ctrl+G", run: editorAction("editor.action.gotoLine") },
    { id: "workbench.action.files.save", title: "Save", category: "File", keybinding: "Ctrl+S", run: () => void saveActive() },
    { id: "workbench.action.files.saveAll", title: "Save All", category: "File", keybinding: "Ctrl+Alt+S", run: () => void saveAll() },
    {
      id: "workbench.action.files.revert",
      title: "Revert File",
      category: "File",
      run: () => {
        const tab = activeTab(ide());
        if (tab?.kind === "file") void reloadDocument(tab.path);
      },
    },
    { id: "workbench.action.reopenClosedEditor", title: "Reopen Closed Editor", category: "View", keybinding: "Ctrl+Shift+T", run: () => ide().reopenClosed() },
    { id: "workbench.action.reopenClosedEditorAlt", title: "Reopen Closed Editor (browser-safe)", category: "View", keybinding: "Alt+Shift+T", run: () => ide().reopenClosed() },
    { id: "workbench.action.closeActiveEditor", title: "Close Editor", category: "View", keybinding: "Alt+W", run: withActive((g, t) => requestClose(g, t)) },
    { id: "workbench.action.closeOtherEditors", title: "Close Other Editors in Group", category: "View", run: withActive((g, t) => ide().closeOthers(g, t)) },
    { id: "workbench.action.closeAllEditors", title: "Close All Editors in Group", category: "View", run: () => ide().closeAll(ide().activeGroupId) },
    { id: "workbench.action.keepEditor", title: "Keep Editor Open", category: "View", run: withActive((g, t) => ide().pinTab(g, t)) },
    { id: "workbench.action.splitEditor", title: "Split Editor Right", category: "View", keybinding: "Ctrl+\\", run: () => ide().splitRight() },
    {
      id: "workbench.action.moveEditorToNextGroup",
      title: "Move Editor into Next Group",
      category: "View",
      keybinding: "Ctrl+Alt+Right",
      run: withActive((g, t) => {
        const groups = ide().groups;
        const at = groups.findIndex((x) => x.id === g);
        if (at === groups.length - 1) ide().splitRight(g);
        const target = ide().groups[at + 1];
        if (target) ide().moveTabToGroup(g, t, target.id);
      }),
    },
    { id: "workbench.action.nextEditor", title: "Open Next Editor", category: "View", keybinding: "Ctrl+PageDown", run: () => cycleTab(1) },
    { id: "workbench.action.previousEditor", title: "Open Previous Editor", category: "View", keybinding: "Ctrl+PageUp", run: () => cycleTab(-1) },
    {
      id: "workbench.action.focusNextGroup",
      title: "Focus Next Editor Group",
      category: "View",
      run: () => {
        const { groups, activeGroupId } = ide();
        const at = groups.findIndex((g) => g.id === activeGroupId);
        ide().focusGroup(groups[(at + 1) % groups.length]!.id);
        activeEditor()?.focus();
      },
    },
    { id: "workbench.action.toggleSidebarVisibility", title: "Toggle Primary Side Bar", category: "View", keybinding: "Ctrl+B", run: () => ide().toggleSidebar() },
    { id: "workbench.view.explorer", title: "Show Explorer", category: "View", keybinding: "Ctrl+Shift+E", run: () => useIde.setState({ sidebarView: "explorer", sidebarCollapsed: false }) },
    { id: "workbench.view.search", title: "Show Search", category: "View", keybinding: "Ctrl+Shift+F", run: () => useIde.setState({ sidebarView: "search", sidebarCollapsed: false }) },
    { id: "workbench.view.scm", title: "Show Source Control", category: "View", keybinding: "Ctrl+Shift+G", run: () => useIde.setState({ sidebarView: "git", sidebarCollapsed: false }) },
    { id: "workbench.action.openSettings", title: "Open Settings", category: "Preferences", keybinding: "Ctrl+,", run: () => useIde.setState({ sidebarView: "settings", sidebarCollapsed: false }) },
    {
      id: "workbench.files.action.showActiveFileInExplorer",
      title: "Reveal Active File in Explorer",
      category: "File",
      run: () => {
        const tab = activeTab(ide());
        if (tab) ide().revealInExplorer(tab.path);
      },
    },
    { id: "workbench.files.action.refreshFilesExplorer", title: "Refresh Explorer", category: "File", run: () => ide().filesChanged() },
    { id: "workbench.action.togglePanel", title: "Toggle Panel", category: "View", keybinding: "Ctrl+J", run: () => ide().togglePanel() },
    {
      id: "workbench.action.terminal.toggleTerminal",
      title: "Toggle Terminal",
      category: "View",
      keybinding: "Ctrl+`",
      run: () => {
        const state = ide();
        if (state.panelOpen && state.panelTab === "terminal") state.togglePanel(false);
        else state.setPanelTab("terminal");
      },
    },
    { id: "workbench.actions.view.problems", title: "Show Problems", category: "View", keybinding: "Ctrl+Shift+M", run: () => ide().setPanelTab("problems") },
    { id: "workbench.action.output.toggleOutput", title: "Show Output", category: "View", keybinding: "Ctrl+Shift+U", run: () => ide().setPanelTab("output") },
    { id: "editor.action.formatDocument", title: "Format Document", keybinding: "Shift+Alt+F", run: editorAction("editor.action.formatDocument") },
    { id: "actions.find", title: "Find", keybinding: "Ctrl+F", run: editorAction("actions.find") },
    { id: "editor.action.startFindReplaceAction", title: "Replace", keybinding: "Ctrl+H", run: editorAction("editor.action.startFindReplaceAction") },
    { id: "editor.action.addSelectionToNextFindMatch", title: "Add Selection to Next Find Match", keybinding: "Ctrl+D", run: editorAction("editor.action.addSelectionToNextFindMatch") },
    { id: "editor.action.insertCursorBelow", title: "Add Cursor Below", keybinding: "Ctrl+Alt+Down", run: editorAction("editor.action.insertCursorBelow") },
    { id: "editor.action.insertCursorAbove", title: "Add Cursor Above", keybinding: "Ctrl+Alt+Up", run: editorAction("editor.action.insertCursorAbove") },
    { id: "editor.action.changeAll", title: "Change All Occurrences", keybinding: "Ctrl+F2", run: editorAction("editor.action.changeAll") },
    { id: "editor.action.commentLine", title: "Toggle Line Comment", keybinding: "Ctrl+/", run: editorAction("editor.action.commentLine") },
    { id: "editor.foldAll", title: "Fold All", run: editorAction("editor.foldAll") },
    { id: "editor.unfoldAll", title: "Unfold All", run: editorAction("editor.unfoldAll") },
    { id: "editor.action.jumpToBracket", title: "Go to Bracket", run: editorAction("editor.action.jumpToBracket") },
    { id: "editor.action.toggleWordWrap", title: "Toggle Word Wrap", category: "View", keybinding: "Alt+Z", run: () => options.updateSettings({ word_wrap: !options.settings().word_wrap }) },
    { id: "editor.action.toggleMinimap", title: "Toggle Minimap", category: "View", run: () => options.updateSettings({ minimap: !options.settings().minimap }) },
    { id: "workbench.action.theme.dark", title: "Color Theme: Dark", category: "Preferences", run: () => options.updateSettings({ theme: "dark" }) },
    { id: "workbench.action.theme.light", title: "Color Theme: Light", category: "Preferences", run: () => options.updateSettings({ theme: "light" }) },
    { id: "workbench.action.theme.highContrast", title: "Color Theme: High Contrast", category: "Preferences", run: () => options.updateSettings({ theme: "high-contrast" }) },
    { id: "workbench.action.zoomInFont", title: "Increase Editor Font Size", category: "View", run: () => options.updateSettings({ font_size: Math.min(40, options.settings().font_size + 1) }) },
    { id: "workbench.action.zoomOutFont", title: "Decrease Editor Font Size", category: "View", run: () => options.updateSettings({ font_size: Math.max(8, options.settings().font_size - 1) }) },
    {
      id: "workbench.action.openDrafts",
      title: "Open Files with Unsaved Drafts",
      category: "File",
      run: () => draftPaths(options.projectId).forEach((p) => ide().openFile(p)),
    },
    { id: "workbench.action.goHome", title: "Go to Dashboard", category: "Dockyard", run: options.goHome },
  ];
}

/** Runs the command bound to a key event; answers whether one ran. */
export function dispatchKey(event: KeyboardEvent, keybindings: Record<string, string>): boolean {
  if (event.repeat && !(event.ctrlKey || event.metaKey)) return false;
  const inEditor = event.target instanceof Element && !!event.target.closest(".monaco-editor");
  const inModal = event.target instanceof Element && !!event.target.closest('[aria-modal="true"]:not(.ide-palette)');
  const { commands, paletteMode } = useIde.getState();
  for (const command of Object.values(commands)) {
    const binding = keybindings[command.id] ?? command.keybinding;
    if (!binding) continue;
    const chord = parseKey(binding);
    if (!chord || !matches(chord, event)) continue;
    if (inEditor && EDITOR_NATIVE.has(command.id)) return false;
    if (inModal) return false;
    // Plain keys (F1) and editor keys only when not typing into a field.
    const typing = event.target instanceof HTMLElement && (event.target.tagName === "INPUT" || event.target.tagName === "TEXTAREA" || event.target.isContentEditable) && !inEditor;
    if (typing && (EDITOR_NATIVE.has(command.id) || (!chord.ctrl && !chord.alt))) return false;
    if (paletteMode && !command.id.startsWith("workbench.action.showCommands") && command.id !== "workbench.action.quickOpen") return false;
    event.preventDefault();
    event.stopPropagation();
    command.run();
    return true;
  }
  return false;
}
