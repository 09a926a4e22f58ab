// The terminals panel: several terminals as tabs (new, close, rename by double-click),
// each a live xterm.js view over the terminal WebSocket. After a page reload it
// reattaches to the terminals the server still runs, replaying their scrollback.
import { useCallback, useEffect, useRef, useState, type KeyboardEvent } from "react";

import { ApiError } from "../../api/client";
import "../../styles/panels.css";
import { createTerminal, deleteTerminal, listTerminals, type TerminalInfo } from "./api";
import type { ConnectionState } from "./connection";
import { TerminalView } from "./TerminalView";

interface Tab {
  info: TerminalInfo;
  state: ConnectionState;
  detail?: string;
  exitCode: number | null;
  exited: boolean;
}

const STATE_TEXT: Record<ConnectionState, string> = {
  connecting: "connecting",
  open: "connected",
  reconnecting: "reconnecting",
  exited: "exited",
  closed: "disconnected",
};

function namesKey(projectId: string): string {
  return `dockyard.terminalNames.${projectId}`;
}

function loadNames(projectId: string): Record<string, string> {
  try {
    const raw = localStorage.getItem(namesKey(projectId));
    const parsed: unknown = raw ? JSON.parse(raw) : {};
    return parsed && typeof parsed === "object" ? (parsed as Record<string, string>) : {};
  } catch {
    return {};
  }
}

function saveNames(projectId: string, names: Record<string, string>): void {
  try {
    localStorage.setItem(namesKey(projectId), JSON.stringify(names));
  } catch {
    // Storage full or disabled: names last for this page only.
  }
}

/** A first guess of the size in cells; the fit after opening corrects it. */
function estimateSize(element: HTMLElement | null): { cols: number; rows: number } {
  const width = element?.clientWidth ?? 0;
  const height = element?.clientHeight ?? 0;
  return {
    cols: width > 0 ? Math.max(20, Math.floor((width - 16) / 7.8)) : 80,
    rows: height > 0 ? Math.max(5, Math.floor((height - 8) / 17)) : 24,
  };
}

