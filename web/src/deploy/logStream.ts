// Follows a log over Server-Sent Events with the browser's EventSource (which resumes
// with Last-Event-ID by itself). Lines are batched into state a frame at a time and
// capped, so a chatty build cannot freeze the page.
import { useEffect, useRef, useState } from "react";

import { logEventText, type LogLine } from "./model";

export const MAX_LINES = 10_000;

export type StreamState = "idle" | "connecting" | "live" | "reconnecting" | "ended";

export interface StreamOptions {
  /** Clear the lines on every (re)connect: for streams that replay a tail. */
  resetOnOpen?: boolean;
  onStep?(status: string): void;
  onEnd?(): void;
}

export function useLogStream(url: string | null, options: StreamOptions = {}): { lines: LogLine[]; state: StreamState } {
  const [lines, setLines] = useState<LogLine[]>([]);
  const [state, setState] = useState<StreamState>("idle");
  const optionsRef = useRef(options);
  optionsRef.current = options;

  useEffect(() => {
    setLines([]);
    if (!url) {
      setState("idle");
      return;
    }
    setState("connecting");
    let counter = 0;
    let pending: LogLine[] = [];
    let reset = false;
    let frame = 0;
    const flush = () => {
      frame = 0;
      const batch = pending;
      const clear = reset;
      pending = [];
      reset = false;
      setLines((previous) => {
        const next = clear ? batch : previous.concat(batch);
        return next.length > MAX_LINES ? next.slice(next.length - MAX_LINES) : next;
      });
    };
    const schedule = () => {
      if (!frame) frame = window.setTimeout(flush, 50);
    };
    const push = (line: LogLine) => {
      pending.push(line);
      schedule();
    };
    const source = new EventSource(url);
    source.onopen = () => {
      setState("live");
      if (optionsRef.current.resetOnOpen) {
        pending = [];
        reset = true;
        schedule();
      }
    };
    source.onerror = () => {
      setState(source.readyState === EventSource.CLOSED ? "ended" : "reconnecting");
    };
    source.addEventListener("log", (event) => {
      const parsed = logEventText((event as MessageEvent<string>).data);
      if (parsed) push({ n: ++counter, text: parsed.line, stream: parsed.stream });
    });
    source.addEventListener("step", (event) => {
      let status = "";
      try {
        status = String((JSON.parse((event as MessageEvent<string>).data) as { status?: unknown }).status ?? "");
      } catch {
        status = "";
      }
      if (!status) return;
      push({ n: ++counter, text: `── ${status} ──`, stream: "step", marker: true });
      optionsRef.current.onStep?.(status);
    });
    // One instance's log broke off on the engine's side: said in the log, which goes on.
    source.addEventListener("log_error", (event) => {
      let detail = "";
      try {
        detail = String((JSON.parse((event as MessageEvent<string>).data) as { detail?: unknown }).detail ?? "");
      } catch {
        detail = "";
      }
      push({ n: ++counter, text: `── log stream broke off${detail ? `: ${detail}` : ""} ──`, stream: "stderr", marker: true });
    });
    source.addEventListener("end", () => {
      source.close();
      setState("ended");
      optionsRef.current.onEnd?.();
    });
    return () => {
      source.close();
      if (frame) window.clearTimeout(frame);
    };
  }, [url]);

  return { lines, state };
}
