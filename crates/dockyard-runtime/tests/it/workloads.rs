//! Workloads on the real engine: replicas, networks, logs, stats, lifecycle.

use std::time::Duration;

use dockyard_runtime::docker::{DockerConfig, DockerRuntime, container_name};
use dockyard_runtime::health::wait_healthy;
use dockyard_runtime::{
    CancellationToken, InstanceState, LogOptions, LogStream, RestartPolicy, Runtime, RuntimeError, Selector,
    WorkloadSpec,
};
use futures_util::StreamExt;

use crate::support::{BUSYBOX, TempDir, engine, unique};

fn spec(project: &str, command: &str) -> WorkloadSpec {
    WorkloadSpec {
        project_id: project.to_owned(),
        service_id: format!("svc-{}", unique()),
        deployment_id: unique(),
        project_slug: "shop".to_owned(),
        service_name: "web".to_owned(),
        image: BUSYBOX.to_owned(),
        replicas: 1,
        port: 8080,
        env: vec![("GREETING".to_owned(), "hello".to_owned())],
        cpu_millis: None,
        memory_bytes: None,
        restart: RestartPolicy::Never,
        read_only_mounts: Vec::new(),
        command: Some(vec!["/bin/sh".to_owned(), "-c".to_owned(), command.to_owned()]),
    }
}

const HTTPD: &str = "mkdir -p /tmp/www && echo ok > /tmp/www/health && echo \"started $GREETING\" && \
                     echo oops >&2 && exec httpd -f -p 8080 -h /tmp/www";

