// Loads xterm.js, its fit addon and its stylesheet on first use (dynamic imports, so
// none of it is in the first screen's bundle), and builds xterm's theme from the
// app's CSS variables.
import type { ITheme } from "@xterm/xterm";

export interface XtermModules {
  Terminal: typeof import("@xterm/xterm").Terminal;
  FitAddon: typeof import("@xterm/addon-fit").FitAddon;
}

let loading: Promise<XtermModules> | null = null;

export function loadXterm(): Promise<XtermModules> {
  loading ??= Promise.all([import("@xterm/xterm"), import("@xterm/addon-fit"), import("@xterm/xterm/css/xterm.css")]).then(
    ([xterm, fit]) => ({ Terminal: xterm.Terminal, FitAddon: fit.FitAddon }),
  );
  loading.catch(() => {
    loading = null; // Let a later attempt retry (a chunk that failed to load).
  });
  return loading;
}

const DARK: ITheme = {
  black: "#000000",
  red: "#cd3131",
  green: "#0dbc79",
  yellow: "#e5e510",
  blue: "#2472c8",
  magenta: "#bc3fbc",
  cyan: "#11a8cd",
  white: "#e5e5e5",
  brightBlack: "#666666",
  brightRed: "#f14c4c",
  brightGreen: "#23d18b",
  brightYellow: "#f5f543",
  brightBlue: "#3b8eea",
  brightMagenta: "#d670d6",
  brightCyan: "#29b8db",
  brightWhite: "#e5e5e5",
};

const LIGHT: ITheme = {
  black: "#000000",
  red: "#cd3131",
  green: "#107c10",
  yellow: "#949800",
  blue: "#0451a5",
  magenta: "#bc05bc",
  cyan: "#0598bc",
  white: "#555555",
  brightBlack: "#666666",
  brightRed: "#cd3131",
  brightGreen: "#14ce14",
  brightYellow: "#b5ba00",
  brightBlue: "#0451a5",
  brightMagenta: "#bc05bc",
  brightCyan: "#0598bc",
  brightWhite: "#a5a5a5",
};

/** xterm's theme for the current `<html data-theme>`, colours from the CSS variables. */
export function themeFromCss(root: HTMLElement = document.documentElement): ITheme {
  const style = getComputedStyle(root);
  const read = (name: string, fallback: string) => style.getPropertyValue(name).trim() || fallback;
  const light = root.dataset.theme === "light";
  return {
    ...(light ? LIGHT : DARK),
    background: read("--bg", light ? "#ffffff" : "#1e1e1e"),
    foreground: read("--fg", light ? "#333333" : "#cccccc"),
    cursor: read("--fg-strong", light ? "#000000" : "#ffffff"),
    cursorAccent: read("--bg", light ? "#ffffff" : "#1e1e1e"),
    selectionBackground: light ? "#add6ff" : "#264f78",
  };
}
