// Editor settings, stored per user on the server (`GET/PUT /api/v1/me/settings`), and
// the theme applied app-wide (`<html data-theme>` and Monaco's theme together).
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect, useState } from "react";

import { api, unwrap } from "../api/client";

export type Theme = "dark" | "light" | "high-contrast";
export type Autosave = "off" | "after-delay" | "on-focus-change";

export interface Settings {
  theme: Theme;
  font_size: number;
  tab_size: number;
  insert_spaces: boolean;
  word_wrap: boolean;
  minimap: boolean;
  autosave: Autosave;
  autosave_delay_ms: number;
  keybindings: Record<string, string>;
  /** The assistant's ghost text in the editor (when the org has an endpoint). */
  inline_completions: boolean;
}

export const DEFAULT_SETTINGS: Settings = {
  theme: "dark",
  font_size: 14,
  tab_size: 4,
  insert_spaces: true,
  word_wrap: false,
  minimap: true,
  autosave: "off",
  autosave_delay_ms: 1000,
  keybindings: {},
  inline_completions: true,
};

export const THEMES: { id: Theme; label: string; monaco: string }[] = [
  { id: "dark", label: "Dark", monaco: "vs-dark" },
  { id: "light", label: "Light", monaco: "vs" },
  { id: "high-contrast", label: "High contrast", monaco: "hc-black" },
];

export function monacoTheme(theme: Theme): string {
  return THEMES.find((t) => t.id === theme)?.monaco ?? "vs-dark";
}

const THEME_CACHE = "dockyard.theme";
export const settingsKey = ["me", "settings"] as const;

/** Fills gaps and drops nonsense in what the server answered. */
export function normalizeSettings(raw: unknown): Settings {
  const value = (raw && typeof raw === "object" ? raw : {}) as Partial<Settings>;
  const num = (v: unknown, min: number, max: number, fallback: number) =>
    typeof v === "number" && Number.isFinite(v) ? Math.min(max, Math.max(min, Math.round(v))) : fallback;
  return {
    theme: THEMES.some((t) => t.id === value.theme) ? value.theme! : DEFAULT_SETTINGS.theme,
    font_size: num(value.font_size, 8, 40, DEFAULT_SETTINGS.font_size),
    tab_size: num(value.tab_size, 1, 16, DEFAULT_SETTINGS.tab_size),
    insert_spaces: typeof value.insert_spaces === "boolean" ? value.insert_spaces : DEFAULT_SETTINGS.insert_spaces,
    word_wrap: typeof value.word_wrap === "boolean" ? value.word_wrap : DEFAULT_SETTINGS.word_wrap,
    minimap: typeof value.minimap === "boolean" ? value.minimap : DEFAULT_SETTINGS.minimap,
    autosave: value.autosave === "after-delay" || value.autosave === "on-focus-change" ? value.autosave : "off",
    autosave_delay_ms: num(value.autosave_delay_ms, 100, 60_000, DEFAULT_SETTINGS.autosave_delay_ms),
    keybindings: value.keybindings && typeof value.keybindings === "object" ? value.keybindings : {},
    inline_completions: typeof value.inline_completions === "boolean" ? value.inline_completions : DEFAULT_SETTINGS.inline_completions,
  };
}

function cachedTheme(): Theme | null {
  try {
    const theme = localStorage.getItem(THEME_CACHE);
    return THEMES.some((t) => t.id === theme) ? (theme as Theme) : null;
  } catch {
    return null;
  }
}

export function useSettings() {
  return useQuery({
    queryKey: settingsKey,
    queryFn: async () => normalizeSettings(await unwrap(api.GET("/api/v1/me/settings"))),
    staleTime: Infinity,
    placeholderData: () => ({ ...DEFAULT_SETTINGS, theme: cachedTheme() ?? DEFAULT_SETTINGS.theme }),
  });
}

/** The settings in effect (defaults until the server answers). */
export function useEffectiveSettings(): Settings {
  return useSettings().data ?? DEFAULT_SETTINGS;
}

/**
 * Saves a change (only the fields given; the server merges) optimistically; rolls back
 * when the server refuses, and the error (with its `field`) stays on the mutation.
 */
export function useSaveSettings() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: async (change: Partial<Settings>) => normalizeSettings(await unwrap(api.PUT("/api/v1/me/settings", { body: change }))),
    onMutate: async (change) => {
      await client.cancelQueries({ queryKey: settingsKey });
      const previous = client.getQueryData<Settings>(settingsKey);
      client.setQueryData(settingsKey, { ...(previous ?? DEFAULT_SETTINGS), ...change });
      return { previous };
    },
    onError: (_error, _change, context) => {
      if (context?.previous) client.setQueryData(settingsKey, context.previous);
    },
    onSuccess: (saved) => {
      client.setQueryData(settingsKey, saved);
    },
  });
}

/**
 * The settings as just chosen, for controlled inputs, and `update` to change them. A
 * change shows in the same render as the click that made it: the cache takes it only
 * after the save's first await, and until then React would put a controlled radio or
 * checkbox back on the old value. The overlay goes once the save has settled (the
 * cache then holds the saved value, or the old one after a refusal).
 */
export function useSettingsDraft() {
  const settings = useEffectiveSettings();
  const save = useSaveSettings();
  const [pending, setPending] = useState<Partial<Settings>>({});
  const update = (patch: Partial<Settings>, options?: { onError?(error: unknown): void }) => {
    setPending((current) => ({ ...current, ...patch }));
    save.mutate(patch, {
      onError: options?.onError,
      onSettled: () =>
        setPending((current) => {
          const next: Partial<Settings> = { ...current };
          for (const key of Object.keys(patch) as (keyof Settings)[]) if (next[key] === patch[key]) delete next[key];
          return next;
        }),
    });
  };
  return { shown: { ...settings, ...pending } as Settings, update, save };
}

export function applyTheme(theme: Theme): void {
  document.documentElement.dataset.theme = theme;
  try {
    localStorage.setItem(THEME_CACHE, theme);
  } catch {
    // Private mode: the theme is still applied.
  }
}

/**
 * Applies the user's theme to the whole app. Call it once near the root (App.tsx); the
 * IDE calls it too. Only asks the server when someone is signed in (`enabled`).
 */
export function useApplyTheme(enabled = true): Theme {
  const settings = useQuery({
    queryKey: settingsKey,
    queryFn: async () => normalizeSettings(await unwrap(api.GET("/api/v1/me/settings"))),
    staleTime: Infinity,
    enabled,
  });
  const theme = settings.data?.theme ?? cachedTheme() ?? DEFAULT_SETTINGS.theme;
  useEffect(() => {
    applyTheme(theme);
  }, [theme]);
  return theme;
}
