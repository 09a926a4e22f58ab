//! The host sandbox on real PTYs: output, input, resize, exit codes, killing
//! the whole session, and an environment built from scratch.

use std::path::PathBuf;
use std::time::Duration;

use dockyard_sandbox::{HostSandbox, Process, PtySize, Sandbox, SandboxError, ShellEnv, Spawn};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const DEADLINE: Duration = Duration::from_secs(20);

fn spawn_spec(program: &str, args: &[&str]) -> Spawn {
    Spawn {
        program: PathBuf::from(program),
        args: args.iter().map(|arg| (*arg).to_owned()).collect(),
        cwd: std::env::temp_dir(),
        env: ShellEnv {
            path: "/usr/local/bin:/usr/bin:/bin".to_owned(),
            home: std::env::temp_dir(),
            lang: "C.UTF-8".to_owned(),
            shell: PathBuf::from("/bin/sh"),
            user: "tester".to_owned(),
        }
        .into_vars(),
        size: PtySize { cols: 80, rows: 24 },
    }
}

/// Reads output until `needle` shows up (or the output ends, or the deadline passes).
async fn read_until(process: &mut Process, seen: &mut String, needle: &str) {
    read_until_match(process, seen, needle, |seen| seen.contains(needle)).await;
}

async fn read_until_match(process: &mut Process, seen: &mut String, what: &str, done: impl Fn(&str) -> bool) {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    let mut buffer = [0u8; 4096];
    while !done(seen) {
        let read = tokio::time::timeout_at(deadline, process.output.read(&mut buffer))
            .await
            .unwrap_or_else(|_| panic!("no {what:?} in time; output so far: {seen:?}"))
            .expect("reading the PTY works");
        assert!(read > 0, "the output ended before {what:?} showed up; output: {seen:?}");
        seen.push_str(&String::from_utf8_lossy(&buffer[..read]));
    }
}

/// Reads everything until the output ends.
async fn read_to_end(process: &mut Process) -> String {
    let mut all = Vec::new();
    tokio::time::timeout(DEADLINE, process.output.read_to_end(&mut all))
        .await
        .expect("the output ends in time")
        .expect("reading the PTY works");
    String::from_utf8_lossy(&all).into_owned()
}

fn marker() -> String {
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |since| since.subsec_nanos());
    format!("m{}x{nanos}", std::process::id())
}

#[tokio::test]
async fn an_interactive_shell_echoes_what_it_is_told() {
    let mut process = HostSandbox::new().spawn(spawn_spec("/bin/sh", &[])).await.expect("spawn sh");
    let marker = marker();
    // Split so that the typed command's own echo does not already match.
    process.input.write_all(format!("echo hello-{}'{}'\n", &marker[..1], &marker[1..]).as_bytes()).await.expect("type");
    let mut seen = String::new();
    read_until(&mut process, &mut seen, &format!("hello-{marker}")).await;
    process.input.write_all(b"exit 0\n").await.expect("type exit");
    let status = tokio::time::timeout(DEADLINE, process.control.wait()).await.expect("exits").expect("wait");
    assert_eq!(status.code, Some(0));
}

#[tokio::test]
async fn a_resize_is_what_stty_size_reports() {
    let mut process = HostSandbox::new().spawn(spawn_spec("/bin/sh", &[])).await.expect("spawn sh");
    let mut seen = String::new();
    process.input.write_all(b"stty size; echo size-done\n").await.expect("type");
    read_until(&mut process, &mut seen, "24 80").await;
    process.control.resize(PtySize { cols: 132, rows: 43 }).await.expect("resize");
    process.input.write_all(b"stty size\n").await.expect("type");
    read_until(&mut process, &mut seen, "43 132").await;
    process.control.kill().await.expect("kill");
    let status = tokio::time::timeout(DEADLINE, process.control.wait()).await.expect("exits").expect("wait");
    assert_eq!(status.signal, Some(9));
    assert_eq!(status.shell_code(), 137);
}

#[tokio::test]
async fn the_exit_code_comes_back_and_the_output_ends() {
    let mut process =
        HostSandbox::new().spawn(spawn_spec("/bin/sh", &["-c", "echo before-exit; exit 3"])).await.expect("spawn sh");
    let output = read_to_end(&mut process).await;
    assert!(output.contains("before-exit"), "{output:?}");
    let status = tokio::time::timeout(DEADLINE, process.control.wait()).await.expect("exits").expect("wait");
    assert_eq!(status, dockyard_sandbox::ExitStatus { code: Some(3), signal: None });
}

#[tokio::test]
async fn the_working_folder_is_the_one_asked_for() {
    let folder = std::env::temp_dir().join(format!("dockyard-sandbox-cwd-{}", std::process::id()));
    std::fs::create_dir_all(&folder).expect("make a folder");
    let mut spec = spawn_spec("/bin/sh", &["-c", "pwd"]);
    spec.cwd = folder.clone();
    let mut process = HostSandbox::new().spawn(spec).await.expect("spawn sh");
    let output = read_to_end(&mut process).await;
    let canonical = std::fs::canonicalize(&folder).expect("canonical");
    assert!(output.contains(&canonical.display().to_string()), "{output:?}");
    let _ = std::fs::remove_dir_all(folder);
}

