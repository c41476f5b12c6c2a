//! Routing rules answered over HTTP from the call's context, and rule errors reported at startup.

use axum::http::StatusCode;
use serde_json::json;
use switchboard::{Config, Switchboard};

use crate::support::{TestServer, fixture, message, transcript};

#[tokio::test]
async fn transfer_follows_what_the_caller_said_earlier() {
    let config = Config::from_toml(
        r#"
        [[routing.transfer]]
        match = { keywords = ["billing"] }
        destination = { type = "number", number = "+14155550111", message = "Connecting you to billing." }
        "#,
    )
    .unwrap();
    let server = TestServer::start(config).await;
    let call = "call-transfer";
    let said = |at, text: &str| transcript(call, at, "user", text);
    server.post_json("/webhook", &said(1, "Hi there.")).await;
    let (_, before) = server
        .post_json("/webhook", &message(call, "transfer-destination-request", 2, json!({})))
        .await;
    assert!(before["error"].is_string(), "no rule matches yet: {before}");
    server
        .post_json("/webhook", &said(3, "I have a question about my billing statement."))
        .await;
    let (status, answer) = server
        .post_json("/webhook", &message(call, "transfer-destination-request", 4, json!({})))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        answer,
        json!({"destination": {"type": "number", "number": "+14155550111", "message": "Connecting you to billing."}})
    );
    server.stop().await;
}

#[tokio::test]
async fn assistant_request_rules_match_the_caller() {
    let caller = fixture("assistant-request.json")["message"]["customer"]["number"]
        .as_str()
        .unwrap()
        .to_string();
    let config = Config::from_toml(&format!(
        "[[routing.assistant]]\nmatch = {{ caller = [\"{caller}\"] }}\nassistant_id = \"vip-assistant\"\n\n[routing.assistant_fallback]\nassistant_id = \"default\"\n"
    ))
    .unwrap();
    let server = TestServer::start(config).await;
    let (_, answer) = server.post_json("/webhook", &fixture("assistant-request.json")).await;
    assert_eq!(answer, json!({"assistantId": "vip-assistant"}));
    let mut other = fixture("assistant-request.json");
    other["message"]["customer"]["number"] = json!("+15550000000");
    other["message"]["call"]["customer"]["number"] = json!("+15550000000");
    let (_, answer) = server.post_json("/webhook", &other).await;
    assert_eq!(answer, json!({"assistantId": "default"}));
    server.stop().await;
}

#[tokio::test]
async fn a_bad_rule_stops_startup_with_a_message_naming_it() {
    let config = Config::from_toml(
        "[[routing.assistant]]\nmatch = { windows = [{ days = [\"mon\"], from = \"25:00\", to = \"26:00\" }] }\nassistant_id = \"a\"\n",
    )
    .unwrap();
    let error = Switchboard::start(config).await.err().expect("startup refused");
    let text = error.to_string();
    assert!(
        text.contains("routing.assistant[0]") && text.contains("\"25:00\" is not a time"),
        "{text}"
    );
}

#[tokio::test]
async fn transfer_keywords_match_any_form_of_the_callers_words() {
    let config = Config::from_toml(
        r#"
        [[routing.transfer]]
        match = { keywords = ["billing", "cancel"] }
        destination = { type = "number", number = "+14155550111" }
        "#,
    )
    .unwrap();
    let server = TestServer::start(config).await;
    let billing = json!({"destination": {"type": "number", "number": "+14155550111"}});
    for (call, text, expected) in [
        ("call-stem-1", "I have a question about a bill.", billing.clone()),
        ("call-stem-2", "They cancelled my appointment twice.", billing.clone()),
        ("call-stem-3", "There is a billboard outside your office.", json!(null)),
    ] {
        server.post_json("/webhook", &transcript(call, 1, "user", text)).await;
        let (status, answer) = server
            .post_json("/webhook", &message(call, "transfer-destination-request", 2, json!({})))
            .await;
        assert_eq!(status, StatusCode::OK);
        if expected.is_null() {
            assert!(answer["error"].is_string(), "{text:?}: {answer}");
        } else {
            assert_eq!(answer, expected, "{text:?}");
        }
    }
    server.stop().await;
}
