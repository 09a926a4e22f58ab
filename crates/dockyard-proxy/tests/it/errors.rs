//! The proxy's own 502, 503 and 504 pages.

use std::time::Duration;

use dockyard_proxy::{Backend, ProxyConfig, Route, RouteStatus};
use http::{Request, Response, StatusCode};
use hyper::body::Incoming;

use crate::support::*;

fn problem(answer: &Answer) -> serde_json::Value {
    assert_eq!(answer.headers["content-type"], "application/problem+json", "{}", answer.body);
    serde_json::from_str(&answer.body).expect("problem json")
}

#[tokio::test]
async fn a_route_without_backends_answers_503_saying_why() {
    let proxy = Proxy::with_routes(vec![
        Route { status: RouteStatus::Deploying, ..route("s-deploying", "deploying.localhost", vec![]) },
        Route { status: RouteStatus::Stopped, ..route("s-stopped", "stopped.localhost", vec![]) },
        Route { status: RouteStatus::Failing, ..route("s-failing", "failing.localhost", vec![]) },
        Route { status: RouteStatus::Serving, ..route("s-unhealthy", "unhealthy.localhost", vec![]) },
        Route { status: RouteStatus::NotDeployed, ..route("s-new", "new.localhost", vec![]) },
    ])
    .await;

    let cases = [
        ("deploying.localhost", "service_deploying", "deploying"),
        ("stopped.localhost", "service_stopped", "stopped"),
        ("failing.localhost", "service_failing", "failing"),
        ("unhealthy.localhost", "service_failing", "failing"),
        ("new.localhost", "service_not_deployed", "not been deployed"),
    ];
    for (host, code, words) in cases {
        let json = get_with(&proxy, host, "/", &[("accept", "application/json")]).await;
        assert_eq!(json.status, StatusCode::SERVICE_UNAVAILABLE, "{host}");
        let problem = problem(&json);
        assert_eq!(problem["code"], code, "{host}");
        assert_eq!(problem["status"], 503);
        assert_eq!(json.headers.contains_key("retry-after"), code == "service_deploying", "{host}");

        let html = get_with(&proxy, host, "/", &[("accept", "text/html,*/*;q=0.8")]).await;
        assert_eq!(html.status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(html.headers["content-type"].to_str().expect("ascii").starts_with("text/html"));
        assert!(html.body.contains(words) && html.body.contains(code), "{host}: {}", html.body);
    }
    let deploying = get(&proxy, "deploying.localhost", "/").await;
    assert_eq!(deploying.headers["retry-after"], "5");
}

#[tokio::test]
async fn an_unreachable_backend_is_a_502_that_does_not_leak_its_address() {
    let dead = closed_port().await;
    let proxy =
        Proxy::with_routes(vec![route("svc", "web-shop.localhost", vec![Backend { id: "c1".into(), addr: dead }])])
            .await;

    let json = get_with(&proxy, "web-shop.localhost", "/", &[("accept", "application/json")]).await;
    assert_eq!(json.status, StatusCode::BAD_GATEWAY);
    assert_eq!(problem(&json)["code"], "upstream_unreachable");
    let html = get(&proxy, "web-shop.localhost", "/").await;
    assert_eq!(html.status, StatusCode::BAD_GATEWAY);
    assert!(html.body.contains("upstream_unreachable"));
    for answer in [&json, &html] {
        assert!(!answer.body.contains(&dead.to_string()) && !answer.body.contains("refused"), "{}", answer.body);
    }
}

#[tokio::test]
async fn a_backend_slower_than_the_header_timeout_is_a_504() {
    let slow = upstream("slow", |_request: Request<Incoming>| async move {
        tokio::time::sleep(Duration::from_secs(5)).await;
        Response::new(full("too late"))
    })
    .await;
    let proxy =
        Proxy::start(ProxyConfig { response_header_timeout: Duration::from_millis(200), ..ProxyConfig::default() })
            .await;
    proxy.table.replace(vec![route("svc", "web-shop.localhost", vec![slow.backend()])]);

    let started = std::time::Instant::now();
    let json = get_with(&proxy, "web-shop.localhost", "/", &[("accept", "application/problem+json")]).await;
    assert_eq!(json.status, StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(problem(&json)["code"], "upstream_timeout");
    assert!(started.elapsed() < Duration::from_secs(3), "answered after the timeout, not after the backend");
    assert!(!json.body.contains(&slow.addr.to_string()));
    assert_eq!(proxy.table.in_flight(&slow.addr), 0, "a timed-out request no longer counts");
}

#[tokio::test]
async fn the_proxy_records_per_route_metrics() {
    use std::collections::HashMap;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::{Arc, Mutex};

    use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};

    #[derive(Default)]
    struct Recorded {
        counters: Mutex<HashMap<String, Arc<AtomicU64>>>,
        histograms: Mutex<HashMap<String, Arc<Samples>>>,
    }
    #[derive(Default)]
    struct Samples(Mutex<Vec<f64>>);
    impl metrics::HistogramFn for Samples {
        fn record(&self, value: f64) {
            self.0.lock().expect("lock").push(value);
        }
    }
    fn name(key: &Key) -> String {
        let mut labels: Vec<String> = key.labels().map(|label| format!("{}={}", label.key(), label.value())).collect();
        labels.sort();
        format!("{}{{{}}}", key.name(), labels.join(","))
    }
    impl Recorder for Recorded {
        fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
            Counter::from_arc(Arc::clone(self.counters.lock().expect("lock").entry(name(key)).or_default()))
        }
        fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
            Gauge::noop()
        }
        fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
            Histogram::from_arc(Arc::clone(self.histograms.lock().expect("lock").entry(name(key)).or_default()))
        }
    }

    // The proxy serves on its own worker threads, so the recorder is the
    // process's global one. Route ids of this test only, and counts compared
    // with what was there before, keep it right when other tests share the
    // process (`cargo test`).
    static RECORDER: std::sync::OnceLock<&'static Recorded> = std::sync::OnceLock::new();
    let recorder: &'static Recorded = RECORDER.get_or_init(|| {
        let recorder: &'static Recorded = Box::leak(Box::default());
        metrics::set_global_recorder(recorder).expect("no other global recorder in the proxy's tests");
        recorder
    });
    let counter =
        |key: &str| recorder.counters.lock().expect("lock").get(key).map_or(0, |value| value.load(Ordering::Relaxed));
    let unrouted_before = counter("dockyard_proxy_requests_total{route=_none,status_class=4xx}");
    let web = whoami("web").await;
    let dead = closed_port().await;
    let proxy = Proxy::with_routes(vec![
        route("svc-metrics-web", "web-shop.localhost", vec![web.backend()]),
        route("svc-metrics-dead", "dead-shop.localhost", vec![Backend { id: "c".into(), addr: dead }]),
    ])
    .await;
    for _ in 0..3 {
        assert_eq!(get(&proxy, "web-shop.localhost", "/a/path/123").await.status, StatusCode::OK);
    }
    assert_eq!(get(&proxy, "dead-shop.localhost", "/").await.status, StatusCode::BAD_GATEWAY);
    assert_eq!(get(&proxy, "unknown.localhost", "/").await.status, StatusCode::NOT_FOUND);

    // The response body ends after the client has it; give the last record a moment.
    eventually("the metrics are recorded", || {
        counter("dockyard_proxy_requests_total{route=_none,status_class=4xx}") > unrouted_before
            && counter("dockyard_proxy_requests_total{route=svc-metrics-web,status_class=2xx}") == 3
            && counter("dockyard_proxy_requests_total{route=svc-metrics-dead,status_class=5xx}") == 1
    })
    .await;
    assert_eq!(counter("dockyard_proxy_upstream_errors_total{kind=connect,route=svc-metrics-dead}"), 1);
    let histograms = recorder.histograms.lock().expect("lock");
    let durations =
        histograms.get("dockyard_proxy_request_duration_seconds{route=svc-metrics-web}").expect("histogram");
    assert_eq!(durations.0.lock().expect("lock").len(), 3);
    assert!(histograms.keys().all(|key| !key.contains("/a/path")), "no path in labels");
}