#[tokio::test]
async fn replicas_run_on_the_project_network_and_follow_the_lifecycle() {
    let Some(engine) = engine().await else { return };
    let runtime = &engine.runtime;
    let project = unique();
    let dir = TempDir::new();
    let bundle = dir.write("ca.pem", "extra CA");
    let mut spec = spec(&project, HTTPD);
    spec.replicas = 2;
    spec.cpu_millis = Some(500);
    spec.memory_bytes = Some(64 << 20);
    spec.restart = RestartPolicy::OnFailure { max_retries: 2 };
    spec.read_only_mounts = vec![(bundle, "/etc/extra-ca.pem".to_owned())];
    let deployment = Selector::deployment(spec.deployment_id.clone());

    // Start: two replicas, named, addressed on the project network, healthy.
    let instances = runtime.start(spec.clone()).await.expect("start");
    assert_eq!(instances.len(), 2);
    for (replica, instance) in instances.iter().enumerate() {
        assert_eq!(instance.name, container_name(&spec, replica as u32));
        assert_eq!(instance.replica, replica as u32);
        assert_eq!(instance.state, InstanceState::Running);
        let addr = instance.addr.expect("an address");
        assert_eq!(addr.port(), 8080);
        wait_healthy(addr, "/health", Duration::from_secs(15), Duration::from_millis(100), CancellationToken::new())
            .await
            .expect("healthy");
    }
    let inspected = runtime.client().inspect_container(&instances[0].id, None).await.expect("inspect");
    let host = inspected.host_config.expect("host config");
    assert_eq!(host.nano_cpus, Some(500_000_000));
    assert_eq!(host.memory, Some(64 << 20));
    assert!(host.port_bindings.unwrap_or_default().is_empty(), "no published ports");
    let mounts = host.mounts.expect("mounts");
    assert_eq!(mounts[0].read_only, Some(true));
    let network = runtime.network_name(&project);
    let endpoint = &inspected.network_settings.expect("net").networks.expect("networks")[&network];
    assert!(endpoint.aliases.as_ref().expect("aliases").contains(&"web".to_owned()));

    // List by selector.
    let listed = runtime.list(deployment.clone()).await.expect("list");
    assert_eq!(listed.iter().map(|instance| instance.replica).collect::<Vec<_>>(), vec![0, 1]);
    assert_eq!(
        listed,
        instances
            .iter()
            .cloned()
            .map(|mut instance| {
                instance.started_at = listed[instance.replica as usize].started_at;
                instance
            })
            .collect::<Vec<_>>()
    );
    assert_eq!(runtime.list(Selector::project(project.clone())).await.expect("list").len(), 2);
    assert!(runtime.list(Selector::project(unique())).await.expect("list").is_empty());

    // Logs: both streams, each line tagged with its instance and the engine's time.
    let lines: Vec<_> = runtime
        .logs(deployment.clone(), LogOptions { follow: false, since: None, tail: Some(10) })
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_, _>>()
        .expect("logs");
    let started: Vec<_> = lines.iter().filter(|line| line.text == "started hello").collect();
    assert_eq!(started.len(), 2, "{lines:?}");
    assert!(started.iter().all(|line| line.stream == LogStream::Stdout));
    assert!(lines.iter().any(|line| line.text == "oops" && line.stream == LogStream::Stderr), "{lines:?}");
    assert!(
        lines.iter().all(|line| line.instance.as_deref().is_some_and(|name| name.starts_with("dockyard-shop-web-")))
    );
    assert!(lines.iter().all(|line| (chrono::Utc::now() - line.at).num_seconds() < 120));

    // Stats.
    let stats = runtime.stats(deployment.clone()).await.expect("stats");
    assert_eq!(stats.len(), 2);
    for reading in &stats {
        assert!(reading.memory_bytes > 0, "{reading:?}");
        assert_eq!(reading.memory_limit_bytes, Some(64 << 20));
        assert!(reading.cpu_cores >= 0.0 && reading.cpu_cores.is_finite());
    }

    // The network stays while in use.
    runtime.remove_network(&project).await.expect("in use is fine");
    runtime.client().inspect_network(&network, None).await.expect("still there");

    // Stop, resume, restart.
    assert_eq!(runtime.stop(deployment.clone(), Duration::from_secs(1)).await.expect("stop"), 2);
    let stopped = runtime.list(deployment.clone()).await.expect("list");
    assert!(
        stopped
            .iter()
            .all(|instance| matches!(instance.state, InstanceState::Exited { .. }) && instance.addr.is_none())
    );
    assert_eq!(runtime.stop(deployment.clone(), Duration::from_secs(1)).await.expect("stop"), 0);
    assert_eq!(runtime.resume(deployment.clone()).await.expect("resume"), 2);
    for instance in runtime.list(deployment.clone()).await.expect("list") {
        let addr = instance.addr.expect("running again");
        wait_healthy(addr, "/health", Duration::from_secs(15), Duration::from_millis(100), CancellationToken::new())
            .await
            .expect("healthy after resume");
    }
    assert_eq!(runtime.restart(deployment.clone(), Duration::from_secs(1)).await.expect("restart"), 2);
    assert!(runtime.list(deployment.clone()).await.expect("list").iter().all(|i| i.state == InstanceState::Running));

    // Remove is idempotent; then the network goes.
    assert_eq!(runtime.remove(deployment.clone(), Duration::from_secs(1)).await.expect("remove"), 2);
    assert_eq!(runtime.remove(deployment.clone(), Duration::from_secs(1)).await.expect("remove again"), 0);
    assert!(runtime.list(deployment).await.expect("list").is_empty());
    runtime.remove_network(&project).await.expect("remove network");
    let gone = runtime.client().inspect_network(&network, None).await;
    assert!(gone.is_err(), "the network is still there");
    runtime.remove_network(&project).await.expect("removing again is fine");
}

