// The Assistant sidebar view: a chat with the org's (or the instance's) assistant about
// the open file. Answers stream in as they are written; code blocks can be copied or
// inserted at the editor's cursor; the active file and selection go along as context
// (the chip, which can be removed); Stop aborts; today's tokens against the budget;
// a degraded notice when no endpoint is configured.
import { useQuery } from "@tanstack/react-query";
import { useEffect, useId, useRef, useState } from "react";

import { api, unwrap } from "../api/client";
import { copyText, errorMessage, toast } from "../components";
import type { ViewProps } from "../ide/contract";
import { activeEditor } from "../ide/editors";
import { useIde } from "../ide/store";
import { useAssistantSettings, type AssistantSettings } from "./api";
import { budgetLabel, emptyChat, errorHint, isStreaming, splitBlocks, splitInline, type Message } from "./model";
import { currentContext, useAssistant } from "./store";
import "../styles/assistant.css";

/** Keeps the assistant store on this project and tells it the org and whether an endpoint is set. */
export function useAssistantBootstrap(projectId: string): AssistantSettings | undefined {
  useEffect(() => useAssistant.getState().reset(projectId), [projectId]);
  const project = useQuery({
    queryKey: ["project", projectId],
    queryFn: () => unwrap(api.GET("/api/v1/projects/{project}", { params: { path: { project: projectId } } })),
  });
  const orgId = project.data?.org_id ?? null;
  const settings = useAssistantSettings(orgId);
  const answered = useAssistant((s) => s.answeredNonce);
  const { refetch } = settings;
  useEffect(() => {
    if (answered) void refetch();
  }, [answered, refetch]);
  const configured = settings.data ? settings.data.configured : null;
  useEffect(() => {
    if (useAssistant.getState().projectId === projectId) useAssistant.getState().setOrg(orgId, configured);
  }, [projectId, orgId, configured]);
  return settings.data;
}

export function AssistantView({ projectId }: ViewProps) {
  const orgId = useAssistant((s) => s.orgId);
  const settings = useAssistantSettings(orgId);
  const chat = useAssistant((s) => s.chats[projectId] ?? emptyChat);
  const streaming = isStreaming(chat);
  const listRef = useRef<HTMLDivElement>(null);

  // Follow the answer as it grows, unless the reader scrolled up.
  const stick = useRef(true);
  useEffect(() => {
    const list = listRef.current;
    if (list && stick.current) list.scrollTop = list.scrollHeight;
  }, [chat]);

  return (
    <div className="assistant-view">
      <div className="ide-view-header">
        <h2>Assistant</h2>
        <div className="ide-view-actions">
          <button type="button" className="ide-icon-button" aria-label="New chat" title="New chat" onClick={() => useAssistant.getState().newChat()}>
            +
          </button>
        </div>
      </div>
      <Status settings={settings.data} error={settings.isError ? errorMessage(settings.error) : null} />
      <div
        className="assistant-messages"
        ref={listRef}
        role="log"
        aria-label="Conversation"
        aria-live="polite"
        aria-busy={streaming}
        onScroll={(event) => {
          const el = event.currentTarget;
          stick.current = el.scrollHeight - el.scrollTop - el.clientHeight < 24;
        }}
      >
        {chat.messages.length === 0 && settings.data?.configured !== false && (
          <p className="assistant-empty">Ask about the open file or the selection. Answers use the file as context unless you remove it below.</p>
        )}
        {chat.messages.map((message) => (
          <MessageView key={message.id} message={message} />
        ))}
      </div>
      <Composer streaming={streaming} disabled={settings.data?.configured === false} />
    </div>
  );
}

function Status({ settings, error }: { settings: AssistantSettings | undefined; error: string | null }) {
  if (error)
    return (
      <div className="panel-error" role="alert">
        Could not read the assistant's settings: {error}
      </div>
    );
  if (!settings) return <p className="assistant-status">Checking the assistant…</p>;
  if (!settings.configured)
    return (
      <div className="assistant-degraded" role="note" aria-label="Assistant not configured">
        <p>
          <strong>The assistant is not configured.</strong>
        </p>
        <p>
          An org admin can set an OpenAI-compatible endpoint (base URL, model, key) in the org's settings under Assistant, or the instance admin in the server's
          config (<code>[assistant] base_url</code> and <code>model</code>).
        </p>
      </div>
    );
  const over = settings.daily_token_budget > 0 && settings.tokens_used_today >= settings.daily_token_budget;
  return (
    <p className={`assistant-status${over ? " over" : ""}`} aria-label="Assistant usage">
      {settings.model ? <span className="assistant-model">{settings.model}</span> : null}
      <span className="assistant-tokens">{budgetLabel(settings.tokens_used_today, settings.daily_token_budget)}</span>
    </p>
  );
}

