//! The command line: `version`, `migrate`, `openapi`, and `backup`/`restore`
//! of a whole instance (database and data dir), on the suite's backend and,
//! when that is PostgreSQL, across backends.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use serde_json::{Value, json};

use crate::support::{
    ADMIN_EMAIL, Backend, PASSWORD, TempDir, TestApp, TestDatabase, backend, binary, project, spawn_app, spawn_app_with,
};

const DEV_EMAIL: &str = "dev@example.com";
const FILE_PATH: &str = "workspaces/x/readme.txt";

/// Bytes that would not survive a text round trip: NUL, invalid UTF-8, CRLF.
fn file_contents() -> Vec<u8> {
    let mut bytes = b"Dockyard workspace readme\r\n\x00\xff\xfe binary tail\n".to_vec();
    bytes.extend((0..=255u8).cycle().take(70_000));
    bytes
}

/// A database and data dir with no server: for commands run on a fresh instance.
struct Instance {
    _temp: TempDir,
    _database: TestDatabase,
    env: Vec<(String, String)>,
}

impl Instance {
    async fn new() -> Self {
        let temp = TempDir::new();
        let database = TestDatabase::create().await;
        let mut env = vec![("DOCKYARD_DATA_DIR".to_owned(), temp.0.join("data").display().to_string())];
        if let Some(url) = &database.url {
            env.push(("DOCKYARD_DATABASE_URL".to_owned(), url.clone()));
        }
        Self { _temp: temp, _database: database, env }
    }

    fn run(&self, args: &[&str]) -> (bool, String, String) {
        run_with_env(&self.env, args)
    }
}

fn run_with_env(env: &[(String, String)], args: &[&str]) -> (bool, String, String) {
    let output = std::process::Command::new(binary())
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::null())
        .output()
        .expect("run dockyard");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// The CLI against `app`'s config, with no standard input.
fn cli(app: &TestApp, args: &[&str]) -> (bool, String, String) {
    app.run_cli(args, "")
}

/// A failed command that failed cleanly: a one-line error, no panic.
#[track_caller]
fn assert_clean_failure((ok, stdout, stderr): &(bool, String, String)) {
    assert!(!ok, "the command succeeded:\n{stdout}\n{stderr}");
    assert!(!stderr.contains("panicked") && !stderr.contains("RUST_BACKTRACE"), "{stderr}");
    assert!(stderr.contains("error:"), "{stderr}");
}

/// `dockyard user list --json`: a cheap fingerprint of the database's users.
fn users_json(app: &TestApp) -> Value {
    let (ok, stdout, stderr) = cli(app, &["user", "list", "--json"]);
    assert!(ok, "user list: {stderr}");
    serde_json::from_str(&stdout).unwrap_or_else(|error| panic!("user list is not JSON ({error}): {stdout}"))
}

fn emails(users: &Value) -> Vec<String> {
    let mut emails: Vec<String> =
        users.as_array().expect("a list").iter().map(|user| user["email"].as_str().unwrap_or("").to_owned()).collect();
    emails.sort();
    emails
}

// ---------------------------------------------------------------------------
// 10. version, migrate, openapi
// ---------------------------------------------------------------------------

#[tokio::test]
async fn version_prints_the_package_version() {
    let (ok, stdout, stderr) = run_with_env(&[], &["version"]);
    assert!(ok, "{stderr}");
    assert_eq!(stdout.trim(), format!("dockyard {}", env!("CARGO_PKG_VERSION")));
    let (ok, stdout, _) = run_with_env(&[], &["--version"]);
    assert!(ok);
    assert!(stdout.contains(env!("CARGO_PKG_VERSION")), "{stdout}");
}

#[tokio::test]
async fn an_unknown_command_fails_with_usage() {
    let (ok, _, stderr) = run_with_env(&[], &["frobnicate"]);
    assert!(!ok);
    assert!(stderr.to_lowercase().contains("usage"), "{stderr}");
}

#[tokio::test]
async fn migrate_applies_every_migration_and_is_idempotent() {
    let instance = Instance::new().await;
    let (ok, first, stderr) = instance.run(&["migrate"]);
    assert!(ok, "{stderr}");
    let version = first.trim().strip_prefix("database migrated to version ").unwrap_or_else(|| panic!("{first}"));
    assert!(version.parse::<i64>().is_ok_and(|version| version > 0), "{first}");
    let (ok, second, stderr) = instance.run(&["migrate"]);
    assert!(ok, "the second run: {stderr}");
    assert_eq!(second, first);
    // The migrated database is usable by the other commands.
    let (ok, users, stderr) = instance.run(&["user", "list", "--json"]);
    assert!(ok, "{stderr}");
    assert_eq!(serde_json::from_str::<Value>(&users).expect("JSON"), json!([]));
}

