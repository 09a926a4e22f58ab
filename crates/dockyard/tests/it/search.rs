//! Search and replace across a workspace, against the real binary. Search
//! results are checked against the `rg` CLI run on the same directory.

use std::collections::BTreeSet;
use std::path::PathBuf;

use serde_json::{Value, json};

use crate::support::{Client, Reply, TestApp, get_file, project, put_file, spawn_app};

async fn put(client: &Client, project: &str, file: &str, body: &[u8]) -> Reply {
    let reply = put_file(client, project, file, body, None).await;
    assert!(matches!(reply.status, 200 | 201), "PUT {file}: {}", reply.body);
    reply
}

async fn get_text(client: &Client, project: &str, file: &str) -> (String, String) {
    let (status, headers, bytes) = get_file(client, project, file).await;
    assert_eq!(status, 200, "GET {file}");
    let etag = headers["etag"].to_str().expect("etag").to_owned();
    (String::from_utf8(bytes).expect("text"), etag)
}

async fn search(client: &Client, project: &str, query: &[(&str, &str)]) -> Reply {
    let request = client.inner.get(client.url(&format!("/api/v1/projects/{project}/search"))).query(query);
    client.send(request).await
}

fn pairs(reply: &Reply) -> BTreeSet<(String, u64)> {
    assert_eq!(reply.status, 200, "search: {}", reply.body);
    reply.json["matches"]
        .as_array()
        .expect("matches")
        .iter()
        .map(|found| (found["path"].as_str().expect("path").to_owned(), found["line"].as_u64().expect("line")))
        .collect()
}

