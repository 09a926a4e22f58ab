//! Agent session worktrees: add/remove, commit-all, range diffs and merges,
//! cross-checked with the git CLI.

use std::fs;
use std::path::Path;

use dockyard_git::{
    Author, ChangeKind, GitError, MergeOutcome, add_worktree, commit_all, diff_range, merge_branch, remove_worktree,
};

use crate::support::{
    TempDir, author, commit_all as git_commit_all, git, git_output, new_repo, porcelain_status, write,
};

const BRANCH: &str = "dockyard/agent/01abc";

fn code<T: std::fmt::Debug>(result: Result<T, GitError>) -> &'static str {
    result.expect_err("expected an error").code()
}

fn agent() -> Author {
    Author { name: "Claude Code".into(), email: "agent@dockyard.invalid".into() }
}

fn head(root: &Path) -> String {
    git(root, &["rev-parse", "HEAD"]).trim().to_owned()
}

fn read(root: &Path, path: &str) -> String {
    fs::read_to_string(root.join(path)).expect(path)
}

/// A workspace with one commit: `a.txt`, `b.txt`, `.gitignore` (`*.log`).
fn workspace(label: &str) -> TempDir {
    let repo = new_repo(label);
    write(repo.path(), "a.txt", "one\ntwo\nthree\n");
    write(repo.path(), "b.txt", "bee\n");
    write(repo.path(), ".gitignore", "*.log\n");
    git_commit_all(repo.path(), "first");
    repo
}

/// A session's worktree on `branch` with the given files written and committed.
fn session(repo: &Path, place: &TempDir, name: &str, branch: &str, files: &[(&str, &str)]) -> String {
    let worktree = place.join(name);
    add_worktree(repo, &worktree, branch).expect("add worktree");
    for (path, contents) in files {
        write(&worktree, path, contents);
    }
    commit_all(&worktree, "agent work", &agent(), &author()).expect("commit").expect("a commit")
}

#[test]
fn add_worktree_branches_from_head_and_checks_it_out() {
    let repo = workspace("wt-add");
    let place = TempDir::new("wt-add-place");
    let worktree = place.join("sessions/one");

    let base = add_worktree(repo.path(), &worktree, BRANCH).expect("add");

    assert_eq!(base, head(repo.path()));
    assert_eq!(git(&worktree, &["symbolic-ref", "HEAD"]).trim(), format!("refs/heads/{BRANCH}"));
    assert_eq!(head(&worktree), base);
    assert_eq!(read(&worktree, "a.txt"), "one\ntwo\nthree\n");
    assert_eq!(git(&worktree, &["status", "--porcelain"]), "");
    let listed = git(repo.path(), &["worktree", "list", "--porcelain"]);
    assert!(listed.contains(&format!("worktree {}\n", worktree.display())), "{listed}");
    assert!(listed.contains(&format!("branch refs/heads/{BRANCH}\n")), "{listed}");
    // The workspace itself is untouched.
    assert_eq!(git(repo.path(), &["symbolic-ref", "--short", "HEAD"]).trim(), "main");
    assert_eq!(porcelain_status(repo.path()), []);
}

#[test]
fn add_worktree_refuses_an_existing_branch_or_folder_and_a_repository_without_commits() {
    let repo = workspace("wt-add-errors");
    let place = TempDir::new("wt-add-errors-place");
    git(repo.path(), &["branch", BRANCH]);
    assert_eq!(code(add_worktree(repo.path(), &place.join("a"), BRANCH)), "git_branch_exists");
    assert!(!place.join("a").exists());

    fs::create_dir(place.join("taken")).expect("mkdir");
    assert_eq!(code(add_worktree(repo.path(), &place.join("taken"), "other")), "git_worktree_exists");
    assert_eq!(git_output(repo.path(), &["rev-parse", "--verify", "-q", "refs/heads/other"]).status.code(), Some(1));
    assert_eq!(code(add_worktree(repo.path(), Path::new("relative/x"), "other")), "git_invalid_argument");
    assert_eq!(code(add_worktree(repo.path(), &place.join("b"), "bad..name")), "git_invalid_branch_name");

    let empty = new_repo("wt-no-commits");
    let error = add_worktree(empty.path(), &place.join("c"), BRANCH).expect_err("no commits");
    assert_eq!((error.code(), error.class()), ("git_no_commits", dockyard_git::ErrorClass::Conflict));
    let not_repo = TempDir::new("wt-not-repo");
    assert_eq!(code(add_worktree(not_repo.path(), &place.join("d"), BRANCH)), "git_not_a_repository");
}

