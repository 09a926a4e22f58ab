//! Local operations, cross-checked with the git CLI.

use std::fs;

use dockyard_git::{
    ChangeKind, DiffQuery, GitError, LogQuery, MAX_DIFF_BYTES, Status, branches, commit, create_branch, delete_branch,
    diff, init, is_repository, log, stage, status, switch_branch, unstage,
};

use crate::support::{TempDir, author, commit_all, git, git_output, new_repo, porcelain_status, strings, write};

/// Our status in porcelain terms, sorted.
fn as_porcelain(status: &Status) -> Vec<(String, String, Option<String>)> {
    let mut entries: Vec<_> = status
        .entries
        .iter()
        .map(|entry| {
            let xy = if entry.unstaged == Some(ChangeKind::Untracked) {
                "??".to_owned()
            } else {
                let x = entry.staged.map_or(' ', ChangeKind::porcelain);
                let y = entry.unstaged.map_or(' ', ChangeKind::porcelain);
                format!("{x}{y}")
            };
            (xy, entry.path.clone(), entry.old_path.clone())
        })
        .collect();
    entries.sort();
    entries
}

fn code<T: std::fmt::Debug>(result: Result<T, GitError>) -> &'static str {
    result.expect_err("expected an error").code()
}

#[test]
fn status_matches_git_porcelain_before_and_after_the_first_commit() {
    let repo = new_repo("status");
    let root = repo.path();
    write(root, ".gitignore", "*.log\nbuild/\n");
    write(root, "a.txt", "a\n");
    write(root, "b.txt", "b\n");
    write(root, "to-delete.txt", "gone soon\n");
    write(root, "to-rename.txt", "a file that will be renamed\nwith enough lines\nto be seen as a rename\n");
    write(root, "dir/nested/c.txt", "c\n");
    write(root, "debug.log", "ignored\n");
    write(root, "build/out.bin", "ignored\n");
    git(root, &["add", "a.txt", ".gitignore"]);

    // Before the first commit: staged additions and untracked files (listed one by one).
    let before = status(root).expect("status");
    assert_eq!(before.branch.as_deref(), Some("main"));
    assert_eq!(before.head, None);
    assert_eq!(as_porcelain(&before), porcelain_status(root));
    assert!(before.entries.iter().any(|entry| entry.path == "dir/nested/c.txt" && entry.status == "untracked"));
    assert!(!before.entries.iter().any(|entry| entry.path.ends_with(".log") || entry.path.starts_with("build/")));

    commit_all(root, "first");
    // Unstaged modification, staged-then-modified, unstaged deletion, staged rename,
    // staged addition, untracked file, and the ignored files still there.
    write(root, "a.txt", "a changed\n");
    write(root, "b.txt", "b staged\n");
    git(root, &["add", "b.txt"]);
    write(root, "b.txt", "b staged then changed\n");
    fs::remove_file(root.join("to-delete.txt")).expect("delete");
    git(root, &["mv", "to-rename.txt", "renamed.txt"]);
    write(root, "new-staged.txt", "new\n");
    git(root, &["add", "new-staged.txt"]);
    write(root, "untracked/deep/file.txt", "u\n");

    let after = status(root).expect("status");
    assert_eq!(after.head.as_deref(), Some(git(root, &["rev-parse", "HEAD"]).trim()));
    assert_eq!(as_porcelain(&after), porcelain_status(root));
    let by_path = |path: &str| after.entries.iter().find(|entry| entry.path == path).expect(path).clone();
    assert_eq!(by_path("renamed.txt").status, "renamed");
    assert_eq!(by_path("renamed.txt").old_path.as_deref(), Some("to-rename.txt"));
    assert_eq!(by_path("to-delete.txt").status, "deleted");
    assert_eq!(by_path("new-staged.txt").status, "added");
    assert_eq!(by_path("b.txt").staged, Some(ChangeKind::Modified));
    assert_eq!(by_path("b.txt").unstaged, Some(ChangeKind::Modified));
    assert_eq!(by_path("untracked/deep/file.txt").status, "untracked");
    assert_eq!(after.upstream, None);
    assert_eq!((after.ahead, after.behind), (0, 0));
}

#[test]
fn status_on_a_detached_head_has_no_branch() {
    let repo = new_repo("detached");
    write(repo.path(), "f", "1\n");
    let first = commit_all(repo.path(), "one");
    write(repo.path(), "f", "2\n");
    commit_all(repo.path(), "two");
    git(repo.path(), &["checkout", "-q", &first]);
    let detached = status(repo.path()).expect("status");
    assert_eq!(detached.branch, None);
    assert_eq!(detached.head.as_deref(), Some(first.as_str()));
}

