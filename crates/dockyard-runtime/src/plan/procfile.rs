//! Procfiles: the `web:` process runs (through `/bin/sh -c`, so `$PORT`
//! expands as on Heroku) on the image and dependencies of the language
//! detected beside it, or on the runtime image with the source copied in.

use super::source::Source;
use super::writer::{Command, Writer};
use super::{Language, Plan, PlanError, PlanOptions, Rendered, Stack};

const PORT: u16 = 8080;

/// The processes of a Procfile, in order: `(name, command)`.
pub(super) fn parse(text: &str) -> Result<Vec<(String, String)>, PlanError> {
    let mut processes = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let invalid = |why: String| PlanError::InvalidFile { file: "Procfile".to_owned(), why };
        let Some((name, command)) = line.split_once(':') else {
            return Err(invalid(format!("line {} is not \"name: command\"", index + 1)));
        };
        let name = name.trim();
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
            return Err(invalid(format!("line {} has no valid process name before the colon", index + 1)));
        }
        let command = command.trim();
        if command.is_empty() {
            return Err(invalid(format!("the {name} process on line {} has no command", index + 1)));
        }
        processes.push((name.to_owned(), command.to_owned()));
    }
    Ok(processes)
}

pub(super) fn plan(
    source: &Source,
    options: &PlanOptions,
    text: &str,
    language: Option<Language>,
) -> Result<Plan, PlanError> {
    let processes = parse(text)?;
    let Some((_, web)) = processes.iter().find(|(name, _)| name == "web") else {
        let names: Vec<&str> = processes.iter().map(|(name, _)| name.as_str()).collect();
        let found = if names.is_empty() { "none".to_owned() } else { names.join(", ") };
        return Err(PlanError::InvalidFile {
            file: "Procfile".to_owned(),
            why: format!("it has no web process (found: {found})"),
        });
    };
    let command = Command::shell(web);
    let mut notes = vec!["The Procfile's web process must listen on $PORT.".to_owned()];
    let others: Vec<&str> = processes.iter().map(|(name, _)| name.as_str()).filter(|name| *name != "web").collect();
    if !others.is_empty() {
        notes.push(format!("Only the web process runs; {} are not started.", others.join(", ")));
    }
    let mut rendered = match &language {
        Some(language) => language.render(source, options, Some(command), &mut notes)?,
        None => {
            notes.push("No language detected: the source runs on the runtime image as is.".to_owned());
            generic(options, command)
        }
    };
    rendered.stack = Stack::Procfile {
        process: "web".to_owned(),
        language: language.as_ref().map(|language| language.name().to_owned()),
    };
    Ok(rendered.with_notes(notes))
}

/// The source on the runtime image, started with the Procfile's command.
fn generic(options: &PlanOptions, command: Command) -> Rendered {
    let mut writer = Writer::new();
    writer.stage(&options.images.runtime, None);
    writer.ca_bundle(options);
    writer.line("WORKDIR /app");
    writer.line("COPY . .");
    writer.app_user();
    writer.port(PORT);
    writer.cmd(&command);
    Rendered {
        stack: Stack::Procfile { process: "web".to_owned(), language: None },
        dockerfile: writer.finish(),
        build_command: None,
        start_command: command.shown,
        port_hint: PORT,
        uses_ca_bundle: writer.uses_ca_bundle(),
    }
}
