// The live session over its WebSocket: replays the transcript, follows it, reconnects
// with `after=<last id>` (exponential backoff) until the server says `end`, and sends
// input frames. `useSessionStream` folds the events into a timeline (batched a frame
// at a time) and hands terminal output to whoever listens (the xterm view).
import { useCallback, useEffect, useRef, useState } from "react";

import { EMPTY_TIMELINE, parseFrame, reduceAll, ResumeCursor, sessionSocketUrl, type Timeline } from "./model";
import type { AgentEvent, ClientFrame } from "./types";

export type SocketState = "connecting" | "live" | "reconnecting" | "ended";

export interface AgentSocketOptions {
  sessionId: string;
  onEvents(events: AgentEvent[]): void;
  onEnd(status: string): void;
  onState(state: SocketState): void;
  onError(message: string): void;
}

export class AgentSocket {
  private socket: WebSocket | null = null;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private disposed = false;
  readonly cursor = new ResumeCursor(0);

  constructor(private readonly options: AgentSocketOptions) {}

  start(): void {
    this.connect();
  }

  private connect(): void {
    if (this.disposed) return;
    this.options.onState(this.cursor.lastId === 0 && this.cursor.attempts === 0 ? "connecting" : "reconnecting");
    const socket = new WebSocket(sessionSocketUrl(window.location, this.options.sessionId, this.cursor.lastId));
    this.socket = socket;
    socket.onopen = () => {
      if (this.socket === socket) this.options.onState("live");
    };
    socket.onmessage = (message: MessageEvent) => {
      if (this.socket !== socket || typeof message.data !== "string") return;
      const frame = parseFrame(message.data);
      if (frame.type === "event") {
        if (this.cursor.accept(frame.event.id)) this.options.onEvents([frame.event]);
      } else if (frame.type === "end") {
        this.cursor.end();
        this.options.onState("ended");
        this.options.onEnd(frame.status);
      } else if (frame.type === "error") {
        this.options.onError(frame.message);
      }
    };
    socket.onclose = () => {
      if (this.socket !== socket) return;
      this.socket = null;
      if (this.disposed) return;
      const delay = this.cursor.nextAttempt();
      if (delay === null) return;
      this.options.onState("reconnecting");
      this.timer = setTimeout(() => this.connect(), delay);
    };
  }

  /** Sends a frame if the socket is open; answers whether it went. */
  send(frame: ClientFrame): boolean {
    const socket = this.socket;
    if (!socket || socket.readyState !== WebSocket.OPEN) return false;
    socket.send(JSON.stringify(frame));
    return true;
  }

  dispose(): void {
    this.disposed = true;
    if (this.timer) clearTimeout(this.timer);
    const socket = this.socket;
    this.socket = null;
    if (socket) {
      socket.onmessage = null;
      socket.onclose = null;
      // Closing a socket that is still connecting makes the browser log an error; wait for it.
      if (socket.readyState === WebSocket.CONNECTING) socket.onopen = () => socket.close();
      else socket.close();
    }
  }
}

export interface SessionStream {
  timeline: Timeline;
  state: SocketState;
  endStatus: string | null;
  /** The last error the server answered an input frame with. */
  error: string | null;
  /** Sends over the socket; answers false when it is not open (the caller falls back to HTTP). */
  send(frame: ClientFrame): boolean;
  /** Terminal output so far, then every new chunk, until the returned function is called. */
  subscribeOutput(listener: (text: string) => void): () => void;
}

export function useSessionStream(sessionId: string, callbacks: { onEnd?(status: string): void } = {}): SessionStream {
  const [timeline, setTimeline] = useState<Timeline>(EMPTY_TIMELINE);
  const [state, setState] = useState<SocketState>("connecting");
  const [endStatus, setEndStatus] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const socketRef = useRef<AgentSocket | null>(null);
  const output = useRef<{ chunks: string[]; listeners: Set<(text: string) => void> }>({ chunks: [], listeners: new Set() });
  const callbacksRef = useRef(callbacks);
  callbacksRef.current = callbacks;

  useEffect(() => {
    setTimeline(EMPTY_TIMELINE);
    setState("connecting");
    setEndStatus(null);
    setError(null);
    output.current.chunks = [];
    let pending: AgentEvent[] = [];
    let frame = 0;
    const flush = () => {
      frame = 0;
      const batch = pending;
      pending = [];
      setTimeline((previous) => reduceAll(previous, batch));
    };
    const socket = new AgentSocket({
      sessionId,
      onEvents(events) {
        for (const event of events) {
          if (event.kind === "output" || event.kind === "stderr") {
            const text = typeof event.data.text === "string" ? event.data.text : "";
            output.current.chunks.push(text);
            for (const listener of output.current.listeners) listener(text);
          }
        }
        pending.push(...events);
        if (!frame) frame = window.setTimeout(flush, 30);
      },
      onEnd(status) {
        setEndStatus(status);
        callbacksRef.current.onEnd?.(status);
      },
      onState: setState,
      onError: setError,
    });
    socketRef.current = socket;
    socket.start();
    return () => {
      socket.dispose();
      socketRef.current = null;
      if (frame) window.clearTimeout(frame);
    };
  }, [sessionId]);

  const send = useCallback((frame: ClientFrame) => socketRef.current?.send(frame) ?? false, []);
  const subscribeOutput = useCallback((listener: (text: string) => void) => {
    for (const chunk of output.current.chunks) listener(chunk);
    output.current.listeners.add(listener);
    return () => {
      output.current.listeners.delete(listener);
    };
  }, []);

  return { timeline, state, endStatus, error, send, subscribeOutput };
}