/// A repository with one commit of several files, then changes to them.
fn repo_with_changes() -> TempDir {
    let repo = new_repo("diff");
    let root = repo.path();
    let long: String = (1..=40).map(|n| format!("line {n}\n")).collect();
    write(root, "long.txt", &long);
    write(root, "no-newline.txt", "first\nlast without newline");
    write(root, "gone.txt", "will be deleted\n");
    write(root, "src/lib.rs", "fn main() {\n    println!(\"hi\");\n}\n");
    write(root, "image.bin", [0u8, 1, 2, 3, 0, 255, 0, 7]);
    commit_all(root, "base");

    let changed: String = (1..=40)
        .map(|n| match n {
            3 => "line three changed\n".to_owned(),
            20 => String::new(),
            35 => "line 35\ninserted after 35\n".to_owned(),
            n => format!("line {n}\n"),
        })
        .collect();
    write(root, "long.txt", changed);
    write(root, "no-newline.txt", "first\nlast changed, still without newline");
    fs::remove_file(root.join("gone.txt")).expect("delete");
    write(root, "src/lib.rs", "fn main() {\n    println!(\"hello\");\n}\n");
    write(root, "image.bin", [0u8, 1, 2, 3, 0, 254, 0, 7, 9]);
    repo
}

#[test]
fn unstaged_diff_text_equals_git_diff() {
    let repo = repo_with_changes();
    let root = repo.path();
    let ours = diff(root, DiffQuery::default()).expect("diff");
    assert_eq!(ours.text, git(root, &["diff"]));
    assert!(!ours.truncated);

    // Structured view: line counts as `git diff --numstat`, hunk headers as in the text.
    let numstat = git(root, &["diff", "--numstat"]);
    for line in numstat.lines() {
        let mut fields = line.split('\t');
        let (added, deleted, path) = (fields.next().expect("a"), fields.next().expect("d"), fields.next().expect("p"));
        let file = ours.files.iter().find(|file| file.path == path).expect(path);
        if added == "-" {
            assert!(file.binary, "{path} should be binary");
            assert!(file.hunks.is_empty());
        } else {
            assert_eq!(file.additions.to_string(), added, "{path}");
            assert_eq!(file.deletions.to_string(), deleted, "{path}");
            let adds = file.hunks.iter().flat_map(|hunk| &hunk.lines).filter(|line| line.kind == "add").count();
            let deletes = file.hunks.iter().flat_map(|hunk| &hunk.lines).filter(|line| line.kind == "delete").count();
            assert_eq!((adds, deletes), (file.additions, file.deletions), "{path}");
        }
    }
    assert_eq!(ours.files.len(), numstat.lines().count());
    let headers: Vec<&str> = ours.text.lines().filter(|line| line.starts_with("@@")).collect();
    let our_headers: Vec<&str> =
        ours.files.iter().flat_map(|file| &file.hunks).map(|hunk| hunk.header.as_str()).collect();
    assert_eq!(our_headers, headers);

    let gone = ours.files.iter().find(|file| file.path == "gone.txt").expect("gone.txt");
    assert_eq!(gone.change, ChangeKind::Deleted);
    let long = ours.files.iter().find(|file| file.path == "long.txt").expect("long.txt");
    let first_hunk = &long.hunks[0];
    let changed = first_hunk.lines.iter().find(|line| line.kind == "add").expect("an added line");
    assert_eq!(changed.content, "line three changed\n");
    assert_eq!((changed.old_line, changed.new_line), (None, Some(3)));
    let no_newline = ours.files.iter().find(|file| file.path == "no-newline.txt").expect("no-newline.txt");
    let last = no_newline.hunks[0].lines.last().expect("a line");
    assert_eq!((last.kind, last.content.as_str()), ("add", "last changed, still without newline"));
    let image = ours.files.iter().find(|file| file.path == "image.bin").expect("image.bin");
    assert!(image.binary);
}

#[test]
fn staged_diff_text_equals_git_diff_cached_including_renames() {
    let repo = repo_with_changes();
    let root = repo.path();
    git(root, &["add", "long.txt", "gone.txt", "image.bin"]);
    git(root, &["mv", "src/lib.rs", "src/main.rs"]);
    let ours = diff(root, DiffQuery { staged: true, ..DiffQuery::default() }).expect("diff");
    assert_eq!(ours.text, git(root, &["diff", "--cached"]));
    let renamed = ours.files.iter().find(|file| file.path == "src/main.rs").expect("renamed file");
    assert_eq!(renamed.change, ChangeKind::Renamed);
    assert_eq!(renamed.old_path.as_deref(), Some("src/lib.rs"));

    // A path filter keeps one file; a folder keeps what is under it.
    let one = diff(root, DiffQuery { staged: true, path: Some("long.txt") }).expect("diff");
    assert_eq!(one.text, git(root, &["diff", "--cached", "--", "long.txt"]));
    let unstaged_src = diff(root, DiffQuery { staged: false, path: Some("src/") }).expect("diff");
    assert_eq!(unstaged_src.text, git(root, &["diff", "--", "src"]));
}

