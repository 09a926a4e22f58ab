//! Build contexts as tar, without an engine.

use std::collections::BTreeMap;
use std::io::Read;

use dockyard_runtime::context::{CONTEXT_MTIME, INLINE_DOCKERFILE, tar_context, tar_source};
use dockyard_runtime::{Dockerfile, RuntimeError};

use crate::support::TempDir;

fn entries(dir: &TempDir, dockerfile: &Dockerfile, extra: &[(String, Vec<u8>)]) -> BTreeMap<String, (u64, Vec<u8>)> {
    let context = tar_context(dir.path(), dockerfile, extra, 10 << 20).expect("context");
    let mut archive = tar::Archive::new(context.file);
    let mut out = BTreeMap::new();
    for entry in archive.entries().expect("entries") {
        let mut entry = entry.expect("entry");
        let path = entry.path().expect("path").to_string_lossy().trim_end_matches('/').to_owned();
        let mtime = entry.header().mtime().expect("mtime");
        let mut content = Vec::new();
        if let Ok(Some(target)) = entry.link_name() {
            content = format!("-> {}", target.display()).into_bytes();
        } else {
            entry.read_to_end(&mut content).expect("read");
        }
        out.insert(path, (mtime, content));
    }
    out
}

#[test]
fn dockerignore_excludes_with_docker_semantics_and_keeps_the_dockerfile() {
    let dir = TempDir::new();
    dir.write("Dockerfile", "FROM scratch\n");
    dir.write(".dockerignore", "*.log\nsecrets\nbuild\n!build/keep.txt\nDockerfile\n.dockerignore\n");
    dir.write("a.log", "x");
    dir.write("sub/b.log", "kept: *.log only matches at the root");
    dir.write("secrets/key", "x");
    dir.write("build/out.o", "x");
    dir.write("build/keep.txt", "kept");
    dir.write("src/main.c", "int main;");

    let entries = entries(&dir, &Dockerfile::Path("Dockerfile".into()), &[]);
    let names: Vec<&str> = entries.keys().map(String::as_str).collect();

    assert_eq!(names, vec![".dockerignore", "Dockerfile", "build/keep.txt", "src", "src/main.c", "sub", "sub/b.log"]);
    assert!(entries.values().all(|(mtime, _)| *mtime == CONTEXT_MTIME));
}

#[test]
fn the_same_content_gives_the_same_bytes_whatever_the_mtimes() {
    let dir = TempDir::new();
    dir.write("Dockerfile", "FROM scratch\nCOPY . /\n");
    dir.write("z/a.txt", "a");
    dir.write("b.txt", "b");
    let read = |dir: &TempDir| {
        let mut context = tar_context(dir.path(), &Dockerfile::Path("Dockerfile".into()), &[], 1 << 20).expect("ctx");
        let mut bytes = Vec::new();
        context.file.read_to_end(&mut bytes).expect("read");
        assert_eq!(bytes.len() as u64, context.size);
        bytes
    };
    let first = read(&dir);
    std::thread::sleep(std::time::Duration::from_millis(20));
    dir.write("b.txt", "b"); // rewritten: a new mtime
    assert_eq!(first, read(&dir));
}

#[test]
fn inline_dockerfiles_and_extra_files_are_added_and_win() {
    let dir = TempDir::new();
    dir.write("ca.crt", "from the folder");
    let context = tar_context(
        dir.path(),
        &Dockerfile::Inline("FROM scratch\n".into()),
        &[("ca.crt".into(), b"generated".to_vec())],
        1 << 20,
    )
    .expect("context");
    assert_eq!(context.dockerfile, INLINE_DOCKERFILE);

    let entries =
        entries(&dir, &Dockerfile::Inline("FROM scratch\n".into()), &[("ca.crt".into(), b"generated".to_vec())]);
    assert_eq!(entries["ca.crt"].1, b"generated");
    assert_eq!(entries[INLINE_DOCKERFILE].1, b"FROM scratch\n");
}

