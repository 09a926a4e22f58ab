//! Clone, fetch, pull and push over HTTPS against the crate's smart-HTTP test
//! server (`git http-backend`), checked with the git CLI on the bare repository.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use dockyard_git::testserver::{GitHttpServer, ServerOptions};
use dockyard_git::{
    CloneOptions, Credential, GitUrl, NetworkPolicy, TransferProgress, clone, commit, fetch, pull, push, status,
};

use crate::support::{TempDir, author, commit_all, git, strings, write};

/// A bare repository `app.git` (three commits on `main`, one more on `dev`)
/// served over HTTPS.
struct Fixture {
    repos: TempDir,
    server: GitHttpServer,
    policy: NetworkPolicy,
    main_head: String,
    dev_head: String,
}

impl Fixture {
    fn new(basic_auth: Option<(&str, &str)>) -> Fixture {
        Fixture::with_options(ServerOptions {
            tls: true,
            basic_auth: basic_auth.map(|(user, password)| (user.to_owned(), password.to_owned())),
            ..ServerOptions::default()
        })
    }

    fn with_options(options: ServerOptions) -> Fixture {
        let repos = TempDir::new("served");
        let seed = TempDir::new("seed");
        git(seed.path(), &["init", "-q"]);
        for n in 1..=3 {
            write(seed.path(), "README.md", format!("version {n}\n"));
            write(seed.path(), &format!("src/file{n}.txt"), format!("file {n}\n"));
            commit_all(seed.path(), &format!("commit {n}"));
        }
        let main_head = git(seed.path(), &["rev-parse", "HEAD"]).trim().to_owned();
        git(seed.path(), &["checkout", "-q", "-b", "dev"]);
        write(seed.path(), "dev.txt", "dev\n");
        let dev_head = commit_all(seed.path(), "dev work");
        git(repos.path(), &["init", "-q", "--bare", "app.git"]);
        git(seed.path(), &["push", "-q", repos.join("app.git").to_str().expect("utf-8"), "main", "dev"]);
        let tls = options.tls;
        let server = GitHttpServer::start(repos.path(), options).expect("start the git server");
        let policy = NetworkPolicy {
            allow_private: true,
            allow_http: !tls,
            extra_ca_file: tls.then(|| server.ca_pem_path().to_owned()),
            timeout: Duration::from_secs(60),
            ..NetworkPolicy::default()
        };
        Fixture { repos, server, policy, main_head, dev_head }
    }

    fn url(&self) -> GitUrl {
        GitUrl::parse(&self.server.url("app.git"), &self.policy).expect("server url")
    }

    fn bare(&self) -> PathBuf {
        self.repos.join("app.git")
    }

    /// `git log -1 --format=%H <branch>` on the served bare repository.
    fn served_head(&self, branch: &str) -> String {
        git(self.repos.path(), &["--git-dir", self.bare().to_str().expect("utf-8"), "log", "-1", "--format=%H", branch])
            .trim()
            .to_owned()
    }

    /// A full clone of the served repository in a new folder (ours).
    fn clone_full(&self, credential: Option<&Credential>) -> TempDir {
        let dir = TempDir::new("work");
        let dest = dir.join("repo");
        clone(
            &self.url(),
            &dest,
            CloneOptions { depth: None, ..CloneOptions::default() },
            credential,
            &self.policy,
            &mut |_| {},
        )
        .expect("clone");
        dir
    }

    /// Another developer: commits to `main` and pushes straight to the bare repository.
    fn push_from_elsewhere(&self, file: &str, contents: &str) -> String {
        let other = TempDir::new("other");
        git(other.path(), &["clone", "-q", self.bare().to_str().expect("utf-8"), "."]);
        write(other.path(), file, contents);
        let id = commit_all(other.path(), &format!("elsewhere: {file}"));
        git(other.path(), &["push", "-q", "origin", "main"]);
        id
    }
}

fn code<T: std::fmt::Debug>(result: Result<T, dockyard_git::GitError>) -> &'static str {
    result.expect_err("expected an error").code()
}

