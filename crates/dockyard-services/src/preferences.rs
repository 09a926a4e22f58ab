//! Per-user preferences the IDE keeps on the server, so they follow a user from
//! browser to browser: editor settings (defaults filled in; a change is a partial
//! object merged into what is stored, every field validated) and the IDE's layout
//! of each project (an opaque JSON object, bounded in size).
//!
//! Settings are the caller's own account: reading needs `ReadSelf`, changing
//! `UpdateSelf` (a `write` token). A layout also needs the project to be readable
//! by the caller (`project_for`, so another org's project is a 404), and the same
//! self actions.

use std::collections::BTreeMap;

use dockyard_domain::validate::ValidationError;
use dockyard_domain::{Action, Actor, ProjectId, Resource, authorize};
use serde_json::{Map, Value};

use crate::{ServiceError, Services};

/// Largest stored layout: its compact JSON text, in bytes.
pub const MAX_LAYOUT_BYTES: usize = 64 * 1024;
/// Most keybindings one user may store.
pub const MAX_KEYBINDINGS: usize = 200;
/// Longest command id of a keybinding, in characters.
pub const MAX_COMMAND_ID_CHARS: usize = 200;
/// Longest key string of a keybinding (`ctrl+shift+p`, chords), in characters.
pub const MAX_KEY_CHARS: usize = 100;