#[test]
fn remove_worktree_drops_a_dirty_worktree_and_its_branch_and_is_idempotent() {
    let repo = workspace("wt-remove");
    let place = TempDir::new("wt-remove-place");
    let worktree = place.join("one");
    add_worktree(repo.path(), &worktree, BRANCH).expect("add");
    write(&worktree, "a.txt", "changed\n");
    write(&worktree, "untracked/new.txt", "new\n");
    // A symbolic link out of the worktree is removed, not followed.
    let outside = TempDir::new("wt-remove-outside");
    write(outside.path(), "keep.txt", "keep\n");
    std::os::unix::fs::symlink(outside.path(), worktree.join("link")).expect("symlink");

    remove_worktree(repo.path(), &worktree, Some(BRANCH)).expect("remove");

    assert!(!worktree.exists());
    assert_eq!(read(outside.path(), "keep.txt"), "keep\n");
    assert_eq!(git(repo.path(), &["worktree", "list", "--porcelain"]).matches("worktree ").count(), 1);
    assert_eq!(git(repo.path(), &["branch", "--list", BRANCH]), "");
    assert!(!repo.join(".git/worktrees/one").exists());
    // Again: nothing left to do.
    remove_worktree(repo.path(), &worktree, Some(BRANCH)).expect("remove again");
    assert_eq!(porcelain_status(repo.path()), []);
}

#[test]
fn remove_worktree_prunes_one_whose_folder_is_already_gone() {
    let repo = workspace("wt-gone");
    let place = TempDir::new("wt-gone-place");
    let worktree = place.join("gone");
    add_worktree(repo.path(), &worktree, BRANCH).expect("add");
    fs::remove_dir_all(&worktree).expect("delete the folder");

    remove_worktree(repo.path(), &worktree, None).expect("remove");

    assert!(!repo.join(".git/worktrees/gone").exists());
    assert_eq!(git(repo.path(), &["worktree", "list", "--porcelain"]).matches("worktree ").count(), 1);
    // The branch was not named, so it stays; now it can go (it is no longer checked out).
    assert_eq!(git(repo.path(), &["branch", "--list", BRANCH]).trim(), BRANCH);
    remove_worktree(repo.path(), &worktree, Some(BRANCH)).expect("remove the branch");
    assert_eq!(git(repo.path(), &["branch", "--list", BRANCH]), "");
    // A name reused after removal gets a fresh worktree.
    add_worktree(repo.path(), &worktree, BRANCH).expect("add again");
    assert_eq!(head(&worktree), head(repo.path()));
}

#[test]
fn remove_worktree_leaves_a_folder_that_is_not_one_of_its_worktrees() {
    let repo = workspace("wt-foreign");
    let place = TempDir::new("wt-foreign-place");
    write(place.path(), "folder/file.txt", "mine\n");
    assert_eq!(code(remove_worktree(repo.path(), &place.join("folder"), None)), "git_not_a_worktree");
    assert_eq!(read(place.path(), "folder/file.txt"), "mine\n");
    // The workspace's own branch is refused.
    assert_eq!(code(remove_worktree(repo.path(), &place.join("none"), Some("main"))), "git_branch_checked_out");
}

