// The Deploy view's palette commands, registered by the IDE shell.
import type { Command, SidebarView } from "../ide/contract";
import { useIde } from "../ide/store";
import { useDeploy } from "./store";

/** The sidebar view id. */
export const DEPLOY_VIEW: SidebarView = "deploy";

function showView() {
  const ide = useIde.getState();
  if (ide.sidebarView !== DEPLOY_VIEW || ide.sidebarCollapsed) ide.setSidebarView(DEPLOY_VIEW);
}

export function deployCommands(): Command[] {
  return [
    { id: "dockyard.deploy.openView", title: "Open Deploy view", category: "Deploy", run: showView },
    {
      id: "dockyard.deploy.deployService",
      title: "Deploy service",
      category: "Deploy",
      run: () => {
        showView();
        useDeploy.getState().requestDeploy();
      },
    },
    { id: "dockyard.deploy.closeLogs", title: "Close deploy logs", category: "Deploy", run: () => useDeploy.getState().closeLogs() },
  ];
}
