//! Stack detection: what a source folder is, and the Dockerfile that builds it
//! when it has none of its own.
//!
//! [`detect`] looks at a folder (a staged copy of a service's source) and
//! answers a [`Plan`]: the detected [`Stack`], the [`crate::Dockerfile`] to
//! build with (the user's by path, or a generated one inline), the commands it
//! runs, a port hint and notes saying what was guessed. `dockyard plan <dir>`
//! and the API show the plan as JSON; the deploy job hands it to
//! [`crate::Runtime::build`].
//!
//! Priority, first match wins: the custom Dockerfile path of the service's
//! build settings, a `Dockerfile` at the root, a `Procfile` (its `web:`
//! process, on the image of the language detected next, if any), Node
//! (`package.json`), Python (`requirements.txt`, `pyproject.toml`), Go
//! (`go.mod`), Rust (`Cargo.toml`), a static site (`index.html` at the root or
//! in `public/`, `dist/`, `build/`, `www/`).
//!
//! Invariants of every generated Dockerfile:
//! - The app listens on `$PORT`: the image sets `ENV PORT=<hint>` and `EXPOSE
//!   <hint>`, and start commands that need the port on their command line
//!   (httpd, gunicorn, uvicorn, Django) read it from the environment at start,
//!   so the `PORT` Dockyard sets for the service wins.
//! - It builds on the official images ([`BaseImages::default`]) and on the
//!   local ones of `scripts/base-images.sh` ([`BaseImages::local`]): only
//!   `/bin/sh`, POSIX tools and the language's own CLI are assumed (Python has
//!   no `pip` on `PATH`: a virtualenv is made with `python3 -m venv`).
//! - With [`PlanOptions::extra_ca_bundle`], every stage that reaches the
//!   network copies [`CA_BUNDLE_CONTEXT_PATH`] from the context and points
//!   `SSL_CERT_FILE`, `NODE_EXTRA_CA_CERTS`, `PIP_CERT`, `REQUESTS_CA_BUNDLE`,
//!   `CARGO_HTTP_CAINFO` (and git/curl) at it before the first network step.
//!   The bundle must be complete (system roots plus the extra ones), because
//!   `SSL_CERT_FILE` replaces the default trust store. The caller supplies its
//!   bytes through [`Plan::context_files`], which refuses to forget it.
//! - Manifests are copied and dependencies installed before the rest of the
//!   source, so a code change reuses the dependency layers.
//! - The app runs as an unprivileged user (uid 10001, or `nobody` for static
//!   sites); the code stays owned by root, so the app cannot rewrite itself.
//! - Every string taken from the source that ends up in the Dockerfile is
//!   either validated (names, paths) or JSON-encoded (`CMD` arrays) or shell
//!   quoted; a malformed manifest is [`PlanError::InvalidFile`], never a panic.
//!
//! Detection only reads: it never runs anything from the source. Files are read
//! through [`source::Source`], which refuses links out of the folder (a
//! `package.json` linked to `/etc/shadow` must not reach an error message) and
//! files over 1 MiB.

mod go;
mod node;
mod procfile;
mod python;
mod rust;
mod source;
mod static_site;
mod writer;

#[cfg(test)]
mod tests;

use std::path::Path;

use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};

use self::source::Source;
use self::writer::Command;

/// Where a generated Dockerfile expects the extra CA bundle in the build
/// context (see [`Plan::context_files`]).
pub const CA_BUNDLE_CONTEXT_PATH: &str = ".dockyard/ca-certificates.crt";
/// Where generated images keep the extra CA bundle.
pub const CA_BUNDLE_IMAGE_PATH: &str = "/etc/dockyard/ca-certificates.crt";
/// Where generated images keep a static site.
pub const STATIC_SITE_DIR: &str = "/srv/www";

/// The images generated Dockerfiles start from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BaseImages {
    /// Serves static sites; needs `/bin/sh` and whatever [`StaticServer`] runs.
    pub static_site: String,
    pub node: String,
    pub python: String,
    pub go: String,
    pub rust: String,
    /// The final stage of compiled stacks (Go, Rust) and of a `Procfile` with
    /// no detected language: a Debian with `useradd`.
    pub runtime: String,
}

impl Default for BaseImages {
    /// Images a connected server can pull. Static sites get busybox rather than
    /// nginx: 4 MB instead of ~190 MB, its `httpd` takes the port on the
    /// command line (nginx needs a templated config to honour `$PORT`), and the
    /// same command works on the air-gapped busybox image. Dockyard's proxy
    /// stands in front of it for TLS, compression and HTTP/2.
    fn default() -> Self {
        Self {
            static_site: "busybox:1.36".to_owned(),
            node: "node:22-bookworm-slim".to_owned(),
            python: "python:3.12-slim-bookworm".to_owned(),
            go: "golang:1.23-bookworm".to_owned(),
            rust: "rust:1-slim-bookworm".to_owned(),
            runtime: "debian:bookworm-slim".to_owned(),
        }
    }
}

