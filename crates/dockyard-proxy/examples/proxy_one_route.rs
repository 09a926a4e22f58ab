//! Serves dockyard-proxy with one route, for profiling (callgrind, perf) and
//! manual tests: `Host: bench.localhost` goes to the given upstream.
//!
//!   cargo run --release -p dockyard-proxy --example proxy_one_route -- 127.0.0.1:8081 127.0.0.1:9000 [seconds] [workers]
//!
//! It listens on the first address, forwards to the second, and stops by
//! itself after `seconds` (default 30). `workers` sets the runtime's worker
//! threads (default: one per core, as in `dockyard serve`).

use std::net::SocketAddr;
use std::time::Duration;

use dockyard_proxy::{Backend, ProxyConfig, Route, RouteStatus, RouteTable};

fn main() {
    let mut args = std::env::args().skip(1);
    let listen: SocketAddr = args.next().and_then(|arg| arg.parse().ok()).expect("a listen address");
    let upstream: SocketAddr = args.next().and_then(|arg| arg.parse().ok()).expect("an upstream address");
    let seconds: u64 = args.next().and_then(|arg| arg.parse().ok()).unwrap_or(30);
    let workers: Option<usize> = args.next().and_then(|arg| arg.parse().ok());
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(workers) = workers {
        builder.worker_threads(workers);
    }
    let runtime = builder.enable_all().build().expect("runtime");
    runtime.block_on(async move {
        let table = RouteTable::new();
        table.upsert(Route {
            service: "bench".into(),
            project: "bench".into(),
            status: RouteStatus::Serving,
            backends: vec![Backend { id: "upstream".into(), addr: upstream }],
            ..Route::new("bench", "bench.localhost")
        });
        let listener = tokio::net::TcpListener::bind(listen).await.expect("bind");
        println!("listening on {}", listener.local_addr().expect("address"));
        dockyard_proxy::serve(
            listener,
            table,
            ProxyConfig::default(),
            tokio::time::sleep(Duration::from_secs(seconds)),
        )
        .await;
    });
}
