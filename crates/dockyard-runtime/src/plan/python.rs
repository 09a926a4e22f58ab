//! Python: `requirements.txt` and/or `pyproject.toml`. Dependencies go into a
//! virtualenv made with `python3 -m venv` (the local base image has no `pip`
//! on `PATH`; the official one has, and both have `venv`), and nothing is
//! installed when nothing is listed.
//!
//! The entry point, first match wins: a `gunicorn` or `uvicorn` dependency with
//! a module it can serve (a Django project's `wsgi.py`/`asgi.py`, else
//! `app.py`, `main.py`, … and the `app`/`application`/`api` object in it),
//! then `main.py`, `app.py`, `manage.py runserver`, the first of
//! `[project.scripts]`. The server hint comes first because a declared
//! production server is the stronger signal: `python app.py` on a Flask app
//! would start the development server on port 5000.

use std::collections::BTreeSet;

use toml::{Table, Value};

use super::source::Source;
use super::writer::{Command, Writer, shell_quote};
use super::{PlanError, PlanOptions, Rendered, Stack};

pub(super) const PORT: u16 = 8000;
const VENV: &str = "/opt/venv";
/// How much of a module is read to find its app object.
const SNIFF_BYTES: u64 = 256 * 1024;

/// What `requirements.txt` asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Requirements {
    Absent,
    /// Only comments and blank lines.
    Empty,
    /// `needs_source`: it refers to other files (`-r`, `-e .`, local paths), so
    /// the install runs after the whole source is copied.
    Listed {
        needs_source: bool,
    },
}

/// What `pyproject.toml` says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Pyproject {
    /// `[project].dependencies`, PEP 508 strings.
    dependencies: Vec<String>,
    /// `[project.scripts]` and `[tool.poetry.scripts]` names, sorted.
    scripts: Vec<String>,
    /// `[tool.poetry.dependencies]` other than `python`: only `pip install .` gets them.
    poetry_dependencies: bool,
}

pub(super) struct PythonApp {
    requirements: Requirements,
    pyproject: Option<Pyproject>,
    /// The guessed entry, its start command and the notes explaining the guess.
    entry: Option<(String, Command, Vec<String>)>,
}

impl PythonApp {
    pub fn detect(source: &Source) -> Result<Option<Self>, PlanError> {
        let requirements_text = source.read("requirements.txt")?;
        let pyproject_text = source.read("pyproject.toml")?;
        if requirements_text.is_none() && pyproject_text.is_none() {
            return Ok(None);
        }
        let mut names = BTreeSet::new();
        let requirements = match &requirements_text {
            None => Requirements::Absent,
            Some(text) => parse_requirements(text, &mut names),
        };
        let pyproject = pyproject_text.as_deref().map(|text| parse_pyproject(text, &mut names)).transpose()?;
        let entry = guess_entry(source, &names, pyproject.as_ref())?;
        Ok(Some(Self { requirements, pyproject, entry }))
    }

    pub fn plan(
        &self,
        options: &PlanOptions,
        procfile: Option<Command>,
        notes: &mut Vec<String>,
    ) -> Result<Rendered, PlanError> {
        let command = match procfile {
            Some(command) => command,
            None => self.start(notes)?,
        };
        Ok(self.render(options, &command, notes))
    }

    fn start(&self, notes: &mut Vec<String>) -> Result<Command, PlanError> {
        match &self.entry {
            Some((_, command, entry_notes)) => {
                notes.extend(entry_notes.iter().cloned());
                Ok(command.clone())
            }
            None => Err(PlanError::NoEntryPoint {
                stack: "Python",
                looked_for: "gunicorn or uvicorn in the dependencies with an app module, main.py, app.py, \
                             manage.py, [project.scripts]"
                    .to_owned(),
            }),
        }
    }

