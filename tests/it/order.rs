//! Late and out-of-order webhooks over HTTP: a late status never reopens an ended call, and final transcripts
//! read in spoken order whatever order they arrive in.

use axum::http::StatusCode;
use serde_json::json;
use switchboard::Config;

use crate::support::{TestServer, message, transcript};

#[tokio::test]
async fn a_late_status_after_ended_leaves_the_call_ended() {
    let server = TestServer::start(Config::default()).await;
    for (at, status) in [(1000, "ringing"), (4000, "ended"), (2000, "in-progress")] {
        let mut fields = json!({"status": status});
        if status == "ended" {
            fields["endedReason"] = json!("customer-ended-call");
        }
        let (code, answer) = server
            .post_json("/webhook", &message("late", "status-update", at, fields))
            .await;
        assert_eq!(code, StatusCode::OK, "{answer}");
    }
    let (_, context) = server.get_json("/calls/late").await;
    assert_eq!(context["status"], "ended", "{context}");
    assert_eq!(context["endedReason"], "customer-ended-call");
    assert_eq!(context["endedAtMs"], 4000);
    // The late `in-progress` still says when the call started: nothing else did.
    assert_eq!(context["startedAtMs"], 2000);
    server.stop().await;
}

#[tokio::test]
async fn out_of_order_transcripts_read_in_spoken_order() {
    let server = TestServer::start(Config::default()).await;
    let said = [
        (1000, "assistant", "Thanks for calling Acme, how can I help?"),
        (2000, "user", "My order 48213 has not arrived."),
        (3000, "assistant", "Sorry about that. When did you order it?"),
        (4000, "user", "Last Monday, with express shipping."),
    ];
    for index in [1, 3, 0, 2] {
        let (at, role, text) = said[index];
        let body = transcript("shuffled", at, role, text);
        let (code, answer) = server.post_json("/webhook", &body).await;
        assert_eq!(code, StatusCode::OK, "{answer}");
    }
    let (_, context) = server.get_json("/calls/shuffled").await;
    let texts: Vec<&str> = context["conversation"]
        .as_array()
        .unwrap()
        .iter()
        .map(|turn| turn["text"].as_str().unwrap())
        .collect();
    let spoken: Vec<&str> = said.iter().map(|(_, _, text)| *text).collect();
    assert_eq!(texts, spoken);
    server.stop().await;
}
