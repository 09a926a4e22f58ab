//! Imports (archives, individual files, git over HTTPS) and exports (zip, tar.gz,
//! JSON, Markdown), against the real binary. Sources are built in the tests;
//! results are checked on disk in `<data dir>/workspaces/<project id>` and with
//! the `git` CLI.

use std::collections::BTreeMap;
use std::io::{Cursor, Read, Write};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use dockyard_git::testserver::{GitHttpServer, ServerOptions};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::{
    Client, Node, Reply, TempDir, TestApp, add_member, all_files, git, noise, org_audit, outbound_config_file, project,
    put_file, read_events, snapshot, spawn_app_with, token, wait_for_job, workspace_dir,
};

const MIB: usize = 1024 * 1024;

// ---------------------------------------------------------------------------
// Sources: trees, archives built from them, and how they should look on disk

/// One entry of a source tree.
#[derive(Debug, Clone)]
enum Entry {
    Dir(String),
    File { path: String, bytes: Vec<u8>, executable: bool },
    Link { path: String, target: String },
}

impl Entry {
    fn file(path: &str, bytes: impl Into<Vec<u8>>) -> Self {
        Entry::File { path: path.to_owned(), bytes: bytes.into(), executable: false }
    }

    fn executable(path: &str, bytes: impl Into<Vec<u8>>) -> Self {
        Entry::File { path: path.to_owned(), bytes: bytes.into(), executable: true }
    }

    fn dir(path: &str) -> Self {
        Entry::Dir(path.to_owned())
    }

    fn link(path: &str, target: &str) -> Self {
        Entry::Link { path: path.to_owned(), target: target.to_owned() }
    }
}

const UNICODE_NAME: &str = "docs/héllo wörld – 日本.txt";

/// Nested folders, a binary file, an executable, a unicode name and an empty folder.
fn source_tree() -> Vec<Entry> {
    let binary: Vec<u8> = (0..=255u8).cycle().take(4096).collect();
    vec![
        Entry::file("README.md", "# Sample\n\nImported by the end-to-end tests.\n"),
        Entry::file("src/main.rs", "fn main() {\n    println!(\"hello\");\n}\n"),
        Entry::file("src/nested/deep/mod.rs", "pub fn deep() -> u8 {\n    7\n}\n"),
        Entry::file("assets/logo.bin", binary),
        Entry::executable("bin/run.sh", "#!/bin/sh\necho run\n"),
        Entry::file(UNICODE_NAME, "a unicode name\n"),
        Entry::dir("empty"),
    ]
}

/// Adds every folder that a path in the map implies.
fn with_parents(mut tree: BTreeMap<String, Node>) -> BTreeMap<String, Node> {
    let paths: Vec<String> = tree.keys().cloned().collect();
    for path in paths {
        let mut prefix = path.as_str();
        while let Some((parent, _)) = prefix.rsplit_once('/') {
            tree.entry(parent.to_owned()).or_insert(Node::Dir);
            prefix = parent;
        }
    }
    tree
}

/// How a source tree should look on disk.
fn expected_tree(entries: &[Entry]) -> BTreeMap<String, Node> {
    with_parents(
        entries
            .iter()
            .map(|entry| match entry {
                Entry::Dir(path) => (path.clone(), Node::Dir),
                Entry::File { path, bytes, executable } => {
                    (path.clone(), Node::File { bytes: bytes.clone(), executable: *executable })
                }
                Entry::Link { path, target } => (path.clone(), Node::Symlink(target.clone())),
            })
            .collect(),
    )
}

fn total_file_bytes(entries: &[Entry]) -> u64 {
    entries.iter().map(|entry| if let Entry::File { bytes, .. } = entry { bytes.len() as u64 } else { 0 }).sum()
}

fn zip_of(entries: &[Entry]) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for entry in entries {
        match entry {
            Entry::Dir(path) => writer.add_directory(path.clone(), options).expect("zip dir"),
            Entry::File { path, bytes, executable } => {
                let mode = if *executable { 0o755 } else { 0o644 };
                writer.start_file(path.clone(), options.unix_permissions(mode)).expect("zip file");
                writer.write_all(bytes).expect("zip write");
            }
            Entry::Link { path, target } => {
                writer.add_symlink(path.clone(), target.clone(), options).expect("zip link")
            }
        }
    }
    writer.finish().expect("finish zip").into_inner()
}

fn tar_gz_of(entries: &[Entry]) -> Vec<u8> {
    let encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut builder = tar::Builder::new(encoder);
    for entry in entries {
        let mut header = tar::Header::new_gnu();
        header.set_mtime(1_700_000_000);
        match entry {
            Entry::Dir(path) => {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_mode(0o755);
                header.set_size(0);
                builder.append_data(&mut header, path, std::io::empty()).expect("tar dir");
            }
            Entry::File { path, bytes, executable } => {
                header.set_entry_type(tar::EntryType::Regular);
                header.set_mode(if *executable { 0o755 } else { 0o644 });
                header.set_size(bytes.len() as u64);
                builder.append_data(&mut header, path, bytes.as_slice()).expect("tar file");
            }
            Entry::Link { path, target } => {
                header.set_entry_type(tar::EntryType::Symlink);
                header.set_mode(0o777);
                header.set_size(0);
                builder.append_link(&mut header, path, target).expect("tar link");
            }
        }
    }
    builder.into_inner().expect("finish tar").finish().expect("finish gzip")
}

/// A tar entry written exactly as given: no path checks by the tar crate.
struct RawTarEntry<'a> {
    name: &'a [u8],
    kind: tar::EntryType,
    data: &'a [u8],
    link: &'a [u8],
}

fn raw_tar_gz(entries: &[RawTarEntry<'_>]) -> Vec<u8> {
    let encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut builder = tar::Builder::new(encoder);
    for entry in entries {
        let mut header = tar::Header::new_gnu();
        assert!(entry.name.len() < 100 && entry.link.len() < 100, "raw names fit the old header");
        header.as_old_mut().name[..entry.name.len()].copy_from_slice(entry.name);
        header.as_old_mut().linkname[..entry.link.len()].copy_from_slice(entry.link);
        header.set_entry_type(entry.kind);
        header.set_mode(0o644);
        header.set_mtime(1_700_000_000);
        header.set_size(entry.data.len() as u64);
        if matches!(entry.kind, tar::EntryType::Char | tar::EntryType::Block) {
            header.set_device_major(1).expect("device major");
            header.set_device_minor(3).expect("device minor");
        }
        header.set_cksum();
        builder.append(&header, entry.data).expect("raw tar entry");
    }
    builder.into_inner().expect("finish tar").finish().expect("finish gzip")
}

// ---------------------------------------------------------------------------
// Reading exports back

/// The entries of an export by path, in the same shape as `snapshot`.
fn listing(format: &str, bytes: &[u8]) -> BTreeMap<String, Node> {
    match format {
        "zip" => zip_listing(bytes),
        "tar.gz" => tar_listing(bytes),
        "json" => json_listing(&serde_json::from_slice(bytes).expect("a JSON export")),
        other => panic!("no listing for {other}"),
    }
}

fn zip_listing(bytes: &[u8]) -> BTreeMap<String, Node> {
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).expect("a readable zip");
    let mut tree = BTreeMap::new();
    for index in 0..archive.len() {
        let mut file = archive.by_index(index).expect("zip entry");
        let name = file.name().expect("zip entry name").trim_end_matches('/').to_owned();
        let node = if file.is_dir() {
            Node::Dir
        } else if file.is_symlink() {
            let mut target = String::new();
            file.read_to_string(&mut target).expect("link target");
            Node::Symlink(target)
        } else {
            let mut content = Vec::new();
            file.read_to_end(&mut content).expect("zip content");
            Node::File { bytes: content, executable: file.unix_mode().unwrap_or(0) & 0o111 != 0 }
        };
        assert!(tree.insert(name.clone(), node).is_none(), "{name} appears once in the zip");
    }
    tree
}

