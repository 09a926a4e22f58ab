//! The git API of a project's workspace, against the real binary. Every answer
//! is cross-checked with the `git` CLI run in `<data dir>/workspaces/<project id>`;
//! remotes are bare repositories served over HTTPS by the test git server.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use dockyard_git::testserver::{GitHttpServer, ServerOptions};
use serde_json::{Value, json};

use crate::support::{
    ADMIN_EMAIL, Client, Reply, TempDir, TestApp, add_member, all_files, git, git_command, noise, org_audit,
    outbound_config_file, project, put_file, spawn_app_with, workspace_dir,
};

struct GitProject {
    app: TestApp,
    admin: Client,
    org: String,
    project: String,
    dir: PathBuf,
}

impl GitProject {
    async fn new(env: &[(&str, &str)]) -> Self {
        let app = spawn_app_with(env).await;
        let (admin, org) = app.setup_admin().await;
        let project = project(&admin, &org, "Repo").await;
        let dir = workspace_dir(&app, &project);
        Self { app, admin, org, project, dir }
    }

    fn path(&self, rest: &str) -> String {
        format!("/api/v1/projects/{}/git/{rest}", self.project)
    }

    async fn get(&self, client: &Client, rest: &str) -> Reply {
        client.get(&self.path(rest)).await
    }

    async fn post(&self, client: &Client, rest: &str, body: Value) -> Reply {
        client.post(&self.path(rest), &body).await
    }

    async fn put(&self, file: &str, body: &str) {
        let reply = put_file(&self.admin, &self.project, file, body.as_bytes(), None).await;
        assert!(matches!(reply.status, 200 | 201), "PUT {file}: {}", reply.body);
    }

    async fn init(&self) {
        let reply = self.post(&self.admin, "init", json!({})).await;
        assert_eq!(reply.status, 201, "init: {}", reply.body);
    }

    /// Commits as the admin; answers the new commit id.
    async fn commit(&self, message: &str, paths: &[&str]) -> String {
        let reply = self.post(&self.admin, "commit", json!({ "message": message, "paths": paths })).await;
        assert_eq!(reply.status, 201, "commit {message:?}: {}", reply.body);
        reply.json["commit"].as_str().expect("commit id").to_owned()
    }

    /// Stages everything (`paths: []`) and commits it as the admin.
    async fn commit_all(&self, message: &str) -> String {
        let staged = self.post(&self.admin, "stage", json!({ "paths": [] })).await;
        assert_eq!(staged.status, 204, "stage everything: {}", staged.body);
        let reply = self.post(&self.admin, "commit", json!({ "message": message })).await;
        assert_eq!(reply.status, 201, "commit {message:?}: {}", reply.body);
        reply.json["commit"].as_str().expect("commit id").to_owned()
    }

    fn git(&self, args: &[&str]) -> String {
        git(&self.dir, args)
    }

    fn read(&self, file: &str) -> String {
        std::fs::read_to_string(self.dir.join(file)).unwrap_or_else(|error| panic!("read {file}: {error}"))
    }
}

fn assert_problem(reply: &Reply, status: u16, code: &str) {
    assert_eq!((reply.status, reply.code()), (status, code), "{}", reply.body);
}

/// `path → (status, staged, unstaged)` from a status answer.
fn status_entries(reply: &Reply) -> BTreeMap<String, (String, Option<String>, Option<String>)> {
    assert_eq!(reply.status, 200, "status: {}", reply.body);
    reply.json["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|entry| {
            let text = |key: &str| entry[key].as_str().map(str::to_owned);
            (
                entry["path"].as_str().expect("path").to_owned(),
                (text("status").expect("status"), text("staged"), text("unstaged")),
            )
        })
        .collect()
}

/// `path → XY` from `git status --porcelain -uall`.
fn porcelain(dir: &Path) -> BTreeMap<String, String> {
    git(dir, &["status", "--porcelain=v1", "--untracked-files=all"])
        .lines()
        .map(|line| (line[3..].to_owned(), line[..2].to_owned()))
        .collect()
}

fn lines(text: &str) -> Vec<String> {
    text.lines().map(str::to_owned).filter(|line| !line.is_empty()).collect()
}

fn owned(value: &str) -> Option<String> {
    Some(value.to_owned())
}

