//! The files API of a project's workspace, against the real binary.

use serde_json::json;

use crate::support::{Client, TestApp, get_file as get_raw, project, put_file as put, spawn_app, spawn_app_with};

async fn app_with_project(env: &[(&str, &str)]) -> (TestApp, Client, String) {
    let app = if env.is_empty() { spawn_app().await } else { spawn_app_with(env).await };
    let (admin, org) = app.setup_admin().await;
    let project = project(&admin, &org, "Files").await;
    (app, admin, project)
}

#[tokio::test]
async fn a_file_round_trips_with_its_etag_and_content_type() {
    let (_app, admin, project) = app_with_project(&[]).await;

    let created = put(&admin, &project, "src/main.rs", b"fn main() {}\n", None).await;
    assert_eq!(created.status, 201, "{}", created.body);
    let etag = created.header("etag").expect("etag").to_owned();
    assert_eq!(created.json["etag"], etag.as_str());
    assert_eq!(created.json["size"], 13);
    let replaced = put(&admin, &project, "src/main.rs", b"fn main() { println!(); }\n", None).await;
    assert_eq!(replaced.status, 200);
    let new_etag = replaced.header("etag").expect("etag").to_owned();
    assert_ne!(new_etag, etag);

    let (status, headers, bytes) = get_raw(&admin, &project, "src/main.rs").await;
    assert_eq!(status, 200);
    assert_eq!(bytes, b"fn main() { println!(); }\n");
    assert_eq!(headers["etag"], new_etag.as_str());
    assert_eq!(headers["content-type"], "text/plain; charset=utf-8");
    assert_eq!(headers["x-dockyard-binary"], "false");
    assert_eq!(headers["x-content-type-options"], "nosniff");

    let binary = put(&admin, &project, "logo.png", &[0x89, b'P', b'N', b'G', 0, 1, 2], None).await;
    assert_eq!(binary.status, 201);
    let (_, headers, bytes) = get_raw(&admin, &project, "logo.png").await;
    assert_eq!(bytes, [0x89, b'P', b'N', b'G', 0, 1, 2]);
    assert_eq!(headers["content-type"], "application/octet-stream");
    assert_eq!(headers["x-dockyard-binary"], "true");

    let not_modified = admin
        .send(
            admin
                .inner
                .get(admin.url(&format!("/api/v1/projects/{project}/files/src/main.rs")))
                .header("if-none-match", &new_etag),
        )
        .await;
    assert_eq!(not_modified.status, 304);
    let download = admin.get(&format!("/api/v1/projects/{project}/files/src/main.rs?download=true")).await;
    assert_eq!(download.header("content-disposition"), Some("attachment; filename=\"main.rs\""));
}