fn tar_listing(bytes: &[u8]) -> BTreeMap<String, Node> {
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(bytes));
    let mut tree = BTreeMap::new();
    for entry in archive.entries().expect("tar entries") {
        let mut entry = entry.expect("tar entry");
        let name = entry.path().expect("tar path").to_string_lossy().trim_end_matches('/').to_owned();
        let node = match entry.header().entry_type() {
            tar::EntryType::Directory => Node::Dir,
            tar::EntryType::Symlink => Node::Symlink(
                entry.link_name().expect("link name").expect("a link target").to_string_lossy().into_owned(),
            ),
            tar::EntryType::Regular => {
                let executable = entry.header().mode().expect("mode") & 0o111 != 0;
                let mut content = Vec::new();
                entry.read_to_end(&mut content).expect("tar content");
                Node::File { bytes: content, executable }
            }
            other => panic!("unexpected tar entry type {other:?} for {name}"),
        };
        assert!(tree.insert(name.clone(), node).is_none(), "{name} appears once in the tar");
    }
    tree
}

fn json_listing(document: &Value) -> BTreeMap<String, Node> {
    let mut tree = BTreeMap::new();
    for entry in document["entries"].as_array().expect("entries") {
        let path = entry["path"].as_str().expect("entry path").to_owned();
        let node = match entry["type"].as_str().expect("entry type") {
            "dir" => Node::Dir,
            "symlink" => Node::Symlink(entry["target"].as_str().expect("link target").to_owned()),
            "file" => {
                let content = entry["content"].as_str().expect("file content");
                let bytes = match entry["encoding"].as_str().expect("encoding") {
                    "utf8" => content.as_bytes().to_vec(),
                    "base64" => base64::engine::general_purpose::STANDARD.decode(content).expect("base64 content"),
                    other => panic!("unknown encoding {other} for {path}"),
                };
                Node::File { bytes, executable: entry["executable"].as_bool().expect("executable flag") }
            }
            other => panic!("unknown entry type {other} for {path}"),
        };
        assert!(tree.insert(path.clone(), node).is_none(), "{path} appears once in the JSON export");
    }
    tree
}

// ---------------------------------------------------------------------------
// Talking to the import and export API

async fn app_with(env: &[(&str, &str)]) -> (TestApp, Client, String) {
    let app = spawn_app_with(env).await;
    let (admin, org) = app.setup_admin().await;
    (app, admin, org)
}

fn archive_form(name: Option<&str>, archive: Vec<u8>) -> reqwest::multipart::Form {
    // The file name says nothing: the server sniffs the format from the content.
    let part = reqwest::multipart::Part::bytes(archive).file_name("upload");
    let form = reqwest::multipart::Form::new();
    let form = match name {
        Some(name) => form.text("name", name.to_owned()),
        None => form,
    };
    form.part("archive", part)
}

fn files_form(name: Option<&str>, files: &[(&str, &[u8])]) -> reqwest::multipart::Form {
    let mut form = reqwest::multipart::Form::new();
    if let Some(name) = name {
        form = form.text("name", name.to_owned());
    }
    for (path, bytes) in files {
        form = form.part("files", reqwest::multipart::Part::bytes(bytes.to_vec()).file_name((*path).to_owned()));
    }
    form
}

async fn post_form(client: &Client, path: &str, form: reqwest::multipart::Form) -> Reply {
    client.send(client.inner.post(client.url(path)).multipart(form)).await
}

/// Imports an archive as a new project.
async fn import_archive(client: &Client, org: &str, name: &str, archive: Vec<u8>) -> Reply {
    post_form(client, &format!("/api/v1/orgs/{org}/projects/import"), archive_form(Some(name), archive)).await
}

/// Checks a 202 answer to an import; answers (job id, project id).
fn accepted(reply: &Reply) -> (String, String) {
    assert_eq!(reply.status, 202, "the import is accepted: {}", reply.body);
    let job = reply.json["job_id"].as_str().expect("job_id").to_owned();
    let project = reply.json["project_id"].as_str().expect("project_id").to_owned();
    assert_eq!(reply.json["job_url"], format!("/api/v1/jobs/{job}"));
    assert_eq!(reply.json["events_url"], format!("/api/v1/jobs/{job}/events"));
    (job, project)
}

/// Waits for an import job and checks that it succeeded; answers the job document.
async fn succeeded(client: &Client, job: &str) -> Value {
    let done = wait_for_job(client, job).await;
    assert_eq!(done["status"], "succeeded", "the import succeeds: {done}");
    assert_eq!(done["kind"], "import", "{done}");
    assert_eq!(done["error"], Value::Null, "{done}");
    done
}

/// Checks that nothing named `evil*` exists anywhere under the app's temporary
/// folder and that no staging folder or upload was left behind.
fn assert_nothing_left_behind(app: &TestApp) {
    let root = app.data_dir().parent().expect("the data dir has a parent").to_path_buf();
    let mut pending = vec![root];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            assert!(!name.starts_with("evil"), "a hostile archive wrote {}", entry.path().display());
            if entry.path().symlink_metadata().is_ok_and(|metadata| metadata.is_dir()) {
                pending.push(entry.path());
            }
        }
    }
    for leftovers in [".staging", ".uploads"] {
        let folder = app.data_dir().join("workspaces").join(leftovers);
        let remaining: Vec<PathBuf> = std::fs::read_dir(&folder)
            .map(|entries| entries.flatten().map(|entry| entry.path()).collect())
            .unwrap_or_default();
        assert!(remaining.is_empty(), "{} is empty: {remaining:?}", folder.display());
    }
}

/// Imports `archive` as a new project and checks that the job fails with `code`,
/// the project is gone and nothing was left behind.
async fn import_fails_with(app: &TestApp, client: &Client, org: &str, name: &str, archive: Vec<u8>, code: &str) {
    let (job, project) = accepted(&import_archive(client, org, name, archive).await);
    let done = wait_for_job(client, &job).await;
    assert_eq!(done["status"], "failed", "{name}: {done}");
    assert_eq!(done["error"]["code"], code, "{name}: {done}");
    assert!(done["error"]["message"].as_str().is_some_and(|message| !message.is_empty()), "{name}: {done}");
    let gone = client.get(&format!("/api/v1/projects/{project}")).await;
    assert_eq!(gone.status, 404, "{name}: the project of a failed import is deleted: {}", gone.body);
    assert!(!workspace_dir(app, &project).exists(), "{name}: no workspace remains");
    assert_nothing_left_behind(app);
}