/// The (path, line) pairs `rg --json` finds in `dir` with these arguments.
fn ripgrep(dir: &PathBuf, args: &[&str]) -> BTreeSet<(String, u64)> {
    let output = std::process::Command::new("rg")
        .args(["--json", "--no-config", "--no-require-git", "--no-ignore-parent", "--no-ignore-global"])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run rg: install ripgrep (apt-get install -y ripgrep) to run the search tests");
    assert!(
        output.status.code().is_some_and(|code| code <= 1),
        "rg failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|event| event["type"] == "match")
        .map(|event| {
            let path = event["data"]["path"]["text"].as_str().expect("rg path");
            (path.trim_start_matches("./").to_owned(), event["data"]["line_number"].as_u64().expect("rg line"))
        })
        .collect()
}

async fn app_with_tree() -> (TestApp, Client, String, PathBuf) {
    let app = spawn_app().await;
    let (admin, org) = app.setup_admin().await;
    let project = project(&admin, &org, "Search").await;
    let files: &[(&str, &[u8])] = &[
        ("src/main.rs", b"fn main() {\n    let needle = 1;\n    println!(\"Needle {}\", needle);\n}\n"),
        ("src/lib.rs", b"pub fn needles() {}\n// NEEDLE in a haystack\nconst NEEDLE_2: u8 = 2;\n"),
        ("docs/readme.md", b"A needle.\nno match here\nneedle-needle\n"),
        ("docs/ünï.txt", "ünï needle ünï\n".as_bytes()),
        ("build/out.txt", b"needle in build\n"),
        (".gitignore", b"build/\n*.log\n"),
        ("app.log", b"needle in log\n"),
        (".config/settings.json", b"{\"needle\": true}\n"),
        ("logo.bin", b"\x89PNG\0needle\0\n"),
        ("crlf.txt", b"needle\r\nother\r\n"),
        ("nested/.gitignore", b"secret.txt\n"),
        ("nested/secret.txt", b"needle\n"),
        ("nested/public.txt", b"needle\n"),
    ];
    for (path, body) in files {
        put(&admin, &project, path, body).await;
    }
    let dir = app.data_dir().join("workspaces").join(&project);
    (app, admin, project, dir)
}

/// Query-string pairs of one search.
type Query<'a> = &'a [(&'a str, &'a str)];

#[tokio::test]
async fn search_agrees_with_ripgrep() {
    let (_app, admin, project, dir) = app_with_tree().await;
    let cases: &[(Query, &[&str])] = &[
        (&[("q", "needle"), ("case_sensitive", "true")], &["-s", "-F", "needle"]),
        (&[("q", "needle")], &["-i", "-F", "needle"]),
        (&[("q", r"need(le|les)\b"), ("regex", "true"), ("case_sensitive", "true")], &["-s", r"need(le|les)\b"]),
        (&[("q", r"^\s+\w+!?\("), ("regex", "true")], &["-i", r"^\s+\w+!?\("]),
        (&[("q", "needle"), ("whole_word", "true"), ("case_sensitive", "true")], &["-s", "-w", "-F", "needle"]),
        (&[("q", "needle"), ("whole_word", "true")], &["-i", "-w", "-F", "needle"]),
        (&[("q", "needle"), ("include", "*.rs")], &["-i", "-F", "-g", "*.rs", "needle"]),
        (&[("q", "needle"), ("include", "*.rs, *.md")], &["-i", "-F", "-g", "*.rs", "-g", "*.md", "needle"]),
        (&[("q", "needle"), ("exclude", "docs,*.txt")], &["-i", "-F", "-g", "!docs", "-g", "!*.txt", "needle"]),
        (&[("q", "needle"), ("hidden", "true")], &["-i", "-F", "--hidden", "needle"]),
        (&[("q", "needle"), ("ignored", "true")], &["-i", "-F", "--no-ignore", "needle"]),
        (
            &[("q", "needle"), ("hidden", "true"), ("ignored", "true")],
            &["-i", "-F", "--hidden", "--no-ignore", "needle"],
        ),
    ];
    for (query, rg_args) in cases {
        let ours = pairs(&search(&admin, &project, query).await);
        let theirs = ripgrep(&dir, rg_args);
        assert!(!theirs.is_empty(), "rg finds something for {rg_args:?}");
        assert_eq!(ours, theirs, "query {query:?} vs rg {rg_args:?}");
    }
}

#[tokio::test]
async fn gitignore_hidden_binary_and_positions() {
    let (_app, admin, project, _dir) = app_with_tree().await;
    let reply = search(&admin, &project, &[("q", "needle")]).await;
    let found = pairs(&reply);
    let files: BTreeSet<&str> = found.iter().map(|(path, _)| path.as_str()).collect();
    for skipped in ["build/out.txt", "app.log", "nested/secret.txt", ".config/settings.json", "logo.bin"] {
        assert!(!files.contains(skipped), "{skipped} is ignored, hidden or binary: {files:?}");
    }
    assert!(files.contains("nested/public.txt") && files.contains("crlf.txt"));
    assert_eq!(reply.json["truncated"], false);
    assert!(reply.json["files_searched"].as_u64().expect("files_searched") >= 6);
    // Sorted by path, then line.
    let order: Vec<(String, u64)> = reply.json["matches"]
        .as_array()
        .expect("matches")
        .iter()
        .map(|found| (found["path"].as_str().expect("path").to_owned(), found["line"].as_u64().expect("line")))
        .collect();
    let mut sorted = order.clone();
    sorted.sort();
    assert_eq!(order, sorted);

    let all = reply.json["matches"].as_array().expect("matches");
    let unicode = all.iter().find(|found| found["path"] == "docs/ünï.txt").expect("the unicode file matches");
    assert_eq!(unicode["line"], 1);
    assert_eq!(unicode["column"], 5, "columns count characters");
    assert_eq!(unicode["preview"], "ünï needle ünï");
    assert_eq!(unicode["ranges"], json!([{ "start": 4, "end": 10 }]));
    let crlf = all.iter().find(|found| found["path"] == "crlf.txt").expect("crlf");
    assert_eq!(crlf["preview"], "needle", "the line ending is trimmed");
    let twice = all.iter().find(|found| found["path"] == "docs/readme.md" && found["line"] == 3).expect("line 3");
    assert_eq!(twice["ranges"], json!([{ "start": 0, "end": 6 }, { "start": 7, "end": 13 }]));

    let hidden = pairs(&search(&admin, &project, &[("q", "needle"), ("hidden", "true")]).await);
    assert!(hidden.contains(&(".config/settings.json".to_owned(), 1)));
    assert!(!hidden.iter().any(|(path, _)| path == "build/out.txt"));
    let ignored = pairs(&search(&admin, &project, &[("q", "needle"), ("ignored", "true")]).await);
    for path in ["build/out.txt", "app.log", "nested/secret.txt"] {
        assert!(ignored.iter().any(|(found, _)| found == path), "{path} with ignored=true");
    }
    assert!(!ignored.iter().any(|(path, _)| path == "logo.bin"), "binary files are never searched");
}

#[tokio::test]
async fn long_lines_are_cut_at_a_character_boundary() {
    let (_app, admin, project, _dir) = app_with_tree().await;
    // 400 bytes of "é", two needles (bytes 400..422), then "ü" well past 500 bytes.
    let line = format!("{}needle{}needle{}\n", "é".repeat(200), "x".repeat(10), "ü".repeat(400));
    // A needle that straddles the cut (bytes 498..504) is clamped to the preview.
    let straddling = format!("{}needle\n", "é".repeat(249));
    put(&admin, &project, "long.txt", format!("{line}{straddling}").as_bytes()).await;
    let reply = search(&admin, &project, &[("q", "needle"), ("include", "long.txt")]).await;
    let matches = reply.json["matches"].as_array().expect("matches");
    assert_eq!(matches.len(), 2, "{}", reply.body);
    let found = &matches[0];
    let preview = found["preview"].as_str().expect("preview");
    assert_eq!(preview.len(), 500);
    assert_eq!(preview.chars().count(), 200 + 22 + 39);
    assert_eq!(found["column"], 201);
    let ranges = found["ranges"].as_array().expect("ranges");
    assert_eq!(ranges.len(), 2);
    for range in ranges {
        let (start, end) = (range["start"].as_u64().expect("start"), range["end"].as_u64().expect("end"));
        let text: String = preview.chars().skip(start as usize).take((end - start) as usize).collect();
        assert_eq!(text, "needle", "ranges index the preview by characters");
    }
    let cut = &matches[1];
    assert_eq!((cut["line"].clone(), cut["column"].clone()), (json!(2), json!(250)));
    assert_eq!(cut["preview"].as_str().expect("preview"), format!("{}ne", "é".repeat(249)));
    assert_eq!(cut["ranges"], json!([{ "start": 249, "end": 251 }]));
}

#[tokio::test]
async fn the_cap_truncates_and_ndjson_streams() {
    let (_app, admin, project, _dir) = app_with_tree().await;
    put(&admin, &project, "many/a.txt", "hit\n".repeat(300).as_bytes()).await;
    put(&admin, &project, "many/b.txt", "hit\n".repeat(300).as_bytes()).await;
    let capped = search(&admin, &project, &[("q", "hit"), ("max", "250")]).await;
    assert_eq!(capped.json["matches"].as_array().expect("matches").len(), 250);
    assert_eq!(capped.json["truncated"], true);
    let whole = search(&admin, &project, &[("q", "hit"), ("max", "600")]).await;
    assert_eq!(
        (whole.json["matches"].as_array().expect("matches").len(), &whole.json["truncated"]),
        (600, &json!(false))
    );
    let default = search(&admin, &project, &[("q", "hit")]).await;
    assert_eq!(default.json["matches"].as_array().expect("matches").len(), 600);

    let response = admin
        .inner
        .get(admin.url(&format!("/api/v1/projects/{project}/search")))
        .query(&[("q", "hit"), ("max", "450")])
        .header("accept", "application/x-ndjson")
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.headers()["content-type"], "application/x-ndjson");
    let body = response.text().await.expect("body");
    let lines: Vec<Value> = body.lines().map(|line| serde_json::from_str(line).expect("each line is JSON")).collect();
    let (last, matches) = lines.split_last().expect("lines");
    assert_eq!(last, &json!({ "done": true, "truncated": true, "files_searched": last["files_searched"] }));
    assert_eq!(matches.len(), 450);
    assert!(matches.iter().all(|found| found["preview"] == "hit" && found["path"].as_str().is_some()));

    let streamed = admin
        .inner
        .get(admin.url(&format!("/api/v1/projects/{project}/search")))
        .query(&[("q", "needle"), ("case_sensitive", "true")])
        .header("accept", "application/x-ndjson")
        .send()
        .await
        .expect("request")
        .text()
        .await
        .expect("body");
    let streamed: BTreeSet<(String, u64)> = streamed
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).expect("JSON"))
        .filter(|event| event.get("done").is_none())
        .map(|found| (found["path"].as_str().expect("path").to_owned(), found["line"].as_u64().expect("line")))
        .collect();
    assert_eq!(streamed, pairs(&search(&admin, &project, &[("q", "needle"), ("case_sensitive", "true")]).await));
}