#[test]
fn staged_diff_works_before_the_first_commit() {
    let repo = new_repo("unborn-diff");
    write(repo.path(), "a.txt", "one\ntwo\n");
    write(repo.path(), "b/c.txt", "three\n");
    git(repo.path(), &["add", "."]);
    let ours = diff(repo.path(), DiffQuery { staged: true, ..DiffQuery::default() }).expect("diff");
    assert_eq!(ours.text, git(repo.path(), &["diff", "--cached"]));
    assert!(ours.files.iter().all(|file| file.change == ChangeKind::Added));
    assert_eq!(ours.files.len(), 2);
}

#[test]
fn unstaged_diff_includes_untracked_files_as_additions() {
    let repo = new_repo("untracked-diff");
    write(repo.path(), "tracked.txt", "t\n");
    commit_all(repo.path(), "base");
    write(repo.path(), "new/file.txt", "alpha\nbeta\n");
    write(repo.path(), "ignored.log", "x\n");
    write(repo.path(), ".gitignore", "*.log\n");
    let ours = diff(repo.path(), DiffQuery::default()).expect("diff");
    let paths: Vec<&str> = ours.files.iter().map(|file| file.path.as_str()).collect();
    assert_eq!(paths, [".gitignore", "new/file.txt"]);
    let file = &ours.files[1];
    assert_eq!((file.change, file.additions, file.deletions), (ChangeKind::Added, 2, 0));
    let lines: Vec<(&str, Option<u32>, &str)> =
        file.hunks[0].lines.iter().map(|line| (line.kind, line.new_line, line.content.as_str())).collect();
    assert_eq!(lines, [("add", Some(1), "alpha\n"), ("add", Some(2), "beta\n")]);
    // The text is git's for a new file.
    let expected = git_output(repo.path(), &["diff", "--no-index", "--", "/dev/null", "new/file.txt"]);
    let ours_text = diff(repo.path(), DiffQuery { path: Some("new/file.txt"), staged: false }).expect("diff").text;
    assert_eq!(ours_text, String::from_utf8_lossy(&expected.stdout));

    // A new binary file, likewise.
    write(repo.path(), "new/blob.bin", [0u8, 159, 146, 150, 0, 1]);
    let expected = git_output(repo.path(), &["diff", "--no-index", "--", "/dev/null", "new/blob.bin"]);
    let ours = diff(repo.path(), DiffQuery { path: Some("new/blob.bin"), staged: false }).expect("diff");
    assert_eq!(ours.text, String::from_utf8_lossy(&expected.stdout));
    assert!(ours.files[0].binary);
}

#[test]
fn a_huge_diff_is_truncated() {
    let repo = new_repo("huge-diff");
    write(repo.path(), "small.txt", "s\n");
    commit_all(repo.path(), "base");
    let line = "x".repeat(99) + "\n";
    write(repo.path(), "a-big.txt", line.repeat(MAX_DIFF_BYTES / 100 + 1000));
    write(repo.path(), "small.txt", "changed\n");
    let ours = diff(repo.path(), DiffQuery::default()).expect("diff");
    assert!(ours.truncated);
    assert!(ours.text.len() <= MAX_DIFF_BYTES);
    let big = ours.files.iter().find(|file| file.path == "a-big.txt").expect("listed");
    assert!(big.truncated && big.hunks.is_empty());
}

#[test]
fn diff_refuses_bad_and_unknown_paths() {
    let repo = new_repo("diff-paths");
    write(repo.path(), "a.txt", "a\n");
    commit_all(repo.path(), "base");
    for bad in ["../etc/passwd", "/etc/passwd", ".git/config", "a/../../b", ""] {
        assert_eq!(
            code(diff(repo.path(), DiffQuery { path: Some(bad), staged: false })),
            "git_invalid_path",
            "{bad:?}"
        );
    }
    assert_eq!(code(diff(repo.path(), DiffQuery { path: Some("missing.txt"), staged: false })), "git_path_not_found");
}