function MessageView({ message }: { message: Message }) {
  if (message.role === "user")
    return (
      <div className="assistant-message user" aria-label="You">
        {message.context && <span className="assistant-chip small">{message.context}</span>}
        <div className="assistant-text">{message.content}</div>
      </div>
    );
  const hint = message.error ? errorHint(message.error) : null;
  return (
    <div className={`assistant-message assistant ${message.status ?? ""}`} aria-label="Assistant">
      <Answer text={message.content} />
      {message.status === "streaming" && !message.content && <span className="assistant-thinking">Thinking…</span>}
      {message.status === "stopped" && <p className="assistant-note">Stopped.</p>}
      {message.error && (
        <div className="assistant-error" role="alert">
          <p>{message.error.message}</p>
          {hint && <p className="assistant-hint">{hint}</p>}
        </div>
      )}
    </div>
  );
}

function Answer({ text }: { text: string }) {
  return (
    <>
      {splitBlocks(text).map((block, i) =>
        block.kind === "code" ? (
          <CodeBlock key={i} code={block.code} language={block.language} open={block.open} />
        ) : (
          <div key={i} className="assistant-text">
            {block.text.split(/\n{2,}/).map((paragraph, j) => (
              <p key={j}>
                {splitInline(paragraph).map((part, k) =>
                  part.kind === "code" ? <code key={k}>{part.text}</code> : part.kind === "bold" ? <strong key={k}>{part.text}</strong> : <span key={k}>{part.text}</span>,
                )}
              </p>
            ))}
          </div>
        ),
      )}
    </>
  );
}

/** Inserts text at the active editor's cursor (replacing its selection). */
export function insertAtCursor(text: string): boolean {
  const editor = activeEditor();
  const selection = editor?.getSelection();
  if (!editor || !editor.getModel() || !selection) return false;
  editor.pushUndoStop();
  editor.executeEdits("assistant", [{ range: selection, text, forceMoveMarkers: true }]);
  editor.pushUndoStop();
  editor.focus();
  return true;
}

function CodeBlock({ code, language, open }: { code: string; language: string; open: boolean }) {
  return (
    <figure className="assistant-code">
      <figcaption>
        <span>{language || "code"}</span>
        <button
          type="button"
          disabled={open}
          onClick={async () => {
            toast((await copyText(code)) ? "Copied" : "Could not copy: the browser refused", "success");
          }}
        >
          Copy
        </button>
        <button
          type="button"
          disabled={open}
          onClick={() => {
            if (!insertAtCursor(code)) toast("Open a file in the editor to insert the code", "error");
          }}
        >
          Insert at cursor
        </button>
      </figcaption>
      <pre>
        <code>{code}</code>
      </pre>
    </figure>
  );
}

/** The context chip follows the active editor's file and selection. */
function useLiveContext() {
  useIde((s) => s.cursor);
  useIde((s) => s.activeGroupId);
  useIde((s) => s.groups);
  return currentContext();
}

function Composer({ streaming, disabled }: { streaming: boolean; disabled: boolean }) {
  const [text, setText] = useState("");
  const input = useRef<HTMLTextAreaElement>(null);
  const id = useId();
  const focusNonce = useAssistant((s) => s.focusNonce);
  const dismissed = useAssistant((s) => s.contextDismissed);
  const context = useLiveContext();

  useEffect(() => {
    if (focusNonce) input.current?.focus();
  }, [focusNonce]);

  const send = () => {
    if (!text.trim() || streaming || disabled) return;
    void useAssistant.getState().ask(text, dismissed ? null : context);
    setText("");
  };

  return (
    <form
      className="assistant-composer"
      onSubmit={(event) => {
        event.preventDefault();
        send();
      }}
    >
      {context &&
        (dismissed ? (
          <button type="button" className="assistant-add-context" onClick={() => useAssistant.getState().setContextDismissed(false)}>
            + Include {context.path.split("/").pop()}
          </button>
        ) : (
          <span className="assistant-chip" aria-label={`Context: ${context.label}`}>
            {context.label}
            <button type="button" aria-label="Remove context" title="Don't send the file" onClick={() => useAssistant.getState().setContextDismissed(true)}>
              ×
            </button>
          </span>
        ))}
      <label htmlFor={id} className="visually-hidden">
        Ask the assistant
      </label>
      <textarea
        id={id}
        ref={input}
        rows={3}
        value={text}
        disabled={disabled}
        placeholder={disabled ? "The assistant is not configured" : "Ask the assistant (Enter sends, Shift+Enter for a new line)"}
        onChange={(event) => setText(event.target.value)}
        onKeyDown={(event) => {
          if (event.key === "Enter" && !event.shiftKey && !event.nativeEvent.isComposing) {
            event.preventDefault();
            send();
          }
        }}
      />
      <div className="assistant-actions">
        {streaming ? (
          <button type="button" className="btn" onClick={() => useAssistant.getState().stop()}>
            Stop
          </button>
        ) : (
          <button type="submit" className="btn btn-primary" disabled={disabled || !text.trim()}>
            Send
          </button>
        )}
      </div>
    </form>
  );
}

export function IconAssistant() {
  return (
    <svg viewBox="0 0 24 24" width="24" height="24" aria-hidden="true" fill="none" stroke="currentColor" strokeWidth="1.5">
      <path d="M4 5h16v11H9l-5 4z" />
      <path d="M8.5 10.5h.01M12 10.5h.01M15.5 10.5h.01" strokeWidth="2" strokeLinecap="round" />
    </svg>
  );
}
