// The imports running in this tab, by job: each one's progress, followed over SSE
// (or polling) until it ends, whether or not its dialog is still open. The
// dashboard shows a running import on its project's row.
import { create } from "zustand";

import { followJob, initialProgress, isFinished, type ImportAccepted, type ImportProgress } from "./importJob";

export interface ImportEntry {
  jobId: string;
  projectId: string;
  orgId: string;
  name: string;
  progress: ImportProgress;
}

interface ImportState {
  byJob: Record<string, ImportEntry>;
  /** Starts following an accepted import; `onEnd` runs once when it finishes. */
  follow(accepted: ImportAccepted, meta: { orgId: string; name: string }, onEnd?: (entry: ImportEntry) => void): void;
  dismiss(jobId: string): void;
}

const stops = new Map<string, () => void>();

export const useImports = create<ImportState>((set, get) => ({
  byJob: {},
  follow(accepted, meta, onEnd) {
    if (stops.has(accepted.job_id)) return;
    const entry: ImportEntry = {
      jobId: accepted.job_id,
      projectId: accepted.project_id,
      orgId: meta.orgId,
      name: meta.name,
      progress: initialProgress,
    };
    set((state) => ({ byJob: { ...state.byJob, [entry.jobId]: entry } }));
    const stop = followJob(accepted.job_id, initialProgress, (progress) => {
      const current = get().byJob[accepted.job_id];
      if (!current) return;
      const next = { ...current, progress };
      set((state) => ({ byJob: { ...state.byJob, [next.jobId]: next } }));
      if (isFinished(progress)) {
        stops.delete(accepted.job_id);
        onEnd?.(next);
      }
    });
    stops.set(accepted.job_id, stop);
  },
  dismiss(jobId) {
    stops.get(jobId)?.();
    stops.delete(jobId);
    set((state) => {
      const byJob = { ...state.byJob };
      delete byJob[jobId];
      return { byJob };
    });
  },
}));
