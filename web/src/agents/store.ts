// The Agents view's UI state (zustand): the session shown in the Agent session panel
// (remembered per project in sessionStorage, so a reload reopens it and replays its
// transcript), the panel's tab, and requests from palette commands. Server data
// lives in TanStack Query (api.ts).
import { create } from "zustand";

export type SessionTab = "transcript" | "changes";

interface AgentsState {
  projectId: string | null;
  open: string | null;
  tab: SessionTab;
  /** Bumped by "Agents: New session": the view focuses its prompt box. */
  newSessionNonce: number;
  reset(projectId: string): void;
  openSession(id: string, tab?: SessionTab): void;
  setTab(tab: SessionTab): void;
  close(): void;
  requestNewSession(): void;
}

const storageKey = (projectId: string) => `dockyard.agents.open.${projectId}`;

function remembered(projectId: string): string | null {
  try {
    return sessionStorage.getItem(storageKey(projectId));
  } catch {
    return null;
  }
}

function remember(projectId: string | null, id: string | null) {
  if (!projectId) return;
  try {
    if (id) sessionStorage.setItem(storageKey(projectId), id);
    else sessionStorage.removeItem(storageKey(projectId));
  } catch {
    // No storage: the panel just does not come back after a reload.
  }
}

export const useAgents = create<AgentsState>((set, get) => ({
  projectId: null,
  open: null,
  tab: "transcript",
  newSessionNonce: 0,
  reset(projectId) {
    if (get().projectId !== projectId) set({ projectId, open: remembered(projectId), tab: "transcript" });
  },
  openSession(id, tab = "transcript") {
    remember(get().projectId, id);
    set({ open: id, tab });
  },
  setTab(tab) {
    set({ tab });
  },
  close() {
    remember(get().projectId, null);
    set({ open: null });
  },
  requestNewSession() {
    set((state) => ({ newSessionNonce: state.newSessionNonce + 1 }));
  },
}));
