// The editor area: editor groups side by side, each with a tab strip (role="tablist";
// dirty marker, close, drag to reorder or to another group, context menu), breadcrumbs,
// and the editor or diff editor of its active tab.
import { Fragment, useCallback, useEffect, useRef, useState } from "react";

import { ContextMenu, type MenuState } from "./ContextMenu";
import { DiffPane } from "./DiffPane";
import { EditorPane } from "./EditorPane";
import { requestClose } from "./CloseGuard";
import { getModel, saveDocument } from "./documents";
import { activeEditor } from "./editors";
import type { SymbolCrumb } from "./monaco";
import { type Settings } from "./settings";
import { useIde, type EditorGroup, type Tab } from "./store";

const TAB_MIME = "application/x-dockyard-tab";

function tabLabel(tab: Tab): string {
  const name = tab.path.split("/").pop() || tab.path;
  return tab.kind === "diff" ? `${name} (${tab.staged ? "Index" : "Working Tree"})` : name;
}

export function EditorArea({ projectId, settings, single }: { projectId: string; settings: Settings; single: boolean }) {
  const groups = useIde((s) => s.groups);
  const activeGroupId = useIde((s) => s.activeGroupId);
  const shown = single ? groups.filter((g) => g.id === activeGroupId) : groups;
  return (
    <div className="ide-editor-area">
      {shown.map((group, i) => (
        <Fragment key={group.id}>
          {i > 0 && <div className="ide-group-divider" aria-hidden="true" />}
          <GroupView projectId={projectId} group={group} active={group.id === activeGroupId} settings={settings} index={i} />
        </Fragment>
      ))}
    </div>
  );
}