#[test]
fn stage_and_unstage_match_git_diff_cached() {
    let repo = new_repo("stage");
    let root = repo.path();
    write(root, "a.txt", "a\n");
    write(root, "b.txt", "b\n");
    write(root, "dir/c.txt", "c\n");
    write(root, "del.txt", "d\n");
    commit_all(root, "base");
    write(root, "a.txt", "a2\n");
    write(root, "b.txt", "b2\n");
    write(root, "dir/c.txt", "c2\n");
    write(root, "dir/new.txt", "n\n");
    fs::remove_file(root.join("del.txt")).expect("delete");
    let cached = || git(root, &["diff", "--cached", "--name-only"]);

    stage(root, &strings(&["a.txt", "dir", "del.txt"])).expect("stage");
    assert_eq!(cached(), "a.txt\ndel.txt\ndir/c.txt\ndir/new.txt\n");
    assert_eq!(git(root, &["diff", "--cached", "--name-status", "--", "del.txt"]), "D\tdel.txt\n");

    unstage(root, &strings(&["dir"])).expect("unstage");
    assert_eq!(cached(), "a.txt\ndel.txt\n");
    // The work tree is untouched by unstaging.
    assert_eq!(fs::read_to_string(root.join("dir/c.txt")).expect("read"), "c2\n");
    assert_eq!(git(root, &["status", "--porcelain=v1", "--", "dir"]), " M dir/c.txt\n?? dir/new.txt\n");

    stage(root, &strings(&["."])).expect("stage all");
    assert_eq!(cached(), "a.txt\nb.txt\ndel.txt\ndir/c.txt\ndir/new.txt\n");
    unstage(root, &[]).expect("unstage all");
    assert_eq!(cached(), "");

    assert_eq!(code(stage(root, &strings(&["nope.txt"]))), "git_path_not_found");
    assert_eq!(code(stage(root, &strings(&["../x"]))), "git_invalid_path");
}

#[test]
fn unstaging_before_the_first_commit_empties_the_index() {
    let repo = new_repo("unstage-unborn");
    write(repo.path(), "a.txt", "a\n");
    write(repo.path(), "b.txt", "b\n");
    stage(repo.path(), &[]).expect("stage");
    assert_eq!(git(repo.path(), &["ls-files"]), "a.txt\nb.txt\n");
    unstage(repo.path(), &strings(&["a.txt"])).expect("unstage one");
    assert_eq!(git(repo.path(), &["ls-files"]), "b.txt\n");
    unstage(repo.path(), &[]).expect("unstage all");
    assert_eq!(git(repo.path(), &["ls-files"]), "");
}

#[test]
fn commit_records_the_index_with_the_author_like_git() {
    let repo = new_repo("commit");
    let root = repo.path();
    write(root, "a.txt", "a\n");
    write(root, "dir/b.txt", "b\n");
    write(root, "not-yet.txt", "later\n");

    // The first commit, on an unborn branch, of the given paths only.
    let first =
        commit(root, "\n\nFirst commit  \n\n\nWith a body.  \n\n\n", Some(&strings(&["a.txt", "dir"])), &author())
            .expect("first commit");
    let shown = git(root, &["log", "-1", "--format=%H%n%an%n%ae%n%s%n%b"]);
    assert_eq!(shown, format!("{first}\nDock Yard\ndock@example.com\nFirst commit\nWith a body.\n\n"));
    let tree = git(root, &["cat-file", "-p", "HEAD^{tree}"]);
    let names: Vec<&str> = tree.lines().map(|line| line.split('\t').nth(1).expect("name")).collect();
    assert_eq!(names, ["a.txt", "dir"]);
    assert_eq!(git(root, &["rev-list", "--count", "HEAD"]).trim(), "1");
    assert_eq!(git(root, &["status", "--porcelain"]), "?? not-yet.txt\n");

    // Nothing staged: refused. Empty message: refused.
    assert_eq!(code(commit(root, "again", None, &author())), "git_nothing_to_commit");
    assert_eq!(code(commit(root, " \n\t\n", Some(&strings(&["not-yet.txt"])), &author())), "git_empty_message");
    assert_eq!(git(root, &["diff", "--cached", "--name-only"]), "", "an empty message stages nothing");
    let bad_author = dockyard_git::Author { name: "x <y>".into(), email: "e@example.com".into() };
    assert_eq!(code(commit(root, "m", None, &bad_author)), "git_invalid_author");

    // A second commit with everything staged by the caller.
    stage(root, &[]).expect("stage");
    let second = commit(root, "Second", None, &author()).expect("second commit");
    assert_eq!(git(root, &["rev-parse", "HEAD"]).trim(), second);
    assert_eq!(git(root, &["rev-parse", "HEAD^"]).trim(), first);
    assert_eq!(git(root, &["status", "--porcelain"]), "");
}

#[test]
fn commit_on_an_empty_unborn_branch_has_nothing_to_commit() {
    let repo = new_repo("commit-empty");
    assert_eq!(code(commit(repo.path(), "m", None, &author())), "git_nothing_to_commit");
}

