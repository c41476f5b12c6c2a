//! Answering `knowledge-base-request`s: the fixture, thin queries widened with call context, the wire shape.

use std::path::Path;

use call_state::{CallEvent, CallState, EventKind, Limits, Role};
use knowledge::{KnowledgeBase, KnowledgeConfig};
use serde_json::{Value, json};
use vapi_types::{KnowledgeBaseRequest, MessageBody, OpenAiMessage};

use crate::{SHOP, knowledge_base};

fn fixture(relative: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/vapi")
        .join(relative);
    let mut value: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    value.as_object_mut().unwrap().remove("_source");
    value
}

fn request(messages: &[(&str, &str)]) -> KnowledgeBaseRequest {
    KnowledgeBaseRequest {
        messages_openai_formatted: messages
            .iter()
            .map(|(role, content)| OpenAiMessage {
                role: (*role).into(),
                content: Some((*content).into()),
                ..Default::default()
            })
            .collect(),
        messages: Vec::new(),
    }
}

fn call_with_user_turns(turns: &[&str]) -> CallState {
    let mut state = CallState::new("call-kb");
    for (at, text) in turns.iter().enumerate() {
        let kind = EventKind::Transcript {
            role: Role::User,
            is_final: true,
            text: (*text).into(),
        };
        state.apply(
            &CallEvent::new("call-kb", Some(1_700_000_000_000 + at as i64 * 4_000), kind),
            &Limits::default(),
        );
    }
    state
}

#[test]
fn the_fixture_request_parses_and_is_answered_in_the_documented_shape() {
    let body = serde_json::to_vec(&fixture("knowledge-base-request.json")).unwrap();
    let message = vapi_types::parse_body(&body).unwrap();
    let MessageBody::KnowledgeBaseRequest(request) = message.body else {
        panic!("not a knowledge-base-request: {:?}", message.kind());
    };
    let (_dir, base) = knowledge_base(&[
        (
            "cleanings.md",
            "# Cleanings\n\nA routine cleaning takes 45 minutes. Cleanings can be booked Monday to Saturday; \
             Tuesday and Thursday have evening slots until 7 pm.",
        ),
        (
            "insurance.md",
            "# Insurance\n\nWe accept most dental insurance plans and bill them directly.",
        ),
    ]);
    let response = serde_json::to_value(base.answer(&request, None)).unwrap();
    assert_eq!(response["documents"][0]["uuid"], "cleanings.md#0", "{response}");
    assert_eq!(response["documents"].as_array().unwrap().len(), 1, "{response}");

    // Same keys and types as the documented response.
    let expected = &fixture("responses/knowledge-base-request.response.json")["body"];
    let keys = |value: &Value| value.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(&response), keys(expected));
    assert_eq!(keys(&response["documents"][0]), keys(&expected["documents"][0]));
    let similarity = response["documents"][0]["similarity"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&similarity));
}

#[test]
fn a_thin_question_is_answered_from_the_call_context() {
    let (_dir, base) = knowledge_base(SHOP);
    let call = call_with_user_turns(&["Hi, I have a question about the warranty on my blender."]);
    let request = request(&[("user", "how long is it?")]);

    let answer = base.answer(&request, Some(&call)).documents.unwrap();
    assert_eq!(
        answer.first().and_then(|d| d.uuid.as_deref()),
        Some("warranty.md#0"),
        "{answer:?}"
    );
    // Without the context the same words find nothing relevant.
    assert_eq!(base.answer(&request, None).documents, Some(vec![]));
}

#[test]
fn a_rich_question_ignores_unrelated_context() {
    let (_dir, base) = knowledge_base(SHOP);
    let call = call_with_user_turns(&["I have a question about the warranty on my blender."]);
    let request = request(&[
        ("assistant", "Anything else?"),
        ("user", "Yes, how long does express shipping to Canada take?"),
    ]);
    let answer = base.answer(&request, Some(&call)).documents.unwrap();
    assert_eq!(answer[0].uuid.as_deref(), Some("shipping.md#0"));
    assert!(
        answer
            .iter()
            .all(|document| document.uuid.as_deref() != Some("warranty.md#0")),
        "{answer:?}"
    );
}

#[test]
fn nothing_relevant_is_an_empty_list() {
    let (_dir, base) = knowledge_base(SHOP);
    let response = base.answer(&request(&[("user", "zebra quantum violin")]), None);
    assert_eq!(serde_json::to_value(&response).unwrap(), json!({"documents": []}));

    let empty = KnowledgeBase::load(KnowledgeConfig::default()).unwrap();
    let response = empty.answer(&request(&[("user", "what is your return policy?")]), None);
    assert_eq!(serde_json::to_value(&response).unwrap(), json!({"documents": []}));
}

#[test]
fn answers_hold_at_most_top_k_documents_above_min_similarity() {
    let dir = tempfile::tempdir().unwrap();
    crate::write_files(dir.path(), SHOP);
    let request = request(&[("user", "account support password gift cards days dollars")]);
    for (top_k, min_similarity) in [(1, 0.0), (2, 0.0), (10, 0.0), (10, 0.3), (10, 0.99)] {
        let config = KnowledgeConfig {
            top_k,
            min_similarity: Some(min_similarity),
            ..crate::config(dir.path())
        };
        let documents = KnowledgeBase::load(config)
            .unwrap()
            .answer(&request, None)
            .documents
            .unwrap();
        assert!(documents.len() <= top_k, "top {top_k}: {}", documents.len());
        assert!(documents.iter().all(|document| document.similarity >= min_similarity));
        if min_similarity == 0.0 {
            assert_eq!(
                documents.len(),
                top_k.min(SHOP.len() + 1).min(documents.len().max(top_k.min(5)))
            );
        }
    }
}