/// The setting names, as stored and as sent over the wire.
pub const SETTING_NAMES: [&str; 10] = [
    "theme",
    "font_size",
    "tab_size",
    "insert_spaces",
    "word_wrap",
    "minimap",
    "autosave",
    "autosave_delay_ms",
    "keybindings",
    "inline_completions",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Theme {
    Dark,
    Light,
    HighContrast,
}

impl Theme {
    pub const ALL: [Theme; 3] = [Theme::Dark, Theme::Light, Theme::HighContrast];

    pub fn as_str(self) -> &'static str {
        match self {
            Theme::Dark => "dark",
            Theme::Light => "light",
            Theme::HighContrast => "high-contrast",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Autosave {
    Off,
    AfterDelay,
    OnFocusChange,
}

impl Autosave {
    pub const ALL: [Autosave; 3] = [Autosave::Off, Autosave::AfterDelay, Autosave::OnFocusChange];

    pub fn as_str(self) -> &'static str {
        match self {
            Autosave::Off => "off",
            Autosave::AfterDelay => "after-delay",
            Autosave::OnFocusChange => "on-focus-change",
        }
    }
}

/// A user's editor settings, every field filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EditorSettings {
    pub theme: Theme,
    /// 8..=40.
    pub font_size: u32,
    /// 1..=16.
    pub tab_size: u32,
    pub insert_spaces: bool,
    pub word_wrap: bool,
    pub minimap: bool,
    pub autosave: Autosave,
    /// 100..=60000.
    pub autosave_delay_ms: u32,
    /// Command id → key string, at most [`MAX_KEYBINDINGS`].
    pub keybindings: BTreeMap<String, String>,
    /// The assistant's ghost text in the editor (when the org has an endpoint).
    pub inline_completions: bool,
}

impl Default for EditorSettings {
    fn default() -> Self {
        Self {
            theme: Theme::Dark,
            font_size: 14,
            tab_size: 4,
            insert_spaces: true,
            word_wrap: false,
            minimap: true,
            autosave: Autosave::Off,
            autosave_delay_ms: 1000,
            keybindings: BTreeMap::new(),
            inline_completions: true,
        }
    }
}

fn invalid(field: &'static str, message: impl Into<String>) -> ValidationError {
    ValidationError::new(field, "invalid_setting", message)
}

fn out_of_range(field: &'static str, min: u32, max: u32) -> ValidationError {
    ValidationError::new(field, "setting_out_of_range", format!("must be a whole number from {min} to {max}"))
}

fn integer(field: &'static str, value: &Value, min: u32, max: u32) -> Result<u32, ValidationError> {
    let Some(number) = value.as_i64() else {
        return Err(if value.is_number() { out_of_range(field, min, max) } else { invalid(field, "must be a number") });
    };
    u32::try_from(number)
        .ok()
        .filter(|number| (min..=max).contains(number))
        .ok_or_else(|| out_of_range(field, min, max))
}

fn boolean(field: &'static str, value: &Value) -> Result<bool, ValidationError> {
    value.as_bool().ok_or_else(|| invalid(field, "must be true or false"))
}

fn one_of<T: Copy>(
    field: &'static str,
    value: &Value,
    all: &[T],
    name: fn(T) -> &'static str,
) -> Result<T, ValidationError> {
    let names: Vec<&str> = all.iter().map(|item| name(*item)).collect();
    value
        .as_str()
        .and_then(|text| all.iter().copied().find(|item| name(*item) == text))
        .ok_or_else(|| invalid(field, format!("must be one of {}", names.join(", "))))
}

fn keybindings(value: &Value) -> Result<BTreeMap<String, String>, ValidationError> {
    const FIELD: &str = "keybindings";
    let Some(object) = value.as_object() else {
        return Err(invalid(FIELD, "must be an object of command id to key string"));
    };
    if object.len() > MAX_KEYBINDINGS {
        return Err(ValidationError::new(
            FIELD,
            "too_many_keybindings",
            format!("at most {MAX_KEYBINDINGS} keybindings"),
        ));
    }
    let mut bindings = BTreeMap::new();
    for (command, key) in object {
        let Some(key) = key.as_str() else {
            return Err(invalid(FIELD, format!("the key of {command:?} must be a string")));
        };
        let commands = command.chars().count();
        if commands == 0 || commands > MAX_COMMAND_ID_CHARS || command.chars().any(char::is_control) {
            return Err(ValidationError::new(
                FIELD,
                "keybinding_too_long",
                format!("command ids have 1 to {MAX_COMMAND_ID_CHARS} characters and no control characters"),
            ));
        }
        if key.chars().count() > MAX_KEY_CHARS || key.chars().any(char::is_control) {
            return Err(ValidationError::new(
                FIELD,
                "keybinding_too_long",
                format!("key strings have at most {MAX_KEY_CHARS} characters and no control characters"),
            ));
        }
        bindings.insert(command.clone(), key.to_owned());
    }
    Ok(bindings)
}

impl EditorSettings {
    /// Sets one field from its JSON value, validating it. `name` must be one of
    /// [`SETTING_NAMES`].
    fn apply(&mut self, name: &'static str, value: &Value) -> Result<(), ValidationError> {
        match name {
            "theme" => self.theme = one_of(name, value, &Theme::ALL, Theme::as_str)?,
            "font_size" => self.font_size = integer(name, value, 8, 40)?,
            "tab_size" => self.tab_size = integer(name, value, 1, 16)?,
            "insert_spaces" => self.insert_spaces = boolean(name, value)?,
            "word_wrap" => self.word_wrap = boolean(name, value)?,
            "minimap" => self.minimap = boolean(name, value)?,
            "autosave" => self.autosave = one_of(name, value, &Autosave::ALL, Autosave::as_str)?,
            "autosave_delay_ms" => self.autosave_delay_ms = integer(name, value, 100, 60_000)?,
            "keybindings" => self.keybindings = keybindings(value)?,
            "inline_completions" => self.inline_completions = boolean(name, value)?,
            _ => return Err(invalid(name, "unknown setting")),
        }
        Ok(())
    }

    /// The settings from stored rows: defaults, overridden by every row that is
    /// still valid. Rows of unknown or no longer valid settings are skipped (a
    /// newer version may have stored them), so reading never fails on them.
    fn from_rows(rows: &[(String, String)]) -> Self {
        let mut settings = Self::default();
        for (key, text) in rows {
            let Some(name) = SETTING_NAMES.iter().copied().find(|name| name == key) else { continue };
            let applied = serde_json::from_str::<Value>(text)
                .map_err(|error| error.to_string())
                .and_then(|value| settings.apply(name, &value).map_err(|error| error.message));
            if let Err(error) = applied {
                tracing::debug!(setting = name, %error, "ignoring a stored setting that is no longer valid");
            }
        }
        settings
    }
}

impl Services {
    /// The caller's editor settings, defaults filled in.
    pub async fn editor_settings(&self, actor: &Actor) -> Result<EditorSettings, ServiceError> {
        let _grant = authorize(actor, Action::ReadSelf, Resource::User(&actor.user_id))?;
        let rows = self.store().user_settings(&actor.user_id).await?;
        Ok(EditorSettings::from_rows(&rows))
    }

    /// Merges `patch` into the caller's settings and answers the result. Every
    /// field of the patch is checked before anything is stored: an unknown field
    /// is a `BadRequest` (`unknown_setting`), a bad value is `Invalid` naming the
    /// field. `null` puts a setting back to its default. `keybindings` is
    /// replaced as a whole.
    pub async fn update_editor_settings(
        &self,
        actor: &Actor,
        patch: &Map<String, Value>,
    ) -> Result<EditorSettings, ServiceError> {
        let _grant = authorize(actor, Action::UpdateSelf, Resource::User(&actor.user_id))?;
        let unknown: Vec<&str> = patch.keys().map(String::as_str).filter(|key| !SETTING_NAMES.contains(key)).collect();
        if !unknown.is_empty() {
            return Err(ServiceError::bad_request(
                "unknown_setting",
                format!("unknown setting(s): {}; the settings are {}", unknown.join(", "), SETTING_NAMES.join(", ")),
            ));
        }
        let mut changes = Vec::with_capacity(patch.len());
        let mut scratch = EditorSettings::default();
        for name in SETTING_NAMES {
            let Some(value) = patch.get(name) else { continue };
            if value.is_null() {
                changes.push((name.to_owned(), None));
            } else {
                scratch.apply(name, value)?;
                changes.push((name.to_owned(), Some(value.to_string())));
            }
        }
        if !changes.is_empty() {
            self.store().update_user_settings(&actor.user_id, &changes).await?;
        }
        self.editor_settings(actor).await
    }

    /// The caller's layout of a project; `{}` when none was saved.
    pub async fn project_layout(&self, actor: &Actor, project: &ProjectId) -> Result<Value, ServiceError> {
        let (project, _project_grant) = self.project_for(actor, project, Action::ReadProject).await?;
        let _grant = authorize(actor, Action::ReadSelf, Resource::User(&actor.user_id))?;
        let stored = self.store().project_layout(&actor.user_id, &project.id).await?;
        let layout = stored.and_then(|text| match serde_json::from_str::<Value>(&text) {
            Ok(value) if value.is_object() => Some(value),
            _ => {
                tracing::warn!(project = %project.id.as_str(), "ignoring a stored layout that is not a JSON object");
                None
            }
        });
        Ok(layout.unwrap_or_else(|| Value::Object(Map::new())))
    }

    /// Replaces the caller's layout of a project: a JSON object of at most
    /// [`MAX_LAYOUT_BYTES`] (compact JSON); answers it as stored.
    pub async fn save_project_layout(
        &self,
        actor: &Actor,
        project: &ProjectId,
        layout: Value,
    ) -> Result<Value, ServiceError> {
        let (project, _project_grant) = self.project_for(actor, project, Action::ReadProject).await?;
        let _grant = authorize(actor, Action::UpdateSelf, Resource::User(&actor.user_id))?;
        if !layout.is_object() {
            return Err(ValidationError::new("layout", "layout_not_object", "a layout is a JSON object").into());
        }
        let text = layout.to_string();
        if text.len() > MAX_LAYOUT_BYTES {
            return Err(ServiceError::PayloadTooLarge {
                code: "layout_too_large",
                message: format!("a layout is at most {MAX_LAYOUT_BYTES} bytes of JSON; this one has {}", text.len()),
            });
        }
        self.store().set_project_layout(&actor.user_id, &project.id, &text).await?;
        Ok(layout)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn apply(name: &'static str, value: Value) -> Result<EditorSettings, ValidationError> {
        let mut settings = EditorSettings::default();
        settings.apply(name, &value)?;
        Ok(settings)
    }

    #[test]
    fn every_field_is_checked_with_its_range_and_code() {
        assert_eq!(apply("theme", json!("high-contrast")).expect("theme").theme, Theme::HighContrast);
        assert_eq!(apply("theme", json!("solarized")).expect_err("theme").code, "invalid_setting");
        assert_eq!(apply("font_size", json!(8)).expect("min").font_size, 8);
        assert_eq!(apply("font_size", json!(40)).expect("max").font_size, 40);
        for bad in [json!(7), json!(41), json!(-1), json!(14.5), json!(1e10)] {
            let error = apply("font_size", bad.clone()).expect_err("range");
            assert_eq!((error.field, error.code), ("font_size", "setting_out_of_range"), "{bad}");
        }
        assert_eq!(apply("font_size", json!("14")).expect_err("type").code, "invalid_setting");
        assert_eq!(apply("tab_size", json!(0)).expect_err("range").code, "setting_out_of_range");
        assert_eq!(apply("tab_size", json!(16)).expect("max").tab_size, 16);
        assert_eq!(apply("autosave_delay_ms", json!(99)).expect_err("range").field, "autosave_delay_ms");
        assert_eq!(apply("autosave_delay_ms", json!(60_000)).expect("max").autosave_delay_ms, 60_000);
        assert_eq!(apply("autosave", json!("on-focus-change")).expect("autosave").autosave, Autosave::OnFocusChange);
        assert_eq!(apply("autosave", json!(true)).expect_err("type").code, "invalid_setting");
        assert_eq!(apply("word_wrap", json!("yes")).expect_err("type").field, "word_wrap");
        assert!(!apply("minimap", json!(false)).expect("minimap").minimap);
    }

    #[test]
    fn keybindings_are_bounded() {
        let ok = apply("keybindings", json!({ "editor.action.formatDocument": "shift+alt+f" })).expect("ok");
        assert_eq!(ok.keybindings.get("editor.action.formatDocument").map(String::as_str), Some("shift+alt+f"));
        let many: Map<String, Value> =
            (0..=MAX_KEYBINDINGS).map(|n| (format!("command.{n}"), json!("ctrl+k"))).collect();
        assert_eq!(apply("keybindings", Value::Object(many)).expect_err("many").code, "too_many_keybindings");
        let long_command = "c".repeat(MAX_COMMAND_ID_CHARS + 1);
        assert_eq!(apply("keybindings", json!({ long_command: "x" })).expect_err("long").code, "keybinding_too_long");
        let long_key = "k".repeat(MAX_KEY_CHARS + 1);
        assert_eq!(apply("keybindings", json!({ "a": long_key })).expect_err("long").code, "keybinding_too_long");
        assert_eq!(apply("keybindings", json!({ "": "x" })).expect_err("empty").code, "keybinding_too_long");
        assert_eq!(apply("keybindings", json!({ "a": 1 })).expect_err("type").code, "invalid_setting");
        assert_eq!(apply("keybindings", json!(["a"])).expect_err("type").code, "invalid_setting");
        // An empty key string unbinds a command's default.
        assert!(apply("keybindings", json!({ "a": "" })).is_ok());
    }

    #[test]
    fn stored_rows_override_defaults_and_bad_rows_are_skipped() {
        let rows = vec![
            ("font_size".to_owned(), "18".to_owned()),
            ("theme".to_owned(), "\"neon\"".to_owned()),
            ("from_the_future".to_owned(), "1".to_owned()),
            ("tab_size".to_owned(), "not json".to_owned()),
            ("word_wrap".to_owned(), "true".to_owned()),
        ];
        let settings = EditorSettings::from_rows(&rows);
        assert_eq!(
            settings,
            EditorSettings { font_size: 18, word_wrap: true, ..EditorSettings::default() },
            "theme and tab_size keep their defaults"
        );
    }
}
