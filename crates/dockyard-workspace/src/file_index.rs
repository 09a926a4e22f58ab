//! The quick-open index: every file path of a workspace, relative and
//! '/'-separated, sorted, found by the same parallel walk as search (`ignore`,
//! honouring `.gitignore`, `.ignore` and `.git/info/exclude`, never following
//! symlinks, never reading ignore files above the root, `.git` left out).
//!
//! Only regular files are listed; names that are not UTF-8 or that a
//! [`WorkspacePath`] refuses (control characters) are skipped, since no other
//! operation could open them. A workspace with more files than the cap answers
//! `truncated` with the first `max_paths` found (in sorted order; which files make
//! the cut depends on the walk's order).

use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use ignore::WalkState;

use crate::path::WorkspacePath;

/// The default and largest number of paths one index holds.
pub const MAX_PATHS: usize = 200_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexOptions {
    /// List hidden files and folders (names starting with `.`).
    pub hidden: bool,
    /// List files that `.gitignore`, `.ignore` or `.git/info/exclude` ignore.
    pub ignored: bool,
    /// At most this many paths (clamped to 1..=[`MAX_PATHS`]); more sets `truncated`.
    pub max_paths: usize,
}

impl Default for IndexOptions {
    fn default() -> Self {
        Self { hidden: false, ignored: false, max_paths: MAX_PATHS }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileIndex {
    /// Relative, '/'-separated, sorted by bytes.
    pub paths: Vec<String>,
    /// The workspace has more files than `max_paths`.
    pub truncated: bool,
}

/// The paths found by one walker thread, handed over when the thread ends, so
/// the threads never contend on a lock per file.
struct Batch<'a> {
    paths: Vec<String>,
    done: &'a Mutex<Vec<Vec<String>>>,
}

impl Drop for Batch<'_> {
    fn drop(&mut self) {
        let paths = std::mem::take(&mut self.paths);
        self.done.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).push(paths);
    }
}

/// Indexes the directory `root` (a workspace's local root).
pub fn index_dir(root: &Path, options: IndexOptions) -> FileIndex {
    let max = options.max_paths.clamp(1, MAX_PATHS);
    let taken = AtomicUsize::new(0);
    let truncated = AtomicBool::new(false);
    let done = Mutex::new(Vec::new());
    crate::workspace_walker(root, options.hidden, options.ignored).build_parallel().run(|| {
        let mut batch = Batch { paths: Vec::new(), done: &done };
        let (taken, truncated) = (&taken, &truncated);
        Box::new(move |entry| {
            let Ok(entry) = entry else { return WalkState::Continue };
            if !entry.file_type().is_some_and(|kind| kind.is_file()) {
                return WalkState::Continue;
            }
            let Some(relative) = entry.path().strip_prefix(root).ok().and_then(Path::to_str) else {
                return WalkState::Continue;
            };
            if relative.is_empty() || WorkspacePath::parse(relative).is_err() {
                return WalkState::Continue;
            }
            if taken.fetch_add(1, Ordering::Relaxed) >= max {
                truncated.store(true, Ordering::Relaxed);
                return WalkState::Quit;
            }
            batch.paths.push(relative.to_owned());
            WalkState::Continue
        })
    });
    let batches = done.into_inner().unwrap_or_else(|poisoned| poisoned.into_inner());
    let mut paths = Vec::with_capacity(batches.iter().map(Vec::len).sum());
    for batch in batches {
        paths.extend(batch);
    }
    paths.sort_unstable();
    FileIndex { paths, truncated: truncated.load(Ordering::Relaxed) }
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::path::PathBuf;

    use super::*;

    struct Tree(PathBuf);

    impl Tree {
        fn new(files: &[&str]) -> Self {
            let root = std::env::temp_dir().join(format!("dockyard-index-{}", ulid::Ulid::new()));
            for file in files {
                let path = root.join(file);
                fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
                fs::write(&path, file.as_bytes()).expect("write");
            }
            fs::create_dir_all(&root).expect("root");
            Self(root)
        }
    }

    impl Drop for Tree {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn options(hidden: bool, ignored: bool) -> IndexOptions {
        IndexOptions { hidden, ignored, ..IndexOptions::default() }
    }

    #[test]
    fn lists_every_file_sorted_honouring_gitignore_and_hiding_dot_files() {
        let tree = Tree::new(&[
            ".gitignore",
            "src/main.rs",
            "src/lib.rs",
            "README.md",
            "target/debug/app",
            "logs/today.log",
            ".env",
            ".config/settings.json",
            "a/b/c/d/deep.txt",
            ".git/HEAD",
            ".git/objects/ab/cdef",
            ".dockyard-tmp-123",
        ]);
        fs::write(tree.0.join(".gitignore"), "target/\n*.log\n").expect("gitignore");

        let index = index_dir(&tree.0, IndexOptions::default());
        assert!(!index.truncated);
        assert_eq!(index.paths, ["README.md", "a/b/c/d/deep.txt", "src/lib.rs", "src/main.rs"]);

        let with_hidden = index_dir(&tree.0, options(true, false));
        assert_eq!(
            with_hidden.paths,
            [
                ".config/settings.json",
                ".env",
                ".gitignore",
                "README.md",
                "a/b/c/d/deep.txt",
                "src/lib.rs",
                "src/main.rs"
            ]
        );

        let everything = index_dir(&tree.0, options(true, true));
        assert!(everything.paths.contains(&"target/debug/app".to_owned()));
        assert!(everything.paths.contains(&"logs/today.log".to_owned()));
        assert!(!everything.paths.iter().any(|path| path.starts_with(".git/")), ".git is never listed");
        assert!(!everything.paths.iter().any(|path| path.starts_with(".dockyard-tmp-")));
    }

    #[test]
    fn the_cap_truncates_and_says_so() {
        let files: Vec<String> = (0..50).map(|n| format!("dir{}/file{n}.txt", n % 5)).collect();
        let names: Vec<&str> = files.iter().map(String::as_str).collect();
        let tree = Tree::new(&names);
        let capped = index_dir(&tree.0, IndexOptions { max_paths: 10, ..IndexOptions::default() });
        assert!(capped.truncated);
        assert_eq!(capped.paths.len(), 10);
        assert!(capped.paths.windows(2).all(|pair| pair[0] < pair[1]), "sorted");
        let exact = index_dir(&tree.0, IndexOptions { max_paths: 50, ..IndexOptions::default() });
        assert!(!exact.truncated);
        assert_eq!(exact.paths.len(), 50);
    }

    #[test]
    fn symlinks_are_neither_listed_nor_followed() {
        let tree = Tree::new(&["real/file.txt"]);
        let outside = Tree::new(&["secret.txt"]);
        std::os::unix::fs::symlink(outside.0.join("secret.txt"), tree.0.join("link.txt")).expect("file link");
        std::os::unix::fs::symlink(&outside.0, tree.0.join("linked-dir")).expect("dir link");
        assert_eq!(index_dir(&tree.0, IndexOptions::default()).paths, ["real/file.txt"]);
    }

    #[test]
    fn an_empty_or_missing_root_has_no_paths() {
        let tree = Tree::new(&[]);
        assert_eq!(index_dir(&tree.0, IndexOptions::default()), FileIndex::default());
        assert_eq!(index_dir(&tree.0.join("missing"), IndexOptions::default()), FileIndex::default());
    }
}