#[tokio::test]
async fn migrate_reports_the_schema_version_that_readyz_serves() {
    let mut app = spawn_app().await;
    let ready = app.anonymous().get("/readyz").await;
    let served = ready.json["schema_version"].as_i64().expect("a schema version");
    app.terminate().await;
    let (ok, stdout, stderr) = cli(&app, &["migrate"]);
    assert!(ok, "{stderr}");
    assert_eq!(stdout.trim(), format!("database migrated to version {served}"));
}

#[tokio::test]
async fn openapi_prints_the_same_json_document_the_server_serves() {
    let (ok, stdout, stderr) = run_with_env(&[], &["openapi"]);
    assert!(ok, "{stderr}");
    let printed: Value = serde_json::from_str(&stdout).unwrap_or_else(|error| panic!("not JSON ({error}): {stdout}"));
    assert!(printed["openapi"].as_str().is_some_and(|version| version.starts_with("3.")), "{}", printed["openapi"]);
    assert!(printed["paths"]["/api/v1/orgs/{org}/projects"]["post"].is_object());

    let app = spawn_app().await;
    let served = app.anonymous().get("/api/v1/openapi.json").await.json;
    let keys = |doc: &Value| {
        let mut keys: Vec<String> = doc["paths"].as_object().expect("paths").keys().cloned().collect();
        keys.sort();
        keys
    };
    assert_eq!(keys(&printed), keys(&served));
    assert_eq!(printed["components"], served["components"]);
}

// ---------------------------------------------------------------------------
// 11. Backup and restore
// ---------------------------------------------------------------------------

/// What a populated source instance holds, to compare a restore against.
struct Source {
    app: TestApp,
    /// (org id, sorted (project id, name)) per org.
    orgs: Vec<(String, Vec<(String, String)>)>,
    users: Value,
}

/// A running instance with two users, two orgs, projects in both and a file in the data dir.
async fn populated(extra_env: &[(&str, &str)]) -> Source {
    let app = spawn_app_with(extra_env).await;
    let (admin, default_org) = app.setup_admin().await;
    app.user(&admin, DEV_EMAIL).await;
    let second = admin.post("/api/v1/orgs", &json!({ "name": "Backup Org" })).await;
    assert_eq!(second.status, 201, "{}", second.body);
    let second_org = second.json["id"].as_str().expect("org id").to_owned();
    let member = admin
        .post(&format!("/api/v1/orgs/{second_org}/members"), &json!({ "email": DEV_EMAIL, "role": "developer" }))
        .await;
    assert_eq!(member.status, 201, "{}", member.body);
    for name in ["Alpha", "Beta"] {
        project(&admin, &default_org, name).await;
    }
    project(&admin, &second_org, "Gamma").await;
    let file = app.data_dir().join(FILE_PATH);
    std::fs::create_dir_all(file.parent().expect("a parent")).expect("create the workspace dir");
    std::fs::write(&file, file_contents()).expect("write the file");
    let mut orgs = Vec::new();
    for org in [default_org, second_org] {
        let projects = projects_of(&admin, &org).await;
        orgs.push((org, projects));
    }
    let users = users_json(&app);
    Source { app, orgs, users }
}

