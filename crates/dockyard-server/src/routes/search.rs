//! Search and replace across a project's workspace (ripgrep's crates underneath).

use std::collections::BTreeMap;
use std::convert::Infallible;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use dockyard_domain::ProjectId;
use dockyard_services::{ReplaceSpec, SearchEvent};
use dockyard_workspace::search::{DEFAULT_MAX_MATCHES, MAX_MATCHES, SearchMatch, SearchOptions};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiResult, Problem};
use crate::extract::{ApiJson, ApiQuery, Caller, path_id};
use crate::state::AppState;

const NDJSON: &str = "application/x-ndjson";

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(search)).routes(routes!(replace))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SearchQuery {
    /// The text to find (a regular expression with `regex=true`); must not be empty.
    pub q: Option<String>,
    /// Treat `q` as a regular expression (Rust `regex` syntax). Default false.
    pub regex: Option<bool>,
    /// Default false: letters match either case.
    pub case_sensitive: Option<bool>,
    /// Match whole words only. Default false.
    pub whole_word: Option<bool>,
    /// Comma-separated globs; only files matching one of them are searched (as `rg -g`).
    pub include: Option<String>,
    /// Comma-separated globs of files and folders to skip (as `rg -g '!glob'`).
    pub exclude: Option<String>,
    /// At most this many matching lines (default 1000, at most 10000); more sets `truncated`.
    pub max: Option<usize>,
    /// Also search hidden files and folders (names starting with `.`). Default false.
    pub hidden: Option<bool>,
    /// Also search files that `.gitignore` ignores. Default false.
    pub ignored: Option<bool>,
}

/// A half-open range of characters in `preview`.
#[derive(Debug, Serialize, ToSchema)]
pub struct MatchRange {
    pub start: usize,
    pub end: usize,
}

/// One matching line.
#[derive(Debug, Serialize, ToSchema)]
pub struct SearchHit {
    pub path: String,
    /// 1-based line number.
    pub line: u64,
    /// 1-based, counted in characters (Unicode scalar values), where the first match starts.
    pub column: u64,
    /// The line without its line ending, cut to at most 500 bytes at a character boundary.
    pub preview: String,
    /// Every match in `preview`, as 0-based character offsets (past-the-cut matches are dropped or clamped).
    pub ranges: Vec<MatchRange>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SearchResults {
    pub matches: Vec<SearchHit>,
    /// More lines matched than `max`.
    pub truncated: bool,
    pub files_searched: u64,
}

/// The last line of a streamed search.
#[derive(Debug, Serialize, ToSchema)]
pub struct SearchDone {
    pub done: bool,
    pub truncated: bool,
    pub files_searched: u64,
}

fn hit(found: SearchMatch) -> SearchHit {
    SearchHit {
        path: found.path.to_string(),
        line: found.line,
        column: found.column,
        preview: found.preview,
        ranges: found.ranges.into_iter().map(|range| MatchRange { start: range.start, end: range.end }).collect(),
    }
}

fn globs(raw: Option<&str>) -> Vec<String> {
    raw.unwrap_or_default().split(',').map(str::trim).filter(|glob| !glob.is_empty()).map(str::to_owned).collect()
}

/// Searches the workspace's files, in parallel, honouring `.gitignore` and
/// skipping hidden files (unless asked), binary files and symlinks. Lines and
/// columns are 1-based; `column` and `ranges` count **characters** (Unicode
/// scalar values) of the line, so they index `preview` directly. The JSON answer
/// is sorted by path and line. With `Accept: application/x-ndjson` the matches
/// stream as they are found, one JSON object per line in no particular order,
/// and a final `{"done":true,"truncated":…,"files_searched":…}` line. An invalid
/// regex is 400 `invalid_regex`, an empty `q` 400 `invalid_query`.
#[utoipa::path(get, path = "/api/v1/projects/{project}/search", tag = "files", params(("project" = String, Path), SearchQuery),
    responses(
        (status = 200, content((SearchResults = "application/json"), (SearchHit = "application/x-ndjson"))),
        (status = 400, body = Problem), (status = 404, body = Problem)))]
