//! The quick-open file index through the real binary, checked against
//! `rg --files` on the same generated tree (with and without hidden and ignored
//! files). Without `rg`, the comparison fails under `CI=true` and otherwise says
//! why it skipped.

use std::path::Path;
use std::process::Command;

use serde_json::json;

use crate::support::{project, put_file, spawn_app, workspace_dir};

/// A tree with nesting, a `.gitignore` (a folder, a glob, a negation), a nested
/// `.gitignore`, hidden files and folders, names with spaces and Unicode, and a
/// `.git` folder.
fn generate(root: &Path) {
    let mut files: Vec<String> = Vec::new();
    for dir in 0..20 {
        for file in 0..15 {
            files.push(format!("src/module_{dir}/sub_{}/file_{file}.rs", file % 3));
        }
    }
    files.extend(
        [
            "README.md",
            "Cargo.toml",
            "docs/guide with spaces.md",
            "docs/ünïcode-名前.txt",
            "target/debug/app",
            "target/release/app",
            "logs/a.log",
            "logs/keep.log",
            "nested/.gitignore",
            "nested/generated.txt",
            "nested/kept.txt",
            ".env",
            ".github/workflows/ci.yml",
            "src/.hidden_module/mod.rs",
            ".git/HEAD",
            ".git/config",
            ".git/objects/aa/bbbb",
        ]
        .map(str::to_owned),
    );
    for file in &files {
        let path = root.join(file);
        std::fs::create_dir_all(path.parent().expect("a parent")).expect("mkdir");
        std::fs::write(&path, format!("// {file}\n")).expect("write");
    }
    std::fs::write(root.join(".gitignore"), "target/\n*.log\n!keep.log\n").expect(".gitignore");
    std::fs::write(root.join("nested/.gitignore"), "generated.txt\n").expect("nested .gitignore");
}

/// `rg --files` in `root` with the given extra flags, sorted. `None` without rg.
fn rg_files(root: &Path, extra: &[&str]) -> Option<Vec<String>> {
    let output = Command::new("rg")
        .args(["--files", "--no-require-git", "--no-ignore-parent", "--no-config", "--no-ignore-global"])
        .args(extra)
        .current_dir(root)
        .env_remove("RIPGREP_CONFIG_PATH")
        .output()
        .ok()?;
    assert!(output.status.success(), "rg failed: {}", String::from_utf8_lossy(&output.stderr));
    let mut paths: Vec<String> = String::from_utf8(output.stdout)
        .expect("UTF-8")
        .lines()
        .map(|line| line.trim_start_matches("./").to_owned())
        .collect();
    paths.sort();
    Some(paths)
}

#[tokio::test]
async fn the_file_index_lists_what_rg_files_lists() {
    let app = spawn_app().await;
    let (admin, org) = app.setup_admin().await;
    let project = project(&admin, &org, "Indexed").await;
    // The workspace folder exists once the project has a file.
    assert_eq!(put_file(&admin, &project, "first.txt", b"first\n", None).await.status, 201);
    let root = workspace_dir(&app, &project);
    generate(&root);

    let Some(_) = rg_files(&root, &[]) else {
        assert!(
            !std::env::var("CI").is_ok_and(|value| value == "true"),
            "rg (ripgrep) is not installed; the file index test compares against it"
        );
        eprintln!("SKIPPED the_file_index_lists_what_rg_files_lists: rg (ripgrep) is not installed");
        return;
    };
    for (query, flags) in [
        ("", vec![]),
        ("?hidden=true", vec!["--hidden", "-g", "!.git"]),
        ("?ignored=true", vec!["--no-ignore"]),
        ("?hidden=true&ignored=true", vec!["--hidden", "--no-ignore", "-g", "!.git"]),
    ] {
        let reply = admin.get(&format!("/api/v1/projects/{project}/file-index{query}")).await;
        assert_eq!(reply.status, 200, "{query}: {}", reply.body);
        assert_eq!(reply.json["truncated"], false);
        let paths: Vec<String> = reply.json["paths"]
            .as_array()
            .expect("paths")
            .iter()
            .map(|path| path.as_str().expect("a string").to_owned())
            .collect();
        let mut sorted = paths.clone();
        sorted.sort();
        assert_eq!(paths, sorted, "{query}: the index is sorted");
        let expected = rg_files(&root, &flags).expect("rg ran before");
        assert_eq!(paths, expected, "{query}: the index and rg --files {flags:?} differ");
    }

    // Spot checks of the default index.
    let default = admin.get(&format!("/api/v1/projects/{project}/file-index")).await;
    let paths = default.json["paths"].as_array().expect("paths");
    for present in ["README.md", "docs/ünïcode-名前.txt", "docs/guide with spaces.md", "logs/keep.log", "first.txt"]
    {
        assert!(paths.contains(&json!(present)), "{present} is listed");
    }
    for absent in ["target/debug/app", "logs/a.log", "nested/generated.txt", ".env", ".git/HEAD"] {
        assert!(!paths.contains(&json!(absent)), "{absent} is not listed");
    }
}

#[tokio::test]
async fn the_file_index_follows_writes_and_refuses_bad_queries() {
    let app = spawn_app().await;
    let (admin, org) = app.setup_admin().await;
    let project = project(&admin, &org, "Small").await;
    let path = format!("/api/v1/projects/{project}/file-index");

    let empty = admin.get(&path).await;
    assert_eq!(empty.status, 200, "{}", empty.body);
    assert_eq!(empty.json, json!({ "paths": [], "truncated": false }));

    for file in ["b.txt", "a/z.txt", "a/b/c.txt"] {
        assert_eq!(put_file(&admin, &project, file, b"x", None).await.status, 201);
    }
    let listed = admin.get(&path).await;
    assert_eq!(listed.json, json!({ "paths": ["a/b/c.txt", "a/z.txt", "b.txt"], "truncated": false }));

    let bad = admin.get(&format!("{path}?hidden=maybe")).await;
    assert_eq!((bad.status, bad.code()), (400, "invalid_query"), "{}", bad.body);
    let unknown = admin.get(&format!("{path}?depth=3")).await;
    assert_eq!((unknown.status, unknown.code()), (400, "invalid_query"), "{}", unknown.body);

    // Another org's project is not there.
    let (outsider, _) = app.user(&admin, "outsider@example.com").await;
    let hidden = outsider.get(&path).await;
    assert_eq!((hidden.status, hidden.code()), (404, "not_found"), "{}", hidden.body);
}