#[test]
fn log_pages_through_history_like_rev_list() {
    let repo = new_repo("log");
    let root = repo.path();
    for n in 1..=25 {
        write(root, "counter.txt", format!("{n}\n"));
        if n % 5 == 0 {
            write(root, "docs/every-fifth.txt", format!("{n}\n"));
        }
        git(root, &["add", "-A"]);
        let date = format!("2024-01-01T00:{n:02}:00Z");
        let output = std::process::Command::new("git")
            .args(["commit", "-q", "-m", &format!("commit {n}\n\nbody {n}")])
            .current_dir(root)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_AUTHOR_NAME", "A")
            .env("GIT_AUTHOR_EMAIL", "a@example.com")
            .env("GIT_COMMITTER_NAME", "C")
            .env("GIT_COMMITTER_EMAIL", "c@example.com")
            .env("GIT_AUTHOR_DATE", &date)
            .env("GIT_COMMITTER_DATE", &date)
            .output()
            .expect("git commit");
        assert!(output.status.success());
    }
    let expected: Vec<String> = git(root, &["rev-list", "HEAD"]).lines().map(str::to_owned).collect();
    assert_eq!(expected.len(), 25);

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let page = log(root, LogQuery { after: cursor.as_deref(), limit: 10, ..LogQuery::default() }).expect("log");
        pages += 1;
        assert!(page.commits.len() <= 10);
        seen.extend(page.commits.iter().map(|commit| commit.id.clone()));
        match page.next {
            Some(next) => {
                assert_eq!(Some(&next), seen.last());
                cursor = Some(next);
            }
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, expected);

    let first = log(root, LogQuery { limit: 1, ..LogQuery::default() }).expect("log");
    let newest = &first.commits[0];
    assert_eq!(newest.summary, "commit 25");
    assert_eq!(newest.message, "commit 25\n\nbody 25\n");
    assert_eq!((newest.author_name.as_str(), newest.author_email.as_str()), ("A", "a@example.com"));
    assert_eq!(newest.time_ms, 1_704_068_700_000);
    assert_eq!(newest.parents, [expected[1].clone()]);
    assert!(expected[0].starts_with(&newest.short_id));

    // A path filter and a starting revision, as rev-list sees them.
    let docs =
        log(root, LogQuery { path: Some("docs/every-fifth.txt"), limit: 100, ..LogQuery::default() }).expect("log");
    let docs_ids: Vec<String> = docs.commits.iter().map(|commit| commit.id.clone()).collect();
    let expected_docs: Vec<String> =
        git(root, &["rev-list", "HEAD", "--", "docs/every-fifth.txt"]).lines().map(str::to_owned).collect();
    assert_eq!(docs_ids, expected_docs);
    let from_rev = log(root, LogQuery { rev: Some("HEAD~20"), limit: 100, ..LogQuery::default() }).expect("log");
    assert_eq!(from_rev.commits.len(), 5);

    assert_eq!(
        code(log(root, LogQuery { rev: Some("no-such-branch"), limit: 5, ..LogQuery::default() })),
        "git_revision_not_found"
    );
    assert_eq!(
        code(log(root, LogQuery { after: Some("not-an-id"), limit: 5, ..LogQuery::default() })),
        "git_invalid_cursor"
    );
    let unknown = "0123456789012345678901234567890123456789";
    assert_eq!(
        code(log(root, LogQuery { after: Some(unknown), limit: 5, ..LogQuery::default() })),
        "git_invalid_cursor"
    );
}

#[test]
fn log_of_an_empty_repository_is_an_empty_page() {
    let repo = new_repo("log-empty");
    let page = log(repo.path(), LogQuery { limit: 10, ..LogQuery::default() }).expect("log");
    assert!(page.commits.is_empty());
    assert_eq!(page.next, None);
}