/// Every file under `root`, read whole.
fn all_file_contents(root: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files = Vec::new();
    let mut pending = vec![root.to_owned()];
    while let Some(dir) = pending.pop() {
        for entry in fs::read_dir(&dir).expect("read dir") {
            let entry = entry.expect("entry");
            let kind = entry.file_type().expect("file type");
            if kind.is_dir() {
                pending.push(entry.path());
            } else if kind.is_file() {
                files.push((entry.path(), fs::read(entry.path()).expect("read")));
            }
        }
    }
    files
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|window| window == needle.as_bytes())
}

#[test]
fn clone_over_https_is_shallow_by_default_and_reports_progress() {
    let fixture = Fixture::new(None);
    let dir = TempDir::new("clone");
    let dest = dir.join("shallow");
    let mut events: Vec<TransferProgress> = Vec::new();
    clone(&fixture.url(), &dest, CloneOptions::default(), None, &fixture.policy, &mut |progress| events.push(progress))
        .expect("clone");
    assert_eq!(git(&dest, &["rev-list", "--count", "HEAD"]).trim(), "1");
    assert_eq!(git(&dest, &["rev-parse", "HEAD"]).trim(), fixture.main_head);
    assert_eq!(git(&dest, &["rev-parse", "--abbrev-ref", "HEAD"]).trim(), "main");
    assert_eq!(git(&dest, &["config", "--get", "remote.origin.url"]).trim(), fixture.server.url("app.git"));
    assert_eq!(fs::read_to_string(dest.join("README.md")).expect("read"), "version 3\n");
    let last = events.last().expect("progress was reported");
    assert!(last.total_objects > 0 && last.objects == last.total_objects, "{events:?}");

    // The whole history, and a named branch.
    let full = dir.join("full");
    clone(
        &fixture.url(),
        &full,
        CloneOptions { depth: None, ..CloneOptions::default() },
        None,
        &fixture.policy,
        &mut |_| {},
    )
    .expect("full clone");
    assert_eq!(git(&full, &["rev-list", "--count", "HEAD"]).trim(), "3");
    let dev = dir.join("dev");
    clone(
        &fixture.url(),
        &dev,
        CloneOptions { branch: Some("dev"), ..CloneOptions::default() },
        None,
        &fixture.policy,
        &mut |_| {},
    )
    .expect("branch clone");
    assert_eq!(git(&dev, &["rev-parse", "--abbrev-ref", "HEAD"]).trim(), "dev");
    assert_eq!(git(&dev, &["rev-parse", "HEAD"]).trim(), fixture.dev_head);

    // Our status sees the clone's upstream.
    let dev_status = status(&dev).expect("status");
    assert_eq!(dev_status.upstream.as_deref(), Some("origin/dev"));
    assert_eq!((dev_status.ahead, dev_status.behind), (0, 0));
}

