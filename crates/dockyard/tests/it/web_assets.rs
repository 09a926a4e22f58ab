//! The web app's assets through the real binary: the page (or the built-in "not
//! built" page) for client routes, the API's 404 left alone, and, when `web/dist`
//! is built, hashed assets served immutable and precompressed.
//!
//! The debug build of `dockyard-web` reads `web/dist` at run time, so these tests
//! see whatever was built last. Without a build, the asset test fails under
//! `CI=true` and otherwise says why it skipped (the rule for missing components).

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::support::{Client, Reply, spawn_app};

const BROWSER_ACCEPT: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";

fn dist() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../web/dist")
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|value| value == "true")
}

/// A hashed asset of the build with both precompressed siblings: its name and bytes.
fn precompressed_asset() -> Option<(String, Vec<u8>)> {
    let assets = dist().join("assets");
    let mut names: Vec<String> = std::fs::read_dir(&assets)
        .ok()?
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter(|name| name.ends_with(".js") || name.ends_with(".css"))
        .collect();
    names.sort();
    let name = names
        .into_iter()
        .find(|name| assets.join(format!("{name}.br")).is_file() && assets.join(format!("{name}.gz")).is_file())?;
    let bytes = std::fs::read(assets.join(&name)).ok()?;
    Some((name, bytes))
}

/// `Ok(())` when the build is there; otherwise fails in CI and skips (with the
/// reason printed) elsewhere.
fn require_build(what: &str) -> bool {
    let index = dist().join("index.html");
    let problem = if !index.is_file() {
        Some(format!("{} does not exist", index.display()))
    } else if precompressed_asset().is_none() {
        Some(format!("{} has no .js/.css asset with .br and .gz siblings", dist().join("assets").display()))
    } else {
        None
    };
    match problem {
        None => true,
        Some(problem) => {
            let fix = "build the web app first: cd web && npm ci && npm run build (or scripts/run.sh)";
            assert!(!in_ci(), "{what}: {problem}; {fix}");
            eprintln!("SKIPPED {what}: {problem}; {fix}");
            false
        }
    }
}

async fn get(client: &Client, path: &str, headers: &[(&str, &str)]) -> (Reply, Vec<u8>) {
    let mut request = client.inner.get(client.url(path));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.expect("body").to_vec();
    let body = String::from_utf8_lossy(&bytes).into_owned();
    let json = serde_json::from_str(&body).unwrap_or(serde_json::Value::Null);
    (Reply { status, headers, body, json }, bytes)
}

