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

#[tokio::test]
async fn knowledge_base_requests_are_answered_from_the_folder_and_reload() {
    let dir = std::env::temp_dir().join(format!("switchboard-kb-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("returns.md"),
        "# Returns\n\nYou can return any item within 30 days for a full refund.\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("hours.md"),
        "# Opening hours\n\nWe are open 8 to 5, Monday through Friday.\n",
    )
    .unwrap();
    let mut config = Config::default();
    config.knowledge.dir = Some(dir.clone());
    let server = TestServer::start(config).await;
    let ask = |text: &str| {
        json!({"message": {"type": "knowledge-base-request", "call": {"id": "kb-call"},
            "messagesOpenAIFormatted": [{"role": "user", "content": text}]}})
    };
    let (status, answer) = server
        .post_json(
            "/webhook",
            &ask("how many days do I have to return an item for a refund?"),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        answer["documents"][0]["content"].as_str().unwrap().contains("30 days"),
        "{answer}"
    );
    assert!(
        answer["documents"][0]["uuid"].as_str().unwrap().contains("returns.md"),
        "{answer}"
    );

    std::fs::write(
        dir.join("parking.md"),
        "# Parking\n\nFree parking is behind the building on Elm Street.\n",
    )
    .unwrap();
    let (_, before) = server
        .post_json("/webhook", &ask("where can I park my car near the building?"))
        .await;
    assert!(
        !before.to_string().contains("Elm Street"),
        "not indexed before the reload"
    );
    let reloaded = server
        .admin(server.client.post(server.url("/knowledge/reload")))
        .send()
        .await
        .unwrap();
    assert_eq!(reloaded.status(), 200);
    let (_, after) = server
        .post_json("/webhook", &ask("where can I park my car near the building?"))
        .await;
    assert!(
        after["documents"][0]["content"]
            .as_str()
            .unwrap()
            .contains("Elm Street"),
        "{after}"
    );
    server.stop().await;
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn the_main_webhook_also_answers_voice_and_endpointing_requests() {
    let server = TestServer::start(Config::default()).await;
    let (status, answer) = server
        .post_json("/webhook", &fixture("call-endpointing-request.json"))
        .await;
    assert_eq!(status, StatusCode::OK);
    let timeout = answer["timeoutSeconds"].as_f64().unwrap();
    // The fixture's caller stopped mid-sentence ("...a cleaning for"): wait longer than Vapi's 0.8 s pause.
    assert!((0.8..=15.0).contains(&timeout), "{answer}");
    let (direct_status, direct) = server
        .post_json("/endpointing", &fixture("call-endpointing-request.json"))
        .await;
    assert_eq!(
        (direct_status, &direct),
        (StatusCode::OK, &answer),
        "same answer on both paths"
    );

    // The request's transcriber language selects the policy on the main webhook too.
    let spanish = json!({"message": {
        "type": "call.endpointing.request",
        "assistant": {"transcriber": {"provider": "deepgram", "language": "es"}},
        "messagesOpenAIFormatted": [{"role": "user", "content": "quiero reservar una limpieza para el"}]
    }});
    let (status, answer) = server.post_json("/webhook", &spanish).await;
    assert_eq!(status, StatusCode::OK);
    assert!(answer["timeoutSeconds"].as_f64().unwrap() >= 1.0, "{answer}");

    let mut voice = fixture("voice-request.json");
    voice["message"]["text"] = json!("Hello from the main webhook.");
    voice["message"]["sampleRate"] = json!(16000);
    let response = server
        .client
        .post(server.url("/webhook"))
        .json(&voice)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/octet-stream");
    let pcm = response.bytes().await.unwrap();
    assert!(pcm.len() > 16_000 && pcm.len().is_multiple_of(2), "{} bytes", pcm.len());
    assert_ne!(&pcm[..4], b"RIFF");
    server.stop().await;
}

#[tokio::test]
async fn the_mounted_servers_share_the_webhook_authentication() {
    let config = Config {
        auth: switchboard::auth::AuthConfig::Secret {
            secret: "s3cret".into(),
        },
        ..Config::default()
    };
    let server = TestServer::start(config).await;
    for path in ["/voice", "/endpointing"] {
        let body = fixture(if path == "/voice" {
            "voice-request.json"
        } else {
            "call-endpointing-request.json"
        });
        let refused = server.client.post(server.url(path)).json(&body).send().await.unwrap();
        assert_eq!(refused.status(), 401, "{path}");
        let accepted = server
            .client
            .post(server.url(path))
            .header("x-vapi-secret", "s3cret")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(accepted.status(), 200, "{path}");
    }
    server.stop().await;
}

#[tokio::test]
async fn the_sample_knowledge_folder_answers_paraphrases_and_nothing_else() {
    let mut config = Config::default();
    config.knowledge.dir = Some(std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/knowledge"));
    let server = TestServer::start(config).await;
    let ask = |text: &str| {
        json!({"message": {"type": "knowledge-base-request", "call": {"id": "kb-sample"},
            "messagesOpenAIFormatted": [{"role": "user", "content": text}]}})
    };
    let (status, answer) = server
        .post_json("/webhook", &ask("can i renew my books over the phone"))
        .await;
    assert_eq!(status, StatusCode::OK);
    let uuid = answer["documents"][0]["uuid"].as_str().unwrap_or_default();
    assert!(uuid.starts_with("borrowing-and-renewals.md#"), "{answer}");
    let (status, answer) = server.post_json("/webhook", &ask("do you sell coffee")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer, json!({"documents": []}));
    server.stop().await;
}
