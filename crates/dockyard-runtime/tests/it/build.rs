//! Image builds on the real engine.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use bollard::query_parameters::ListContainersOptionsBuilder;
use dockyard_runtime::docker::DockerRuntime;
use dockyard_runtime::{
    BuildRequest, CancellationToken, Dockerfile, LABEL_MANAGED, LogStream, Runtime, RuntimeError, Selector,
};

use crate::support::{BUSYBOX, TempDir, collecting_sink, engine, engine_with, eventually, texts, unique};

fn request(dir: &TempDir, tag: &str) -> BuildRequest {
    BuildRequest {
        tag: tag.to_owned(),
        context: dir.path().to_path_buf(),
        dockerfile: Dockerfile::Path("Dockerfile".into()),
        build_args: BTreeMap::new(),
        labels: BTreeMap::new(),
        extra_files: Vec::new(),
        max_context_bytes: 16 << 20,
        no_cache: false,
    }
}

fn tag() -> String {
    format!("dockyard-test/{}:1", unique())
}

#[tokio::test]
async fn a_dockerfile_builds_with_streamed_lines_args_and_labels() {
    let Some(engine) = engine().await else { return };
    let dir = TempDir::new();
    dir.write(
        "docker/app.Dockerfile",
        format!("FROM {BUSYBOX}\nARG GREETING\nCOPY hello.txt /hello.txt\nRUN echo \"greeting=$GREETING\" && cat /hello.txt\n"),
    );
    dir.write("hello.txt", "hello from the context\n");
    let tag = tag();
    let mut build = request(&dir, &tag);
    build.dockerfile = Dockerfile::Path("docker/app.Dockerfile".into());
    build.build_args.insert("GREETING".into(), "bonjour".into());
    build.labels.insert("dockyard.deployment".into(), "d1".into());
    let (sink, lines) = collecting_sink();

    let built = engine.runtime.build(build, sink, CancellationToken::new()).await.expect("build");

    assert_eq!(built.tag, tag);
    assert!(built.image_id.starts_with("sha256:"), "{}", built.image_id);
    let texts = texts(&lines);
    // The engine turns the labels into extra LABEL steps after the Dockerfile's four.
    assert!(
        texts.iter().any(|line| line.starts_with("Step 1/") && line.ends_with(&format!(": FROM {BUSYBOX}"))),
        "{texts:?}"
    );
    assert!(texts.iter().any(|line| line.starts_with("Successfully tagged")), "{texts:?}");
    assert!(texts.iter().any(|line| line == "greeting=bonjour"), "{texts:?}");
    assert!(texts.iter().any(|line| line == "hello from the context"), "{texts:?}");
    assert!(texts.iter().all(|line| !line.contains('\n')));
    let inspected = engine.runtime.client().inspect_image(&tag).await.expect("inspect");
    let labels = inspected.config.and_then(|config| config.labels).unwrap_or_default();
    assert_eq!(labels.get("dockyard.deployment").map(String::as_str), Some("d1"));
    assert_eq!(labels.get(LABEL_MANAGED).map(String::as_str), Some("true"));
    let image = engine.runtime.image(&tag).await.expect("image").expect("exists");
    assert_eq!(image.id, built.image_id);
    // Listed by its labels, with the deployment it was built for.
    let listed = engine.runtime.images(Selector::deployment("d1")).await.expect("images");
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!((listed[0].id.as_str(), listed[0].tags.as_slice()), (built.image_id.as_str(), [tag.clone()].as_slice()));
    assert_eq!(listed[0].deployment_id.as_deref(), Some("d1"));
    assert!(engine.runtime.images(Selector::deployment("d2")).await.expect("images").is_empty());

    engine.runtime.remove_image(&tag).await.expect("remove");
    assert!(engine.runtime.image(&tag).await.expect("image").is_none());
    assert!(engine.runtime.images(Selector::deployment("d1")).await.expect("images").is_empty());
    engine.runtime.remove_image(&tag).await.expect("removing again is fine");
}