#[tokio::test]
async fn client_routes_get_the_web_app_and_unknown_api_routes_keep_their_problem_404() {
    let app = spawn_app().await;
    let client = app.anonymous();
    let index = std::fs::read(dist().join("index.html")).ok();

    for path in ["/", "/p/some/client/route", "/p/acme/shared/"] {
        let (reply, bytes) = get(&client, path, &[("accept", BROWSER_ACCEPT)]).await;
        assert_eq!(reply.status, 200, "{path}: {}", reply.body);
        assert_eq!(reply.header("content-type"), Some("text/html; charset=utf-8"), "{path}");
        assert_eq!(reply.header("cache-control"), Some("no-cache"), "{path}");
        // The edge's security headers apply to the app's pages too.
        let csp = reply.header("content-security-policy").unwrap_or_default();
        assert!(csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert_eq!(reply.header("x-content-type-options"), Some("nosniff"), "{path}");
        assert!(reply.header("x-request-id").is_some(), "{path}");
        match &index {
            Some(index) => assert_eq!(&bytes, index, "{path} is index.html"),
            None => {
                assert!(reply.body.contains("not built"), "{path}: the built-in page: {}", reply.body);
                assert!(reply.body.contains("npm ci") && reply.body.contains("scripts/run.sh"), "{}", reply.body);
            }
        }
    }

    // HEAD has the page's headers and no body.
    let head = client.inner.head(client.url("/p/x")).header("accept", "text/html").send().await.expect("HEAD");
    assert_eq!(head.status().as_u16(), 200);
    assert_eq!(head.headers().get("cache-control").and_then(|value| value.to_str().ok()), Some("no-cache"));
    assert!(head.bytes().await.expect("body").is_empty());

    // Unknown API routes are still the API's problem documents, whatever the client accepts.
    for accept in ["application/json", BROWSER_ACCEPT] {
        let (reply, _) = get(&client, "/api/v1/nope", &[("accept", accept)]).await;
        assert_eq!(reply.status, 404, "{}", reply.body);
        assert_eq!(reply.header("content-type"), Some("application/problem+json"));
        assert_eq!(reply.code(), "not_found");
    }
    // A page request that takes no HTML, and other methods, get the same.
    let (reply, _) = get(&client, "/p/x", &[("accept", "application/json")]).await;
    assert_eq!((reply.status, reply.code()), (404, "not_found"), "{}", reply.body);
    let posted = client.post("/p/x", &serde_json::json!({})).await;
    assert_eq!((posted.status, posted.code()), (404, "not_found"), "{}", posted.body);
    // An asset that does not exist is a problem of its own.
    let (reply, _) = get(&client, "/assets/missing-0000.js", &[]).await;
    assert_eq!(reply.status, 404, "{}", reply.body);
    assert_eq!(reply.header("content-type"), Some("application/problem+json"));
    assert_eq!(reply.code(), "asset_not_found");
    // The health routes are not pages.
    let (reply, _) = get(&client, "/healthz", &[("accept", BROWSER_ACCEPT)]).await;
    assert_eq!(reply.json["status"], "ok", "{}", reply.body);
}

#[tokio::test]
async fn hashed_assets_are_immutable_and_served_precompressed() {
    if !require_build("hashed_assets_are_immutable_and_served_precompressed") {
        return;
    }
    let (name, original) = precompressed_asset().expect("checked above");
    let path = format!("/assets/{name}");
    let app = spawn_app().await;
    let client = app.anonymous();

    let (br, br_bytes) = get(&client, &path, &[("accept-encoding", "gzip, deflate, br")]).await;
    assert_eq!(br.status, 200);
    assert_eq!(br.header("content-encoding"), Some("br"));
    assert_eq!(br.header("cache-control"), Some("public, max-age=31536000, immutable"));
    assert_eq!(br.header("vary"), Some("Accept-Encoding"));
    let expected_type =
        if name.ends_with(".js") { "text/javascript; charset=utf-8" } else { "text/css; charset=utf-8" };
    assert_eq!(br.header("content-type"), Some(expected_type));
    assert!(br.header("content-security-policy").is_some(), "security headers on assets too");
    let mut decoded = Vec::new();
    brotli_decompressor::Decompressor::new(&br_bytes[..], 4096).read_to_end(&mut decoded).expect("valid brotli");
    assert_eq!(decoded, original, "the br body decodes to the asset");

    let (gz, gz_bytes) = get(&client, &path, &[("accept-encoding", "gzip")]).await;
    assert_eq!(gz.header("content-encoding"), Some("gzip"));
    assert_eq!(gz.header("cache-control"), Some("public, max-age=31536000, immutable"));
    let mut decoded = Vec::new();
    flate2::read::GzDecoder::new(&gz_bytes[..]).read_to_end(&mut decoded).expect("valid gzip");
    assert_eq!(decoded, original, "the gzip body decodes to the asset");

    let (plain, plain_bytes) = get(&client, &path, &[]).await;
    assert_eq!(plain.header("content-encoding"), None);
    assert_eq!(plain_bytes, original);

    // Each encoding has its own ETag, and revalidation answers 304.
    let etags: Vec<String> =
        [&br, &gz, &plain].iter().map(|reply| reply.header("etag").expect("an ETag").to_owned()).collect();
    assert!(etags[0] != etags[1] && etags[1] != etags[2] && etags[0] != etags[2], "{etags:?}");
    let (again, body) = get(&client, &path, &[("accept-encoding", "br"), ("if-none-match", &etags[0])]).await;
    assert_eq!(again.status, 304);
    assert!(body.is_empty());

    // index.html is precompressed too, and never cached without revalidation.
    if dist().join("index.html.br").is_file() {
        let (page, _) = get(&client, "/p/acme", &[("accept", BROWSER_ACCEPT), ("accept-encoding", "br")]).await;
        assert_eq!(page.header("content-encoding"), Some("br"));
        assert_eq!(page.header("cache-control"), Some("no-cache"));
    }
}