#[test]
fn branches_are_created_switched_and_deleted_like_git() {
    let repo = new_repo("branches");
    let root = repo.path();
    write(root, "f.txt", "base\n");
    let base = commit_all(root, "base");
    let local_names = || git(root, &["branch", "--format=%(refname:short)"]);

    let created = create_branch(root, "feature/one", None).expect("create");
    assert_eq!((created.name.as_str(), created.head.as_str(), created.current), ("feature/one", base.as_str(), false));
    assert_eq!(local_names(), "feature/one\nmain\n");
    assert_eq!(code(create_branch(root, "feature/one", None)), "git_branch_exists");
    assert_eq!(code(create_branch(root, "bad..name", None)), "git_invalid_branch_name");
    assert_eq!(code(create_branch(root, "x", Some("no-such-rev"))), "git_revision_not_found");

    let switched = switch_branch(root, "feature/one", None).expect("switch");
    assert!(switched.current);
    assert_eq!(git(root, &["rev-parse", "--abbrev-ref", "HEAD"]).trim(), "feature/one");
    write(root, "f.txt", "on the feature\n");
    commit(root, "feature work", Some(&strings(&["f.txt"])), &author()).expect("commit");

    let listed = branches(root).expect("branches");
    let names: Vec<(&str, bool)> = listed.iter().map(|branch| (branch.name.as_str(), branch.current)).collect();
    assert_eq!(names, [("feature/one", true), ("main", false)]);

    switch_branch(root, "main", None).expect("switch back");
    assert_eq!(fs::read_to_string(root.join("f.txt")).expect("read"), "base\n");
    assert_eq!(code(delete_branch(root, "main", false)), "git_branch_checked_out");
    assert_eq!(code(delete_branch(root, "feature/one", false)), "git_branch_not_merged");
    delete_branch(root, "feature/one", true).expect("force delete");
    assert_eq!(local_names(), "main\n");
    assert_eq!(code(delete_branch(root, "feature/one", true)), "git_branch_not_found");
    assert_eq!(code(switch_branch(root, "nope", None)), "git_branch_not_found");

    // A merged branch goes without force; a branch from a given revision starts there.
    let from = create_branch(root, "from-base", Some(&base)).expect("create from");
    assert_eq!(from.head, base);
    delete_branch(root, "from-base", false).expect("merged delete");
}

/// A branch whose files would take the folder past a size limit is refused
/// before anything is written, however small its objects are: 16 MiB of
/// zeros are a few KiB in git.
#[test]
fn switching_to_a_branch_past_the_size_limit_is_refused_and_changes_nothing() {
    let repo = new_repo("switch-size");
    let root = repo.path();
    write(root, "small.txt", "small\n");
    commit_all(root, "small");
    git(root, &["checkout", "-q", "-b", "bomb"]);
    write(root, "zeros.bin", vec![0u8; 16 * 1024 * 1024]);
    commit_all(root, "sixteen MiB of zeros");
    git(root, &["checkout", "-q", "main"]);
    assert!(!root.join("zeros.bin").exists());

    let error = switch_branch(root, "bomb", Some(1024 * 1024)).expect_err("refused");
    assert_eq!(error.code(), "git_too_large", "{error}");
    assert!(!root.join("zeros.bin").exists(), "a file of the refused branch was written");
    assert_eq!(git(root, &["rev-parse", "--abbrev-ref", "HEAD"]).trim(), "main");
    assert_eq!(git(root, &["status", "--porcelain"]), "");
    // Room for it, and back: going to a smaller tree is never refused.
    switch_branch(root, "bomb", Some(64 * 1024 * 1024)).expect("switch with room");
    assert_eq!(fs::metadata(root.join("zeros.bin")).expect("written").len(), 16 * 1024 * 1024);
    switch_branch(root, "main", Some(1)).expect("switch to the smaller tree");
    assert!(!root.join("zeros.bin").exists());
}

#[test]
fn switching_with_conflicting_local_changes_is_refused_and_changes_nothing() {
    let repo = new_repo("switch-conflict");
    let root = repo.path();
    write(root, "shared.txt", "base\n");
    write(root, "other.txt", "other\n");
    commit_all(root, "base");
    git(root, &["checkout", "-q", "-b", "topic"]);
    write(root, "shared.txt", "topic version\n");
    commit_all(root, "topic");
    git(root, &["checkout", "-q", "main"]);

    // An uncommitted edit to a file that differs between the branches.
    write(root, "shared.txt", "my local edit\n");
    write(root, "other.txt", "edited too\n");
    let error = switch_branch(root, "topic", None).expect_err("refused");
    assert_eq!(error.code(), "git_would_overwrite");
    assert!(matches!(&error, GitError::WouldOverwrite(paths) if paths == &["shared.txt".to_owned()]), "{error:?}");
    assert_eq!(fs::read_to_string(root.join("shared.txt")).expect("read"), "my local edit\n");
    assert_eq!(fs::read_to_string(root.join("other.txt")).expect("read"), "edited too\n");
    assert_eq!(git(root, &["rev-parse", "--abbrev-ref", "HEAD"]).trim(), "main");
    // git agrees that this switch would overwrite local changes.
    assert!(!git_output(root, &["switch", "topic"]).status.success());

    // A local edit to a file that is the same on both branches is carried over.
    write(root, "shared.txt", "base\n");
    switch_branch(root, "topic", None).expect("switch");
    assert_eq!(fs::read_to_string(root.join("other.txt")).expect("read"), "edited too\n");
    assert_eq!(fs::read_to_string(root.join("shared.txt")).expect("read"), "topic version\n");

    // An untracked file in the way is not overwritten either.
    git(root, &["checkout", "-q", "-f", "main"]);
    git(root, &["checkout", "-q", "-b", "adds-file"]);
    write(root, "added.txt", "committed\n");
    commit_all(root, "adds");
    git(root, &["checkout", "-q", "main"]);
    write(root, "added.txt", "untracked and precious\n");
    assert_eq!(code(switch_branch(root, "adds-file", None)), "git_would_overwrite");
    assert_eq!(fs::read_to_string(root.join("added.txt")).expect("read"), "untracked and precious\n");
}

