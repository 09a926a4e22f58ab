// Keybindings written as "Ctrl+Shift+P": parsing, matching a KeyboardEvent (Ctrl means
// Cmd on macOS too), and showing them per platform.

export interface Chord {
  ctrl: boolean;
  shift: boolean;
  alt: boolean;
  key: string;
}

export function parseKey(binding: string): Chord | null {
  const parts = binding.split("+").map((p) => p.trim()).filter(Boolean);
  const key = parts.pop();
  if (!key) return null;
  const mods = new Set(parts.map((p) => p.toLowerCase()));
  return { ctrl: mods.has("ctrl") || mods.has("cmd") || mods.has("meta"), shift: mods.has("shift"), alt: mods.has("alt") || mods.has("option"), key: key.toLowerCase() };
}

const CODE_KEYS: Record<string, string> = { Backquote: "`", Comma: ",", Period: ".", Slash: "/", Backslash: "\\", BracketLeft: "[", BracketRight: "]", Minus: "-", Equal: "=", Semicolon: ";", Quote: "'" };

/** The key of an event, layout-independent for letters and digits ("KeyP" → "p"). */
export function eventKey(event: Pick<KeyboardEvent, "key" | "code">): string {
  if (/^Key[A-Z]$/.test(event.code)) return event.code.slice(3).toLowerCase();
  if (/^Digit[0-9]$/.test(event.code)) return event.code.slice(5);
  if (CODE_KEYS[event.code]) return CODE_KEYS[event.code]!;
  return event.key.toLowerCase();
}

export function matches(chord: Chord, event: Pick<KeyboardEvent, "key" | "code" | "ctrlKey" | "metaKey" | "shiftKey" | "altKey">): boolean {
  return (
    chord.ctrl === (event.ctrlKey || event.metaKey) &&
    chord.shift === event.shiftKey &&
    chord.alt === event.altKey &&
    chord.key === eventKey(event)
  );
}

const isMac = typeof navigator !== "undefined" && /Mac|iPhone|iPad/.test(navigator.platform);

/** "Ctrl+Shift+P" as this platform writes it ("⇧⌘P" on macOS). */
export function displayKey(binding: string): string {
  if (!isMac) return binding;
  return binding
    .split("+")
    .map((p) => ({ Ctrl: "⌘", Shift: "⇧", Alt: "⌥" })[p] ?? p)
    .join("");
}
