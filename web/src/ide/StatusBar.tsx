// The status bar: git branch (and ahead/behind), problems, cursor position, indentation,
// encoding, line endings, language and the connection.
import { useQuery } from "@tanstack/react-query";
import { useEffect, useState } from "react";

import { api, ApiError, unwrap } from "../api/client";
import { useProblems } from "./BottomPanel";
import { useDocs } from "./documents";
import { runEditorAction } from "./editors";
import { languageName, type LanguageTable } from "./languages";
import type { Settings } from "./settings";
import { activeTab, useIde } from "./store";

export function StatusBar({ projectId, settings }: { projectId: string; settings: Settings }) {
  const filesVersion = useIde((s) => s.filesVersion);
  const connection = useIde((s) => s.connection);
  const cursor = useIde((s) => s.cursor);
  const language = useIde((s) => s.language);
  const eol = useIde((s) => s.eol);
  const encoding = useIde((s) => s.encoding);
  const tab = useIde((s) => activeTab(s));
  const saving = useDocs((s) => Object.values(s.docs).some((d) => d.saving));
  const problems = useProblems();
  const [table, setTable] = useState<LanguageTable | null>(null);

  const git = useQuery({
    queryKey: ["git-status", projectId, filesVersion],
    queryFn: () => unwrap(api.GET("/api/v1/projects/{project}/git/status", { params: { path: { project: projectId } } })),
    refetchInterval: 30_000,
    retry: false,
    placeholderData: (previous) => previous,
  });

  useEffect(() => {
    if (git.error instanceof ApiError && git.error.status === 0) useIde.getState().setConnection("offline");
    else if (git.isSuccess && navigator.onLine) useIde.getState().setConnection("online");
  }, [git.error, git.isSuccess, git.dataUpdatedAt]);

  useEffect(() => {
    if (!language || table) return;
    void import("./monaco").then((m) => setTable(m.languageTable()));
  }, [language, table]);

  const fileTab = tab?.kind === "file";
  const errors = problems.filter((p) => p.severity >= 8).length;
  const warnings = problems.filter((p) => p.severity >= 4 && p.severity < 8).length;

  return (
    <footer className="ide-statusbar" aria-label="Status bar">
      <div className="ide-status-left">
        {git.data?.repository && (
          <button type="button" className="ide-status-item" aria-label={`Git branch ${git.data.branch ?? "detached"}; show source control`} onClick={() => useIde.setState({ sidebarView: "git", sidebarCollapsed: false })}>
            <span aria-hidden="true">⎇</span> {git.data.branch ?? git.data.head?.slice(0, 8) ?? "detached"}
            {(git.data.ahead > 0 || git.data.behind > 0) && (
              <span className="ide-status-sync">
                {" "}
                {git.data.behind}↓ {git.data.ahead}↑
              </span>
            )}
          </button>
        )}
        <button type="button" className="ide-status-item" aria-label={`${errors} errors, ${warnings} warnings; show problems`} onClick={() => useIde.getState().setPanelTab("problems")}>
          <span aria-hidden="true">⊗</span> {errors} <span aria-hidden="true">⚠</span> {warnings}
        </button>
        {connection !== "online" && (
          <span className="ide-status-item warning" role="status">
            {connection === "offline" ? "Offline" : "Reconnecting…"}
          </span>
        )}
        {saving && (
          <span className="ide-status-item" role="status">
            Saving…
          </span>
        )}
      </div>
      <div className="ide-status-right">
        {fileTab && cursor && (
          <button type="button" className="ide-status-item" aria-label={`Line ${cursor.line}, column ${cursor.column}; go to line`} onClick={() => runEditorAction("editor.action.gotoLine")}>
            Ln {cursor.line}, Col {cursor.column}
            {cursor.selected > 0 && ` (${cursor.selected} selected)`}
          </button>
        )}
        {fileTab && (
          <>
            <span className="ide-status-item">{settings.insert_spaces ? `Spaces: ${settings.tab_size}` : `Tab Size: ${settings.tab_size}`}</span>
            <span className="ide-status-item" aria-label={`Encoding ${encoding}`}>
              {encoding}
            </span>
            {eol && (
              <span className="ide-status-item" aria-label={`Line endings ${eol}`}>
                {eol}
              </span>
            )}
            {language && <span className="ide-status-item">{table ? languageName(table, language) : language}</span>}
          </>
        )}
        <span className={`ide-status-item connection ${connection}`} aria-label={`Connection: ${connection}`} title={`Connection: ${connection}`}>
          <span aria-hidden="true">{connection === "online" ? "●" : "○"}</span>
        </span>
      </div>
    </footer>
  );
}
