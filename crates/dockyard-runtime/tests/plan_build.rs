//! Generated Dockerfiles against a real engine: each test detects a fixture
//! folder, builds the plan's Dockerfile with the `docker` CLI (classic builder,
//! `docker build -f -` on the folder) on the local base images of
//! `scripts/base-images.sh`, runs the image with `PORT=8080`, and fetches `/`
//! from the host at the container's address.
//!
//! With no engine the tests print why and pass, except under `CI=true`, where
//! they fail. Every container and image they make is removed, failed or not.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use dockyard_runtime::Dockerfile;
use dockyard_runtime::plan::{BaseImages, Plan, PlanOptions, Stack, detect};

const PORT: u16 = 8080;

/// Whether the engine answers and the base images exist (made once per run).
fn engine() -> bool {
    static READY: OnceLock<Result<(), String>> = OnceLock::new();
    let ready = READY.get_or_init(|| {
        let info = Command::new("docker").arg("info").stdout(Stdio::null()).stderr(Stdio::piped()).output();
        match info {
            Ok(output) if output.status.success() => {}
            Ok(output) => {
                return Err(format!("docker info failed: {}", String::from_utf8_lossy(&output.stderr).trim()));
            }
            Err(error) => return Err(format!("no docker CLI: {error}")),
        }
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/base-images.sh");
        let output = Command::new("bash").arg(&script).args(["busybox", "python"]).output();
        match output {
            Ok(output) if output.status.success() => Ok(()),
            Ok(output) => panic!(
                "scripts/base-images.sh busybox python failed:\n{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ),
            Err(error) => panic!("cannot run {}: {error}", script.display()),
        }
    });
    match ready {
        Ok(()) => true,
        Err(why) if std::env::var("CI").is_ok_and(|ci| ci == "true") => panic!("no Docker engine under CI=true: {why}"),
        Err(why) => {
            eprintln!("skipping: no Docker engine ({why})");
            false
        }
    }
}

fn unique(kind: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    format!("dockyard-plan-test-{kind}-{}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// A fixture folder plus what the test made in the engine; all removed on drop.
struct Fixture {
    dir: PathBuf,
    image: String,
    container: String,
}

impl Fixture {
    fn new(files: &[(&str, &str)]) -> Self {
        let dir = std::env::temp_dir().join(unique("src"));
        for (path, content) in files {
            let path = dir.join(path);
            std::fs::create_dir_all(path.parent().expect("a parent")).expect("create the fixture's folders");
            std::fs::write(path, content).expect("write a fixture file");
        }
        Self { dir, image: format!("{}:latest", unique("image")), container: unique("container") }
    }

    fn plan(&self, options: &PlanOptions) -> Plan {
        detect(&self.dir, options).expect("a plan")
    }

    /// Builds the plan's Dockerfile as the Docker backend would: the plan's
    /// context files (here, the CA bundle) added to the folder.
    fn build(&self, plan: &Plan, ca_bundle: Option<&[u8]>) {
        for (path, bytes) in plan.context_files(ca_bundle).expect("the plan's context files") {
            let path = self.dir.join(path);
            std::fs::create_dir_all(path.parent().expect("a parent")).expect("create the context file's folder");
            std::fs::write(path, bytes).expect("write a context file");
        }
        let Dockerfile::Inline(dockerfile) = &plan.dockerfile else { panic!("expected a generated Dockerfile") };
        let mut child = Command::new("docker")
            // No cache: concurrent tests would otherwise share intermediate
            // images, and one test's `rmi` would prune a parent another's
            // build is using. Private layers also make the clean-up exact.
            .args(["build", "--no-cache", "--force-rm", "--label", "dockyard.test=plan", "-t", &self.image, "-f", "-"])
            .arg(&self.dir)
            .env("DOCKER_BUILDKIT", "0")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run docker build");
        let mut stdin = child.stdin.take().expect("docker build's stdin");
        stdin.write_all(dockerfile.as_bytes()).expect("send the Dockerfile");
        drop(stdin);
        let output = child.wait_with_output().expect("wait for docker build");
        assert!(
            output.status.success(),
            "docker build failed\n--- Dockerfile\n{dockerfile}--- output\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// Runs the image with `PORT=8080` and answers the container's address.
    fn run(&self) -> SocketAddr {
        let output = docker(&["run", "-d", "--name", &self.container, "-e", &format!("PORT={PORT}"), &self.image]);
        assert!(output.status.success(), "docker run failed: {}", String::from_utf8_lossy(&output.stderr));
        let output =
            docker(&["inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", &self.container]);
        let ip = String::from_utf8_lossy(&output.stdout).trim().to_owned();
        assert!(!ip.is_empty(), "the container has no address; logs:\n{}", self.logs());
        SocketAddr::new(ip.parse().expect("an IP address"), PORT)
    }

    fn logs(&self) -> String {
        let output = docker(&["logs", &self.container]);
        format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
    }

    /// `GET /` until it answers (the app may still be starting), within 30 s.
    fn get(&self, addr: SocketAddr) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match http_get(addr) {
                Ok(response) => return response,
                Err(error) if Instant::now() > deadline => {
                    panic!("GET http://{addr}/ never answered ({error}); logs:\n{}", self.logs())
                }
                Err(_) => std::thread::sleep(Duration::from_millis(200)),
            }
        }
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = docker(&["rm", "-f", &self.container]);
        let _ = docker(&["rmi", "-f", &self.image]);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn docker(args: &[&str]) -> std::process::Output {
    Command::new("docker").args(args).stdin(Stdio::null()).output().expect("run docker")
}

fn http_get(addr: SocketAddr) -> std::io::Result<String> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.write_all(b"GET / HTTP/1.0\r\nHost: plan-test\r\nConnection: close\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    if response.is_empty() {
        return Err(std::io::Error::other("empty response"));
    }
    Ok(response)
}

fn local_options() -> PlanOptions {
    PlanOptions { images: BaseImages::local(), ..PlanOptions::default() }
}

/// A stdlib-only app that reports its uid and whether it trusts the extra CA bundle.
const PYTHON_APP: &str = r#"import os
from http.server import BaseHTTPRequestHandler, HTTPServer


class Hello(BaseHTTPRequestHandler):
    def do_GET(self):
        body = "hello from python uid={} ca={}".format(os.getuid(), os.environ.get("SSL_CERT_FILE", "none")).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


HTTPServer(("0.0.0.0", int(os.environ["PORT"])), Hello).serve_forever()
"#;

#[test]
fn static_site_plan_builds_on_busybox_and_answers_on_port() {
    if !engine() {
        return;
    }
    let fixture = Fixture::new(&[("public/index.html", "<h1>hello static</h1>\n"), ("README.md", "not served\n")]);
    let plan = fixture.plan(&local_options());
    assert_eq!(plan.stack, Stack::Static { root: "public".to_owned() });
    fixture.build(&plan, None);
    let response = fixture.get(fixture.run());
    assert!(response.starts_with("HTTP/1.") && response.contains(" 200 "), "{response}");
    assert!(response.contains("<h1>hello static</h1>"), "{response}");
}

#[test]
fn python_plan_with_an_empty_requirements_file_answers_on_port_as_non_root() {
    if !engine() {
        return;
    }
    let fixture = Fixture::new(&[("requirements.txt", ""), ("main.py", PYTHON_APP)]);
    let plan = fixture.plan(&local_options());
    assert_eq!(plan.stack, Stack::Python { entry: "main.py".to_owned() });
    assert_eq!(plan.port_hint, Some(8000), "PORT=8080 must win over the image's default");
    fixture.build(&plan, None);
    let response = fixture.get(fixture.run());
    assert!(response.contains(" 200 "), "{response}");
    assert!(response.contains("hello from python uid=10001 ca=none"), "{response}");
}

#[test]
fn python_plan_with_comment_only_requirements_and_the_extra_ca_bundle_builds_and_answers() {
    if !engine() {
        return;
    }
    let fixture =
        Fixture::new(&[("requirements.txt", "# Dependencies go here.\n\n   # none yet\n"), ("app.py", PYTHON_APP)]);
    let options = PlanOptions { extra_ca_bundle: true, ..local_options() };
    let plan = fixture.plan(&options);
    assert_eq!(plan.stack, Stack::Python { entry: "app.py".to_owned() });
    let bundle = std::fs::read("/etc/ssl/certs/ca-certificates.crt")
        .unwrap_or_else(|_| b"-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n".to_vec());
    fixture.build(&plan, Some(&bundle));
    let response = fixture.get(fixture.run());
    assert!(response.contains(" 200 "), "{response}");
    assert!(response.contains("ca=/etc/dockyard/ca-certificates.crt"), "{response}");
}

#[test]
fn procfile_plan_expands_port_through_the_shell_in_the_web_process() {
    if !engine() {
        return;
    }
    let fixture = Fixture::new(&[
        ("Procfile", "web: python3 -m http.server $PORT --bind 0.0.0.0\n"),
        ("requirements.txt", "# stdlib only\n"),
        ("index.html", "procfile says hi\n"),
    ]);
    let plan = fixture.plan(&local_options());
    assert_eq!(plan.stack, Stack::Procfile { process: "web".to_owned(), language: Some("python".to_owned()) });
    fixture.build(&plan, None);
    let response = fixture.get(fixture.run());
    assert!(response.contains(" 200 ") && response.contains("procfile says hi"), "{response}");
}
