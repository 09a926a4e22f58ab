//! Exporting workspaces: zip, tar.gz and JSON round trips through `extract`
//! (byte for byte, exec bits, links, empty folders, `.gitignore`), the tar.gz
//! as the system `tar` sees it, the JSON document's shape, and the Markdown
//! report.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;
use std::process::Command;

use dockyard_workspace::archive::ArchiveFormat;
use dockyard_workspace::export::{self, ExportFormat, ExportOptions, ExportSummary, ReportCommit};
use serde_json::json;

use crate::archive::{Node, Scratch, extract, generous, tree};

/// A workspace with everything an export has to carry, and a few things it must not.
fn sample_workspace(root: &Path) {
    let write = |relative: &str, bytes: &[u8]| {
        let path = root.join(relative);
        fs::create_dir_all(path.parent().expect("parent")).expect("parent dirs");
        fs::write(path, bytes).expect("write");
    };
    write("README.md", b"# Sample\n\nHello.\n");
    write("src/main.rs", b"fn main() {\n    println!(\"hi\");\n}\n");
    write("src/lib/deep/er/mod.rs", b"pub fn deep() {}\n");
    write("assets/all-bytes.bin", &(0..=255).collect::<Vec<u8>>());
    write("scripts/run.sh", b"#!/bin/sh\necho run\n");
    fs::set_permissions(root.join("scripts/run.sh"), fs::Permissions::from_mode(0o755)).expect("chmod");
    write("docs/ünï cödé.md", "Ünïcödé — ✓\n".as_bytes());
    write("with space/a file.txt", b"spaces\n");
    write(".env.example", b"KEY=value\n");
    write("quote\"d 'name'.txt", b"tab\there \x01 control\n");
    write("back\\slash.txt", b"a name an import would refuse\n");
    write(".gitignore", b"*.log\nbuild/\n");
    write("debug.log", b"ignored by git\n");
    write("build/out.o", &[0x7f, b'E', b'L', b'F']);
    write(".git/HEAD", b"ref: refs/heads/main\n");
    write(".git/info/exclude", b"excluded.txt\n");
    write("excluded.txt", b"excluded by .git/info/exclude\n");
    write("sub/.git", b"gitdir: ../.git/modules/sub\n");
    fs::create_dir_all(root.join("empty/nested-empty")).expect("empty folders");
    symlink("README.md", root.join("readme-link")).expect("link");
    symlink("../README.md", root.join("src/up-link")).expect("link up");
    symlink("lib/deep", root.join("src/dir-link")).expect("folder link");
    symlink("/etc", root.join("escape-absolute")).expect("absolute link");
    symlink("../../outside", root.join("src/escape-relative")).expect("relative link out");
    write(".dockyard-tmp-01half", b"half-written");
}

/// What an export of the sample workspace should contain.
fn expected_tree(root: &Path, honor_gitignore: bool) -> BTreeMap<String, Node> {
    let mut nodes = tree(root);
    nodes.retain(|path, _| {
        let never = path == ".git"
            || path.starts_with(".git/")
            || path == "sub/.git"
            || path.starts_with(".dockyard-tmp-")
            || path == "escape-absolute"
            || path == "src/escape-relative"
            || path == "back\\slash.txt";
        let ignored = path == "debug.log" || path == "build" || path.starts_with("build/") || path == "excluded.txt";
        let dropped = never || (honor_gitignore && ignored);
        !dropped
    });
    nodes
}

fn export_to_vec(root: &Path, format: ExportFormat, honor_gitignore: bool) -> (Vec<u8>, ExportSummary) {
    let mut out = Vec::new();
    let summary = export::export(
        root,
        format,
        &ExportOptions { honor_gitignore },
        &json!({"name": "Sample", "slug": "sample"}),
        &[],
        &mut out,
    )
    .expect("export");
    (out, summary)
}