async fn export(client: &Client, project: &str, query: &str) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    let response = client
        .inner
        .get(client.url(&format!("/api/v1/projects/{project}/export?{query}")))
        .send()
        .await
        .expect("export request");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, headers, response.bytes().await.expect("export body").to_vec())
}

async fn project_names(client: &Client, org: &str) -> Vec<String> {
    let reply = client.get(&format!("/api/v1/orgs/{org}/projects?limit=200")).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.json["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|item| item["name"].as_str().expect("name").to_owned())
        .collect()
}

// ---------------------------------------------------------------------------
// Archives and files

#[tokio::test]
async fn zip_tar_gz_and_file_imports_create_the_exact_tree_and_report_progress() {
    // Arrange
    let (app, admin, org) = app_with(&[]).await;
    let entries = source_tree();
    let expected = expected_tree(&entries);
    let file_entries: Vec<(&str, &[u8])> = entries
        .iter()
        .filter_map(|entry| match entry {
            Entry::File { path, bytes, .. } => Some((path.as_str(), bytes.as_slice())),
            _ => None,
        })
        .collect();
    // Individual files carry neither modes nor empty folders.
    let expected_files = with_parents(
        file_entries
            .iter()
            .map(|(path, bytes)| ((*path).to_owned(), Node::File { bytes: bytes.to_vec(), executable: false }))
            .collect(),
    );

    for (label, expected, form) in [
        ("zip", &expected, archive_form(Some("From zip"), zip_of(&entries))),
        ("tar.gz", &expected, archive_form(Some("From tar.gz"), tar_gz_of(&entries))),
        ("files", &expected_files, files_form(Some("From files"), &file_entries)),
    ] {
        // Act
        let reply = post_form(&admin, &format!("/api/v1/orgs/{org}/projects/import"), form).await;
        let (job, project) = accepted(&reply);
        let created = admin.get(&format!("/api/v1/projects/{project}")).await;
        assert_eq!(created.status, 200, "{label}: the project exists at once: {}", created.body);
        let done = succeeded(&admin, &job).await;

        // Assert: the tree on disk, byte for byte, with modes.
        assert_eq!(&snapshot(&workspace_dir(&app, &project)), expected, "{label}: the imported tree");
        let (status, _, bytes) = crate::support::get_file(&admin, &project, "src/nested/deep/mod.rs").await;
        assert_eq!((status, bytes.as_slice()), (200, "pub fn deep() -> u8 {\n    7\n}\n".as_bytes()), "{label}");
        assert_eq!(done["result"]["project_id"], project.as_str(), "{label}: {done}");
        let progress = &done["progress"];
        assert!(progress["entries"].as_u64().is_some_and(|entries| entries >= 6), "{label}: entries in {done}");
        assert_eq!(progress["bytes"].as_u64(), Some(total_file_bytes(&entries)), "{label}: bytes in {done}");

        // Assert: the event stream replays the job and ends with `end`.
        let events_url = format!("/api/v1/jobs/{job}/events");
        let (status, events) = read_events(&admin, &events_url, None).await;
        assert_eq!(status, 200, "{label}");
        assert!(events.len() >= 2, "{label}: progress events and the end: {events:?}");
        assert_eq!(events.last().map(|event| event.event.as_str()), Some("end"), "{label}: {events:?}");
        assert!(
            events.iter().any(|event| event.event != "end" && event.data.contains("\"entries\"")),
            "{label}: a progress event with entries: {events:?}"
        );
        let end: Value = serde_json::from_str(&events[events.len() - 1].data).expect("the end event's data is JSON");
        assert_eq!((end["status"].as_str(), &end["error"]), (Some("succeeded"), &Value::Null), "{label}: {end}");
        let ids: Vec<&str> = events.iter().filter_map(|event| event.id.as_deref()).collect();
        let counted: Vec<String> = (1..=ids.len()).map(|seq| seq.to_string()).collect();
        assert_eq!(ids, counted, "{label}: every event but the end has an id, 1, 2, 3, …: {events:?}");
        let first = events[0].id.clone().expect("the first event has an id");
        let (_, resumed) = read_events(&admin, &events_url, Some(&first)).await;
        assert_eq!(resumed, events[1..].to_vec(), "{label}: resuming after the first event replays only later ones");
    }
}

#[tokio::test]
async fn hostile_archive_entries_fail_the_job_with_exact_codes_and_leave_nothing_behind() {
    // Arrange
    let (app, admin, org) = app_with(&[]).await;
    let absolute = format!("{}/evil-absolute.txt", app.data_dir().display());
    let zip_slip = {
        let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default();
        writer.start_file("fine.txt", options).expect("zip");
        writer.write_all(b"fine").expect("zip");
        writer.start_file("../evil.txt", options).expect("zip");
        writer.write_all(b"escaped").expect("zip");
        writer.finish().expect("zip").into_inner()
    };
    let zip_absolute = {
        let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
        writer.start_file(absolute.clone(), zip::write::SimpleFileOptions::default()).expect("zip");
        writer.write_all(b"absolute").expect("zip");
        writer.finish().expect("zip").into_inner()
    };
    let zip_link_escape = {
        let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default();
        writer.add_symlink("link", "../../..", options).expect("zip");
        writer.start_file("link/evil-through-link.txt", options).expect("zip");
        writer.write_all(b"through the link").expect("zip");
        writer.finish().expect("zip").into_inner()
    };
    let file =
        |name: &'static [u8], data: &'static [u8]| RawTarEntry { name, kind: tar::EntryType::Regular, data, link: b"" };
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("zip slip", zip_slip, "archive_unsafe_path"),
        ("tar slip", raw_tar_gz(&[file(b"ok.txt", b"ok"), file(b"../../evil", b"escaped")]), "archive_unsafe_path"),
        ("zip absolute path", zip_absolute, "archive_unsafe_path"),
        (
            "tar absolute path",
            raw_tar_gz(&[RawTarEntry {
                name: absolute.as_bytes(),
                kind: tar::EntryType::Regular,
                data: b"absolute",
                link: b"",
            }]),
            "archive_unsafe_path",
        ),
        (
            "tar symlink escape",
            raw_tar_gz(&[
                RawTarEntry { name: b"link", kind: tar::EntryType::Symlink, data: b"", link: b"../../.." },
                file(b"link/evil-through-link.txt", b"through the link"),
            ]),
            "archive_symlink_escape",
        ),
        ("zip symlink escape", zip_link_escape, "archive_symlink_escape"),
        (
            "tar char device",
            raw_tar_gz(&[RawTarEntry { name: b"evil-device", kind: tar::EntryType::Char, data: b"", link: b"" }]),
            "archive_special_file",
        ),
        (
            "tar hard link",
            raw_tar_gz(&[
                file(b"a.txt", b"a"),
                RawTarEntry { name: b"evil-hard", kind: tar::EntryType::Link, data: b"", link: b"a.txt" },
            ]),
            "archive_special_file",
        ),
    ];

    // Act and assert
    for (index, (label, archive, code)) in cases.into_iter().enumerate() {
        import_fails_with(&app, &admin, &org, &format!("Hostile {index} {label}"), archive, code).await;
    }
    let survivors = project_names(&admin, &org).await;
    assert!(survivors.iter().all(|name| !name.starts_with("Hostile")), "no hostile project remains: {survivors:?}");
}

