//! The admin API's protection, and the metrics it exposes.

use axum::http::StatusCode;
use serde_json::json;
use switchboard::Config;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::{TestServer, message};

/// `GET path` on `base` with optional headers, as a plain client with no admin token of its own.
async fn get(base: &str, path: &str, headers: &[(&str, &str)]) -> (u16, serde_json::Value, reqwest::header::HeaderMap) {
    let mut request = reqwest::Client::new().get(format!("{base}{path}"));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    let (status, headers) = (response.status().as_u16(), response.headers().clone());
    (status, response.json().await.unwrap(), headers)
}

#[tokio::test]
async fn with_a_token_the_admin_api_needs_it() {
    let config = Config::from_toml("[admin]\ntoken = \"adm1n\"\n").unwrap();
    let server = TestServer::start(config).await;
    let base = format!("http://{}", server.addr);
    assert_eq!(server.admin_token, "adm1n");
    for (headers, expected) in [
        (vec![], 401),
        (vec![("authorization", "Bearer wrong")], 401),
        (vec![("authorization", "Basic YWRtMW4=")], 401),
        (vec![("authorization", "adm1n")], 401),
        (vec![("cookie", "switchboard_admin=wrong")], 401),
        (vec![("authorization", "Bearer adm1n")], 200),
        (vec![("authorization", "bearer adm1n")], 200),
        (vec![("authorization", "BEARER adm1n")], 200),
        // The cookie carries the token in hex (`adm1n`).
        (vec![("cookie", "theme=dark; switchboard_admin=61646d316e")], 200),
        (vec![("cookie", "switchboard_admin=adm1n")], 401),
    ] {
        let (status, body, _) = get(&base, "/calls", &headers).await;
        assert_eq!(status, expected, "{headers:?}: {body}");
        if status == 401 {
            assert!(body["error"].as_str().unwrap().contains("admin"), "{body}");
        }
    }
    // The query parameter works and leaves a cookie for the browser's next requests.
    let (status, _, headers) = get(&base, "/calls?token=adm1n&limit=5", &[]).await;
    assert_eq!(status, 200);
    let cookie = headers["set-cookie"].to_str().unwrap();
    assert!(
        cookie.starts_with("switchboard_admin=61646d316e;") && cookie.contains("HttpOnly"),
        "{cookie}"
    );
    assert_eq!(get(&base, "/calls?token=nope", &[]).await.0, 401);
    server.stop().await;
}

#[tokio::test]
async fn without_a_configured_token_loopback_is_refused_and_the_generated_token_works() {
    let server = TestServer::start(Config::default()).await;
    let base = format!("http://{}", server.addr);
    // A plain loopback client gets nothing: loopback is not a credential.
    for path in ["/calls", "/calls/any", "/calls/any/report", "/metrics"] {
        let (status, body, headers) = get(&base, path, &[]).await;
        assert_eq!(status, 401, "{path}: {body}");
        assert_eq!(headers["www-authenticate"], "Bearer");
    }
    // The generated token: 256 random bits in hex, different on every start.
    let token = server.admin_token.clone();
    assert!(
        token.len() == 64 && token.chars().all(|c| c.is_ascii_hexdigit()),
        "{token}"
    );
    let other = TestServer::start(Config::default()).await;
    assert_ne!(other.admin_token, token);
    other.stop().await;
    let bearer = format!("bearer {token}");
    assert_eq!(get(&base, "/calls", &[("authorization", &bearer)]).await.0, 200);
    assert_eq!(get(&base, &format!("/calls?token={token}"), &[]).await.0, 200);
    server.stop().await;
}

/// A same-host reverse proxy, as a tunnel agent or nginx would be: every outside client reaches the server
/// from loopback.
async fn local_proxy(upstream: std::net::SocketAddr) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (mut client, _) = listener.accept().await.unwrap();
            tokio::spawn(async move {
                let mut server = tokio::net::TcpStream::connect(upstream).await.unwrap();
                let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
            });
        }
    });
    addr
}

#[tokio::test]
async fn a_request_forwarded_by_a_local_proxy_is_refused_without_the_token() {
    let server = TestServer::start(Config::default()).await;
    let said = message(
        "c-card",
        "transcript",
        1,
        json!({"role": "user", "transcriptType": "final", "transcript": "my card is 4111 1111 1111 1111"}),
    );
    assert_eq!(server.post_json("/webhook", &said).await.0, StatusCode::OK);
    let proxy = local_proxy(server.addr).await;
    // What the proxy sends on behalf of a client at 192.0.2.2.
    let forwarded = |auth: Option<String>| {
        let auth = auth
            .map(|token| format!("Authorization: Bearer {token}\r\n"))
            .unwrap_or_default();
        format!(
            "GET /calls/c-card HTTP/1.1\r\nHost: switchboard.example.com\r\nX-Forwarded-For: 192.0.2.2\r\n\
             X-Real-IP: 192.0.2.2\r\nForwarded: for=192.0.2.2;proto=https\r\n{auth}Connection: close\r\n\r\n"
        )
    };
    let exchange = |request: String| async move {
        let mut stream = tokio::net::TcpStream::connect(proxy).await.unwrap();
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.unwrap();
        answer
    };
    let refused = exchange(forwarded(None)).await;
    assert!(refused.starts_with("HTTP/1.1 401"), "{refused}");
    assert!(!refused.contains("4111"), "{refused}");
    let allowed = exchange(forwarded(Some(server.admin_token.clone()))).await;
    assert!(allowed.starts_with("HTTP/1.1 200"), "{allowed}");
    assert!(allowed.contains("4111 1111 1111 1111"), "{allowed}");
    server.stop().await;
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
    let text = server.metrics().await;
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
    let text = server.metrics().await;
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
