// Inline completions (ghost text) in Monaco from `POST /assistant/complete`: for every
// language, debounced, cancelled with Monaco's token (the fetch is aborted), only when
// the preference is on and the org's assistant is configured, and paused by the
// CompletionGate after a 503 or 429. Tab accepts (Monaco's own binding).
import type * as MonacoApi from "monaco-editor";

import { CompletionError, requestCompletion } from "./api";
import { completionWindow, CompletionGate, debounce } from "./gate";
import { useAssistant } from "./store";

export const DEBOUNCE_MS = 300;

export const gate = new CompletionGate();

// A change of settings (an endpoint configured, the preference turned back on) lifts a pause.
useAssistant.subscribe((state, previous) => {
  if (state.configured !== previous.configured || state.inlineEnabled !== previous.inlineEnabled || state.orgId !== previous.orgId) gate.reset();
});

/** Whether completions may be asked for now. */
export function completionsActive(): boolean {
  const state = useAssistant.getState();
  return !!state.projectId && state.configured === true && state.inlineEnabled && gate.open();
}

let registered = false;

/** Registers the provider once (monaco.ts calls this when Monaco loads). */
export function registerInlineCompletions(monaco: typeof MonacoApi): void {
  if (registered) return;
  registered = true;
  monaco.languages.registerInlineCompletionsProvider(
    "*",
    {
      async provideInlineCompletions(model, position, _context, token) {
        if (!completionsActive()) return { items: [] };
        const abort = new AbortController();
        const subscription = token.onCancellationRequested(() => abort.abort());
        try {
          if (token.isCancellationRequested || !(await debounce(DEBOUNCE_MS, abort.signal))) return { items: [] };
          if (!completionsActive() || model.isDisposed()) return { items: [] };
          const projectId = useAssistant.getState().projectId!;
          const end = model.getFullModelRange();
          const before = model.getValueInRange({ startLineNumber: 1, startColumn: 1, endLineNumber: position.lineNumber, endColumn: position.column });
          const after = model.getValueInRange({ startLineNumber: position.lineNumber, startColumn: position.column, endLineNumber: end.endLineNumber, endColumn: end.endColumn });
          if (!before.trim()) return { items: [] };
          const { prefix, suffix } = completionWindow(before, after);
          const answer = await requestCompletion(
            { project_id: projectId, path: model.uri.path.replace(/^\//, ""), language: model.getLanguageId(), prefix, suffix },
            abort.signal,
          );
          gate.succeeded();
          if (!answer.completion || token.isCancellationRequested) return { items: [] };
          return {
            items: [{ insertText: answer.completion, range: new monaco.Range(position.lineNumber, position.column, position.lineNumber, position.column) }],
          };
        } catch (error) {
          if (error instanceof CompletionError) gate.failed(error.status, error.retryAfter);
          else if (!abort.signal.aborted) gate.failed(0);
          return { items: [] };
        } finally {
          subscription.dispose();
        }
      },
      disposeInlineCompletions() {
        // Nothing held per answer.
      },
    },
  );
}