async fn projects_of(client: &crate::support::Client, org: &str) -> Vec<(String, String)> {
    let reply = client.get(&format!("/api/v1/orgs/{org}/projects?limit=200")).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let mut projects: Vec<(String, String)> = reply.json["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|item| (item["id"].as_str().unwrap_or("").to_owned(), item["name"].as_str().unwrap_or("").to_owned()))
        .collect();
    projects.sort();
    projects
}

/// A fresh instance whose server ran once (so its database is migrated) and is stopped.
async fn empty_stopped_instance(extra_env: &[(&str, &str)]) -> TestApp {
    let mut app = spawn_app_with(extra_env).await;
    // One answered request first: a SIGTERM right after the ready line can kill the
    // process before it handles signals (see edge::sigterm_right_after_the_ready_line_…).
    assert_eq!(app.anonymous().get("/readyz").await.status, 200);
    let status = app.terminate().await;
    assert!(status.success(), "{status}");
    app
}

fn backup_file(dir: &TempDir) -> PathBuf {
    dir.0.join("backups").join("dockyard-backup.tar.gz")
}

fn take_backup(app: &TestApp, output: &Path) {
    let (ok, stdout, stderr) = cli(app, &["backup", "--output", &output.display().to_string()]);
    assert!(ok, "backup failed: {stderr}\nserver output:\n{}", app.output_text());
    assert!(stdout.starts_with("backup written to "), "{stdout}");
    assert!(output.is_file(), "no archive at {}", output.display());
}

/// Starts `target`'s server and checks it holds exactly what `source` held.
async fn assert_restored(target: &mut TestApp, source: &Source) {
    assert_eq!(emails(&users_json(target)), emails(&source.users));
    target.start().await;
    let admin = target.login(ADMIN_EMAIL, PASSWORD).await;
    for (org, projects) in &source.orgs {
        assert_eq!(&projects_of(&admin, org).await, projects, "projects of org {org}");
    }
    let dev = target.login(DEV_EMAIL, PASSWORD).await;
    let (second_org, second_projects) = &source.orgs[1];
    assert_eq!(&projects_of(&dev, second_org).await, second_projects, "the membership was restored");
    let restored = std::fs::read(target.data_dir().join(FILE_PATH)).expect("the file is restored");
    assert!(restored == file_contents(), "the restored file differs ({} bytes)", restored.len());
    let ready = target.anonymous().get("/readyz").await;
    assert_eq!(ready.status, 200, "{}", ready.body);
}

#[tokio::test]
async fn a_backup_taken_while_the_server_runs_restores_into_a_new_instance() {
    let source = populated(&[]).await;
    let dir = TempDir::new();
    let archive = backup_file(&dir);
    take_backup(&source.app, &archive);
    // The server kept serving during the backup.
    assert_eq!(source.app.anonymous().get("/readyz").await.status, 200);

    let mut target = empty_stopped_instance(&[]).await;
    let (ok, stdout, stderr) = cli(&target, &["restore", "--input", &archive.display().to_string()]);
    assert!(ok, "restore failed: {stderr}");
    assert!(stdout.starts_with("restored "), "{stdout}");
    assert_restored(&mut target, &source).await;
}

#[tokio::test]
async fn the_archive_holds_the_table_dumps_and_the_files_but_not_the_live_database_files() {
    let source = populated(&[]).await;
    let dir = TempDir::new();
    let archive = backup_file(&dir);
    take_backup(&source.app, &archive);
    let listing = std::process::Command::new("tar").arg("-tzf").arg(&archive).output().expect("run tar");
    assert!(listing.status.success(), "{}", String::from_utf8_lossy(&listing.stderr));
    let names: Vec<String> = String::from_utf8_lossy(&listing.stdout).lines().map(str::to_owned).collect();
    for expected in ["backup.json", "db/users.jsonl", "db/projects.jsonl", &format!("data/{FILE_PATH}")] {
        assert!(names.iter().any(|name| name == expected), "{expected} missing from {names:?}");
    }
    assert!(
        !names.iter().any(|name| name.starts_with("data/dockyard.db")),
        "the live database is in the archive: {names:?}"
    );
    assert!(!names.iter().any(|name| name.contains("..") || name.starts_with('/')), "{names:?}");
    // No temporary files are left beside the archive.
    let leftovers: Vec<_> = std::fs::read_dir(archive.parent().expect("a parent"))
        .expect("list the backup dir")
        .map(|entry| entry.expect("entry").file_name())
        .collect();
    assert_eq!(leftovers, vec![std::ffi::OsString::from("dockyard-backup.tar.gz")]);
}

#[tokio::test]
async fn a_backup_taken_during_writes_restores_consistently() {
    let source = populated(&[("DOCKYARD_RATE_LIMIT__ENABLED", "false")]).await;
    let admin = source.app.login(ADMIN_EMAIL, PASSWORD).await;
    let org = source.orgs[0].0.clone();
    let dir = TempDir::new();
    let archive = backup_file(&dir);

    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    let writer = tokio::spawn({
        let admin = admin.clone();
        let org = org.clone();
        async move {
            let mut created = 0;
            while !*stop_rx.borrow_and_update() {
                let reply = admin
                    .post(&format!("/api/v1/orgs/{org}/projects"), &json!({ "name": format!("Busy {created}") }))
                    .await;
                assert_eq!(reply.status, 201, "{}", reply.body);
                created += 1;
            }
            created
        }
    });
    let mut backup =
        tokio::process::Command::from(source.app.cli(&["backup", "--output", &archive.display().to_string()]));
    let output = backup.output().await.expect("run the backup");
    stop_tx.send(true).expect("stop the writer");
    let created = writer.await.expect("the writer");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(created > 0, "no writes happened during the backup");

    let mut target = empty_stopped_instance(&[]).await;
    let (ok, _, stderr) = cli(&target, &["restore", "--input", &archive.display().to_string()]);
    assert!(ok, "restore failed: {stderr}");
    target.start().await;
    let restored_admin = target.login(ADMIN_EMAIL, PASSWORD).await;
    let restored = projects_of(&restored_admin, &org).await;
    let now = projects_of(&admin, &org).await;
    assert!(restored.len() >= source.orgs[0].1.len(), "{restored:?}");
    assert!(restored.iter().all(|project| now.contains(project)), "the backup holds projects that never existed");
    // A snapshot is a prefix in creation order: no gaps.
    let busy: Vec<&String> = restored.iter().map(|(_, name)| name).filter(|name| name.starts_with("Busy ")).collect();
    for n in 0..busy.len() {
        assert!(busy.iter().any(|name| **name == format!("Busy {n}")), "Busy {n} is missing from {busy:?}");
    }
}

#[tokio::test]
async fn restore_into_a_non_empty_database_needs_force_and_changes_nothing_without_it() {
    let source = populated(&[]).await;
    let dir = TempDir::new();
    let archive = backup_file(&dir);
    take_backup(&source.app, &archive);
    let archive = archive.display().to_string();

    // Another instance with data of its own.
    let mut target = spawn_app().await;
    let (admin, local_org) = target.setup_admin().await;
    let local_project = project(&admin, &local_org, "Local Only").await;
    let status = target.terminate().await;
    assert!(status.success());
    let users_before = users_json(&target);

    let refused = cli(&target, &["restore", "--input", &archive]);
    assert_clean_failure(&refused);
    assert!(refused.2.contains("not empty") && refused.2.contains("--force"), "{}", refused.2);
    assert_eq!(users_json(&target), users_before, "a refused restore changed the users");
    assert!(!target.data_dir().join(FILE_PATH).exists(), "a refused restore copied files");
    target.start().await;
    let admin = target.login(ADMIN_EMAIL, PASSWORD).await;
    assert_eq!(projects_of(&admin, &local_org).await, vec![(local_project.clone(), "Local Only".to_owned())]);
    target.terminate().await;

    let (ok, _, stderr) = cli(&target, &["restore", "--force", "--input", &archive]);
    assert!(ok, "restore --force failed: {stderr}");
    assert_restored(&mut target, &source).await;
    let admin = target.login(ADMIN_EMAIL, PASSWORD).await;
    assert_eq!(
        admin.get(&format!("/api/v1/projects/{local_project}")).await.status,
        404,
        "the old contents were replaced"
    );
}

#[tokio::test]
async fn a_truncated_or_corrupt_archive_fails_cleanly_and_leaves_the_database_unchanged() {
    let source = populated(&[]).await;
    let dir = TempDir::new();
    let archive = backup_file(&dir);
    take_backup(&source.app, &archive);
    let bytes = std::fs::read(&archive).expect("read the archive");

    let mut target = spawn_app().await;
    let (admin, org) = target.setup_admin().await;
    let local_project = project(&admin, &org, "Local Only").await;
    target.terminate().await;
    let users_before = users_json(&target);

    let truncated = dir.0.join("truncated.tar.gz");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).expect("write");
    let garbage = dir.0.join("garbage.tar.gz");
    std::fs::write(&garbage, b"this is not a gzip file at all").expect("write");
    let empty = dir.0.join("empty.tar.gz");
    std::fs::write(&empty, b"").expect("write");
    let missing = dir.0.join("missing.tar.gz");
    let not_a_backup = dir.0.join("not-a-backup.tar.gz");
    let status = std::process::Command::new("tar")
        .arg("-czf")
        .arg(&not_a_backup)
        .arg("-C")
        .arg(&dir.0)
        .arg("garbage.tar.gz")
        .status()
        .expect("tar");
    assert!(status.success());

    for bad in [&truncated, &garbage, &empty, &missing, &not_a_backup] {
        for force in [false, true] {
            let path = bad.display().to_string();
            let mut args = vec!["restore", "--input", &path];
            if force {
                args.push("--force");
            }
            let result = cli(&target, &args);
            assert_clean_failure(&result);
            assert_eq!(users_json(&target), users_before, "{} (force: {force}) changed the database", bad.display());
        }
    }
    assert!(!target.data_dir().join(FILE_PATH).exists(), "a failed restore copied files");
    let leftovers: Vec<_> = std::fs::read_dir(target.data_dir().parent().expect("a parent"))
        .expect("list")
        .map(|entry| entry.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with(".dockyard-restore"))
        .collect();
    assert!(leftovers.is_empty(), "staging dirs left behind: {leftovers:?}");

    target.start().await;
    let admin = target.login(ADMIN_EMAIL, PASSWORD).await;
    assert_eq!(projects_of(&admin, &org).await, vec![(local_project, "Local Only".to_owned())]);
}