#[tokio::test]
async fn bad_queries_are_400_with_codes() {
    let (_app, admin, project, _dir) = app_with_tree().await;
    let invalid = search(&admin, &project, &[("q", "(unclosed"), ("regex", "true")]).await;
    assert_eq!((invalid.status, invalid.code()), (400, "invalid_regex"), "{}", invalid.body);
    let literal = search(&admin, &project, &[("q", "(unclosed")]).await;
    assert_eq!(literal.status, 200, "a literal is not a regex");
    for query in [&[("q", "")][..], &[][..]] {
        let empty = search(&admin, &project, query).await;
        assert_eq!((empty.status, empty.code()), (400, "invalid_query"), "{}", empty.body);
    }
    let glob = search(&admin, &project, &[("q", "x"), ("include", "a{")]).await;
    assert_eq!((glob.status, glob.code()), (400, "invalid_glob"));
    let streamed = admin
        .send(
            admin
                .inner
                .get(admin.url(&format!("/api/v1/projects/{project}/search")))
                .query(&[("q", "[z-a]"), ("regex", "true")])
                .header("accept", "application/x-ndjson"),
        )
        .await;
    assert_eq!((streamed.status, streamed.code()), (400, "invalid_regex"), "a stream fails before it starts");
    let replace = admin
        .post(&format!("/api/v1/projects/{project}/replace"), &json!({ "q": "(", "replacement": "", "regex": true }))
        .await;
    assert_eq!((replace.status, replace.code()), (400, "invalid_regex"));
}

