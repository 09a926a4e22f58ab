// The Agents view's palette commands, registered by the IDE shell.
import type { Command, SidebarView } from "../ide/contract";
import { useIde } from "../ide/store";
import { useAgents } from "./store";

/** The sidebar view id. */
export const AGENTS_VIEW: SidebarView = "agents";

function showView() {
  const ide = useIde.getState();
  if (ide.sidebarView !== AGENTS_VIEW || ide.sidebarCollapsed) ide.setSidebarView(AGENTS_VIEW);
}

export function agentCommands(): Command[] {
  return [
    {
      id: "dockyard.agents.newSession",
      title: "New session",
      category: "Agents",
      run: () => {
        showView();
        // After the view has rendered its form.
        setTimeout(() => useAgents.getState().requestNewSession(), 0);
      },
    },
    { id: "dockyard.agents.showSessions", title: "Show sessions", category: "Agents", run: showView },
    { id: "dockyard.agents.closeSession", title: "Close agent session", category: "Agents", run: () => useAgents.getState().close() },
  ];
}
