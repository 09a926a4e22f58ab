// The seams between the IDE's parts. The IDE shell (layout, editor, tabs, explorer,
// palette) implements `IdeActions` in its store (`useIde` in ./store.ts); the views
// (search, git, terminals) only call these, so they never reach into the shell.

export interface OpenFileOptions {
  /** 1-based line to reveal and put the cursor on. */
  line?: number;
  /** 1-based column (characters). */
  column?: number;
  /** Selects this many characters from (line, column), e.g. a search match. */
  length?: number;
}

export interface IdeActions {
  /** Opens (or focuses) a file in the active editor group. */
  openFile(path: string, options?: OpenFileOptions): void;
  /** Opens a diff tab of a file: HEAD against the index when `staged`, else index against the working tree. */
  openGitDiff(path: string, staged: boolean): void;
  /** Tells the explorer and open editors that files changed on the server (after a replace, checkout, pull). */
  filesChanged(paths?: string[]): void;
}

/** Every command the palette lists. `keybinding` is shown as written, e.g. "Ctrl+Shift+P". */
export interface Command {
  id: string;
  title: string;
  category?: string;
  keybinding?: string;
  run(): void;
}

/** The views in the sidebar, in activity-bar order. */
export type SidebarView = "explorer" | "search" | "git" | "settings" | "deploy" | "agents" | "assistant";

/** A view's props: every view works on one project. */
export interface ViewProps {
  projectId: string;
}