    fn render(&self, options: &PlanOptions, command: &Command, notes: &mut Vec<String>) -> Rendered {
        let pip = format!("{VENV}/bin/pip");
        let mut before_source: Vec<String> = Vec::new();
        let mut after_source: Vec<String> = Vec::new();
        let mut build_steps: Vec<String> = Vec::new();
        match self.requirements {
            Requirements::Listed { needs_source: false } => {
                before_source.push("COPY requirements.txt ./".to_owned());
                before_source.push(format!("RUN {pip} install -r requirements.txt"));
                build_steps.push("pip install -r requirements.txt".to_owned());
            }
            Requirements::Listed { needs_source: true } => {
                after_source.push(format!("RUN {pip} install -r requirements.txt"));
                build_steps.push("pip install -r requirements.txt".to_owned());
                notes.push(
                    "requirements.txt refers to other files, so it is installed after the whole source is copied."
                        .to_owned(),
                );
            }
            Requirements::Empty => {
                notes.push("requirements.txt lists nothing: no install step.".to_owned());
            }
            Requirements::Absent => {}
        }
        let mut dependencies_installed = self.requirements != Requirements::Absent;
        if let Some(pyproject) = &self.pyproject {
            if self.requirements == Requirements::Absent && !pyproject.dependencies.is_empty() {
                let quoted: Vec<String> =
                    pyproject.dependencies.iter().map(|dependency| shell_quote(dependency)).collect();
                before_source.push("COPY pyproject.toml ./".to_owned());
                before_source.push(format!("RUN {pip} install {}", quoted.join(" ")));
                build_steps.push("pip install <[project].dependencies>".to_owned());
                dependencies_installed = true;
            }
            if !pyproject.scripts.is_empty() || (pyproject.poetry_dependencies && !dependencies_installed) {
                // The project itself (for its console scripts, or its Poetry dependencies).
                let no_deps = if dependencies_installed { " --no-deps" } else { "" };
                after_source.push(format!("RUN {pip} install{no_deps} ."));
                build_steps.push(format!("pip install{no_deps} ."));
            }
        }

        let mut writer = Writer::new();
        writer.stage(&options.images.python, None);
        writer.line("WORKDIR /app");
        writer.line(
            "ENV PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1",
        );
        writer.ca_bundle(options);
        if !before_source.is_empty() || !after_source.is_empty() {
            writer.line(format!("RUN python3 -m venv {VENV}"));
            writer.line(format!("ENV VIRTUAL_ENV={VENV} PATH={VENV}/bin:$PATH"));
        }
        for line in &before_source {
            writer.line(line);
        }
        writer.line("COPY . .");
        for line in &after_source {
            writer.line(line);
        }
        writer.app_user();
        writer.port(PORT);
        writer.cmd(command);
        let entry = self.entry.as_ref().map_or_else(|| command.shown.clone(), |(entry, _, _)| entry.clone());
        Rendered {
            stack: Stack::Python { entry },
            dockerfile: writer.finish(),
            build_command: (!build_steps.is_empty()).then(|| build_steps.join(" && ")),
            start_command: command.shown.clone(),
            port_hint: PORT,
            uses_ca_bundle: writer.uses_ca_bundle(),
        }
    }
}

/// A dependency's name as pip compares them: lower case, `_` and `.` as `-`.
fn normalise_name(requirement: &str) -> Option<String> {
    let end = requirement
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.'))
        .unwrap_or(requirement.len());
    let name = &requirement[..end];
    (!name.is_empty()).then(|| name.to_ascii_lowercase().replace(['_', '.'], "-"))
}

fn parse_requirements(text: &str, names: &mut BTreeSet<String>) -> Requirements {
    // Options that need no other file from the source.
    const HARMLESS_OPTIONS: [&str; 7] =
        ["-i", "--index-url", "--extra-index-url", "--trusted-host", "--pre", "--prefer-binary", "--only-binary"];
    let joined = text.replace("\\\r\n", " ").replace("\\\n", " ");
    let mut listed = false;
    let mut needs_source = false;
    for line in joined.lines() {
        // A comment starts at a `#` at the start of the line or after whitespace.
        let line = match line.find(" #").or_else(|| line.find("\t#")) {
            Some(at) => &line[..at],
            None if line.trim_start().starts_with('#') => "",
            None => line,
        };
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        listed = true;
        if line.starts_with('-') {
            if !HARMLESS_OPTIONS.iter().any(|option| line.starts_with(option)) {
                needs_source = true;
            }
            continue;
        }
        if line.starts_with('.') || line.starts_with('/') || line.starts_with("file:") {
            needs_source = true;
            continue;
        }
        names.extend(normalise_name(line));
    }
    if listed { Requirements::Listed { needs_source } } else { Requirements::Empty }
}