#[tokio::test]
async fn a_failed_import_has_deleted_its_project_when_the_job_reports_failed() {
    // Arrange: the polling below does not pause (to catch the moment the job
    // reads failed), which the per-user rate limit would answer with a 429.
    let (app, admin, org) = app_with(&[("DOCKYARD_RATE_LIMIT__ENABLED", "false")]).await;
    let mut unknown = noise(4096, 11);
    unknown[0] = 0;

    for attempt in 0..25 {
        // Act: poll the job without pausing and look at the project the moment it reads failed.
        let (job, project) =
            accepted(&import_archive(&admin, &org, &format!("Doomed {attempt}"), unknown.clone()).await);
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
        let done = loop {
            let reply = admin.get(&format!("/api/v1/jobs/{job}")).await;
            if reply.json["status"] == "failed" || reply.json["status"] == "succeeded" {
                break reply.json;
            }
            assert!(tokio::time::Instant::now() < deadline, "the job ends: {}", reply.body);
        };
        let right_after = admin.get(&format!("/api/v1/projects/{project}")).await;

        // Assert
        assert_eq!(done["error"]["code"], "archive_unknown_format", "{done}");
        assert_eq!(
            right_after.status, 404,
            "attempt {attempt}: the job reads failed while its project still exists: {}",
            right_after.body
        );
        assert!(!workspace_dir(&app, &project).exists());
        // The event stream of a failed job ends with its error.
        let (status, events) = read_events(&admin, &format!("/api/v1/jobs/{job}/events"), None).await;
        assert_eq!(status, 200);
        let end: Value = serde_json::from_str(&events.last().expect("an end event").data).expect("JSON");
        assert_eq!(
            (end["status"].as_str(), end["error"]["code"].as_str()),
            (Some("failed"), Some("archive_unknown_format"))
        );
    }
}

#[tokio::test]
async fn archives_over_the_quotas_fail_with_exact_codes() {
    // Arrange: 10 MB in total, 8 MB per file, 50 entries.
    let (app, admin, org) = app_with(&[
        ("DOCKYARD_WORKSPACE__MAX_TOTAL_BYTES", "10000000"),
        ("DOCKYARD_WORKSPACE__MAX_FILE_BYTES", "8000000"),
        ("DOCKYARD_WORKSPACE__MAX_FILES", "50"),
    ])
    .await;
    // A zip bomb: 100 MB of zeros in 20 files of 5 MB, about 100 KB deflated.
    let bomb = {
        let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        let zeros = vec![0u8; MIB];
        for index in 0..20 {
            writer.start_file(format!("zeros-{index}.bin"), options).expect("zip");
            for _ in 0..5 {
                writer.write_all(&zeros).expect("zip");
            }
        }
        writer.finish().expect("zip").into_inner()
    };
    assert!(bomb.len() < 2 * MIB, "the bomb is small: {} bytes", bomb.len());
    let one_big_file = tar_gz_of(&[Entry::file("big.bin", vec![0u8; 9 * MIB])]);
    // Entries are capped at twice the file quota plus 64 (folders count as entries,
    // not as files): 60 files pass that cap and fail the file quota once extracted;
    // 200 entries stop the extraction itself.
    let many: Vec<Entry> = (0..60).map(|index| Entry::file(&format!("f{index}.txt"), "x")).collect();
    let too_many_entries: Vec<Entry> = (0..200).map(|index| Entry::dir(&format!("d{index}"))).collect();

    // Act and assert
    import_fails_with(&app, &admin, &org, "Zip bomb", bomb, "archive_too_large").await;
    import_fails_with(&app, &admin, &org, "One big file", one_big_file, "archive_file_too_large").await;
    import_fails_with(&app, &admin, &org, "Many files", zip_of(&many), "quota_file_count").await;
    import_fails_with(&app, &admin, &org, "Many entries", tar_gz_of(&too_many_entries), "archive_too_many_entries")
        .await;
    // Individual files are held to the same quotas.
    let names: Vec<String> = (0..60).map(|index| format!("f{index}.txt")).collect();
    let parts: Vec<(&str, &[u8])> = names.iter().map(|name| (name.as_str(), b"x".as_slice())).collect();
    let reply =
        post_form(&admin, &format!("/api/v1/orgs/{org}/projects/import"), files_form(Some("Too many files"), &parts))
            .await;
    let (job, project) = accepted(&reply);
    let done = wait_for_job(&admin, &job).await;
    assert_eq!((done["status"].as_str(), done["error"]["code"].as_str()), (Some("failed"), Some("quota_file_count")));
    assert_eq!(admin.get(&format!("/api/v1/projects/{project}")).await.status, 404);
    assert_nothing_left_behind(&app);
    // Under the quotas the same kind of archive imports.
    let fits: Vec<Entry> = (0..10).map(|index| Entry::file(&format!("f{index}.txt"), "x")).collect();
    let (job, _) = accepted(&import_archive(&admin, &org, "Fits", zip_of(&fits)).await);
    succeeded(&admin, &job).await;
}

#[tokio::test]
async fn corrupt_and_unknown_uploads_fail_with_exact_codes() {
    // Arrange
    let (app, admin, org) = app_with(&[]).await;
    let valid = tar_gz_of(&[Entry::file("noise.bin", noise(512 * 1024, 7)), Entry::file("after.txt", "after")]);
    let truncated = valid[..valid.len() / 2].to_vec();
    let mut flipped = valid.clone();
    let middle = flipped.len() / 2;
    for byte in &mut flipped[middle..middle + 64] {
        *byte ^= 0x5a;
    }
    let mut random = noise(64 * 1024, 42);
    random[0] = 0; // not `P`, not 0x1f, not `{`
    let broken_json = br#"{"format":"dockyard-export","version":1,"entries":[{"path":"a.txt","type":"file""#.to_vec();

    // Act and assert
    import_fails_with(&app, &admin, &org, "Truncated gzip", truncated, "archive_corrupt").await;
    import_fails_with(&app, &admin, &org, "Flipped gzip", flipped, "archive_corrupt").await;
    import_fails_with(&app, &admin, &org, "Random bytes", random, "archive_unknown_format").await;
    import_fails_with(&app, &admin, &org, "Broken JSON", broken_json, "archive_corrupt").await;
    import_fails_with(&app, &admin, &org, "Zip header only", b"PK\x03\x04garbage".to_vec(), "archive_corrupt").await;
}

#[tokio::test]
async fn an_upload_over_the_limit_is_413_and_creates_no_project() {
    // Arrange
    let (app, admin, org) = app_with(&[("DOCKYARD_WORKSPACE__MAX_UPLOAD_BYTES", "1000000")]).await;
    let before = project_names(&admin, &org).await;

    // Act
    let archive = tar_gz_of(&[Entry::file("noise.bin", noise(1_500_000, 3))]);
    assert!(archive.len() > 1_000_000);
    let reply = import_archive(&admin, &org, "Too big", archive).await;
    let files = files_form(Some("Too big files"), &[("a.bin", &noise(600_000, 4)), ("b.bin", &noise(600_000, 5))]);
    let files_reply = post_form(&admin, &format!("/api/v1/orgs/{org}/projects/import"), files).await;

    // Assert
    assert_eq!((reply.status, reply.code()), (413, "upload_too_large"), "{}", reply.body);
    assert_eq!((files_reply.status, files_reply.code()), (413, "upload_too_large"), "{}", files_reply.body);
    assert_eq!(project_names(&admin, &org).await, before, "no project was created");
    assert_nothing_left_behind(&app);
    // Just under the limit is fine.
    let (job, _) =
        accepted(&import_archive(&admin, &org, "Fits", tar_gz_of(&[Entry::file("a.bin", noise(900_000, 6))])).await);
    succeeded(&admin, &job).await;
}

