// The save conflict: the file changed on the server since it was loaded (412
// etag_mismatch). Reload (discard mine), Overwrite (mine replaces theirs), or Compare
// (a diff editor of theirs against mine) before deciding.
import { useEffect, useRef, useState } from "react";
import type * as MonacoApi from "monaco-editor";

import { Dialog } from "./Dialog";
import { fetchServerText, getModel, loadMonaco, reloadDocument, saveDocument, useDocs } from "./documents";
import { log } from "./output";
import { monacoTheme, type Settings } from "./settings";

export function ConflictDialog({ settings }: { settings: Settings }) {
  const path = useDocs((s) => Object.keys(s.docs).find((p) => s.docs[p]!.conflict) ?? null);
  const [comparing, setComparing] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    setComparing(false);
    setError(null);
  }, [path]);

  if (!path) return null;
  const dismiss = () => useDocs.setState((s) => ({ docs: { ...s.docs, [path]: { ...s.docs[path]!, conflict: false } } }));

  async function act(kind: "reload" | "overwrite") {
    setBusy(true);
    setError(null);
    try {
      if (kind === "reload") {
        await reloadDocument(path!);
        log(`Reloaded ${path} from the server (local changes discarded)`);
      } else {
        const result = await saveDocument(path!, { overwrite: true });
        if (result !== "saved") throw new Error(useDocs.getState().docs[path!]?.error ?? "the save failed");
        log(`Overwrote ${path} on the server with the local version`);
      }
    } catch (cause) {
      setError(cause instanceof Error ? cause.message : String(cause));
    } finally {
      setBusy(false);
    }
  }

  const name = path.split("/").pop();
  return (
    <Dialog title={`${name} changed on the server`} onClose={dismiss} className={comparing ? "ide-conflict wide" : "ide-conflict"} describedBy="ide-conflict-text">
      <p id="ide-conflict-text">
        Someone (or something) changed <strong>{path}</strong> after you opened it. Saving now would replace their change.
      </p>
      {comparing && <CompareView path={path} settings={settings} />}
      {error && (
        <p className="form-error" role="alert">
          {error}
        </p>
      )}
      <div className="ide-dialog-actions">
        {!comparing && (
          <button type="button" className="secondary" onClick={() => setComparing(true)} disabled={busy}>
            Compare
          </button>
        )}
        <button type="button" className="secondary" onClick={() => void act("reload")} disabled={busy}>
          Reload (discard mine)
        </button>
        <button type="button" data-autofocus onClick={() => void act("overwrite")} disabled={busy}>
          Overwrite
        </button>
        <button type="button" className="secondary" onClick={dismiss} disabled={busy}>
          Cancel
        </button>
      </div>
    </Dialog>
  );
}

function CompareView({ path, settings }: { path: string; settings: Settings }) {
  const host = useRef<HTMLDivElement>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    let disposed = false;
    let editor: MonacoApi.editor.IStandaloneDiffEditor | null = null;
    let theirs: MonacoApi.editor.ITextModel | null = null;
    void (async () => {
      try {
        const [monaco, server] = await Promise.all([loadMonaco(), fetchServerText(path)]);
        const mine = getModel(path);
        if (disposed || !host.current || !mine) return;
        monaco.editor.setTheme(monacoTheme(settings.theme));
        theirs = monaco.editor.createModel(server.text, mine.getLanguageId());
        editor = monaco.editor.createDiffEditor(host.current, {
          automaticLayout: true,
          originalEditable: false,
          renderSideBySide: host.current.clientWidth > 600,
          fontSize: settings.font_size,
          minimap: { enabled: false },
        });
        editor.setModel({ original: theirs, modified: mine });
      } catch (cause) {
        if (!disposed) setError(cause instanceof Error ? cause.message : String(cause));
      }
    })();
    return () => {
      disposed = true;
      editor?.dispose();
      theirs?.dispose();
    };
  }, [path, settings.theme, settings.font_size]);
  return (
    <div className="ide-compare">
      <div className="ide-compare-legend" aria-hidden="true">
        <span>Theirs (on the server)</span>
        <span>Mine (editable)</span>
      </div>
      <div ref={host} className="ide-compare-editor" role="region" aria-label={`Compare the server's ${path} with yours`} />
      {error && <p role="alert">Could not load the server's version: {error}</p>}
    </div>
  );
}
