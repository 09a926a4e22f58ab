//! The serving rules against an in-memory build.

use axum::body::to_bytes;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::Response;

use super::*;

const JS: &[u8] = b"console.log('dockyard');\n";
const JS_BR: &[u8] = b"<brotli bytes>";
const JS_GZ: &[u8] = b"<gzip bytes>";
const INDEX_HTML: &[u8] = b"<!doctype html><title>Dockyard</title><div id=root></div>";

fn built() -> WebAssets {
    WebAssets::new(MemoryAssets::new([
        ("index.html", INDEX_HTML.to_vec()),
        ("index.html.br", b"<index br>".to_vec()),
        ("index.html.gz", b"<index gz>".to_vec()),
        ("assets/index-3fa9c1.js", JS.to_vec()),
        ("assets/index-3fa9c1.js.br", JS_BR.to_vec()),
        ("assets/index-3fa9c1.js.gz", JS_GZ.to_vec()),
        ("assets/only-gz-77aa01.css", b"body{}".to_vec()),
        ("assets/only-gz-77aa01.css.gz", b"<css gz>".to_vec()),
        ("assets/logo-1b2c3d.png", b"\x89PNG".to_vec()),
        ("assets/codicon-9f8e7d.ttf", b"ttf".to_vec()),
        ("assets/editor.worker-aa11bb.js.map", b"{}".to_vec()),
        ("assets/app-00ff00.wasm", b"\0asm".to_vec()),
        ("assets/inter-123456.woff2", b"wOF2".to_vec()),
        ("favicon.ico", b"ico".to_vec()),
    ]))
}

fn unbuilt() -> WebAssets {
    WebAssets::new(MemoryAssets::default())
}

fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(*name, HeaderValue::from_static(value));
    }
    map
}

fn get(web: &WebAssets, path: &str, pairs: &[(&'static str, &'static str)]) -> Outcome {
    web.serve(&Method::GET, path, &headers(pairs))
}

fn served(outcome: Outcome) -> Response {
    match outcome {
        Outcome::Serve(response) => response,
        other => panic!("expected a response, got {other:?}"),
    }
}

fn header_of(response: &Response, name: header::HeaderName) -> &str {
    response.headers().get(&name).and_then(|value| value.to_str().ok()).unwrap_or("")
}

async fn body(response: Response) -> Vec<u8> {
    to_bytes(response.into_body(), usize::MAX).await.expect("body").to_vec()
}

#[tokio::test]
async fn a_hashed_asset_is_immutable_and_typed() {
    let response = served(get(&built(), "/assets/index-3fa9c1.js", &[]));
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(header_of(&response, header::CACHE_CONTROL), IMMUTABLE);
    assert_eq!(header_of(&response, header::CONTENT_TYPE), "text/javascript; charset=utf-8");
    assert_eq!(header_of(&response, header::VARY), "Accept-Encoding");
    assert_eq!(header_of(&response, header::CONTENT_LENGTH), JS.len().to_string());
    assert!(response.headers().get(header::CONTENT_ENCODING).is_none(), "no header: the file itself");
    let etag = header_of(&response, header::ETAG).to_owned();
    assert!(etag.starts_with('"') && etag.ends_with('"') && etag.len() > 10, "a strong ETag: {etag}");
    assert_eq!(body(response).await, JS);
}

#[tokio::test]
async fn brotli_is_chosen_when_accepted_and_gzip_when_only_gzip_is() {
    let web = built();
    let br = served(get(&web, "/assets/index-3fa9c1.js", &[("accept-encoding", "gzip, deflate, br, zstd")]));
    assert_eq!(header_of(&br, header::CONTENT_ENCODING), "br");
    assert_eq!(header_of(&br, header::CONTENT_LENGTH), JS_BR.len().to_string());
    let br_etag = header_of(&br, header::ETAG).to_owned();
    assert_eq!(body(br).await, JS_BR);

    let gz = served(get(&web, "/assets/index-3fa9c1.js", &[("accept-encoding", "gzip")]));
    assert_eq!(header_of(&gz, header::CONTENT_ENCODING), "gzip");
    assert_eq!(header_of(&gz, header::VARY), "Accept-Encoding");
    let gz_etag = header_of(&gz, header::ETAG).to_owned();
    assert_eq!(body(gz).await, JS_GZ);

    let plain = served(get(&web, "/assets/index-3fa9c1.js", &[]));
    let plain_etag = header_of(&plain, header::ETAG).to_owned();
    assert!(br_etag != gz_etag && gz_etag != plain_etag && br_etag != plain_etag, "one ETag per encoding");
}

