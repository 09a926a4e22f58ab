//! Node: `package.json`; the lock file picks npm, pnpm or yarn (the last two
//! through corepack, or a global install where the image has no corepack); the
//! `build` script runs when there is one; the app starts with the `start`
//! script, else `main`, else `server.js` or `index.js`. A project with only a
//! `build` script (a Vite or React single-page app) is built with Node and its
//! output served as a static site.

use std::collections::BTreeMap;

use serde_json::Value;

use super::source::Source;
use super::writer::{Command, Writer};
use super::{PlanError, PlanOptions, Rendered, STATIC_SITE_DIR, Stack, static_site};

pub(super) const PORT: u16 = 3000;

/// Lock files in the order they decide, with their package manager.
const LOCK_FILES: [(&str, PackageManager); 4] = [
    ("pnpm-lock.yaml", PackageManager::Pnpm),
    ("yarn.lock", PackageManager::Yarn),
    ("package-lock.json", PackageManager::Npm),
    ("npm-shrinkwrap.json", PackageManager::Npm),
];

/// Configuration files the install step reads, copied with the manifest when present.
const INSTALL_CONFIG_FILES: [&str; 4] = [".npmrc", ".yarnrc", ".yarnrc.yml", ".pnpmfile.cjs"];

/// Scripts that run during the install and may need the whole source.
const INSTALL_SCRIPTS: [&str; 4] = ["preinstall", "install", "postinstall", "prepare"];

/// How a Node app starts.
enum Start {
    Command(Command),
    /// A build with no server: its output folder is served as a static site.
    StaticBuild {
        out_dir: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum PackageManager {
    Npm,
    Pnpm,
    Yarn,
}

impl PackageManager {
    pub fn name(self) -> &'static str {
        match self {
            Self::Npm => "npm",
            Self::Pnpm => "pnpm",
            Self::Yarn => "yarn",
        }
    }

    fn install(self, locked: bool) -> &'static str {
        match (self, locked) {
            (Self::Npm, true) => "npm ci --no-audit --no-fund",
            (Self::Npm, false) => "npm install --no-audit --no-fund",
            (Self::Pnpm, true) => "pnpm install --frozen-lockfile",
            (Self::Pnpm, false) => "pnpm install",
            (Self::Yarn, true) => "yarn install --frozen-lockfile",
            (Self::Yarn, false) => "yarn install",
        }
    }
}

pub(super) struct NodeApp {
    package_manager: PackageManager,
    locked: bool,
    /// Copied before the install: `package.json`, the lock file, install configuration.
    manifest_files: Vec<String>,
    /// Yarn's own folder (a pinned yarn release, plugins), copied with the manifest.
    yarn_folder: bool,
    /// Why the whole source must be there before the install, if it must.
    source_before_install: Option<String>,
    scripts: BTreeMap<String, String>,
    main: Option<String>,
    notes: Vec<String>,
}

