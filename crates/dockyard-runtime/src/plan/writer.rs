//! Writing Dockerfiles: the instructions every generated Dockerfile shares
//! (the CA bundle, the port, the unprivileged user, `CMD`), so each stack only
//! says what is its own.

use super::{CA_BUNDLE_CONTEXT_PATH, CA_BUNDLE_IMAGE_PATH, PlanOptions};

/// The uid (and gid) generated images run as, on Debian-based images.
pub(super) const APP_UID: u32 = 10001;
/// The uid of `nobody`, which both busybox images have.
pub(super) const NOBODY_UID: u32 = 65534;

/// The variables that make the tools of every stack trust the extra CA bundle.
const CA_VARIABLES: [&str; 7] = [
    "SSL_CERT_FILE",
    "NODE_EXTRA_CA_CERTS",
    "PIP_CERT",
    "REQUESTS_CA_BUNDLE",
    "CARGO_HTTP_CAINFO",
    "GIT_SSL_CAINFO",
    "CURL_CA_BUNDLE",
];

/// A start command: what people read, and the exact `CMD` array.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Command {
    pub shown: String,
    pub argv: Vec<String>,
}

impl Command {
    /// Runs a program directly (exec form, the process gets signals itself).
    pub fn exec(argv: &[&str]) -> Self {
        Self { shown: argv.join(" "), argv: argv.iter().map(|&arg| arg.to_owned()).collect() }
    }

    /// A shell line that ends by `exec`ing one program, so `$PORT` is expanded
    /// at start and the program still gets the signals. `script` must be one
    /// simple command.
    pub fn shell_exec(script: &str) -> Self {
        Self { shown: script.to_owned(), argv: vec!["/bin/sh".to_owned(), "-c".to_owned(), format!("exec {script}")] }
    }

    /// Any shell line (a Procfile's), run as written.
    pub fn shell(script: &str) -> Self {
        Self { shown: script.to_owned(), argv: vec!["/bin/sh".to_owned(), "-c".to_owned(), script.to_owned()] }
    }
}

/// Quotes one word for `/bin/sh` (single quotes). Callers make sure the word
/// has no line breaks, which a Dockerfile line cannot hold.
pub(super) fn shell_quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}

/// A Dockerfile being written, one instruction per call.
#[derive(Debug, Default)]
pub(super) struct Writer {
    text: String,
    uses_ca_bundle: bool,
}

impl Writer {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn line(&mut self, line: impl AsRef<str>) -> &mut Self {
        self.text.push_str(line.as_ref());
        self.text.push('\n');
        self
    }

    /// Starts a stage; stages after the first are preceded by a blank line.
    pub fn stage(&mut self, image: &str, name: Option<&str>) -> &mut Self {
        if !self.text.is_empty() {
            self.text.push('\n');
        }
        match name {
            Some(name) => self.line(format!("FROM {image} AS {name}")),
            None => self.line(format!("FROM {image}")),
        }
    }

    /// Copies the extra CA bundle into this stage and points every tool at it,
    /// when the options ask for it. Call before the stage's first network step.
    pub fn ca_bundle(&mut self, options: &PlanOptions) -> &mut Self {
        if !options.extra_ca_bundle {
            return self;
        }
        self.uses_ca_bundle = true;
        self.line(format!("COPY {CA_BUNDLE_CONTEXT_PATH} {CA_BUNDLE_IMAGE_PATH}"));
        let variables: Vec<String> = CA_VARIABLES.iter().map(|name| format!("{name}={CA_BUNDLE_IMAGE_PATH}")).collect();
        self.line(format!("ENV {}", variables.join(" \\\n    ")))
    }

    /// Makes the unprivileged user (with a home, which npm and pip want) and
    /// switches to it. `useradd` is in every Debian image (even minbase);
    /// `adduser -D` covers Alpine-like bases; with neither, the numeric uid
    /// still runs, with a home made by hand.
    pub fn app_user(&mut self) -> &mut Self {
        self.line(format!(
            "RUN (groupadd --system --gid {APP_UID} app && useradd --system --uid {APP_UID} --gid {APP_UID} \
             --home-dir /home/app --create-home --shell /bin/sh app) 2>/dev/null \\\n    \
             || adduser -D -u {APP_UID} -h /home/app app 2>/dev/null \\\n    \
             || (mkdir -p /home/app && chown {APP_UID}:{APP_UID} /home/app)"
        ));
        self.line("ENV HOME=/home/app");
        self.line(format!("USER {APP_UID}:{APP_UID}"))
    }

    /// `ENV PORT=…` (Dockyard overrides it with the service's port) and `EXPOSE`.
    pub fn port(&mut self, port: u16) -> &mut Self {
        self.line(format!("ENV PORT={port}"));
        self.line(format!("EXPOSE {port}"))
    }

    /// `CMD` in exec form; the JSON encoding escapes whatever the command holds.
    pub fn cmd(&mut self, command: &Command) -> &mut Self {
        let json = serde_json::to_string(&command.argv).unwrap_or_else(|_| "[]".to_owned());
        self.line(format!("CMD {json}"))
    }

    pub fn uses_ca_bundle(&self) -> bool {
        self.uses_ca_bundle
    }

    pub fn finish(&self) -> String {
        self.text.clone()
    }
}