#[test]
fn remote_tracking_names_create_a_tracking_branch() {
    let upstream = new_repo("upstream");
    write(upstream.path(), "f", "1\n");
    commit_all(upstream.path(), "one");
    git(upstream.path(), &["branch", "topic"]);
    let repo = TempDir::new("tracking");
    git(repo.path(), &["clone", "-q", upstream.path().to_str().expect("utf-8"), "."]);

    let listed = branches(repo.path()).expect("branches");
    let remote: Vec<&str> = listed.iter().filter(|branch| branch.remote).map(|branch| branch.name.as_str()).collect();
    assert_eq!(remote, ["origin/main", "origin/topic"]);
    assert_eq!(
        git(repo.path(), &["branch", "-r", "--format=%(refname:short)"])
            .lines()
            .filter(|l| !l.ends_with("HEAD") && *l != "origin")
            .count(),
        2
    );
    let main = listed.iter().find(|branch| branch.name == "main").expect("main");
    assert_eq!(main.upstream.as_deref(), Some("origin/main"));

    let topic = switch_branch(repo.path(), "origin/topic", None).expect("switch");
    assert_eq!((topic.name.as_str(), topic.upstream.as_deref()), ("topic", Some("origin/topic")));
    assert_eq!(git(repo.path(), &["rev-parse", "--abbrev-ref", "topic@{upstream}"]).trim(), "origin/topic");
}

#[test]
fn init_and_repository_checks() {
    let dir = TempDir::new("init");
    assert!(!is_repository(dir.path()));
    assert_eq!(code(status(dir.path())), "git_not_a_repository");
    assert_eq!(code(init(dir.path(), "bad..name")), "git_invalid_branch_name");
    init(dir.path(), "trunk").expect("init");
    assert!(is_repository(dir.path()));
    assert_eq!(git(dir.path(), &["symbolic-ref", "HEAD"]).trim(), "refs/heads/trunk");
    assert_eq!(code(init(dir.path(), "main")), "git_already_a_repository");

    // A folder inside a repository is not itself one (no search upwards).
    fs::create_dir(dir.join("sub")).expect("mkdir");
    assert!(!is_repository(&dir.join("sub")));

    // A `.git` file pointing at another folder's repository is refused.
    let other = new_repo("other");
    let linked = TempDir::new("linked");
    fs::write(linked.join(".git"), format!("gitdir: {}/.git\n", other.path().display())).expect("write");
    assert_eq!(code(status(linked.path())), "git_unsafe_repository");
}

#[test]
fn remotes_are_added_changed_and_removed_like_git() {
    use dockyard_git::{GitUrl, NetworkPolicy, add_remote, remotes, remove_remote, set_remote_url};
    let repo = new_repo("remotes");
    let policy = NetworkPolicy::default();
    let url = GitUrl::parse("https://example.com/team/app.git", &policy).expect("url");
    add_remote(repo.path(), "origin", &url).expect("add");
    assert_eq!(code(add_remote(repo.path(), "origin", &url)), "git_remote_exists");
    assert_eq!(code(add_remote(repo.path(), "bad name", &url)), "git_invalid_remote_name");
    assert_eq!(git(repo.path(), &["remote", "get-url", "origin"]).trim(), "https://example.com/team/app.git");
    let moved = GitUrl::parse("https://example.org/app.git", &policy).expect("url");
    set_remote_url(repo.path(), "origin", &moved).expect("set url");
    assert_eq!(git(repo.path(), &["remote", "get-url", "origin"]).trim(), "https://example.org/app.git");
    assert_eq!(code(set_remote_url(repo.path(), "upstream", &moved)), "git_remote_not_found");

    // A URL with credentials set behind our back is listed without them.
    git(repo.path(), &["remote", "add", "manual", "https://user:secret@example.net/x.git"]);
    let listed = remotes(repo.path()).expect("remotes");
    let pairs: Vec<(&str, &str)> = listed.iter().map(|remote| (remote.name.as_str(), remote.url.as_str())).collect();
    assert_eq!(pairs, [("manual", "https://example.net/x.git"), ("origin", "https://example.org/app.git")]);

    remove_remote(repo.path(), "origin").expect("remove");
    assert_eq!(git(repo.path(), &["remote"]), "manual\n");
    assert_eq!(code(remove_remote(repo.path(), "origin")), "git_remote_not_found");
}