#[tokio::test]
async fn init_status_stage_unstage_and_commit_agree_with_the_git_cli() {
    // Arrange
    let repo = GitProject::new(&[]).await;
    let not_yet = repo.get(&repo.admin, "status").await;
    assert_eq!((not_yet.status, &not_yet.json["repository"]), (200, &json!(false)), "{}", not_yet.body);
    assert_problem(&repo.post(&repo.admin, "stage", json!({ "paths": [] })).await, 404, "git_not_a_repository");

    // Act: init
    repo.init().await;
    assert_problem(&repo.post(&repo.admin, "init", json!({})).await, 409, "git_already_a_repository");

    // Assert: an empty repository on main.
    assert_eq!(repo.git(&["symbolic-ref", "--short", "HEAD"]), "main");
    let status = repo.get(&repo.admin, "status").await;
    assert_eq!(status.json["repository"], true);
    assert_eq!(status.json["branch"], "main");
    assert_eq!(status.json["head"], Value::Null);
    assert_eq!(status_entries(&status), BTreeMap::new());

    // Untracked files.
    repo.put("a.txt", "a\n").await;
    repo.put("src/b.rs", "fn b() {}\n").await;
    repo.put("src/c/d.txt", "d\n").await;
    let untracked = status_entries(&repo.get(&repo.admin, "status").await);
    let cli = porcelain(&repo.dir);
    assert_eq!(untracked.keys().collect::<Vec<_>>(), cli.keys().collect::<Vec<_>>(), "the same paths as git");
    assert!(cli.values().all(|xy| xy == "??"), "{cli:?}");
    assert!(untracked.values().all(|(status, staged, _)| status == "untracked" && staged.is_none()), "{untracked:?}");

    // Stage a file and a folder.
    assert_eq!(repo.post(&repo.admin, "stage", json!({ "paths": ["a.txt", "src/c"] })).await.status, 204);
    assert_eq!(lines(&repo.git(&["diff", "--cached", "--name-only"])), ["a.txt", "src/c/d.txt"]);
    let staged = status_entries(&repo.get(&repo.admin, "status").await);
    assert_eq!(staged["a.txt"].0, "added");
    assert_eq!(staged["a.txt"].1, owned("added"));
    assert_eq!(staged["src/c/d.txt"].1, owned("added"));
    assert_eq!(staged["src/b.rs"].0, "untracked");
    assert_eq!(porcelain(&repo.dir)["a.txt"], "A ");

    // Unstage one.
    assert_eq!(repo.post(&repo.admin, "unstage", json!({ "paths": ["a.txt"] })).await.status, 204);
    assert_eq!(lines(&repo.git(&["diff", "--cached", "--name-only"])), ["src/c/d.txt"]);
    let unstaged = status_entries(&repo.get(&repo.admin, "status").await);
    assert_eq!(unstaged["a.txt"].0, "untracked");
    assert_eq!(unstaged["a.txt"].1, None);
    assert_eq!(porcelain(&repo.dir)["a.txt"], "??");

    // Act: commit a.txt plus what is staged.
    let first = repo.commit("First commit", &["a.txt"]).await;

    // Assert
    assert_eq!(first, repo.git(&["rev-parse", "HEAD"]));
    assert_eq!(repo.git(&["log", "-1", "--format=%an%n%ae%n%s"]), format!("Admin\n{ADMIN_EMAIL}\nFirst commit"));
    assert_eq!(lines(&repo.git(&["show", "--name-only", "--format=", "HEAD"])), ["a.txt", "src/c/d.txt"]);
    let after = repo.get(&repo.admin, "status").await;
    assert_eq!(after.json["head"], first.as_str());
    assert_eq!(status_entries(&after).keys().collect::<Vec<_>>(), ["src/b.rs"]);
    assert_eq!(porcelain(&repo.dir), BTreeMap::from([("src/b.rs".to_owned(), "??".to_owned())]));

    // A developer's commit is authored by the developer.
    let (developer, _) = repo.app.user(&repo.admin, "dev@example.com").await;
    add_member(&repo.admin, &repo.org, "dev@example.com", "developer").await;
    let by_developer = repo.post(&developer, "commit", json!({ "message": "Second", "paths": ["src/b.rs"] })).await;
    assert_eq!(by_developer.status, 201, "{}", by_developer.body);
    assert_eq!(by_developer.json["commit"], repo.git(&["rev-parse", "HEAD"]).as_str());
    assert_eq!(repo.git(&["log", "-1", "--format=%an%n%ae"]), "dev@example.com\ndev@example.com");
    assert_eq!(repo.git(&["rev-parse", "HEAD~1"]), first);

    // Nothing staged: nothing to commit.
    repo.put("a.txt", "a changed\n").await;
    let modified = status_entries(&repo.get(&repo.admin, "status").await);
    assert_eq!(modified["a.txt"], ("modified".to_owned(), None, owned("modified")));
    assert_eq!(porcelain(&repo.dir)["a.txt"], " M");
    let head = repo.git(&["rev-parse", "HEAD"]);
    assert_problem(
        &repo.post(&repo.admin, "commit", json!({ "message": "Nothing" })).await,
        409,
        "git_nothing_to_commit",
    );
    assert_eq!(repo.git(&["rev-parse", "HEAD"]), head);

    // An empty message is refused and the index is kept.
    assert_eq!(repo.post(&repo.admin, "stage", json!({ "paths": ["a.txt"] })).await.status, 204);
    assert_problem(&repo.post(&repo.admin, "commit", json!({ "message": "" })).await, 422, "git_empty_message");
    assert_eq!(repo.git(&["rev-parse", "HEAD"]), head);
    assert_eq!(lines(&repo.git(&["diff", "--cached", "--name-only"])), ["a.txt"]);

    // Deletions are reported and staged.
    assert_eq!(repo.admin.delete(&format!("/api/v1/projects/{}/files/src/b.rs", repo.project)).await.status, 204);
    let deleted = status_entries(&repo.get(&repo.admin, "status").await);
    assert_eq!(deleted["src/b.rs"], ("deleted".to_owned(), None, owned("deleted")));
    assert_eq!(porcelain(&repo.dir)["src/b.rs"], " D");
    assert_eq!(repo.post(&repo.admin, "stage", json!({ "paths": ["src/b.rs"] })).await.status, 204);
    assert_eq!(porcelain(&repo.dir)["src/b.rs"], "D ");
    assert_eq!(status_entries(&repo.get(&repo.admin, "status").await)["src/b.rs"].1, owned("deleted"));
}

#[tokio::test]
async fn a_dot_path_stages_and_commits_everything_as_documented() {
    // Arrange
    let repo = GitProject::new(&[]).await;
    repo.init().await;
    repo.put("a.txt", "a\n").await;
    repo.put("src/b.rs", "b\n").await;

    // Act
    let staged = repo.post(&repo.admin, "stage", json!({ "paths": ["."] })).await;
    let committed = repo.post(&repo.admin, "commit", json!({ "message": "All", "paths": ["."] })).await;

    // Assert
    assert_eq!(staged.status, 204, "stage [\".\"]: {}", staged.body);
    assert_eq!(committed.status, 201, "commit with paths [\".\"]: {}", committed.body);
    assert_eq!(lines(&repo.git(&["show", "--name-only", "--format=", "HEAD"])), ["a.txt", "src/b.rs"]);
}

