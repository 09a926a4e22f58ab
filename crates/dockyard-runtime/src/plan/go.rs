//! Go: `go.mod`. A two-stage build: modules downloaded from `go.mod`/`go.sum`
//! first (skipped when vendored), a static binary (`CGO_ENABLED=0`) of the
//! main package (the root, else the one under `cmd/`), run on the runtime
//! image with the build image's CA certificates.

use super::source::Source;
use super::writer::{Command, Writer};
use super::{PlanError, PlanOptions, Rendered, Stack};

pub(super) const PORT: u16 = 8080;
/// How much of a `.go` file is read to find its package clause.
const SNIFF_BYTES: u64 = 16 * 1024;

pub(super) struct GoApp {
    has_go_sum: bool,
    vendored: bool,
    /// The main package to build (`.` or `./cmd/name`), and the binary's name.
    main: Option<(String, String)>,
    notes: Vec<String>,
}

impl GoApp {
    pub fn detect(source: &Source) -> Result<Option<Self>, PlanError> {
        let Some(text) = source.read("go.mod")? else { return Ok(None) };
        let mut module = None;
        let mut notes = Vec::new();
        for line in text.lines().map(|line| line.split("//").next().unwrap_or("").trim()) {
            if let Some(path) = line.strip_prefix("module ") {
                module = Some(path.trim().trim_matches('"').to_owned());
            } else if let Some(version) = line.strip_prefix("go ") {
                notes.push(format!(
                    "go.mod asks for Go {}; if the image's Go is older, the build downloads that toolchain.",
                    version.trim()
                ));
            }
        }
        let Some(module) = module.filter(|module| !module.is_empty()) else {
            return Err(PlanError::InvalidFile { file: "go.mod".to_owned(), why: "it has no module line".to_owned() });
        };
        let module_name = module.rsplit('/').next().unwrap_or("app").to_owned();
        let main = find_main(source, &module_name, &mut notes)?;
        notes.push(
            "Only the binary is in the image: embed templates and assets with go:embed, and listen on $PORT."
                .to_owned(),
        );
        Ok(Some(Self { has_go_sum: source.is_file("go.sum")?, vendored: source.is_dir("vendor")?, main, notes }))
    }

    pub fn plan(
        &self,
        options: &PlanOptions,
        procfile: Option<Command>,
        notes: &mut Vec<String>,
    ) -> Result<Rendered, PlanError> {
        let Some((package, binary)) = &self.main else {
            return Err(PlanError::NoEntryPoint {
                stack: "Go",
                looked_for: "package main at the root or in a folder under cmd/".to_owned(),
            });
        };
        notes.extend(self.notes.iter().cloned());
        let installed = format!("/usr/local/bin/{binary}");
        let command = procfile.unwrap_or_else(|| Command::exec(&[&installed]));
        let build = format!("go build -trimpath -ldflags=\"-s -w\" -o /out/{binary} {package}");

        let mut writer = Writer::new();
        writer.stage(&options.images.go, Some("build"));
        writer.line("WORKDIR /src");
        writer.line("ENV CGO_ENABLED=0");
        writer.ca_bundle(options);
        if !self.vendored {
            let manifests = if self.has_go_sum { "go.mod go.sum" } else { "go.mod" };
            writer.line(format!("COPY {manifests} ./"));
            writer.line("RUN go mod download");
        }
        writer.line("COPY . .");
        writer.line(format!("RUN {build}"));

        writer.stage(&options.images.runtime, None);
        writer.line("COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt");
        writer.ca_bundle(options);
        writer.line("WORKDIR /app");
        writer.app_user();
        writer.line(format!("COPY --from=build /out/{binary} {installed}"));
        writer.port(PORT);
        writer.cmd(&command);
        Ok(Rendered {
            stack: Stack::Go,
            dockerfile: writer.finish(),
            build_command: Some(build),
            start_command: command.shown,
            port_hint: PORT,
            uses_ca_bundle: writer.uses_ca_bundle(),
        })
    }
}

/// A name usable as a file name and a shell word.
pub(super) fn is_simple_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with(['.', '-'])
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// Whether a folder holds a `package main` Go file (tests aside).
fn is_main_package(source: &Source, folder: &str) -> Result<bool, PlanError> {
    for name in source.list(folder)? {
        if !name.ends_with(".go") || name.ends_with("_test.go") {
            continue;
        }
        let path = if folder == "." { name } else { format!("{folder}/{name}") };
        let Some(text) = source.read_prefix(&path, SNIFF_BYTES)? else { continue };
        if text.lines().any(|line| line.trim() == "package main" || line.trim_start().starts_with("package main ")) {
            return Ok(true);
        }
    }
    Ok(false)
}

fn find_main(
    source: &Source,
    module_name: &str,
    notes: &mut Vec<String>,
) -> Result<Option<(String, String)>, PlanError> {
    let fallback = if is_simple_name(module_name) { module_name } else { "app" };
    if is_main_package(source, ".")? {
        return Ok(Some((".".to_owned(), fallback.to_owned())));
    }
    let mut commands = Vec::new();
    for name in source.list("cmd")? {
        if is_simple_name(&name)
            && source.is_dir(&format!("cmd/{name}"))?
            && is_main_package(source, &format!("cmd/{name}"))?
        {
            commands.push(name);
        }
    }
    let chosen = commands.iter().find(|name| name.as_str() == module_name).or_else(|| commands.first()).cloned();
    if let Some(chosen) = &chosen
        && commands.len() > 1
    {
        notes.push(format!("Main packages under cmd/: {}; building cmd/{chosen}.", commands.join(", ")));
    }
    Ok(chosen.map(|name| (format!("./cmd/{name}"), name)))
}
