//! The call's context from every message that shows the conversation, over HTTP: a call whose assistant is not
//! subscribed to transcripts or conversation updates still answers from its conversation, nothing is shown
//! twice, and the missing subscriptions are counted once per call.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use switchboard::Config;

use crate::support::{TestServer, eventually, message, tool_calls, tool_result, transcript};

/// Vapi's conversation log of `len` turns, the assistant first.
fn log(len: usize) -> Value {
    let messages: Vec<Value> = (0..len)
        .map(|i| {
            let (role, text) = if i % 2 == 0 {
                ("bot", format!("Assistant line {i}, how can I help?"))
            } else {
                ("user", format!("Caller line {i} about my appointment."))
            };
            json!({"role": role, "message": text, "time": 1_000 * i as i64, "secondsFromStart": i})
        })
        .collect();
    Value::Array(messages)
}

/// A `tool-calls` body calling `summarize_call` (id `id`) whose artifact carries `len` turns.
fn summarize_with_artifact(call: &str, at: i64, id: &str, len: usize) -> Value {
    let mut body = tool_calls(call, at, &[(id, "summarize_call", json!({}))]);
    body["message"]["artifact"] = json!({"messages": log(len)});
    body
}

async fn summary(server: &TestServer, body: &Value) -> Value {
    let (status, answer) = server.post_json("/webhook", body).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    tool_result(&answer, 0)
}

async fn missing_subscriptions(server: &TestServer) -> u64 {
    server.metric("switchboard_missing_subscriptions_total").await
}

#[tokio::test]
async fn a_call_without_informational_events_answers_from_the_tool_calls_artifact() {
    let server = TestServer::start(Config::default()).await;
    let first = summary(&server, &summarize_with_artifact("call-quiet", 10, "s1", 5)).await;
    assert_eq!(first["turns"], 5, "{first}");
    assert_eq!(first["callerTurns"], 2, "{first}");
    assert!(
        first["recent"]
            .as_str()
            .unwrap()
            .contains("Caller line 3 about my appointment."),
        "{first}"
    );
    assert_eq!(missing_subscriptions(&server).await, 1);

    // Three more such messages, the conversation growing: still one notice for the call.
    for (n, len) in [(2, 5), (3, 7), (4, 9)] {
        let later = summary(
            &server,
            &summarize_with_artifact("call-quiet", 10 + n, &format!("s{n}"), len),
        )
        .await;
        assert_eq!(later["turns"], len, "{later}");
    }
    assert_eq!(missing_subscriptions(&server).await, 1);

    // A second such call is a second notice.
    summary(&server, &summarize_with_artifact("call-quiet-2", 10, "s1", 3)).await;
    assert_eq!(missing_subscriptions(&server).await, 2);
    server.stop().await;
}

#[tokio::test]
async fn transcripts_and_artifacts_together_show_each_turn_once() {
    let server = TestServer::start(Config::default()).await;
    let call = "call-subscribed";
    let turns = log(6);
    // The transcripts of the first four turns, then a tool call whose artifact shows six.
    let said = |at: i64, turn: &Value| {
        let role = if turn["role"] == "bot" { "assistant" } else { "user" };
        transcript(call, at, role, turn["message"].as_str().unwrap())
    };
    for (i, turn) in turns.as_array().unwrap().iter().take(4).enumerate() {
        assert_eq!(
            server.post_json("/webhook", &said(100 + i as i64, turn)).await.0,
            StatusCode::OK
        );
    }
    let answer = summary(&server, &summarize_with_artifact(call, 200, "s1", 6)).await;
    assert_eq!(answer["turns"], 6, "{answer}");
    // The transcripts of turns five and six arrive after the artifact showed them.
    for (i, turn) in turns.as_array().unwrap().iter().enumerate().skip(4) {
        assert_eq!(
            server.post_json("/webhook", &said(300 + i as i64, turn)).await.0,
            StatusCode::OK
        );
    }
    let answer = summary(&server, &summarize_with_artifact(call, 400, "s2", 6)).await;
    assert_eq!(answer["turns"], 6, "{answer}");
    assert_eq!(missing_subscriptions(&server).await, 0, "transcripts came first");
    server.stop().await;
}

