// The Settings view: theme, editor options, autosave and the keybindings list, saved per
// user on the server (PUT /api/v1/me/settings); a refused change shows its error inline.
// The assistant's inline-completions switch is one of them (`inline_completions`).
import { useId, useMemo, useState } from "react";

import { ApiError } from "../api/client";
import { useAssistant } from "../assistant/store";
import { displayKey } from "./keys";
import { THEMES, useSettingsDraft, type Autosave, type Theme } from "./settings";
import { useIde } from "./store";

export function SettingsView() {
  const { shown: settings, update, save } = useSettingsDraft();
  const commands = useIde((s) => s.commands);
  const assistantConfigured = useAssistant((s) => s.configured);
  const [filter, setFilter] = useState("");
  const error = save.error instanceof ApiError ? save.error : save.error ? new ApiError(0, null, String(save.error)) : null;

  const errorFor = (field: string) => (error && error.field === field ? error.message : null);

  const keys = useMemo(
    () =>
      Object.values(commands)
        .map((c) => ({ id: c.id, title: c.category ? `${c.category}: ${c.title}` : c.title, key: settings.keybindings[c.id] ?? c.keybinding }))
        .filter((c) => c.key && `${c.title} ${c.key}`.toLowerCase().includes(filter.toLowerCase()))
        .sort((a, b) => a.title.localeCompare(b.title)),
    [commands, settings.keybindings, filter],
  );

  return (
    <div className="ide-settings">
      <div className="ide-view-header">
        <h2>Settings</h2>
        <span className="ide-settings-status" role="status" aria-live="polite">
          {save.isPending ? "Saving…" : save.isSuccess ? "Saved" : ""}
        </span>
      </div>
      <form className="ide-settings-form" onSubmit={(e) => e.preventDefault()}>
        {error && !error.field && (
          <p className="form-error" role="alert">
            Could not save the settings: {error.message}
          </p>
        )}
        <fieldset>
          <legend>Color theme</legend>
          <div className="ide-theme-options" role="radiogroup" aria-label="Color theme">
            {THEMES.map((theme) => (
              <label key={theme.id}>
                <input type="radio" name="theme" value={theme.id} checked={settings.theme === theme.id} onChange={() => update({ theme: theme.id as Theme })} />
                {theme.label}
              </label>
            ))}
          </div>
          <FieldError message={errorFor("theme")} />
        </fieldset>
        <fieldset>
          <legend>Editor</legend>
          <NumberField label="Font size" value={settings.font_size} min={8} max={40} onChange={(v) => update({ font_size: v })} error={errorFor("font_size")} />
          <NumberField label="Tab size" value={settings.tab_size} min={1} max={16} onChange={(v) => update({ tab_size: v })} error={errorFor("tab_size")} />
          <Check label="Insert spaces when pressing Tab" checked={settings.insert_spaces} onChange={(v) => update({ insert_spaces: v })} />
          <Check label="Word wrap" checked={settings.word_wrap} onChange={(v) => update({ word_wrap: v })} />
          <Check label="Minimap" checked={settings.minimap} onChange={(v) => update({ minimap: v })} />
        </fieldset>
        <fieldset>
          <legend>Files</legend>
          <SelectField
            label="Auto save"
            value={settings.autosave}
            options={[
              ["off", "Off"],
              ["after-delay", "After a delay"],
              ["on-focus-change", "When the editor loses focus"],
            ]}
            onChange={(v) => update({ autosave: v as Autosave })}
            error={errorFor("autosave")}
          />
          {settings.autosave === "after-delay" && (
            <NumberField label="Auto save delay (ms)" value={settings.autosave_delay_ms} min={100} max={60000} step={100} onChange={(v) => update({ autosave_delay_ms: v })} error={errorFor("autosave_delay_ms")} />
          )}
        </fieldset>
        <fieldset>
          <legend>Assistant</legend>
          <Check label="Inline completions (ghost text; Tab accepts)" checked={settings.inline_completions} onChange={(v) => update({ inline_completions: v })} />
          {assistantConfigured === false && <p className="ide-settings-note">The assistant is not configured for this org, so no completions are asked for.</p>}
        </fieldset>
      </form>
      <section className="ide-keybindings" aria-labelledby="ide-keybindings-title">
        <h3 id="ide-keybindings-title">Keyboard shortcuts</h3>
        <input type="search" aria-label="Filter keyboard shortcuts" placeholder="Filter shortcuts" value={filter} onChange={(e) => setFilter(e.target.value)} />
        <table>
          <thead>
            <tr>
              <th scope="col">Command</th>
              <th scope="col">Keys</th>
            </tr>
          </thead>
          <tbody>
            {keys.map((k) => (
              <tr key={k.id}>
                <td>{k.title}</td>
                <td>
                  <kbd>{displayKey(k.key!)}</kbd>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
    </div>
  );
}

function FieldError({ message, id }: { message: string | null; id?: string }) {
  return message ? (
    <div className="form-error" role="alert" id={id}>
      {message}
    </div>
  ) : null;
}

function NumberField({ label, value, min, max, step = 1, onChange, error }: { label: string; value: number; min: number; max: number; step?: number; onChange(v: number): void; error: string | null }) {
  const id = useId();
  const [draft, setDraft] = useState<string | null>(null);
  const commit = () => {
    if (draft === null) return;
    const n = Number(draft);
    setDraft(null);
    if (Number.isFinite(n) && n >= min && n <= max && n !== value) onChange(Math.round(n));
  };
  const invalid = draft !== null && (!Number.isFinite(Number(draft)) || Number(draft) < min || Number(draft) > max);
  return (
    <div className="ide-field">
      <label htmlFor={id}>{label}</label>
      <input
        id={id}
        type="number"
        min={min}
        max={max}
        step={step}
        value={draft ?? value}
        aria-invalid={invalid || !!error || undefined}
        aria-describedby={`${id}-error`}
        onChange={(e) => setDraft(e.target.value)}
        onBlur={commit}
        onKeyDown={(e) => e.key === "Enter" && commit()}
      />
      <FieldError id={`${id}-error`} message={invalid ? `Between ${min} and ${max}.` : error} />
    </div>
  );
}

function Check({ label, checked, onChange }: { label: string; checked: boolean; onChange(v: boolean): void }) {
  return (
    <label className="ide-check">
      <input type="checkbox" checked={checked} onChange={(e) => onChange(e.target.checked)} />
      {label}
    </label>
  );
}

function SelectField({ label, value, options, onChange, error }: { label: string; value: string; options: [string, string][]; onChange(v: string): void; error: string | null }) {
  const id = useId();
  return (
    <div className="ide-field">
      <label htmlFor={id}>{label}</label>
      <select id={id} value={value} onChange={(e) => onChange(e.target.value)}>
        {options.map(([v, l]) => (
          <option key={v} value={v}>
            {l}
          </option>
        ))}
      </select>
      <FieldError message={error} />
    </div>
  );
}