#[tokio::test]
async fn a_failing_step_reports_the_engine_message_and_leaves_no_container() {
    let Some(engine) = engine().await else { return };
    let dir = TempDir::new();
    let marker = unique();
    dir.write("Dockerfile", format!("FROM {BUSYBOX}\nRUN echo {marker} && exit 3\n"));
    let (sink, lines) = collecting_sink();

    let failed = engine.runtime.build(request(&dir, &tag()), sink, CancellationToken::new()).await;

    match failed {
        Err(RuntimeError::BuildFailed(message)) => {
            assert!(message.contains("returned a non-zero code: 3"), "{message}");
        }
        other => panic!("expected BuildFailed, got {other:?}"),
    }
    assert!(lines.lock().expect("lines").iter().any(|line| line.stream == LogStream::Stderr));
    assert!(build_containers(&engine.runtime, &marker).await.is_empty());
}

#[tokio::test]
async fn dockerignore_is_respected_in_the_image() {
    let Some(engine) = engine().await else { return };
    let dir = TempDir::new();
    dir.write(".dockerignore", "secret.txt\nlogs\n!logs/keep.log\n");
    dir.write("secret.txt", "do not send");
    dir.write("logs/a.log", "no");
    dir.write("logs/keep.log", "yes");
    // The build succeeds only when the image has exactly what it should.
    dir.write(
        "Dockerfile",
        format!(
            "FROM {BUSYBOX}\nCOPY . /ctx/\nRUN test ! -e /ctx/secret.txt && test ! -e /ctx/logs/a.log && test -e /ctx/logs/keep.log && test -e /ctx/Dockerfile\n"
        ),
    );
    let (sink, lines) = collecting_sink();
    let built = engine.runtime.build(request(&dir, &tag()), sink, CancellationToken::new()).await;
    assert!(built.is_ok(), "{built:?}: {:?}", texts(&lines));
}

#[tokio::test]
async fn too_large_and_escaping_contexts_are_refused_before_the_engine() {
    let Some(engine) = engine().await else { return };
    let dir = TempDir::new();
    dir.write("Dockerfile", format!("FROM {BUSYBOX}\n"));
    dir.write("big.bin", vec![1u8; 256 * 1024]);
    let mut build = request(&dir, &tag());
    build.max_context_bytes = 100 * 1024;
    let (sink, _) = collecting_sink();
    let refused = engine.runtime.build(build, sink.clone(), CancellationToken::new()).await;
    assert!(matches!(refused, Err(RuntimeError::ContextTooLarge { limit: 102_400 })), "{refused:?}");

    std::os::unix::fs::symlink("/etc/passwd", dir.path().join("passwd")).expect("symlink");
    let refused = engine.runtime.build(request(&dir, &tag()), sink, CancellationToken::new()).await;
    assert!(matches!(refused, Err(RuntimeError::InvalidContext(_))), "{refused:?}");
}

#[tokio::test]
async fn an_inline_dockerfile_builds() {
    let Some(engine) = engine().await else { return };
    let dir = TempDir::new();
    dir.write("index.html", "<h1>hi</h1>");
    let mut build = request(&dir, &tag());
    build.dockerfile =
        Dockerfile::Inline(format!("FROM {BUSYBOX}\nCOPY index.html /www/\nRUN test -e /www/index.html\n"));
    build.extra_files.push(("certs/extra.pem".into(), b"pem".to_vec()));
    let (sink, lines) = collecting_sink();
    let built = engine.runtime.build(build, sink, CancellationToken::new()).await;
    assert!(built.is_ok(), "{built:?}: {:?}", texts(&lines));
}

#[tokio::test]
async fn cancel_really_stops_the_build() {
    let Some(engine) = engine().await else { return };
    let dir = TempDir::new();
    let marker = unique();
    dir.write("Dockerfile", format!("FROM {BUSYBOX}\nRUN echo {marker} && sleep 30\n"));
    let tag = tag();
    let (sink, lines) = collecting_sink();
    let cancel = CancellationToken::new();
    let runtime = engine.runtime.clone();
    let build = tokio::spawn({
        let cancel = cancel.clone();
        let request = request(&dir, &tag);
        async move { runtime.build(request, sink, cancel).await }
    });

    // The step's container runs (its echo came back), then we cancel.
    assert!(
        eventually(Duration::from_secs(20), || {
            let lines = lines.clone();
            let marker = marker.clone();
            async move { texts(&lines).contains(&marker) }
        })
        .await,
        "the RUN step never started: {:?}",
        texts(&lines)
    );
    assert_eq!(build_containers(&engine.runtime, &marker).await.len(), 1, "the step's container should be running");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let cancelled_at = Instant::now();
    cancel.cancel();
    let outcome = build.await.expect("join");

    assert!(matches!(outcome, Err(RuntimeError::Cancelled)), "{outcome:?}");
    assert!(cancelled_at.elapsed() < Duration::from_secs(2));
    let gone =
        eventually(Duration::from_secs(10), || async { build_containers(&engine.runtime, &marker).await.is_empty() })
            .await;
    assert!(gone, "the build's container still exists after the cancel");
    assert!(engine.runtime.image(&tag).await.expect("image").is_none(), "a cancelled build tagged its image");
}