/// The `+`/`-` lines of a unified diff, without the file headers.
fn changed_lines(text: &str) -> Vec<String> {
    text.lines()
        .filter(|line| {
            (line.starts_with('+') && !line.starts_with("+++")) || (line.starts_with('-') && !line.starts_with("---"))
        })
        .map(str::to_owned)
        .collect()
}

/// The `@@ -a,b +c,d @@` ranges of a unified diff (a missing count is 1).
fn hunk_ranges(text: &str) -> Vec<(u64, u64, u64, u64)> {
    let range = |part: &str| {
        let (start, count) = part.split_once(',').unwrap_or((part, "1"));
        (start.parse::<u64>().expect("start"), count.parse::<u64>().expect("count"))
    };
    text.lines()
        .filter(|line| line.starts_with("@@ "))
        .map(|line| {
            let mut parts = line.split(' ');
            let old = range(parts.nth(1).expect("old range").trim_start_matches('-'));
            let new = range(parts.next().expect("new range").trim_start_matches('+'));
            (old.0, old.1, new.0, new.1)
        })
        .collect()
}

/// Checks one file of a diff answer against `git diff [--cached] -- <path>`.
fn assert_file_matches_git(repo: &GitProject, file: &Value, staged: bool) {
    let path = file["path"].as_str().expect("path");
    let mut args = vec!["diff"];
    if staged {
        args.push("--cached");
    }
    let numstat_args: Vec<&str> = args.iter().copied().chain(["--numstat", "--", path]).collect();
    let numstat = repo.git(&numstat_args);
    let counts: Vec<&str> = numstat.split('\t').collect();
    if counts[0] == "-" {
        assert_eq!(file["binary"], true, "{path}: {file}");
        return;
    }
    assert_eq!(file["binary"], false, "{path}");
    assert_eq!(file["additions"].as_u64(), counts[0].parse().ok(), "{path}: additions vs {numstat}");
    assert_eq!(file["deletions"].as_u64(), counts[1].parse().ok(), "{path}: deletions vs {numstat}");
    let text_args: Vec<&str> = args.iter().copied().chain(["--", path]).collect();
    let cli = repo.git(&text_args);
    let hunks = file["hunks"].as_array().expect("hunks");
    let ours: Vec<String> = hunks
        .iter()
        .flat_map(|hunk| hunk["lines"].as_array().expect("lines").iter())
        .filter_map(|line| {
            let content = line["content"].as_str().expect("content").trim_end_matches('\n');
            match line["kind"].as_str().expect("kind") {
                "add" => Some(format!("+{content}")),
                "delete" => Some(format!("-{content}")),
                "context" => None,
                other => panic!("unknown line kind {other}"),
            }
        })
        .collect();
    assert_eq!(ours, changed_lines(&cli), "{path}: the +/- lines of git diff");
    let ranges: Vec<(u64, u64, u64, u64)> = hunks
        .iter()
        .map(|hunk| {
            let number = |key: &str| hunk[key].as_u64().expect("hunk number");
            (number("old_start"), number("old_lines"), number("new_start"), number("new_lines"))
        })
        .collect();
    assert_eq!(ranges, hunk_ranges(&cli), "{path}: the hunk ranges of git diff");
    // Line numbers point at the lines they show.
    let old_text = git_command(&repo.dir, &["show", &format!("HEAD:{path}")]).stdout;
    let old_text = String::from_utf8_lossy(&old_text).into_owned();
    let new_text = if staged {
        String::from_utf8_lossy(&git_command(&repo.dir, &["show", &format!(":{path}")]).stdout).into_owned()
    } else {
        repo.read(path)
    };
    let old_lines: Vec<&str> = old_text.lines().collect();
    let new_lines: Vec<&str> = new_text.lines().collect();
    for line in hunks.iter().flat_map(|hunk| hunk["lines"].as_array().expect("lines").iter()) {
        let content = line["content"].as_str().expect("content").trim_end_matches('\n');
        if let Some(number) = line["old_line"].as_u64() {
            assert_eq!(old_lines[number as usize - 1], content, "{path}: old line {number}");
        }
        if let Some(number) = line["new_line"].as_u64() {
            assert_eq!(new_lines[number as usize - 1], content, "{path}: new line {number}");
        }
        match line["kind"].as_str() {
            Some("add") => assert_eq!(line["old_line"], Value::Null),
            Some("delete") => assert_eq!(line["new_line"], Value::Null),
            _ => {}
        }
    }
}

fn diff_paths(reply: &Reply) -> Vec<String> {
    assert_eq!(reply.status, 200, "diff: {}", reply.body);
    reply.json["files"]
        .as_array()
        .expect("files")
        .iter()
        .map(|file| file["path"].as_str().expect("path").to_owned())
        .collect()
}