#[test]
fn zip_tar_gz_and_json_exports_round_trip_byte_for_byte() {
    // Arrange
    let scratch = Scratch::new("round-trip");
    let source = scratch.dir("source");
    sample_workspace(&source);

    for (format, archive_format) in [
        (ExportFormat::Zip, ArchiveFormat::Zip),
        (ExportFormat::TarGz, ArchiveFormat::TarGz),
        (ExportFormat::Json, ArchiveFormat::Json),
    ] {
        for honor_gitignore in [false, true] {
            let label = format!("{}-{honor_gitignore}", format.extension());
            let dest = scratch.dir(&format!("dest-{label}"));

            // Act
            let (bytes, summary) = export_to_vec(&source, format, honor_gitignore);
            assert_eq!(ArchiveFormat::sniff(&bytes), Some(archive_format), "{label}");
            let upload = scratch.file(&format!("export-{label}"), &bytes);
            let extracted = extract(archive_format, &upload, &dest, generous()).expect("extract the export");

            // Assert
            let expected = expected_tree(&source, honor_gitignore);
            assert_eq!(tree(&dest), expected, "{label}");
            let count = |wanted: fn(&Node) -> bool| expected.values().filter(|node| wanted(node)).count() as u64;
            assert_eq!(summary.files, count(|node| matches!(node, Node::File { .. })), "{label}");
            assert_eq!(summary.dirs, count(|node| matches!(node, Node::Dir)), "{label}");
            assert_eq!(summary.symlinks, 3, "{label}");
            assert_eq!((extracted.files, extracted.dirs, extracted.symlinks), (summary.files, summary.dirs, 3));
            assert_eq!(extracted.bytes, summary.bytes, "{label}");
            assert_eq!(
                fs::read(dest.join("src/up-link")).expect("follow the link"),
                fs::read(source.join("README.md")).expect("read")
            );
            assert_eq!(dest.join("debug.log").exists(), !honor_gitignore, "{label}");
            assert!(!dest.join(".git").exists() && !dest.join("sub/.git").exists(), "{label}");
        }
    }
}

#[test]
fn exports_are_deterministic() {
    // Arrange
    let scratch = Scratch::new("deterministic");
    let source = scratch.dir("source");
    sample_workspace(&source);

    for format in [ExportFormat::Zip, ExportFormat::TarGz, ExportFormat::Json, ExportFormat::Markdown] {
        // Act
        let first = export_to_vec(&source, format, true).0;
        let second = export_to_vec(&source, format, true).0;

        // Assert
        assert!(first == second, "{format:?} differs between two runs");
    }
}

#[test]
fn the_json_export_has_the_documented_shape() {
    // Arrange
    let scratch = Scratch::new("json-shape");
    let source = scratch.dir("source");
    sample_workspace(&source);

    // Act
    let (bytes, _) = export_to_vec(&source, ExportFormat::Json, true);

    // Assert
    let document: serde_json::Value = serde_json::from_slice(&bytes).expect("valid JSON");
    assert_eq!(document["format"], "dockyard-export");
    assert_eq!(document["version"], 1);
    assert_eq!(document["project"], json!({"name": "Sample", "slug": "sample"}));
    let entries = document["entries"].as_array().expect("entries");
    let by_path: BTreeMap<&str, &serde_json::Value> =
        entries.iter().map(|entry| (entry["path"].as_str().expect("path"), entry)).collect();
    let paths: Vec<&str> = entries.iter().map(|entry| entry["path"].as_str().expect("path")).collect();
    let mut sorted = paths.clone();
    sorted.sort_unstable();
    assert_eq!(paths, sorted, "entries come in path order");
    assert_eq!(*by_path["empty/nested-empty"], json!({"path": "empty/nested-empty", "type": "dir"}));
    assert_eq!(
        *by_path["scripts/run.sh"],
        json!({"path": "scripts/run.sh", "type": "file", "executable": true, "encoding": "utf8", "content": "#!/bin/sh\necho run\n"})
    );
    assert_eq!(by_path["assets/all-bytes.bin"]["encoding"], "base64");
    assert_eq!(by_path["quote\"d 'name'.txt"]["content"], "tab\there \u{1} control\n");
    assert_eq!(*by_path["readme-link"], json!({"path": "readme-link", "type": "symlink", "target": "README.md"}));
    assert!(paths.iter().all(|path| !path.starts_with(".git/") && !path.ends_with("/.git")), "{paths:?}");
    assert!(!by_path.contains_key("escape-absolute") && !by_path.contains_key("debug.log"));
}

