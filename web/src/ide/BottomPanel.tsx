// The bottom panel: Terminal (the panels engineer's TerminalPanel, kept mounted once
// shown so sessions survive hiding), Problems (Monaco's markers) and Output.
import { useEffect, useState } from "react";

import { loadMonaco } from "./documents";
import { useOutput } from "./output";
import { TerminalPanel } from "./panel/TerminalPanel";
import { useIde } from "./store";

const TABS = [
  { id: "terminal", label: "Terminal" },
  { id: "problems", label: "Problems" },
  { id: "output", label: "Output" },
];

interface Problem {
  path: string;
  message: string;
  line: number;
  column: number;
  severity: number;
}

export function useProblems(): Problem[] {
  const [problems, setProblems] = useState<Problem[]>([]);
  const hasTabs = useIde((s) => s.groups.some((g) => g.tabs.length > 0));
  useEffect(() => {
    if (!hasTabs) return;
    let live = true;
    let sub: { dispose(): void } | null = null;
    void loadMonaco().then((monaco) => {
      if (!live) return;
      const read = () =>
        setProblems(
          monaco.editor
            .getModelMarkers({})
            .filter((m) => m.resource.scheme === "file")
            .map((m) => ({ path: m.resource.path.slice(1), message: m.message, line: m.startLineNumber, column: m.startColumn, severity: m.severity }))
            .sort((a, b) => b.severity - a.severity || a.path.localeCompare(b.path) || a.line - b.line),
        );
      read();
      sub = monaco.editor.onDidChangeMarkers(read);
    });
    return () => {
      live = false;
      sub?.dispose();
    };
  }, [hasTabs]);
  return problems;
}

export function BottomPanel({ projectId }: { projectId: string }) {
  const open = useIde((s) => s.panelOpen);
  const tab = useIde((s) => s.panelTab);
  const [terminalMounted, setTerminalMounted] = useState(false);
  const problems = useProblems();
  const lines = useOutput((s) => s.lines);

  useEffect(() => {
    if (open && tab === "terminal") setTerminalMounted(true);
  }, [open, tab]);

  return (
    <section className="ide-panel" hidden={!open} aria-label="Panel">
      <div className="ide-panel-header">
        <div role="tablist" aria-label="Panel views" className="ide-panel-tabs">
          {TABS.map((t) => (
            <button
              key={t.id}
              type="button"
              role="tab"
              id={`panel-tab-${t.id}`}
              aria-selected={tab === t.id}
              aria-controls={`panel-view-${t.id}`}
              tabIndex={tab === t.id ? 0 : -1}
              className={tab === t.id ? "active" : undefined}
              onClick={() => useIde.getState().setPanelTab(t.id)}
              onKeyDown={(e) => {
                if (e.key !== "ArrowRight" && e.key !== "ArrowLeft") return;
                const at = TABS.findIndex((x) => x.id === tab);
                const next = TABS[(at + (e.key === "ArrowRight" ? 1 : -1) + TABS.length) % TABS.length]!;
                useIde.getState().setPanelTab(next.id);
                (e.currentTarget.parentElement?.querySelector(`#panel-tab-${next.id}`) as HTMLElement | null)?.focus();
              }}
            >
              {t.label}
              {t.id === "problems" && problems.length > 0 && <span className="ide-badge">{problems.length}</span>}
            </button>
          ))}
        </div>
        <button type="button" className="ide-icon-button" aria-label="Close panel" title="Close Panel (Ctrl+J)" onClick={() => useIde.getState().togglePanel(false)}>
          ×
        </button>
      </div>
      <div id="panel-view-terminal" role="tabpanel" aria-labelledby="panel-tab-terminal" hidden={tab !== "terminal"} className="ide-panel-body">
        {terminalMounted && <TerminalPanel projectId={projectId} />}
      </div>
      <div id="panel-view-problems" role="tabpanel" aria-labelledby="panel-tab-problems" hidden={tab !== "problems"} className="ide-panel-body">
        {problems.length === 0 ? (
          <p className="ide-panel-empty">No problems have been detected in the open files.</p>
        ) : (
          <ul className="ide-problems">
            {problems.map((p, i) => (
              <li key={i}>
                <button type="button" className="ide-link-button" onClick={() => useIde.getState().openFile(p.path, { line: p.line, column: p.column })}>
                  <span className={`ide-severity s${p.severity}`}>{p.severity >= 8 ? "Error" : p.severity >= 4 ? "Warning" : "Info"}</span> {p.message}{" "}
                  <span className="ide-muted">
                    {p.path}:{p.line}:{p.column}
                  </span>
                </button>
              </li>
            ))}
          </ul>
        )}
      </div>
      <div id="panel-view-output" role="tabpanel" aria-labelledby="panel-tab-output" hidden={tab !== "output"} className="ide-panel-body">
        <pre className="ide-output" aria-live="polite">
          {lines.map((l) => `[${l.at.toLocaleTimeString()}] ${l.text}`).join("\n") || "Nothing yet."}
        </pre>
      </div>
    </section>
  );
}