#[tokio::test]
async fn q_values_identity_and_star_are_respected() {
    let web = built();
    let encoding_for = |value: &'static str| {
        let response = served(get(&web, "/assets/index-3fa9c1.js", &[("accept-encoding", value)]));
        header_of(&response, header::CONTENT_ENCODING).to_owned()
    };
    assert_eq!(encoding_for("br;q=0.5, gzip;q=0.9"), "gzip");
    assert_eq!(encoding_for("br;q=0, gzip"), "gzip");
    assert_eq!(encoding_for("br;q=0, gzip;q=0"), "");
    assert_eq!(encoding_for("*"), "br");
    assert_eq!(encoding_for("*;q=0.5, br;q=0"), "gzip");
    assert_eq!(encoding_for("identity"), "", "identity listed, the others not");
    assert_eq!(encoding_for("identity;q=1, gzip;q=0.5"), "");
    assert_eq!(encoding_for("identity;q=0.1, gzip;q=0.5"), "gzip");
    assert_eq!(encoding_for("*;q=0"), "", "nothing acceptable: the file itself rather than a 406");
    assert_eq!(encoding_for(""), "", "an empty header asks for no encoding");
    assert_eq!(encoding_for("GZIP"), "gzip", "names are case-insensitive");
    assert_eq!(encoding_for("x-gzip"), "gzip");
    assert_eq!(encoding_for("br;q=nonsense, gzip"), "gzip", "a malformed q ignores the entry");
    assert_eq!(encoding_for("deflate, zstd"), "", "nothing we have");
}

#[test]
fn choose_encoding_picks_among_what_is_available() {
    let both = [Encoding::Brotli, Encoding::Gzip];
    assert_eq!(choose_encoding(None, &both), Encoding::Identity);
    assert_eq!(choose_encoding(Some("br, gzip"), &both), Encoding::Brotli);
    assert_eq!(choose_encoding(Some("br, gzip"), &[Encoding::Gzip]), Encoding::Gzip);
    assert_eq!(choose_encoding(Some("br"), &[Encoding::Gzip]), Encoding::Identity);
    assert_eq!(choose_encoding(Some("gzip;q=0.2, identity;q=0.5"), &both), Encoding::Identity);
}

#[tokio::test]
async fn a_file_without_a_brotli_sibling_falls_back_to_gzip() {
    let response = served(get(&built(), "/assets/only-gz-77aa01.css", &[("accept-encoding", "br, gzip")]));
    assert_eq!(header_of(&response, header::CONTENT_ENCODING), "gzip");
    assert_eq!(header_of(&response, header::CONTENT_TYPE), "text/css; charset=utf-8");
    assert_eq!(body(response).await, b"<css gz>");
}

#[test]
fn content_types_cover_what_vite_emits() {
    let web = built();
    for (path, expected) in [
        ("/assets/logo-1b2c3d.png", "image/png"),
        ("/assets/codicon-9f8e7d.ttf", "font/ttf"),
        ("/assets/editor.worker-aa11bb.js.map", "application/json"),
        ("/assets/app-00ff00.wasm", "application/wasm"),
        ("/assets/inter-123456.woff2", "font/woff2"),
        ("/favicon.ico", "image/x-icon"),
    ] {
        let response = served(get(&web, path, &[]));
        assert_eq!(header_of(&response, header::CONTENT_TYPE), expected, "{path}");
    }
    assert_eq!(content_type("icon.svg"), "image/svg+xml");
    assert_eq!(content_type("data.json"), "application/json");
    assert_eq!(content_type("INDEX.HTML"), "text/html; charset=utf-8");
    assert_eq!(content_type("no-extension"), "application/octet-stream");
}

#[test]
fn if_none_match_answers_304_with_the_caching_headers() {
    let web = built();
    let first = served(get(&web, "/assets/index-3fa9c1.js", &[("accept-encoding", "br")]));
    let etag = HeaderValue::from_str(header_of(&first, header::ETAG)).expect("etag");
    let mut request = headers(&[("accept-encoding", "br")]);
    request.insert(header::IF_NONE_MATCH, etag.clone());
    let again = served(web.serve(&Method::GET, "/assets/index-3fa9c1.js", &request));
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(again.headers().get(header::ETAG), Some(&etag));
    assert_eq!(header_of(&again, header::CACHE_CONTROL), IMMUTABLE);
    assert_eq!(header_of(&again, header::VARY), "Accept-Encoding");

    // The brotli ETag does not match the gzip representation.
    let mut request = headers(&[("accept-encoding", "gzip")]);
    request.insert(header::IF_NONE_MATCH, etag);
    let other = served(web.serve(&Method::GET, "/assets/index-3fa9c1.js", &request));
    assert_eq!(other.status(), StatusCode::OK);

    let star = served(get(&web, "/index.html", &[("if-none-match", "*")]));
    assert_eq!(star.status(), StatusCode::NOT_MODIFIED);
}

#[test]
fn unknown_and_hostile_asset_paths_are_not_found() {
    let web = built();
    for path in [
        "/assets/missing-000000.js",
        "/assets/",
        "/assets/../index.html",
        "/assets/./index-3fa9c1.js",
        "/assets//index-3fa9c1.js",
        "/assets/index-3fa9c1.js%00",
        "/assets/..%2findex.html",
        "/assets/a\\b.js",
    ] {
        assert!(matches!(get(&web, path, &[]), Outcome::AssetNotFound), "{path}");
    }
    // Also without a build.
    assert!(matches!(get(&unbuilt(), "/assets/index-3fa9c1.js", &[]), Outcome::AssetNotFound));
}