fn alive(pid: i32) -> bool {
    // A zombie has ended; only its parent has not collected it yet.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat.rsplit_once(')').is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

#[tokio::test]
async fn kill_kills_the_whole_session_background_jobs_included() {
    // One job in the shell's own process group, one moved into a group of its own
    // (as an interactive shell does with every job).
    let script = "sleep 300 & echo same=$!; \
                  (set -m; sleep 301 & echo other=$!; wait) & \
                  wait";
    let mut process = HostSandbox::new().spawn(spawn_spec("/bin/sh", &["-c", script])).await.expect("spawn sh");
    let mut seen = String::new();
    read_until_match(&mut process, &mut seen, "both pids", |seen| {
        seen.find("other=").is_some_and(|at| seen[at..].contains('\n')) && seen.contains("same=")
    })
    .await;
    let pid_after = |label: &str| -> i32 {
        let start = seen.find(label).expect("label printed") + label.len();
        seen[start..].chars().take_while(char::is_ascii_digit).collect::<String>().parse().expect("a pid")
    };
    let (same, other) = (pid_after("same="), pid_after("other="));
    assert!(alive(same) && alive(other), "both jobs run before the kill");

    process.control.kill().await.expect("kill");
    let status = tokio::time::timeout(DEADLINE, process.control.wait()).await.expect("exits").expect("wait");
    assert_eq!(status.signal, Some(9));
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while alive(same) || alive(other) {
        assert!(tokio::time::Instant::now() < deadline, "a job survived the kill: {same} {other}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // With nobody left on the terminal, the output ends.
    read_to_end(&mut process).await;
}

#[tokio::test]
async fn the_environment_is_only_what_was_given() {
    // Cargo sets this in the environment of every test process; the child must not see it.
    let inherited = "CARGO_MANIFEST_DIR";
    assert!(std::env::var_os(inherited).is_some(), "the test runner sets {inherited}");
    let mut process = HostSandbox::new().spawn(spawn_spec("/usr/bin/env", &[])).await.expect("spawn env");
    let output = read_to_end(&mut process).await;
    let mut names: Vec<&str> =
        output.lines().filter_map(|line| line.trim_end_matches('\r').split_once('=')).map(|(name, _)| name).collect();
    names.sort_unstable();
    assert_eq!(names, ["HOME", "LANG", "PATH", "SHELL", "TERM", "USER"], "{output:?}");
    assert!(output.contains("TERM=xterm-256color"), "{output:?}");
    assert!(!output.contains(inherited), "{output:?}");
}

#[tokio::test]
async fn a_missing_program_is_a_spawn_error() {
    let result = HostSandbox::new().spawn(spawn_spec("/nonexistent/dockyard-shell", &[])).await;
    assert!(matches!(result, Err(SandboxError::Spawn { .. })), "{:?}", result.err());
}

/// With pipes: standard output and error apart, input line by line, the exit
/// code, and `terminate` ending a process that waits (its trap runs).
#[tokio::test]
async fn piped_processes_keep_stdout_and_stderr_apart_and_terminate_gently() {
    let script = "read line; echo \"out:$line\"; echo \"err:$line\" >&2; exit 3";
    let mut process = HostSandbox::new().spawn_piped(spawn_spec("/bin/sh", &["-c", script])).await.expect("spawn");
    process.input.write_all(b"hello\n").await.expect("write");
    process.input.flush().await.expect("flush");
    let output = read_to_end(&mut process).await;
    let mut errors = String::new();
    let mut stderr = process.errors.take().expect("a process with pipes has stderr");
    tokio::time::timeout(DEADLINE, stderr.read_to_string(&mut errors)).await.expect("in time").expect("read");
    assert_eq!(output, "out:hello\n");
    assert_eq!(errors, "err:hello\n");
    let status = tokio::time::timeout(DEADLINE, process.control.wait()).await.expect("in time").expect("wait");
    assert_eq!(status.code, Some(3));

    let script = "trap 'echo bye; exit 0' TERM; echo ready; while :; do sleep 0.1; done";
    let mut process = HostSandbox::new().spawn_piped(spawn_spec("/bin/sh", &["-c", script])).await.expect("spawn");
    let mut seen = String::new();
    read_until(&mut process, &mut seen, "ready").await;
    process.control.terminate().await.expect("terminate");
    read_until(&mut process, &mut seen, "bye").await;
    let status = tokio::time::timeout(DEADLINE, process.control.wait()).await.expect("in time").expect("wait");
    assert_eq!(status.code, Some(0), "the trap ran and exited 0");
}