impl BaseImages {
    /// The images `scripts/base-images.sh` builds without a registry, for
    /// air-gapped servers and the tests. The script makes no Go or Rust image,
    /// so those stay the official ones.
    pub fn local() -> Self {
        Self {
            static_site: "dockyard-base/busybox:1".to_owned(),
            node: "dockyard-base/node:bookworm".to_owned(),
            python: "dockyard-base/python:bookworm".to_owned(),
            runtime: "dockyard-base/debian:bookworm".to_owned(),
            ..Self::default()
        }
    }
}

/// How a static site is served. An option rather than a guess from the image
/// name, so a site image with another server can be configured explicitly.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum StaticServer {
    /// `httpd -f -v -p $PORT -h /srv/www` (busybox's applet).
    #[default]
    BusyboxHttpd,
    /// A shell command run with `/bin/sh -c` as `nobody`; the site is in
    /// [`STATIC_SITE_DIR`] and the port in `$PORT`.
    Command { command: String },
}

/// What [`detect`] needs besides the folder.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlanOptions {
    /// The service's custom Dockerfile, relative to the source root. When set
    /// it must exist; nothing is detected.
    pub dockerfile_path: Option<String>,
    pub images: BaseImages,
    /// Generated Dockerfiles copy and trust [`CA_BUNDLE_CONTEXT_PATH`].
    pub extra_ca_bundle: bool,
    pub static_server: StaticServer,
}

/// The detected kind of source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Stack {
    /// The user's own Dockerfile, relative to the source root.
    Dockerfile {
        path: String,
    },
    /// A static site; `root` is the folder served (`.` for the source root).
    Static {
        root: String,
    },
    /// `package_manager`: `npm`, `pnpm` or `yarn`.
    Node {
        package_manager: String,
    },
    /// `entry`: the script (`main.py`), `module:attribute` for gunicorn or
    /// uvicorn, or the `[project.scripts]` name.
    Python {
        entry: String,
    },
    Go,
    Rust {
        binary: String,
    },
    /// `process` is the Procfile's process name (`web`); `language` the stack
    /// whose image and dependencies it runs on, if one was detected.
    Procfile {
        process: String,
        language: Option<String>,
    },
}

/// What Dockyard will build, and how.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Plan {
    pub stack: Stack,
    /// Serialized as `{"path": …}` or `{"inline": …}`.
    #[serde(serialize_with = "serialize_dockerfile")]
    pub dockerfile: crate::Dockerfile,
    /// The main build step of a generated Dockerfile, for people to read.
    pub build_command: Option<String>,
    /// What the image runs, for people to read (the Dockerfile has the exact `CMD`).
    pub start_command: Option<String>,
    /// The port the app listens on when `PORT` is not set (the `EXPOSE`d one).
    pub port_hint: Option<u16>,
    /// Full sentences on what was guessed and what to check.
    pub notes: Vec<String>,
    /// The context path where the generated Dockerfile expects the extra CA
    /// bundle; `None` when it needs none. See [`Plan::context_files`].
    pub ca_bundle: Option<String>,
    /// Files the plan adds to the build context (none today besides the bundle
    /// supplied through [`Plan::context_files`]).
    #[serde(skip)]
    pub extra_files: Vec<(String, Vec<u8>)>,
}

impl Plan {
    /// The files to pass as [`crate::BuildRequest::extra_files`]: the plan's
    /// own plus the extra CA bundle when the Dockerfile copies one. A plan that
    /// needs the bundle and gets none is an error rather than a build that
    /// fails later on a missing file (or, worse, trusts an empty bundle).
    pub fn context_files(&self, ca_bundle: Option<&[u8]>) -> Result<Vec<(String, Vec<u8>)>, PlanError> {
        let mut files = self.extra_files.clone();
        if let Some(path) = &self.ca_bundle {
            match ca_bundle {
                Some(bytes) if !bytes.is_empty() => files.push((path.clone(), bytes.to_vec())),
                _ => return Err(PlanError::MissingCaBundle),
            }
        }
        Ok(files)
    }
}