#[tokio::test]
async fn diffs_agree_with_git_diff_staged_and_unstaged_and_for_one_path() {
    // Arrange
    let repo = GitProject::new(&[]).await;
    repo.init().await;
    let poem: Vec<String> = (1..=20).map(|number| format!("line {number}")).collect();
    repo.put("poem.txt", &(poem.join("\n") + "\n")).await;
    repo.put("other.txt", "a\nb\nc\n").await;
    let logo: Vec<u8> = (0..=255u8).collect();
    assert_eq!(put_file(&repo.admin, &repo.project, "logo.bin", &logo, None).await.status, 201);
    repo.commit_all("Base").await;
    let mut changed = poem.clone();
    changed[1] = "line two".to_owned();
    changed[14] = "line fifteen".to_owned();
    changed.remove(16);
    changed.push("line 21".to_owned());
    repo.put("poem.txt", &(changed.join("\n") + "\n")).await;
    repo.put("other.txt", "a\nB\nc\n").await;
    let mut new_logo = logo.clone();
    new_logo[10] = 0;
    assert_eq!(put_file(&repo.admin, &repo.project, "logo.bin", &new_logo, None).await.status, 200);
    repo.put("untracked.txt", "new line one\nnew line two\n").await;

    // Act
    let unstaged = repo.get(&repo.admin, "diff").await;
    let one = repo.get(&repo.admin, "diff?path=poem.txt").await;

    // Assert: the whole unstaged diff is `git diff` plus the untracked files as additions.
    let mut expected_paths = lines(&repo.git(&["diff", "--name-only"]));
    expected_paths.extend(lines(&repo.git(&["ls-files", "--others", "--exclude-standard"])));
    expected_paths.sort();
    assert_eq!(diff_paths(&unstaged), expected_paths);
    assert_eq!(diff_paths(&unstaged), ["logo.bin", "other.txt", "poem.txt", "untracked.txt"]);
    assert_eq!(unstaged.json["truncated"], false);
    let untracked_patch = git_command(&repo.dir, &["diff", "--no-index", "--", "/dev/null", "untracked.txt"]).stdout;
    let mut expected_lines = changed_lines(&repo.git(&["diff"]));
    expected_lines.extend(changed_lines(&String::from_utf8_lossy(&untracked_patch)));
    assert_eq!(
        changed_lines(unstaged.json["text"].as_str().expect("text")),
        expected_lines,
        "the unified text's +/- lines"
    );
    let files = unstaged.json["files"].as_array().expect("files");
    for file in files.iter().filter(|file| file["path"] != "untracked.txt") {
        assert_eq!(file["change"], "modified", "{file}");
        assert_file_matches_git(&repo, file, false);
    }
    let added = files.iter().find(|file| file["path"] == "untracked.txt").expect("the untracked file");
    assert_eq!((&added["change"], &added["additions"], &added["deletions"]), (&json!("added"), &json!(2), &json!(0)));
    let added_lines: Vec<(Value, Value, Value)> = added["hunks"][0]["lines"]
        .as_array()
        .expect("lines")
        .iter()
        .map(|line| (line["kind"].clone(), line["new_line"].clone(), line["content"].clone()))
        .collect();
    assert_eq!(
        added_lines,
        [(json!("add"), json!(1), json!("new line one\n")), (json!("add"), json!(2), json!("new line two\n"))]
    );
    let poem_diff = files.iter().find(|file| file["path"] == "poem.txt").expect("poem");
    assert_eq!(poem_diff["hunks"].as_array().map(Vec::len), Some(2), "two separate hunks: {poem_diff}");

    // Assert: ?path= limits the diff to one file.
    assert_eq!(diff_paths(&one), ["poem.txt"]);
    assert_eq!(
        changed_lines(one.json["text"].as_str().expect("text")),
        changed_lines(&repo.git(&["diff", "--", "poem.txt"]))
    );

    // Act: stage one file.
    assert_eq!(repo.post(&repo.admin, "stage", json!({ "paths": ["other.txt"] })).await.status, 204);
    let staged = repo.get(&repo.admin, "diff?staged=true").await;
    let rest = repo.get(&repo.admin, "diff?staged=false").await;

    // Assert
    assert_eq!(diff_paths(&staged), ["other.txt"]);
    assert_eq!(diff_paths(&staged), lines(&repo.git(&["diff", "--cached", "--name-only"])));
    assert_file_matches_git(&repo, &staged.json["files"][0], true);
    assert_eq!(
        changed_lines(staged.json["text"].as_str().expect("text")),
        changed_lines(&repo.git(&["diff", "--cached"]))
    );
    assert_eq!(diff_paths(&rest), ["logo.bin", "poem.txt", "untracked.txt"]);
    let bad = repo.get(&repo.admin, "diff?path=..%2Fescape").await;
    assert_eq!((bad.status, bad.code()), (400, "path_traversal"), "{}", bad.body);
}