fn parse_pyproject(text: &str, names: &mut BTreeSet<String>) -> Result<Pyproject, PlanError> {
    let invalid = |why: String| PlanError::InvalidFile { file: "pyproject.toml".to_owned(), why };
    let table: Table = toml::from_str(text).map_err(|error| invalid(error.to_string().trim_end().to_owned()))?;
    let mut pyproject = Pyproject::default();
    let mut scripts = BTreeSet::new();
    if let Some(project) = table.get("project") {
        let project = project.as_table().ok_or_else(|| invalid("[project] is not a table".to_owned()))?;
        if let Some(dependencies) = project.get("dependencies") {
            let dependencies =
                dependencies.as_array().ok_or_else(|| invalid("[project].dependencies is not an array".to_owned()))?;
            for dependency in dependencies {
                let dependency = dependency
                    .as_str()
                    .ok_or_else(|| invalid("[project].dependencies holds something other than strings".to_owned()))?;
                if dependency.chars().any(|c| c.is_control() || c == '\\') {
                    return Err(invalid(format!(
                        "the dependency {dependency:?} contains control characters or backslashes"
                    )));
                }
                names.extend(normalise_name(dependency.trim()));
                pyproject.dependencies.push(dependency.trim().to_owned());
            }
        }
        collect_scripts(project.get("scripts"), "[project.scripts]", &mut scripts).map_err(invalid)?;
    }
    if let Some(poetry) = table.get("tool").and_then(|tool| tool.get("poetry")) {
        if let Some(dependencies) = poetry.get("dependencies").and_then(Value::as_table) {
            for name in dependencies.keys().filter(|name| name.as_str() != "python") {
                pyproject.poetry_dependencies = true;
                names.extend(normalise_name(name));
            }
        }
        collect_scripts(poetry.get("scripts"), "[tool.poetry.scripts]", &mut scripts).map_err(invalid)?;
    }
    pyproject.scripts = scripts.into_iter().collect();
    Ok(pyproject)
}