#[test]
fn commit_all_records_untracked_modified_and_deleted_files_but_not_ignored_ones() {
    let repo = workspace("wt-commit-all");
    let place = TempDir::new("wt-commit-all-place");
    let worktree = place.join("one");
    let base = add_worktree(repo.path(), &worktree, BRANCH).expect("add");
    assert_eq!(commit_all(&worktree, "nothing", &agent(), &author()).expect("commit"), None);

    write(&worktree, "a.txt", "one\n2\nthree\n");
    fs::remove_file(worktree.join("b.txt")).expect("delete");
    write(&worktree, "new/deep/c.txt", "sea\n");
    write(&worktree, "debug.log", "ignored\n");
    let id = commit_all(&worktree, "\n\nagent: session 01abc  \n\n", &agent(), &author()).expect("commit").expect("id");

    assert_eq!(head(&worktree), id);
    assert_eq!(git(repo.path(), &["rev-parse", BRANCH]).trim(), id);
    assert_eq!(git(&worktree, &["rev-parse", "HEAD^"]).trim(), base);
    assert_eq!(
        git(&worktree, &["log", "-1", "--format=%an <%ae>|%cn <%ce>|%B"]),
        "Claude Code <agent@dockyard.invalid>|Dock Yard <dock@example.com>|agent: session 01abc\n\n"
    );
    assert_eq!(
        git(&worktree, &["diff-tree", "--no-commit-id", "--name-status", "-r", "HEAD"]),
        "M\ta.txt\nD\tb.txt\nA\tnew/deep/c.txt\n"
    );
    // Only the ignored file is left, and it is still there.
    assert_eq!(git(&worktree, &["status", "--porcelain", "--ignored"]), "!! debug.log\n");
    assert_eq!(commit_all(&worktree, "again", &agent(), &author()).expect("commit"), None);
    // The workspace did not move.
    assert_eq!(head(repo.path()), base);

    assert_eq!(code(commit_all(&worktree, "  ", &agent(), &author())), "git_empty_message");
    let nobody = Author { name: " ".into(), email: "x@y".into() };
    assert_eq!(code(commit_all(&worktree, "m", &nobody, &author())), "git_invalid_author");
}

#[test]
fn commit_all_refuses_a_worktree_file_pointing_at_an_unregistered_admin_folder() {
    let repo = workspace("wt-fake");
    let place = TempDir::new("wt-fake-place");
    let worktree = place.join("one");
    add_worktree(repo.path(), &worktree, BRANCH).expect("add");
    // A second folder claiming the same admin folder: the admin folder points back elsewhere.
    let impostor = place.join("impostor");
    fs::create_dir(&impostor).expect("mkdir");
    fs::copy(worktree.join(".git"), impostor.join(".git")).expect("copy .git file");
    write(&impostor, "x.txt", "x\n");
    assert_eq!(code(commit_all(&impostor, "m", &agent(), &author())), "git_unsafe_repository");
    assert_eq!(code(diff_range(&impostor, "HEAD", None)), "git_unsafe_repository");
    assert_eq!(git(repo.path(), &["rev-parse", BRANCH]).trim(), head(repo.path()));
}

