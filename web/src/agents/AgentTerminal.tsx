// A terminal agent's output in xterm.js (ANSI colours as the agent wrote them);
// keystrokes go back as `raw` frames. Read-only once the session is over.
import { useEffect, useRef } from "react";

import { loadXterm, themeFromCss } from "../ide/terminal/xterm";

export interface AgentTerminalProps {
  subscribeOutput(listener: (text: string) => void): () => void;
  onInput(data: string): void;
  readOnly: boolean;
  label: string;
}

export function AgentTerminal({ subscribeOutput, onInput, readOnly, label }: AgentTerminalProps) {
  const host = useRef<HTMLDivElement>(null);
  const live = useRef({ onInput, readOnly });
  live.current = { onInput, readOnly };

  useEffect(() => {
    const element = host.current;
    if (!element) return;
    let disposed = false;
    let cleanup: (() => void) | null = null;
    void loadXterm().then(({ Terminal, FitAddon }) => {
      if (disposed) return;
      const terminal = new Terminal({
        convertEol: true,
        cursorBlink: false,
        fontFamily: '"DejaVu Sans Mono", Menlo, Consolas, "Liberation Mono", monospace',
        fontSize: 13,
        scrollback: 5000,
        theme: themeFromCss(),
      });
      const fit = new FitAddon();
      terminal.loadAddon(fit);
      terminal.open(element);
      terminal.textarea?.setAttribute("aria-label", label);
      const fitNow = () => {
        if (element.clientWidth === 0 || element.clientHeight === 0) return;
        try {
          fit.fit();
        } catch {
          // Not laid out yet.
        }
      };
      fitNow();
      const unsubscribe = subscribeOutput((text) => terminal.write(text));
      const data = terminal.onData((keys) => {
        if (!live.current.readOnly) live.current.onInput(keys);
      });
      let frame = 0;
      const observer = new ResizeObserver(() => {
        cancelAnimationFrame(frame);
        frame = requestAnimationFrame(fitNow);
      });
      observer.observe(element);
      cleanup = () => {
        cancelAnimationFrame(frame);
        observer.disconnect();
        unsubscribe();
        data.dispose();
        terminal.dispose();
      };
    });
    return () => {
      disposed = true;
      cleanup?.();
    };
  }, [subscribeOutput, label]);

  return <div ref={host} className="agents-terminal" role="group" aria-label={label} data-readonly={readOnly || undefined} />;
}
