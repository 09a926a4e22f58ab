//! Reading the source folder for detection: relative paths only, never through
//! a link that leaves the folder, and never a file over [`MAX_MANIFEST_BYTES`].

use std::fs;
use std::io;
use std::path::{Component, Path, PathBuf};

use super::PlanError;

/// Manifests larger than this are refused rather than read.
pub(super) const MAX_MANIFEST_BYTES: u64 = 1024 * 1024;

pub(super) struct Source {
    /// The folder, canonical (links resolved), so containment is a prefix test.
    root: PathBuf,
}

impl Source {
    pub fn open(dir: &Path) -> Result<Self, PlanError> {
        let root = fs::canonicalize(dir)?;
        if !root.is_dir() {
            return Err(PlanError::Io(io::Error::new(io::ErrorKind::NotADirectory, "the source is not a folder")));
        }
        Ok(Self { root })
    }

    /// Where `relative` leads, if it exists inside the folder. `Ok(None)` when
    /// missing; a link out of the folder is an error naming the file.
    fn resolve(&self, relative: &str) -> Result<Option<PathBuf>, PlanError> {
        match fs::canonicalize(self.root.join(relative)) {
            Ok(path) if path.starts_with(&self.root) => Ok(Some(path)),
            Ok(_) => Err(PlanError::InvalidFile {
                file: relative.to_owned(),
                why: "it is a link that leads out of the source folder".to_owned(),
            }),
            Err(error) if matches!(error.kind(), io::ErrorKind::NotFound | io::ErrorKind::NotADirectory) => Ok(None),
            Err(error) => Err(error.into()),
        }
    }

    pub fn is_file(&self, relative: &str) -> Result<bool, PlanError> {
        Ok(self.resolve(relative)?.is_some_and(|path| path.is_file()))
    }

    pub fn is_dir(&self, relative: &str) -> Result<bool, PlanError> {
        Ok(self.resolve(relative)?.is_some_and(|path| path.is_dir()))
    }

    /// A text file's content; `None` when it does not exist.
    pub fn read(&self, relative: &str) -> Result<Option<String>, PlanError> {
        let Some(path) = self.resolve(relative)? else { return Ok(None) };
        let invalid = |why: &str| PlanError::InvalidFile { file: relative.to_owned(), why: why.to_owned() };
        let metadata = fs::metadata(&path)?;
        if !metadata.is_file() {
            return Err(invalid("it is not a file"));
        }
        if metadata.len() > MAX_MANIFEST_BYTES {
            return Err(invalid("it is larger than 1 MiB"));
        }
        let bytes = fs::read(&path)?;
        let text = String::from_utf8(bytes).map_err(|_| invalid("it is not UTF-8 text"))?;
        // A byte order mark is legal in front of JSON and TOML written by some editors.
        Ok(Some(text.strip_prefix('\u{feff}').map(str::to_owned).unwrap_or(text)))
    }

    /// The first `limit` bytes of a file, as text (lossy), for sniffing
    /// source files that may be large; `None` when it is not a file.
    pub fn read_prefix(&self, relative: &str, limit: u64) -> Result<Option<String>, PlanError> {
        use std::io::Read;
        let Some(path) = self.resolve(relative)? else { return Ok(None) };
        if !path.is_file() {
            return Ok(None);
        }
        let mut bytes = Vec::new();
        fs::File::open(&path)?.take(limit).read_to_end(&mut bytes)?;
        Ok(Some(String::from_utf8_lossy(&bytes).into_owned()))
    }

    /// The names of the entries of a folder, sorted; empty when it is missing.
    pub fn list(&self, relative: &str) -> Result<Vec<String>, PlanError> {
        let Some(path) = self.resolve(relative)? else { return Ok(Vec::new()) };
        if !path.is_dir() {
            return Ok(Vec::new());
        }
        let mut names = Vec::new();
        for entry in fs::read_dir(path)? {
            if let Ok(name) = entry?.file_name().into_string() {
                names.push(name);
            }
        }
        names.sort();
        Ok(names)
    }

    /// Validates a custom Dockerfile path: relative, no `..`, an existing file
    /// inside the folder. Answers it normalised (`./a//b` → `a/b`).
    pub fn custom_dockerfile(&self, path: &str) -> Result<String, PlanError> {
        let refuse = |why: &str| PlanError::DockerfilePath { path: path.to_owned(), why: why.to_owned() };
        if path.trim().is_empty() {
            return Err(refuse("it is empty"));
        }
        if path.chars().any(|c| c.is_control() || c == '\\') {
            return Err(refuse("it contains control characters or backslashes"));
        }
        let mut parts = Vec::new();
        for component in Path::new(path).components() {
            match component {
                Component::Normal(part) => parts.push(part.to_string_lossy().into_owned()),
                Component::CurDir => {}
                Component::ParentDir => return Err(refuse("it must not contain ..")),
                Component::RootDir | Component::Prefix(_) => {
                    return Err(refuse("it must be relative to the source folder"));
                }
            }
        }
        if parts.is_empty() {
            return Err(refuse("it names the source folder itself"));
        }
        let normalised = parts.join("/");
        match self.resolve(&normalised) {
            Ok(Some(resolved)) if resolved.is_file() => Ok(normalised),
            Ok(Some(_)) => Err(refuse("it is not a file")),
            Ok(None) => Err(refuse("there is no such file in the source")),
            Err(PlanError::InvalidFile { why, .. }) => Err(refuse(&why)),
            Err(error) => Err(error),
        }
    }
}