#[tokio::test]
async fn importing_into_an_existing_project_merges_folders_and_replaces_files() {
    // Arrange
    let (app, admin, org) = app_with(&[]).await;
    let project = project(&admin, &org, "Existing").await;
    for (path, body) in [("keep.txt", "kept"), ("src/a.rs", "old a"), ("docs/old.md", "old doc")] {
        assert_eq!(put_file(&admin, &project, path, body.as_bytes(), None).await.status, 201);
    }
    let archive = zip_of(&[
        Entry::file("src/a.rs", "new a"),
        Entry::file("src/b.rs", "new b"),
        Entry::executable("docs/new.sh", "#!/bin/sh\n"),
    ]);

    // Act
    let reply = post_form(&admin, &format!("/api/v1/projects/{project}/import"), archive_form(None, archive)).await;
    let (job, imported_into) = accepted(&reply);
    succeeded(&admin, &job).await;
    let files = files_form(None, &[("docs/old.md", b"replaced doc"), ("top.txt", b"top")]);
    let reply = post_form(&admin, &format!("/api/v1/projects/{project}/import"), files).await;
    let (files_job, _) = accepted(&reply);
    succeeded(&admin, &files_job).await;

    // Assert
    assert_eq!(imported_into, project);
    let file = |bytes: &str| Node::File { bytes: bytes.as_bytes().to_vec(), executable: false };
    let expected = BTreeMap::from([
        ("keep.txt".to_owned(), file("kept")),
        ("top.txt".to_owned(), file("top")),
        ("src".to_owned(), Node::Dir),
        ("src/a.rs".to_owned(), file("new a")),
        ("src/b.rs".to_owned(), file("new b")),
        ("docs".to_owned(), Node::Dir),
        ("docs/old.md".to_owned(), file("replaced doc")),
        ("docs/new.sh".to_owned(), Node::File { bytes: b"#!/bin/sh\n".to_vec(), executable: true }),
    ]);
    assert_eq!(snapshot(&workspace_dir(&app, &project)), expected);
    let project_reply = admin.get(&format!("/api/v1/projects/{project}")).await;
    assert_eq!((project_reply.status, project_reply.json["name"].as_str()), (200, Some("Existing")));
    assert_nothing_left_behind(&app);
}

/// Sends the head of a multipart upload that announces 50 MB and never sends
/// the rest; answers the status and body of whatever the server answers.
async fn status_before_the_body(app: &TestApp, bearer: &str, path: &str) -> (u16, Value) {
    let address = app.base.trim_start_matches("http://").trim_end_matches('/').to_owned();
    let mut stream = tokio::net::TcpStream::connect(&address).await.expect("connect");
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {bearer}\r\n\
         Content-Type: multipart/form-data; boundary=XBOUNDARYX\r\nContent-Length: 52428800\r\n\r\n\
         --XBOUNDARYX\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\nSneaky\r\n\
         --XBOUNDARYX\r\nContent-Disposition: form-data; name=\"archive\"; filename=\"a.zip\"\r\n\r\nPK\x03\x04"
    );
    stream.write_all(head.as_bytes()).await.expect("send the head");
    let mut received = Vec::new();
    let mut buffer = [0u8; 8192];
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let read = tokio::time::timeout_at(deadline, stream.read(&mut buffer))
            .await
            .expect("the server answers without waiting for the 50 MB body")
            .expect("read");
        if read == 0 {
            break;
        }
        received.extend_from_slice(&buffer[..read]);
        let text = String::from_utf8_lossy(&received).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .find_map(|line| {
                    let (name, value) = line.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length").then(|| value.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            if body.len() >= length {
                break;
            }
        }
    }
    let text = String::from_utf8_lossy(&received).into_owned();
    let status =
        text.split(' ').nth(1).and_then(|code| code.parse().ok()).unwrap_or_else(|| panic!("a status: {text}"));
    let body = text.split_once("\r\n\r\n").map(|(_, body)| body).unwrap_or("");
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_viewer_gets_403_and_a_stranger_404_before_the_upload_is_read() {
    // Arrange
    let (app, admin, org) = app_with(&[]).await;
    let project = project(&admin, &org, "Guarded").await;
    assert_eq!(put_file(&admin, &project, "keep.txt", b"kept", None).await.status, 201);
    let before = snapshot(&workspace_dir(&app, &project));
    let (viewer, _) = app.user(&admin, "viewer@example.com").await;
    add_member(&admin, &org, "viewer@example.com", "viewer").await;
    let (stranger, _) = app.user(&admin, "stranger@example.com").await;
    let viewer_token = token(&viewer, &["write"]).await;
    let stranger_token = token(&stranger, &["write"]).await;

    // Act and assert
    for (who, bearer, expected) in [("viewer", &viewer_token, 403), ("stranger", &stranger_token, 404)] {
        for path in [format!("/api/v1/projects/{project}/import"), format!("/api/v1/orgs/{org}/projects/import")] {
            let (status, body) = status_before_the_body(&app, bearer, &path).await;
            assert_eq!(status, expected, "{who} POST {path}: {body}");
            let code = if expected == 403 { "forbidden" } else { "not_found" };
            assert_eq!(body["code"], code, "{who} POST {path}: {body}");
        }
        let git = app
            .with_token(bearer)
            .post(&format!("/api/v1/projects/{project}/import"), &json!({ "git_url": "https://example.com/a.git" }))
            .await;
        assert_eq!(git.status, expected, "{who} git import: {}", git.body);
    }
    assert_eq!(snapshot(&workspace_dir(&app, &project)), before, "the project is untouched");
    assert_eq!(project_names(&admin, &org).await, ["Guarded"], "no project was created");
    assert_nothing_left_behind(&app);
}

// ---------------------------------------------------------------------------
// Exports

/// Project A: the source tree plus an internal link, a .gitignore'd file and a git history.
async fn exported_project(app: &TestApp, admin: &Client, org: &str) -> (String, Vec<Entry>) {
    let mut entries = source_tree();
    entries.push(Entry::file(".gitignore", "*.log\n"));
    entries.push(Entry::file("debug.log", "ignored by git\n"));
    entries.push(Entry::link("src/current", "nested/deep/mod.rs"));
    let form = archive_form(Some("Round Trip"), tar_gz_of(&entries)).text("slug", "round-trip");
    let (job, project) = accepted(&post_form(admin, &format!("/api/v1/orgs/{org}/projects/import"), form).await);
    succeeded(admin, &job).await;
    assert_eq!(snapshot(&workspace_dir(app, &project)), expected_tree(&entries), "project A as built");
    (project, entries)
}

