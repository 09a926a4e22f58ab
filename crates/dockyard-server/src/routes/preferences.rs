//! The caller's preferences, kept on the server for the IDE: editor settings
//! and the layout of each project.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, State};
use dockyard_domain::ProjectId;
use dockyard_services::EditorSettings;
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{ApiJson, Caller, path_id};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_settings, update_settings)).routes(routes!(get_layout, save_layout))
}

/// The editor's colour theme.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ThemeName {
    Dark,
    Light,
    HighContrast,
}

/// When the editor saves by itself.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum AutosaveMode {
    Off,
    AfterDelay,
    OnFocusChange,
}

/// The caller's editor settings, every field filled in (defaults where nothing
/// was saved).
#[derive(Debug, Serialize, ToSchema)]
pub struct Settings {
    /// Default `dark`.
    pub theme: ThemeName,
    /// 8 to 40, default 14.
    #[schema(minimum = 8, maximum = 40)]
    pub font_size: u32,
    /// 1 to 16, default 4.
    #[schema(minimum = 1, maximum = 16)]
    pub tab_size: u32,
    /// Default true.
    pub insert_spaces: bool,
    /// Default false.
    pub word_wrap: bool,
    /// Default true.
    pub minimap: bool,
    /// Default `off`.
    pub autosave: AutosaveMode,
    /// 100 to 60000, default 1000; used with `autosave = after-delay`.
    #[schema(minimum = 100, maximum = 60000)]
    pub autosave_delay_ms: u32,
    /// Command id → key string (`ctrl+shift+p`; empty unbinds). At most 200 entries,
    /// command ids of 1 to 200 characters, key strings of at most 100.
    pub keybindings: BTreeMap<String, String>,
    /// The assistant's inline completions (ghost text) in the editor; default true.
    pub inline_completions: bool,
}

impl From<EditorSettings> for Settings {
    fn from(settings: EditorSettings) -> Self {
        use dockyard_services::{Autosave, Theme};
        Self {
            theme: match settings.theme {
                Theme::Dark => ThemeName::Dark,
                Theme::Light => ThemeName::Light,
                Theme::HighContrast => ThemeName::HighContrast,
            },
            font_size: settings.font_size,
            tab_size: settings.tab_size,
            insert_spaces: settings.insert_spaces,
            word_wrap: settings.word_wrap,
            minimap: settings.minimap,
            autosave: match settings.autosave {
                Autosave::Off => AutosaveMode::Off,
                Autosave::AfterDelay => AutosaveMode::AfterDelay,
                Autosave::OnFocusChange => AutosaveMode::OnFocusChange,
            },
            autosave_delay_ms: settings.autosave_delay_ms,
            keybindings: settings.keybindings,
            inline_completions: settings.inline_completions,
        }
    }
}

/// A change of settings: only the fields to change. `null` puts a field back to
/// its default; `keybindings` is replaced as a whole. An unknown field is 400
/// `unknown_setting`; a value of the wrong type or out of range is 422
/// (`invalid_setting`, `setting_out_of_range`, `too_many_keybindings`,
/// `keybinding_too_long`) with `field` naming the setting. Nothing is stored
/// unless every field is valid.
#[derive(Debug, ToSchema)]
#[expect(dead_code, reason = "the request body's schema; the handler parses the JSON itself")]
pub struct SettingsChange {
    pub theme: Option<ThemeName>,
    #[schema(minimum = 8, maximum = 40)]
    pub font_size: Option<u32>,
    #[schema(minimum = 1, maximum = 16)]
    pub tab_size: Option<u32>,
    pub insert_spaces: Option<bool>,
    pub word_wrap: Option<bool>,
    pub minimap: Option<bool>,
    pub autosave: Option<AutosaveMode>,
    #[schema(minimum = 100, maximum = 60000)]
    pub autosave_delay_ms: Option<u32>,
    pub keybindings: Option<BTreeMap<String, String>>,
    pub inline_completions: Option<bool>,
}

/// The caller's editor settings, with defaults filled in.
#[utoipa::path(get, path = "/api/v1/me/settings", tag = "account",
    responses((status = 200, body = Settings), (status = 401, body = Problem)))]
async fn get_settings(State(state): State<AppState>, Caller(caller): Caller) -> ApiResult<Json<Settings>> {
    Ok(Json(state.services.editor_settings(&caller.actor).await?.into()))
}

/// Changes some editor settings (a partial object, merged into the saved ones)
/// and answers all of them.
#[utoipa::path(put, path = "/api/v1/me/settings", tag = "account", request_body = SettingsChange,
    responses((status = 200, body = Settings), (status = 400, body = Problem), (status = 422, body = Problem)))]
async fn update_settings(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ApiJson(change): ApiJson<Value>,
) -> ApiResult<Json<Settings>> {
    // Parsed by hand rather than into `SettingsChange`, so an unknown field is a
    // 400 of its own and each bad value names its field.
    let Value::Object(change) = change else {
        return Err(ApiError::new(
            axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
            "the settings change must be a JSON object",
        ));
    };
    Ok(Json(state.services.update_editor_settings(&caller.actor, &change).await?.into()))
}

/// The IDE's layout of a project (open tabs, splits, panel sizes): any JSON object.
#[derive(Debug, ToSchema)]
#[schema(value_type = Object)]
#[expect(dead_code, reason = "the body's schema; the handlers pass the JSON object through")]
pub struct Layout(pub Map<String, Value>);

/// The caller's saved layout of a project; `{}` when none was saved yet (never
/// 404 for that: a 404 means the project is not there or not readable).
#[utoipa::path(get, path = "/api/v1/me/layouts/{project}", tag = "account", params(("project" = String, Path)),
    responses((status = 200, body = Layout), (status = 404, body = Problem)))]
async fn get_layout(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(project): Path<String>,
) -> ApiResult<Json<Value>> {
    let project: ProjectId = path_id(&project)?;
    Ok(Json(state.services.project_layout(&caller.actor, &project).await?))
}

/// Saves (replaces) the caller's layout of a project they can read. The body is
/// a JSON object of at most 64 KiB as compact JSON (413 `layout_too_large`
/// otherwise; 422 `layout_not_object` for anything but an object). Answers it as saved.
#[utoipa::path(put, path = "/api/v1/me/layouts/{project}", tag = "account", params(("project" = String, Path)),
    request_body = Layout,
    responses((status = 200, body = Layout), (status = 404, body = Problem), (status = 413, body = Problem), (status = 422, body = Problem)))]
async fn save_layout(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(project): Path<String>,
    ApiJson(layout): ApiJson<Value>,
) -> ApiResult<Json<Value>> {
    let project: ProjectId = path_id(&project)?;
    Ok(Json(state.services.save_project_layout(&caller.actor, &project, layout).await?))
}
