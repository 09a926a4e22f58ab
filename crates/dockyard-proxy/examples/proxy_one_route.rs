//! Serves dockyard-proxy with one route, for profiling (callgrind, perf) and
//! manual tests: `Host: bench.localhost` goes to the given upstream.
//!
//!   cargo run --release -p dockyard-proxy --example proxy_one_route -- 127.0.0.1:8081 127.0.0.1:9000 [seconds] [threads]
//!
//! It listens on the first address, forwards to the second, and stops by
//! itself after `seconds` (default 30). `threads` sets the proxy's worker
//! threads (default 0: one per core, as in `dockyard serve`); the accept loop
//! runs on a single-threaded runtime of its own.

use std::net::SocketAddr;
use std::time::Duration;

use dockyard_proxy::{Backend, ProxyConfig, Route, RouteStatus, RouteTable};

// The allocator `dockyard` ships with, so profiles match the product.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let mut args = std::env::args().skip(1);
    let listen: SocketAddr = args.next().and_then(|arg| arg.parse().ok()).expect("a listen address");
    let upstream: SocketAddr = args.next().and_then(|arg| arg.parse().ok()).expect("an upstream address");
    let seconds: u64 = args.next().and_then(|arg| arg.parse().ok()).unwrap_or(30);
    let threads: usize = args.next().and_then(|arg| arg.parse().ok()).unwrap_or(0);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
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
            ProxyConfig { threads, ..ProxyConfig::default() },
            tokio::time::sleep(Duration::from_secs(seconds)),
        )
        .await;
    });
}