function GroupView({ projectId, group, active, settings, index }: { projectId: string; group: EditorGroup; active: boolean; settings: Settings; index: number }) {
  const ide = useIde.getState;
  const dirty = useIde((s) => s.dirty);
  const [menu, setMenu] = useState<MenuState | null>(null);
  const [dropAt, setDropAt] = useState<number | null>(null);
  const closeMenu = useCallback(() => setMenu(null), []);
  const tab = group.tabs.find((t) => t.id === group.activeTabId) ?? null;
  const groupLabel = `Editor group ${index + 1}`;
  const tabsRef = useRef<HTMLDivElement>(null);

  // Keep the active tab in view when the strip overflows.
  useEffect(() => {
    tabsRef.current?.querySelector(".ide-tab.selected")?.scrollIntoView({ block: "nearest", inline: "nearest" });
  }, [group.activeTabId, group.tabs.length]);

  function onDrop(event: React.DragEvent, toIndex: number) {
    const raw = event.dataTransfer.getData(TAB_MIME);
    setDropAt(null);
    if (!raw) return;
    event.preventDefault();
    event.stopPropagation();
    const { groupId, tabId } = JSON.parse(raw) as { groupId: string; tabId: string };
    if (groupId === group.id) {
      const from = group.tabs.findIndex((t) => t.id === tabId);
      ide().moveTab(group.id, tabId, from < toIndex ? toIndex - 1 : toIndex);
    } else {
      ide().moveTabToGroup(groupId, tabId, group.id, toIndex);
    }
  }

  function onTabKeyDown(event: React.KeyboardEvent, i: number) {
    const tabs = (event.currentTarget.parentElement?.parentElement?.querySelectorAll<HTMLElement>('[role="tab"]') ?? []) as NodeListOf<HTMLElement>;
    let next = -1;
    if (event.key === "ArrowRight") next = (i + 1) % group.tabs.length;
    else if (event.key === "ArrowLeft") next = (i - 1 + group.tabs.length) % group.tabs.length;
    else if (event.key === "Home") next = 0;
    else if (event.key === "End") next = group.tabs.length - 1;
    else if (event.key === "Delete") {
      event.preventDefault();
      requestClose(group.id, group.tabs[i]!.id);
      return;
    } else if (event.key === "ArrowLeft" || event.key === "ArrowRight") return;
    else return;
    event.preventDefault();
    if (event.altKey || event.shiftKey) {
      ide().moveTab(group.id, group.tabs[i]!.id, next);
    } else {
      ide().activateTab(group.id, group.tabs[next]!.id);
    }
    tabs[next]?.focus();
  }

  function openTabMenu(event: React.MouseEvent | React.KeyboardEvent, t: Tab) {
    event.preventDefault();
    const rect = (event.currentTarget as HTMLElement).getBoundingClientRect();
    const x = "clientX" in event ? event.clientX : rect.left;
    const y = "clientY" in event ? event.clientY : rect.bottom;
    setMenu({
      x,
      y,
      label: `${tabLabel(t)} actions`,
      items: [
        { label: "Close", keybinding: "Alt+W", run: () => requestClose(group.id, t.id) },
        { label: "Close Others", disabled: group.tabs.length < 2, run: () => ide().closeOthers(group.id, t.id) },
        { label: "Close All", run: () => ide().closeAll(group.id) },
        "separator",
        ...(t.kind === "file" && dirty[t.path] ? [{ label: "Save", keybinding: "Ctrl+S", run: () => void saveDocument(t.path) }] : []),
        { label: "Keep Open", disabled: !t.preview, run: () => ide().pinTab(group.id, t.id) },
        {
          label: "Split Right",
          keybinding: "Ctrl+\\",
          run: () => {
            ide().activateTab(group.id, t.id);
            ide().splitRight(group.id);
          },
        },
        { label: "Copy Path", run: () => void navigator.clipboard?.writeText(t.path) },
      ],
    });
  }

  return (
    <section
      className={`ide-group${active ? " active" : ""}`}
      aria-label={groupLabel}
      onMouseDown={() => !active && ide().focusGroup(group.id)}
      onDragOver={(e) => {
        if (e.dataTransfer.types.includes(TAB_MIME)) e.preventDefault();
      }}
      onDrop={(e) => onDrop(e, group.tabs.length)}
    >
      <div className="ide-tabbar">
        <div ref={tabsRef} role="tablist" aria-label={`${groupLabel} tabs`} className="ide-tabs" onDragLeave={() => setDropAt(null)}>
          {group.tabs.map((t, i) => {
            const selected = t.id === group.activeTabId;
            const isDirty = t.kind === "file" && !!dirty[t.path];
            return (
              <div
                key={t.id}
                className={`ide-tab${selected ? " selected" : ""}${t.preview ? " preview" : ""}${isDirty ? " dirty" : ""}${dropAt === i ? " drop-before" : ""}`}
                draggable
                onDragStart={(e) => {
                  e.dataTransfer.setData(TAB_MIME, JSON.stringify({ groupId: group.id, tabId: t.id }));
                  e.dataTransfer.effectAllowed = "move";
                }}
                onDragOver={(e) => {
                  if (!e.dataTransfer.types.includes(TAB_MIME)) return;
                  e.preventDefault();
                  e.stopPropagation();
                  const rect = e.currentTarget.getBoundingClientRect();
                  setDropAt(e.clientX > rect.left + rect.width / 2 ? i + 1 : i);
                }}
                onDrop={(e) => onDrop(e, dropAt ?? i)}
                onContextMenu={(e) => openTabMenu(e, t)}
                onAuxClick={(e) => e.button === 1 && requestClose(group.id, t.id)}
                title={t.path}
              >
                <button
                  type="button"
                  role="tab"
                  id={`tab-${group.id}-${t.id}`}
                  aria-selected={selected}
                  aria-controls={`panel-${group.id}`}
                  tabIndex={selected ? 0 : -1}
                  className="ide-tab-label"
                  onClick={() => ide().activateTab(group.id, t.id)}
                  onDoubleClick={() => ide().pinTab(group.id, t.id)}
                  onKeyDown={(e) => {
                    if (e.key === "ContextMenu" || (e.shiftKey && e.key === "F10")) openTabMenu(e, t);
                    else onTabKeyDown(e, i);
                  }}
                >
                  {tabLabel(t)}
                  {isDirty && <span className="visually-hidden"> (unsaved changes)</span>}
                </button>
                <button
                  type="button"
                  className="ide-tab-close"
                  aria-label={`Close ${tabLabel(t)}`}
                  title={isDirty ? "Unsaved changes (close)" : "Close"}
                  tabIndex={-1}
                  onClick={(e) => {
                    e.stopPropagation();
                    requestClose(group.id, t.id);
                  }}
                >
                  <span aria-hidden="true" className="ide-dirty-dot">●</span>
                  <span aria-hidden="true" className="ide-close-x">×</span>
                </button>
              </div>
            );
          })}
          {dropAt === group.tabs.length && <div className="ide-tab-drop-end" />}
        </div>
        <div className="ide-tabbar-actions">
          <button type="button" className="ide-icon-button" aria-label="Split editor right" title="Split Editor Right (Ctrl+\)" onClick={() => ide().splitRight(group.id)}>
            ◫
          </button>
          {useIde.getState().groups.length > 1 && (
            <button type="button" className="ide-icon-button" aria-label={`Close ${groupLabel}`} title="Close Group" onClick={() => ide().closeGroup(group.id)}>
              ×
            </button>
          )}
        </div>
      </div>
      <div id={`panel-${group.id}`} role="tabpanel" aria-labelledby={tab ? `tab-${group.id}-${tab.id}` : undefined} aria-label={tab ? undefined : groupLabel} className="ide-group-body">
        {tab && <Breadcrumbs path={tab.path} symbols={active && tab.kind === "file"} />}
        {tab?.kind === "file" && <EditorPane projectId={projectId} groupId={group.id} path={tab.path} settings={settings} focused={active} />}
        {tab?.kind === "diff" && <DiffPane projectId={projectId} path={tab.path} staged={!!tab.staged} settings={settings} />}
        {!tab && <Welcome />}
      </div>
      {menu && <ContextMenu menu={menu} onClose={closeMenu} />}
    </section>
  );
}