#[tokio::test]
async fn the_log_pages_through_history_like_git_rev_list() {
    // Arrange: 25 commits; the 13th touches only x.txt.
    let repo = GitProject::new(&[]).await;
    repo.init().await;
    for index in 0..25 {
        let file = if index == 12 { "x.txt" } else { "n.txt" };
        repo.put(file, &format!("{index}\n")).await;
        repo.commit(&format!("Commit {index}\n\nBody of commit {index}."), &[file]).await;
    }
    let expected = lines(&repo.git(&["rev-list", "HEAD"]));
    assert_eq!(expected.len(), 25);

    // Act
    let mut pages = Vec::new();
    let mut commits: Vec<Value> = Vec::new();
    let mut query = "log?limit=10".to_owned();
    loop {
        let page = repo.get(&repo.admin, &query).await;
        assert_eq!(page.status, 200, "{}", page.body);
        let items = page.json["commits"].as_array().expect("commits").clone();
        pages.push(items.len());
        commits.extend(items);
        match page.json["next"].as_str() {
            Some(next) => query = format!("log?limit=10&after={next}"),
            None => break,
        }
        assert!(pages.len() < 10, "the log ends");
    }

    // Assert
    assert_eq!(pages, [10, 10, 5]);
    let ids: Vec<String> = commits.iter().map(|commit| commit["id"].as_str().expect("id").to_owned()).collect();
    assert_eq!(ids, expected);
    for (position, commit) in commits.iter().enumerate() {
        let index = 24 - position;
        assert_eq!(commit["summary"], format!("Commit {index}"));
        assert_eq!(
            commit["message"].as_str().map(str::trim_end),
            Some(format!("Commit {index}\n\nBody of commit {index}.").as_str())
        );
        assert_eq!(
            (commit["author_name"].as_str(), commit["author_email"].as_str()),
            (Some("Admin"), Some(ADMIN_EMAIL))
        );
        let id = commit["id"].as_str().expect("id");
        assert!(id.starts_with(commit["short_id"].as_str().expect("short id")), "{commit}");
        let parents: Vec<String> = commit["parents"]
            .as_array()
            .expect("parents")
            .iter()
            .map(|p| p.as_str().expect("parent").to_owned())
            .collect();
        assert_eq!(parents, lines(&repo.git(&["log", "-1", "--format=%P", id]).replace(' ', "\n")), "{commit}");
        let seconds: i64 = repo.git(&["log", "-1", "--format=%at", id]).parse().expect("time");
        assert!(commit["time"].as_str().is_some_and(|time| !time.is_empty()), "{commit}");
        assert!(seconds > 1_600_000_000);
    }
    let touching = repo.get(&repo.admin, "log?path=x.txt").await;
    let touching: Vec<&str> =
        touching.json["commits"].as_array().expect("commits").iter().map(|c| c["id"].as_str().expect("id")).collect();
    assert_eq!(touching, lines(&repo.git(&["rev-list", "HEAD", "--", "x.txt"])));
    assert_eq!(touching.len(), 1);
    let from_rev = repo.get(&repo.admin, &format!("log?rev={}&limit=200", expected[20])).await;
    let from_rev: Vec<&str> =
        from_rev.json["commits"].as_array().expect("commits").iter().map(|c| c["id"].as_str().expect("id")).collect();
    assert_eq!(from_rev, lines(&repo.git(&["rev-list", &expected[20]])));
    assert_problem(&repo.get(&repo.admin, "log?after=not-a-commit").await, 422, "git_invalid_cursor");
    assert_problem(&repo.get(&repo.admin, "log?rev=no-such-branch").await, 404, "git_revision_not_found");
}

#[tokio::test]
async fn branches_create_switch_and_delete_like_git() {
    // Arrange
    let repo = GitProject::new(&[]).await;
    repo.init().await;
    repo.put("f.txt", "one\n").await;
    let base = repo.commit("Base", &["f.txt"]).await;

    // Act: create, list, switch.
    assert_eq!(repo.post(&repo.admin, "branches", json!({ "name": "feature" })).await.status, 201);
    assert_problem(&repo.post(&repo.admin, "branches", json!({ "name": "feature" })).await, 409, "git_branch_exists");
    assert_problem(
        &repo.post(&repo.admin, "branches", json!({ "name": "bad..name" })).await,
        422,
        "git_invalid_branch_name",
    );
    let listed = repo.get(&repo.admin, "branches").await;
    assert_eq!(listed.status, 200, "{}", listed.body);
    let branches = listed.json["branches"].as_array().expect("branches");
    let local: BTreeSet<&str> = branches
        .iter()
        .filter(|branch| branch["remote"] == false)
        .map(|branch| branch["name"].as_str().expect("name"))
        .collect();
    let cli = repo.git(&["for-each-ref", "--format=%(refname:short)", "refs/heads"]);
    assert_eq!(local, cli.lines().collect::<BTreeSet<_>>());
    for branch in branches {
        assert_eq!(branch["head"], base.as_str(), "{branch}");
        assert_eq!(branch["current"], branch["name"] == "main", "{branch}");
    }
    assert_eq!(repo.post(&repo.admin, "checkout", json!({ "branch": "feature" })).await.status, 204);

    // Assert
    assert_eq!(repo.git(&["symbolic-ref", "--short", "HEAD"]), "feature");
    assert_eq!(repo.get(&repo.admin, "status").await.json["branch"], "feature");

    // A commit on feature, then back to main: the work tree follows.
    repo.put("f.txt", "two\n").await;
    let on_feature = repo.commit("On feature", &["f.txt"]).await;
    assert_eq!(repo.git(&["rev-parse", "feature"]), on_feature);
    assert_eq!(repo.post(&repo.admin, "checkout", json!({ "branch": "main" })).await.status, 204);
    assert_eq!(repo.git(&["symbolic-ref", "--short", "HEAD"]), "main");
    assert_eq!(repo.read("f.txt"), "one\n");

    // The current branch cannot be deleted.
    let current = repo.admin.delete(&repo.path("branches/main")).await;
    assert_problem(&current, 409, "git_branch_checked_out");
    assert_eq!(repo.git(&["rev-parse", "main"]), base);

    // Switching over conflicting local changes is refused and keeps them.
    repo.put("f.txt", "local edit\n").await;
    assert_problem(
        &repo.post(&repo.admin, "checkout", json!({ "branch": "feature" })).await,
        409,
        "git_would_overwrite",
    );
    assert_eq!(repo.read("f.txt"), "local edit\n");
    assert_eq!(repo.git(&["symbolic-ref", "--short", "HEAD"]), "main");
    repo.put("f.txt", "one\n").await;

    // Unmerged branches go only with force.
    assert_problem(&repo.admin.delete(&repo.path("branches/feature")).await, 409, "git_branch_not_merged");
    assert_eq!(repo.git(&["rev-parse", "feature"]), on_feature);
    assert_eq!(repo.admin.delete(&repo.path("branches/feature?force=true")).await.status, 204);
    assert_eq!(repo.git(&["branch", "--list", "feature"]), "");
    assert_problem(&repo.admin.delete(&repo.path("branches/feature")).await, 404, "git_branch_not_found");

    // Create from a revision and switch at once; names with slashes.
    let created =
        repo.post(&repo.admin, "branches", json!({ "name": "topic/one", "from": base, "checkout": true })).await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(repo.git(&["symbolic-ref", "--short", "HEAD"]), "topic/one");
    assert_eq!(repo.git(&["rev-parse", "HEAD"]), base);
    assert_eq!(repo.post(&repo.admin, "checkout", json!({ "branch": "main" })).await.status, 204);
    assert_eq!(
        repo.admin.delete(&repo.path("branches/topic/one")).await.status,
        204,
        "a merged branch goes without force"
    );
    assert_eq!(repo.git(&["branch", "--list", "topic/one"]), "");
}

