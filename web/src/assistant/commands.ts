// The assistant's palette commands, registered by the IDE shell.
import { toast } from "../components";
import type { Command, SidebarView } from "../ide/contract";
import { useIde } from "../ide/store";
import { useAssistant } from "./store";

/** The sidebar view id. */
export const ASSISTANT_VIEW: SidebarView = "assistant";

/** Shows the Assistant view and focuses its question box. */
export function openAssistant() {
  const ide = useIde.getState();
  if (ide.sidebarView !== ASSISTANT_VIEW || ide.sidebarCollapsed) ide.setSidebarView(ASSISTANT_VIEW);
  // After the view has rendered.
  setTimeout(() => useAssistant.getState().requestFocus(), 0);
}

/** `toggleInline` flips the user's `inline_completions` setting and answers the new value. */
export function assistantCommands(options: { toggleInline(): boolean }): Command[] {
  return [
    { id: "dockyard.assistant.open", title: "Open chat", category: "Assistant", run: openAssistant },
    {
      id: "dockyard.assistant.askSelection",
      title: "Ask about selection",
      category: "Assistant",
      run: () => {
        useAssistant.getState().setContextDismissed(false);
        openAssistant();
      },
    },
    {
      id: "dockyard.assistant.newChat",
      title: "New chat",
      category: "Assistant",
      run: () => {
        useAssistant.getState().newChat();
        openAssistant();
      },
    },
    {
      id: "dockyard.assistant.toggleInline",
      title: "Toggle inline completions",
      category: "Assistant",
      run: () => {
        const next = options.toggleInline();
        toast(next ? "Inline completions on" : "Inline completions off");
      },
    },
  ];
}
