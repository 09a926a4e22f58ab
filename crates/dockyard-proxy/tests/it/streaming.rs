//! Bodies stream both ways, WebSocket tunnels, HTTP/2 on either side.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use dockyard_proxy::{Route, UpstreamProtocol};
use futures_util::{SinkExt, StreamExt};
use http::{Request, Response, StatusCode, Version};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, mpsc};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::support::*;

const STEP: Duration = Duration::from_secs(5);

#[tokio::test]
async fn response_chunks_reach_the_client_before_the_backend_finishes() {
    let release = Arc::new(Notify::new());
    let backend_release = Arc::clone(&release);
    let web = upstream("web", move |_request: Request<Incoming>| {
        let release = Arc::clone(&backend_release);
        async move {
            let (sender, body) = channel_body();
            tokio::spawn(async move {
                let _ = sender.send(Bytes::from_static(b"first chunk;")).await;
                release.notified().await;
                let _ = sender.send(Bytes::from_static(b"second chunk")).await;
            });
            Response::new(body)
        }
    })
    .await;
    let proxy = Proxy::with_routes(vec![route("svc", "web-shop.localhost", vec![web.backend()])]).await;

    let request =
        Request::get(proxy.url("/events")).header("host", "web-shop.localhost").body(empty()).expect("request");
    let response = http1_client().request(request).await.expect("response");
    assert_eq!(response.status(), StatusCode::OK);
    let mut body = response.into_body();
    // The backend holds the rest of its body until we have seen the first chunk.
    let first =
        tokio::time::timeout(STEP, body.frame()).await.expect("first chunk in time").expect("frame").expect("ok");
    assert_eq!(first.into_data().expect("data"), "first chunk;");
    release.notify_one();
    let rest = tokio::time::timeout(STEP, body.collect()).await.expect("rest in time").expect("ok").to_bytes();
    assert_eq!(rest, "second chunk");
}

#[tokio::test]
async fn an_upload_reaches_the_backend_while_the_client_is_still_sending() {
    let (seen_sender, mut seen_first) = mpsc::channel::<Bytes>(1);
    let web = upstream("web", move |request: Request<Incoming>| {
        let seen_sender = seen_sender.clone();
        async move {
            let mut body = request.into_body();
            let mut total = 0;
            let mut told = false;
            while let Some(frame) = body.frame().await {
                if let Ok(data) = frame.expect("frame").into_data() {
                    total += data.len();
                    if !told {
                        let _ = seen_sender.send(data).await;
                        told = true;
                    }
                }
            }
            Response::new(full(format!("received {total} bytes")))
        }
    })
    .await;
    let proxy = Proxy::with_routes(vec![route("svc", "web-shop.localhost", vec![web.backend()])]).await;

    let (chunks, body) = channel_body();
    let request = Request::post(proxy.url("/upload")).header("host", "web-shop.localhost").body(body).expect("request");
    let pending = tokio::spawn(http1_client().request(request));
    chunks.send(Bytes::from_static(b"part one,")).await.expect("send");
    // The backend sees the first part while the client has not finished.
    let first = tokio::time::timeout(STEP, seen_first.recv()).await.expect("first part forwarded").expect("part");
    assert_eq!(first, "part one,");
    chunks.send(Bytes::from_static(b"part two")).await.expect("send");
    drop(chunks);
    let answer = collect(pending.await.expect("join").expect("response")).await;
    assert_eq!(answer.body, "received 17 bytes");
}

#[tokio::test]
async fn large_bodies_pass_through_intact_both_ways() {
    let web = echo("echo").await;
    let proxy = Proxy::with_routes(vec![route("svc", "web-shop.localhost", vec![web.backend()])]).await;
    let payload: Bytes = (0..24 * 1024 * 1024u32).map(|index| (index % 251) as u8).collect::<Vec<u8>>().into();

    let request = Request::put(proxy.url("/blob"))
        .header("host", "web-shop.localhost")
        .body(full(payload.clone()))
        .expect("request");
    let response = http1_client().request(request).await.expect("response");
    assert_eq!(response.status(), StatusCode::OK);
    let echoed = response.into_body().collect().await.expect("body").to_bytes();
    assert_eq!(echoed.len(), payload.len());
    assert!(echoed == payload, "the echoed body differs");
}