#[tokio::test]
async fn an_archive_whose_gzip_checksum_does_not_match_is_refused() {
    let source = populated(&[]).await;
    let dir = TempDir::new();
    let archive = backup_file(&dir);
    take_backup(&source.app, &archive);
    let bytes = std::fs::read(&archive).expect("read the archive");
    // The gzip trailer is CRC-32 then ISIZE, 8 bytes at the very end.
    let mut bad_crc = bytes.clone();
    let crc_at = bad_crc.len() - 8;
    bad_crc[crc_at] ^= 0xff;
    let bad_crc_path = dir.0.join("bad-crc.tar.gz");
    std::fs::write(&bad_crc_path, &bad_crc).expect("write");
    let no_trailer_path = dir.0.join("no-trailer.tar.gz");
    std::fs::write(&no_trailer_path, &bytes[..bytes.len() - 8]).expect("write");
    for damaged in [&bad_crc_path, &no_trailer_path] {
        let check = std::process::Command::new("gzip").arg("-t").arg(damaged).output().expect("gzip -t");
        assert!(!check.status.success(), "gzip accepts {}", damaged.display());
    }

    let target = empty_stopped_instance(&[]).await;
    for damaged in [&bad_crc_path, &no_trailer_path] {
        let result = cli(&target, &["restore", "--input", &damaged.display().to_string()]);
        assert_clean_failure(&result);
        assert_eq!(users_json(&target), json!([]), "{} was restored", damaged.display());
        assert!(!target.data_dir().join(FILE_PATH).exists(), "{} restored files", damaged.display());
    }
}

