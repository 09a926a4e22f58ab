//! The web app's built assets (`web/dist`, made by Vite), embedded in the binary,
//! and the rules they are served by: content types, precompressed variants chosen
//! by `Accept-Encoding`, ETags, caching, and the single-page app's fallback to
//! `index.html` for client-side routes.
//!
//! API Boundary: [`WebAssets::serve`] takes a method, a path and the request
//! headers and answers an [`Outcome`]; the server decides what a miss looks like
//! (its problem documents live there). Where the files come from is an
//! [`AssetSource`]: [`EmbeddedDist`] in the binary, [`MemoryAssets`] in tests.
//!
//! `rust-embed` reads `web/dist` from disk at run time in debug builds and embeds
//! it in release builds; with no built assets (a plain `cargo build`), every page
//! is a small built-in one that says how to build the web app.

mod negotiate;

use std::borrow::Cow;
use std::collections::HashMap;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use sha2::{Digest, Sha256};

pub use negotiate::{Encoding, accepts_html, choose_encoding, names_html};

/// Hashed, content-addressed files: cached for a year and never revalidated.
pub const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// Everything else (`index.html`, root files): revalidated on every use.
pub const NO_CACHE: &str = "no-cache";
/// Vite's output folder for hashed files.
const ASSETS_PREFIX: &str = "assets/";
const INDEX: &str = "index.html";

/// One file of a build: its bytes and a tag that changes whenever they do.
#[derive(Debug, Clone)]
pub struct AssetFile {
    pub bytes: Bytes,
    /// Hex digits derived from the content, used for the `ETag`.
    pub tag: String,
}

impl AssetFile {
    /// A file whose tag is derived from its bytes.
    pub fn new(bytes: impl Into<Bytes>) -> Self {
        let bytes = bytes.into();
        let tag = tag_of(&Sha256::digest(&bytes));
        Self { bytes, tag }
    }
}

fn tag_of(hash: &[u8]) -> String {
    hex::encode(&hash[..hash.len().min(16)])
}

/// Where built files come from, by path relative to the build's root
/// (`index.html`, `assets/index-3fa9c1.js`).
pub trait AssetSource: Send + Sync {
    fn get(&self, path: &str) -> Option<AssetFile>;
}

#[derive(rust_embed::RustEmbed)]
#[folder = "../../web/dist"]
#[allow_missing = true]
struct Dist;

/// `web/dist`, embedded (release) or read from disk on each request (debug).
#[derive(Debug, Clone, Copy, Default)]
pub struct EmbeddedDist;

impl AssetSource for EmbeddedDist {
    fn get(&self, path: &str) -> Option<AssetFile> {
        let file = <Dist as rust_embed::RustEmbed>::get(path)?;
        let tag = tag_of(&file.metadata.sha256_hash());
        let bytes = match file.data {
            Cow::Borrowed(bytes) => Bytes::from_static(bytes),
            Cow::Owned(bytes) => Bytes::from(bytes),
        };
        Some(AssetFile { bytes, tag })
    }
}

/// Files held in memory, for tests of the serving rules.
#[derive(Debug, Clone, Default)]
pub struct MemoryAssets {
    files: HashMap<String, AssetFile>,
}

impl MemoryAssets {
    pub fn new<P: Into<String>, B: Into<Bytes>>(files: impl IntoIterator<Item = (P, B)>) -> Self {
        Self { files: files.into_iter().map(|(path, bytes)| (path.into(), AssetFile::new(bytes))).collect() }
    }
}

impl AssetSource for MemoryAssets {
    fn get(&self, path: &str) -> Option<AssetFile> {
        self.files.get(path).cloned()
    }
}