// ---------------------------------------------------------------------------
// Remotes over HTTPS

const REMOTE_USER: &str = "alice";

struct Remote {
    _temp: TempDir,
    bare: PathBuf,
    outside: PathBuf,
    server: GitHttpServer,
    secret: String,
}

impl Remote {
    /// An empty bare repository `shared.git` behind basic auth, and a folder for an outside clone.
    fn start() -> Self {
        Self::start_at(None)
    }

    /// [`Self::start`], the server sending at most `bytes_per_second`.
    fn start_at(bytes_per_second: Option<u64>) -> Self {
        let temp = TempDir::new();
        let repos = temp.0.join("repos");
        std::fs::create_dir_all(&repos).expect("repos");
        let bare = repos.join("shared.git");
        git(&repos, &["init", "-q", "--bare", "-b", "main", bare.to_str().expect("path")]);
        git(&bare, &["config", "http.receivepack", "true"]);
        let secret = format!("dyp-push-{}", ulid::Ulid::new().to_string().to_lowercase());
        let options =
            ServerOptions { tls: true, basic_auth: Some((REMOTE_USER.to_owned(), secret.clone())), bytes_per_second };
        let server = GitHttpServer::start(&repos, options).expect("start the test git server");
        let outside = temp.0.join("outside");
        Self { _temp: temp, bare, outside, server, secret }
    }

    fn head(&self) -> String {
        git(&self.bare, &["rev-parse", "main"])
    }

    /// Commits a file in an outside clone and pushes it straight to the bare repository.
    fn push_from_outside(&self, file: &str, body: &str) -> String {
        if !self.outside.exists() {
            let parent = self.outside.parent().expect("parent");
            git(parent, &["clone", "-q", self.bare.to_str().expect("path"), self.outside.to_str().expect("path")]);
        }
        git(&self.outside, &["pull", "-q", "--ff-only", "origin", "main"]);
        std::fs::write(self.outside.join(file), body).expect("write");
        git(&self.outside, &["add", "-A"]);
        git(&self.outside, &["commit", "-q", "-m", &format!("Outside: {file}")]);
        git(&self.outside, &["push", "-q", "origin", "HEAD:main"]);
        self.head()
    }
}