#[test]
fn system_tar_lists_the_tar_gz_export_with_the_same_paths_and_modes() {
    // Arrange
    let scratch = Scratch::new("tar-tzvf");
    let source = scratch.dir("source");
    sample_workspace(&source);
    let (bytes, _) = export_to_vec(&source, ExportFormat::TarGz, true);
    let upload = scratch.file("export.tar.gz", &bytes);

    // Act
    let output = Command::new("tar")
        .env("LC_ALL", "C.UTF-8")
        .arg("--quoting-style=literal")
        .arg("-tzvf")
        .arg(&upload)
        .output()
        .expect("run tar");

    // Assert
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let listing = String::from_utf8(output.stdout).expect("UTF-8 listing");
    let mut listed = BTreeMap::new();
    for line in listing.lines() {
        // `-rw-r--r-- 0/0  17 2024-01-01 00:00 README.md`: five columns, then the name.
        let mut rest = line;
        let mut columns = Vec::new();
        for _ in 0..5 {
            rest = rest.trim_start();
            let end = rest.find(' ').expect("a column");
            columns.push(&rest[..end]);
            rest = &rest[end..];
        }
        let name = rest.trim_start();
        let name = name.split_once(" -> ").map_or(name, |(link, _)| link);
        listed.insert(name.trim_end_matches('/').to_owned(), columns[0].to_owned());
    }
    let expected: BTreeMap<String, String> = expected_tree(&source, true)
        .into_iter()
        .map(|(path, node)| {
            let mode = match node {
                Node::Dir => "drwxr-xr-x",
                Node::File { executable: true, .. } => "-rwxr-xr-x",
                Node::File { executable: false, .. } => "-rw-r--r--",
                Node::Link(_) => "lrwxrwxrwx",
            };
            (path, mode.to_owned())
        })
        .collect();
    assert_eq!(listed, expected);
}

#[test]
fn system_tar_extracts_the_tar_gz_export_identically() {
    // Arrange
    let scratch = Scratch::new("tar-x");
    let source = scratch.dir("source");
    sample_workspace(&source);
    let (bytes, _) = export_to_vec(&source, ExportFormat::TarGz, false);
    let upload = scratch.file("export.tar.gz", &bytes);
    let dest = scratch.dir("dest");

    // Act
    let status = Command::new("tar").arg("-xzf").arg(&upload).arg("-C").arg(&dest).status().expect("run tar");

    // Assert
    assert!(status.success());
    assert_eq!(tree(&dest), expected_tree(&source, false));
}

#[test]
fn unzip_extracts_the_zip_export_identically() {
    // Arrange
    let scratch = Scratch::new("unzip");
    let source = scratch.dir("source");
    sample_workspace(&source);
    let (bytes, _) = export_to_vec(&source, ExportFormat::Zip, true);
    let upload = scratch.file("export.zip", &bytes);
    let dest = scratch.dir("dest");

    // Act
    let output = Command::new("unzip").arg("-q").arg(&upload).arg("-d").arg(&dest).output().expect("run unzip");

    // Assert
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(tree(&dest), expected_tree(&source, true));
}

#[test]
fn exporting_a_missing_root_is_a_local_error_not_an_empty_archive() {
    // Arrange
    let scratch = Scratch::new("missing-root");
    let mut out = Vec::new();

    // Act
    let result = export::export(
        &scratch.path().join("gone"),
        ExportFormat::Zip,
        &ExportOptions::default(),
        &json!({}),
        &[],
        &mut out,
    );

    // Assert
    let error = result.expect_err("a missing root");
    assert_eq!(error.code(), "archive_io");
    assert!(!error.is_client_error());
    assert!(out.is_empty());
}

// ---------------------------------------------------------------------------
// Markdown
// ---------------------------------------------------------------------------

fn markdown(root: &Path, meta: serde_json::Value, commits: &[ReportCommit]) -> (String, ExportSummary) {
    let mut out = Vec::new();
    let summary = export::export(root, ExportFormat::Markdown, &ExportOptions::default(), &meta, commits, &mut out)
        .expect("export");
    (String::from_utf8(out).expect("UTF-8 report"), summary)
}