/// What [`WebAssets::serve`] decided.
#[derive(Debug)]
pub enum Outcome {
    /// Not the web app's business: a method other than GET or HEAD, a path of the
    /// API or of operations (`/api/…`, `/healthz`, `/readyz`, `/metrics`), or a
    /// request for something other than a page that names no file. The server's
    /// own "no such route" answers.
    Pass,
    /// A path under `/assets/` that names no file.
    AssetNotFound,
    /// The answer to send.
    Serve(Response),
}

/// The web app's files and the rules to serve them.
pub struct WebAssets {
    source: Box<dyn AssetSource>,
}

impl std::fmt::Debug for WebAssets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebAssets").field("built", &self.is_built()).finish_non_exhaustive()
    }
}

impl WebAssets {
    /// The files embedded in this binary (`web/dist`).
    pub fn embedded() -> Self {
        Self::new(EmbeddedDist)
    }

    pub fn new(source: impl AssetSource + 'static) -> Self {
        Self { source: Box::new(source) }
    }

    /// Whether a web build is there (it has an `index.html`).
    pub fn is_built(&self) -> bool {
        self.source.get(INDEX).is_some()
    }

    /// Answers a request that no API route took.
    ///
    /// - `/assets/*`: the file, immutable for a year, or [`Outcome::AssetNotFound`].
    /// - Another path naming a file of the build's root (`/favicon.ico`): that
    ///   file, revalidated on every use.
    /// - `/` when the client accepts HTML, and any other path when it asks for HTML
    ///   by name (a browser navigating; `*/*` alone is an API client, which gets the
    ///   "no such route" problem): `index.html` (the app routes on the client),
    ///   revalidated on every use; without a build, a built-in page that says how to
    ///   build the web app.
    ///
    /// Files with a precompressed sibling (`.br`, `.gz`) are served in the encoding
    /// the client prefers (`Accept-Encoding`, q-values respected), with
    /// `Vary: Accept-Encoding`. ETags are per encoding; `If-None-Match` gives 304.
    pub fn serve(&self, method: &Method, path: &str, headers: &HeaderMap) -> Outcome {
        if !(method == Method::GET || method == Method::HEAD) || is_reserved(path) {
            return Outcome::Pass;
        }
        let head = method == Method::HEAD;
        let relative = path.trim_start_matches('/');
        if relative.starts_with(ASSETS_PREFIX) {
            if !is_safe_file_path(relative) {
                return Outcome::AssetNotFound;
            }
            return match self.respond(relative, IMMUTABLE, headers, head) {
                Some(response) => Outcome::Serve(response),
                None => Outcome::AssetNotFound,
            };
        }
        if is_safe_file_path(relative)
            && let Some(response) = self.respond(relative, NO_CACHE, headers, head)
        {
            return Outcome::Serve(response);
        }
        let wants_page = if relative.is_empty() { accepts_html(headers) } else { names_html(headers) };
        if !wants_page {
            return Outcome::Pass;
        }
        match self.respond(INDEX, NO_CACHE, headers, head) {
            Some(response) => Outcome::Serve(response),
            None => Outcome::Serve(not_built_page(head)),
        }
    }

    /// The file at `path` in the encoding the client prefers, or `None` when the
    /// file does not exist.
    fn respond(&self, path: &str, cache_control: &'static str, request: &HeaderMap, head: bool) -> Option<Response> {
        let identity = self.source.get(path)?;
        let offered = request.get_all(header::ACCEPT_ENCODING).iter().filter_map(|value| value.to_str().ok());
        let accept_encoding: Option<String> = {
            let values: Vec<&str> = offered.collect();
            (!values.is_empty()).then(|| values.join(","))
        };
        // Only look for the siblings the client could take, best first.
        let mut chosen = (Encoding::Identity, identity);
        let candidates = negotiate::ranked(accept_encoding.as_deref());
        for encoding in candidates {
            if encoding == Encoding::Identity {
                break;
            }
            if let Some(file) = self.source.get(&format!("{path}{}", encoding.suffix())) {
                chosen = (encoding, file);
                break;
            }
        }
        let (encoding, file) = chosen;
        let etag = format!("\"{}{}\"", file.tag, encoding.etag_suffix());
        let mut builder = Response::builder()
            .header(header::CACHE_CONTROL, cache_control)
            .header(header::VARY, "Accept-Encoding")
            .header(header::ETAG, &etag);
        if if_none_match(request, &etag) {
            return builder.status(StatusCode::NOT_MODIFIED).body(Body::empty()).ok();
        }
        builder = builder
            .status(StatusCode::OK)
            .header(header::CONTENT_TYPE, content_type(path))
            .header(header::CONTENT_LENGTH, file.bytes.len());
        if let Some(coding) = encoding.content_encoding() {
            builder = builder.header(header::CONTENT_ENCODING, coding);
        }
        let body = if head { Body::empty() } else { Body::from(file.bytes) };
        builder.body(body).ok()
    }
}