#[tokio::test]
async fn a_websocket_echoes_through_the_proxy_and_counts_as_in_flight_while_open() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let backend_addr = listener.local_addr().expect("addr");
    let seen_host = Arc::new(Mutex::new(None::<String>));
    let seen_host_backend = Arc::clone(&seen_host);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let seen_host = Arc::clone(&seen_host_backend);
            tokio::spawn(async move {
                #[expect(clippy::result_large_err, reason = "tungstenite's callback signature")]
                let callback = |request: &tokio_tungstenite::tungstenite::handshake::server::Request, response| {
                    *seen_host.lock().expect("lock") =
                        request.headers().get("host").and_then(|value| value.to_str().ok()).map(str::to_owned);
                    Ok(response)
                };
                let Ok(mut socket) = tokio_tungstenite::accept_hdr_async(stream, callback).await else { return };
                while let Some(Ok(message)) = socket.next().await {
                    if message.is_text() || message.is_binary() {
                        let _ = socket.send(message).await;
                    }
                }
            });
        }
    });
    let proxy = Proxy::with_routes(vec![route(
        "svc",
        "web-shop.localhost",
        vec![dockyard_proxy::Backend { id: "ws".into(), addr: backend_addr }],
    )])
    .await;

    let mut request = format!("ws://{}/socket", proxy.addr).into_client_request().expect("request");
    request.headers_mut().insert("host", "web-shop.localhost".parse().expect("host"));
    let stream = TcpStream::connect(proxy.addr).await.expect("connect");
    let (mut socket, response) = tokio_tungstenite::client_async(request, stream).await.expect("handshake");
    assert_eq!(response.status(), StatusCode::SWITCHING_PROTOCOLS);
    assert_eq!(seen_host.lock().expect("lock").as_deref(), Some("web-shop.localhost"));

    for text in ["hello", "through", "the proxy"] {
        socket.send(Message::text(text)).await.expect("send");
        let echoed =
            tokio::time::timeout(STEP, socket.next()).await.expect("echo in time").expect("message").expect("ok");
        assert_eq!(echoed.into_text().expect("text").as_str(), text);
    }
    socket.send(Message::binary(vec![0u8, 1, 2, 255])).await.expect("send");
    let echoed = socket.next().await.expect("message").expect("ok");
    assert_eq!(echoed.into_data().as_ref(), &[0u8, 1, 2, 255]);
    assert_eq!(proxy.table.in_flight(&backend_addr), 1, "an open WebSocket counts as in flight");

    socket.close(None).await.expect("close");
    drop(socket);
    assert!(proxy.table.drain(&[backend_addr], STEP).await, "the closed WebSocket no longer counts");
}

#[tokio::test]
async fn an_h2c_client_is_proxied_to_an_http1_backend() {
    let web = whoami("web").await;
    let proxy = Proxy::with_routes(vec![route("svc", "web-shop.localhost", vec![web.backend()])]).await;

    let client = h2c_client();
    for path in ["/one", "/two"] {
        let request = Request::get(format!("http://web-shop.localhost:{}{path}", proxy.addr.port()))
            .version(Version::HTTP_2)
            .body(empty())
            .expect("request");
        // The client connects to the host in the URI; send it to the proxy's address instead.
        let (mut parts, body) = request.into_parts();
        parts.uri = format!("http://{}{path}", proxy.addr).parse().expect("uri");
        parts.headers.insert("host", "web-shop.localhost".parse().expect("host"));
        let response = client.request(Request::from_parts(parts, body)).await.expect("response");
        assert_eq!(response.version(), Version::HTTP_2);
        let answer = collect(response).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        assert!(answer.body.contains(&format!("GET {path} HTTP/1.1")), "{}", answer.body);
        assert_eq!(seen(&answer.body, "host"), Some("web-shop.localhost"));
    }
}

#[tokio::test]
async fn a_route_can_speak_h2c_to_its_backend() {
    let grpc_like = whoami("grpc").await;
    let proxy = Proxy::with_routes(vec![Route {
        upstream: UpstreamProtocol::H2c,
        ..route("svc", "api-shop.localhost", vec![grpc_like.backend()])
    }])
    .await;

    let answer = get_with(&proxy, "api-shop.localhost", "/pkg.Service/Call", &[("te", "trailers")]).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert!(answer.body.contains("/pkg.Service/Call HTTP/2.0"), "the backend got HTTP/2:\n{}", answer.body);
    assert_eq!(seen(&answer.body, "te"), Some("trailers"), "gRPC's te: trailers survives");
    assert_eq!(seen(&answer.body, "x-forwarded-host"), Some("api-shop.localhost"));
    // A streamed POST over the h2c hop.
    let echo = echo("echo").await;
    proxy
        .table
        .upsert(Route { upstream: UpstreamProtocol::H2c, ..route("svc", "api-shop.localhost", vec![echo.backend()]) });
    let request = Request::post(proxy.url("/"))
        .header("host", "api-shop.localhost")
        .body(full("ping over h2c"))
        .expect("request");
    let answer = collect(http1_client().request(request).await.expect("response")).await;
    assert_eq!(answer.body, "ping over h2c");
}