#[test]
fn the_markdown_report_has_the_tree_languages_largest_files_and_commits() {
    // Arrange
    let scratch = Scratch::new("markdown");
    let root = scratch.dir("source");
    let write = |relative: &str, bytes: &[u8]| {
        let path = root.join(relative);
        fs::create_dir_all(path.parent().expect("parent")).expect("parent dirs");
        fs::write(path, bytes).expect("write");
    };
    write("src/main.rs", b"fn main() {\n}\n");
    write("src/lib.rs", b"pub mod a;\npub mod b;\nno newline at the end");
    write("web/app.ts", &[b'x'; 4000]);
    write("Dockerfile", b"FROM scratch\n");
    write("a|b`c.txt", b"pipes\n");
    write("image.png", &[0x89, b'P', b'N', b'G', 0, 0]);
    write("d1/d2/d3/d4/d5/too-deep.rs", b"\n");
    fs::create_dir_all(root.join("empty")).expect("empty folder");
    symlink("src/main.rs", root.join("main-link")).expect("link");
    let commits = [
        ReportCommit {
            id: "0123456789abcdef0123".to_owned(),
            summary: "Fix | the `thing`".to_owned(),
            author: "Ana Lopez".to_owned(),
            time_ms: 1_700_000_000_000,
        },
        ReportCommit { id: "fedcba".to_owned(), summary: "Start".to_owned(), author: "Bo".to_owned(), time_ms: 0 },
    ];

    // Act
    let (report, summary) = markdown(&root, json!({"name": "My | Project"}), &commits);

    // Assert
    assert_eq!(summary, ExportSummary { files: 7, dirs: 8, symlinks: 1, bytes: summary.bytes });
    assert!(report.starts_with("# My \\| Project\n"), "{report}");
    for line in [
        "- Files: 7",
        "- Folders: 8",
        "```text",
        "a\\|b\\`c.txt",
        "d1/",
        "      d4/",
        "        …",
        "main-link -> src/main.rs",
        "src/",
        "  lib.rs",
        "  main.rs",
        "| Language | Files | Lines | Size |",
        "| TypeScript | 1 | 1 | 3.9 KiB |",
        "| Rust | 3 | 6 | 58 B |",
        "| Dockerfile | 1 | 1 | 13 B |",
        "| Text | 1 | 1 | 6 B |",
        "| Other | 1 | – | 6 B |",
        "| `web/app.ts` | 3.9 KiB |",
        "| `0123456789ab` | Fix \\| the \\`thing\\` | Ana Lopez | 2023-11-14 22:13 UTC |",
        "| `fedcba` | Start | Bo | 1970-01-01 00:00 UTC |",
    ] {
        assert!(report.lines().any(|candidate| candidate == line), "missing line {line:?} in:\n{report}");
    }
    let tree_section = &report[report.find("## Tree").expect("tree")..report.find("## Languages").expect("languages")];
    assert!(!tree_section.contains("too-deep.rs"), "the tree stops at depth 4");
    let typescript = report.find("| TypeScript").expect("TypeScript row");
    let rust = report.find("| Rust").expect("Rust row");
    assert!(typescript < rust, "languages are sorted by bytes");
    let largest: Vec<&str> = report.lines().skip_while(|line| *line != "## Largest files").skip(5).take(2).collect();
    assert_eq!(largest, ["| `src/lib.rs` | 43 B |", "| `src/main.rs` | 14 B |"], "{report}");
}

#[test]
fn an_empty_workspace_reports_no_files_and_no_commits() {
    // Arrange
    let scratch = Scratch::new("markdown-empty");
    let root = scratch.dir("source");

    // Act
    let (report, summary) = markdown(&root, json!({}), &[]);

    // Assert
    assert_eq!(summary, ExportSummary::default());
    assert!(report.starts_with("# Workspace export\n"));
    assert!(report.contains("- Total size: 0 B (0 bytes)"));
    assert!(report.lines().any(|line| line == "No commits."), "{report}");
}

#[test]
fn the_markdown_tree_is_capped_at_400_lines() {
    // Arrange
    let scratch = Scratch::new("markdown-cap");
    let root = scratch.dir("source");
    for index in 0..450 {
        fs::write(root.join(format!("file-{index:03}.txt")), b"x").expect("write");
    }

    // Act
    let (report, summary) = markdown(&root, json!({"name": "Many"}), &[]);

    // Assert
    assert_eq!(summary.files, 450);
    let tree: Vec<&str> =
        report.lines().skip_while(|line| *line != "```text").skip(1).take_while(|line| *line != "```").collect();
    assert_eq!(tree.len(), 401);
    assert_eq!(tree[399], "file-399.txt");
    assert_eq!(tree[400], "… (50 more lines)");
}
