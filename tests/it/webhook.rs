//! Every message type through the router and over a real socket: answering types get their typed answer,
//! informational and unknown types get `200 {}`.

use axum::http::StatusCode;
use serde_json::{Value, json};
use switchboard::Config;
use vapi_types::MessageKind;

use crate::support::{TestServer, fixture, fixture_names, oneshot, post, router};

/// The answer every fixture must get from a server with default configuration.
fn check_answer(name: &str, status: StatusCode, body: &Value) {
    let message = fixture(name);
    let kind = MessageKind::from_type(message["message"]["type"].as_str().unwrap());
    match kind {
        MessageKind::ToolCalls => {
            assert_eq!(status, StatusCode::OK, "{name}: tool-calls always answer 200");
            let calls = message["message"]["toolCallList"].as_array().unwrap();
            let results = body["results"].as_array().unwrap();
            assert_eq!(results.len(), calls.len(), "{name}");
            for (call, result) in calls.iter().zip(results) {
                assert_eq!(result["toolCallId"], call["id"], "{name}");
                assert_eq!(result["name"], call["function"]["name"], "{name}");
                assert!(
                    result["error"].as_str().unwrap().contains("unknown tool"),
                    "{name}: {result}"
                );
            }
        }
        MessageKind::FunctionCall => {
            assert_eq!(status, StatusCode::OK);
            assert!(
                body["result"].as_str().unwrap().contains("unknown tool"),
                "{name}: {body}"
            );
        }
        MessageKind::AssistantRequest => {
            assert_eq!(status, StatusCode::OK);
            assert!(
                !body["error"].as_str().unwrap().is_empty(),
                "{name}: a speakable error: {body}"
            );
        }
        MessageKind::TransferDestinationRequest | MessageKind::HandoffDestinationRequest => {
            assert_eq!(status, StatusCode::OK);
            assert!(body["error"].is_string(), "{name}: {body}");
            assert!(body.get("destination").is_none(), "{name}: {body}");
        }
        MessageKind::KnowledgeBaseRequest => {
            assert_eq!((status, body), (StatusCode::OK, &json!({"documents": []})), "{name}");
        }
        MessageKind::CampaignPredial => {
            assert_eq!((status, body), (StatusCode::OK, &json!({"eligible": true})), "{name}");
        }
        MessageKind::VoiceRequest | MessageKind::CallEndpointingRequest => {
            // Served by their own services; checked in their own tests.
        }
        informational => {
            assert!(!informational.expects_answer(), "{name}");
            assert_eq!((status, body), (StatusCode::OK, &json!({})), "{name}");
        }
    }
}

fn is_dedicated(name: &str) -> bool {
    matches!(name, "voice-request.json" | "call-endpointing-request.json")
}

#[tokio::test]
async fn every_fixture_gets_its_answer_through_the_router() {
    for name in fixture_names().iter().filter(|n| !is_dedicated(n)) {
        let body = fixture(name).to_string();
        let (status, answer) = oneshot(router(Config::default()).await, post("/webhook", body)).await;
        check_answer(name, status, &answer);
    }
}

#[tokio::test]
async fn every_fixture_gets_its_answer_over_a_socket_on_both_paths() {
    let server = TestServer::start(Config::default()).await;
    for name in fixture_names().iter().filter(|n| !is_dedicated(n)) {
        for path in ["/webhook", "/api/webhook/conversation-42"] {
            let (status, answer) = server.post_json(path, &fixture(name)).await;
            check_answer(name, status, &answer);
        }
    }
    server.stop().await;
}

#[tokio::test]
async fn unknown_types_are_acknowledged_and_ignored() {
    let body = json!({"message": {"type": "call.something-new", "call": {"id": "c1"}, "payload": [1, 2, 3]}});
    let (status, answer) = oneshot(router(Config::default()).await, post("/webhook", body.to_string())).await;
    assert_eq!((status, answer), (StatusCode::OK, json!({})));
}

#[tokio::test]
async fn assistant_request_answers_the_configured_fallback() {
    let config = Config::from_toml("[routing.assistant_fallback]\nassistant_id = \"asst-7\"\n").unwrap();
    let (status, answer) = oneshot(
        router(config).await,
        post("/webhook", fixture("assistant-request.json").to_string()),
    )
    .await;
    assert_eq!((status, answer), (StatusCode::OK, json!({"assistantId": "asst-7"})));
}

#[tokio::test]
async fn health_and_readiness() {
    let server = TestServer::start(Config::default()).await;
    for path in ["/healthz", "/readyz"] {
        let response = server.client.get(server.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
    }
    server.stop().await;
}
