// The IDE: activity bar, resizable sidebar (Explorer, Search, Source Control, Settings),
// editor groups, bottom panel (terminals, problems, output) and status bar, laid out like
// VS Code. The layout is remembered per user and project on the server.
import { useQuery } from "@tanstack/react-query";
import { useCallback, useEffect, useMemo, useRef, useState, type ReactNode } from "react";
import { useLocation } from "wouter";

import { AgentSessionDock } from "../agents/AgentSessionDock";
import { AgentsView, IconAgent } from "../agents/AgentsView";
import { agentCommands, AGENTS_VIEW } from "../agents/commands";
import { api, unwrap } from "../api/client";
import { AssistantView, IconAssistant, useAssistantBootstrap } from "../assistant/AssistantView";
import { useAssistant } from "../assistant/store";
import { assistantCommands, ASSISTANT_VIEW } from "../assistant/commands";
import { Toaster } from "../components";
import { deployCommands, DEPLOY_VIEW } from "../deploy/commands";
import { DeployLogsDock } from "../deploy/DeployLogs";
import { DeployView, IconRocket } from "../deploy/DeployView";
import { dispatchKey, shellCommands } from "./commands";
import { CloseGuardDialog } from "./CloseGuard";
import { ConflictDialog } from "./ConflictDialog";
import type { SidebarView } from "./contract";
import { draftPaths, flushDrafts, refreshDocuments, retainOnly, setProject } from "./documents";
import { EditorArea } from "./EditorArea";
import { Explorer } from "./Explorer";
import { Palette } from "./Palette";
import { BottomPanel } from "./BottomPanel";
import { StatusBar } from "./StatusBar";
import { useApplyTheme, useEffectiveSettings, useSaveSettings, type Settings } from "./settings";
import { SettingsView } from "./SettingsView";
import { MAX_SIDEBAR, MIN_PANEL, MIN_SIDEBAR, parseLayout, useIde } from "./store";
import { GitView } from "./views/GitView";
import { SearchView } from "./views/SearchView";
import "../styles/ide.css";

const VIEWS: { id: SidebarView; label: string; key: string; icon: ReactNode }[] = [
  { id: "explorer", label: "Explorer", key: "Ctrl+Shift+E", icon: <IconFiles /> },
  { id: "search", label: "Search", key: "Ctrl+Shift+F", icon: <IconSearch /> },
  { id: "git", label: "Source Control", key: "Ctrl+Shift+G", icon: <IconGit /> },
  { id: DEPLOY_VIEW, label: "Deploy", key: "", icon: <IconRocket /> },
  { id: AGENTS_VIEW, label: "Agents", key: "", icon: <IconAgent /> },
  { id: ASSISTANT_VIEW, label: "Assistant", key: "", icon: <IconAssistant /> },
  { id: "settings", label: "Settings", key: "Ctrl+,", icon: <IconGear /> },
];

function useMediaQuery(query: string): boolean {
  const [match, setMatch] = useState(() => window.matchMedia(query).matches);
  useEffect(() => {
    const list = window.matchMedia(query);
    const update = () => setMatch(list.matches);
    update();
    list.addEventListener("change", update);
    return () => list.removeEventListener("change", update);
  }, [query]);
  return match;
}

const layoutUrl = (projectId: string) => `/api/v1/me/layouts/${encodeURIComponent(projectId)}`;