#[test]
fn diff_range_compares_base_with_a_commit_and_with_the_work_tree() {
    let repo = workspace("wt-diff");
    let place = TempDir::new("wt-diff-place");
    let worktree = place.join("one");
    let base = add_worktree(repo.path(), &worktree, BRANCH).expect("add");
    write(&worktree, "a.txt", "one\n2\nthree\n");
    fs::remove_file(worktree.join("b.txt")).expect("delete");
    let committed = commit_all(&worktree, "work", &agent(), &author()).expect("commit").expect("id");
    write(&worktree, "later.txt", "later\n");
    write(&worktree, "skip.log", "ignored\n");

    let range = diff_range(&worktree, &base, Some(BRANCH)).expect("diff");
    assert_eq!(range.text, git(&worktree, &["diff", &base, &committed]));
    let summary: Vec<(&str, ChangeKind, usize, usize)> =
        range.files.iter().map(|file| (file.path.as_str(), file.change, file.additions, file.deletions)).collect();
    assert_eq!(summary, [("a.txt", ChangeKind::Modified, 1, 1), ("b.txt", ChangeKind::Deleted, 0, 1)]);
    assert!(!range.truncated);
    let hunk = &range.files[0].hunks[0];
    assert_eq!(hunk.header, "@@ -1,3 +1,3 @@");
    let lines: Vec<(&str, &str)> = hunk.lines.iter().map(|line| (line.kind, line.content.as_str())).collect();
    assert_eq!(lines, [("context", "one\n"), ("delete", "two\n"), ("add", "2\n"), ("context", "three\n")]);

    // To the work tree: the committed changes plus the untracked file, not the ignored one.
    let live = diff_range(&worktree, &base, None).expect("diff");
    let summary: Vec<(&str, ChangeKind)> = live.files.iter().map(|file| (file.path.as_str(), file.change)).collect();
    assert_eq!(
        summary,
        [("a.txt", ChangeKind::Modified), ("b.txt", ChangeKind::Deleted), ("later.txt", ChangeKind::Added)]
    );
    git(&worktree, &["add", "-N", "later.txt"]);
    assert_eq!(live.text, git(&worktree, &["diff", &base]));
    assert_eq!(live.files[2].hunks[0].lines[0].content, "later\n");

    // From the workspace too, and a base that is not a commit.
    assert_eq!(diff_range(repo.path(), &base, Some(BRANCH)).expect("diff").files.len(), 2);
    assert_eq!(code(diff_range(&worktree, "no-such-rev", None)), "git_revision_not_found");
}

#[test]
fn merge_branch_makes_a_merge_commit_even_when_it_could_fast_forward() {
    let repo = workspace("wt-merge");
    let place = TempDir::new("wt-merge-place");
    let base = head(repo.path());
    let files = [("a.txt", "one\n2\nthree\n"), ("new.txt", "new\n"), ("docs/agent.md", "agent\n")];
    session(repo.path(), &place, "one", BRANCH, &files);
    fs::remove_file(place.join("one/.gitignore")).expect("delete");
    let tip = commit_all(&place.join("one"), "delete", &agent(), &author()).expect("commit").expect("id");
    // Unrelated local changes (staged, untracked, untracked next to the agent's new file) survive the merge.
    write(repo.path(), "b.txt", "bee staged\n");
    git(repo.path(), &["add", "b.txt"]);
    write(repo.path(), "notes.txt", "mine\n");
    write(repo.path(), "docs/mine.md", "mine\n");

    let outcome = merge_branch(repo.path(), BRANCH, "Apply agent session 01abc", &author()).expect("merge");

    let merged = head(repo.path());
    assert_eq!(
        outcome,
        MergeOutcome::Merged {
            commit: merged.clone(),
            files: vec![".gitignore".into(), "a.txt".into(), "docs/agent.md".into(), "new.txt".into()]
        }
    );
    assert_eq!(git(repo.path(), &["rev-parse", "HEAD^1", "HEAD^2"]), format!("{base}\n{tip}\n"));
    assert_eq!(
        git(repo.path(), &["log", "-1", "--format=%an|%cn|%s"]),
        "Dock Yard|Dock Yard|Apply agent session 01abc\n"
    );
    assert_eq!(git(repo.path(), &["symbolic-ref", "--short", "HEAD"]).trim(), "main");
    assert_eq!(read(repo.path(), "a.txt"), "one\n2\nthree\n");
    assert_eq!(read(repo.path(), "new.txt"), "new\n");
    assert_eq!(read(repo.path(), "docs/agent.md"), "agent\n");
    assert!(!repo.join(".gitignore").exists());
    assert_eq!(
        porcelain_status(repo.path()),
        [
            ("??".into(), "docs/mine.md".into(), None),
            ("??".into(), "notes.txt".into(), None),
            ("M ".into(), "b.txt".into(), None)
        ]
    );
    assert!(!repo.join(".git/MERGE_HEAD").exists());

    // Merging it again: already there.
    assert_eq!(merge_branch(repo.path(), BRANCH, "again", &author()).expect("merge"), MergeOutcome::UpToDate);
    assert_eq!(head(repo.path()), merged);
}