#[test]
fn failed_clones_have_codes_and_leave_nothing_behind() {
    let fixture = Fixture::new(None);
    let dir = TempDir::new("clone-fail");
    let missing_branch = CloneOptions { branch: Some("no-such-branch"), ..CloneOptions::default() };
    assert_eq!(
        code(clone(&fixture.url(), &dir.join("a"), missing_branch, None, &fixture.policy, &mut |_| {})),
        "git_branch_not_found"
    );
    assert!(!dir.join("a").exists());

    let missing_repo = GitUrl::parse(&fixture.server.url("nope.git"), &fixture.policy).expect("url");
    let error = clone(&missing_repo, &dir.join("b"), CloneOptions::default(), None, &fixture.policy, &mut |_| {})
        .expect_err("fails");
    assert_eq!(error.code(), "git_remote_repository_not_found", "{error}");
    assert!(!dir.join("b").exists());

    // An existing empty folder is fine to clone into and is left empty on failure.
    fs::create_dir(dir.join("empty")).expect("mkdir");
    assert_eq!(
        code(clone(&missing_repo, &dir.join("empty"), CloneOptions::default(), None, &fixture.policy, &mut |_| {})),
        "git_remote_repository_not_found"
    );
    assert!(dir.join("empty").is_dir() && fs::read_dir(dir.join("empty")).expect("read").next().is_none());
    write(&dir.join("full"), "keep.txt", "mine\n");
    assert_eq!(
        code(clone(&fixture.url(), &dir.join("full"), CloneOptions::default(), None, &fixture.policy, &mut |_| {})),
        "git_destination_not_empty"
    );
    assert_eq!(fs::read_to_string(dir.join("full/keep.txt")).expect("kept"), "mine\n");
    assert_eq!(
        code(clone(
            &fixture.url(),
            &dir.join("c"),
            CloneOptions { depth: Some(0), ..CloneOptions::default() },
            None,
            &fixture.policy,
            &mut |_| {}
        )),
        "git_invalid_argument"
    );

    // Without the test CA, the certificate is not trusted.
    let no_ca = NetworkPolicy { extra_ca_file: None, ..fixture.policy.clone() };
    assert_eq!(
        code(clone(&fixture.url(), &dir.join("d"), CloneOptions::default(), None, &no_ca, &mut |_| {})),
        "git_tls"
    );
}

/// A clone with a size limit is stopped while it downloads, once its folder
/// grows past the limit, and leaves nothing behind; a clone that ends under
/// the limit is kept, and one that ends over it is refused all the same. A
/// fetch past its limit, or out of time, leaves no unfinished pack.
#[test]
fn a_clone_past_its_size_limit_is_stopped_while_it_downloads() {
    const MIB: u64 = 1024 * 1024;
    let fixture = Fixture::new(None);
    // 8 MiB that does not compress, in 128 files (over git's unpack limit of
    // 100 objects, so a fetch keeps what it receives as a pack), served at
    // 1 MiB/s: the whole download would take about 8 s.
    let seed = TempDir::new("big-seed");
    git(seed.path(), &["init", "-q"]);
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    for n in 0..128 {
        let mut bytes = Vec::with_capacity(64 * 1024);
        while bytes.len() < 64 * 1024 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            bytes.extend_from_slice(&state.to_le_bytes());
        }
        write(seed.path(), &format!("blob{n}.bin"), bytes);
    }
    commit_all(seed.path(), "big");
    git(fixture.repos.path(), &["init", "-q", "--bare", "big.git"]);
    git(seed.path(), &["push", "-q", fixture.repos.join("big.git").to_str().expect("utf-8"), "main"]);
    let slow = GitHttpServer::start(
        fixture.repos.path(),
        ServerOptions { tls: false, bytes_per_second: Some(MIB), ..ServerOptions::default() },
    )
    .expect("start the slow git server");
    let policy = NetworkPolicy { allow_http: true, extra_ca_file: None, ..fixture.policy.clone() };
    let url = GitUrl::parse(&slow.url("big.git"), &policy).expect("url");

    let dir = TempDir::new("limit");
    let dest = dir.join("big");
    let mut events: Vec<TransferProgress> = Vec::new();
    let limited = CloneOptions { max_bytes: Some(MIB), ..CloneOptions::default() };
    let error = clone(&url, &dest, limited, None, &policy, &mut |progress| events.push(progress)).expect_err("refused");
    assert_eq!(error.code(), "git_too_large", "{error}");
    assert!(!dest.exists(), "the stopped clone left its folder behind");
    let last = events.last().expect("objects were arriving");
    assert!(last.objects < last.total_objects, "the clone was stopped only once it was complete: {events:?}");

    // Under the limit, the clone is kept; over it once git is done, it is not.
    let roomy = CloneOptions { max_bytes: Some(64 * MIB), ..CloneOptions::default() };
    clone(&fixture.url(), &dir.join("small"), roomy, None, &fixture.policy, &mut |_| {})
        .expect("clone under the limit");
    assert_eq!(git(&dir.join("small"), &["rev-parse", "HEAD"]).trim(), fixture.main_head);
    let tiny = CloneOptions { max_bytes: Some(1), ..CloneOptions::default() };
    assert_eq!(
        code(clone(&fixture.url(), &dir.join("tiny"), tiny, None, &fixture.policy, &mut |_| {})),
        "git_too_large"
    );
    assert!(!dir.join("tiny").exists());

    // A fetch is held to a limit on the whole folder the same way, and leaves no
    // half-received pack behind; nor does one that runs out of time.
    let work = dir.join("work");
    fs::create_dir(&work).expect("mkdir");
    git(&work, &["init", "-q"]);
    git(&work, &["remote", "add", "origin", &slow.url("big.git")]);
    assert_eq!(code(fetch(&work, "origin", None, &policy, Some(MIB))), "git_too_large");
    assert_eq!(unfinished_packs(&work), Vec::<String>::new());
    let impatient = NetworkPolicy { timeout: Duration::from_secs(3), ..policy.clone() };
    assert_eq!(code(fetch(&work, "origin", None, &impatient, None)), "git_timeout");
    assert_eq!(unfinished_packs(&work), Vec::<String>::new());
    assert_eq!(git(&work, &["for-each-ref"]), "", "nothing was fetched");
}