#[tokio::test]
async fn client_routes_get_index_html_revalidated_and_precompressed() {
    let web = built();
    for path in ["/", "/p/acme/shared", "/p/some/client/route/", "/settings"] {
        let response = served(get(&web, path, &[("accept", "text/html,application/xhtml+xml,*/*;q=0.8")]));
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert_eq!(header_of(&response, header::CACHE_CONTROL), NO_CACHE, "{path}");
        assert_eq!(header_of(&response, header::CONTENT_TYPE), "text/html; charset=utf-8", "{path}");
        assert_eq!(body(response).await, INDEX_HTML, "{path}");
    }
    let compressed = served(get(&web, "/p/acme/shared", &[("accept", "text/html"), ("accept-encoding", "br")]));
    assert_eq!(header_of(&compressed, header::CONTENT_ENCODING), "br");
    assert_eq!(header_of(&compressed, header::VARY), "Accept-Encoding");
    assert_eq!(body(compressed).await, b"<index br>");
}

#[tokio::test]
async fn root_files_are_served_but_not_immutable() {
    let response = served(get(&built(), "/favicon.ico", &[("accept", "image/*")]));
    assert_eq!(header_of(&response, header::CACHE_CONTROL), NO_CACHE);
    assert_eq!(body(response).await, b"ico");
}

#[test]
fn api_and_operations_paths_and_other_methods_pass() {
    let web = built();
    for path in ["/api", "/api/", "/api/v1/nope", "/api/docs/", "/healthz", "/readyz", "/metrics", "/metrics/x"] {
        assert!(matches!(get(&web, path, &[("accept", "text/html")]), Outcome::Pass), "{path}");
    }
    // Lookalikes are client routes.
    assert!(matches!(get(&web, "/apis", &[("accept", "text/html")]), Outcome::Serve(_)));
    assert!(matches!(get(&web, "/healthzone", &[("accept", "text/html")]), Outcome::Serve(_)));
    for method in [Method::POST, Method::PUT, Method::DELETE, Method::PATCH, Method::OPTIONS] {
        assert!(matches!(web.serve(&method, "/p/x", &HeaderMap::new()), Outcome::Pass), "{method}");
        assert!(matches!(web.serve(&method, "/assets/index-3fa9c1.js", &HeaderMap::new()), Outcome::Pass));
    }
}

#[test]
fn clients_that_do_not_take_html_are_passed_on() {
    let web = built();
    assert!(matches!(get(&web, "/p/x", &[("accept", "application/json")]), Outcome::Pass));
    assert!(matches!(get(&web, "/p/x", &[("accept", "text/html;q=0, */*")]), Outcome::Pass));
    assert!(matches!(get(&web, "/p/x", &[("accept", "text/*")]), Outcome::Serve(_)));
    // Deep links are pages for browsers (which name text/html), not for `*/*` clients.
    assert!(matches!(get(&web, "/p/x", &[("accept", "*/*")]), Outcome::Pass));
    assert!(matches!(get(&web, "/p/x", &[]), Outcome::Pass));
    assert!(matches!(get(&web, "/", &[("accept", "*/*")]), Outcome::Serve(_)));
    assert!(matches!(get(&web, "/", &[]), Outcome::Serve(_)));
    // A file is served whatever the Accept header says.
    assert!(matches!(get(&web, "/assets/index-3fa9c1.js", &[("accept", "application/json")]), Outcome::Serve(_)));
}

#[tokio::test]
async fn head_has_the_headers_and_no_body() {
    let response = served(built().serve(&Method::HEAD, "/assets/index-3fa9c1.js", &headers(&[])));
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(header_of(&response, header::CONTENT_LENGTH), JS.len().to_string());
    assert!(body(response).await.is_empty());
}

#[tokio::test]
async fn without_a_build_every_page_explains_how_to_build_the_web_app() {
    let web = unbuilt();
    assert!(!web.is_built());
    for path in ["/", "/p/acme/shared", "/index.html"] {
        let response = served(get(&web, path, &[("accept", "text/html")]));
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert_eq!(header_of(&response, header::CACHE_CONTROL), NO_CACHE);
        assert_eq!(header_of(&response, header::CONTENT_TYPE), "text/html; charset=utf-8");
        let text = String::from_utf8(body(response).await).expect("UTF-8");
        assert!(text.contains("not built"), "{text}");
        assert!(text.contains("npm ci") && text.contains("npm run build") && text.contains("scripts/run.sh"));
    }
    assert!(built().is_built());
}

#[test]
fn accept_headers_are_read_with_their_weights() {
    let html = |value: &'static str| accepts_html(&headers(&[("accept", value)]));
    assert!(html("text/html"));
    assert!(html("TEXT/HTML; q=0.5"));
    assert!(!html("application/json, text/plain"));
    assert!(!html("*/*;q=0"));
    assert!(html("text/html;q=0.1, */*;q=0"));
}

#[test]
fn only_named_html_counts_as_asking_for_a_page() {
    let named = |value: &'static str| names_html(&headers(&[("accept", value)]));
    assert!(named("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"));
    assert!(named("text/*"));
    assert!(!named("*/*"));
    assert!(!named("text/html;q=0, */*"));
    assert!(!names_html(&headers(&[])));
}