impl NodeApp {
    pub fn detect(source: &Source) -> Result<Option<Self>, PlanError> {
        let Some(text) = source.read("package.json")? else { return Ok(None) };
        let invalid = |why: String| PlanError::InvalidFile { file: "package.json".to_owned(), why };
        let manifest: Value = serde_json::from_str(&text).map_err(|error| invalid(error.to_string()))?;
        let Value::Object(manifest) = manifest else {
            return Err(invalid("it is not a JSON object".to_owned()));
        };
        let mut notes = Vec::new();

        let scripts = match manifest.get("scripts") {
            None | Some(Value::Null) => BTreeMap::new(),
            Some(Value::Object(scripts)) => scripts
                .iter()
                .filter_map(|(name, script)| Some((name.clone(), script.as_str()?.trim().to_owned())))
                .filter(|(_, script)| !script.is_empty())
                .collect(),
            Some(_) => return Err(invalid("\"scripts\" is not an object".to_owned())),
        };
        let main = match manifest.get("main") {
            None | Some(Value::Null) => None,
            Some(Value::String(main)) if main.trim().is_empty() => None,
            Some(Value::String(main)) if main.chars().any(char::is_control) => {
                return Err(invalid("\"main\" contains control characters".to_owned()));
            }
            Some(Value::String(main)) => Some(main.trim().to_owned()),
            Some(_) => return Err(invalid("\"main\" is not a string".to_owned())),
        };

        let mut manifest_files = vec!["package.json".to_owned()];
        let mut lock = None;
        for (file, manager) in LOCK_FILES {
            if source.is_file(file)? {
                manifest_files.push(file.to_owned());
                match lock {
                    None => lock = Some((file, manager)),
                    Some((chosen, _)) => notes.push(format!("Both {chosen} and {file} are here; {chosen} decides.")),
                }
            }
        }
        let package_manager = match lock {
            Some((_, manager)) => manager,
            None => {
                // Without a lock file, corepack's `packageManager` field ("pnpm@9.1.0") decides.
                let declared = manifest.get("packageManager").and_then(Value::as_str).unwrap_or("");
                let manager = match declared.split('@').next() {
                    Some("pnpm") => PackageManager::Pnpm,
                    Some("yarn") => PackageManager::Yarn,
                    _ => PackageManager::Npm,
                };
                notes.push(format!(
                    "No lock file: dependencies are resolved afresh on every build with {}; commit one for repeatable builds.",
                    manager.name()
                ));
                manager
            }
        };
        for file in INSTALL_CONFIG_FILES {
            if source.is_file(file)? {
                manifest_files.push(file.to_owned());
            }
        }
        let yarn_folder = package_manager == PackageManager::Yarn && source.is_dir(".yarn")?;

        let source_before_install = if manifest.contains_key("workspaces") || source.is_file("pnpm-workspace.yaml")? {
            Some("This is a workspace (monorepo), so the whole source is copied before the install.".to_owned())
        } else {
            INSTALL_SCRIPTS.iter().find(|name| scripts.contains_key(**name)).map(|script| {
                format!(
                    "The {script} script may need the source, so the whole source is copied before the install \
                     (a code change reinstalls the dependencies)."
                )
            })
        };

        if let Some(engines) = manifest.get("engines").and_then(|engines| engines.get("node")).and_then(Value::as_str) {
            notes.push(format!("package.json asks for Node {engines}; check that the Node image provides it."));
        }
        if source.is_dir("node_modules")? && !ignores(source, "node_modules")? {
            notes.push(
                "node_modules is in the source and not in .dockerignore: it is copied over the installed one; \
                 add it to .dockerignore."
                    .to_owned(),
            );
        }

        Ok(Some(Self {
            package_manager,
            locked: lock.is_some(),
            manifest_files,
            yarn_folder,
            source_before_install,
            scripts,
            main,
            notes,
        }))
    }

    pub fn plan(
        &self,
        source: &Source,
        options: &PlanOptions,
        procfile: Option<Command>,
        notes: &mut Vec<String>,
    ) -> Result<Rendered, PlanError> {
        let start = match procfile {
            Some(command) => Start::Command(command),
            None => self.start(source, notes)?,
        };
        Ok(self.render(options, &start, notes))
    }

    fn start(&self, source: &Source, notes: &mut Vec<String>) -> Result<Start, PlanError> {
        let manager = self.package_manager.name();
        if self.scripts.contains_key("start") {
            return Ok(Start::Command(Command::exec(&[manager, "start"])));
        }
        if let Some(main) = &self.main {
            // A `main` outside the source (or unreadable) is only reported, like a missing one.
            if !source.is_file(main).unwrap_or(false) && !self.scripts.contains_key("build") {
                notes.push(format!("\"main\" is {main}, which is not in the source."));
            }
            notes.push(format!("No start script: running \"main\" ({main}); it must listen on $PORT."));
            return Ok(Start::Command(Command::exec(&["node", main])));
        }
        for file in ["server.js", "index.js"] {
            if source.is_file(file)? {
                notes.push(format!("No start script or \"main\": running {file}; it must listen on $PORT."));
                return Ok(Start::Command(Command::exec(&["node", file])));
            }
        }
        if let Some(build) = self.scripts.get("build") {
            let out_dir = if build.contains("react-scripts") { "build" } else { "dist" };
            notes
                .push(format!("No server to start: the build output {out_dir}/ (a guess) is served as a static site."));
            return Ok(Start::StaticBuild { out_dir: out_dir.to_owned() });
        }
        Err(PlanError::NoEntryPoint {
            stack: "Node",
            looked_for: "a start script, \"main\" in package.json, server.js, index.js, or a build script".to_owned(),
        })
    }