#[tokio::test]
async fn status_updates_endpointing_and_knowledge_requests_fill_the_context_too() {
    let server = TestServer::start(Config::default()).await;
    let status = message(
        "call-status",
        "status-update",
        1,
        json!({"status": "in-progress", "artifact": {"messages": log(3)}}),
    );
    assert_eq!(server.post_json("/webhook", &status).await.0, StatusCode::OK);
    let answer = summary(
        &server,
        &tool_calls("call-status", 2, &[("s1", "summarize_call", json!({}))]),
    )
    .await;
    assert_eq!(answer["turns"], 3, "{answer}");

    let knowledge = message(
        "call-kb",
        "knowledge-base-request",
        1,
        json!({"messagesOpenAIFormatted": [
            {"role": "assistant", "content": "Hi, this is the clinic."},
            {"role": "user", "content": "What are your opening hours?"}
        ]}),
    );
    assert_eq!(server.post_json("/webhook", &knowledge).await.0, StatusCode::OK);
    let answer = summary(
        &server,
        &tool_calls("call-kb", 2, &[("s1", "summarize_call", json!({}))]),
    )
    .await;
    assert_eq!(answer["turns"], 2, "{answer}");

    // The endpointing request is answered first and its conversation recorded right after.
    let endpointing = message(
        "call-eot",
        "call.endpointing.request",
        1,
        json!({"messages": [{"role": "bot", "message": "Your number?"}, {"role": "user", "message": "It is 415"}]}),
    );
    let (code, answer) = server.post_json("/webhook", &endpointing).await;
    assert_eq!(code, StatusCode::OK);
    assert!(answer["timeoutSeconds"].is_number(), "{answer}");
    let mut asked = 0;
    let recorded = eventually(Duration::from_secs(10), async || {
        asked += 1;
        let body = tool_calls(
            "call-eot",
            1 + asked,
            &[(&format!("s{asked}"), "summarize_call", json!({}))],
        );
        let answer = summary(&server, &body).await;
        (answer["turns"] == 2).then_some(answer)
    })
    .await;
    assert!(
        recorded.is_some(),
        "the endpointing request's conversation was not recorded"
    );
    assert_eq!(missing_subscriptions(&server).await, 3, "three quiet calls");
    server.stop().await;
}

#[tokio::test]
async fn unreadable_conversation_entries_are_skipped_and_the_tool_call_answered() {
    let server = TestServer::start(Config::default()).await;
    let mut body = tool_calls("call-odd", 1, &[("s1", "summarize_call", json!({}))]);
    body["message"]["artifact"] = json!({
        "messages": [
            7, null, "text", {"role": 5}, {"role": "user", "message": "kept", "time": "soon"},
            {"role": "tool_calls", "toolCalls": [{"id": 1}]},
            {"role": "user", "message": "I need a cleaning."},
            {"role": "bot", "message": "Sure, when?"}
        ]
    });
    let answer = summary(&server, &body).await;
    assert_eq!(answer["turns"], 2, "{answer}");
    server.stop().await;
}

#[tokio::test]
async fn transcripts_carrying_the_conversation_are_no_sign_of_missing_subscriptions() {
    let server = TestServer::start(Config::default()).await;
    let call = "call-transcripts-with-artifacts";
    // Vapi's transcripts carry the call's artifact too: the first one already shows two turns.
    for (i, len) in [(0, 2), (1, 3), (2, 4)] {
        let mut body = transcript(
            call,
            10 + i,
            "user",
            &format!("Caller line {} about my appointment.", len - 1),
        );
        body["message"]["artifact"] = json!({"messages": log(len)});
        assert_eq!(server.post_json("/webhook", &body).await.0, StatusCode::OK);
    }
    assert_eq!(missing_subscriptions(&server).await, 0);
    // A quiet call on the same server is still noticed.
    summary(&server, &summarize_with_artifact("call-quiet-3", 10, "s1", 3)).await;
    assert_eq!(missing_subscriptions(&server).await, 1);
    server.stop().await;
}
