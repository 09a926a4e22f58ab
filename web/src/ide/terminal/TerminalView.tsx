// One terminal: an xterm.js Terminal (loaded on demand) wired to a TerminalConnection.
// It fits the terminal to its box on every resize (ResizeObserver) and tells the
// server the new size, follows the app's theme, and prints a note when the process
// exits or output was lost.
import { useEffect, useRef } from "react";

import type { ConnectionState } from "./connection";
import { TerminalConnection } from "./connection";
import { terminalExists } from "./api";
import { terminalSocketUrl } from "./protocol";
import { loadXterm, themeFromCss } from "./xterm";

interface TerminalViewProps {
  projectId: string;
  terminalId: string;
  active: boolean;
  /** Focus the terminal when it becomes active (after a click on its tab, a new terminal). */
  focusNonce: number;
  onState(state: ConnectionState, detail?: string): void;
  onExit(code: number | null): void;
}

const DIM = "\x1b[2m";
const RESET = "\x1b[0m";

/** Keys the IDE handles even while a terminal has focus (palette, quick open, panel toggle). */
function passToApp(event: KeyboardEvent): boolean {
  const mod = event.ctrlKey || event.metaKey;
  if (event.key === "F1") return true;
  if (mod && event.shiftKey && /^[a-z]$/i.test(event.key) && !["c", "v"].includes(event.key.toLowerCase())) return true;
  if (mod && !event.shiftKey && (event.key === "p" || event.key === "`")) return true;
  return false;
}

export function TerminalView({ projectId, terminalId, active, focusNonce, onState, onExit }: TerminalViewProps) {
  const host = useRef<HTMLDivElement>(null);
  const terminalRef = useRef<{ focus(): void; fit(): void } | null>(null);
  const callbacks = useRef({ onState, onExit });
  callbacks.current = { onState, onExit };
  const wantsFocus = useRef(false);

  useEffect(() => {
    const element = host.current;
    if (!element) return;
    let disposed = false;
    let cleanup: (() => void) | null = null;

    loadXterm()
      .then(({ Terminal, FitAddon }) => {
        if (disposed) return;
        const terminal = new Terminal({
          allowProposedApi: false,
          cursorBlink: true,
          fontFamily: '"DejaVu Sans Mono", Menlo, Consolas, "Liberation Mono", monospace',
          fontSize: 13,
          scrollback: 5000,
          theme: themeFromCss(),
        });
        const fit = new FitAddon();
        terminal.loadAddon(fit);
        terminal.open(element);
        terminal.attachCustomKeyEventHandler((event) => {
          if (passToApp(event)) return false;
          // Ctrl+Shift+C copies the selection; Ctrl+Shift+V is left to the browser's paste.
          if (event.type === "keydown" && (event.ctrlKey || event.metaKey) && event.shiftKey) {
            const key = event.key.toLowerCase();
            if (key === "c") {
              if (terminal.hasSelection()) void navigator.clipboard?.writeText(terminal.getSelection()).catch(() => undefined);
              event.preventDefault();
              return false;
            }
            if (key === "v") return false;
          }
          return true;
        });

        const connection = new TerminalConnection({
          url: (after) => terminalSocketUrl(window.location, projectId, terminalId, after),
          onOutput: (data) => terminal.write(data),
          onState: (state, detail) => callbacks.current.onState(state, detail),
          onGap: (missed) => {
            if (missed > 0) terminal.write(`\r\n${DIM}[${missed.toLocaleString()} bytes of earlier output are no longer kept]${RESET}\r\n`);
          },
          onExit: (code) => {
            terminal.write(`\r\n${DIM}[process exited with code ${code ?? "unknown"}]${RESET}\r\n`);
            callbacks.current.onExit(code);
          },
          stillExists: () => terminalExists(projectId, terminalId),
        });

        const fitNow = () => {
          if (element.clientWidth === 0 || element.clientHeight === 0) return; // Hidden tab.
          try {
            fit.fit();
          } catch {
            return;
          }
        };
        fitNow();
        connection.resize(terminal.cols, terminal.rows);
        const resizeListener = terminal.onResize(({ cols, rows }) => connection.resize(cols, rows));
        const dataListener = terminal.onData((data) => connection.input(data));
        const binaryListener = terminal.onBinary((data) => {
          const bytes = new Uint8Array(data.length);
          for (let index = 0; index < data.length; index += 1) bytes[index] = data.charCodeAt(index) & 0xff;
          connection.input(bytes);
        });
        let frame = 0;
        const observer = new ResizeObserver(() => {
          cancelAnimationFrame(frame);
          frame = requestAnimationFrame(fitNow);
        });
        observer.observe(element);
        const themeObserver = new MutationObserver(() => {
          terminal.options.theme = themeFromCss();
        });
        themeObserver.observe(document.documentElement, { attributes: true, attributeFilter: ["data-theme", "style", "class"] });
        connection.start();
        terminalRef.current = { focus: () => terminal.focus(), fit: fitNow };
        if (wantsFocus.current) terminal.focus();

        cleanup = () => {
          cancelAnimationFrame(frame);
          observer.disconnect();
          themeObserver.disconnect();
          resizeListener.dispose();
          dataListener.dispose();
          binaryListener.dispose();
          connection.dispose();
          terminal.dispose();
          terminalRef.current = null;
        };
      })
      .catch((error: unknown) => {
        if (!disposed) callbacks.current.onState("closed", `could not load the terminal: ${String(error)}`);
      });

    return () => {
      disposed = true;
      cleanup?.();
    };
  }, [projectId, terminalId]);

  // Wait a frame so the tab panel is visible and has a size before fitting.
  useEffect(() => {
    if (!active) return;
    const frame = requestAnimationFrame(() => terminalRef.current?.fit());
    return () => cancelAnimationFrame(frame);
  }, [active]);

  // Focus only on request (a click on the tab, a new terminal), never on a page load.
  useEffect(() => {
    if (!active || focusNonce === 0) return;
    wantsFocus.current = true;
    const frame = requestAnimationFrame(() => terminalRef.current?.focus());
    return () => cancelAnimationFrame(frame);
  }, [active, focusNonce]);

  return <div ref={host} className="terminal-host" />;
}