/// The `tmp_*` files in a repository's pack folder: packs git did not finish.
fn unfinished_packs(root: &Path) -> Vec<String> {
    fs::read_dir(root.join(".git/objects/pack"))
        .map(|entries| {
            entries
                .flatten()
                .map(|entry| entry.file_name().to_string_lossy().into_owned())
                .filter(|name| name.starts_with("tmp_"))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn a_host_name_is_resolved_checked_and_pinned() {
    let fixture = Fixture::new(None);
    let by_name = fixture.server.url("app.git").replace("127.0.0.1", "localhost");
    let url = GitUrl::parse(&by_name, &fixture.policy).expect("url");
    let dir = TempDir::new("by-name");
    clone(&url, &dir.join("repo"), CloneOptions::default(), None, &fixture.policy, &mut |_| {}).expect("clone by name");
    assert_eq!(git(&dir.join("repo"), &["rev-parse", "HEAD"]).trim(), fixture.main_head);

    // The same name is refused when private addresses are not allowed.
    let strict = NetworkPolicy { allow_private: false, ..fixture.policy.clone() };
    let url = GitUrl::parse(&by_name, &strict).expect("a name parses");
    assert_eq!(
        code(clone(&url, &dir.join("refused"), CloneOptions::default(), None, &strict, &mut |_| {})),
        "git_forbidden_address"
    );
}

#[test]
fn a_private_repository_needs_the_token_which_is_never_stored_or_shown() {
    let token = "tok-3c1a9f0e7b2d4e6a";
    let fixture = Fixture::new(Some(("bot", token)));
    let dir = TempDir::new("private");
    let good = Credential { username: "bot".into(), token: token.into() };
    let wrong = Credential { username: "bot".into(), token: "wrong-token-5e8d".into() };

    let error = clone(&fixture.url(), &dir.join("a"), CloneOptions::default(), None, &fixture.policy, &mut |_| {})
        .expect_err("no token");
    assert_eq!(error.code(), "git_auth_failed", "{error}");
    let error =
        clone(&fixture.url(), &dir.join("b"), CloneOptions::default(), Some(&wrong), &fixture.policy, &mut |_| {})
            .expect_err("wrong");
    assert_eq!(error.code(), "git_auth_failed");
    assert!(!format!("{error} {error:?}").contains("wrong-token-5e8d"));

    let dest = dir.join("c");
    clone(
        &fixture.url(),
        &dest,
        CloneOptions { depth: None, ..CloneOptions::default() },
        Some(&good),
        &fixture.policy,
        &mut |_| {},
    )
    .expect("clone with the token");
    assert_eq!(git(&dest, &["rev-parse", "HEAD"]).trim(), fixture.main_head);

    // A later fetch, pull and push with the token work too.
    fixture.push_from_elsewhere("remote.txt", "r\n");
    fetch(&dest, "origin", Some(&good), &fixture.policy, None).expect("fetch");
    pull(&dest, "origin", None, Some(&good), &fixture.policy, None).expect("pull");
    write(&dest, "mine.txt", "m\n");
    commit(&dest, "mine", Some(&strings(&["mine.txt"])), &author()).expect("commit");
    push(&dest, "origin", "main", false, Some(&good), &fixture.policy).expect("push");
    assert_eq!(fixture.served_head("main"), git(&dest, &["rev-parse", "HEAD"]).trim());
    let error =
        pull(&dest, "origin", Some("no-such-branch"), Some(&good), &fixture.policy, None).expect_err("missing branch");
    assert_eq!(error.code(), "git_branch_not_found");
    assert!(!format!("{error} {error:?}").contains(token));

    // The token is nowhere in the work tree or .git, in any encoding.
    let encoded = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(format!("bot:{token}"))
    };
    for (path, contents) in all_file_contents(&dest) {
        for needle in [token, encoded.as_str()] {
            assert!(!contains(&contents, needle), "{} contains the credential", path.display());
        }
    }
    assert_eq!(git(&dest, &["config", "--get", "remote.origin.url"]).trim(), fixture.server.url("app.git"));
}

#[test]
fn fetch_and_pull_fast_forward_then_refuse_to_merge_diverged_branches() {
    let fixture = Fixture::new(None);
    let work = fixture.clone_full(None);
    let root = work.join("repo");
    let before = git(&root, &["rev-parse", "HEAD"]).trim().to_owned();

    let upstream_commit = fixture.push_from_elsewhere("news.txt", "fresh\n");
    fetch(&root, "origin", None, &fixture.policy, None).expect("fetch");
    assert_eq!(git(&root, &["rev-parse", "origin/main"]).trim(), upstream_commit);
    assert_eq!(git(&root, &["rev-parse", "HEAD"]).trim(), before, "fetch does not move the branch");
    let behind = status(&root).expect("status");
    assert_eq!((behind.ahead, behind.behind), (0, 1));

    let outcome = pull(&root, "origin", None, None, &fixture.policy, None).expect("pull");
    assert!(outcome.updated);
    assert_eq!(outcome.head, upstream_commit);
    assert_eq!(git(&root, &["rev-parse", "HEAD"]).trim(), upstream_commit);
    assert_eq!(fs::read_to_string(root.join("news.txt")).expect("pulled file"), "fresh\n");
    assert_eq!(git(&root, &["status", "--porcelain"]), "");
    let again = pull(&root, "origin", None, None, &fixture.policy, None).expect("pull again");
    assert!(!again.updated);

    // Both sides move on: a fast-forward is impossible.
    fixture.push_from_elsewhere("theirs.txt", "theirs\n");
    write(&root, "ours.txt", "ours\n");
    let ours = commit(&root, "ours", Some(&strings(&["ours.txt"])), &author()).expect("commit");
    assert_eq!(code(pull(&root, "origin", None, None, &fixture.policy, None)), "git_diverged");
    assert_eq!(git(&root, &["rev-parse", "HEAD"]).trim(), ours);
    assert!(!root.join("theirs.txt").exists());
    let diverged = status(&root).expect("status");
    assert_eq!((diverged.ahead, diverged.behind), (1, 1));

    assert_eq!(code(fetch(&root, "no-such-remote", None, &fixture.policy, None)), "git_remote_not_found");
}

#[test]
fn push_is_accepted_then_rejected_when_not_a_fast_forward() {
    let fixture = Fixture::new(None);
    let work = fixture.clone_full(None);
    let root = work.join("repo");

    write(&root, "feature.txt", "one\n");
    let pushed = commit(&root, "feature", Some(&strings(&["feature.txt"])), &author()).expect("commit");
    push(&root, "origin", "main", false, None, &fixture.policy).expect("push");
    assert_eq!(fixture.served_head("main"), pushed);
    assert_eq!(git(&root, &["rev-parse", "origin/main"]).trim(), pushed);
    assert_eq!(status(&root).expect("status").ahead, 0);

    // A new branch, pushed with an upstream.
    dockyard_git::create_branch(&root, "topic", None).expect("branch");
    push(&root, "origin", "topic", true, None, &fixture.policy).expect("push topic");
    assert_eq!(fixture.served_head("topic"), pushed);
    assert_eq!(git(&root, &["rev-parse", "--abbrev-ref", "topic@{upstream}"]).trim(), "origin/topic");

    // Someone else pushes first: ours is not a fast-forward any more.
    let theirs = fixture.push_from_elsewhere("other.txt", "x\n");
    write(&root, "feature.txt", "two\n");
    commit(&root, "more", Some(&strings(&["feature.txt"])), &author()).expect("commit");
    assert_eq!(code(push(&root, "origin", "main", false, None, &fixture.policy)), "git_non_fast_forward");
    assert_eq!(fixture.served_head("main"), theirs);
    assert_eq!(code(push(&root, "origin", "no-such-branch", false, None, &fixture.policy)), "git_branch_not_found");
}

#[test]
fn a_repository_whose_config_could_redirect_git_is_refused() {
    let fixture = Fixture::new(None);
    let work = fixture.clone_full(None);
    let root = work.join("repo");
    for (key, value) in [
        ("url.https://attacker.example/.insteadOf", "https://127.0.0.1"),
        ("http.proxy", "http://10.0.0.1:3128"),
        ("include.path", "/tmp/elsewhere"),
        ("remote.origin.proxy", "http://10.0.0.1:3128"),
    ] {
        git(&root, &["config", key, value]);
        let error = fetch(&root, "origin", None, &fixture.policy, None).expect_err("refused");
        assert_eq!(error.code(), "git_unsafe_config", "{key}");
        git(&root, &["config", "--unset", key]);
    }
    fetch(&root, "origin", None, &fixture.policy, None).expect("a clean config fetches");

    // A remote URL changed behind our back is validated like any other.
    git(&root, &["remote", "set-url", "origin", "file:///etc"]);
    assert_eq!(code(fetch(&root, "origin", None, &fixture.policy, None)), "git_invalid_url");
}

#[test]
fn a_hanging_server_times_out_and_git_is_killed() {
    // Accepts TCP connections (the kernel does) but never answers the TLS handshake.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = silent.local_addr().expect("addr").port();
    let policy = NetworkPolicy { allow_private: true, timeout: Duration::from_secs(2), ..NetworkPolicy::default() };
    let url = GitUrl::parse(&format!("https://127.0.0.1:{port}/app.git"), &policy).expect("url");
    let dir = TempDir::new("timeout");
    let started = Instant::now();
    let error =
        clone(&url, &dir.join("repo"), CloneOptions::default(), None, &policy, &mut |_| {}).expect_err("times out");
    assert_eq!(error.code(), "git_timeout");
    assert!(started.elapsed() < Duration::from_secs(20), "{:?}", started.elapsed());
    assert!(!dir.join("repo").exists());
    drop(silent);
}

#[test]
fn plain_http_works_only_when_allowed() {
    let fixture = Fixture::with_options(ServerOptions { tls: false, ..ServerOptions::default() });
    let http_url = fixture.server.url("app.git");
    assert!(http_url.starts_with("http://"));
    let strict = NetworkPolicy { allow_http: false, ..fixture.policy.clone() };
    assert_eq!(GitUrl::parse(&http_url, &strict).map_err(|error| error.code()).err(), Some("git_invalid_url"));
    let dir = TempDir::new("http");
    clone(&fixture.url(), &dir.join("repo"), CloneOptions::default(), None, &fixture.policy, &mut |_| {})
        .expect("http clone");
    assert_eq!(git(&dir.join("repo"), &["rev-parse", "HEAD"]).trim(), fixture.main_head);
}