#[tokio::test]
async fn exports_import_back_to_the_identical_tree_in_every_format() {
    // Arrange
    let (app, admin, org) = app_with(&[]).await;
    let (source, _) = exported_project(&app, &admin, &org).await;
    let base = format!("/api/v1/projects/{source}/git");
    assert_eq!(admin.post(&format!("{base}/init"), &json!({})).await.status, 201);
    assert_eq!(admin.post(&format!("{base}/stage"), &json!({ "paths": [] })).await.status, 204);
    let commit = admin.post(&format!("{base}/commit"), &json!({ "message": "Initial import" })).await;
    assert_eq!(commit.status, 201, "{}", commit.body);
    assert!(workspace_dir(&app, &source).join(".git").is_dir());
    let source_tree = snapshot(&workspace_dir(&app, &source));

    for (format, extension, content_type) in [
        ("zip", "zip", "application/zip"),
        ("tar.gz", "tar.gz", "application/gzip"),
        ("json", "json", "application/json"),
    ] {
        // Act
        let (status, headers, exported) = export(&admin, &source, &format!("format={format}")).await;
        assert_eq!(status, 200, "{format}: {}", String::from_utf8_lossy(&exported));
        let form = archive_form(Some(&format!("Copy {format}")), exported.clone());
        let (job, copy) = accepted(&post_form(&admin, &format!("/api/v1/orgs/{org}/projects/import"), form).await);
        succeeded(&admin, &job).await;
        let (again_status, _, exported_again) = export(&admin, &copy, &format!("format={format}")).await;

        // Assert
        assert_eq!(
            headers.get("content-disposition").and_then(|value| value.to_str().ok()),
            Some(format!("attachment; filename=\"round-trip.{extension}\"").as_str()),
            "{format}"
        );
        assert_eq!(headers.get("content-type").and_then(|value| value.to_str().ok()), Some(content_type), "{format}");
        let listed = listing(format, &exported);
        assert!(
            listed.keys().all(|path| path != ".git" && !path.starts_with(".git/")),
            "{format}: .git is never exported: {:?}",
            listed.keys().collect::<Vec<_>>()
        );
        assert_eq!(with_parents(listed.clone()), source_tree, "{format}: the export lists exactly the workspace");
        assert_eq!(snapshot(&workspace_dir(&app, &copy)), source_tree, "{format}: the copy's tree equals the source's");
        assert_eq!(again_status, 200, "{format}");
        assert_eq!(listing(format, &exported_again), listed, "{format}: exporting the copy gives the same entries");
    }
}

#[tokio::test]
async fn json_export_document_gitignore_markdown_report_and_unknown_format() {
    // Arrange
    let (app, admin, org) = app_with(&[]).await;
    let (project, entries) = exported_project(&app, &admin, &org).await;
    let base = format!("/api/v1/projects/{project}/git");
    assert_eq!(admin.post(&format!("{base}/init"), &json!({})).await.status, 201);
    assert_eq!(admin.post(&format!("{base}/stage"), &json!({ "paths": [] })).await.status, 204);
    let commit = admin.post(&format!("{base}/commit"), &json!({ "message": "Initial import" })).await;
    assert_eq!(commit.status, 201, "{}", commit.body);
    let commit_id = commit.json["commit"].as_str().expect("commit id").to_owned();

    // Act
    let (status, _, everything) = export(&admin, &project, "format=json&gitignore=false").await;
    let (ignored_status, _, honoring) = export(&admin, &project, "format=json&gitignore=true").await;
    let (zip_status, _, zip_honoring) = export(&admin, &project, "format=zip&gitignore=true").await;
    let (md_status, md_headers, markdown) = export(&admin, &project, "format=md").await;
    let unknown = admin.get(&format!("/api/v1/projects/{project}/export?format=rar")).await;

    // Assert: the JSON document.
    assert_eq!((status, ignored_status, zip_status, md_status), (200, 200, 200, 200));
    let document: Value = serde_json::from_slice(&everything).expect("JSON");
    assert_eq!(document["format"], "dockyard-export");
    assert_eq!(document["version"], 1);
    assert_eq!(document["project"]["name"], "Round Trip");
    assert_eq!(document["project"]["slug"], "round-trip");
    let by_path = |path: &str| {
        document["entries"]
            .as_array()
            .expect("entries")
            .iter()
            .find(|entry| entry["path"] == path)
            .unwrap_or_else(|| panic!("{path} in the export"))
            .clone()
    };
    let script = by_path("bin/run.sh");
    assert_eq!(
        (&script["type"], &script["executable"], &script["encoding"], &script["content"]),
        (&json!("file"), &json!(true), &json!("utf8"), &json!("#!/bin/sh\necho run\n"))
    );
    let logo = by_path("assets/logo.bin");
    assert_eq!((&logo["encoding"], &logo["executable"]), (&json!("base64"), &json!(false)));
    assert_eq!(by_path("src/current")["type"], "symlink");
    assert_eq!(by_path("src/current")["target"], "nested/deep/mod.rs");
    assert_eq!(by_path("empty")["type"], "dir");
    assert_eq!(by_path(UNICODE_NAME)["content"], "a unicode name\n");
    assert_eq!(with_parents(json_listing(&document)), expected_tree(&entries));

    // Assert: gitignore=true leaves out what .gitignore ignores, and only that.
    let mut without_log = expected_tree(&entries);
    without_log.remove("debug.log");
    let honoring: Value = serde_json::from_slice(&honoring).expect("JSON");
    assert_eq!(with_parents(json_listing(&honoring)), without_log, "gitignore=true in JSON");
    assert_eq!(with_parents(zip_listing(&zip_honoring)), without_log, "gitignore=true in zip");

    // Assert: the Markdown report.
    assert_eq!(
        md_headers.get("content-type").and_then(|value| value.to_str().ok()),
        Some("text/markdown; charset=utf-8")
    );
    let markdown = String::from_utf8(markdown).expect("UTF-8 Markdown");
    assert!(markdown.starts_with("# Round Trip\n"), "{markdown}");
    for line in ["## Tree", "src/", "  main.rs", "    deep/", "bin/", "  run.sh", "  current -> nested/deep/mod.rs"] {
        assert!(
            markdown.lines().any(|candidate| candidate == line || candidate.trim_end() == line),
            "tree line {line:?}:\n{markdown}"
        );
    }
    assert!(markdown.contains("| Language | Files | Lines | Size |"), "{markdown}");
    assert!(
        markdown.lines().any(|line| line.starts_with("| Rust | 2 | 6 |")),
        "two Rust files of 6 lines:\n{markdown}"
    );
    let commit_row = markdown
        .lines()
        .find(|line| line.contains("Initial import"))
        .unwrap_or_else(|| panic!("the commit in the report:\n{markdown}"));
    assert!(commit_row.starts_with(&format!("| `{}", &commit_id[..7])), "{commit_row}");
    assert!(commit_row.contains("| Admin |"), "{commit_row}");

    // Assert: an unknown format.
    assert_eq!((unknown.status, unknown.code()), (400, "invalid_format"), "{}", unknown.body);
}

// ---------------------------------------------------------------------------
// Git imports over HTTPS from the test server

const PRIVATE_USER: &str = "alice";

