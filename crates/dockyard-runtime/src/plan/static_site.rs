//! Static sites: an `index.html` at the root or in a usual output folder,
//! served by the configured [`StaticServer`] as `nobody`.

use super::source::Source;
use super::writer::{Command, NOBODY_UID, Writer};
use super::{Plan, PlanError, PlanOptions, STATIC_SITE_DIR, Stack, StaticServer};

/// Folders looked into, in order, after the root.
pub(super) const SITE_FOLDERS: [&str; 4] = ["public", "dist", "build", "www"];
pub(super) const PORT: u16 = 8080;

/// The folder holding `index.html` (`.` for the root).
pub(super) fn find_root(source: &Source) -> Result<Option<String>, PlanError> {
    if source.is_file("index.html")? {
        return Ok(Some(".".to_owned()));
    }
    for folder in SITE_FOLDERS {
        if source.is_file(&format!("{folder}/index.html"))? {
            return Ok(Some(folder.to_owned()));
        }
    }
    Ok(None)
}

/// The command serving [`STATIC_SITE_DIR`] on `$PORT`.
pub(super) fn server_command(options: &PlanOptions) -> Command {
    match &options.static_server {
        StaticServer::BusyboxHttpd => Command::shell_exec(&format!("httpd -f -v -p \"$PORT\" -h {STATIC_SITE_DIR}")),
        StaticServer::Command { command } => Command::shell(command),
    }
}

/// Ends a Dockerfile with the serving stage. `copy` is the instruction that
/// puts the site into [`STATIC_SITE_DIR`].
pub(super) fn serving_stage(writer: &mut Writer, options: &PlanOptions, copy: &str, from_root: bool) -> Command {
    writer.stage(&options.images.static_site, None);
    writer.line(copy);
    if from_root {
        // The whole source was copied: never serve what only the build needs.
        writer.line(format!(
            "RUN rm -rf {STATIC_SITE_DIR}/.git {STATIC_SITE_DIR}/.env {STATIC_SITE_DIR}/.dockerignore {STATIC_SITE_DIR}/.dockyard"
        ));
    }
    writer.line(format!("USER {NOBODY_UID}:{NOBODY_UID}"));
    writer.port(PORT);
    let command = server_command(options);
    writer.cmd(&command);
    command
}

pub(super) fn plan(options: &PlanOptions, root: &str) -> Plan {
    let mut writer = Writer::new();
    let from_root = root == ".";
    let copy =
        if from_root { format!("COPY . {STATIC_SITE_DIR}/") } else { format!("COPY {root}/ {STATIC_SITE_DIR}/") };
    let command = serving_stage(&mut writer, options, &copy, from_root);
    let mut notes = Vec::new();
    if from_root {
        notes.push(
            "The whole source folder is served; list what must stay private in .dockerignore \
             (.git, .env and .dockyard are removed)."
                .to_owned(),
        );
    } else {
        notes.push(format!("Serving {root}/, the first of {} with an index.html.", SITE_FOLDERS.join("/, ") + "/"));
    }
    Plan {
        stack: Stack::Static { root: root.to_owned() },
        dockerfile: crate::Dockerfile::Inline(writer.finish()),
        build_command: None,
        start_command: Some(command.shown),
        port_hint: Some(PORT),
        notes,
        ca_bundle: None,
        extra_files: Vec::new(),
    }
}