/// Unpacks `archive` into a new dir, lets `edit` change it, and packs it again.
fn repack(archive: &Path, dir: &TempDir, name: &str, edit: impl FnOnce(&Path)) -> PathBuf {
    let unpacked = dir.0.join(format!("{name}-unpacked"));
    std::fs::create_dir_all(&unpacked).expect("create");
    let status =
        std::process::Command::new("tar").arg("-xzf").arg(archive).arg("-C").arg(&unpacked).status().expect("tar");
    assert!(status.success());
    edit(&unpacked);
    let output = dir.0.join(format!("{name}.tar.gz"));
    let status = std::process::Command::new("tar")
        .arg("-czf")
        .arg(&output)
        .arg("-C")
        .arg(&unpacked)
        .args(["backup.json", "db", "data"])
        .status()
        .expect("tar");
    assert!(status.success());
    output
}

#[tokio::test]
async fn a_bad_row_late_in_the_dump_rolls_the_whole_restore_back() {
    let source = populated(&[]).await;
    let dir = TempDir::new();
    let archive = backup_file(&dir);
    take_backup(&source.app, &archive);
    let bad_row = repack(&archive, &dir, "bad-row", |root| {
        let projects = root.join("db/projects.jsonl");
        let mut text = std::fs::read_to_string(&projects).expect("read");
        text.push_str("{\"id\": \"x\", \"no_such_column\": 1}\n");
        std::fs::write(&projects, text).expect("write");
    });
    let bad_json = repack(&archive, &dir, "bad-json", |root| {
        let tokens = root.join("db/api_tokens.jsonl");
        std::fs::write(&tokens, "{ not json\n").expect("write");
    });

    let mut target = spawn_app().await;
    let (admin, org) = target.setup_admin().await;
    let local_project = project(&admin, &org, "Local Only").await;
    target.terminate().await;
    let users_before = users_json(&target);

    for bad in [&bad_row, &bad_json] {
        let result = cli(&target, &["restore", "--force", "--input", &bad.display().to_string()]);
        assert_clean_failure(&result);
        assert_eq!(users_json(&target), users_before, "{}: the users were replaced", bad.display());
    }
    assert!(!target.data_dir().join(FILE_PATH).exists(), "files were copied although the database part failed");
    target.start().await;
    let admin = target.login(ADMIN_EMAIL, PASSWORD).await;
    assert_eq!(projects_of(&admin, &org).await, vec![(local_project, "Local Only".to_owned())]);
}