async fn replace(client: &Client, project: &str, body: Value) -> Reply {
    let reply = client.post(&format!("/api/v1/projects/{project}/replace"), &body).await;
    assert_eq!(reply.status, 200, "replace: {}", reply.body);
    reply
}

#[tokio::test]
async fn replace_previews_then_writes_with_captures() {
    let app = spawn_app().await;
    let (admin, org) = app.setup_admin().await;
    let project = project(&admin, &org, "Replace").await;
    put(&admin, &project, "a.txt", b"foo(1) and foo(22)\nplain foo\n").await;
    put(&admin, &project, "sub/b.txt", b"foo(3)\n").await;
    put(&admin, &project, "c.txt", b"nothing here\n").await;
    put(&admin, &project, ".hidden.txt", b"foo(9)\n").await;
    put(&admin, &project, ".gitignore", b"build/\n").await;
    put(&admin, &project, "build/x.txt", b"foo(5)\n").await;
    let dir = app.data_dir().join("workspaces").join(&project);
    let snapshot = || {
        ["a.txt", "sub/b.txt", "c.txt", ".hidden.txt", "build/x.txt"]
            .map(|file| std::fs::read_to_string(dir.join(file)).expect("read"))
    };
    let before = snapshot();

    let body = json!({ "q": r"foo\((\d+)\)", "replacement": "bar[$1]", "regex": true, "preview": true });
    let preview = replace(&admin, &project, body.clone()).await;
    assert_eq!(preview.json["total"], 3);
    let planned: Vec<(&str, u64)> = preview.json["files"]
        .as_array()
        .expect("files")
        .iter()
        .map(|file| (file["path"].as_str().expect("path"), file["replacements"].as_u64().expect("n")))
        .collect();
    assert_eq!(planned, [("a.txt", 2), ("sub/b.txt", 1)]);
    assert_eq!(preview.json["files"][0]["etag"], get_text(&admin, &project, "a.txt").await.1.as_str());
    assert_eq!(snapshot(), before, "a preview writes nothing");

    let mut write = body;
    write["preview"] = json!(false);
    let done = replace(&admin, &project, write).await;
    assert_eq!(done.json["total"], 3);
    assert_eq!(done.json["conflicts"], json!([]));
    let (a, etag) = get_text(&admin, &project, "a.txt").await;
    assert_eq!(a, "bar[1] and bar[22]\nplain foo\n");
    assert_eq!(done.json["files"][0]["etag"], etag.as_str(), "the answer has the new ETag");
    assert_eq!(get_text(&admin, &project, "sub/b.txt").await.0, "bar[3]\n");
    let after = snapshot();
    assert_eq!(after[2..], before[2..], "untouched, hidden and ignored files keep their content");

    // Without `regex`, the replacement is literal and so is the query.
    let literal = replace(
        &admin,
        &project,
        json!({ "q": "bar[", "replacement": "$1", "include": ["*.txt"], "case_sensitive": true }),
    )
    .await;
    assert_eq!(literal.json["total"], 3);
    assert_eq!(get_text(&admin, &project, "a.txt").await.0, "$11] and $122]\nplain foo\n");
    let nothing = replace(&admin, &project, json!({ "q": "absent", "replacement": "x" })).await;
    assert_eq!((nothing.json["total"].clone(), nothing.json["files"].clone()), (json!(0), json!([])));
}