/** Loads the saved layout (and drafts left from the last visit), then saves changes debounced. */
function useLayoutPersistence(projectId: string): boolean {
  const [loaded, setLoaded] = useState(false);
  useEffect(() => {
    let live = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let unsubscribe = () => {};
    let last = "";
    const save = () => {
      const body = JSON.stringify(useIde.getState().layout());
      if (body === last) return;
      last = body;
      try {
        localStorage.setItem(`dockyard.layout.${projectId}`, body);
      } catch {
        // No storage: the server copy is enough.
      }
      void unwrap(api.PUT("/api/v1/me/layouts/{project}", { params: { path: { project: projectId } }, body: JSON.parse(body) })).catch(() => {
        last = "";
      });
    };
    // A view picked while the saved layout loads wins over the saved one.
    const viewAtStart = useIde.getState().sidebarView;
    void (async () => {
      let raw: unknown = null;
      try {
        const answer: unknown = await unwrap(api.GET("/api/v1/me/layouts/{project}", { params: { path: { project: projectId } } }));
        raw = answer && typeof answer === "object" && "layout" in answer ? (answer as { layout: unknown }).layout : answer;
      } catch {
        try {
          raw = JSON.parse(localStorage.getItem(`dockyard.layout.${projectId}`) ?? "null");
        } catch {
          raw = null;
        }
      }
      if (!live) return;
      const layout = parseLayout(raw);
      const picked = useIde.getState().sidebarView;
      if (layout) useIde.getState().applyLayout(layout);
      // What is stored now: the layout as applied, or nothing.
      last = layout ? JSON.stringify(useIde.getState().layout()) : "";
      if (picked !== viewAtStart) useIde.setState({ sidebarView: picked, sidebarCollapsed: false });
      // Unsaved drafts from the last visit come back as open tabs.
      const open = new Set(useIde.getState().groups.flatMap((g) => g.tabs.map((t) => t.path)));
      for (const path of draftPaths(projectId)) if (!open.has(path)) useIde.getState().openFile(path);
      setLoaded(true);
      // A change made while the saved layout was loading (a view picked at
      // once, say) happened before this subscription: save it too.
      if (JSON.stringify(useIde.getState().layout()) !== last) timer = setTimeout(save, 800);
      unsubscribe = useIde.subscribe((state, previous) => {
        if (
          state.groups === previous.groups &&
          state.activeGroupId === previous.activeGroupId &&
          state.sidebarView === previous.sidebarView &&
          state.sidebarWidth === previous.sidebarWidth &&
          state.sidebarCollapsed === previous.sidebarCollapsed &&
          state.panelOpen === previous.panelOpen &&
          state.panelHeight === previous.panelHeight &&
          state.panelTab === previous.panelTab
        )
          return;
        clearTimeout(timer);
        timer = setTimeout(save, 800);
      });
    })();
    const onHide = () => {
      clearTimeout(timer);
      const body = JSON.stringify(useIde.getState().layout());
      if (body === last) return;
      last = body;
      try {
        localStorage.setItem(`dockyard.layout.${projectId}`, body);
      } catch {
        // Ignore.
      }
      void fetch(layoutUrl(projectId), { method: "PUT", credentials: "same-origin", keepalive: true, headers: { "content-type": "application/json" }, body }).catch(() => undefined);
    };
    window.addEventListener("pagehide", onHide);
    return () => {
      live = false;
      clearTimeout(timer);
      unsubscribe();
      window.removeEventListener("pagehide", onHide);
    };
  }, [projectId]);
  return loaded;
}

