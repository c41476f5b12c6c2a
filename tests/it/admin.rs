//! The admin API's protection, and the metrics it exposes.

use axum::http::StatusCode;
use serde_json::json;
use switchboard::Config;

use crate::support::{TestServer, message, oneshot, router};

#[tokio::test]
async fn with_a_token_the_admin_api_needs_it() {
    let config = Config::from_toml("[admin]\ntoken = \"adm1n\"\n").unwrap();
    let server = TestServer::start(config).await;
    let get = |auth: Option<&'static str>| {
        let mut request = server.client.get(server.url("/calls"));
        if let Some(auth) = auth {
            request = request.header("authorization", auth);
        }
        request.send()
    };
    assert_eq!(get(None).await.unwrap().status(), 401);
    assert_eq!(get(Some("Bearer wrong")).await.unwrap().status(), 401);
    assert_eq!(get(Some("Bearer adm1n")).await.unwrap().status(), 200);
    server.stop().await;
}

#[tokio::test]
async fn without_a_token_only_loopback_peers_are_served() {
    // Over a loopback socket: allowed.
    let server = TestServer::start(Config::default()).await;
    assert_eq!(server.get_json("/calls").await.0, StatusCode::OK);
    server.stop().await;
    // A peer that is not known to be loopback (here: no connection info at all) is refused.
    let request = axum::http::Request::get("/calls")
        .body(axum::body::Body::empty())
        .unwrap();
    let (status, body) = oneshot(router(Config::default()).await, request).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        body,
        json!({"error": "the admin API is loopback-only until an admin token is set"})
    );
}

#[tokio::test]
async fn metrics_count_messages_calls_and_latency() {
    let server = TestServer::start(Config::default()).await;
    for at in 0..3 {
        let body = message(
            "c-metrics",
            "transcript",
            at,
            json!({"role": "user", "transcriptType": "final", "transcript": format!("t{at}")}),
        );
        server.post_json("/webhook", &body).await;
    }
    server
        .post_json("/webhook", &message("c-metrics", "hang", 9, json!({})))
        .await;
    server
        .client
        .post(server.url("/webhook"))
        .body("{")
        .send()
        .await
        .unwrap();
    let text = server
        .client
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in [
        "switchboard_messages_total{type=\"transcript\"} 3",
        "switchboard_hangs_total 1",
        "switchboard_responses_total{status=\"200\"} 4",
        "switchboard_responses_total{status=\"400\"} 1",
        "switchboard_live_calls 1",
        "switchboard_actor_restarts_total 0",
        "switchboard_request_duration_seconds_count{type=\"transcript\"} 3",
        "switchboard_trimmed_total{kind=\"turns\"} 0",
    ] {
        assert!(text.lines().any(|l| l == line), "missing `{line}` in:\n{text}");
    }
    server.stop().await;
}

#[tokio::test]
async fn hang_alerts_are_posted_without_blocking_the_call() {
    let (seen, mut alerts) = tokio::sync::mpsc::unbounded_channel::<serde_json::Value>();
    let attempts = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let backend = {
        let attempts = std::sync::Arc::clone(&attempts);
        axum::Router::new().route(
            "/alert",
            axum::routing::post(move |axum::Json(body): axum::Json<serde_json::Value>| {
                let (seen, attempts) = (seen.clone(), std::sync::Arc::clone(&attempts));
                async move {
                    // The first attempt fails: the sender retries.
                    if attempts.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
                        return StatusCode::SERVICE_UNAVAILABLE;
                    }
                    seen.send(body).unwrap();
                    StatusCode::OK
                }
            }),
        )
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, backend).await.unwrap() });
    let config = Config::from_toml(&format!("[alerts]\nhang_url = \"http://{addr}/alert\"\n")).unwrap();
    let server = TestServer::start(config).await;
    let (status, answer) = server
        .post_json("/webhook", &message("c-hang", "hang", 5, json!({})))
        .await;
    assert_eq!((status, answer), (StatusCode::OK, json!({})));
    let alert = tokio::time::timeout(std::time::Duration::from_secs(10), alerts.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        alert,
        json!({"alert": "hang", "callId": "c-hang", "customerNumber": "+14155550123", "timestamp": 5})
    );
    assert_eq!(attempts.load(std::sync::atomic::Ordering::SeqCst), 2);
    server.stop().await;
}

#[tokio::test]
async fn a_full_voice_pool_answers_503_and_metrics_count_it() {
    let config = Config::from_toml(
        "[voice]\nengine = \"espeak\"\npool_size = 1\nqueue_size = 0\ncache_bytes = 0\nmax_text_chars = 50000\n",
    )
    .unwrap();
    let server = TestServer::start(config).await;
    let voice = |text: String| {
        server
            .client
            .post(server.url("/voice"))
            .json(&json!({"message": {"type": "voice-request", "text": text, "sampleRate": 48000}}))
            .send()
    };
    // Minutes of speech whose body is not read: the only espeak-ng slot stays taken.
    let held = voice("This sentence keeps the only voice slot busy. ".repeat(400))
        .await
        .unwrap();
    assert_eq!(held.status(), 200);
    let refused = voice("Hello there.".into()).await.unwrap();
    assert_eq!(refused.status(), 503);
    let error: serde_json::Value = refused.json().await.unwrap();
    assert!(error["error"].as_str().unwrap().contains("busy"), "{error}");
    let text = server
        .client
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in [
        "switchboard_voice_rejected_total{engine=\"espeak\"} 1",
        "switchboard_voice_served_total{engine=\"espeak\"} 1",
        "switchboard_voice_busy{engine=\"espeak\"} 1",
        "switchboard_voice_slots{engine=\"espeak\"} 1",
    ] {
        assert!(text.lines().any(|l| l == line), "missing `{line}` in:\n{text}");
    }
    drop(held);
    server.stop().await;
}