#[test]
fn merge_branch_with_a_conflict_leaves_the_workspace_exactly_as_it_was() {
    let repo = workspace("wt-conflict");
    let place = TempDir::new("wt-conflict-place");
    session(repo.path(), &place, "one", BRANCH, &[("a.txt", "one\nagent\nthree\n"), ("c.txt", "clean\n")]);
    write(repo.path(), "a.txt", "one\nuser\nthree\n");
    let before_head = git_commit_all(repo.path(), "user edit");
    // Local changes, including one on the conflicting file's neighbour.
    write(repo.path(), "b.txt", "bee local\n");
    write(repo.path(), "untracked.txt", "u\n");
    let before_status = porcelain_status(repo.path());
    let before_index = git(repo.path(), &["ls-files", "-s"]);

    let outcome = merge_branch(repo.path(), BRANCH, "Apply", &author()).expect("merge");

    assert_eq!(outcome, MergeOutcome::Conflict { files: vec!["a.txt".into()] });
    assert_eq!(head(repo.path()), before_head);
    assert_eq!(porcelain_status(repo.path()), before_status);
    assert_eq!(git(repo.path(), &["ls-files", "-s"]), before_index);
    assert_eq!(read(repo.path(), "a.txt"), "one\nuser\nthree\n");
    assert_eq!(read(repo.path(), "b.txt"), "bee local\n");
    assert!(!repo.join("c.txt").exists());
    assert!(!repo.join(".git/MERGE_HEAD").exists());
    assert!(!repo.join(".git/MERGE_MSG").exists());
}

#[test]
fn merge_branch_is_blocked_by_local_changes_on_the_files_it_would_change() {
    let repo = workspace("wt-blocked");
    let place = TempDir::new("wt-blocked-place");
    session(
        repo.path(),
        &place,
        "one",
        BRANCH,
        &[
            ("a.txt", "one\nagent\nthree\n"),
            ("added.txt", "agent\n"),
            ("secret.log", "forced\n"),
            ("tools/x.sh", "x\n"),
        ],
    );
    // The agent forced an ignored file in; the workspace has its own copy.
    git(&place.join("one"), &["add", "-f", "secret.log"]);
    git(&place.join("one"), &["commit", "-q", "-m", "forced"]);
    let before_head = head(repo.path());
    write(repo.path(), "a.txt", "one\nuncommitted\nthree\n");
    write(repo.path(), "added.txt", "mine, untracked\n");
    write(repo.path(), "secret.log", "my secret\n");
    write(repo.path(), "b.txt", "unrelated\n");
    write(repo.path(), "tools", "a file where the agent made a folder\n");
    let before_status = porcelain_status(repo.path());

    let outcome = merge_branch(repo.path(), BRANCH, "Apply", &author()).expect("merge");

    assert_eq!(
        outcome,
        MergeOutcome::Blocked { files: vec!["a.txt".into(), "added.txt".into(), "secret.log".into(), "tools".into()] }
    );
    assert_eq!(head(repo.path()), before_head);
    assert_eq!(porcelain_status(repo.path()), before_status);
    assert_eq!(read(repo.path(), "a.txt"), "one\nuncommitted\nthree\n");
    assert_eq!(read(repo.path(), "added.txt"), "mine, untracked\n");
    assert_eq!(read(repo.path(), "secret.log"), "my secret\n");

    // Once the local changes in the way are gone, it merges; the unrelated one stays.
    fs::remove_file(repo.join("added.txt")).expect("rm");
    fs::remove_file(repo.join("secret.log")).expect("rm");
    fs::remove_file(repo.join("tools")).expect("rm");
    git(repo.path(), &["checkout", "--", "a.txt"]);
    let outcome = merge_branch(repo.path(), BRANCH, "Apply", &author()).expect("merge");
    assert!(matches!(outcome, MergeOutcome::Merged { .. }), "{outcome:?}");
    assert_eq!(read(repo.path(), "b.txt"), "unrelated\n");
}