/// A source repository: three commits on `main`, a fourth on `feature`; answers
/// the work tree (checked out at `main`).
fn make_source_repository(root: &Path) -> PathBuf {
    let work = root.join("work");
    std::fs::create_dir_all(&work).expect("work dir");
    git(&work, &["init", "-q", "-b", "main"]);
    for (index, file) in ["one.txt", "two.txt", "three.txt"].iter().enumerate() {
        std::fs::write(work.join(file), format!("commit {index}\n")).expect("write");
        if index == 1 {
            std::fs::create_dir_all(work.join("src/deep")).expect("dir");
            std::fs::write(work.join("src/deep/lib.rs"), "pub fn lib() {}\n").expect("write");
        }
        git(&work, &["add", "-A"]);
        git(&work, &["commit", "-q", "-m", &format!("Commit {index}")]);
    }
    git(&work, &["checkout", "-q", "-b", "feature"]);
    std::fs::write(work.join("feature.txt"), "feature\n").expect("write");
    git(&work, &["add", "-A"]);
    git(&work, &["commit", "-q", "-m", "Feature"]);
    git(&work, &["checkout", "-q", "main"]);
    work
}

/// Publishes `work` as the bare repository `<repos>/<name>` (pushes allowed).
fn publish(work: &Path, repos: &Path, name: &str) -> PathBuf {
    let bare = repos.join(name);
    git(work, &["clone", "-q", "--bare", work.to_str().expect("path"), bare.to_str().expect("path")]);
    git(&bare, &["config", "http.receivepack", "true"]);
    bare
}

struct GitFixture {
    _temp: TempDir,
    work: PathBuf,
    bare: PathBuf,
    server: GitHttpServer,
}

fn git_fixture(basic_auth: Option<(&str, &str)>) -> GitFixture {
    let temp = TempDir::new();
    let repos = temp.0.join("repos");
    std::fs::create_dir_all(&repos).expect("repos dir");
    let work = make_source_repository(&temp.0);
    let bare = publish(&work, &repos, "source.git");
    let options = ServerOptions {
        tls: true,
        basic_auth: basic_auth.map(|(user, password)| (user.to_owned(), password.to_owned())),
        ..ServerOptions::default()
    };
    let server = GitHttpServer::start(&repos, options).expect("start the test git server");
    GitFixture { _temp: temp, work, bare, server }
}

/// An app that trusts the fixture's CA and may reach private networks. The CA
/// goes in through a config file: `DOCKYARD_OUTBOUND__EXTRA_CA_FILE` is read as
/// the `_FILE` form of a key `outbound.extra_ca` (see
/// `the_extra_ca_file_is_accepted_from_the_environment`).
async fn app_for_git(fixture: &GitFixture) -> (TestApp, Client, String) {
    let config = outbound_config_file(&fixture._temp.0, true, fixture.server.ca_pem_path());
    app_with(&[("DOCKYARD_CONFIG", config.to_str().expect("UTF-8 path"))]).await
}

async fn import_git(client: &Client, org: &str, body: Value) -> Reply {
    client.post(&format!("/api/v1/orgs/{org}/projects/import"), &body).await
}

#[tokio::test]
async fn git_imports_over_https_are_shallow_by_default_and_honour_depth_and_branch() {
    // Arrange
    let fixture = git_fixture(None);
    let (app, admin, org) = app_for_git(&fixture).await;
    let url = fixture.server.url("source.git");
    assert_eq!(git(&fixture.bare, &["rev-list", "--count", "main"]), "3");
    let main_head = git(&fixture.bare, &["rev-parse", "main"]);
    let feature_head = git(&fixture.bare, &["rev-parse", "feature"]);
    let main_tree = snapshot(&fixture.work);

    // Act
    let (shallow_job, shallow) =
        accepted(&import_git(&admin, &org, json!({ "name": "Shallow", "git_url": url })).await);
    let (full_job, full) =
        accepted(&import_git(&admin, &org, json!({ "name": "Full", "git_url": url, "depth": 0 })).await);
    let (branch_job, branch) =
        accepted(&import_git(&admin, &org, json!({ "name": "Feature", "git_url": url, "branch": "feature" })).await);
    let (missing_job, missing) =
        accepted(&import_git(&admin, &org, json!({ "name": "Missing", "git_url": url, "branch": "nope" })).await);

    // Assert: shallow by default, the files of main, the remote without credentials.
    succeeded(&admin, &shallow_job).await;
    let dir = workspace_dir(&app, &shallow);
    assert_eq!(git(&dir, &["rev-list", "--count", "HEAD"]), "1");
    assert_eq!(git(&dir, &["rev-parse", "HEAD"]), main_head);
    assert_eq!(git(&dir, &["symbolic-ref", "--short", "HEAD"]), "main");
    assert_eq!(git(&dir, &["remote", "get-url", "origin"]), url);
    assert_eq!(snapshot(&dir), main_tree);
    assert_eq!(git(&dir, &["status", "--porcelain"]), "", "a clean checkout");

    // Assert: depth 0 is the whole history.
    succeeded(&admin, &full_job).await;
    let dir = workspace_dir(&app, &full);
    assert_eq!(git(&dir, &["rev-list", "--count", "HEAD"]), "3");
    assert_eq!(git(&dir, &["rev-parse", "HEAD"]), main_head);

    // Assert: a named branch.
    succeeded(&admin, &branch_job).await;
    let dir = workspace_dir(&app, &branch);
    assert_eq!(git(&dir, &["symbolic-ref", "--short", "HEAD"]), "feature");
    assert_eq!(git(&dir, &["rev-parse", "HEAD"]), feature_head);
    assert_eq!(std::fs::read_to_string(dir.join("feature.txt")).expect("feature.txt"), "feature\n");

    // Assert: a missing branch fails the job and removes the project.
    let done = wait_for_job(&admin, &missing_job).await;
    assert_eq!(
        (done["status"].as_str(), done["error"]["code"].as_str()),
        (Some("failed"), Some("git_branch_not_found")),
        "{done}"
    );
    assert_eq!(admin.get(&format!("/api/v1/projects/{missing}")).await.status, 404);
    assert!(!workspace_dir(&app, &missing).exists());
    assert_nothing_left_behind(&app);
}

/// A repository larger than the workspace's size quota fails the import with
/// `quota_total_bytes` (the clone is stopped once it grows past the quota) and
/// leaves no project and no staging behind; a small one imports under the same quota.
#[tokio::test]
async fn a_git_import_over_the_size_quota_fails_and_leaves_nothing_behind() {
    // Arrange: a repository with 3 MiB that does not compress, next to the small one.
    let fixture = git_fixture(None);
    let big = fixture._temp.0.join("big");
    std::fs::create_dir_all(&big).expect("big dir");
    git(&big, &["init", "-q", "-b", "main"]);
    std::fs::write(big.join("noise.bin"), noise(3 * MIB, 11)).expect("write");
    git(&big, &["add", "-A"]);
    git(&big, &["commit", "-q", "-m", "Big"]);
    publish(&big, &fixture._temp.0.join("repos"), "big.git");
    let config = outbound_config_file(&fixture._temp.0, true, fixture.server.ca_pem_path());
    let (app, admin, org) = app_with(&[
        ("DOCKYARD_CONFIG", config.to_str().expect("UTF-8 path")),
        ("DOCKYARD_WORKSPACE__MAX_TOTAL_BYTES", "1000000"),
    ])
    .await;

    // Act
    let url = fixture.server.url("big.git");
    let (job, project) = accepted(&import_git(&admin, &org, json!({ "name": "Big", "git_url": url })).await);
    let done = wait_for_job(&admin, &job).await;

    // Assert
    assert_eq!(
        (done["status"].as_str(), done["error"]["code"].as_str()),
        (Some("failed"), Some("quota_total_bytes")),
        "{done}"
    );
    assert_eq!(admin.get(&format!("/api/v1/projects/{project}")).await.status, 404);
    assert!(!workspace_dir(&app, &project).exists());
    assert_nothing_left_behind(&app);
    let url = fixture.server.url("source.git");
    let (small_job, _) = accepted(&import_git(&admin, &org, json!({ "name": "Small", "git_url": url })).await);
    succeeded(&admin, &small_job).await;
}