#[tokio::test]
async fn a_stale_if_match_gets_412_and_loses_nothing() {
    let (_app, admin, project) = app_with_project(&[]).await;
    let first = put(&admin, &project, "notes.txt", b"version one", None).await;
    let etag = first.header("etag").expect("etag").to_owned();
    let second = put(&admin, &project, "notes.txt", b"version two", Some(&etag)).await;
    assert_eq!(second.status, 200, "the current ETag matches: {}", second.body);

    let stale = put(&admin, &project, "notes.txt", b"lost update", Some(&etag)).await;
    assert_eq!((stale.status, stale.code()), (412, "etag_mismatch"));
    assert_eq!(get_raw(&admin, &project, "notes.txt").await.2, b"version two");

    // Eight editors save at once from the same version: exactly one wins.
    let current = second.header("etag").expect("etag").to_owned();
    let mut saves = Vec::new();
    for n in 0..8 {
        let (admin, project, current) = (admin.clone(), project.clone(), current.clone());
        saves.push(tokio::spawn(async move {
            let body = format!("editor {n} ").repeat(1000);
            (put(&admin, &project, "notes.txt", body.as_bytes(), Some(&current)).await.status, body)
        }));
    }
    let mut winners = Vec::new();
    for save in saves {
        let (status, body) = save.await.expect("task");
        match status {
            200 => winners.push(body),
            412 => {}
            other => panic!("unexpected status {other}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one save wins");
    assert_eq!(get_raw(&admin, &project, "notes.txt").await.2, winners[0].as_bytes(), "the winner's whole content");
}

#[tokio::test]
async fn hostile_paths_are_refused_with_problem_codes() {
    let (app, admin, project) = app_with_project(&[]).await;
    // Encoded so that the HTTP client does not normalise them away before sending;
    // the server decodes them into the hostile paths.
    for (path, code) in [
        ("..%2f..%2fetc%2fpasswd", "path_traversal"),
        ("x%2f%2e%2e", "path_traversal"),
        ("%2fetc%2fpasswd", "path_absolute"),
        ("a%00b", "path_invalid"),
        ("a%2f%2fb", "path_invalid"),
    ] {
        let reply = put(&admin, &project, path, b"x", None).await;
        assert_eq!((reply.status, reply.code()), (400, code), "PUT {path}: {}", reply.body);
        assert_eq!(reply.header("content-type"), Some("application/problem+json"));
        let read = admin.get(&format!("/api/v1/projects/{project}/files/{path}")).await;
        assert_eq!((read.status, read.code()), (400, code), "GET {path}: {}", read.body);
    }
    let tree = admin.get(&format!("/api/v1/projects/{project}/tree?path=..")).await;
    assert_eq!((tree.status, tree.code()), (400, "path_traversal"));

    // A link planted in the workspace (say by a terminal) that leads outside it.
    let outside = app.data_dir().join("outside");
    std::fs::create_dir_all(&outside).expect("outside dir");
    std::fs::write(outside.join("secret.txt"), "secret").expect("secret");
    let workspace = app.data_dir().join("workspaces").join(&project);
    std::fs::create_dir_all(&workspace).expect("workspace");
    std::os::unix::fs::symlink(&outside, workspace.join("escape")).expect("symlink");
    let read = admin.get(&format!("/api/v1/projects/{project}/files/escape/secret.txt")).await;
    assert_eq!((read.status, read.code()), (400, "path_escapes_workspace"), "{}", read.body);
    let write = put(&admin, &project, "escape/planted.txt", b"x", None).await;
    assert_eq!((write.status, write.code()), (400, "path_escapes_workspace"));
    assert!(!outside.join("planted.txt").exists(), "nothing was written outside");
    let list = admin.get(&format!("/api/v1/projects/{project}/tree?path=escape")).await;
    assert_eq!((list.status, list.code()), (400, "path_escapes_workspace"));
}

#[tokio::test]
async fn the_tree_lists_folders_first_with_git_ignore_flags() {
    let (_app, admin, project) = app_with_project(&[]).await;
    for (file, body) in
        [(".gitignore", "*.log\nbuild/\n"), ("b.txt", "b"), ("A.txt", "a"), ("debug.log", "x"), ("src/lib.rs", "")]
    {
        assert_eq!(put(&admin, &project, file, body.as_bytes(), None).await.status, 201);
    }
    assert_eq!(
        admin.post(&format!("/api/v1/projects/{project}/folders"), &json!({ "path": "build" })).await.status,
        201
    );

    let tree = admin.get(&format!("/api/v1/projects/{project}/tree")).await;
    assert_eq!(tree.status, 200, "{}", tree.body);
    let entries = tree.json["entries"].as_array().expect("entries");
    let names: Vec<&str> = entries.iter().map(|entry| entry["name"].as_str().expect("name")).collect();
    assert_eq!(names, ["build", "src", ".gitignore", "A.txt", "b.txt", "debug.log"]);
    let ignored: Vec<bool> = entries.iter().map(|entry| entry["ignored"].as_bool().expect("flag")).collect();
    assert_eq!(ignored, [true, false, false, false, false, true]);
    assert_eq!(entries[0]["type"], "dir");
    assert_eq!(entries[4]["type"], "file");
    assert_eq!(entries[4]["size"], 1);
    assert_eq!(entries[4]["path"], "b.txt");
    let nested = admin.get(&format!("/api/v1/projects/{project}/tree?path=src")).await;
    assert_eq!(nested.json["entries"][0]["path"], "src/lib.rs");
    let missing = admin.get(&format!("/api/v1/projects/{project}/tree?path=nope")).await;
    assert_eq!(missing.status, 404);
    let file = admin.get(&format!("/api/v1/projects/{project}/tree?path=b.txt")).await;
    assert_eq!((file.status, file.code()), (409, "not_a_directory"));
}

#[tokio::test]
async fn move_copy_and_delete() {
    let (_app, admin, project) = app_with_project(&[]).await;
    let base = format!("/api/v1/projects/{project}");
    assert_eq!(put(&admin, &project, "a/one.txt", b"one", None).await.status, 201);
    assert_eq!(put(&admin, &project, "a/two.txt", b"two", None).await.status, 201);

    let moved = admin.post(&format!("{base}/move"), &json!({ "from": "a/one.txt", "to": "b/uno.txt" })).await;
    assert_eq!((moved.status, moved.json["path"].as_str()), (200, Some("b/uno.txt")));
    assert_eq!(get_raw(&admin, &project, "b/uno.txt").await.2, b"one");
    assert_eq!(get_raw(&admin, &project, "a/one.txt").await.0, 404);
    let clash = admin.post(&format!("{base}/move"), &json!({ "from": "a/two.txt", "to": "b/uno.txt" })).await;
    assert_eq!((clash.status, clash.code()), (409, "already_exists"));
    let replaced = admin
        .post(&format!("{base}/move"), &json!({ "from": "a/two.txt", "to": "b/uno.txt", "overwrite": true }))
        .await;
    assert_eq!(replaced.status, 200);
    assert_eq!(get_raw(&admin, &project, "b/uno.txt").await.2, b"two");

    let copied = admin.post(&format!("{base}/copy"), &json!({ "from": "b", "to": "c/b-copy" })).await;
    assert_eq!(copied.status, 201, "{}", copied.body);
    assert_eq!(get_raw(&admin, &project, "c/b-copy/uno.txt").await.2, b"two");
    let into_itself = admin.post(&format!("{base}/copy"), &json!({ "from": "c", "to": "c/inner" })).await;
    assert_eq!((into_itself.status, into_itself.code()), (409, "into_itself"));
    let missing = admin.post(&format!("{base}/copy"), &json!({ "from": "nope", "to": "x" })).await;
    assert_eq!(missing.status, 404);

    assert_eq!(admin.delete(&format!("{base}/files/c")).await.status, 204);
    assert_eq!(get_raw(&admin, &project, "c/b-copy/uno.txt").await.0, 404);
    assert_eq!(admin.delete(&format!("{base}/files/c")).await.status, 404);
    let root = admin.delete(&format!("{base}/files/")).await;
    assert!(matches!(root.status, 400 | 404 | 405), "deleting the root is refused: {}", root.status);
    let folder_again = admin.post(&format!("{base}/folders"), &json!({ "path": "b" })).await;
    assert_eq!((folder_again.status, folder_again.code()), (409, "already_exists"));
}

#[tokio::test]
async fn quotas_say_which_limit_was_hit() {
    let (_app, admin, project) = app_with_project(&[
        ("DOCKYARD_WORKSPACE__MAX_FILE_BYTES", "4096"),
        ("DOCKYARD_WORKSPACE__MAX_FILES", "2"),
        ("DOCKYARD_WORKSPACE__MAX_TOTAL_BYTES", "6000"),
        ("DOCKYARD_HTTP__BODY_LIMIT_BYTES", "1024"),
    ])
    .await;
    // A file body may be larger than the JSON body limit, up to the file quota.
    assert_eq!(put(&admin, &project, "big.bin", &vec![7u8; 4000], None).await.status, 201);
    let too_big = put(&admin, &project, "huge.bin", &vec![7u8; 5000], None).await;
    assert_eq!((too_big.status, too_big.code()), (413, "quota_file_size"));
    let over_total = put(&admin, &project, "second.bin", &vec![7u8; 3000], None).await;
    assert_eq!((over_total.status, over_total.code()), (422, "quota_total_bytes"));
    assert_eq!(put(&admin, &project, "small.txt", b"small", None).await.status, 201);
    let third = put(&admin, &project, "third.txt", b"x", None).await;
    assert_eq!((third.status, third.code()), (422, "quota_file_count"));
    assert_eq!(get_raw(&admin, &project, "third.txt").await.0, 404, "nothing was written");
}

#[tokio::test]
async fn deleting_a_project_deletes_its_workspace() {
    let (app, admin, project) = app_with_project(&[]).await;
    assert_eq!(put(&admin, &project, "keep.txt", b"x", None).await.status, 201);
    let workspace = app.data_dir().join("workspaces").join(&project);
    assert!(workspace.join("keep.txt").exists());
    assert_eq!(admin.delete(&format!("/api/v1/projects/{project}")).await.status, 204);
    assert!(!workspace.exists());
}

fn part(name: &str, bytes: &[u8]) -> reqwest::multipart::Part {
    reqwest::multipart::Part::bytes(bytes.to_vec()).file_name(name.to_owned())
}

#[tokio::test]
async fn several_files_upload_in_one_multipart_request_keeping_their_folders() {
    let (_app, admin, project) = app_with_project(&[("DOCKYARD_WORKSPACE__MAX_FILE_BYTES", "3000000")]).await;
    let big = vec![b'x'; 2_500_000]; // larger than the 2 MiB JSON body limit
    let form = reqwest::multipart::Form::new()
        .part("files", part("site/index.html", b"<h1>hi</h1>"))
        .part("files", part("site/css/style.css", b"h1 { color: red }"))
        .part("files", part("big.bin", &big))
        .text("note", "plain fields are ignored");
    let reply = admin
        .send(admin.inner.post(admin.url(&format!("/api/v1/projects/{project}/upload?path=up"))).multipart(form))
        .await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    let paths: Vec<&str> = reply.json["files"]
        .as_array()
        .expect("files")
        .iter()
        .map(|file| file["path"].as_str().expect("path"))
        .collect();
    assert_eq!(paths, ["up/site/index.html", "up/site/css/style.css", "up/big.bin"]);
    assert_eq!(get_raw(&admin, &project, "up/site/css/style.css").await.2, b"h1 { color: red }");
    assert_eq!(get_raw(&admin, &project, "up/big.bin").await.2.len(), 2_500_000);
}

#[tokio::test]
async fn uploads_validate_every_name_and_the_file_size_quota() {
    let (_app, admin, project) = app_with_project(&[("DOCKYARD_WORKSPACE__MAX_FILE_BYTES", "1000")]).await;
    let url = admin.url(&format!("/api/v1/projects/{project}/upload"));
    let hostile = reqwest::multipart::Form::new().part("files", part("../../escape.txt", b"x"));
    let reply = admin.send(admin.inner.post(&url).multipart(hostile)).await;
    assert_eq!((reply.status, reply.code()), (400, "path_traversal"), "{}", reply.body);
    let too_big = reqwest::multipart::Form::new().part("files", part("big.bin", &[0u8; 2000]));
    let reply = admin.send(admin.inner.post(&url).multipart(too_big)).await;
    assert_eq!((reply.status, reply.code()), (413, "quota_file_size"));
    let empty = reqwest::multipart::Form::new().text("note", "no files");
    let reply = admin.send(admin.inner.post(&url).multipart(empty)).await;
    assert_eq!((reply.status, reply.code()), (400, "no_files"));
    let not_multipart = admin.post(&format!("/api/v1/projects/{project}/upload"), &json!({})).await;
    assert_eq!((not_multipart.status, not_multipart.code()), (400, "invalid_multipart"));
    let tree = admin.get(&format!("/api/v1/projects/{project}/tree")).await;
    assert_eq!(tree.json["entries"].as_array().map(Vec::len), Some(0), "nothing was written");
}
