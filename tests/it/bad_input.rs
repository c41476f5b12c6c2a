//! Bad input gets a clear 4xx naming the problem, never a 5xx or a panic.

use axum::http::StatusCode;
use proptest::prelude::*;
use serde_json::{Value, json};
use switchboard::Config;

use crate::support::{TestServer, oneshot, post, router};

async fn check(config: Config, body: impl Into<axum::body::Body>, status: StatusCode, error: &str) {
    let (got, answer) = oneshot(router(config).await, post("/webhook", body)).await;
    assert_eq!(got, status, "{answer}");
    assert_eq!(answer["error"].as_str(), Some(error), "{answer}");
}

#[tokio::test]
async fn malformed_json_names_line_and_column() {
    check(
        Config::default(),
        "{\n  \"message\": {\"type\": \"hang\",,}\n}",
        StatusCode::BAD_REQUEST,
        "malformed JSON at line 2, column 30: key must be a string",
    )
    .await;
    check(
        Config::default(),
        "",
        StatusCode::BAD_REQUEST,
        "malformed JSON at line 1, column 0: EOF while parsing a value",
    )
    .await;
}

#[tokio::test]
async fn missing_message_or_type_names_the_field() {
    check(
        Config::default(),
        "{}",
        StatusCode::BAD_REQUEST,
        "missing field `message`",
    )
    .await;
    check(
        Config::default(),
        r#"{"message": {"call": {}}}"#,
        StatusCode::BAD_REQUEST,
        "missing field `message.type`",
    )
    .await;
}

#[tokio::test]
async fn wrong_field_types_name_the_field() {
    check(
        Config::default(),
        r#"{"message": {"type": "speech-update", "status": "started", "role": 3}}"#,
        StatusCode::BAD_REQUEST,
        "invalid field `message.role`: invalid type: integer `3`, expected a string",
    )
    .await;
    check(
        Config::default(),
        r#"{"message": {"type": "tool-calls", "toolCallList": {"id": "x"}}}"#,
        StatusCode::BAD_REQUEST,
        "invalid field `message.toolCallList`: invalid type: map, expected a sequence",
    )
    .await;
}

#[tokio::test]
async fn oversized_bodies_are_413() {
    let config = Config {
        max_body_bytes: 4096,
        ..Config::default()
    };
    let padding = "x".repeat(5000);
    let body = json!({"message": {"type": "hang", "padding": padding}}).to_string();
    check(
        config,
        body,
        StatusCode::PAYLOAD_TOO_LARGE,
        "request body exceeds the limit of 4096 bytes",
    )
    .await;
}

#[tokio::test]
async fn default_limit_accepts_a_large_end_of_call_report_and_refuses_more_than_16_mib() {
    let server = TestServer::start(Config::default()).await;
    let transcript = "User: hello there. AI: hi! ".repeat(120_000); // ~3.2 MB
    let report = json!({"message": {"type": "end-of-call-report", "endedReason": "customer-ended-call",
        "call": {"id": "big"}, "artifact": {"transcript": transcript}, "analysis": {}}});
    let (status, _) = server.post_json("/webhook", &report).await;
    assert_eq!(status, StatusCode::OK);
    let huge = vec![b' '; 16 * 1024 * 1024 + 1];
    let response = server
        .client
        .post(server.url("/webhook"))
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    server.stop().await;
}

fn arbitrary_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        ".{0,12}".prop_map(Value::String),
        prop::sample::select(vec![
            "tool-calls",
            "status-update",
            "transcript",
            "conversation-update",
            "voice-request",
            "assistant-request",
            "end-of-call-report",
            "speech-update",
            "function-call",
            "knowledge-base-request",
            "transfer-destination-request",
            "handoff-destination-request",
            "campaign.predial",
            "type",
            "message",
            "toolCallList",
            "call",
            "id",
            "function",
            "arguments",
            "messages",
            "role",
        ])
        .prop_map(|s| Value::String(s.into())),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(
                prop::sample::select(vec![
                    "message",
                    "type",
                    "call",
                    "id",
                    "toolCallList",
                    "function",
                    "name",
                    "arguments",
                    "status",
                    "role",
                    "transcript",
                    "messages",
                    "timestamp",
                    "sampleRate",
                    "text",
                    "customer",
                    "x",
                ])
                .prop_map(String::from),
                inner,
                0..6,
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn arbitrary_body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        arbitrary_json().prop_map(|v| json!({"message": v}).to_string().into_bytes()),
        arbitrary_json().prop_map(|v| v.to_string().into_bytes()),
        prop::collection::vec(any::<u8>(), 0..256),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bodies_never_get_a_5xx(body in arbitrary_body()) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let (status, answer) = runtime.block_on(async { oneshot(router(Config::default()).await, post("/webhook", body)).await });
        prop_assert!(status == StatusCode::OK || status == StatusCode::BAD_REQUEST, "{status} {answer}");
        if status == StatusCode::BAD_REQUEST {
            prop_assert!(answer["error"].as_str().is_some_and(|e| !e.is_empty()));
        }
    }
}

