// Opening a project (a link to /p/…, a reload, a click on the dashboard) starts the
// IDE's downloads at once instead of one after another: without this, the IDE's chunk
// waits for the session check, and Monaco (about 1 MB compressed) for the IDE's chunk
// and then for the saved layout to name an open file. The IDE's chunk is imported (it
// is small); Monaco's chunk and stylesheet only get preload links, so the browser
// downloads and compiles them off the main thread but runs nothing until the editor
// imports them. Never on the login screen or the dashboard, which do not need them.

/**
 * Monaco's chunk and its stylesheet as a JSON array of URLs. The build writes the
 * names in (vite.config.ts, `ideAssetsPlugin`); the dev server leaves the placeholder,
 * and then there is nothing to preload.
 */
const MONACO_FILES: string = "__DOCKYARD_MONACO_FILES__";

let started = false;

export function isIdeRoute(path: string): boolean {
  return path.startsWith("/p/");
}

export function monacoFiles(): string[] {
  if (MONACO_FILES.charAt(0) !== "[") return [];
  try {
    const files: unknown = JSON.parse(MONACO_FILES);
    return Array.isArray(files) ? files.filter((file): file is string => typeof file === "string") : [];
  } catch {
    return [];
  }
}

/** Starts loading the IDE's code (once per page). */
export function preloadIde(): void {
  if (started) return;
  started = true;
  for (const href of monacoFiles()) {
    const link = document.createElement("link");
    if (href.endsWith(".css")) {
      link.rel = "preload";
      link.as = "style";
    } else {
      link.rel = "modulepreload";
    }
    link.href = href;
    document.head.append(link);
  }
  // A failure here is not reported: the route's own import retries and reports it.
  void import("../ide/Ide").catch(() => undefined);
}
