//! `WorkspacePath`: a user-supplied path, parsed and checked before it comes
//! near the file system.
//!
//! Architecture Invariant: every path that arrives from a user becomes a
//! `WorkspacePath` at the edge. The type guarantees a relative, normalised path
//! (no `..`, no `.`, no empty segments, no NUL or other control characters, no
//! absolute path); escapes through symlinks are checked separately, against the
//! real file system, when the path is resolved (`HostWorkspace::resolve`).

use std::fmt;
use std::path::{Path, PathBuf};

/// Longest accepted path, in bytes (Linux's PATH_MAX).
pub const MAX_PATH_BYTES: usize = 4096;
/// Longest accepted file name, in bytes (NAME_MAX).
pub const MAX_NAME_BYTES: usize = 255;

/// Why a path was refused; `code` is stable and goes into the problem document.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct PathError {
    pub code: &'static str,
    pub message: String,
}

impl PathError {
    fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self { code, message: message.into() }
    }
}

/// A relative path inside a workspace; the empty path is the workspace root.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WorkspacePath(String);

impl WorkspacePath {
    pub fn root() -> Self {
        Self(String::new())
    }

    /// Parses a path as users send it: `src/main.rs`, `src/`, or `` for the root.
    pub fn parse(raw: &str) -> Result<Self, PathError> {
        if raw.len() > MAX_PATH_BYTES {
            return Err(PathError::new("path_too_long", format!("paths are at most {MAX_PATH_BYTES} bytes")));
        }
        if raw.contains('\0') {
            return Err(PathError::new("path_invalid", "paths cannot contain NUL bytes"));
        }
        if raw.chars().any(char::is_control) {
            return Err(PathError::new("path_invalid", "paths cannot contain control characters"));
        }
        if raw.starts_with('/') || raw.starts_with('\\') || looks_like_a_drive(raw) {
            return Err(PathError::new("path_absolute", "paths are relative to the workspace root"));
        }
        let trimmed = raw.strip_suffix('/').unwrap_or(raw);
        if trimmed.is_empty() {
            return Ok(Self::root());
        }
        for segment in trimmed.split('/') {
            match segment {
                "" => return Err(PathError::new("path_invalid", "paths cannot contain empty segments ('//')")),
                "." | ".." => {
                    return Err(PathError::new("path_traversal", "paths cannot contain '.' or '..' segments"));
                }
                _ if segment.len() > MAX_NAME_BYTES => {
                    return Err(PathError::new("path_too_long", format!("names are at most {MAX_NAME_BYTES} bytes")));
                }
                _ if segment.contains('\\') => {
                    return Err(PathError::new("path_invalid", "use '/' to separate path segments"));
                }
                _ => {}
            }
        }
        Ok(Self(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    /// The last segment; `None` for the root.
    pub fn file_name(&self) -> Option<&str> {
        (!self.is_root()).then(|| self.0.rsplit('/').next().unwrap_or(&self.0))
    }

    /// The containing directory; `None` for the root.
    pub fn parent(&self) -> Option<WorkspacePath> {
        if self.is_root() {
            return None;
        }
        Some(match self.0.rsplit_once('/') {
            Some((parent, _)) => Self(parent.to_owned()),
            None => Self::root(),
        })
    }

    /// Appends one file name, which is checked like a path segment.
    pub fn join(&self, name: &str) -> Result<WorkspacePath, PathError> {
        if name.contains('/') {
            return Err(PathError::new("path_invalid", "a file name cannot contain '/'"));
        }
        if self.is_root() { Self::parse(name) } else { Self::parse(&format!("{}/{name}", self.0)) }
    }

    /// True when `self` is `other` or inside it.
    pub fn starts_with(&self, other: &WorkspacePath) -> bool {
        other.is_root() || self.0 == other.0 || self.0.starts_with(&format!("{}/", other.0))
    }

    /// The path under `root` on a local file system (no symlink resolution).
    pub fn under(&self, root: &Path) -> PathBuf {
        if self.is_root() { root.to_path_buf() } else { root.join(&self.0) }
    }
}

fn looks_like_a_drive(raw: &str) -> bool {
    let bytes = raw.as_bytes();
    bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':'
}

impl fmt::Display for WorkspacePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for WorkspacePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WorkspacePath({:?})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn accepts_ordinary_paths() {
        assert_eq!(WorkspacePath::parse("src/main.rs").expect("valid").as_str(), "src/main.rs");
        assert_eq!(WorkspacePath::parse("src/").expect("valid").as_str(), "src");
        assert!(WorkspacePath::parse("").expect("valid").is_root());
        assert_eq!(WorkspacePath::parse(".gitignore").expect("valid").as_str(), ".gitignore");
        assert_eq!(WorkspacePath::parse("a b/ünï cödé.txt").expect("valid").file_name(), Some("ünï cödé.txt"));
        assert_eq!(WorkspacePath::parse("...").expect("three dots is a name").as_str(), "...");
    }

    #[test]
    fn refuses_hostile_paths_with_stable_codes() {
        for (raw, code) in [
            ("/etc/passwd", "path_absolute"),
            ("\\windows", "path_absolute"),
            ("C:/x", "path_absolute"),
            ("../x", "path_traversal"),
            ("a/../../x", "path_traversal"),
            ("a/./b", "path_traversal"),
            ("a//b", "path_invalid"),
            ("a\0b", "path_invalid"),
            ("a\nb", "path_invalid"),
            ("a\\..\\b", "path_invalid"),
        ] {
            assert_eq!(WorkspacePath::parse(raw).map_err(|error| error.code), Err(code), "{raw:?}");
        }
        assert_eq!(WorkspacePath::parse(&"a/".repeat(3000)).unwrap_err().code, "path_too_long");
        assert_eq!(WorkspacePath::parse(&"x".repeat(256)).unwrap_err().code, "path_too_long");
    }

    #[test]
    fn parents_names_and_joins() {
        let path = WorkspacePath::parse("a/b/c.txt").expect("valid");
        assert_eq!(path.parent().expect("parent").as_str(), "a/b");
        assert_eq!(WorkspacePath::parse("a").expect("valid").parent(), Some(WorkspacePath::root()));
        assert_eq!(WorkspacePath::root().parent(), None);
        assert_eq!(WorkspacePath::root().join("x").expect("valid").as_str(), "x");
        assert!(path.parent().expect("parent").join("..").is_err());
        assert!(path.starts_with(&WorkspacePath::parse("a").expect("valid")));
        assert!(!WorkspacePath::parse("ab").expect("valid").starts_with(&WorkspacePath::parse("a").expect("valid")));
    }

    proptest! {
        /// Whatever a user sends, an accepted path stays inside the root once joined.
        #[test]
        fn accepted_paths_never_leave_the_root(raw in "[a-z./\\\\\\x00:_ -]{0,40}") {
            if let Ok(path) = WorkspacePath::parse(&raw) {
                let root = Path::new("/workspace");
                let joined = path.under(root);
                let mut depth: i64 = 0;
                for component in joined.strip_prefix(root).expect("under the root").components() {
                    match component {
                        std::path::Component::Normal(_) => depth += 1,
                        _ => depth = -1_000,
                    }
                }
                prop_assert!(depth >= 0, "{raw:?} became {joined:?}");
                prop_assert!(!path.as_str().split('/').any(|segment| segment == ".." || segment == "."));
            }
        }
    }
}