fn serialize_dockerfile<S: Serializer>(dockerfile: &crate::Dockerfile, serializer: S) -> Result<S::Ok, S::Error> {
    let mut map = serializer.serialize_map(Some(1))?;
    match dockerfile {
        crate::Dockerfile::Path(path) => map.serialize_entry("path", path)?,
        crate::Dockerfile::Inline(text) => map.serialize_entry("inline", text)?,
    }
    map.end()
}

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// Nothing Dockyard knows how to build; says what was looked for.
    #[error("no stack detected: found none of {looked_for}")]
    NoStack { looked_for: String },
    /// The stack was recognised but nothing to start was found.
    #[error("a {stack} project, but nothing to start: looked for {looked_for}")]
    NoEntryPoint { stack: &'static str, looked_for: String },
    /// A manifest that cannot be used; `why` is the parser's message.
    #[error("{file} is invalid: {why}")]
    InvalidFile { file: String, why: String },
    /// The custom Dockerfile path is not a relative path to a file inside the source.
    #[error("the Dockerfile path {path:?} cannot be used: {why}")]
    DockerfilePath { path: String, why: String },
    /// [`Plan::context_files`] was not given the bundle the Dockerfile copies.
    #[error("the generated Dockerfile copies the extra CA bundle, but none was given")]
    MissingCaBundle,
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

pub(crate) const LOOKED_FOR: &str = "Dockerfile, Procfile, package.json, requirements.txt, pyproject.toml, go.mod, \
     Cargo.toml, index.html (at the root or in public/, dist/, build/, www/)";

/// Detects the stack of the source in `dir` and plans its build. Reads only.
pub fn detect(dir: &Path, options: &PlanOptions) -> Result<Plan, PlanError> {
    let source = Source::open(dir)?;
    if let Some(path) = &options.dockerfile_path {
        let path = source.custom_dockerfile(path)?;
        return user_dockerfile(&source, path);
    }
    if source.is_file("Dockerfile")? {
        return user_dockerfile(&source, "Dockerfile".to_owned());
    }
    let language = Language::detect(&source)?;
    if let Some(text) = source.read("Procfile")? {
        return procfile::plan(&source, options, &text, language);
    }
    if let Some(language) = language {
        let mut notes = Vec::new();
        return Ok(language.render(&source, options, None, &mut notes)?.with_notes(notes));
    }
    if let Some(root) = static_site::find_root(&source)? {
        return Ok(static_site::plan(options, &root));
    }
    Err(PlanError::NoStack { looked_for: LOOKED_FOR.to_owned() })
}

fn user_dockerfile(source: &Source, path: String) -> Result<Plan, PlanError> {
    let text = source.read(&path)?.unwrap_or_default();
    Ok(Plan {
        stack: Stack::Dockerfile { path: path.clone() },
        dockerfile: crate::Dockerfile::Path(path),
        build_command: None,
        start_command: None,
        port_hint: exposed_port(&text),
        notes: Vec::new(),
        ca_bundle: None,
        extra_files: Vec::new(),
    })
}

/// The first port of the last stage's first `EXPOSE` with a literal port.
fn exposed_port(dockerfile: &str) -> Option<u16> {
    let mut port = None;
    for line in dockerfile.lines() {
        let mut words = line.split_whitespace();
        match words.next().map(str::to_ascii_uppercase).as_deref() {
            Some("FROM") => port = None,
            Some("EXPOSE") if port.is_none() => {
                port = words.filter_map(|word| word.split('/').next()?.parse::<u16>().ok()).next();
            }
            _ => {}
        }
    }
    port
}

/// A detected language project, parsed, before its start command is chosen
/// (a Procfile brings its own).
enum Language {
    Node(node::NodeApp),
    Python(python::PythonApp),
    Go(go::GoApp),
    Rust(rust::RustApp),
}

impl Language {
    fn detect(source: &Source) -> Result<Option<Self>, PlanError> {
        if let Some(app) = node::NodeApp::detect(source)? {
            return Ok(Some(Self::Node(app)));
        }
        if let Some(app) = python::PythonApp::detect(source)? {
            return Ok(Some(Self::Python(app)));
        }
        if let Some(app) = go::GoApp::detect(source)? {
            return Ok(Some(Self::Go(app)));
        }
        if let Some(app) = rust::RustApp::detect(source)? {
            return Ok(Some(Self::Rust(app)));
        }
        Ok(None)
    }

    fn name(&self) -> &'static str {
        match self {
            Self::Node(_) => "node",
            Self::Python(_) => "python",
            Self::Go(_) => "go",
            Self::Rust(_) => "rust",
        }
    }

    /// Renders the language's Dockerfile, starting `procfile` when given and
    /// the app's own entry point otherwise ([`PlanError::NoEntryPoint`] when
    /// it has none).
    fn render(
        &self,
        source: &Source,
        options: &PlanOptions,
        procfile: Option<Command>,
        notes: &mut Vec<String>,
    ) -> Result<Rendered, PlanError> {
        match self {
            Self::Node(app) => app.plan(source, options, procfile, notes),
            Self::Python(app) => app.plan(options, procfile, notes),
            Self::Go(app) => app.plan(options, procfile, notes),
            Self::Rust(app) => Ok(app.plan(options, procfile, notes)),
        }
    }
}

/// A rendered plan before the notes are attached.
struct Rendered {
    stack: Stack,
    dockerfile: String,
    build_command: Option<String>,
    start_command: String,
    port_hint: u16,
    /// Whether the Dockerfile copies the extra CA bundle.
    uses_ca_bundle: bool,
}

impl Rendered {
    fn with_notes(self, notes: Vec<String>) -> Plan {
        Plan {
            stack: self.stack,
            dockerfile: crate::Dockerfile::Inline(self.dockerfile),
            build_command: self.build_command,
            start_command: Some(self.start_command),
            port_hint: Some(self.port_hint),
            notes,
            ca_bundle: self.uses_ca_bundle.then(|| CA_BUNDLE_CONTEXT_PATH.to_owned()),
            extra_files: Vec::new(),
        }
    }
}
