//! Live Call Control against a hostile control URL: the URL comes from the caller's payload, so it is checked
//! before anything is sent, a redirect is never followed, and an endpoint that stalls or answers without end
//! holds nothing for long.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use futures::StreamExt;

use axum::http::StatusCode;
use serde_json::{Value, json};
use switchboard::Config;
use switchboard::control::{ControlConfig, Refused, allowed_control_url};

use crate::support::{TestServer, tool_calls};

#[test]
fn control_urls_that_only_look_like_vapi_are_refused() {
    let default = ControlConfig::default().hosts;
    let refused = [
        ("https://vapi.ai@evil.example/control", Refused::Scheme),
        ("https://vapi.ai:443@evil.example/control", Refused::Scheme),
        ("https://evil.example\\@phone.vapi.ai/control", Refused::Host),
        ("https://evil.example#@phone.vapi.ai", Refused::Host),
        ("https://evil.example?.vapi.ai", Refused::Host),
        ("https://vapi.ai%2eevil.example/control", Refused::Host),
        ("https://evilvapi.ai/control", Refused::Host),
        ("https://vapi.ai.evil.example/control", Refused::Host),
        ("https://10.0.0.1/control", Refused::Host),
        ("https://0xa9fea9fe/latest/meta-data", Refused::Host),
        ("https://[::ffff:169.254.169.254]/latest/meta-data", Refused::Host),
        ("http://[::ffff:127.0.0.1]:6379/", Refused::Host),
        ("http://127.1:6379/", Refused::Host),
        ("http://phone.vapi.ai/control", Refused::Scheme),
        ("ws://phone.vapi.ai/control", Refused::Scheme),
    ];
    for (url, why) in refused {
        assert_eq!(allowed_control_url(url, &default).err(), Some(why), "{url}");
    }
    // A name under a listed domain is that domain's, however it is spelled.
    for url in [
        "https://PHONE.Vapi.AI/c",
        "https://phone.vapi.ai./c",
        "https://a.b.vapi.ai:8443/c",
    ] {
        assert!(allowed_control_url(url, &default).is_ok(), "{url}");
    }
}

/// A control endpoint at `/redirect` (a `307` to `/target`), `/stall` (never answers), `/endless` (a `200`
/// whose body never ends), counting what reaches `/target` and noting when the endless body is dropped.
struct Hostile {
    addr: std::net::SocketAddr,
    target_posts: Arc<AtomicUsize>,
    endless_dropped: Arc<AtomicBool>,
}

/// Notes its drop: the endless body was abandoned by the client.
struct DropFlag(Arc<AtomicBool>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

impl Hostile {
    async fn start() -> Hostile {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let target_posts = Arc::new(AtomicUsize::new(0));
        let endless_dropped = Arc::new(AtomicBool::new(false));
        let posts = Arc::clone(&target_posts);
        let dropped = Arc::clone(&endless_dropped);
        let router = axum::Router::new()
            .route(
                "/redirect",
                axum::routing::post(move || async move {
                    (
                        StatusCode::TEMPORARY_REDIRECT,
                        [("location", format!("http://{addr}/target"))],
                    )
                }),
            )
            .route(
                "/target",
                axum::routing::post(move || {
                    posts.fetch_add(1, Ordering::SeqCst);
                    async { StatusCode::OK }
                }),
            )
            .route(
                "/stall",
                axum::routing::post(|| async {
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                    StatusCode::OK
                }),
            )
            .route(
                "/endless",
                axum::routing::post(move || {
                    let flag = DropFlag(Arc::clone(&dropped));
                    async move {
                        let chunk = axum::body::Bytes::from(vec![b'x'; 64 * 1024]);
                        let body = futures::stream::repeat(chunk).map(move |chunk| {
                            let _held = &flag;
                            Ok::<_, std::convert::Infallible>(chunk)
                        });
                        axum::body::Body::from_stream(body)
                    }
                }),
            );
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        Hostile {
            addr,
            target_posts,
            endless_dropped,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

/// A server with the async tool `slow_echo` (a Rust tool), loopback allowed as a control host, short
/// per-attempt timeouts and two attempts.
async fn server() -> TestServer {
    let config =
        Config::from_toml("[control]\nhosts = [\"127.0.0.1\"]\nattempts = 2\ntimeout_ms = 300\nbackoff_ms = 10\n")
            .unwrap();
    let mut tools = switchboard::tools::ToolRegistry::new();
    tools.register("slow_echo", |arguments: Value, _context| async move {
        Ok::<_, String>(arguments.to_string())
    });
    tools.set_async("slow_echo", true);
    TestServer::start_with(config, tools).await
}

/// The `switchboard_async_results_total` counter of `outcome` once it reaches 1 (waiting at most 10 s).
async fn outcome_reached(server: &TestServer, outcome: &str) -> bool {
    let line = format!("switchboard_async_results_total{{outcome=\"{outcome}\"}} 1");
    for _ in 0..500 {
        if server.metrics().await.contains(&line) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

fn with_control(call: &str, control_url: &str) -> Value {
    let mut body = tool_calls(call, 1, &[("t1", "slow_echo", json!({"n": 1}))]);
    body["message"]["call"]["monitor"] = json!({ "controlUrl": control_url });
    body
}

#[tokio::test]
async fn a_redirecting_control_url_is_not_followed() {
    let hostile = Hostile::start().await;
    let server = server().await;
    let (status, _) = server
        .post_json("/webhook", &with_control("c-redirect", &hostile.url("/redirect")))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(outcome_reached(&server, "failed").await, "{}", server.metrics().await);
    assert_eq!(
        hostile.target_posts.load(Ordering::SeqCst),
        0,
        "the redirect was followed"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_stalling_or_endless_control_url_holds_nothing_for_long() {
    let hostile = Hostile::start().await;
    let server = server().await;
    server
        .post_json("/webhook", &with_control("c-stall", &hostile.url("/stall")))
        .await;
    assert!(outcome_reached(&server, "failed").await, "{}", server.metrics().await);
    // A 2xx is enough: its body is never read, so an endless one is dropped at once.
    server
        .post_json("/webhook", &with_control("c-endless", &hostile.url("/endless")))
        .await;
    assert!(
        outcome_reached(&server, "delivered").await,
        "{}",
        server.metrics().await
    );
    let mut dropped = false;
    for _ in 0..500 {
        if hostile.endless_dropped.load(Ordering::SeqCst) {
            dropped = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(dropped, "the endless answer is still being read");
    server.stop().await;
}