#[tokio::test]
async fn a_replace_racing_an_edit_reports_a_conflict_and_keeps_the_edit() {
    let app = spawn_app().await;
    let (admin, org) = app.setup_admin().await;
    let project = project(&admin, &org, "Race").await;
    put(&admin, &project, "a.txt", b"old value\n").await;
    put(&admin, &project, "b.txt", b"old value\n").await;
    let preview = replace(&admin, &project, json!({ "q": "old", "replacement": "new", "preview": true })).await;
    let etags: serde_json::Map<String, Value> = preview.json["files"]
        .as_array()
        .expect("files")
        .iter()
        .map(|file| (file["path"].as_str().expect("path").to_owned(), file["etag"].clone()))
        .collect();
    assert_eq!(etags.len(), 2);

    // Someone edits a.txt between the preview and the replace.
    put(&admin, &project, "a.txt", b"old value, edited meanwhile\n").await;
    let done =
        replace(&admin, &project, json!({ "q": "old", "replacement": "new", "etags": Value::Object(etags) })).await;
    assert_eq!(done.json["conflicts"], json!(["a.txt"]));
    assert_eq!(done.json["files"].as_array().expect("files").len(), 1);
    assert_eq!(done.json["files"][0]["path"], "b.txt");
    assert_eq!(get_text(&admin, &project, "a.txt").await.0, "old value, edited meanwhile\n", "the edit is kept");
    assert_eq!(get_text(&admin, &project, "b.txt").await.0, "new value\n");

    // Replaces racing a stream of edits never lose an edit: every edit either
    // lands before a replace read the file (and is then replaced) or makes it a
    // conflict; what is on disk at the end is one of the two.
    let editor = {
        let (admin, project) = (admin.clone(), project.clone());
        tokio::spawn(async move {
            for n in 0..40 {
                put(&admin, &project, "c.txt", format!("old edit {n}\n").as_bytes()).await;
            }
        })
    };
    let mut conflicts = 0;
    for _ in 0..40 {
        let done =
            replace(&admin, &project, json!({ "q": "old edit", "replacement": "new edit", "include": "c.txt" })).await;
        conflicts += done.json["conflicts"].as_array().expect("conflicts").len();
    }
    editor.await.expect("editor");
    let last = get_text(&admin, &project, "c.txt").await.0;
    assert!(last.starts_with("old edit ") || last.starts_with("new edit "), "{last}");
    eprintln!("{conflicts} of 40 racing replaces reported a conflict");
}