export function Terminals({ projectId }: { projectId: string }) {
  const [tabs, setTabs] = useState<Tab[]>([]);
  const [activeId, setActiveId] = useState<string | null>(null);
  const [loaded, setLoaded] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const [creating, setCreating] = useState(false);
  const [names, setNames] = useState<Record<string, string>>(() => loadNames(projectId));
  const [renaming, setRenaming] = useState<string | null>(null);
  const [focusNonce, setFocusNonce] = useState(0);
  const body = useRef<HTMLDivElement>(null);
  const autoCreated = useRef(false);
  const tabRefs = useRef(new Map<string, HTMLButtonElement>());

  const toTab = (info: TerminalInfo): Tab => ({ info, state: "connecting", exitCode: info.exitCode, exited: info.exited });

  const create = useCallback(async () => {
    setCreating(true);
    setError(null);
    try {
      const size = estimateSize(body.current);
      const info = await createTerminal(projectId, size.cols, size.rows);
      setTabs((current) => [...current, toTab(info)]);
      setActiveId(info.id);
      setFocusNonce((value) => value + 1);
    } catch (caught) {
      setError(caught instanceof ApiError ? caught : new ApiError(0, null, String(caught)));
    } finally {
      setCreating(false);
    }
  }, [projectId]);

  // Reattach to the terminals the server still has; open one when there are none.
  useEffect(() => {
    let cancelled = false;
    listTerminals(projectId)
      .then((list) => {
        if (cancelled) return;
        setTabs(list.map(toTab));
        setActiveId((current) => current ?? list[list.length - 1]?.id ?? null);
        setLoaded(true);
        if (list.length === 0 && !autoCreated.current) {
          autoCreated.current = true;
          void create();
        }
      })
      .catch((caught: unknown) => {
        if (cancelled) return;
        setError(caught instanceof ApiError ? caught : new ApiError(0, null, String(caught)));
        setLoaded(true);
      });
    return () => {
      cancelled = true;
    };
  }, [projectId, create]);

  const update = (id: string, change: Partial<Tab>) =>
    setTabs((current) => current.map((tab) => (tab.info.id === id ? { ...tab, ...change } : tab)));

  const close = async (id: string) => {
    const index = tabs.findIndex((tab) => tab.info.id === id);
    const remaining = tabs.filter((tab) => tab.info.id !== id);
    setTabs(remaining);
    if (activeId === id) {
      const next = remaining[Math.min(index, remaining.length - 1)];
      setActiveId(next?.info.id ?? null);
    }
    try {
      await deleteTerminal(projectId, id);
    } catch (caught) {
      setError(caught instanceof ApiError ? caught : new ApiError(0, null, String(caught)));
    }
    if (names[id]) {
      const { [id]: _removed, ...rest } = names;
      setNames(rest);
      saveNames(projectId, rest);
    }
  };

  const rename = (id: string, name: string) => {
    const next = { ...names };
    if (name.trim()) next[id] = name.trim();
    else delete next[id];
    setNames(next);
    saveNames(projectId, next);
    setRenaming(null);
  };

  const label = (tab: Tab, index: number) => names[tab.info.id] ?? tab.info.title ?? `Terminal ${index + 1}`;

  const select = (id: string) => {
    setActiveId(id);
    setFocusNonce((value) => value + 1);
  };

  const onTabKey = (event: KeyboardEvent<HTMLButtonElement>, index: number) => {
    let next = -1;
    if (event.key === "ArrowRight") next = (index + 1) % tabs.length;
    else if (event.key === "ArrowLeft") next = (index - 1 + tabs.length) % tabs.length;
    else if (event.key === "Home") next = 0;
    else if (event.key === "End") next = tabs.length - 1;
    else if (event.key === "Delete") {
      event.preventDefault();
      const id = tabs[index]?.info.id;
      if (id) void close(id);
      return;
    } else if (event.key === "F2") {
      event.preventDefault();
      setRenaming(tabs[index]?.info.id ?? null);
      return;
    }
    if (next < 0) return;
    event.preventDefault();
    const id = tabs[next]?.info.id;
    if (!id) return;
    setActiveId(id);
    tabRefs.current.get(id)?.focus();
  };

  return (
    <div className="terminals" role="region" aria-label="Terminals">
      <div className="terminals-bar">
        <div className="terminals-tabs" role="tablist" aria-label="Terminals">
          {tabs.map((tab, index) => {
            const id = tab.info.id;
            const selected = id === activeId;
            const name = label(tab, index);
            const state = tab.exited ? "exited" : tab.state;
            return (
              <div key={id} className={`terminal-tab${selected ? " selected" : ""}`}>
                {renaming === id ? (
                  <input
                    className="terminal-rename"
                    aria-label="Terminal name"
                    defaultValue={name}
                    autoFocus
                    onBlur={(event) => rename(id, event.target.value)}
                    onKeyDown={(event) => {
                      if (event.key === "Enter") rename(id, event.currentTarget.value);
                      if (event.key === "Escape") setRenaming(null);
                    }}
                  />
                ) : (
                  <button
                    ref={(element) => {
                      if (element) tabRefs.current.set(id, element);
                      else tabRefs.current.delete(id);
                    }}
                    type="button"
                    role="tab"
                    id={`terminal-tab-${id}`}
                    aria-selected={selected}
                    aria-controls={`terminal-panel-${id}`}
                    tabIndex={selected ? 0 : -1}
                    title={`${name} — ${STATE_TEXT[state]}${tab.detail ? ` (${tab.detail})` : ""}. Double-click or F2 to rename.`}
                    onClick={() => select(id)}
                    onDoubleClick={() => setRenaming(id)}
                    onKeyDown={(event) => onTabKey(event, index)}
                  >
                    <span className={`terminal-state terminal-state-${state}`} aria-hidden="true" />
                    <span className="terminal-tab-name">{name}</span>
                    {state !== "open" ? <span className="terminal-tab-status">{STATE_TEXT[state]}</span> : null}
                  </button>
                )}
                <button
                  type="button"
                  className="icon-button terminal-close"
                  aria-label={`Close ${name}`}
                  title="Kill the terminal and close it"
                  onClick={() => void close(id)}
                >
                  ✕
                </button>
              </div>
            );
          })}
        </div>
        <span className="terminals-actions">
          <button type="button" className="icon-button" aria-label="New terminal" title="New terminal" disabled={creating} onClick={() => void create()}>
            +
          </button>
        </span>
      </div>
      {error ? (
        <div className="panel-error" role="alert">
          {error.message}
        </div>
      ) : null}
      <div className="terminals-body" ref={body}>
        {loaded && tabs.length === 0 && !creating ? (
          <div className="terminals-empty">
            <p>No terminals are running.</p>
            <button type="button" onClick={() => void create()}>
              New terminal
            </button>
          </div>
        ) : null}
        {tabs.map((tab) => (
          <div
            key={tab.info.id}
            id={`terminal-panel-${tab.info.id}`}
            role="tabpanel"
            aria-labelledby={`terminal-tab-${tab.info.id}`}
            className="terminal-panel"
            hidden={tab.info.id !== activeId}
          >
            <TerminalView
              projectId={projectId}
              terminalId={tab.info.id}
              active={tab.info.id === activeId}
              focusNonce={tab.info.id === activeId ? focusNonce : 0}
              onState={(state, detail) => update(tab.info.id, { state, detail })}
              onExit={(code) => update(tab.info.id, { exited: true, exitCode: code })}
            />
          </div>
        ))}
      </div>
    </div>
  );
}
