//! Stack detection on fixture folders made in temporary directories: every
//! stack, the priority rules, entry guessing, hostile and malformed input.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use super::*;

/// A temporary source folder, removed on drop.
struct Fixture {
    dir: PathBuf,
}

impl Fixture {
    fn new() -> Self {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
        let dir = std::env::temp_dir().join(format!(
            "dockyard-plan-{}-{}-{nanos:x}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Self { dir }
    }

    fn with(files: &[(&str, &str)]) -> Self {
        let fixture = Self::new();
        for (path, content) in files {
            fixture.file(path, content);
        }
        fixture
    }

    fn file(&self, path: &str, content: &str) -> &Self {
        let path = self.dir.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
        self
    }

    fn path(&self) -> &Path {
        &self.dir
    }

    fn detect(&self) -> Result<Plan, PlanError> {
        detect(&self.dir, &PlanOptions::default())
    }

    fn detect_with(&self, options: &PlanOptions) -> Result<Plan, PlanError> {
        detect(&self.dir, options)
    }

    fn plan(&self) -> Plan {
        self.detect().unwrap()
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn inline(plan: &Plan) -> &str {
    match &plan.dockerfile {
        crate::Dockerfile::Inline(text) => text,
        crate::Dockerfile::Path(path) => panic!("expected a generated Dockerfile, got the path {path}"),
    }
}

/// The index of the first line containing `needle`, to check instruction order.
fn line_of(dockerfile: &str, needle: &str) -> usize {
    dockerfile
        .lines()
        .position(|line| line.contains(needle))
        .unwrap_or_else(|| panic!("no line with {needle:?} in:\n{dockerfile}"))
}

fn with_ca() -> PlanOptions {
    PlanOptions { extra_ca_bundle: true, ..PlanOptions::default() }
}

fn invalid_file(result: Result<Plan, PlanError>) -> (String, String) {
    match result {
        Err(PlanError::InvalidFile { file, why }) => (file, why),
        other => panic!("expected InvalidFile, got {other:?}"),
    }
}

fn dockerfile_path_error(result: Result<Plan, PlanError>) -> String {
    match result {
        Err(PlanError::DockerfilePath { why, .. }) => why,
        other => panic!("expected DockerfilePath, got {other:?}"),
    }
}

const FLASK_APP: &str = "from flask import Flask\napp = Flask(__name__)\n";

// --- Priority -------------------------------------------------------------

#[test]
fn custom_dockerfile_path_wins_over_a_root_dockerfile_and_languages() {
    let fixture = Fixture::with(&[
        ("Dockerfile", "FROM scratch\n"),
        ("docker/prod.Dockerfile", "FROM busybox\nEXPOSE 9000/tcp\n"),
        ("package.json", "{}"),
    ]);
    let options =
        PlanOptions { dockerfile_path: Some("./docker//prod.Dockerfile".to_owned()), ..PlanOptions::default() };
    let plan = fixture.detect_with(&options).unwrap();
    assert_eq!(plan.stack, Stack::Dockerfile { path: "docker/prod.Dockerfile".to_owned() });
    assert_eq!(plan.dockerfile, crate::Dockerfile::Path("docker/prod.Dockerfile".to_owned()));
    assert_eq!(plan.port_hint, Some(9000));
    assert_eq!(plan.ca_bundle, None);
}

#[test]
fn custom_dockerfile_path_must_be_relative_without_dot_dot_and_exist() {
    let fixture = Fixture::with(&[("Dockerfile", "FROM scratch\n"), ("sub/Dockerfile", "FROM scratch\n")]);
    let try_path = |path: &str| {
        fixture.detect_with(&PlanOptions { dockerfile_path: Some(path.to_owned()), ..PlanOptions::default() })
    };
    assert!(dockerfile_path_error(try_path("/etc/passwd")).contains("relative"));
    assert!(dockerfile_path_error(try_path("../Dockerfile")).contains(".."));
    assert!(dockerfile_path_error(try_path("sub/../Dockerfile")).contains(".."));
    assert!(dockerfile_path_error(try_path("missing.Dockerfile")).contains("no such file"));
    assert!(dockerfile_path_error(try_path("sub")).contains("not a file"));
    assert!(dockerfile_path_error(try_path("")).contains("empty"));
    assert!(dockerfile_path_error(try_path(".")).contains("folder itself"));
    assert!(dockerfile_path_error(try_path("a\nb")).contains("control"));
    assert!(try_path("sub/Dockerfile").is_ok());
}

#[test]
fn custom_dockerfile_path_through_a_link_out_of_the_source_is_refused() {
    let outside = Fixture::with(&[("Dockerfile", "FROM scratch\n")]);
    let fixture = Fixture::new();
    std::os::unix::fs::symlink(outside.path().join("Dockerfile"), fixture.path().join("linked.Dockerfile")).unwrap();
    let options = PlanOptions { dockerfile_path: Some("linked.Dockerfile".to_owned()), ..PlanOptions::default() };
    assert!(dockerfile_path_error(fixture.detect_with(&options)).contains("link"));
}

#[test]
fn root_dockerfile_wins_over_procfile_and_languages_and_its_last_stage_expose_is_the_hint() {
    let fixture = Fixture::with(&[
        ("Dockerfile", "FROM golang AS build\nEXPOSE 1234\nFROM busybox\nexpose 8081 9090\nEXPOSE 7000\n"),
        ("Procfile", "web: ./run\n"),
        ("package.json", "{}"),
        ("index.html", "hi"),
    ]);
    let plan = fixture.plan();
    assert_eq!(plan.stack, Stack::Dockerfile { path: "Dockerfile".to_owned() });
    assert_eq!(plan.dockerfile, crate::Dockerfile::Path("Dockerfile".to_owned()));
    assert_eq!(plan.port_hint, Some(8081));
    assert_eq!(plan.build_command, None);
}

#[test]
fn expose_with_a_variable_gives_no_hint() {
    let fixture = Fixture::with(&[("Dockerfile", "FROM busybox\nEXPOSE $PORT\n")]);
    assert_eq!(fixture.plan().port_hint, None);
}

#[test]
fn procfile_wins_over_node_and_runs_its_web_process_on_the_node_build() {
    let fixture = Fixture::with(&[
        ("Procfile", "# processes\nweb: node web.js --port $PORT\nworker: node worker.js\n"),
        ("package.json", r#"{"scripts": {"start": "node other.js", "build": "tsc"}}"#),
        ("package-lock.json", "{}"),
    ]);
    let plan = fixture.plan();
    assert_eq!(plan.stack, Stack::Procfile { process: "web".to_owned(), language: Some("node".to_owned()) });
    assert_eq!(plan.start_command.as_deref(), Some("node web.js --port $PORT"));
    let dockerfile = inline(&plan);
    assert!(dockerfile.starts_with("FROM node:22-bookworm-slim\n"), "{dockerfile}");
    assert!(dockerfile.contains("RUN npm ci"), "{dockerfile}");
    assert!(dockerfile.contains("RUN npm run build"), "{dockerfile}");
    assert!(dockerfile.contains(r#"CMD ["/bin/sh","-c","node web.js --port $PORT"]"#), "{dockerfile}");
    assert!(plan.notes.iter().any(|note| note.contains("worker")), "{:?}", plan.notes);
}

#[test]
fn procfile_on_python_needs_no_entry_point_of_its_own() {
    let fixture = Fixture::with(&[("Procfile", "web: gunicorn pkg.web:make()\n"), ("requirements.txt", "gunicorn\n")]);
    let plan = fixture.plan();
    assert_eq!(plan.stack, Stack::Procfile { process: "web".to_owned(), language: Some("python".to_owned()) });
    let dockerfile = inline(&plan);
    assert!(dockerfile.contains("RUN /opt/venv/bin/pip install -r requirements.txt"), "{dockerfile}");
    assert!(dockerfile.contains(r#"CMD ["/bin/sh","-c","gunicorn pkg.web:make()"]"#), "{dockerfile}");
}

#[test]
fn procfile_without_a_language_runs_the_source_on_the_runtime_image() {
    let fixture = Fixture::with(&[("Procfile", "web: ./serve.sh\n"), ("serve.sh", "#!/bin/sh\n")]);
    let plan = fixture.plan();
    assert_eq!(plan.stack, Stack::Procfile { process: "web".to_owned(), language: None });
    let dockerfile = inline(&plan);
    assert!(dockerfile.starts_with("FROM debian:bookworm-slim\n"), "{dockerfile}");
    assert!(dockerfile.contains("COPY . ."), "{dockerfile}");
    assert_eq!(plan.port_hint, Some(8080));
}

#[test]
fn procfile_without_web_or_with_a_bad_line_is_invalid() {
    let (file, why) = invalid_file(Fixture::with(&[("Procfile", "worker: run\n")]).detect());
    assert_eq!(file, "Procfile");
    assert!(why.contains("no web process (found: worker)"), "{why}");
    let (_, why) = invalid_file(Fixture::with(&[("Procfile", "web: ok\njust words\n")]).detect());
    assert!(why.contains("line 2"), "{why}");
    let (_, why) = invalid_file(Fixture::with(&[("Procfile", "web:\n")]).detect());
    assert!(why.contains("no command"), "{why}");
    let (_, why) = invalid_file(Fixture::with(&[("Procfile", "we b: x\n")]).detect());
    assert!(why.contains("process name"), "{why}");
}

#[test]
fn languages_are_detected_in_order_node_python_go_rust_static() {
    let node = Fixture::with(&[
        ("package.json", r#"{"scripts":{"start":"node s.js"}}"#),
        ("requirements.txt", "flask\n"),
        ("main.py", ""),
    ]);
    assert!(matches!(node.plan().stack, Stack::Node { .. }));
    let python = Fixture::with(&[
        ("requirements.txt", ""),
        ("main.py", ""),
        ("go.mod", "module x\n"),
        ("main.go", "package main\n"),
    ]);
    assert!(matches!(python.plan().stack, Stack::Python { .. }));
    let go = Fixture::with(&[
        ("go.mod", "module x\n"),
        ("main.go", "package main\n"),
        ("Cargo.toml", "[package]\nname = \"x\"\n"),
        ("src/main.rs", ""),
    ]);
    assert_eq!(go.plan().stack, Stack::Go);
    let rust = Fixture::with(&[("Cargo.toml", "[package]\nname = \"x\"\n"), ("src/main.rs", ""), ("index.html", "")]);
    assert!(matches!(rust.plan().stack, Stack::Rust { .. }));
}

#[test]
fn an_empty_folder_has_no_stack_and_says_what_was_looked_for() {
    let fixture = Fixture::with(&[("README.md", "hello")]);
    match fixture.detect() {
        Err(error @ PlanError::NoStack { .. }) => {
            let message = error.to_string();
            for wanted in ["Dockerfile", "Procfile", "package.json", "requirements.txt", "pyproject.toml", "go.mod"] {
                assert!(message.contains(wanted), "{message}");
            }
            assert!(message.contains("Cargo.toml") && message.contains("index.html"), "{message}");
        }
        other => panic!("expected NoStack, got {other:?}"),
    }
}

#[test]
fn a_missing_folder_is_an_io_error() {
    let result = detect(Path::new("/nonexistent/dockyard-plan"), &PlanOptions::default());
    assert!(matches!(result, Err(PlanError::Io(_))), "{result:?}");
}

// --- Static sites -----------------------------------------------------------

#[test]
fn static_site_at_the_root_is_served_by_busybox_httpd_on_port() {
    let plan = Fixture::with(&[("index.html", "<h1>hi</h1>")]).plan();
    assert_eq!(plan.stack, Stack::Static { root: ".".to_owned() });
    let dockerfile = inline(&plan);
    assert!(dockerfile.starts_with("FROM busybox:1.36\n"), "{dockerfile}");
    assert!(dockerfile.contains("COPY . /srv/www/"), "{dockerfile}");
    assert!(dockerfile.contains("RUN rm -rf /srv/www/.git"), "{dockerfile}");
    assert!(dockerfile.contains("USER 65534:65534"), "{dockerfile}");
    assert!(dockerfile.contains("ENV PORT=8080\nEXPOSE 8080\n"), "{dockerfile}");
    assert!(dockerfile.contains(r#"CMD ["/bin/sh","-c","exec httpd -f -v -p \"$PORT\" -h /srv/www"]"#), "{dockerfile}");
    assert_eq!(plan.start_command.as_deref(), Some("httpd -f -v -p \"$PORT\" -h /srv/www"));
    assert_eq!(plan.port_hint, Some(8080));
}

#[test]
fn static_site_folders_are_looked_into_in_order() {
    let plan = Fixture::with(&[("dist/index.html", ""), ("www/index.html", ""), ("public/index.html", "")]).plan();
    assert_eq!(plan.stack, Stack::Static { root: "public".to_owned() });
    assert!(inline(&plan).contains("COPY public/ /srv/www/"));
    let plan = Fixture::with(&[("www/index.html", ""), ("build/index.html", "")]).plan();
    assert_eq!(plan.stack, Stack::Static { root: "build".to_owned() });
    let plan = Fixture::with(&[("www/index.html", "")]).plan();
    assert_eq!(plan.stack, Stack::Static { root: "www".to_owned() });
    // A folder without index.html is not a site.
    assert!(matches!(Fixture::with(&[("public/app.css", "")]).detect(), Err(PlanError::NoStack { .. })));
}

#[test]
fn static_server_and_images_come_from_the_options_and_need_no_ca_bundle() {
    let options = PlanOptions {
        images: BaseImages::local(),
        static_server: StaticServer::Command { command: "darkhttpd /srv/www --port \"$PORT\"".to_owned() },
        extra_ca_bundle: true,
        ..PlanOptions::default()
    };
    let plan = Fixture::with(&[("index.html", "")]).detect_with(&options).unwrap();
    let dockerfile = inline(&plan);
    assert!(dockerfile.starts_with("FROM dockyard-base/busybox:1\n"), "{dockerfile}");
    assert!(dockerfile.contains(r#"CMD ["/bin/sh","-c","darkhttpd /srv/www --port \"$PORT\""]"#), "{dockerfile}");
    assert!(!dockerfile.contains("ca-certificates"), "{dockerfile}");
    assert_eq!(plan.ca_bundle, None);
    assert!(plan.context_files(None).unwrap().is_empty());
}

// --- Node ---------------------------------------------------------------------

#[test]
fn node_with_npm_lock_installs_from_the_manifests_first_then_builds_and_starts() {
    let fixture = Fixture::with(&[
        ("package.json", r#"{"scripts": {"build": "tsc", "start": "node dist/server.js"}}"#),
        ("package-lock.json", "{}"),
        (".npmrc", "fund=false\n"),
    ]);
    let plan = fixture.plan();
    assert_eq!(plan.stack, Stack::Node { package_manager: "npm".to_owned() });
    let dockerfile = inline(&plan);
    let copy_manifests = line_of(dockerfile, "COPY package.json package-lock.json .npmrc ./");
    let install = line_of(dockerfile, "RUN npm ci --no-audit --no-fund");
    let copy_source = line_of(dockerfile, "COPY . .");
    let build = line_of(dockerfile, "RUN npm run build");
    assert!(copy_manifests < install && install < copy_source && copy_source < build, "{dockerfile}");
    assert!(line_of(dockerfile, "ENV NODE_ENV=production") > install, "{dockerfile}");
    assert!(dockerfile.contains(r#"CMD ["npm","start"]"#), "{dockerfile}");
    assert!(dockerfile.contains("USER 10001:10001"), "{dockerfile}");
    assert!(dockerfile.contains("ENV PORT=3000\nEXPOSE 3000\n"), "{dockerfile}");
    assert!(!dockerfile.contains("corepack"), "{dockerfile}");
    assert_eq!(plan.build_command.as_deref(), Some("npm ci --no-audit --no-fund && npm run build"));
    assert_eq!(plan.start_command.as_deref(), Some("npm start"));
    assert_eq!(plan.port_hint, Some(3000));
}

#[test]
fn node_lock_files_pick_the_package_manager() {
    let cases = [
        ("pnpm-lock.yaml", "pnpm", "RUN pnpm install --frozen-lockfile"),
        ("yarn.lock", "yarn", "RUN yarn install --frozen-lockfile"),
        ("npm-shrinkwrap.json", "npm", "RUN npm ci"),
    ];
    for (lock, manager, install) in cases {
        let fixture = Fixture::with(&[("package.json", r#"{"scripts":{"start":"node a.js"}}"#), (lock, "")]);
        let plan = fixture.plan();
        assert_eq!(plan.stack, Stack::Node { package_manager: manager.to_owned() }, "{lock}");
        let dockerfile = inline(&plan);
        assert!(dockerfile.contains(install), "{dockerfile}");
        assert!(dockerfile.contains(&format!("COPY package.json {lock} ./")), "{dockerfile}");
        assert!(dockerfile.contains(&format!(r#"CMD ["{manager}","start"]"#)), "{dockerfile}");
        if manager != "npm" {
            let corepack = line_of(dockerfile, "RUN corepack enable 2>/dev/null || npm install --global");
            assert!(corepack < line_of(dockerfile, install), "{dockerfile}");
            assert!(dockerfile.contains("COREPACK_ENABLE_DOWNLOAD_PROMPT=0"), "{dockerfile}");
        }
    }
}

#[test]
fn node_without_a_lock_uses_the_package_manager_field_or_npm_and_says_so() {
    let plan = Fixture::with(&[("package.json", r#"{"packageManager":"pnpm@9.1.0","main":"app.js"}"#)]).plan();
    assert_eq!(plan.stack, Stack::Node { package_manager: "pnpm".to_owned() });
    assert!(inline(&plan).contains("RUN pnpm install\n"), "{}", inline(&plan));
    assert!(plan.notes.iter().any(|note| note.contains("No lock file")), "{:?}", plan.notes);
    let plan = Fixture::with(&[("package.json", "{}"), ("index.js", "")]).plan();
    assert_eq!(plan.stack, Stack::Node { package_manager: "npm".to_owned() });
    assert!(inline(&plan).contains("RUN npm install --no-audit --no-fund"));
}

#[test]
fn several_lock_files_are_noted_and_pnpm_decides() {
    let plan =
        Fixture::with(&[("package.json", "{}"), ("index.js", ""), ("pnpm-lock.yaml", ""), ("package-lock.json", "")])
            .plan();
    assert_eq!(plan.stack, Stack::Node { package_manager: "pnpm".to_owned() });
    assert!(
        plan.notes.iter().any(|note| note.contains("Both pnpm-lock.yaml and package-lock.json")),
        "{:?}",
        plan.notes
    );
}

#[test]
fn node_start_falls_back_to_main_then_server_js_then_index_js() {
    let plan =
        Fixture::with(&[("package.json", r#"{"main":"lib/app.js"}"#), ("lib/app.js", ""), ("server.js", "")]).plan();
    assert!(inline(&plan).contains(r#"CMD ["node","lib/app.js"]"#), "{}", inline(&plan));
    let plan = Fixture::with(&[("package.json", "{}"), ("server.js", ""), ("index.js", "")]).plan();
    assert!(inline(&plan).contains(r#"CMD ["node","server.js"]"#));
    assert_eq!(plan.start_command.as_deref(), Some("node server.js"));
    let plan = Fixture::with(&[("package.json", "{}"), ("index.js", "")]).plan();
    assert!(inline(&plan).contains(r#"CMD ["node","index.js"]"#));
}

#[test]
fn node_main_with_quotes_stays_one_json_word() {
    let plan = Fixture::with(&[("package.json", r#"{"main":"a \"b\".js"}"#), ("a \"b\".js", "")]).plan();
    assert!(inline(&plan).contains(r#"CMD ["node","a \"b\".js"]"#), "{}", inline(&plan));
    let (_, why) = invalid_file(Fixture::with(&[("package.json", r#"{"main":"a\nCMD evil"}"#)]).detect());
    assert!(why.contains("control"), "{why}");
}

#[test]
fn node_main_outside_the_source_is_only_noted() {
    let plan = Fixture::with(&[("package.json", r#"{"main":"../../etc/passwd"}"#)]).plan();
    assert!(plan.notes.iter().any(|note| note.contains("not in the source")), "{:?}", plan.notes);
}

#[test]
fn node_with_only_a_build_script_is_served_as_a_static_site() {
    let plan =
        Fixture::with(&[("package.json", r#"{"scripts":{"build":"vite build"}}"#), ("package-lock.json", "")]).plan();
    assert_eq!(plan.stack, Stack::Node { package_manager: "npm".to_owned() });
    let dockerfile = inline(&plan);
    assert!(dockerfile.starts_with("FROM node:22-bookworm-slim AS build\n"), "{dockerfile}");
    assert!(dockerfile.contains("RUN npm run build"), "{dockerfile}");
    assert!(dockerfile.contains("\nFROM busybox:1.36\nCOPY --from=build /app/dist/ /srv/www/\n"), "{dockerfile}");
    assert!(dockerfile.contains("httpd -f -v -p"), "{dockerfile}");
    assert_eq!(plan.port_hint, Some(8080));
    let plan = Fixture::with(&[("package.json", r#"{"scripts":{"build":"react-scripts build"}}"#)]).plan();
    assert!(inline(&plan).contains("COPY --from=build /app/build/ /srv/www/"));
}

#[test]
fn node_with_nothing_to_start_says_what_was_looked_for() {
    match Fixture::with(&[("package.json", r#"{"scripts":{"test":"jest"}}"#)]).detect() {
        Err(PlanError::NoEntryPoint { stack, looked_for }) => {
            assert_eq!(stack, "Node");
            assert!(looked_for.contains("start script") && looked_for.contains("index.js"), "{looked_for}");
        }
        other => panic!("expected NoEntryPoint, got {other:?}"),
    }
}

#[test]
fn node_workspaces_and_install_scripts_copy_the_source_before_installing() {
    for manifest in [
        r#"{"workspaces":["pkgs/*"],"main":"a.js"}"#,
        r#"{"scripts":{"postinstall":"prisma generate","start":"node a"}}"#,
    ] {
        let plan = Fixture::with(&[("package.json", manifest), ("package-lock.json", "")]).plan();
        let dockerfile = inline(&plan);
        assert!(line_of(dockerfile, "COPY . .") < line_of(dockerfile, "RUN npm ci"), "{dockerfile}");
        assert!(!dockerfile.contains("COPY package.json"), "{dockerfile}");
        assert!(plan.notes.iter().any(|note| note.contains("before the install")), "{:?}", plan.notes);
    }
}

#[test]
fn node_modules_in_the_source_without_dockerignore_is_noted() {
    let fixture = Fixture::with(&[("package.json", "{}"), ("index.js", ""), ("node_modules/x/index.js", "")]);
    assert!(fixture.plan().notes.iter().any(|note| note.contains("node_modules")));
    fixture.file(".dockerignore", "/node_modules/\n");
    assert!(!fixture.plan().notes.iter().any(|note| note.contains("node_modules")));
}

#[test]
fn malformed_package_json_is_invalid_with_the_parser_message() {
    let (file, why) = invalid_file(Fixture::with(&[("package.json", "{\"scripts\": {")]).detect());
    assert_eq!(file, "package.json");
    assert!(why.contains("line 1"), "{why}");
    let (_, why) = invalid_file(Fixture::with(&[("package.json", "[1, 2]")]).detect());
    assert!(why.contains("not a JSON object"), "{why}");
    let (_, why) = invalid_file(Fixture::with(&[("package.json", r#"{"scripts": "start"}"#)]).detect());
    assert!(why.contains("scripts"), "{why}");
    let (_, why) = invalid_file(Fixture::with(&[("package.json", r#"{"main": 3}"#)]).detect());
    assert!(why.contains("main"), "{why}");
}

// --- Python -------------------------------------------------------------------

#[test]
fn python_with_gunicorn_serves_the_flask_app_on_port() {
    let fixture = Fixture::with(&[("requirements.txt", "Flask==3.0\ngunicorn>=21 # server\n"), ("app.py", FLASK_APP)]);
    let plan = fixture.plan();
    assert_eq!(plan.stack, Stack::Python { entry: "app:app".to_owned() });
    let dockerfile = inline(&plan);
    assert!(dockerfile.starts_with("FROM python:3.12-slim-bookworm\n"), "{dockerfile}");
    let venv = line_of(dockerfile, "RUN python3 -m venv /opt/venv");
    let copy_requirements = line_of(dockerfile, "COPY requirements.txt ./");
    let install = line_of(dockerfile, "RUN /opt/venv/bin/pip install -r requirements.txt");
    let copy_source = line_of(dockerfile, "COPY . .");
    assert!(venv < copy_requirements && copy_requirements < install && install < copy_source, "{dockerfile}");
    assert!(dockerfile.contains("ENV VIRTUAL_ENV=/opt/venv PATH=/opt/venv/bin:$PATH"), "{dockerfile}");
    assert!(
        dockerfile.contains(r#"CMD ["/bin/sh","-c","exec gunicorn --bind \"0.0.0.0:$PORT\" app:app"]"#),
        "{dockerfile}"
    );
    assert!(dockerfile.contains("ENV PORT=8000\nEXPOSE 8000\n"), "{dockerfile}");
    assert!(dockerfile.contains("USER 10001:10001"), "{dockerfile}");
    assert_eq!(plan.build_command.as_deref(), Some("pip install -r requirements.txt"));
    assert!(plan.notes.iter().any(|note| note.contains("gunicorn")), "{:?}", plan.notes);
}

#[test]
fn python_with_uvicorn_finds_the_fastapi_object() {
    let fixture = Fixture::with(&[
        ("requirements.txt", "fastapi\nuvicorn[standard]==0.30\n"),
        ("main.py", "from fastapi import FastAPI\n\napi: FastAPI = FastAPI()\n"),
    ]);
    let plan = fixture.plan();
    assert_eq!(plan.stack, Stack::Python { entry: "main:api".to_owned() });
    assert_eq!(plan.start_command.as_deref(), Some("uvicorn main:api --host 0.0.0.0 --port \"$PORT\""));
}

#[test]
fn python_app_factory_and_package_modules_are_found() {
    let plan =
        Fixture::with(&[("requirements.txt", "gunicorn\n"), ("wsgi.py", "def create_app():\n    pass\n")]).plan();
    assert_eq!(plan.stack, Stack::Python { entry: "wsgi:create_app".to_owned() });
    assert_eq!(plan.start_command.as_deref(), Some("gunicorn --bind \"0.0.0.0:$PORT\" 'wsgi:create_app()'"));
    let plan = Fixture::with(&[("requirements.txt", "uvicorn\n"), ("app/main.py", "app = make()\n")]).plan();
    assert_eq!(plan.stack, Stack::Python { entry: "app.main:app".to_owned() });
}

#[test]
fn python_server_module_without_an_app_object_is_a_noted_guess() {
    let plan = Fixture::with(&[("requirements.txt", "gunicorn\n"), ("server.py", "print('hi')\n")]).plan();
    assert_eq!(plan.stack, Stack::Python { entry: "server:app".to_owned() });
    assert!(plan.notes.iter().any(|note| note.contains("is a guess")), "{:?}", plan.notes);
}

#[test]
fn django_with_gunicorn_serves_the_wsgi_application() {
    let fixture = Fixture::with(&[
        ("requirements.txt", "Django>=5\ngunicorn\n"),
        ("manage.py", ""),
        ("mysite/wsgi.py", "application = get_wsgi_application()\n"),
        ("mysite/__init__.py", ""),
    ]);
    let plan = fixture.plan();
    assert_eq!(plan.stack, Stack::Python { entry: "mysite.wsgi:application".to_owned() });
    assert!(plan.start_command.as_deref().unwrap().starts_with("gunicorn --bind"));
}

#[test]
fn django_without_a_server_uses_runserver_on_port_and_says_it_is_for_development() {
    let plan = Fixture::with(&[("requirements.txt", "django\n"), ("manage.py", "")]).plan();
    assert_eq!(plan.stack, Stack::Python { entry: "manage.py".to_owned() });
    assert!(inline(&plan).contains(r#"CMD ["/bin/sh","-c","exec python3 manage.py runserver \"0.0.0.0:$PORT\""]"#));
    assert!(plan.notes.iter().any(|note| note.contains("development server")), "{:?}", plan.notes);
}

#[test]
fn python_scripts_prefer_main_py_then_app_py_and_note_the_port() {
    let plan = Fixture::with(&[("requirements.txt", "requests\n"), ("main.py", ""), ("app.py", "")]).plan();
    assert_eq!(plan.stack, Stack::Python { entry: "main.py".to_owned() });
    assert!(inline(&plan).contains(r#"CMD ["python3","main.py"]"#));
    assert!(plan.notes.iter().any(|note| note.contains("$PORT")), "{:?}", plan.notes);
    let plan = Fixture::with(&[("requirements.txt", "requests\n"), ("app.py", "")]).plan();
    assert_eq!(plan.stack, Stack::Python { entry: "app.py".to_owned() });
}

#[test]
fn empty_or_comment_only_requirements_install_nothing() {
    for requirements in ["", "\n\n", "# nothing yet\n   # really\n"] {
        let plan = Fixture::with(&[("requirements.txt", requirements), ("main.py", "")]).plan();
        let dockerfile = inline(&plan);
        assert!(!dockerfile.contains("pip"), "{dockerfile}");
        assert!(!dockerfile.contains("venv"), "{dockerfile}");
        assert_eq!(plan.build_command, None);
        assert!(plan.notes.iter().any(|note| note.contains("lists nothing")), "{:?}", plan.notes);
    }
}

#[test]
fn requirements_that_refer_to_other_files_install_after_the_source() {
    let plan =
        Fixture::with(&[("requirements.txt", "-r base.txt\n-e .\n"), ("base.txt", "flask\n"), ("main.py", "")]).plan();
    let dockerfile = inline(&plan);
    assert!(line_of(dockerfile, "COPY . .") < line_of(dockerfile, "pip install -r requirements.txt"), "{dockerfile}");
    assert!(!dockerfile.contains("COPY requirements.txt"), "{dockerfile}");
    // An index option needs no other file.
    let plan =
        Fixture::with(&[("requirements.txt", "--index-url https://pypi.example/simple\nflask\n"), ("main.py", "")])
            .plan();
    assert!(inline(&plan).contains("COPY requirements.txt ./"));
}

#[test]
fn pyproject_dependencies_install_before_the_source_and_scripts_install_the_project() {
    let pyproject = r#"
[project]
name = "svc"
dependencies = ["httpx>=0.27", "it's-quoted; python_version >= '3.9'"]

[project.scripts]
zeta = "svc:other"
serve = "svc:main"
"#;
    let plan = Fixture::with(&[("pyproject.toml", pyproject)]).plan();
    assert_eq!(plan.stack, Stack::Python { entry: "serve".to_owned() });
    let dockerfile = inline(&plan);
    let copy_manifest = line_of(dockerfile, "COPY pyproject.toml ./");
    let install = line_of(
        dockerfile,
        r#"RUN /opt/venv/bin/pip install 'httpx>=0.27' 'it'\''s-quoted; python_version >= '\''3.9'\'''"#,
    );
    let copy_source = line_of(dockerfile, "COPY . .");
    let project = line_of(dockerfile, "RUN /opt/venv/bin/pip install --no-deps .");
    assert!(copy_manifest < install && install < copy_source && copy_source < project, "{dockerfile}");
    assert!(dockerfile.contains(r#"CMD ["serve"]"#), "{dockerfile}");
    assert!(plan.notes.iter().any(|note| note.contains("serve, zeta")), "{:?}", plan.notes);
}

#[test]
fn poetry_projects_install_with_pip_install_dot() {
    let pyproject = "[tool.poetry]\nname = \"x\"\n[tool.poetry.dependencies]\npython = \"^3.11\"\nuvicorn = \"*\"\n";
    let plan = Fixture::with(&[("pyproject.toml", pyproject), ("main.py", "app = 1\n")]).plan();
    assert_eq!(plan.stack, Stack::Python { entry: "main:app".to_owned() });
    assert!(inline(&plan).contains("RUN /opt/venv/bin/pip install .\n"), "{}", inline(&plan));
}

#[test]
fn malformed_pyproject_is_invalid_with_the_parser_message() {
    let (file, why) = invalid_file(Fixture::with(&[("pyproject.toml", "[project\nname = 1\n")]).detect());
    assert_eq!(file, "pyproject.toml");
    assert!(why.contains("line 1") || why.contains("1 |"), "{why}");
    let (_, why) = invalid_file(Fixture::with(&[("pyproject.toml", "[project]\ndependencies = \"flask\"\n")]).detect());
    assert!(why.contains("not an array"), "{why}");
    let (_, why) =
        invalid_file(Fixture::with(&[("pyproject.toml", "[project]\ndependencies = [\"a\\nb\"]\n")]).detect());
    assert!(why.contains("control"), "{why}");
}

#[test]
fn python_with_nothing_to_run_says_what_was_looked_for() {
    match Fixture::with(&[("requirements.txt", "flask\n"), ("lib.py", "")]).detect() {
        Err(PlanError::NoEntryPoint { stack: "Python", looked_for }) => {
            assert!(looked_for.contains("main.py") && looked_for.contains("manage.py"), "{looked_for}");
        }
        other => panic!("expected NoEntryPoint, got {other:?}"),
    }
}

// --- Go -------------------------------------------------------------------------

#[test]
fn go_builds_a_static_binary_in_two_stages() {
    let fixture = Fixture::with(&[
        ("go.mod", "module example.com/hello\n\ngo 1.22\n"),
        ("go.sum", ""),
        ("main.go", "// Command hello.\npackage main\n\nfunc main() {}\n"),
        ("main_test.go", "package main_test\n"),
    ]);
    let plan = fixture.plan();
    assert_eq!(plan.stack, Stack::Go);
    let dockerfile = inline(&plan);
    assert!(dockerfile.starts_with("FROM golang:1.23-bookworm AS build\n"), "{dockerfile}");
    assert!(dockerfile.contains("ENV CGO_ENABLED=0"), "{dockerfile}");
    let download = line_of(dockerfile, "RUN go mod download");
    assert!(line_of(dockerfile, "COPY go.mod go.sum ./") < download, "{dockerfile}");
    assert!(download < line_of(dockerfile, "COPY . ."), "{dockerfile}");
    assert!(dockerfile.contains("RUN go build -trimpath -ldflags=\"-s -w\" -o /out/hello .\n"), "{dockerfile}");
    assert!(dockerfile.contains("\nFROM debian:bookworm-slim\n"), "{dockerfile}");
    assert!(dockerfile.contains("COPY --from=build /out/hello /usr/local/bin/hello"), "{dockerfile}");
    assert!(dockerfile.contains(r#"CMD ["/usr/local/bin/hello"]"#), "{dockerfile}");
    assert!(dockerfile.contains("USER 10001:10001"), "{dockerfile}");
    assert!(plan.notes.iter().any(|note| note.contains("1.22")), "{:?}", plan.notes);
}

#[test]
fn go_main_package_under_cmd_is_found_and_vendored_modules_are_not_downloaded() {
    let fixture = Fixture::with(&[
        ("go.mod", "module github.com/acme/api\n"),
        ("lib.go", "package api\n"),
        ("cmd/migrate/main.go", "package main\n"),
        ("cmd/api/main.go", "package main\n"),
        ("vendor/modules.txt", ""),
    ]);
    let plan = fixture.plan();
    let dockerfile = inline(&plan);
    assert!(dockerfile.contains("-o /out/api ./cmd/api\n"), "{dockerfile}");
    assert!(!dockerfile.contains("go mod download"), "{dockerfile}");
    assert!(plan.notes.iter().any(|note| note.contains("api, migrate")), "{:?}", plan.notes);
}

#[test]
fn go_without_module_or_main_package_is_refused() {
    let (file, _) = invalid_file(Fixture::with(&[("go.mod", "go 1.22\n"), ("main.go", "package main\n")]).detect());
    assert_eq!(file, "go.mod");
    let result = Fixture::with(&[("go.mod", "module x\n"), ("lib.go", "package x\n")]).detect();
    assert!(matches!(result, Err(PlanError::NoEntryPoint { stack: "Go", .. })), "{result:?}");
}

// --- Rust -----------------------------------------------------------------------

#[test]
fn rust_package_fetches_from_the_manifests_then_builds_its_binary() {
    let fixture = Fixture::with(&[
        ("Cargo.toml", "[package]\nname = \"hello-web\"\nversion = \"0.1.0\"\n[dependencies]\nserde = \"1\"\n"),
        ("Cargo.lock", "version = 4\n"),
        ("src/main.rs", "fn main() {}\n"),
    ]);
    let plan = fixture.plan();
    assert_eq!(plan.stack, Stack::Rust { binary: "hello-web".to_owned() });
    let dockerfile = inline(&plan);
    assert!(dockerfile.starts_with("FROM rust:1-slim-bookworm AS build\n"), "{dockerfile}");
    let fetch = line_of(dockerfile, "cargo fetch --locked && rm -rf src");
    assert!(line_of(dockerfile, "COPY Cargo.toml Cargo.lock ./") < fetch, "{dockerfile}");
    assert!(fetch < line_of(dockerfile, "COPY . ."), "{dockerfile}");
    assert!(dockerfile.contains("RUN cargo build --release --locked --bin hello-web && mkdir -p /out"), "{dockerfile}");
    assert!(dockerfile.contains("\nFROM debian:bookworm-slim\n"), "{dockerfile}");
    assert!(dockerfile.contains(r#"CMD ["/usr/local/bin/hello-web"]"#), "{dockerfile}");
    assert!(!dockerfile.contains("libssl"), "{dockerfile}");
    assert_eq!(plan.build_command.as_deref(), Some("cargo build --release --locked --bin hello-web"));
}

#[test]
fn rust_binary_choice_follows_default_run_then_the_package_name() {
    let manifest = "[package]\nname = \"svc\"\ndefault-run = \"api\"\n[[bin]]\nname = \"api\"\npath = \"src/api.rs\"\n[[bin]]\nname = \"cli\"\n";
    let plan = Fixture::with(&[("Cargo.toml", manifest), ("src/main.rs", "")]).plan();
    assert_eq!(plan.stack, Stack::Rust { binary: "api".to_owned() });
    let plan =
        Fixture::with(&[("Cargo.toml", "[package]\nname = \"svc\"\n"), ("src/main.rs", ""), ("src/bin/tool.rs", "")])
            .plan();
    assert_eq!(plan.stack, Stack::Rust { binary: "svc".to_owned() });
    assert!(plan.notes.iter().any(|note| note.contains("svc, tool")), "{:?}", plan.notes);
}

#[test]
fn rust_virtual_workspace_builds_a_member_binary_without_the_fetch_layer() {
    let fixture = Fixture::with(&[
        ("Cargo.toml", "[workspace]\nmembers = [\"crates/*\"]\n"),
        ("crates/core/Cargo.toml", "[package]\nname = \"core\"\n"),
        ("crates/core/src/lib.rs", ""),
        ("crates/server/Cargo.toml", "[package]\nname = \"server\"\n[dependencies]\ncore = { path = \"../core\" }\n"),
        ("crates/server/src/main.rs", ""),
        ("Cargo.lock", "[[package]]\nname = \"openssl-sys\"\n"),
    ]);
    let plan = fixture.plan();
    assert_eq!(plan.stack, Stack::Rust { binary: "server".to_owned() });
    let dockerfile = inline(&plan);
    assert!(dockerfile.contains("cargo build --release --locked -p server --bin server"), "{dockerfile}");
    assert!(!dockerfile.contains("cargo fetch"), "{dockerfile}");
    assert!(dockerfile.contains("libssl-dev") && dockerfile.contains("libssl3"), "{dockerfile}");
}

#[test]
fn rust_path_dependencies_skip_the_fetch_layer() {
    let manifest = "[package]\nname = \"a\"\n[dependencies]\nb = { path = \"b\" }\n";
    let plan = Fixture::with(&[("Cargo.toml", manifest), ("src/main.rs", "")]).plan();
    assert!(!inline(&plan).contains("cargo fetch"), "{}", inline(&plan));
}

#[test]
fn malformed_or_binary_less_cargo_manifests_are_refused() {
    let (file, why) = invalid_file(Fixture::with(&[("Cargo.toml", "[package\n")]).detect());
    assert_eq!(file, "Cargo.toml");
    assert!(!why.is_empty());
    let (_, why) = invalid_file(Fixture::with(&[("Cargo.toml", "[package]\nversion = \"1\"\n")]).detect());
    assert!(why.contains("no name"), "{why}");
    let (_, why) = invalid_file(Fixture::with(&[("Cargo.toml", "[package]\nname = \"a b;rm\"\n")]).detect());
    assert!(why.contains("package name"), "{why}");
    let result = Fixture::with(&[("Cargo.toml", "[package]\nname = \"lib\"\n"), ("src/lib.rs", "")]).detect();
    assert!(matches!(result, Err(PlanError::NoEntryPoint { stack: "Rust", .. })), "{result:?}");
}

// --- The extra CA bundle ----------------------------------------------------------

const CA_VARIABLES: [&str; 5] =
    ["SSL_CERT_FILE", "NODE_EXTRA_CA_CERTS", "PIP_CERT", "REQUESTS_CA_BUNDLE", "CARGO_HTTP_CAINFO"];

fn assert_ca_before(dockerfile: &str, network_step: &str) {
    let copy = line_of(dockerfile, "COPY .dockyard/ca-certificates.crt /etc/dockyard/ca-certificates.crt");
    for variable in CA_VARIABLES {
        assert!(dockerfile.contains(&format!("{variable}=/etc/dockyard/ca-certificates.crt")), "{dockerfile}");
    }
    assert!(copy < line_of(dockerfile, network_step), "{dockerfile}");
}

#[test]
fn extra_ca_bundle_is_trusted_before_every_network_step() {
    let options = with_ca();
    let cases: [(&[(&str, &str)], &str); 5] = [
        (&[("requirements.txt", "flask\n"), ("main.py", "")], "pip install"),
        (&[("package.json", r#"{"scripts":{"start":"x"}}"#), ("yarn.lock", "")], "corepack enable"),
        (&[("go.mod", "module m\n"), ("main.go", "package main\n")], "go mod download"),
        (&[("Cargo.toml", "[package]\nname = \"r\"\n"), ("src/main.rs", "")], "cargo fetch"),
        (&[("Procfile", "web: ./run\n")], "CMD"),
    ];
    for (files, network_step) in cases {
        let plan = Fixture::with(files).detect_with(&options).unwrap();
        assert_ca_before(inline(&plan), network_step);
        assert_eq!(plan.ca_bundle.as_deref(), Some(CA_BUNDLE_CONTEXT_PATH));
    }
}

#[test]
fn context_files_insist_on_the_bundle_the_dockerfile_copies() {
    let plan = Fixture::with(&[("requirements.txt", "flask\n"), ("main.py", "")]).detect_with(&with_ca()).unwrap();
    assert!(matches!(plan.context_files(None), Err(PlanError::MissingCaBundle)));
    assert!(matches!(plan.context_files(Some(b"")), Err(PlanError::MissingCaBundle)));
    let files = plan.context_files(Some(b"-----BEGIN CERTIFICATE-----")).unwrap();
    assert_eq!(files, vec![(CA_BUNDLE_CONTEXT_PATH.to_owned(), b"-----BEGIN CERTIFICATE-----".to_vec())]);
    let plain = Fixture::with(&[("requirements.txt", "flask\n"), ("main.py", "")]).plan();
    assert_eq!(plain.ca_bundle, None);
    assert!(!inline(&plain).contains("ca-certificates.crt /etc/dockyard"));
    assert!(plain.context_files(Some(b"ignored")).unwrap().is_empty());
}

#[test]
fn a_users_dockerfile_is_never_given_the_bundle() {
    let plan = Fixture::with(&[("Dockerfile", "FROM scratch\n")]).detect_with(&with_ca()).unwrap();
    assert_eq!(plan.ca_bundle, None);
}

// --- Every generated Dockerfile ---------------------------------------------------

#[test]
fn every_generated_dockerfile_sets_port_exposes_it_and_drops_root() {
    let fixtures: [&[(&str, &str)]; 6] = [
        &[("index.html", "")],
        &[("package.json", "{}"), ("index.js", "")],
        &[("requirements.txt", ""), ("main.py", "")],
        &[("go.mod", "module m\n"), ("main.go", "package main\n")],
        &[("Cargo.toml", "[package]\nname = \"r\"\n"), ("src/main.rs", "")],
        &[("Procfile", "web: ./run\n")],
    ];
    for files in fixtures {
        let plan = Fixture::with(files).plan();
        let dockerfile = inline(&plan);
        let port = plan.port_hint.unwrap();
        assert!(dockerfile.contains(&format!("ENV PORT={port}\nEXPOSE {port}\n")), "{dockerfile}");
        let user = dockerfile.lines().rfind(|line| line.starts_with("USER ")).unwrap();
        assert!(!user.contains("root") && !user.ends_with(" 0"), "{dockerfile}");
        assert!(dockerfile.lines().next_back().unwrap().starts_with("CMD ["), "{dockerfile}");
        assert!(plan.start_command.is_some());
    }
}

#[test]
fn local_base_images_replace_the_official_ones() {
    let options = PlanOptions { images: BaseImages::local(), ..PlanOptions::default() };
    let plan = Fixture::with(&[("requirements.txt", ""), ("main.py", "")]).detect_with(&options).unwrap();
    assert!(inline(&plan).starts_with("FROM dockyard-base/python:bookworm\n"));
    let plan = Fixture::with(&[("go.mod", "module m\n"), ("main.go", "package main\n")]).detect_with(&options).unwrap();
    assert!(inline(&plan).contains("\nFROM dockyard-base/debian:bookworm\n"), "{}", inline(&plan));
}

// --- Hostile sources ---------------------------------------------------------------

#[test]
fn a_manifest_linked_out_of_the_source_is_not_read() {
    let outside = Fixture::with(&[("secret.json", "{\"main\": \"x.js\"}")]);
    let fixture = Fixture::new();
    std::os::unix::fs::symlink(outside.path().join("secret.json"), fixture.path().join("package.json")).unwrap();
    let (file, why) = invalid_file(fixture.detect());
    assert_eq!(file, "package.json");
    assert!(why.contains("link"), "{why}");
}

#[test]
fn oversized_and_binary_manifests_are_invalid() {
    let huge = format!("{{\"x\": \"{}\"}}", "a".repeat(1024 * 1024 + 1));
    let (_, why) = invalid_file(Fixture::with(&[("package.json", &huge)]).detect());
    assert!(why.contains("1 MiB"), "{why}");
    let fixture = Fixture::new();
    std::fs::write(fixture.path().join("Cargo.toml"), [0xff, 0xfe, 0x00]).unwrap();
    let (_, why) = invalid_file(fixture.detect());
    assert!(why.contains("UTF-8"), "{why}");
}

#[test]
fn a_folder_named_like_a_manifest_is_invalid() {
    let fixture = Fixture::new();
    std::fs::create_dir(fixture.path().join("package.json")).unwrap();
    let (_, why) = invalid_file(fixture.detect());
    assert!(why.contains("not a file"), "{why}");
}

// --- The JSON shown by `dockyard plan` and the API -----------------------------------

#[test]
fn plans_serialize_with_a_tagged_stack_and_the_dockerfile_as_path_or_inline() {
    let plan = Fixture::with(&[("package.json", "{}"), ("index.js", "")]).plan();
    let json = serde_json::to_value(&plan).unwrap();
    assert_eq!(json["stack"], serde_json::json!({"type": "node", "package_manager": "npm"}));
    assert!(json["dockerfile"]["inline"].as_str().unwrap().starts_with("FROM "));
    assert_eq!(json["port_hint"], 3000);
    assert!(json.get("extra_files").is_none());
    let plan = Fixture::with(&[("Dockerfile", "FROM scratch\n")]).plan();
    let json = serde_json::to_value(&plan).unwrap();
    assert_eq!(json["stack"], serde_json::json!({"type": "dockerfile", "path": "Dockerfile"}));
    assert_eq!(json["dockerfile"], serde_json::json!({"path": "Dockerfile"}));
    let plan = Fixture::with(&[("go.mod", "module m\n"), ("main.go", "package main\n")]).plan();
    assert_eq!(serde_json::to_value(&plan).unwrap()["stack"], serde_json::json!({"type": "go"}));
    let plan = Fixture::with(&[("Procfile", "web: x\n")]).plan();
    assert_eq!(
        serde_json::to_value(&plan).unwrap()["stack"],
        serde_json::json!({"type": "procfile", "process": "web", "language": null})
    );
}
