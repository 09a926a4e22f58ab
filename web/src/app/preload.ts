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

type IdeModule = typeof import("../ide/Ide");
let ideLoading: Promise<IdeModule> | null = null;
let ideModule: IdeModule | null = null;

/** The IDE's chunk: one import per page, remembered once it has run. */
export function loadIde(): Promise<IdeModule> {
  ideLoading ??= import("../ide/Ide").then((module) => (ideModule = module));
  ideLoading.catch(() => {
    ideLoading = null; // A chunk that failed to load: let the next attempt retry.
  });
  return ideLoading;
}

/**
 * The IDE's module if it has already loaded, else null. The route renders it directly
 * then: going through `React.lazy` would suspend once anyway (a resolved promise still
 * answers on a later tick), and React holds a revealed Suspense boundary back for up
 * to 300 ms after its fallback, an idle wait measured at about 380 ms on a reload.
 */
export function loadedIde(): IdeModule | null {
  return ideModule;
}

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
  void loadIde().catch(() => undefined);
}