/// A `tool-calls` body whose arguments nest `levels` objects (they start at level 6 of the body).
fn nested_tool_call(call: &str, levels: usize) -> String {
    let arguments = format!("{}1{}", "{\"a\": ".repeat(levels), "}".repeat(levels));
    format!(
        r#"{{"message": {{"type": "tool-calls", "timestamp": 1, "call": {{"id": "{call}"}}, "toolCallList": [{{"id": "t-1", "type": "function", "function": {{"name": "lookup", "arguments": {arguments}}}}}]}}}}"#
    )
}

#[tokio::test]
async fn call_ids_over_the_limit_are_400_naming_it() {
    let body = |id: &str| json!({"message": {"type": "hang", "call": {"id": id}}}).to_string();
    check(
        Config::default(),
        body(&"c".repeat(257)),
        StatusCode::BAD_REQUEST,
        "invalid field `message.call.id`: 257 bytes long, over the limit of 256 bytes",
    )
    .await;
    check(
        Config::default(),
        body(&"x".repeat(1024 * 1024)),
        StatusCode::BAD_REQUEST,
        "invalid field `message.call.id`: 1048576 bytes long, over the limit of 256 bytes",
    )
    .await;
    let (status, _) = oneshot(
        router(Config::default()).await,
        post("/webhook", body(&"c".repeat(256))),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    // Tool call ids name recorded answers, so they are bounded alike.
    let tool_call = |id: &str| {
        json!({"message": {"type": "tool-calls", "call": {"id": "c-1"},
            "toolCallList": [{"id": id, "type": "function", "function": {"name": "summarize_call", "arguments": {}}}]}})
        .to_string()
    };
    check(
        Config::default(),
        tool_call(&"t".repeat(257)),
        StatusCode::BAD_REQUEST,
        "invalid field `message.toolCallList[0].id`: 257 bytes long, over the limit of 256 bytes",
    )
    .await;
    let (status, _) = oneshot(
        router(Config::default()).await,
        post("/webhook", tool_call(&"t".repeat(256))),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn nesting_deeper_than_the_limit_is_400_naming_it() {
    // The arguments nested 124 levels deep that were once journaled and then unreadable from Redis.
    check(
        Config::default(),
        nested_tool_call("deep", 124),
        StatusCode::BAD_REQUEST,
        "JSON nested deeper than the limit of 64 levels",
    )
    .await;
    check(
        Config::default(),
        nested_tool_call("deep", vapi_types::MAX_DEPTH - 4),
        StatusCode::BAD_REQUEST,
        "JSON nested deeper than the limit of 64 levels",
    )
    .await;
    let (status, answer) = oneshot(
        router(Config::default()).await,
        post("/webhook", nested_tool_call("deep", vapi_types::MAX_DEPTH - 5)),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
}

#[tokio::test]
async fn call_events_over_the_size_limit_are_cut_or_413_naming_it() {
    let mut config = Config::default();
    config.calls.max_event_bytes = 64 * 1024;
    let max_turn = config.calls.limits.max_turn_bytes;
    let server = TestServer::start(config).await;
    // A long final transcript is cut to what the call keeps of a turn, and acknowledged.
    let long = "word ".repeat(40_000);
    let body = json!({"message": {"type": "transcript", "timestamp": 1, "call": {"id": "big"}, "role": "user",
        "transcriptType": "final", "transcript": long}});
    let (status, answer) = server.post_json("/webhook", &body).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let (_, context) = server.get_json("/calls/big").await;
    assert_eq!(context["conversation"][0]["text"].as_str().unwrap().len(), max_turn);
    // A conversation-update of turns that each fit but together do not is refused, naming the limit.
    let messages: Vec<Value> = (0..20)
        .map(|i| json!({"role": "user", "message": format!("{i} {}", "x".repeat(max_turn))}))
        .collect();
    let body = json!({"message": {"type": "conversation-update", "timestamp": 2, "call": {"id": "big"},
        "messages": messages}});
    let (status, answer) = server.post_json("/webhook", &body).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{answer}");
    let error = answer["error"].as_str().unwrap();
    assert!(error.contains("over the limit of 65536 bytes"), "{error}");
    let (_, context) = server.get_json("/calls/big").await;
    assert_eq!(
        context["conversation"].as_array().unwrap().len(),
        1,
        "nothing of it was kept"
    );
    let metrics = server.metrics().await;
    for line in [
        "switchboard_trimmed_total{kind=\"events_refused\"} 1".to_string(),
        format!(
            "switchboard_trimmed_total{{kind=\"event_bytes\"}} {}",
            long.len() - max_turn
        ),
    ] {
        assert!(metrics.lines().any(|l| l == line), "missing `{line}` in:\n{metrics}");
    }
    server.stop().await;
}
