//! The endpointing server over a real socket on 127.0.0.1: valid requests, the no-user-message default,
//! malformed bodies, the wrong message type and the [0, 15] clamp.

use std::net::SocketAddr;

use endpointing::{Endpointer, EndpointingConfig};
use serde_json::{Value, json};
use tokio::sync::oneshot;

const FIXTURE: &str = include_str!("data/call-endpointing-request.json");

struct Server {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Server {
    async fn start(config: EndpointingConfig) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let endpointer = Endpointer::new(config).unwrap();
        let task = tokio::spawn(endpointing::serve(listener, endpointer, async {
            let _ = stopped.await;
        }));
        Self {
            addr,
            stop: Some(stop),
            task,
        }
    }

    async fn post(&self, body: impl Into<reqwest::Body>) -> (u16, Value) {
        let response = reqwest::Client::new()
            .post(format!("http://{}/endpointing", self.addr))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap())
    }

    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.task.await.unwrap().unwrap();
    }
}

fn request(messages: Value) -> String {
    json!({"message": {"type": "call.endpointing.request", "messagesOpenAIFormatted": messages}}).to_string()
}

fn timeout(body: &Value) -> f64 {
    body["timeoutSeconds"]
        .as_f64()
        .unwrap_or_else(|| panic!("no timeoutSeconds in {body}"))
}

#[tokio::test]
async fn answers_the_fixture_with_a_long_wait_after_a_trailing_preposition() {
    let server = Server::start(EndpointingConfig::default()).await;
    let (status, body) = server.post(FIXTURE).await;
    assert_eq!(status, 200, "{body}");
    // "Hi, I'd like to book a cleaning for" is unfinished.
    let seconds = timeout(&body);
    assert!((0.8..=15.0).contains(&seconds), "{seconds}");
    assert_eq!(body.as_object().unwrap().len(), 1, "only timeoutSeconds: {body}");
    server.stop().await;
}

#[tokio::test]
async fn answers_complete_turns_fast_and_uses_the_question_before() {
    let server = Server::start(EndpointingConfig::default()).await;
    let done = request(json!([
        {"role": "assistant", "content": "Your appointment is on Tuesday at nine."},
        {"role": "user", "content": "Perfect, thanks."}
    ]));
    let (status, body) = server.post(done).await;
    assert_eq!(status, 200);
    assert!(timeout(&body) < 0.2, "{body}");

    let digits = request(json!([
        {"role": "assistant", "content": "What is your phone number?"},
        {"role": "user", "content": "It's 415"}
    ]));
    let (status, body) = server.post(digits).await;
    assert_eq!(status, 200);
    assert!(
        timeout(&body) >= 0.8,
        "dictation after a phone-number question must wait: {body}"
    );
    server.stop().await;
}

#[tokio::test]
async fn no_user_message_gets_the_configured_default() {
    let config = EndpointingConfig {
        no_user_message_timeout_seconds: 1.25,
        ..Default::default()
    };
    let server = Server::start(config).await;
    for messages in [
        json!([]),
        json!([{"role": "system", "content": "be brief"}, {"role": "assistant", "content": "Hello!"}]),
        json!([{"role": "user", "content": "   "}]),
        json!([{"role": "user", "content": null}]),
    ] {
        let (status, body) = server.post(request(messages.clone())).await;
        assert_eq!(status, 200, "{messages}: {body}");
        assert_eq!(timeout(&body), 1.25, "{messages}");
    }
    // `messagesOpenAIFormatted` missing entirely parses as empty too.
    let (status, body) = server
        .post(r#"{"message": {"type": "call.endpointing.request"}}"#)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(timeout(&body), 1.25);
    server.stop().await;
}

#[tokio::test]
async fn malformed_bodies_and_wrong_types_are_400_with_an_error() {
    let server = Server::start(EndpointingConfig::default()).await;
    for body in [
        "",
        "not json",
        "{",
        r#"{"message": 3}"#,
        r#"[1, 2]"#,
        r#"{"message": {"type": "call.endpointing.request", "messagesOpenAIFormatted": "nope"}}"#,
        r#"{"message": {"type": "tool-calls", "toolCallList": []}}"#,
        r#"{"message": {"type": "status-update", "status": "in-progress"}}"#,
    ] {
        let (status, json) = server.post(body).await;
        assert_eq!(status, 400, "{body:?} -> {json}");
        assert!(
            json["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{body:?} -> {json}"
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn timeouts_stay_within_zero_and_fifteen() {
    // The most patient settings Vapi allows: a hold request must answer exactly 15, never more.
    let config = EndpointingConfig {
        max_timeout_seconds: Some(15.0),
        hold_timeout_seconds: Some(15.0),
        ..EndpointingConfig::preset(endpointing::Preset::Patient)
    };
    let server = Server::start(config).await;
    let long = "and ".repeat(50_000);
    for text in [
        "Hang on, let me find it...",
        "I'd like to book the",
        long.as_str(),
        "Thanks.",
        "\u{0}\u{fffd}",
    ] {
        let (status, body) = server.post(request(json!([{"role": "user", "content": text}]))).await;
        assert_eq!(status, 200);
        let seconds = timeout(&body);
        assert!((0.0..=15.0).contains(&seconds), "{seconds}");
    }
    let (_, body) = server
        .post(request(
            json!([{"role": "user", "content": "Hang on, let me find it..."}]),
        ))
        .await;
    assert_eq!(timeout(&body), 15.0);
    server.stop().await;
}

#[test]
fn invalid_configs_are_refused_before_serving() {
    let config = EndpointingConfig {
        min_timeout_seconds: Some(5.0),
        max_timeout_seconds: Some(1.0),
        ..Default::default()
    };
    assert!(Endpointer::new(config).is_err());
}