#[test]
fn hostile_names_paths_and_revisions_are_refused_without_panicking() {
    use dockyard_git::{GitUrl, NetworkPolicy, add_remote, fetch, pull, push, remove_remote, set_remote_url};
    let repo = new_repo("hostile");
    let root = repo.path();
    write(root, "f.txt", "f\n");
    let head = commit_all(root, "base");
    let policy = NetworkPolicy { git_binary: "/nonexistent/git".into(), ..NetworkPolicy::default() };
    let url = GitUrl::parse("https://example.com/x.git", &policy).expect("url");
    let long = "a".repeat(5000);
    let nasty = [
        "",
        "\0",
        "a\0b",
        "-x",
        "--upload-pack=touch",
        "..",
        "/",
        ".git",
        "a/../../b",
        "\u{202e}x",
        "origin/\0",
        "@{-1}",
        "refs/heads/main",
        "~",
        "^",
        ":",
        "*",
        "é/ü",
        "\n",
        "a b",
        "HEAD~100",
        long.as_str(),
    ];
    for input in nasty {
        let paths = vec![input.to_owned()];
        let _ = create_branch(root, input, None);
        let _ = create_branch(root, "from-input", Some(input));
        let _ = delete_branch(root, "from-input", true);
        let _ = switch_branch(root, input, None);
        switch_branch(root, "main", None).expect("back to main");
        let _ = delete_branch(root, input, true);
        let _ = diff(root, DiffQuery { path: Some(input), staged: false });
        let _ = diff(root, DiffQuery { path: Some(input), staged: true });
        let _ = stage(root, &paths);
        let _ = unstage(root, &paths);
        let _ = log(root, LogQuery { rev: Some(input), limit: 5, ..LogQuery::default() });
        let _ = log(root, LogQuery { path: Some(input), limit: 5, ..LogQuery::default() });
        let _ = log(root, LogQuery { after: Some(input), limit: 5, ..LogQuery::default() });
        let _ = add_remote(root, input, &url);
        let _ = set_remote_url(root, input, &url);
        let _ = remove_remote(root, input);
        let _ = fetch(root, input, None, &policy, None);
        let _ = pull(root, "origin", Some(input), None, &policy, None);
        let _ = push(root, "origin", input, true, None, &policy);
        let _ = GitUrl::parse(input, &policy);
        let _ = commit(root, input, None, &dockyard_git::Author { name: input.to_owned(), email: input.to_owned() });
        let fresh = TempDir::new("hostile-init");
        let _ = init(fresh.path(), input);
    }
    // The repository is as it was.
    assert_eq!(git(root, &["rev-parse", "HEAD"]).trim(), head);
    assert_eq!(git(root, &["status", "--porcelain"]), "");
    assert_eq!(git(root, &["branch", "--format=%(refname:short)"]), "main\n");
}

#[test]
fn a_merge_conflict_shows_as_conflicted_and_committing_after_resolving_makes_a_merge_commit() {
    let repo = new_repo("conflict");
    let root = repo.path();
    write(root, "f.txt", "base\n");
    commit_all(root, "base");
    git(root, &["checkout", "-q", "-b", "other"]);
    write(root, "f.txt", "other\n");
    let other = commit_all(root, "other");
    git(root, &["checkout", "-q", "main"]);
    write(root, "f.txt", "main\n");
    let main = commit_all(root, "main");
    assert!(!git_output(root, &["merge", "-q", "other"]).status.success(), "the merge conflicts");

    let conflicted = status(root).expect("status");
    let entry = conflicted.entries.iter().find(|entry| entry.path == "f.txt").expect("f.txt");
    assert_eq!((entry.status, entry.unstaged), ("conflicted", Some(ChangeKind::Conflicted)));
    assert_eq!(porcelain_status(root), [("UU".to_owned(), "f.txt".to_owned(), None)]);
    assert_eq!(code(commit(root, "merge", None, &author())), "git_unresolved_conflicts");

    write(root, "f.txt", "resolved\n");
    let merge = commit(root, "Merge other", Some(&strings(&["f.txt"])), &author()).expect("merge commit");
    assert_eq!(git(root, &["rev-parse", "HEAD^1", "HEAD^2"]), format!("{main}\n{other}\n"));
    assert_eq!(git(root, &["rev-parse", "HEAD"]).trim(), merge);
    assert!(!root.join(".git/MERGE_HEAD").exists());
    assert_eq!(git(root, &["status", "--porcelain"]), "");
}