fn collect_scripts(scripts: Option<&Value>, what: &str, into: &mut BTreeSet<String>) -> Result<(), String> {
    let Some(scripts) = scripts else { return Ok(()) };
    let scripts = scripts.as_table().ok_or_else(|| format!("{what} is not a table"))?;
    // Names become a CMD word: keep those a console script can have.
    into.extend(
        scripts
            .keys()
            .filter(|name| name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
            .cloned(),
    );
    Ok(())
}

fn is_identifier(word: &str) -> bool {
    let mut chars = word.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Server {
    Gunicorn,
    Uvicorn,
}

impl Server {
    fn name(self) -> &'static str {
        match self {
            Self::Gunicorn => "gunicorn",
            Self::Uvicorn => "uvicorn",
        }
    }

    /// The files that may hold the app, most likely first.
    fn candidates(self) -> [&'static str; 7] {
        match self {
            Self::Gunicorn => ["app.py", "main.py", "wsgi.py", "server.py", "application.py", "api.py", "app/main.py"],
            Self::Uvicorn => ["main.py", "app.py", "asgi.py", "server.py", "api.py", "application.py", "app/main.py"],
        }
    }

    fn command(self, target: &str, factory: bool) -> Command {
        match (self, factory) {
            (Self::Gunicorn, false) => Command::shell_exec(&format!("gunicorn --bind \"0.0.0.0:$PORT\" {target}")),
            (Self::Gunicorn, true) => Command::shell_exec(&format!("gunicorn --bind \"0.0.0.0:$PORT\" '{target}()'")),
            (Self::Uvicorn, false) => Command::shell_exec(&format!("uvicorn {target} --host 0.0.0.0 --port \"$PORT\"")),
            (Self::Uvicorn, true) => {
                Command::shell_exec(&format!("uvicorn --factory {target} --host 0.0.0.0 --port \"$PORT\""))
            }
        }
    }
}

type Entry = Option<(String, Command, Vec<String>)>;

fn guess_entry(source: &Source, names: &BTreeSet<String>, pyproject: Option<&Pyproject>) -> Result<Entry, PlanError> {
    let server = if names.contains("uvicorn") {
        Some(Server::Uvicorn)
    } else if names.contains("gunicorn") {
        Some(Server::Gunicorn)
    } else {
        None
    };
    if let Some(server) = server
        && let Some(entry) = server_entry(source, server)?
    {
        return Ok(Some(entry));
    }
    for script in ["main.py", "app.py"] {
        if source.is_file(script)? {
            let notes = vec![format!(
                "Running {script} with python3; it must listen on the port in $PORT (default {PORT}).{}",
                match server {
                    Some(server) => format!(" {} is a dependency, but no app module for it was found.", server.name()),
                    None => String::new(),
                }
            )];
            return Ok(Some((script.to_owned(), Command::exec(&["python3", script]), notes)));
        }
    }
    if source.is_file("manage.py")? {
        let notes = vec![
            "Django's development server (manage.py runserver) is used: add gunicorn to the requirements for production."
                .to_owned(),
        ];
        let command = Command::shell_exec("python3 manage.py runserver \"0.0.0.0:$PORT\"");
        return Ok(Some(("manage.py".to_owned(), command, notes)));
    }
    if let Some(pyproject) = pyproject
        && let Some(script) = pyproject.scripts.first()
    {
        let mut notes = vec![format!("Running the console script {script}; it must listen on the port in $PORT.")];
        if pyproject.scripts.len() > 1 {
            notes.push(format!("Scripts declared: {}; the first is used.", pyproject.scripts.join(", ")));
        }
        return Ok(Some((script.clone(), Command::exec(&[script]), notes)));
    }
    Ok(None)
}

/// `module:attribute` for gunicorn or uvicorn, if a module is found.
fn server_entry(source: &Source, server: Server) -> Result<Entry, PlanError> {
    // Django: manage.py next to a package with wsgi.py / asgi.py.
    if source.is_file("manage.py")? {
        let file = match server {
            Server::Gunicorn => "wsgi.py",
            Server::Uvicorn => "asgi.py",
        };
        for package in source.list(".")? {
            if is_identifier(&package) && source.is_file(&format!("{package}/{file}"))? {
                let module = file.trim_end_matches(".py");
                let target = format!("{package}.{module}:application");
                let notes = vec![format!("A Django project served by {} ({target}).", server.name())];
                return Ok(Some((target.clone(), server.command(&target, false), notes)));
            }
        }
    }
    for candidate in server.candidates() {
        let Some(text) = source.read_prefix(candidate, SNIFF_BYTES)? else { continue };
        let module = candidate.trim_end_matches(".py").replace('/', ".");
        let (attribute, factory, guessed) = find_app_object(&text);
        let target = format!("{module}:{attribute}");
        let mut notes = vec![format!(
            "{} is a dependency: serving {target}{} on $PORT.",
            server.name(),
            if factory { " (an app factory)" } else { "" }
        )];
        if guessed {
            notes.push(format!("No app object was found in {candidate}; \"{attribute}\" is a guess."));
        }
        return Ok(Some((target.clone(), server.command(&target, factory), notes)));
    }
    Ok(None)
}

/// The app object in a module: the first of `app`, `application`, `api`,
/// `server` assigned at the top level, else a `create_app` factory, else
/// `app` as a guess. Answers (name, is a factory, is a guess).
fn find_app_object(text: &str) -> (&'static str, bool, bool) {
    const NAMES: [&str; 4] = ["app", "application", "api", "server"];
    for name in NAMES {
        let assigned = text.lines().any(|line| {
            line.strip_prefix(name).is_some_and(|rest| {
                let rest = rest.trim_start();
                (rest.starts_with('=') && !rest.starts_with("==")) || rest.starts_with(':')
            })
        });
        if assigned {
            return (name, false, false);
        }
    }
    if text.lines().any(|line| line.starts_with("def create_app(")) {
        return ("create_app", true, false);
    }
    ("app", false, true)
}
