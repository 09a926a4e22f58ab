//! The metrics recorder's upkeep gives back the memory of recorded histogram
//! samples. Without it, every request's duration stayed in memory until a
//! scrape, and a Dockyard nobody scraped grew for good.
//!
//! Its own test binary: it counts the live heap bytes with a global allocator
//! of its own, which must not see other tests' allocations.

use std::alloc::System;
use std::time::Duration;

use cap::Cap;
use dockyard_server::telemetry::run_metrics_upkeep;
use metrics_exporter_prometheus::PrometheusBuilder;

#[global_allocator]
static ALLOCATOR: Cap<System> = Cap::new(System, usize::MAX);

/// Live heap bytes.
fn live() -> isize {
    ALLOCATOR.allocated() as isize
}

const SAMPLES: usize = 500_000;
const ROUNDS: usize = 300;
const SAMPLES_PER_ROUND: usize = 500;

#[tokio::test(flavor = "current_thread")]
async fn upkeep_frees_the_samples_a_scrape_would_have_drained() {
    let recorder = PrometheusBuilder::new().set_buckets(&[0.001, 0.01, 0.1, 1.0]).expect("buckets").build_recorder();
    let handle = recorder.handle();
    let histogram = metrics::with_local_recorder(&recorder, || metrics::histogram!("test_duration_seconds"));
    // Registered, and its first sample stored, before the baseline.
    histogram.record(0.005);
    handle.run_upkeep();
    let baseline = live();

    for index in 0..SAMPLES {
        histogram.record((index % 100) as f64 / 1000.0);
    }
    let held = live() - baseline;
    // Eight bytes a sample at least: the samples really are kept until upkeep.
    assert!(held >= (SAMPLES * 8) as isize, "{SAMPLES} samples hold only {held} bytes");

    // Traffic goes on while the task runs: the exporter frees drained samples
    // through crossbeam's epochs, which advance as the recorder keeps being used.
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let upkeep = tokio::spawn(run_metrics_upkeep(handle.clone(), Duration::from_millis(1), async move {
        let _ = stopped.await;
    }));
    for _ in 0..ROUNDS {
        for index in 0..SAMPLES_PER_ROUND {
            histogram.record((index % 100) as f64 / 1000.0);
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    stop.send(()).expect("the upkeep task is running");
    tokio::time::timeout(Duration::from_secs(5), upkeep).await.expect("the task stops").expect("no panic");

    let left = live() - baseline;
    assert!(left < held / 20, "upkeep left {left} of the {held} bytes the samples held");
    // Folded into the buckets, not lost.
    let text = handle.render();
    let count = text
        .lines()
        .find_map(|line| line.strip_prefix("test_duration_seconds_count "))
        .expect("the histogram's count in the scrape");
    assert_eq!(count.trim(), (SAMPLES + ROUNDS * SAMPLES_PER_ROUND + 1).to_string());
}
