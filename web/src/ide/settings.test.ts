import { describe, expect, it } from "vitest";

import { DEFAULT_SETTINGS, monacoTheme, normalizeSettings } from "./settings";

describe("settings", () => {
  it("fills defaults and clamps to the server's ranges", () => {
    expect(normalizeSettings(null)).toEqual(DEFAULT_SETTINGS);
    expect(normalizeSettings({ theme: "light", font_size: 99, tab_size: 0, autosave: "after-delay", autosave_delay_ms: 5, keybindings: { x: "ctrl+k" } })).toEqual({
      ...DEFAULT_SETTINGS,
      theme: "light",
      font_size: 40,
      tab_size: 1,
      autosave: "after-delay",
      autosave_delay_ms: 100,
      keybindings: { x: "ctrl+k" },
    });
    expect(normalizeSettings({ theme: "purple", autosave: "sometimes" })).toMatchObject({ theme: "dark", autosave: "off" });
  });

  it("maps themes to Monaco's", () => {
    expect(monacoTheme("dark")).toBe("vs-dark");
    expect(monacoTheme("light")).toBe("vs");
    expect(monacoTheme("high-contrast")).toBe("hc-black");
  });
});
