//! Rust: `Cargo.toml`. A two-stage release build of one binary (`default-run`,
//! the only one, the one named after the package, or the first; in a virtual
//! workspace, the members' binaries), run on the runtime image.
//!
//! The dependency layer: for a single package without path dependencies, the
//! manifest and lock file are copied alone and `cargo fetch` downloads the
//! crates (with a throwaway `src/main.rs`, since cargo refuses a manifest
//! without targets), so a code change does not download them again. The
//! compilation itself is not cached across code changes by the classic
//! builder; BuildKit cache mounts would be the next step.
//! When `Cargo.lock` has `openssl-sys`, the build stage gets `libssl-dev` and
//! the runtime stage `libssl3`.

use std::collections::BTreeSet;

use toml::{Table, Value};

use super::go::is_simple_name;
use super::source::Source;
use super::writer::{Command, Writer};
use super::{PlanError, PlanOptions, Rendered, Stack};

pub(super) const PORT: u16 = 8080;

pub(super) struct RustApp {
    binary: String,
    /// The workspace member holding the binary, when not the root package.
    package: Option<String>,
    locked: bool,
    fetch_first: bool,
    openssl: bool,
    notes: Vec<String>,
}

/// One package's manifest, as far as detection cares.
struct Package {
    name: String,
    binaries: BTreeSet<String>,
    default_run: Option<String>,
}

impl RustApp {
    pub fn detect(source: &Source) -> Result<Option<Self>, PlanError> {
        let Some(text) = source.read("Cargo.toml")? else { return Ok(None) };
        let manifest = parse_manifest("Cargo.toml", &text)?;
        let mut notes = Vec::new();
        let root = read_package(source, ".", "Cargo.toml", &manifest)?;
        let (binary, package) = match root.as_ref().and_then(choose_binary) {
            Some((binary, note)) => {
                notes.extend(note);
                (binary, None)
            }
            None => match workspace_binary(source, &manifest)? {
                Some((package, binary, note)) => {
                    notes.extend(note);
                    (binary, Some(package))
                }
                None => {
                    return Err(PlanError::NoEntryPoint {
                        stack: "Rust",
                        looked_for: "[[bin]], src/main.rs or src/bin/ in the package or the workspace members"
                            .to_owned(),
                    });
                }
            },
        };
        let locked = source.is_file("Cargo.lock")?;
        let openssl = match source.read("Cargo.lock") {
            Ok(lock) => lock.is_some_and(|lock| lock.contains("name = \"openssl-sys\"")),
            Err(PlanError::InvalidFile { .. }) => false,
            Err(error) => return Err(error),
        };
        let fetch_first = root.is_some() && !manifest.contains_key("workspace") && !has_local_dependencies(&manifest);
        if source.is_file("rust-toolchain.toml")? || source.is_file("rust-toolchain")? {
            notes.push(
                "A rust-toolchain file pins the toolchain; the build downloads it if the image lacks it.".to_owned(),
            );
        }
        notes.push("The binary must listen on the port in $PORT.".to_owned());
        Ok(Some(Self { binary, package, locked, fetch_first, openssl, notes }))
    }

    pub fn plan(&self, options: &PlanOptions, procfile: Option<Command>, notes: &mut Vec<String>) -> Rendered {
        notes.extend(self.notes.iter().cloned());
        let binary = &self.binary;
        let installed = format!("/usr/local/bin/{binary}");
        let command = procfile.unwrap_or_else(|| Command::exec(&[&installed]));
        let locked = if self.locked { " --locked" } else { "" };
        let package = self.package.as_ref().map(|package| format!(" -p {package}")).unwrap_or_default();
        let build = format!("cargo build --release{locked}{package} --bin {binary}");

        let mut writer = Writer::new();
        writer.stage(&options.images.rust, Some("build"));
        writer.line("WORKDIR /src");
        writer.line("ENV CARGO_TARGET_DIR=/src/target");
        writer.ca_bundle(options);
        if self.openssl {
            writer.line(
                "RUN apt-get update && apt-get install -y --no-install-recommends pkg-config libssl-dev \
                 && rm -rf /var/lib/apt/lists/*",
            );
        }
        if self.fetch_first {
            let manifests = if self.locked { "Cargo.toml Cargo.lock" } else { "Cargo.toml" };
            writer.line(format!("COPY {manifests} ./"));
            writer.line(format!(
                "RUN mkdir -p src && echo 'fn main() {{}}' > src/main.rs && cargo fetch{locked} && rm -rf src"
            ));
        }
        writer.line("COPY . .");
        writer.line(format!("RUN {build} && mkdir -p /out && cp /src/target/release/{binary} /out/{binary}"));

        writer.stage(&options.images.runtime, None);
        writer.ca_bundle(options);
        if self.openssl {
            writer.line(
                "RUN apt-get update && apt-get install -y --no-install-recommends libssl3 && rm -rf /var/lib/apt/lists/*",
            );
        }
        writer.line("COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt");
        writer.line("WORKDIR /app");
        writer.app_user();
        writer.line(format!("COPY --from=build /out/{binary} {installed}"));
        writer.port(PORT);
        writer.cmd(&command);
        Rendered {
            stack: Stack::Rust { binary: binary.clone() },
            dockerfile: writer.finish(),
            build_command: Some(build),
            start_command: command.shown,
            port_hint: PORT,
            uses_ca_bundle: writer.uses_ca_bundle(),
        }
    }
}

fn parse_manifest(file: &str, text: &str) -> Result<Table, PlanError> {
    toml::from_str(text)
        .map_err(|error| PlanError::InvalidFile { file: file.to_owned(), why: error.to_string().trim_end().to_owned() })
}