/// Paths the web app never answers: the API and the operations endpoints.
fn is_reserved(path: &str) -> bool {
    ["/api", "/healthz", "/readyz", "/metrics"]
        .iter()
        .any(|prefix| path == *prefix || path.strip_prefix(prefix).is_some_and(|rest| rest.starts_with('/')))
}

/// A path that can only name a file inside the build: non-empty segments, no
/// `.`/`..`, no backslashes, NUL or percent escapes (built names have none).
fn is_safe_file_path(relative: &str) -> bool {
    !relative.is_empty()
        && relative.split('/').all(|segment| !segment.is_empty() && segment != "." && segment != "..")
        && !relative.bytes().any(|byte| matches!(byte, b'\\' | b'\0' | b'%') || byte.is_ascii_control())
}

/// Whether `If-None-Match` names `etag` (or `*`). Weak tags compare equal to
/// strong ones, as RFC 9110 asks for `If-None-Match`.
fn if_none_match(request: &HeaderMap, etag: &str) -> bool {
    request
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .any(|tags| tags.split(',').map(str::trim).any(|tag| tag == "*" || tag.trim_start_matches("W/") == etag))
}

/// The content type of a built file, by its extension.
pub fn content_type(path: &str) -> &'static str {
    let extension = path.rsplit_once('.').map(|(_, extension)| extension.to_ascii_lowercase()).unwrap_or_default();
    match extension.as_str() {
        "html" | "htm" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "webmanifest" => "application/manifest+json",
        "txt" => "text/plain; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "ico" => "image/x-icon",
        "wasm" => "application/wasm",
        "woff2" => "font/woff2",
        "woff" => "font/woff",
        "ttf" => "font/ttf",
        "otf" => "font/otf",
        _ => "application/octet-stream",
    }
}

/// The page every client route gets when the binary was built without the web app.
const NOT_BUILT_PAGE: &str = r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Dockyard: the web app is not built</title>
<style>
body { font-family: system-ui, sans-serif; max-width: 40rem; margin: 4rem auto; padding: 0 1rem; line-height: 1.5; color: #1f2328; }
code, pre { font-family: ui-monospace, monospace; background: #f3f4f6; border-radius: 4px; }
pre { padding: .75rem 1rem; }
</style>
</head>
<body>
<h1>The web app is not built</h1>
<p>This Dockyard binary was built without the web app, so there is no IDE to show here.
The API works as usual: its reference is at <a href="/api/docs/">/api/docs/</a>.</p>
<p>To build the web app, run this in the repository, then rebuild and restart Dockyard:</p>
<pre>cd web
npm ci
npm run build</pre>
<p>Or run <code>scripts/run.sh</code>, which builds the web app and Dockyard and starts it.</p>
</body>
</html>
"#;

fn not_built_page(head: bool) -> Response {
    let body = if head { Body::empty() } else { Body::from(NOT_BUILT_PAGE) };
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(NO_CACHE));
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(NOT_BUILT_PAGE.len()));
    response
}

#[cfg(test)]
mod tests;
