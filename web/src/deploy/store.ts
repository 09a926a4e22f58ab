// The Deploy view's UI state (zustand): the selected service, the log viewer's target,
// and requests from palette commands. Server data lives in TanStack Query (queries.ts).
import { create } from "zustand";

export type LogMode = "build" | "runtime";

export interface LogTarget {
  serviceId: string;
  serviceName: string;
  /** The deployment whose build/deploy log is shown (build mode). */
  deploymentId: string | null;
  number: number | null;
  mode: LogMode;
}

interface DeployState {
  projectId: string | null;
  selected: string | null;
  logs: LogTarget | null;
  /** Set by "Deploy: Deploy service"; the selected (or only) service's view takes it and deploys. */
  deployPending: boolean;
  reset(projectId: string): void;
  select(serviceId: string | null): void;
  openLogs(target: LogTarget): void;
  setLogMode(mode: LogMode): void;
  closeLogs(): void;
  requestDeploy(): void;
  /** Answers whether a deploy was requested, and clears the request. */
  takeDeploy(): boolean;
}

export const useDeploy = create<DeployState>((set, get) => ({
  projectId: null,
  selected: null,
  logs: null,
  deployPending: false,
  reset(projectId) {
    if (get().projectId !== projectId) set({ projectId, selected: null, logs: null });
  },
  select(serviceId) {
    set({ selected: serviceId });
  },
  openLogs(target) {
    set({ logs: target });
  },
  setLogMode(mode) {
    const logs = get().logs;
    if (logs) set({ logs: { ...logs, mode } });
  },
  closeLogs() {
    set({ logs: null });
  },
  requestDeploy() {
    set({ deployPending: true });
  },
  takeDeploy() {
    if (!get().deployPending) return false;
    set({ deployPending: false });
    return true;
  },
}));
