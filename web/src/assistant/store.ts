// The assistant's UI state (zustand): the conversation of each project (in memory,
// copied to sessionStorage so a reload keeps it), the answer being streamed and its
// Stop, whether the editor context is sent, what the IDE knows about the org's
// assistant (configured or not), and the inline-completions preference.
import { create } from "zustand";

import { activeEditor } from "../ide/editors";
import { streamChat, type EditorContext } from "./api";
import { chatReducer, contextLabel, emptyChat, isStreaming, requestMessages, restoreChat, selectedLines, type ChatAction, type ChatState } from "./model";

/** The context sent with a question: the active editor's file and selection. */
export interface LiveContext {
  path: string;
  label: string;
  /** Read when the question is sent (the whole file is copied only then). */
  body(): EditorContext;
}

/** At most this much of the open file goes along (the server takes 1 MiB). */
const MAX_CONTEXT_CHARS = 256 * 1024;

/** The active editor's file and selection, or null when no file editor is active. */
export function currentContext(): LiveContext | null {
  const editor = activeEditor();
  const model = editor?.getModel();
  if (!editor || !model) return null;
  const path = model.uri.path.replace(/^\//, "");
  const selection = editor.getSelection();
  const lines = selectedLines(selection);
  return {
    path,
    label: contextLabel(path, lines),
    body() {
      const selected = selection && lines > 0 && !model.isDisposed() ? model.getValueInRange(selection) : "";
      const content = model.isDisposed() ? "" : model.getValue();
      return {
        path,
        language: model.getLanguageId(),
        content: content && content.length <= MAX_CONTEXT_CHARS ? content : null,
        selection: selected || null,
      };
    },
  };
}

const chatKey = (projectId: string) => `dockyard.assistant.chat.${projectId}`;

function loadChat(projectId: string): ChatState {
  try {
    return restoreChat(JSON.parse(sessionStorage.getItem(chatKey(projectId)) ?? "null"));
  } catch {
    return emptyChat;
  }
}

function saveChat(projectId: string, chat: ChatState) {
  try {
    if (chat.messages.length) sessionStorage.setItem(chatKey(projectId), JSON.stringify(chat));
    else sessionStorage.removeItem(chatKey(projectId));
  } catch {
    // No storage: the conversation stays in memory only.
  }
}

interface AssistantState {
  projectId: string | null;
  orgId: string | null;
  /** Whether the org's assistant has an endpoint (null until known). */
  configured: boolean | null;
  chats: Record<string, ChatState>;
  /** The user removed the context chip: questions go without the file. */
  contextDismissed: boolean;
  /** The user's `inline_completions` setting (server-side; the IDE copies it here). */
  inlineEnabled: boolean;
  /** Bumped to focus the question box (palette commands). */
  focusNonce: number;
  /** Bumped when an answer ends, so the token count refreshes. */
  answeredNonce: number;
  reset(projectId: string): void;
  setOrg(orgId: string | null, configured: boolean | null): void;
  chat(): ChatState;
  dispatch(action: ChatAction): void;
  ask(text: string, context: LiveContext | null): Promise<void>;
  stop(): void;
  newChat(): void;
  setContextDismissed(dismissed: boolean): void;
  setInlineEnabled(enabled: boolean): void;
  requestFocus(): void;
}

let controller: AbortController | null = null;
let counter = 0;
const nextId = () => `${Date.now().toString(36)}-${(++counter).toString(36)}`;

export const useAssistant = create<AssistantState>((set, get) => ({
  projectId: null,
  orgId: null,
  configured: null,
  chats: {},
  contextDismissed: false,
  inlineEnabled: true,
  focusNonce: 0,
  answeredNonce: 0,
  reset(projectId) {
    if (get().projectId === projectId) return;
    controller?.abort();
    controller = null;
    const chats = get().chats;
    set({ projectId, orgId: null, configured: null, contextDismissed: false, chats: chats[projectId] ? chats : { ...chats, [projectId]: loadChat(projectId) } });
  },
  setOrg(orgId, configured) {
    set({ orgId, configured });
  },
  chat() {
    const projectId = get().projectId;
    return (projectId && get().chats[projectId]) || emptyChat;
  },
  dispatch(action) {
    const projectId = get().projectId;
    if (!projectId) return;
    const next = chatReducer(get().chats[projectId] ?? emptyChat, action);
    set({ chats: { ...get().chats, [projectId]: next } });
    if (action.type !== "delta") saveChat(projectId, next);
  },
  async ask(text, context) {
    const projectId = get().projectId;
    if (!projectId || !text.trim() || isStreaming(get().chat())) return;
    get().dispatch({ type: "send", userId: nextId(), assistantId: nextId(), text: text.trim(), ...(context ? { context: context.label } : {}) });
    const own = new AbortController();
    controller = own;
    // Events from a stream this chat no longer follows (New chat, another project) are dropped.
    const live = () => controller === own && get().projectId === projectId;
    const dispatch = (action: ChatAction) => live() && get().dispatch(action);
    await streamChat({ project_id: projectId, messages: requestMessages(get().chat()), ...(context ? { context: context.body() } : {}) }, own.signal, {
      delta: (text) => dispatch({ type: "delta", text }),
      usage: (usage) => dispatch({ type: "usage", usage }),
      done: () => dispatch({ type: "done" }),
      error: (error) => dispatch({ type: "error", error }),
    });
    if (controller === own) controller = null;
    if (get().projectId === projectId) set((s) => ({ answeredNonce: s.answeredNonce + 1 }));
  },
  stop() {
    if (!controller) return;
    controller.abort();
    controller = null;
    get().dispatch({ type: "stopped" });
  },
  newChat() {
    controller?.abort();
    controller = null;
    get().dispatch({ type: "reset" });
    set({ contextDismissed: false });
  },
  setContextDismissed(dismissed) {
    set({ contextDismissed: dismissed });
  },
  setInlineEnabled(enabled) {
    set({ inlineEnabled: enabled });
  },
  requestFocus() {
    set((s) => ({ focusNonce: s.focusNonce + 1 }));
  },
}));