export function IdeScreen({ projectId }: { projectId: string }) {
  const [, navigate] = useLocation();
  useApplyTheme();
  const settings = useEffectiveSettings();
  const saveSettings = useSaveSettings();
  const settingsRef = useRef<Settings>(settings);
  settingsRef.current = settings;
  const phone = useMediaQuery("(max-width: 700px)");

  // One project at a time: reset the shell and the open documents when it changes.
  useMemo(() => {
    if (useIde.getState().projectId !== projectId) useIde.getState().reset(projectId);
    setProject(projectId);
  }, [projectId]);

  const project = useQuery({
    queryKey: ["project", projectId],
    queryFn: () => unwrap(api.GET("/api/v1/projects/{project}", { params: { path: { project: projectId } } })),
  });
  const layoutLoaded = useLayoutPersistence(projectId);

  const sidebarView = useIde((s) => s.sidebarView);
  const sidebarWidth = useIde((s) => s.sidebarWidth);
  const sidebarCollapsed = useIde((s) => s.sidebarCollapsed);
  const panelOpen = useIde((s) => s.panelOpen);
  const panelHeight = useIde((s) => s.panelHeight);
  const groups = useIde((s) => s.groups);
  const filesVersion = useIde((s) => s.filesVersion);

  // Commands.
  useEffect(() => {
    const update = (patch: Partial<Settings>) => saveSettings.mutate(patch);
    return useIde.getState().registerCommands(shellCommands({ updateSettings: update, settings: () => settingsRef.current, goHome: () => navigate("/"), projectId }));
    // saveSettings.mutate is stable enough; re-registering per render would churn the palette.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [projectId, navigate]);
  useEffect(() => useIde.getState().registerCommands(deployCommands()), []);
  useEffect(() => useIde.getState().registerCommands(agentCommands()), []);
  useEffect(() => {
    const toggleInline = () => {
      const next = !settingsRef.current.inline_completions;
      saveSettings.mutate({ inline_completions: next });
      return next;
    };
    return useIde.getState().registerCommands(assistantCommands({ toggleInline }));
    // As above: saveSettings.mutate is stable enough.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);
  useAssistantBootstrap(projectId);
  // The provider reads the user's setting from the assistant's store.
  useEffect(() => useAssistant.getState().setInlineEnabled(settings.inline_completions), [settings.inline_completions]);

  // Keyboard shortcuts, before Monaco and the browser see them.
  useEffect(() => {
    const onKey = (event: KeyboardEvent) => {
      dispatchKey(event, settingsRef.current.keybindings);
    };
    window.addEventListener("keydown", onKey, true);
    return () => window.removeEventListener("keydown", onKey, true);
  }, []);

  // Models live while some tab shows them.
  useEffect(() => {
    if (!layoutLoaded) return;
    retainOnly(new Set(groups.flatMap((g) => g.tabs.filter((t) => t.kind === "file").map((t) => t.path))));
  }, [groups, layoutLoaded]);

  // Files changed elsewhere: reload clean buffers.
  const firstVersion = useRef(filesVersion);
  useEffect(() => {
    if (filesVersion === firstVersion.current) return;
    void refreshDocuments(useIde.getState().changedPaths);
  }, [filesVersion]);

  // Drafts are written as you type; flush the last keystrokes when the page goes away.
  useEffect(() => {
    window.addEventListener("pagehide", flushDrafts);
    window.addEventListener("beforeunload", flushDrafts);
    return () => {
      window.removeEventListener("pagehide", flushDrafts);
      window.removeEventListener("beforeunload", flushDrafts);
    };
  }, []);

  // Connection state from the browser.
  useEffect(() => {
    const update = () => useIde.getState().setConnection(navigator.onLine ? "online" : "offline");
    update();
    window.addEventListener("online", update);
    window.addEventListener("offline", update);
    return () => {
      window.removeEventListener("online", update);
      window.removeEventListener("offline", update);
    };
  }, []);

  const name = project.data?.name ?? "Project";
  useEffect(() => {
    document.title = `${name} — Dockyard`;
  }, [name]);

  // On a phone the sidebar is an overlay: opening a file closes it.
  useEffect(() => {
    if (!phone) return;
    return useIde.subscribe((state, previous) => {
      if (state.reveal && state.reveal !== previous.reveal && !state.sidebarCollapsed) state.toggleSidebar(true);
    });
  }, [phone]);

  const showSidebar = !sidebarCollapsed;
  const closeOverlay = () => phone && useIde.getState().toggleSidebar(true);

  return (
    <div className={`ide${phone ? " phone" : ""}`} style={{ ["--sidebar-width" as string]: `${sidebarWidth}px`, ["--panel-height" as string]: `${panelHeight}px` }}>
      <header className="ide-titlebar">
        <a href="/" className="ide-home" aria-label="Dockyard dashboard" onClick={(e) => (e.preventDefault(), navigate("/"))}>
          ⚓
        </a>
        <span className="ide-title">{name}</span>
        <button type="button" className="ide-command-center" onClick={() => useIde.getState().openPalette("files")} aria-label="Search files and commands">
          <span aria-hidden="true">⌕</span> {name}
        </button>
        <button type="button" className="ide-icon-button" aria-label="Show all commands" title="Show All Commands (Ctrl+Shift+P)" onClick={() => useIde.getState().openPalette("commands")}>
          ⌘
        </button>
      </header>
      <div className="ide-body">
        <nav className="ide-activitybar" aria-label="Views">
          <div role="tablist" aria-orientation="vertical" aria-label="Side bar views" onKeyDown={activityKeys}>
            {VIEWS.map((view) => {
              const selected = showSidebar && sidebarView === view.id;
              return (
                <button
                  key={view.id}
                  type="button"
                  role="tab"
                  id={`activity-${view.id}`}
                  aria-selected={selected}
                  aria-controls="ide-sidebar"
                  tabIndex={sidebarView === view.id ? 0 : -1}
                  aria-label={view.label}
                  title={view.key ? `${view.label} (${view.key})` : view.label}
                  className={selected ? "active" : undefined}
                  onClick={() => useIde.getState().setSidebarView(view.id)}
                >
                  {view.icon}
                </button>
              );
            })}
          </div>
        </nav>
        {showSidebar && (
          <>
            {phone && <div className="ide-overlay-backdrop" onClick={closeOverlay} aria-hidden="true" />}
            <aside id="ide-sidebar" className="ide-sidebar" role="tabpanel" aria-labelledby={`activity-${sidebarView}`}>
              <div hidden={sidebarView !== "explorer"} className="ide-view">
                <Explorer projectId={projectId} projectName={name} />
              </div>
              {sidebarView === "search" && (
                <div className="ide-view">
                  <SearchView projectId={projectId} />
                </div>
              )}
              {sidebarView === "git" && (
                <div className="ide-view">
                  <GitView projectId={projectId} />
                </div>
              )}
              {sidebarView === DEPLOY_VIEW && (
                <div className="ide-view">
                  <DeployView projectId={projectId} />
                </div>
              )}
              {sidebarView === AGENTS_VIEW && (
                <div className="ide-view">
                  <AgentsView projectId={projectId} />
                </div>
              )}
              {sidebarView === ASSISTANT_VIEW && (
                <div className="ide-view">
                  <AssistantView projectId={projectId} />
                </div>
              )}
              {sidebarView === "settings" && (
                <div className="ide-view">
                  <SettingsView />
                </div>
              )}
            </aside>
            {!phone && <Splitter orientation="vertical" label="Resize side bar" value={sidebarWidth} min={MIN_SIDEBAR} max={MAX_SIDEBAR} onChange={(v) => useIde.getState().setSidebarWidth(v)} />}
          </>
        )}
        <main className="ide-main" aria-label="Editor">
          <EditorArea projectId={projectId} settings={settings} single={phone} />
          {panelOpen && (
            <Splitter
              orientation="horizontal"
              label="Resize panel"
              value={panelHeight}
              min={MIN_PANEL}
              max={Math.max(MIN_PANEL, window.innerHeight - 200)}
              onChange={(v) => useIde.getState().setPanelHeight(v)}
            />
          )}
          <DeployLogsDock projectId={projectId} />
          <AgentSessionDock projectId={projectId} />
          <BottomPanel projectId={projectId} />
        </main>
      </div>
      <StatusBar projectId={projectId} settings={settings} />
      <Palette projectId={projectId} keybindings={settings.keybindings} />
      <ConflictDialog settings={settings} />
      <CloseGuardDialog />
      <Toaster />
    </div>
  );
}

function activityKeys(event: React.KeyboardEvent) {
  if (!["ArrowDown", "ArrowUp", "Home", "End"].includes(event.key)) return;
  const tabs = [...event.currentTarget.querySelectorAll<HTMLElement>('[role="tab"]')];
  const at = tabs.indexOf(document.activeElement as HTMLElement);
  const next = event.key === "Home" ? 0 : event.key === "End" ? tabs.length - 1 : (at + (event.key === "ArrowDown" ? 1 : -1) + tabs.length) % tabs.length;
  event.preventDefault();
  tabs[next]?.focus();
}

/** A drag handle (role="separator", arrow keys resize too). */
function Splitter({ orientation, label, value, min, max, onChange }: { orientation: "vertical" | "horizontal"; label: string; value: number; min: number; max: number; onChange(v: number): void }) {
  const start = useRef<{ pos: number; value: number } | null>(null);
  const [dragging, setDragging] = useState(false);
  const vertical = orientation === "vertical";
  const onPointerDown = useCallback(
    (event: React.PointerEvent) => {
      event.preventDefault();
      (event.target as HTMLElement).setPointerCapture(event.pointerId);
      start.current = { pos: vertical ? event.clientX : event.clientY, value };
      setDragging(true);
    },
    [value, vertical],
  );
  return (
    <div
      role="separator"
      aria-orientation={orientation}
      aria-label={label}
      aria-valuenow={value}
      aria-valuemin={min}
      aria-valuemax={max}
      tabIndex={0}
      className={`ide-splitter ${orientation}${dragging ? " dragging" : ""}`}
      onPointerDown={onPointerDown}
      onPointerMove={(event) => {
        if (!start.current) return;
        const delta = (vertical ? event.clientX : event.clientY) - start.current.pos;
        onChange(Math.min(max, Math.max(min, start.current.value + (vertical ? delta : -delta))));
      }}
      onPointerUp={() => {
        start.current = null;
        setDragging(false);
      }}
      onKeyDown={(event) => {
        const step = event.shiftKey ? 50 : 10;
        const grow = vertical ? "ArrowRight" : "ArrowUp";
        const shrink = vertical ? "ArrowLeft" : "ArrowDown";
        if (event.key === grow) onChange(Math.min(max, value + step));
        else if (event.key === shrink) onChange(Math.max(min, value - step));
        else return;
        event.preventDefault();
      }}
    />
  );
}

function IconFiles() {
  return (
    <svg viewBox="0 0 24 24" width="24" height="24" aria-hidden="true" fill="none" stroke="currentColor" strokeWidth="1.5">
      <path d="M14 3H7a2 2 0 0 0-2 2v14a2 2 0 0 0 2 2h10a2 2 0 0 0 2-2V8z" />
      <path d="M14 3v5h5" />
    </svg>
  );
}
function IconSearch() {
  return (
    <svg viewBox="0 0 24 24" width="24" height="24" aria-hidden="true" fill="none" stroke="currentColor" strokeWidth="1.5">
      <circle cx="10.5" cy="10.5" r="6" />
      <path d="M15 15l6 6" />
    </svg>
  );
}
function IconGit() {
  return (
    <svg viewBox="0 0 24 24" width="24" height="24" aria-hidden="true" fill="none" stroke="currentColor" strokeWidth="1.5">
      <circle cx="6" cy="5" r="2" />
      <circle cx="6" cy="19" r="2" />
      <circle cx="18" cy="8" r="2" />
      <path d="M6 7v10M18 10c0 5-8 3-11.5 7.5" />
    </svg>
  );
}
function IconGear() {
  return (
    <svg viewBox="0 0 24 24" width="24" height="24" aria-hidden="true" fill="none" stroke="currentColor" strokeWidth="1.5">
      <circle cx="12" cy="12" r="3" />
      <path d="M12 2v3M12 19v3M2 12h3M19 12h3M4.9 4.9l2.1 2.1M17 17l2.1 2.1M4.9 19.1L7 17M17 7l2.1-2.1" />
    </svg>
  );
}