    fn install_command(&self) -> &'static str {
        self.package_manager.install(self.locked)
    }

    /// Writes the build stage up to and including the `build` script.
    fn write_build(&self, writer: &mut Writer, options: &PlanOptions, stage: Option<&str>) {
        let manager = self.package_manager.name();
        writer.stage(&options.images.node, stage);
        writer.line("WORKDIR /app");
        writer.ca_bundle(options);
        if self.package_manager != PackageManager::Npm {
            writer.line("ENV COREPACK_ENABLE_DOWNLOAD_PROMPT=0");
            writer.line(format!(
                "RUN corepack enable 2>/dev/null || npm install --global --no-audit --no-fund {manager}"
            ));
        }
        if self.source_before_install.is_some() {
            writer.line("COPY . .");
            writer.line(format!("RUN {}", self.install_command()));
        } else {
            writer.line(format!("COPY {} ./", self.manifest_files.join(" ")));
            if self.yarn_folder {
                writer.line("COPY .yarn ./.yarn");
            }
            writer.line(format!("RUN {}", self.install_command()));
            writer.line("COPY . .");
        }
        // After the install, so that devDependencies (build tools) are installed.
        writer.line("ENV NODE_ENV=production");
        if self.scripts.contains_key("build") {
            writer.line(format!("RUN {manager} run build"));
        }
    }

    fn render(&self, options: &PlanOptions, start: &Start, notes: &mut Vec<String>) -> Rendered {
        notes.extend(self.notes.iter().cloned());
        notes.extend(self.source_before_install.iter().cloned());
        let manager = self.package_manager.name();
        let build_command = Some(match self.scripts.contains_key("build") {
            true => format!("{} && {manager} run build", self.install_command()),
            false => self.install_command().to_owned(),
        });
        let stack = Stack::Node { package_manager: manager.to_owned() };
        let mut writer = Writer::new();
        let (command, port) = match start {
            Start::StaticBuild { out_dir } => {
                self.write_build(&mut writer, options, Some("build"));
                let copy = format!("COPY --from=build /app/{out_dir}/ {STATIC_SITE_DIR}/");
                (static_site::serving_stage(&mut writer, options, &copy, false), static_site::PORT)
            }
            Start::Command(command) => {
                self.write_build(&mut writer, options, None);
                writer.app_user();
                writer.port(PORT);
                writer.cmd(command);
                (command.clone(), PORT)
            }
        };
        Rendered {
            stack,
            dockerfile: writer.finish(),
            build_command,
            start_command: command.shown,
            port_hint: port,
            uses_ca_bundle: writer.uses_ca_bundle(),
        }
    }
}

/// Whether `.dockerignore` has a line naming `entry` (roughly: `entry`,
/// `/entry`, `entry/`, `**/entry`).
fn ignores(source: &Source, entry: &str) -> Result<bool, PlanError> {
    let text = match source.read(".dockerignore") {
        Ok(text) => text.unwrap_or_default(),
        Err(PlanError::InvalidFile { .. }) => return Ok(false),
        Err(error) => return Err(error),
    };
    Ok(text.lines().map(str::trim).any(|line| {
        let line = line.trim_start_matches("**/").trim_start_matches('/').trim_end_matches('/');
        line == entry
    }))
}