#[tokio::test]
async fn following_logs_streams_new_lines_until_dropped() {
    let Some(engine) = engine().await else { return };
    let project = unique();
    let spec = spec(&project, "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.2; done");
    let selector = Selector::deployment(spec.deployment_id.clone());
    engine.runtime.start(spec).await.expect("start");

    let mut stream = engine.runtime.logs(selector.clone(), LogOptions { follow: true, since: None, tail: Some(0) });
    let mut ticks = Vec::new();
    while ticks.len() < 3 {
        let line = tokio::time::timeout(Duration::from_secs(10), stream.next())
            .await
            .expect("a line within 10 s")
            .expect("the stream goes on")
            .expect("a line");
        ticks.push(line.text);
    }
    drop(stream);
    let numbers: Vec<u32> =
        ticks.iter().map(|tick| tick.trim_start_matches("tick ").parse().expect("a tick number")).collect();
    assert!(numbers.windows(2).all(|pair| pair[1] == pair[0] + 1), "{ticks:?}");

    // `since` in the future: nothing older comes back.
    let later = chrono::Utc::now() + chrono::Duration::seconds(3600);
    let none: Vec<_> = engine
        .runtime
        .logs(selector.clone(), LogOptions { follow: false, since: Some(later), tail: None })
        .collect()
        .await;
    assert!(none.is_empty(), "{none:?}");
    engine.runtime.remove(selector, Duration::ZERO).await.expect("remove");
}

#[tokio::test]
async fn a_failed_start_removes_what_it_made() {
    let Some(engine) = engine().await else { return };
    let project = unique();
    let mut spec = spec(&project, "true");
    spec.replicas = 2;
    spec.command = Some(vec!["/no/such/binary".to_owned()]);
    let selector = Selector::deployment(spec.deployment_id.clone());

    let failed = engine.runtime.start(spec).await;

    match failed {
        Err(RuntimeError::StartFailed(message)) => assert!(message.contains("no such file"), "{message}"),
        other => panic!("expected StartFailed, got {other:?}"),
    }
    assert!(engine.runtime.list(selector).await.expect("list").is_empty());
}

#[tokio::test]
async fn a_missing_image_is_image_not_found() {
    let Some(engine) = engine().await else { return };
    let mut spec = spec(&unique(), "true");
    spec.image = format!("dockyard-test/missing-{}:1", unique());
    let failed = engine.runtime.start(spec).await;
    assert!(matches!(failed, Err(RuntimeError::ImageNotFound(_))), "{failed:?}");
    assert!(engine.runtime.image("dockyard-test/none:0").await.expect("image").is_none());
}

#[tokio::test]
async fn a_retried_start_replaces_the_same_replica() {
    let Some(engine) = engine().await else { return };
    let spec = spec(&unique(), "sleep 300");
    let first = engine.runtime.start(spec.clone()).await.expect("first start");
    let second = engine.runtime.start(spec.clone()).await.expect("second start");
    assert_ne!(first[0].id, second[0].id);
    assert_eq!(engine.runtime.list(Selector::deployment(spec.deployment_id)).await.expect("list").len(), 1);
}

#[tokio::test]
async fn an_unreachable_engine_is_unavailable() {
    let missing =
        DockerConfig { socket: Some(format!("unix:///tmp/no-docker-{}.sock", unique())), ..DockerConfig::new("t") };
    let error = DockerRuntime::connect(missing).await.expect_err("no socket");
    assert!(matches!(error, RuntimeError::Unavailable(_)), "{error:?}");

    // A socket file nobody listens on any more: connection refused.
    let path = std::env::temp_dir().join(format!("dockyard-dead-{}.sock", unique()));
    drop(std::os::unix::net::UnixListener::bind(&path).expect("bind"));
    let refused = DockerConfig { socket: Some(path.display().to_string()), ..DockerConfig::new("t") };
    let error = DockerRuntime::connect(refused).await.expect_err("refused");
    assert!(matches!(error, RuntimeError::Unavailable(_)), "{error:?}");
    let _ = std::fs::remove_file(path);
}

