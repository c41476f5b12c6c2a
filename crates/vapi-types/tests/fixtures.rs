//! Every recorded and built fixture parses into its specific variant, with its key fields checked; every
//! response body deserializes into its response type and serializes back to the same JSON.

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use vapi_types::response::{
    Acknowledgement, AssistantRequestResponse, CampaignPredialResponse, FunctionCallResponse,
    HandoffDestinationResponse, KnowledgeBaseResponse, TransferDestinationResponse,
};
use vapi_types::{EndpointingResponse, MessageBody, MessageKind, ServerMessage, ToolCallsResponse, parse_body};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/vapi")
}

/// Reads a fixture and strips the `_source` key, which is not part of the wire payload.
fn wire_body(name: &str) -> Vec<u8> {
    let text = std::fs::read_to_string(fixtures().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    let mut value: Value = serde_json::from_str(&text).unwrap();
    value.as_object_mut().unwrap().remove("_source");
    serde_json::to_vec(&value).unwrap()
}

fn parse(name: &str) -> ServerMessage {
    parse_body(&wire_body(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// One check per fixture: the variant it must parse into, and its key fields.
fn check(name: &str, expected: MessageKind, key_fields: impl FnOnce(&ServerMessage)) {
    let message = parse(name);
    assert_eq!(message.kind(), expected, "{name}");
    key_fields(&message);
}

#[test]
fn every_fixture_parses_into_its_variant() {
    use MessageBody as B;
    use MessageKind as K;
    let mut seen = Vec::new();
    let mut run = |name: &'static str, kind: MessageKind, key_fields: &dyn Fn(&ServerMessage)| {
        seen.push(name);
        check(name, kind, key_fields);
    };

    run("assistant-request.json", K::AssistantRequest, &|m| {
        assert_eq!(
            m.common.customer().and_then(|c| c.number.as_deref()),
            Some("+14566836490")
        );
        assert_eq!(
            m.common.timestamp.as_ref().and_then(|t| t.as_millis()),
            Some(1_721_933_627_736)
        );
        assert!(m.call_id().is_some());
    });
    run("assistant-speech-started.json", K::AssistantSpeechStarted, &|m| {
        let B::AssistantSpeechStarted(s) = &m.body else {
            unreachable!()
        };
        assert!(s.text.starts_with("I have 9 AM"));
        assert_eq!(s.turn, Some(2));
        assert_eq!(s.source.as_deref(), Some("model"));
        assert!(s.timing.is_some());
    });
    run("assistant-started.json", K::AssistantStarted, &|m| {
        let B::AssistantStarted(s) = &m.body else {
            unreachable!()
        };
        assert!(s.new_assistant.as_ref().and_then(|a| a.id.as_ref()).is_some());
    });
    run("call-artifact-upload.json", K::CallArtifactUpload, &|m| {
        let B::CallArtifactUpload(u) = &m.body else {
            unreachable!()
        };
        assert_eq!(u.artifacts.len(), 6);
        assert!(u.artifacts.iter().any(|a| a.kind == "end-of-call-report"));
    });
    run("call-deleted.json", K::CallDeleted, &|m| assert!(m.call_id().is_some()));
    run("call-endpointing-request.json", K::CallEndpointingRequest, &|m| {
        let B::CallEndpointingRequest(r) = &m.body else {
            unreachable!()
        };
        let last = r.messages_openai_formatted.last().unwrap();
        assert_eq!(last.role, "user");
        assert_eq!(last.content.as_deref(), Some("Hi, I'd like to book a cleaning for"));
        assert_eq!(r.messages.len(), 3);
    });
    run("campaign-predial.json", K::CampaignPredial, &|m| {
        let B::CampaignPredial(p) = &m.body else { unreachable!() };
        assert_eq!(p.campaign_id.as_deref(), Some("f1e2d3c4-b5a6-4798-8a9b-0c1d2e3f4a5b"));
        assert!(p.contact.is_object());
    });
    run("chat-created.json", K::ChatCreated, &|m| {
        let B::ChatCreated(c) = &m.body else { unreachable!() };
        assert!(c.chat.get("id").is_some());
    });
    run("conversation-update.json", K::ConversationUpdate, &|m| {
        let B::ConversationUpdate(u) = &m.body else {
            unreachable!()
        };
        assert_eq!(u.messages.len(), 5);
        assert_eq!(u.messages[3].tool_calls[0].function.name, "check_availability");
        assert_eq!(u.messages[3].tool_calls[0].function.arguments.0["date"], "2026-08-25");
        assert_eq!(
            u.messages[4].tool_call_id.as_deref(),
            Some("call_Q7yR2mVb9XkLw3TnA5pD1sHe")
        );
        assert_eq!(
            u.messages_openai_formatted[3].content, None,
            "tool-call entries have no content"
        );
    });
    run("end-of-call-report-2024.json", K::EndOfCallReport, &|m| {
        let B::EndOfCallReport(r) = &m.body else { unreachable!() };
        assert_eq!(r.ended_reason.as_deref(), Some("customer-ended-call"));
        assert!(r.summary().unwrap().contains("Danville"));
        assert!(r.transcript.as_deref().unwrap().starts_with("AI: Hi there."));
        assert!(!r.messages.is_empty());
    });
    run("end-of-call-report.json", K::EndOfCallReport, &|m| {
        let B::EndOfCallReport(r) = &m.body else { unreachable!() };
        assert_eq!(r.ended_reason.as_deref(), Some("customer-ended-call"));
        assert_eq!(r.cost, Some(0.0394));
        assert_eq!(r.duration_seconds, Some(25.276));
        assert!(r.summary().unwrap().contains("internet issue"));
        assert_eq!(
            m.common.timestamp.as_ref().and_then(|t| t.as_millis()),
            Some(1_749_546_450_909)
        );
    });
    run("function-call.json", K::FunctionCall, &|m| {
        let B::FunctionCall(f) = &m.body else { unreachable!() };
        assert!(!f.function_call.name.is_empty());
        assert!(f.function_call.parameters.0.is_object());
    });
    run("handoff-destination-request.json", K::HandoffDestinationRequest, &|m| {
        let B::HandoffDestinationRequest(h) = &m.body else {
            unreachable!()
        };
        assert_eq!(h.parameters.as_object().map(|p| p.len()), Some(4));
    });
    run("hang.json", K::Hang, &|m| assert!(m.call_id().is_some()));
    run("knowledge-base-request.json", K::KnowledgeBaseRequest, &|m| {
        let B::KnowledgeBaseRequest(k) = &m.body else {
            unreachable!()
        };
        assert_eq!(k.messages_openai_formatted.len(), 3);
        assert_eq!(k.messages_openai_formatted.last().unwrap().role, "user");
    });
    run("language-change-detected.json", K::LanguageChangeDetected, &|m| {
        let B::LanguageChangeDetected(l) = &m.body else {
            unreachable!()
        };
        assert_eq!(l.language, "es");
    });
    run("model-output.json", K::ModelOutput, &|m| {
        let B::ModelOutput(o) = &m.body else { unreachable!() };
        assert_eq!(o.output, "I have 9 AM,");
        assert_eq!(o.turn_id.as_deref(), Some("7b1e4c2a-9f3d-4e8b-a6c5-0d2f1e3b4a59"));
    });
    run("phone-call-control-forward.json", K::PhoneCallControl, &|m| {
        let B::PhoneCallControl(p) = &m.body else {
            unreachable!()
        };
        assert_eq!(p.request, "forward");
        assert!(p.destination.is_some());
    });
    run("session-created.json", K::SessionCreated, &|m| {
        let B::SessionCreated(s) = &m.body else { unreachable!() };
        assert!(s.session.get("id").is_some());
    });
    run("speech-update.json", K::SpeechUpdate, &|m| {
        let B::SpeechUpdate(s) = &m.body else { unreachable!() };
        assert_eq!(
            (s.status.as_str(), s.role.as_str(), s.turn),
            ("started", "assistant", Some(0))
        );
    });
    run(
        "status-update-ended-assistant-request-error.json",
        K::StatusUpdate,
        &|m| {
            let B::StatusUpdate(s) = &m.body else { unreachable!() };
            assert_eq!(s.status, "ended");
            assert_eq!(
                s.ended_reason.as_deref(),
                Some("assistant-request-returned-invalid-assistant")
            );
        },
    );
    run("status-update-in-progress.json", K::StatusUpdate, &|m| {
        let B::StatusUpdate(s) = &m.body else { unreachable!() };
        assert_eq!(s.status, "in-progress");
        assert!(m.common.phone_number.as_ref().and_then(|p| p.number.as_ref()).is_some());
    });
    run("status-update.json", K::StatusUpdate, &|m| {
        let B::StatusUpdate(s) = &m.body else { unreachable!() };
        assert_eq!(s.status, "in-progress");
        assert_eq!(
            m.common.timestamp.as_ref().and_then(|t| t.as_millis()),
            Some(1_749_546_420_647)
        );
    });
    for name in ["tool-calls.json", "tool-calls-squad.json"] {
        run(name, K::ToolCalls, &|m| {
            let B::ToolCalls(t) = &m.body else { unreachable!() };
            assert_eq!(t.tool_call_list.len(), 1);
            let call = &t.tool_call_list[0];
            assert!(call.id.starts_with("call_"));
            assert!(call.function.arguments.0.is_object(), "object arguments accepted");
            assert_eq!(
                t.tool_with_tool_call_list[0].tool_call.as_ref().map(|c| &c.id),
                Some(&call.id)
            );
        });
    }
    run("transcript-final.json", K::Transcript, &|m| {
        let B::Transcript(t) = &m.body else { unreachable!() };
        assert!(t.is_final());
        assert_eq!(t.role, "user");
        assert_eq!(t.transcript, "Hi, I'd like to book a cleaning for next Tuesday.");
    });
    run("transcript.json", K::Transcript, &|m| {
        let B::Transcript(t) = &m.body else { unreachable!() };
        assert!(!t.is_final());
        assert_eq!(t.transcript, "Hi, I'd like to book a");
    });
    run(
        "transfer-destination-request.json",
        K::TransferDestinationRequest,
        &|m| {
            assert!(m.common.artifact.as_ref().is_some_and(|a| !a.messages.is_empty()));
        },
    );
    run("transfer-update.json", K::TransferUpdate, &|m| {
        let B::TransferUpdate(t) = &m.body else { unreachable!() };
        assert!(t.destination.is_some());
    });
    run("user-interrupted.json", K::UserInterrupted, &|m| {
        let B::UserInterrupted(u) = &m.body else { unreachable!() };
        assert_eq!(u.turn_id.as_deref(), Some("7b1e4c2a-9f3d-4e8b-a6c5-0d2f1e3b4a59"));
    });
    run("voice-input.json", K::VoiceInput, &|m| {
        let B::VoiceInput(v) = &m.body else { unreachable!() };
        assert!(v.input.starts_with("I have 9 AM"));
    });
    run("voice-request.json", K::VoiceRequest, &|m| {
        let B::VoiceRequest(v) = &m.body else { unreachable!() };
        assert_eq!(v.sample_rate, 24000);
        assert!(v.text.starts_with("I have 9 AM"));
    });

    let mut on_disk: Vec<String> = std::fs::read_dir(fixtures())
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".json"))
        .collect();
    on_disk.sort();
    let mut checked: Vec<String> = seen.iter().map(|s| s.to_string()).collect();
    checked.sort();
    assert_eq!(checked, on_disk, "every fixture file has a check");
}

fn round_trip<T: DeserializeOwned + Serialize>(name: &str) {
    let text = std::fs::read_to_string(fixtures().join("responses").join(name)).unwrap();
    let file: Value = serde_json::from_str(&text).unwrap();
    let body = file["body"].clone();
    let typed: T = serde_json::from_value(body.clone()).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(serde_json::to_value(&typed).unwrap(), body, "{name}");
}

#[test]
fn every_response_round_trips() {
    type Check = fn(&str);
    let cases: &[(&str, Check)] = &[
        (
            "assistant-request.response.assistant-id-with-overrides.json",
            round_trip::<AssistantRequestResponse>,
        ),
        (
            "assistant-request.response.assistant-id.json",
            round_trip::<AssistantRequestResponse>,
        ),
        (
            "assistant-request.response.destination.json",
            round_trip::<AssistantRequestResponse>,
        ),
        (
            "assistant-request.response.error.json",
            round_trip::<AssistantRequestResponse>,
        ),
        (
            "assistant-request.response.squad.json",
            round_trip::<AssistantRequestResponse>,
        ),
        (
            "assistant-request.response.transient-assistant.json",
            round_trip::<AssistantRequestResponse>,
        ),
        (
            "call-endpointing-request.response.json",
            round_trip::<EndpointingResponse>,
        ),
        ("campaign-predial.response.json", round_trip::<CampaignPredialResponse>),
        ("function-call.response.json", round_trip::<FunctionCallResponse>),
        (
            "handoff-destination-request.response.error.json",
            round_trip::<HandoffDestinationResponse>,
        ),
        (
            "handoff-destination-request.response.json",
            round_trip::<HandoffDestinationResponse>,
        ),
        ("informational.response.json", round_trip::<Acknowledgement>),
        (
            "knowledge-base-request.response.json",
            round_trip::<KnowledgeBaseResponse>,
        ),
        (
            "knowledge-base-request.response.message-openai.json",
            round_trip::<KnowledgeBaseResponse>,
        ),
        (
            "knowledge-base-request.response.message.json",
            round_trip::<KnowledgeBaseResponse>,
        ),
        ("tool-calls.response.json", round_trip::<ToolCallsResponse>),
        ("tool-calls.response.minimal.json", round_trip::<ToolCallsResponse>),
        ("tool-calls.response.multiple.json", round_trip::<ToolCallsResponse>),
        ("tool-calls.response.with-message.json", round_trip::<ToolCallsResponse>),
        (
            "transfer-destination-request.response.error.json",
            round_trip::<TransferDestinationResponse>,
        ),
        (
            "transfer-destination-request.response.json",
            round_trip::<TransferDestinationResponse>,
        ),
    ];
    for (name, check) in cases {
        check(name);
    }
    let on_disk = std::fs::read_dir(fixtures().join("responses")).unwrap().count();
    assert_eq!(cases.len(), on_disk, "every response file has a check");
}