#[tokio::test]
async fn the_build_timeout_stops_the_build() {
    let Some(engine) = engine_with(|config| config.build_timeout = Duration::from_secs(3)).await else { return };
    let dir = TempDir::new();
    let marker = unique();
    dir.write("Dockerfile", format!("FROM {BUSYBOX}\nRUN echo {marker} && sleep 30\n"));
    let (sink, _) = collecting_sink();
    let started = Instant::now();
    let outcome = engine.runtime.build(request(&dir, &tag()), sink, CancellationToken::new()).await;
    assert!(
        matches!(outcome, Err(RuntimeError::BuildFailed(ref message)) if message.contains("longer than")),
        "{outcome:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(
        eventually(Duration::from_secs(10), || async { build_containers(&engine.runtime, &marker).await.is_empty() })
            .await
    );
}

#[tokio::test]
async fn the_layer_cache_is_reused_by_a_second_build() {
    let Some(engine) = engine().await else { return };
    let dir = TempDir::new();
    let marker = unique();
    dir.write("app.txt", "v1");
    dir.write("Dockerfile", format!("FROM {BUSYBOX}\nCOPY app.txt /app.txt\nRUN echo {marker} && sleep 3\n"));

    let (sink, _) = collecting_sink();
    let started = Instant::now();
    let first = engine.runtime.build(request(&dir, &tag()), sink, CancellationToken::new()).await.expect("first");
    let cold = started.elapsed();

    // Restaging rewrites the file (a new mtime); the cache must still hit.
    dir.write("app.txt", "v1");
    let (sink, lines) = collecting_sink();
    let started = Instant::now();
    let second = engine.runtime.build(request(&dir, &tag()), sink, CancellationToken::new()).await.expect("second");
    let warm = started.elapsed();

    assert_eq!(first.image_id, second.image_id);
    let texts = texts(&lines);
    assert!(texts.iter().filter(|line| line.contains("Using cache")).count() >= 2, "{texts:?}");
    assert!(warm < cold / 2, "warm {warm:?} vs cold {cold:?}");
}

#[tokio::test]
async fn builds_beyond_the_concurrency_limit_wait_for_a_slot() {
    let Some(engine) = engine_with(|config| config.build_concurrency = 1).await else { return };
    let dir = TempDir::new();
    dir.write("Dockerfile", format!("FROM {BUSYBOX}\nRUN echo {} && sleep 2\n", unique()));
    let (first_sink, _) = collecting_sink();
    let (second_sink, second_lines) = collecting_sink();
    let runtime = engine.runtime.clone();
    let first_request = request(&dir, &tag());
    let first = tokio::spawn(async move { runtime.build(first_request, first_sink, CancellationToken::new()).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut second_request = request(&dir, &tag());
    second_request.no_cache = true;
    let second = engine.runtime.build(second_request, second_sink, CancellationToken::new()).await;
    assert!(first.await.expect("join").is_ok());
    assert!(second.is_ok(), "{second:?}");
    let lines = second_lines.lock().expect("lines");
    assert_eq!(lines[0].text, "waiting for a build slot");
    assert_eq!(lines[0].stream, LogStream::System);
}

/// Containers (any, the builder's have no labels) whose command carries `marker`.
async fn build_containers(runtime: &DockerRuntime, marker: &str) -> Vec<String> {
    let options = ListContainersOptionsBuilder::new().all(true).filters(&HashMap::<String, Vec<String>>::new()).build();
    runtime
        .client()
        .list_containers(Some(options))
        .await
        .expect("list")
        .into_iter()
        .filter(|container| container.command.as_deref().is_some_and(|command| command.contains(marker)))
        .filter_map(|container| container.id)
        .collect()
}