#[tokio::test]
async fn a_follow_whose_event_stream_failed_still_joins_containers_that_start_later() {
    let Some(engine) = crate::support::engine_with(|config| config.log_rescan = Duration::from_millis(300)).await
    else {
        return;
    };
    let first = spec(&unique(), "echo first-started; exec sleep 300");
    let service = Selector::service(first.service_id.clone());
    engine.runtime.start(first.clone()).await.expect("start the first");

    // The event stream fails at once: only the rescan can see the next start.
    let mut stream = engine
        .runtime
        .logs_with_failed_events(service.clone(), LogOptions { follow: true, since: None, tail: Some(10) });
    let mut seen = Vec::new();
    let mut next_line = async |seen: &mut Vec<String>, wait: Duration| -> bool {
        match tokio::time::timeout(wait, stream.next()).await {
            Ok(Some(Ok(line))) => {
                seen.push(line.text);
                true
            }
            Ok(Some(Err(error))) => panic!("the follow failed: {error}"),
            Ok(None) => panic!("a followed stream ended: {seen:?}"),
            Err(_) => false,
        }
    };
    while !seen.iter().any(|line| line == "first-started") {
        assert!(next_line(&mut seen, Duration::from_secs(20)).await, "no line of the first container: {seen:?}");
    }

    // The service's next deployment starts after the stream opened.
    let mut second = first.clone();
    second.deployment_id = unique();
    second.command =
        Some(vec!["/bin/sh".to_owned(), "-c".to_owned(), "echo second-started; exec sleep 300".to_owned()]);
    engine.runtime.start(second).await.expect("start the second");
    while !seen.iter().any(|line| line == "second-started") {
        assert!(
            next_line(&mut seen, Duration::from_secs(30)).await,
            "the rescan never joined the second container: {seen:?}"
        );
    }

    // Later rescans (several in this second) join neither container again.
    while next_line(&mut seen, Duration::from_secs(1)).await {}
    assert_eq!(seen, vec!["first-started".to_owned(), "second-started".to_owned()], "each line once");
    drop(stream);
    engine.runtime.remove(service, Duration::ZERO).await.expect("remove");
}

/// A container whose log the engine cannot read (log driver `none`) fails at
/// every join, and the follow's rescan joins it again and again: its error is
/// passed on once, and the other container's lines come as usual.
#[tokio::test]
async fn an_unreadable_log_is_one_error_however_often_the_follow_joins_it() {
    let Some(engine) = crate::support::engine_with(|config| config.log_rescan = Duration::from_millis(200)).await
    else {
        return;
    };
    let readable = spec(&unique(), "echo readable-started; exec sleep 300");
    let service = Selector::service(readable.service_id.clone());
    engine.runtime.start(readable.clone()).await.expect("start the readable one");
    let docker = |args: &[&str]| -> String {
        let output = std::process::Command::new("docker").args(args).output().expect("run docker");
        assert!(output.status.success(), "docker {args:?}: {}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    };
    // A second container with the first one's labels, whose log the engine does not keep.
    let first = docker(&["ps", "-q", "--filter", &format!("label=dockyard.service={}", readable.service_id)]);
    let labels: std::collections::BTreeMap<String, String> =
        serde_json::from_str(&docker(&["inspect", "--format", "{{json .Config.Labels}}", &first])).expect("labels");
    let mut args: Vec<String> = ["run", "-d", "--log-driver", "none"].map(str::to_owned).to_vec();
    for (key, value) in &labels {
        args.extend(["--label".to_owned(), format!("{key}={value}")]);
    }
    args.extend([BUSYBOX, "sleep", "300"].map(str::to_owned));
    docker(&args.iter().map(String::as_str).collect::<Vec<_>>());

    // About ten rescans, each of which joins the unreadable one again.
    let mut stream = engine.runtime.logs(service.clone(), LogOptions { follow: true, since: None, tail: Some(10) });
    let (mut lines, mut errors) = (Vec::new(), Vec::new());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    while let Ok(Some(item)) = tokio::time::timeout_at(deadline, stream.next()).await {
        match item {
            Ok(line) => lines.push(line.text),
            Err(error) => errors.push(error.to_string()),
        }
    }
    assert_eq!(lines, vec!["readable-started".to_owned()]);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].contains("does not support reading"), "{errors:?}");
    drop(stream);
    engine.runtime.remove(service, Duration::ZERO).await.expect("remove");
}