#[test]
fn two_sessions_merge_one_after_the_other() {
    let repo = workspace("wt-two");
    let place = TempDir::new("wt-two-place");
    let base = head(repo.path());
    let first_tip = session(repo.path(), &place, "one", "dockyard/agent/one", &[("a.txt", "one\nfirst\nthree\n")]);
    let second_tip = session(repo.path(), &place, "two", "dockyard/agent/two", &[("b.txt", "second\n")]);
    let third_tip = session(repo.path(), &place, "three", "dockyard/agent/three", &[("a.txt", "third\n")]);

    let first = merge_branch(repo.path(), "dockyard/agent/one", "Apply one", &author()).expect("merge one");
    let second = merge_branch(repo.path(), "dockyard/agent/two", "Apply two", &author()).expect("merge two");
    let third = merge_branch(repo.path(), "dockyard/agent/three", "Apply three", &author()).expect("merge three");

    let MergeOutcome::Merged { commit: first_commit, files: first_files } = first else { panic!("{first:?}") };
    let MergeOutcome::Merged { commit: second_commit, files: second_files } = second else { panic!("{second:?}") };
    assert_eq!((first_files, second_files), (vec!["a.txt".to_owned()], vec!["b.txt".to_owned()]));
    assert_eq!(
        git(repo.path(), &["rev-parse", &format!("{first_commit}^1"), &format!("{first_commit}^2")]),
        format!("{base}\n{first_tip}\n")
    );
    assert_eq!(
        git(repo.path(), &["rev-parse", &format!("{second_commit}^1"), &format!("{second_commit}^2")]),
        format!("{first_commit}\n{second_tip}\n")
    );
    assert_eq!(third, MergeOutcome::Conflict { files: vec!["a.txt".into()] });
    assert_eq!(head(repo.path()), second_commit);
    assert_eq!(
        (read(repo.path(), "a.txt"), read(repo.path(), "b.txt")),
        ("one\nfirst\nthree\n".into(), "second\n".into())
    );
    assert_eq!(porcelain_status(repo.path()), []);
    assert_eq!(git(repo.path(), &["rev-parse", "dockyard/agent/three"]).trim(), third_tip);

    // Discarding the sessions afterwards.
    for (name, branch) in
        [("one", "dockyard/agent/one"), ("two", "dockyard/agent/two"), ("three", "dockyard/agent/three")]
    {
        remove_worktree(repo.path(), &place.join(name), Some(branch)).expect("remove");
    }
    assert_eq!(git(repo.path(), &["branch", "--format=%(refname:short)"]), "main\n");
}

#[test]
fn merge_branch_refuses_detached_heads_unborn_branches_and_unknown_branches() {
    let repo = workspace("wt-merge-errors");
    assert_eq!(code(merge_branch(repo.path(), "nope", "m", &author())), "git_branch_not_found");
    assert_eq!(code(merge_branch(repo.path(), "main", " ", &author())), "git_empty_message");
    git(repo.path(), &["branch", "side"]);
    git(repo.path(), &["checkout", "-q", "--detach"]);
    assert_eq!(code(merge_branch(repo.path(), "side", "m", &author())), "git_detached_head");

    let empty = new_repo("wt-merge-unborn");
    assert_eq!(code(merge_branch(empty.path(), "side", "m", &author())), "git_no_commits");
}