/// A fetch or a pull that would take the workspace past its size quota is
/// stopped while it downloads and refused with 422 `quota_total_bytes`, as a
/// file write past it is; no ref moves and no half-received pack is left. A
/// branch whose files would not fit is refused the same way before anything
/// is written.
#[tokio::test]
async fn a_fetch_pull_or_switch_past_the_workspace_quota_is_refused_and_leaves_nothing_behind() {
    // Arrange: 3 MiB that does not compress, in 150 files (over git's unpack
    // limit, so a fetch keeps it as a pack), served at 1 MiB/s; a 1 MB quota.
    let remote = Remote::start_at(Some(1024 * 1024));
    let parent = remote.outside.parent().expect("parent");
    git(parent, &["clone", "-q", remote.bare.to_str().expect("path"), remote.outside.to_str().expect("path")]);
    for index in 0..150 {
        std::fs::write(remote.outside.join(format!("blob{index}.bin")), noise(20 * 1024, index + 1)).expect("write");
    }
    git(&remote.outside, &["add", "-A"]);
    git(&remote.outside, &["commit", "-q", "-m", "Big"]);
    git(&remote.outside, &["push", "-q", "origin", "HEAD:main"]);
    let config = outbound_config_file(&remote._temp.0, true, remote.server.ca_pem_path());
    let repo = GitProject::new(&[
        ("DOCKYARD_CONFIG", config.to_str().expect("UTF-8 path")),
        ("DOCKYARD_WORKSPACE__MAX_TOTAL_BYTES", "1000000"),
    ])
    .await;
    repo.init().await;
    repo.put("README.md", "# Small\n").await;
    repo.commit("First", &["README.md"]).await;
    let url = remote.server.url("shared.git");
    assert_eq!(repo.post(&repo.admin, "remotes", json!({ "name": "origin", "url": url })).await.status, 201);
    let credential = json!({ "username": REMOTE_USER, "token": remote.secret });
    assert_eq!(repo.admin.request("PUT", &repo.path("credential"), Some(&credential)).await.status, 200);

    // Act and assert
    assert_problem(&repo.post(&repo.admin, "fetch", json!({})).await, 422, "quota_total_bytes");
    assert_problem(&repo.post(&repo.admin, "pull", json!({ "branch": "main" })).await, 422, "quota_total_bytes");
    assert_eq!(repo.git(&["for-each-ref", "refs/remotes"]), "", "no remote-tracking ref moved");
    let unfinished: Vec<String> = std::fs::read_dir(repo.dir.join(".git/objects/pack"))
        .map(|entries| entries.flatten().map(|entry| entry.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    assert!(unfinished.iter().all(|name| !name.starts_with("tmp_")), "left behind: {unfinished:?}");
    assert_eq!(repo.git(&["status", "--porcelain"]), "");

    // A branch made outside the API (as from a terminal) with 16 MiB of zeros,
    // a few KiB as objects: switching to it is refused, and nothing is written.
    repo.git(&["checkout", "-q", "-b", "zeros"]);
    std::fs::write(repo.dir.join("zeros.bin"), vec![0u8; 16 * 1024 * 1024]).expect("write");
    repo.git(&["add", "-A"]);
    repo.git(&["commit", "-q", "-m", "Zeros"]);
    repo.git(&["checkout", "-q", "main"]);
    assert_problem(&repo.post(&repo.admin, "checkout", json!({ "branch": "zeros" })).await, 422, "quota_total_bytes");
    assert!(!repo.dir.join("zeros.bin").exists(), "a file of the refused branch was written");
    assert_eq!(repo.git(&["rev-parse", "--abbrev-ref", "HEAD"]), "main");
}

#[tokio::test]
async fn remotes_push_fetch_and_pull_against_an_https_server_with_the_stored_credential() {
    // Arrange
    let remote = Remote::start();
    let config = outbound_config_file(&remote._temp.0, true, remote.server.ca_pem_path());
    let repo = GitProject::new(&[("DOCKYARD_CONFIG", config.to_str().expect("UTF-8 path"))]).await;
    repo.init().await;
    repo.put("README.md", "# Shared\n").await;
    let first = repo.commit("First", &["README.md"]).await;
    let url = remote.server.url("shared.git");
    let with_credentials = url.replacen("https://", &format!("https://{REMOTE_USER}:{}@", remote.secret), 1);

    // Act and assert: remotes.
    assert_eq!(repo.post(&repo.admin, "remotes", json!({ "name": "origin", "url": url })).await.status, 201);
    assert_problem(
        &repo.post(&repo.admin, "remotes", json!({ "name": "origin", "url": url })).await,
        409,
        "git_remote_exists",
    );
    let listed = repo.get(&repo.admin, "remotes").await;
    assert_eq!(listed.json, json!({ "remotes": [{ "name": "origin", "url": url }] }), "{}", listed.body);
    assert_eq!(repo.git(&["remote", "get-url", "origin"]), url);
    assert_problem(
        &repo.post(&repo.admin, "remotes", json!({ "name": "creds", "url": with_credentials })).await,
        422,
        "git_url_has_credentials",
    );
    assert_problem(
        &repo.admin.patch(&repo.path("remotes/origin"), &json!({ "url": with_credentials })).await,
        422,
        "git_url_has_credentials",
    );
    assert_eq!(repo.git(&["remote", "get-url", "origin"]), url);
    let mirror = remote.server.url("mirror.git");
    let elsewhere = remote.server.url("elsewhere.git");
    assert_eq!(repo.post(&repo.admin, "remotes", json!({ "name": "mirror", "url": mirror })).await.status, 201);
    assert_eq!(repo.admin.patch(&repo.path("remotes/mirror"), &json!({ "url": elsewhere })).await.status, 204);
    assert_eq!(repo.git(&["remote", "get-url", "mirror"]), elsewhere);
    assert_eq!(repo.admin.delete(&repo.path("remotes/mirror")).await.status, 204);
    assert_eq!(repo.git(&["remote"]), "origin");
    assert_problem(&repo.admin.delete(&repo.path("remotes/mirror")).await, 404, "git_remote_not_found");

    // Without a credential the server refuses us.
    let refused = repo.post(&repo.admin, "push", json!({})).await;
    assert_eq!(refused.code(), "git_auth_failed", "{}", refused.body);
    assert_eq!(refused.status, 502, "{}", refused.body);

    // The credential: stored, described, never shown.
    let stored = repo
        .admin
        .request("PUT", &repo.path("credential"), Some(&json!({ "username": REMOTE_USER, "token": remote.secret })))
        .await;
    assert_eq!(stored.status, 200, "{}", stored.body);
    assert_eq!(stored.json, json!({ "configured": true, "username": REMOTE_USER }));
    let described = repo.get(&repo.admin, "credential").await;
    assert_eq!(described.json, json!({ "configured": true, "username": REMOTE_USER }));

    // Push creates the branch.
    let pushed = repo.post(&repo.admin, "push", json!({ "set_upstream": true })).await;
    assert_eq!(pushed.status, 200, "{}", pushed.body);
    assert_eq!(pushed.json, json!({ "branch": "main" }));
    assert_eq!(remote.head(), first);
    let status = repo.get(&repo.admin, "status").await;
    assert_eq!(status.json["upstream"], "origin/main", "{}", status.body);
    assert_eq!((status.json["ahead"].as_u64(), status.json["behind"].as_u64()), (Some(0), Some(0)));
    let audit = org_audit(&repo.admin, &repo.org, "git.pushed").await;
    assert_eq!(audit.len(), 1, "{audit:?}");
    assert_eq!(audit[0]["target_id"], repo.project.as_str());
    assert_eq!(audit[0]["detail"]["branch"], "main");
    assert_eq!(audit[0]["detail"]["remote"], "origin");

    // Someone pushes from outside; our pull fast-forwards.
    let outside_head = remote.push_from_outside("outside.txt", "from outside\n");
    let pulled = repo.post(&repo.admin, "pull", json!({})).await;
    assert_eq!(pulled.status, 200, "{}", pulled.body);
    assert_eq!(pulled.json, json!({ "updated": true, "head": outside_head }));
    assert_eq!(repo.git(&["rev-parse", "HEAD"]), outside_head);
    assert_eq!(repo.read("outside.txt"), "from outside\n");
    assert_eq!(repo.git(&["status", "--porcelain"]), "", "the work tree follows the pull");
    let again = repo.post(&repo.admin, "pull", json!({})).await;
    assert_eq!(again.json, json!({ "updated": false, "head": outside_head }), "{}", again.body);

    // Diverge: one commit outside, one here.
    let diverged_outside = remote.push_from_outside("second.txt", "second\n");
    repo.put("local.txt", "local\n").await;
    let local = repo.commit("Local", &["local.txt"]).await;
    assert_eq!(repo.post(&repo.admin, "fetch", json!({})).await.status, 204);
    assert_eq!(repo.git(&["rev-parse", "origin/main"]), diverged_outside);
    let status = repo.get(&repo.admin, "status").await;
    assert_eq!((status.json["ahead"].as_u64(), status.json["behind"].as_u64()), (Some(1), Some(1)), "{}", status.body);
    assert_eq!(repo.git(&["rev-list", "--left-right", "--count", "HEAD...origin/main"]), "1\t1");
    assert_problem(&repo.post(&repo.admin, "pull", json!({})).await, 409, "git_diverged");
    assert_eq!(repo.git(&["rev-parse", "HEAD"]), local);
    assert_eq!(repo.read("local.txt"), "local\n");
    assert!(!repo.dir.join("second.txt").exists());

    // A rejected push.
    assert_problem(&repo.post(&repo.admin, "push", json!({})).await, 409, "git_non_fast_forward");
    assert_eq!(remote.head(), diverged_outside, "the remote is unchanged");
    let failed = org_audit(&repo.admin, &repo.org, "git.push_failed").await;
    assert!(failed.iter().any(|event| event["detail"]["error"] == "git_non_fast_forward"), "{failed:?}");
    assert_eq!(org_audit(&repo.admin, &repo.org, "git.pushed").await.len(), 1);

    // The token is stored encrypted and never printed.
    for file in all_files(repo.app.data_dir()) {
        let bytes = std::fs::read(&file).unwrap_or_default();
        assert!(
            !bytes.windows(remote.secret.len()).any(|window| window == remote.secret.as_bytes()),
            "the token is written in clear in {}",
            file.display()
        );
    }
    assert!(!repo.app.output_text().contains(&remote.secret), "the token is in the server's output");

    // Deleting the credential.
    assert_eq!(repo.admin.delete(&repo.path("credential")).await.status, 204);
    assert_eq!(repo.get(&repo.admin, "credential").await.json, json!({ "configured": false, "username": null }));
    assert_eq!(repo.admin.delete(&repo.path("credential")).await.status, 404);
}

#[tokio::test]
async fn viewers_read_developers_write_only_admins_set_the_credential_and_strangers_see_nothing() {
    // Arrange
    let repo = GitProject::new(&[]).await;
    repo.init().await;
    repo.put("a.txt", "a\n").await;
    repo.commit("Base", &["a.txt"]).await;
    repo.put("a.txt", "changed\n").await;
    let (viewer, _) = repo.app.user(&repo.admin, "viewer@example.com").await;
    add_member(&repo.admin, &repo.org, "viewer@example.com", "viewer").await;
    let (developer, _) = repo.app.user(&repo.admin, "dev@example.com").await;
    add_member(&repo.admin, &repo.org, "dev@example.com", "developer").await;
    let (stranger, _) = repo.app.user(&repo.admin, "stranger@example.com").await;
    let head = repo.git(&["rev-parse", "HEAD"]);
    let credential = json!({ "token": "tok" });

    // Act and assert: viewers read.
    for read in ["status", "log", "diff", "branches", "remotes", "credential"] {
        let reply = repo.get(&viewer, read).await;
        assert_eq!(reply.status, 200, "viewer GET {read}: {}", reply.body);
    }
    assert_eq!(repo.get(&viewer, "diff").await.json["files"][0]["path"], "a.txt");
    // ... and may not write.
    for (method, rest, body) in [
        ("POST", "stage", json!({ "paths": ["a.txt"] })),
        ("POST", "unstage", json!({ "paths": ["a.txt"] })),
        ("POST", "commit", json!({ "message": "viewer", "paths": ["a.txt"] })),
        ("POST", "push", json!({})),
        ("POST", "pull", json!({})),
        ("POST", "fetch", json!({})),
        ("POST", "branches", json!({ "name": "viewer" })),
        ("POST", "checkout", json!({ "branch": "main" })),
        ("POST", "remotes", json!({ "name": "viewer", "url": "https://example.com/x.git" })),
        ("PUT", "credential", credential.clone()),
        ("DELETE", "credential", Value::Null),
    ] {
        let body = (!body.is_null()).then_some(&body);
        let reply = viewer.request(method, &repo.path(rest), body).await;
        assert_problem(&reply, 403, "forbidden");
    }
    assert_eq!(lines(&repo.git(&["diff", "--cached", "--name-only"])), Vec::<String>::new(), "nothing was staged");
    assert_eq!(repo.git(&["rev-parse", "HEAD"]), head, "nothing was committed");
    assert_eq!(repo.git(&["branch", "--list", "viewer"]), "");

    // Developers write code but cannot set the credential.
    assert_problem(&developer.request("PUT", &repo.path("credential"), Some(&credential)).await, 403, "forbidden");
    assert_problem(&developer.request("DELETE", &repo.path("credential"), None).await, 403, "forbidden");
    assert_eq!(repo.get(&developer, "credential").await.json, json!({ "configured": false, "username": null }));
    assert_eq!(repo.post(&developer, "stage", json!({ "paths": ["a.txt"] })).await.status, 204);
    assert_eq!(lines(&repo.git(&["diff", "--cached", "--name-only"])), ["a.txt"]);
    let admin_sets = repo.admin.request("PUT", &repo.path("credential"), Some(&credential)).await;
    assert_eq!(admin_sets.status, 200, "{}", admin_sets.body);

    // Strangers learn nothing.
    for (method, rest, body) in [
        ("GET", "status", Value::Null),
        ("GET", "log", Value::Null),
        ("POST", "commit", json!({ "message": "x" })),
        ("PUT", "credential", credential.clone()),
    ] {
        let body = (!body.is_null()).then_some(&body);
        let reply = stranger.request(method, &repo.path(rest), body).await;
        assert_problem(&reply, 404, "not_found");
    }
}