/// The `[package]` of a manifest in `folder` and its binaries; `None` for a
/// virtual manifest.
fn read_package(source: &Source, folder: &str, file: &str, manifest: &Table) -> Result<Option<Package>, PlanError> {
    let invalid = |why: &str| PlanError::InvalidFile { file: file.to_owned(), why: why.to_owned() };
    let Some(package) = manifest.get("package") else { return Ok(None) };
    let package = package.as_table().ok_or_else(|| invalid("[package] is not a table"))?;
    let name = package.get("name").and_then(Value::as_str).ok_or_else(|| invalid("[package] has no name"))?;
    if !is_simple_name(name) {
        return Err(invalid("the package name has characters cargo does not allow"));
    }
    let mut binaries = BTreeSet::new();
    if let Some(bins) = manifest.get("bin") {
        let bins = bins.as_array().ok_or_else(|| invalid("[[bin]] is not an array of tables"))?;
        for bin in bins {
            let bin_name = match bin.get("name") {
                None => name,
                Some(bin_name) => bin_name.as_str().ok_or_else(|| invalid("a [[bin]] name is not a string"))?,
            };
            if !is_simple_name(bin_name) {
                return Err(invalid("a [[bin]] name has characters cargo does not allow"));
            }
            binaries.insert(bin_name.to_owned());
        }
    }
    if package.get("autobins").and_then(Value::as_bool) != Some(false) {
        let prefix = if folder == "." { String::new() } else { format!("{folder}/") };
        if source.is_file(&format!("{prefix}src/main.rs"))? {
            binaries.insert(name.to_owned());
        }
        for entry in source.list(&format!("{prefix}src/bin"))? {
            let bin_name = match entry.strip_suffix(".rs") {
                Some(stem) => Some(stem.to_owned()),
                None => source.is_file(&format!("{prefix}src/bin/{entry}/main.rs"))?.then(|| entry.clone()),
            };
            binaries.extend(bin_name.filter(|bin_name| is_simple_name(bin_name)));
        }
    }
    let default_run = package.get("default-run").and_then(Value::as_str).map(str::to_owned);
    Ok(Some(Package { name: name.to_owned(), binaries, default_run }))
}

/// The binary to run, with a note when there was a choice.
fn choose_binary(package: &Package) -> Option<(String, Option<String>)> {
    let binaries = &package.binaries;
    if let Some(default_run) = package.default_run.as_ref().filter(|run| binaries.contains(*run)) {
        return Some((default_run.clone(), None));
    }
    let chosen = if binaries.contains(&package.name) { package.name.clone() } else { binaries.first()?.clone() };
    let note = (binaries.len() > 1).then(|| {
        let all: Vec<&str> = binaries.iter().map(String::as_str).collect();
        format!("Binaries: {}; running {chosen} (set default-run to choose).", all.join(", "))
    });
    Some((chosen, note))
}

/// A binary among the members of `[workspace]`: (package, binary, note).
fn workspace_binary(source: &Source, manifest: &Table) -> Result<Option<(String, String, Option<String>)>, PlanError> {
    let members = manifest
        .get("workspace")
        .and_then(|workspace| workspace.get("members"))
        .and_then(Value::as_array)
        .map(|members| members.iter().filter_map(Value::as_str).map(str::to_owned).collect::<Vec<_>>())
        .unwrap_or_default();
    let mut folders = Vec::new();
    for member in members {
        // Members are paths, possibly ending in one `*` level ("crates/*").
        if member.split('/').any(|part| part == ".." || part.is_empty()) || member.starts_with('/') {
            continue;
        }
        match member.strip_suffix("/*") {
            Some(parent) if !parent.contains('*') => {
                for name in source.list(parent)? {
                    folders.push(format!("{parent}/{name}"));
                }
            }
            _ if !member.contains('*') => folders.push(member.clone()),
            _ => {}
        }
    }
    let mut found: Vec<(String, String)> = Vec::new();
    for folder in folders {
        let file = format!("{folder}/Cargo.toml");
        let Some(text) = source.read(&file)? else { continue };
        let member_manifest = parse_manifest(&file, &text)?;
        if let Some(package) = read_package(source, &folder, &file, &member_manifest)?
            && let Some((binary, _)) = choose_binary(&package)
        {
            found.push((package.name, binary));
        }
    }
    found.sort();
    let Some((package, binary)) = found.first().cloned() else { return Ok(None) };
    let note = (found.len() > 1).then(|| {
        let all: Vec<String> = found.iter().map(|(package, binary)| format!("{binary} ({package})")).collect();
        format!("Workspace binaries: {}; running {binary}.", all.join(", "))
    });
    Ok(Some((package, binary, note)))
}

/// Whether a dependency needs files beside the manifest (`path = …`), or
/// `[patch]` replaces crates: then `cargo fetch` cannot run on the manifest alone.
fn has_local_dependencies(manifest: &Table) -> bool {
    if manifest.contains_key("patch") || manifest.contains_key("replace") {
        return true;
    }
    let has_path = |table: Option<&Value>| {
        table
            .and_then(Value::as_table)
            .is_some_and(|dependencies| dependencies.values().any(|dependency| dependency.get("path").is_some()))
    };
    let sections = ["dependencies", "dev-dependencies", "build-dependencies"];
    sections.iter().any(|section| has_path(manifest.get(*section)))
        || manifest.get("target").and_then(Value::as_table).is_some_and(|targets| {
            targets.values().any(|target| sections.iter().any(|section| has_path(target.get(*section))))
        })
}