#[test]
fn a_missing_dockerfile_and_escaping_extra_paths_are_refused() {
    let dir = TempDir::new();
    let missing = tar_context(dir.path(), &Dockerfile::Path("Dockerfile".into()), &[], 1 << 20);
    assert!(matches!(missing, Err(RuntimeError::InvalidContext(_))), "{missing:?}");
    let escaping = tar_context(
        dir.path(),
        &Dockerfile::Inline("FROM scratch".into()),
        &[("../outside".into(), Vec::new())],
        1 << 20,
    );
    assert!(matches!(escaping, Err(RuntimeError::InvalidContext(_))), "{escaping:?}");
}

#[test]
fn links_inside_stay_links_and_links_outside_are_refused() {
    let dir = TempDir::new();
    dir.write("Dockerfile", "FROM scratch\n");
    dir.write("data/real.txt", "real");
    std::os::unix::fs::symlink("data/real.txt", dir.path().join("inside")).expect("symlink");
    let entries = entries(&dir, &Dockerfile::Path("Dockerfile".into()), &[]);
    assert_eq!(entries["inside"].1, b"-> data/real.txt");

    std::os::unix::fs::symlink("../../etc/passwd", dir.path().join("data/escape")).expect("symlink");
    let refused = tar_context(dir.path(), &Dockerfile::Path("Dockerfile".into()), &[], 1 << 20);
    match refused {
        Err(RuntimeError::InvalidContext(message)) => assert!(message.contains("data/escape"), "{message}"),
        other => panic!("expected InvalidContext, got {other:?}"),
    }

    // An ignored escaping link is never looked at.
    dir.write(".dockerignore", "data/escape\n");
    assert!(tar_context(dir.path(), &Dockerfile::Path("Dockerfile".into()), &[], 1 << 20).is_ok());
}

#[test]
fn special_files_are_refused() {
    let dir = TempDir::new();
    dir.write("Dockerfile", "FROM scratch\n");
    let status = std::process::Command::new("mkfifo").arg(dir.path().join("pipe")).status().expect("mkfifo");
    assert!(status.success());
    let refused = tar_context(dir.path(), &Dockerfile::Path("Dockerfile".into()), &[], 1 << 20);
    assert!(
        matches!(refused, Err(RuntimeError::InvalidContext(ref message)) if message.contains("pipe")),
        "{refused:?}"
    );
}

#[test]
fn contexts_over_the_limit_are_refused() {
    let dir = TempDir::new();
    dir.write("Dockerfile", "FROM scratch\n");
    dir.write("big.bin", vec![7u8; 64 * 1024]);
    let refused = tar_context(dir.path(), &Dockerfile::Path("Dockerfile".into()), &[], 32 * 1024);
    assert!(matches!(refused, Err(RuntimeError::ContextTooLarge { limit: 32768 })), "{refused:?}");
    let fits = tar_context(dir.path(), &Dockerfile::Path("Dockerfile".into()), &[], 80 * 1024).expect("fits");
    assert!(fits.size <= 80 * 1024);
}

#[test]
fn an_upload_leaves_out_git_and_ignored_paths_but_keeps_the_dockerfile() {
    let dir = TempDir::new();
    dir.write(".git/HEAD", "ref: refs/heads/main\n");
    dir.write("sub/.git/keep", "only the root's .git is left out");
    dir.write(".dockerignore", "node_modules\ndocker/app.Dockerfile\n");
    dir.write("docker/app.Dockerfile", "FROM scratch\n");
    dir.write("node_modules/x/index.js", "x");
    dir.write("index.html", "<h1>hi</h1>");

    let source = tar_source(dir.path(), &["docker/app.Dockerfile"], 1 << 20).expect("source");
    let size = source.size;
    let mut archive = tar::Archive::new(source.file);
    let mut names = Vec::new();
    for entry in archive.entries().expect("entries") {
        let entry = entry.expect("entry");
        names.push(entry.path().expect("path").to_string_lossy().trim_end_matches('/').to_owned());
    }
    assert_eq!(
        names,
        vec![".dockerignore", "docker", "docker/app.Dockerfile", "index.html", "sub", "sub/.git", "sub/.git/keep"]
    );
    assert!(size > 0);

    // No Dockerfile is needed, and the limit holds.
    let bare = TempDir::new();
    bare.write("index.html", "x".repeat(4096));
    assert!(tar_source(bare.path(), &[], 1 << 20).is_ok());
    assert!(matches!(tar_source(bare.path(), &[], 2048), Err(RuntimeError::ContextTooLarge { .. })));
}