#[tokio::test]
async fn an_archive_with_entries_outside_its_tree_is_refused() {
    let dir = TempDir::new();
    let evil_root = dir.0.join("evil");
    std::fs::create_dir_all(evil_root.join("data")).expect("create");
    std::fs::write(evil_root.join("data/payload"), b"pwned").expect("write");
    let archive = dir.0.join("evil.tar.gz");
    // GNU tar keeps the `..` with -P; the transform makes the name escape the data dir.
    let status = std::process::Command::new("tar")
        .arg("-czPf")
        .arg(&archive)
        .arg("-C")
        .arg(&evil_root)
        .args(["--transform", "s,^data/payload,data/../../escaped-payload,", "data/payload"])
        .status()
        .expect("tar");
    assert!(status.success());

    let target = empty_stopped_instance(&[]).await;
    let users_before = users_json(&target);
    let result = cli(&target, &["restore", "--input", &archive.display().to_string()]);
    assert_clean_failure(&result);
    assert!(result.2.contains("unexpected entry") || result.2.contains("outside"), "{}", result.2);
    let parent = target.data_dir().parent().expect("a parent").to_path_buf();
    for candidate in [parent.join("escaped-payload"), parent.parent().expect("a grandparent").join("escaped-payload")] {
        assert!(!candidate.exists(), "the archive wrote {}", candidate.display());
    }
    assert_eq!(users_json(&target), users_before);
}

fn sqlite_url(dir: &TempDir) -> String {
    format!("sqlite://{}?mode=rwc", dir.0.join("dockyard.db").display())
}

#[tokio::test]
async fn a_sqlite_backup_restores_into_postgresql() {
    if matches!(backend(), Backend::Sqlite) {
        eprintln!("skipped: needs DOCKYARD_TEST_DATABASE_URL (PostgreSQL)");
        return;
    }
    let sqlite_dir = TempDir::new();
    let url = sqlite_url(&sqlite_dir);
    let source = populated(&[("DOCKYARD_DATABASE_URL", &url)]).await;
    assert_eq!(source.app.anonymous().get("/readyz").await.json["database"], "sqlite");
    let dir = TempDir::new();
    let archive = backup_file(&dir);
    take_backup(&source.app, &archive);

    let mut target = empty_stopped_instance(&[]).await;
    let (ok, _, stderr) = cli(&target, &["restore", "--input", &archive.display().to_string()]);
    assert!(ok, "restore into PostgreSQL failed: {stderr}");
    assert_restored(&mut target, &source).await;
    assert_eq!(target.anonymous().get("/readyz").await.json["database"], "postgres");
}

#[tokio::test]
async fn a_postgresql_backup_restores_into_sqlite() {
    if matches!(backend(), Backend::Sqlite) {
        eprintln!("skipped: needs DOCKYARD_TEST_DATABASE_URL (PostgreSQL)");
        return;
    }
    let source = populated(&[]).await;
    assert_eq!(source.app.anonymous().get("/readyz").await.json["database"], "postgres");
    let dir = TempDir::new();
    let archive = backup_file(&dir);
    take_backup(&source.app, &archive);

    let sqlite_dir = TempDir::new();
    let url = sqlite_url(&sqlite_dir);
    let mut target = empty_stopped_instance(&[("DOCKYARD_DATABASE_URL", &url)]).await;
    let (ok, _, stderr) = cli(&target, &["restore", "--input", &archive.display().to_string()]);
    assert!(ok, "restore into SQLite failed: {stderr}");
    assert_restored(&mut target, &source).await;
    assert_eq!(target.anonymous().get("/readyz").await.json["database"], "sqlite");
}