#[tokio::test]
async fn a_private_repository_needs_the_token_which_is_stored_but_never_written_in_clear() {
    // Arrange
    let secret = format!("dyp-secret-{}", ulid::Ulid::new().to_string().to_lowercase());
    let fixture = git_fixture(Some((PRIVATE_USER, &secret)));
    let (app, admin, org) = app_for_git(&fixture).await;
    let url = fixture.server.url("source.git");

    // Act
    let (denied_job, denied) = accepted(&import_git(&admin, &org, json!({ "name": "No token", "git_url": url })).await);
    let denied_done = wait_for_job(&admin, &denied_job).await;
    let (job, project) = accepted(
        &import_git(
            &admin,
            &org,
            json!({ "name": "With token", "git_url": url, "username": PRIVATE_USER, "token": secret }),
        )
        .await,
    );
    let done = wait_for_job(&admin, &job).await;

    // Assert
    assert_eq!(
        (denied_done["status"].as_str(), denied_done["error"]["code"].as_str()),
        (Some("failed"), Some("git_auth_failed")),
        "{denied_done}"
    );
    assert_eq!(admin.get(&format!("/api/v1/projects/{denied}")).await.status, 404);
    assert_eq!(done["status"], "succeeded", "{done}");
    let dir = workspace_dir(&app, &project);
    assert_eq!(git(&dir, &["rev-parse", "HEAD"]), git(&fixture.bare, &["rev-parse", "main"]));
    assert_eq!(git(&dir, &["remote", "get-url", "origin"]), url, "no credentials in the remote URL");
    let credential = admin.get(&format!("/api/v1/projects/{project}/git/credential")).await;
    assert_eq!(credential.status, 200, "{}", credential.body);
    assert_eq!(credential.json, json!({ "configured": true, "username": PRIVATE_USER }));
    assert!(!credential.body.contains(&secret));
    for file in all_files(app.data_dir()) {
        let bytes = std::fs::read(&file).unwrap_or_default();
        assert!(
            !bytes.windows(secret.len()).any(|window| window == secret.as_bytes()),
            "the token is written in clear in {}",
            file.display()
        );
    }
    assert!(!app.output_text().contains(&secret), "the token is in the server's output");
    let job_text = admin.get(&format!("/api/v1/jobs/{job}")).await.body;
    assert!(!job_text.contains(&secret), "the token is in the job: {job_text}");
}

#[tokio::test]
async fn git_urls_to_loopback_are_refused_without_allow_private_networks() {
    // Arrange: the CA is trusted, but private networks are not allowed.
    let fixture = git_fixture(None);
    let config = outbound_config_file(&fixture._temp.0, false, fixture.server.ca_pem_path());
    let (app, admin, org) = app_with(&[("DOCKYARD_CONFIG", config.to_str().expect("UTF-8 path"))]).await;
    let port = fixture.server.address().port();

    // Act: an IP literal is refused when the request is made ...
    let literal = import_git(
        &admin,
        &org,
        json!({ "name": "Literal", "git_url": format!("https://127.0.0.1:{port}/source.git") }),
    )
    .await;
    // ... a host name when it resolves, in the job.
    let named =
        import_git(&admin, &org, json!({ "name": "Named", "git_url": format!("https://localhost:{port}/source.git") }))
            .await;

    // Assert
    assert_eq!((literal.status, literal.code()), (422, "git_forbidden_address"), "{}", literal.body);
    let (job, project) = accepted(&named);
    let done = wait_for_job(&admin, &job).await;
    assert_eq!(
        (done["status"].as_str(), done["error"]["code"].as_str()),
        (Some("failed"), Some("git_forbidden_address")),
        "{done}"
    );
    assert_eq!(admin.get(&format!("/api/v1/projects/{project}")).await.status, 404);
    assert!(project_names(&admin, &org).await.is_empty(), "no project is left");
    assert_nothing_left_behind(&app);
}

#[tokio::test]
async fn the_extra_ca_file_is_accepted_from_the_environment() {
    // Arrange: the documented variables, no config file.
    let fixture = git_fixture(None);
    let ca = fixture.server.ca_pem_path().display().to_string();
    let (_app, admin, org) = app_with(&[
        ("DOCKYARD_OUTBOUND__ALLOW_PRIVATE_NETWORKS", "true"),
        ("DOCKYARD_OUTBOUND__EXTRA_CA_FILE", ca.as_str()),
    ])
    .await;

    // Act
    let url = fixture.server.url("source.git");
    let (job, _) = accepted(&import_git(&admin, &org, json!({ "name": "From env", "git_url": url })).await);

    // Assert
    succeeded(&admin, &job).await;
}

// ---------------------------------------------------------------------------
// Audit

#[tokio::test]
async fn imports_are_audited_when_started_and_when_they_succeed_or_fail() {
    // Arrange
    let (_app, admin, org) = app_with(&[]).await;
    let me = admin.get("/api/v1/me").await.json["id"].as_str().expect("my id").to_owned();

    // Act
    let (good_job, good) = accepted(&import_archive(&admin, &org, "Good", zip_of(&source_tree())).await);
    succeeded(&admin, &good_job).await;
    let mut unknown = noise(1000, 9);
    unknown[0] = 0;
    let (bad_job, bad) = accepted(&import_archive(&admin, &org, "Bad", unknown).await);
    assert_eq!(wait_for_job(&admin, &bad_job).await["status"], "failed");

    // Assert
    let started = org_audit(&admin, &org, "project.import_started").await;
    let mut targets: Vec<&str> = started.iter().filter_map(|event| event["target_id"].as_str()).collect();
    targets.sort_unstable();
    let mut expected = vec![good.as_str(), bad.as_str()];
    expected.sort_unstable();
    assert_eq!(targets, expected, "{started:?}");
    for event in &started {
        assert_eq!(event["actor_user_id"], me.as_str());
        assert_eq!(event["target_type"], "project");
        assert_eq!(event["detail"]["source"], "archive");
    }
    let imported = org_audit(&admin, &org, "project.imported").await;
    assert_eq!(imported.len(), 1, "{imported:?}");
    assert_eq!(imported[0]["target_id"], good.as_str());
    assert_eq!(imported[0]["detail"]["job"], good_job.as_str());
    assert_eq!(imported[0]["actor_user_id"], me.as_str());
    let failed = org_audit(&admin, &org, "project.import_failed").await;
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0]["target_id"], bad.as_str());
    assert_eq!(failed[0]["detail"]["job"], bad_job.as_str());
    assert_eq!(failed[0]["detail"]["error"], "archive_unknown_format");
}