async fn search(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(project): Path<String>,
    ApiQuery(query): ApiQuery<SearchQuery>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let project: ProjectId = path_id(&project)?;
    let options = SearchOptions {
        query: query.q.unwrap_or_default(),
        regex: query.regex.unwrap_or(false),
        case_sensitive: query.case_sensitive.unwrap_or(false),
        whole_word: query.whole_word.unwrap_or(false),
        include: globs(query.include.as_deref()),
        exclude: globs(query.exclude.as_deref()),
        hidden: query.hidden.unwrap_or(false),
        ignored: query.ignored.unwrap_or(false),
        max_matches: query.max.unwrap_or(DEFAULT_MAX_MATCHES).clamp(1, MAX_MATCHES),
    };
    let streaming = headers
        .get(header::ACCEPT)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|accept| accept.split(',').any(|kind| kind.trim().starts_with(NDJSON)));
    if !streaming {
        let (found, summary) = state.services.search(&caller.actor, &project, options).await?;
        let matches = found.into_iter().map(hit).collect();
        return Ok(Json(SearchResults {
            matches,
            truncated: summary.truncated,
            files_searched: summary.files_searched,
        })
        .into_response());
    }
    let receiver = state.services.search_stream(&caller.actor, &project, options).await?;
    let lines = futures_util::stream::unfold(receiver, |mut receiver| async move {
        let first = receiver.recv().await?;
        // Send what is already waiting in one chunk.
        let mut chunk = Vec::new();
        let mut next = Some(first);
        while let Some(event) = next.take() {
            let line = match event {
                SearchEvent::Match(found) => serde_json::to_vec(&hit(found)),
                SearchEvent::Done(summary) => serde_json::to_vec(&SearchDone {
                    done: true,
                    truncated: summary.truncated,
                    files_searched: summary.files_searched,
                }),
            };
            if let Ok(line) = line {
                chunk.extend_from_slice(&line);
                chunk.push(b'\n');
            }
            if chunk.len() < 64 * 1024 {
                next = receiver.try_recv().ok();
            }
        }
        Some((Ok::<_, Infallible>(Bytes::from(chunk)), receiver))
    });
    let mut response = Body::from_stream(lines).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(NDJSON));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    Ok(response)
}

/// Globs as one comma-separated string or a list.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum Globs {
    One(String),
    Many(Vec<String>),
}

impl Globs {
    fn into_vec(self) -> Vec<String> {
        match self {
            Globs::One(raw) => globs(Some(&raw)),
            Globs::Many(list) => {
                list.into_iter().map(|glob| glob.trim().to_owned()).filter(|g| !g.is_empty()).collect()
            }
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplaceRequest {
    /// The text to find (a regular expression with `regex`); must not be empty.
    pub q: String,
    /// What each match becomes. With `regex`, `$1`, `${name}` insert capture groups (`$$` is a `$`);
    /// otherwise it is taken literally.
    pub replacement: String,
    #[serde(default)]
    pub regex: bool,
    #[serde(default)]
    pub case_sensitive: bool,
    #[serde(default)]
    pub whole_word: bool,
    pub include: Option<Globs>,
    pub exclude: Option<Globs>,
    /// Only answer the planned changes; write nothing.
    #[serde(default)]
    pub preview: bool,
    /// Path → ETag, from a preview: only these files change, and only while they
    /// still have these ETags (otherwise they are listed in `conflicts`).
    pub etags: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReplacedFile {
    pub path: String,
    pub replacements: usize,
    /// After writing: the file's new ETag. In a preview: the ETag the plan applies to.
    pub etag: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FailedFile {
    pub path: String,
    pub code: &'static str,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReplaceResults {
    pub files: Vec<ReplacedFile>,
    /// Replacements made (or planned) across `files`.
    pub total: usize,
    /// Files changed by someone else between the read and the write: left as they are.
    pub conflicts: Vec<String>,
    /// Files that could not be written (a quota, say), with a problem code.
    pub failed: Vec<FailedFile>,
}

/// Replaces every match in the workspace's text files (never hidden, ignored or
/// binary files; never through symlinks). Each file is written atomically with
/// `If-Match` set to the ETag it was read at, so a file edited meanwhile is
/// listed in `conflicts` and keeps the edit. With `preview: true` nothing is
/// written and `files` lists the planned changes with the current ETags.
#[utoipa::path(post, path = "/api/v1/projects/{project}/replace", tag = "files", params(("project" = String, Path)), request_body = ReplaceRequest,
    responses((status = 200, body = ReplaceResults), (status = 400, body = Problem), (status = 404, body = Problem)))]
async fn replace(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(project): Path<String>,
    ApiJson(body): ApiJson<ReplaceRequest>,
) -> ApiResult<Json<ReplaceResults>> {
    let project: ProjectId = path_id(&project)?;
    let options = SearchOptions {
        query: body.q,
        regex: body.regex,
        case_sensitive: body.case_sensitive,
        whole_word: body.whole_word,
        include: body.include.map(Globs::into_vec).unwrap_or_default(),
        exclude: body.exclude.map(Globs::into_vec).unwrap_or_default(),
        hidden: false,
        ignored: false,
        max_matches: MAX_MATCHES,
    };
    let spec = ReplaceSpec {
        options,
        replacement: body.replacement,
        preview: body.preview,
        expected: body.etags.map(|etags| etags.into_iter().collect()),
    };
    let result = state.services.replace(&caller.actor, &project, spec).await?;
    Ok(Json(ReplaceResults {
        files: result
            .files
            .into_iter()
            .map(|file| ReplacedFile { path: file.path.to_string(), replacements: file.replacements, etag: file.etag })
            .collect(),
        total: result.total,
        conflicts: result.conflicts.iter().map(ToString::to_string).collect(),
        failed: result.failed.into_iter().map(|(path, code)| FailedFile { path: path.to_string(), code }).collect(),
    }))
}
