//! A whole call replayed through HTTP, then read back through the admin API.

use axum::http::StatusCode;
use serde_json::{Value, json};
use switchboard::Config;

use crate::support::{TestServer, message, tool_calls};

fn speech(call: &str, at: i64, role: &str, status: &str, turn: u64) -> Value {
    message(
        call,
        "speech-update",
        at,
        json!({"role": role, "status": status, "turn": turn}),
    )
}

fn transcript(call: &str, at: i64, role: &str, kind: &str, text: &str) -> Value {
    message(
        call,
        "transcript",
        at,
        json!({"role": role, "transcriptType": kind, "transcript": text}),
    )
}

fn conversation(call: &str, at: i64, turns: &[(&str, &str)]) -> Value {
    let messages: Vec<Value> = turns
        .iter()
        .map(|(role, text)| json!({"role": role, "message": text}))
        .collect();
    let openai: Vec<Value> = turns
        .iter()
        .map(|(role, text)| json!({"role": if *role == "bot" { "assistant" } else { *role }, "content": text}))
        .collect();
    message(
        call,
        "conversation-update",
        at,
        json!({"messages": messages, "messagesOpenAIFormatted": openai}),
    )
}

#[tokio::test]
async fn a_whole_call_through_http_then_its_context_and_report() {
    let server = TestServer::start(Config::default()).await;
    let call = "call-e2e";
    let greeting = "Thanks for calling Acme Dental, how can I help?";
    let ask = "I'd like to book a cleaning for next Tuesday.";
    let script = vec![
        message(call, "status-update", 1_000, json!({"status": "ringing"})),
        message(call, "status-update", 1_100, json!({"status": "in-progress"})),
        speech(call, 1_200, "assistant", "started", 0),
        transcript(call, 1_300, "assistant", "final", greeting),
        speech(call, 1_400, "assistant", "stopped", 0),
        conversation(call, 1_450, &[("bot", greeting)]),
        speech(call, 1_500, "user", "started", 1),
        transcript(call, 1_600, "user", "partial", "I'd like to book"),
        transcript(call, 1_700, "user", "partial", "I'd like to book a cleaning"),
        transcript(call, 1_800, "user", "final", ask),
        speech(call, 1_900, "user", "stopped", 1),
        // A redelivered final changes nothing.
        transcript(call, 1_800, "user", "final", ask),
        conversation(call, 2_000, &[("bot", greeting), ("user", ask)]),
        tool_calls(call, 2_100, &[("tc-1", "caller_details", json!({}))]),
        message(call, "user-interrupted", 2_200, json!({"turnId": "t-1"})),
        message(call, "language-change-detected", 2_300, json!({"language": "es"})),
        message(call, "hang", 2_400, json!({})),
        message(
            call,
            "status-update",
            3_000,
            json!({"status": "ended", "endedReason": "customer-ended-call"}),
        ),
    ];
    for body in &script {
        let (status, answer) = server.post_json("/webhook", body).await;
        assert_eq!(status, StatusCode::OK, "{body} -> {answer}");
    }
    let report = message(
        call,
        "end-of-call-report",
        9_000,
        json!({"endedReason": "customer-ended-call", "analysis": {"summary": "Booked a cleaning."}, "cost": 0.12,
               "durationSeconds": 40.5, "artifact": {"transcript": format!("AI: {greeting}\nUser: {ask}\n")}}),
    );
    assert_eq!(server.post_json("/webhook", &report).await.0, StatusCode::OK);

    let (status, context) = server.get_json(&format!("/calls/{call}")).await;
    assert_eq!(status, StatusCode::OK, "{context}");
    assert_eq!(context["status"], "ended");
    assert_eq!(context["endedReason"], "customer-ended-call");
    assert_eq!(context["customer"]["number"], "+14155550123");
    assert_eq!(context["phoneNumber"]["number"], "+14155559999");
    let turns: Vec<(&str, &str)> = context["conversation"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["role"].as_str().unwrap(), t["text"].as_str().unwrap()))
        .collect();
    assert_eq!(
        turns,
        [("assistant", greeting), ("user", ask)],
        "no duplicates, in order"
    );
    assert_eq!(context["partial"]["user"], Value::Null, "the final cleared the partial");
    assert_eq!(context["turn"], 1);
    assert_eq!(context["interruptions"], 1);
    assert_eq!(context["hangs"], 1);
    assert_eq!(context["language"], "es");
    assert_eq!(context["toolCalls"][0]["name"], "caller_details");
    assert!(
        context["toolCalls"][0]["result"]
            .as_str()
            .unwrap()
            .contains("+14155550123")
    );
    assert_eq!(context["report"]["summary"], "Booked a cleaning.");

    let (status, stored) = server.get_json(&format!("/calls/{call}/report")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(stored["summary"], "Booked a cleaning.");
    assert_eq!(stored["cost"], 0.12);
    assert_eq!(stored["body"], report, "the report is stored verbatim");

    // The call ended and reported, so its actor retired; it is no longer listed as live.
    let mut listed = Value::Null;
    for _ in 0..100 {
        let (_, list) = server.get_json("/calls").await;
        listed = list;
        if listed["live"] == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(listed["live"], 0, "{listed}");
    server.stop().await;
}

#[tokio::test]
async fn live_calls_are_listed() {
    let mut config = Config::default();
    config.server.instance_id = Some("solo".into());
    let server = TestServer::start(config).await;
    for call in ["c-b", "c-a"] {
        server
            .post_json(
                "/webhook",
                &message(call, "status-update", 1, json!({"status": "in-progress"})),
            )
            .await;
        server
            .post_json("/webhook", &transcript(call, 2, "user", "final", "hello"))
            .await;
    }
    let (status, list) = server.get_json("/calls").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["live"], 2);
    assert_eq!(
        list["calls"],
        json!([
            {"id": "c-a", "status": "in-progress", "customer": "+14155550123", "startedAtMs": 1, "turns": 1,
             "instance": "solo"},
            {"id": "c-b", "status": "in-progress", "customer": "+14155550123", "startedAtMs": 1, "turns": 1,
             "instance": "solo"},
        ])
    );
    assert_eq!(list["instance"], "solo");
    assert_eq!(list["ended"], json!([]));
    assert_eq!(list["instances"][0]["id"], "solo");
    assert_eq!(list["instances"][0]["calls"], 2);
    // A call that ends and reports leaves the live listing and is listed among the ended calls, with its report.
    let report = message(
        "c-a",
        "end-of-call-report",
        9,
        json!({"endedReason": "customer-ended-call", "analysis": {"summary": "Said hello."}}),
    );
    assert_eq!(server.post_json("/webhook", &report).await.0, StatusCode::OK);
    let (_, list) = server.get_json("/calls").await;
    assert_eq!(list["ended"][0]["id"], "c-a");
    assert_eq!(list["ended"][0]["instance"], "solo");
    assert_eq!(list["ended"][0]["summary"], "Said hello.");
    let (status, missing) = server.get_json("/calls/nobody").await;
    assert_eq!(
        (status, missing),
        (StatusCode::NOT_FOUND, json!({"error": "no call `nobody`"}))
    );
    server.stop().await;
}
