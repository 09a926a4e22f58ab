//! URL validation and the SSRF guard, which refuse before git is ever started.

use std::path::PathBuf;
use std::time::Duration;

use dockyard_git::{CloneOptions, GitUrl, NetworkPolicy, clone};

use crate::support::TempDir;

/// A policy whose git does not exist: reaching git would fail with `git_unavailable`.
fn no_git_policy() -> NetworkPolicy {
    NetworkPolicy {
        git_binary: PathBuf::from("/nonexistent/dockyard-test/git"),
        timeout: Duration::from_secs(10),
        ..NetworkPolicy::default()
    }
}

#[test]
fn url_parsing_accepts_https_and_refuses_the_rest_with_the_right_code() {
    let strict = NetworkPolicy::default();
    let with_http = NetworkPolicy { allow_http: true, ..NetworkPolicy::default() };
    let cases: [(&str, &NetworkPolicy, Result<&str, &str>); 25] = [
        ("https://github.com/rust-lang/rust.git", &strict, Ok("https://github.com/rust-lang/rust.git")),
        (
            "https://GitLab.example.com:8443/group/sub/project",
            &strict,
            Ok("https://gitlab.example.com:8443/group/sub/project"),
        ),
        ("http://git.example.com/x.git", &with_http, Ok("http://git.example.com/x.git")),
        ("https://user:token@github.com/x.git", &strict, Err("git_url_has_credentials")),
        ("https://token@github.com/x.git", &strict, Err("git_url_has_credentials")),
        ("http://user:pw@git.example.com/x.git", &strict, Err("git_url_has_credentials")),
        ("http://git.example.com/x.git", &strict, Err("git_invalid_url")),
        ("ssh://git@github.com/x.git", &strict, Err("git_invalid_url")),
        ("git@github.com:org/x.git", &strict, Err("git_invalid_url")),
        ("git://github.com/x.git", &strict, Err("git_invalid_url")),
        ("file:///etc/passwd", &strict, Err("git_invalid_url")),
        ("ext::sh -c touch% /tmp/pwned", &strict, Err("git_invalid_url")),
        ("-oProxyCommand=touch /tmp/pwned", &strict, Err("git_invalid_url")),
        ("--upload-pack=touch", &strict, Err("git_invalid_url")),
        ("https://github.com/x .git", &strict, Err("git_invalid_url")),
        ("https://github.com/x.git\n", &strict, Err("git_invalid_url")),
        ("https://github.com/x\t.git", &strict, Err("git_invalid_url")),
        ("https://github.com/x.git?ref=main", &strict, Err("git_invalid_url")),
        ("https://github.com/x.git#main", &strict, Err("git_invalid_url")),
        ("https:///x.git", &strict, Err("git_invalid_url")),
        ("", &strict, Err("git_invalid_url")),
        ("https://127.0.0.1/x.git", &strict, Err("git_forbidden_address")),
        // Other spellings of loopback are normalized first.
        ("https://2130706433/x.git", &strict, Err("git_forbidden_address")),
        ("https://0x7f.0.0.1/x.git", &strict, Err("git_forbidden_address")),
        ("https://[0:0:0:0:0:ffff:7f00:1]/x.git", &strict, Err("git_forbidden_address")),
    ];
    for (input, policy, expected) in cases {
        let got = GitUrl::parse(input, policy).map(|url| url.to_string()).map_err(|error| error.code());
        assert_eq!(got.as_deref().map_err(|code| *code), expected, "{input:?}");
    }
    let long = format!("https://example.com/{}", "a".repeat(2100));
    assert_eq!(GitUrl::parse(&long, &strict).map_err(|error| error.code()), Err("git_invalid_url"));
}

#[test]
fn credentials_in_a_url_get_an_explanation() {
    let error = GitUrl::parse("https://me:tok@example.com/x.git", &NetworkPolicy::default()).expect_err("refused");
    assert_eq!(error.to_string(), "the URL contains credentials; give the token separately");
    assert!(!error.to_string().contains("tok@"));
}

#[test]
fn clones_to_private_addresses_are_refused_without_starting_git() {
    let policy = no_git_policy();
    let with_private = NetworkPolicy { allow_private: true, ..no_git_policy() };
    for input in [
        "https://127.0.0.1:9/x.git",
        "https://localhost/x.git",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/x.git",
        "https://10.0.0.1/x.git",
        "https://[::ffff:127.0.0.1]/x.git",
        "https://0.0.0.0/x.git",
    ] {
        let dest = TempDir::new("ssrf");
        // Literal addresses are refused when parsed; names when resolved, before git runs.
        let result = GitUrl::parse(input, &with_private)
            .and_then(|url| clone(&url, &dest.join("clone"), CloneOptions::default(), None, &policy, &mut |_| {}));
        let code = match GitUrl::parse(input, &policy) {
            Err(error) => error.code(),
            Ok(_) => result.expect_err("refused").code(),
        };
        assert_eq!(code, "git_forbidden_address", "{input}");
        assert!(!dest.join("clone").exists(), "{input}: nothing is created");
    }

    // With private addresses allowed, the check passes and git is reached (here: missing).
    let url = GitUrl::parse("https://localhost/x.git", &with_private).expect("valid");
    let dest = TempDir::new("ssrf-allowed");
    let error = clone(&url, &dest.join("clone"), CloneOptions::default(), None, &with_private, &mut |_| {})
        .expect_err("no git");
    assert_eq!(error.code(), "git_unavailable");
}

#[test]
fn an_unresolvable_host_is_a_network_error() {
    let url = GitUrl::parse("https://does-not-exist.invalid/x.git", &NetworkPolicy::default()).expect("valid");
    let dest = TempDir::new("nxdomain");
    let error = clone(&url, &dest.join("clone"), CloneOptions::default(), None, &no_git_policy(), &mut |_| {})
        .expect_err("fails");
    assert_eq!(error.code(), "git_network");
}