function Breadcrumbs({ path, symbols }: { path: string; symbols: boolean }) {
  const segments = path.split("/");
  const cursor = useIde((s) => s.cursor);
  const [found, setFound] = useState<{ path: string; chain: SymbolCrumb[] }>({ path, chain: [] });
  // Symbols belong to the file they were computed for: never show another file's.
  const crumbs = symbols && found.path === path ? found.chain : [];
  useEffect(() => {
    if (!symbols || !cursor) return;
    let live = true;
    const timer = setTimeout(() => {
      const model = getModel(path);
      if (!model) return;
      void import("./monaco")
        .then((m) => m.symbolPath(model, cursor.line, cursor.column))
        .then((chain) => live && setFound({ path, chain }));
    }, 250);
    return () => {
      live = false;
      clearTimeout(timer);
    };
  }, [symbols, cursor, path]);
  return (
    <nav className="ide-breadcrumbs" aria-label="Breadcrumbs">
      <ol>
        {segments.map((segment, i) => (
          <li key={i} aria-current={i === segments.length - 1 && crumbs.length === 0 ? "location" : undefined}>
            {i === segments.length - 1 ? (
              segment
            ) : (
              <button type="button" className="ide-link-button" onClick={() => useIde.getState().revealInExplorer(segments.slice(0, i + 1).join("/"))}>
                {segment}
              </button>
            )}
          </li>
        ))}
        {crumbs.map((crumb, i) => (
          <li key={`s${i}`} className="ide-crumb-symbol" aria-current={i === crumbs.length - 1 ? "location" : undefined}>
            <button
              type="button"
              className="ide-link-button"
              title={`${crumb.kind} ${crumb.name}`}
              onClick={() => {
                const editor = activeEditor();
                editor?.setPosition({ lineNumber: crumb.line, column: crumb.column });
                editor?.revealLineInCenterIfOutsideViewport(crumb.line);
                editor?.focus();
              }}
            >
              {crumb.name}
            </button>
          </li>
        ))}
      </ol>
    </nav>
  );
}

function Welcome() {
  const rows: [string, string][] = [
    ["Show All Commands", "Ctrl+Shift+P"],
    ["Go to File", "Ctrl+P"],
    ["Toggle Terminal", "Ctrl+`"],
    ["Toggle Sidebar", "Ctrl+B"],
  ];
  return (
    <div className="ide-welcome">
      <p className="ide-welcome-title">Dockyard</p>
      <dl>
        {rows.map(([label, key]) => (
          <div key={label}>
            <dt>{label}</dt>
            <dd>
              <kbd>{key}</kbd>
            </dd>
          </div>
        ))}
      </dl>
    </div>
  );
}
