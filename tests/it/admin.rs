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
