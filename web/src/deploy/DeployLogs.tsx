// The "Deploy logs" panel, docked under the editors: the selected deployment's build
// and deploy log live over SSE, or the service's runtime logs; a search box that
// highlights (or, with Filter, keeps only) matching lines; Follow keeps the newest line
// in view (scrolling up turns it off). ANSI escapes are stripped, never rendered.
import { useQueryClient } from "@tanstack/react-query";
import { useEffect, useLayoutEffect, useMemo, useRef, useState } from "react";

import { filterLines, highlightParts, type LogLine } from "./model";
import { useLogStream } from "./logStream";
import { deploymentsKey, servicesKey } from "./queries";
import { useDeploy } from "./store";
import "../styles/deploy.css";

const SHOWN = 5000;

export function DeployLogsDock({ projectId }: { projectId: string }) {
  const target = useDeploy((s) => s.logs);
  const forProject = useDeploy((s) => s.projectId === projectId);
  // Another project's logs close when the IDE switches projects.
  useEffect(() => useDeploy.getState().reset(projectId), [projectId]);
  if (!target || !forProject) return null;
  return <DeployLogs key={`${target.serviceId}:${target.mode}:${target.deploymentId ?? ""}`} projectId={projectId} />;
}

function DeployLogs({ projectId }: { projectId: string }) {
  const target = useDeploy((s) => s.logs)!;
  const client = useQueryClient();
  const runtime = target.mode === "runtime";
  const url = runtime
    ? `/api/v1/services/${encodeURIComponent(target.serviceId)}/logs?follow=true&tail=200`
    : target.deploymentId
      ? `/api/v1/deployments/${encodeURIComponent(target.deploymentId)}/logs`
      : null;
  const refresh = () => {
    void client.invalidateQueries({ queryKey: deploymentsKey(target.serviceId) });
    void client.invalidateQueries({ queryKey: servicesKey(projectId) });
  };
  const { lines, state } = useLogStream(url, { resetOnOpen: runtime, onStep: refresh, onEnd: refresh });

  const [query, setQuery] = useState("");
  const [filter, setFilter] = useState(true);
  const [follow, setFollow] = useState(true);
  const body = useRef<HTMLDivElement>(null);
  const programmatic = useRef(false);

  const matching = useMemo(() => (query ? filterLines(lines, query) : lines), [lines, query]);
  const shownAll = filter ? matching : lines;
  const shown = shownAll.length > SHOWN ? shownAll.slice(shownAll.length - SHOWN) : shownAll;

  useLayoutEffect(() => {
    const el = body.current;
    if (!el || !follow) return;
    programmatic.current = true;
    el.scrollTop = el.scrollHeight;
  }, [shown, follow]);

  useEffect(() => {
    const onKey = (event: KeyboardEvent) => {
      if (event.key === "Escape" && body.current?.parentElement?.contains(document.activeElement)) useDeploy.getState().closeLogs();
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, []);

  const title = runtime ? `Runtime logs: ${target.serviceName}` : `Deploy logs: ${target.serviceName}${target.number ? ` #${target.number}` : ""}`;
  const stateLabel = state === "live" ? (runtime ? "following" : "live") : state === "ended" ? "finished" : state === "reconnecting" ? "reconnecting…" : state === "connecting" ? "connecting…" : "";

  return (
    <section className="deploy-logs" aria-label="Deploy logs">
      <div className="deploy-logs-header">
        <h2 className="deploy-logs-title" title={title}>
          {title}
        </h2>
        <span className="deploy-muted deploy-logs-state" aria-live="polite">
          {stateLabel}
        </span>
        <input
          type="search"
          className="deploy-logs-search"
          aria-label="Search logs"
          placeholder="Search logs"
          value={query}
          onChange={(e) => setQuery(e.target.value)}
        />
        {query ? (
          <span className="deploy-muted" aria-live="polite">
            {matching.length} {matching.length === 1 ? "match" : "matches"}
          </span>
        ) : null}
        <button type="button" className="icon-toggle" aria-pressed={filter} title="Show only matching lines" onClick={() => setFilter(!filter)}>
          Filter
        </button>
        <button type="button" className="icon-toggle" aria-pressed={follow} title="Keep the newest line in view" onClick={() => setFollow(!follow)}>
          Follow
        </button>
        <button
          type="button"
          className="icon-toggle"
          aria-pressed={runtime}
          title={runtime ? "Show the deployment's build log" : "Show the running service's logs"}
          disabled={!runtime && !target.serviceId}
          onClick={() => useDeploy.getState().setLogMode(runtime ? "build" : "runtime")}
          aria-label="Runtime logs"
        >
          Runtime
        </button>
        <button type="button" className="icon-button" aria-label="Close deploy logs" title="Close (Esc)" onClick={() => useDeploy.getState().closeLogs()}>
          ×
        </button>
      </div>
      <div
        ref={body}
        className="deploy-logs-body"
        role="log"
        aria-label={title}
        tabIndex={0}
        onScroll={(e) => {
          if (programmatic.current) {
            programmatic.current = false;
            return;
          }
          const el = e.currentTarget;
          const atBottom = el.scrollHeight - el.scrollTop - el.clientHeight < 8;
          if (atBottom !== follow) setFollow(atBottom);
        }}
      >
        {!runtime && !target.deploymentId ? <p className="deploy-muted">This service has no deployment yet.</p> : null}
        {shown.length === 0 && url ? <p className="deploy-muted">{query && filter && lines.length > 0 ? "No line matches." : state === "ended" ? "No output." : "Waiting for output…"}</p> : null}
        {shown.map((line) => (
          <Line key={line.n} line={line} query={query} />
        ))}
      </div>
    </section>
  );
}

function Line({ line, query }: { line: LogLine; query: string }) {
  const parts = query ? highlightParts(line.text, query) : null;
  return (
    <div className={`deploy-log-line${line.marker ? " marker" : ""}${line.stream === "stderr" ? " stderr" : ""}`}>
      {parts ? parts.map((part, i) => (part.match ? <mark key={i}>{part.text}</mark> : <span key={i}>{part.text}</span>)) : line.text || " "}
    </div>
  );
}
