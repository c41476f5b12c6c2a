//! Every recorded or built Vapi payload yields the event kind its call state needs (or none).

use call_state::{CallState, EventKind, Limits, Role, event_from_message};

/// The fixture `name` (without `.json`), parsed after stripping the `_source` key.
fn fixture(name: &str) -> vapi_types::ServerMessage {
    let path = format!("{}/../../tests/fixtures/vapi/{name}.json", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut json: serde_json::Value = serde_json::from_str(&text).unwrap();
    json.as_object_mut().unwrap().remove("_source");
    vapi_types::parse_body(&serde_json::to_vec(&json).unwrap()).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn check(name: &str, expected: Option<&str>) {
    let event = event_from_message(&fixture(name));
    assert_eq!(event.as_ref().map(|e| e.kind.name()), expected, "{name}");
    if let Some(event) = event {
        // Deterministic: the same delivery gives the same id, and the event survives a serde round trip.
        assert_eq!(event_from_message(&fixture(name)).unwrap().id, event.id, "{name}");
        let json = serde_json::to_string(&event).unwrap();
        assert_eq!(
            serde_json::from_str::<call_state::CallEvent>(&json).unwrap(),
            event,
            "{name}"
        );
        let mut state = CallState::new(event.call_id.clone());
        state.apply(&event, &Limits::default());
        assert_eq!(state.events_applied(), 1, "{name}");
    }
}

#[test]
fn every_fixture_yields_its_event_kind() {
    check("assistant-request", Some("metadata"));
    check("assistant-speech-started", None);
    check("assistant-started", Some("metadata"));
    check("call-artifact-upload", None);
    check("call-deleted", None);
    check("call-endpointing-request", None);
    check("campaign-predial", None);
    check("chat-created", None);
    check("conversation-update", Some("conversation"));
    check("end-of-call-report-2024", Some("end_of_call_report"));
    check("end-of-call-report", Some("end_of_call_report"));
    check("function-call", Some("tool_calls"));
    check("handoff-destination-request", None);
    check("hang", Some("hang"));
    check("knowledge-base-request", None);
    check("language-change-detected", Some("language"));
    check("model-output", None);
    check("phone-call-control-forward", Some("phone_call_control"));
    check("session-created", None);
    check("speech-update", Some("speech"));
    check("status-update-ended-assistant-request-error", Some("status"));
    check("status-update-in-progress", Some("status"));
    check("status-update", Some("status"));
    check("tool-calls-squad", Some("tool_calls"));
    check("tool-calls", Some("tool_calls"));
    check("transcript-final", Some("transcript"));
    check("transcript", Some("transcript"));
    check("transfer-destination-request", None);
    check("transfer-update", Some("transfer"));
    check("user-interrupted", Some("interrupted"));
    check("voice-input", None);
    check("voice-request", None);
}

#[test]
fn fixture_contents_reach_the_state() {
    let limits = Limits::default();
    let apply = |names: &[&str]| {
        let mut state: Option<CallState> = None;
        for name in names {
            let event = event_from_message(&fixture(name)).unwrap();
            state
                .get_or_insert_with(|| CallState::new(event.call_id.clone()))
                .apply(&event, &limits);
        }
        state.unwrap()
    };

    let state = apply(&["status-update-in-progress", "transcript", "language-change-detected"]);
    assert_eq!(state.call_id(), "c7a1e3f2-58b4-4d9a-a6e1-0f2b9c8d7e61");
    assert_eq!(state.status(), Some("in-progress"));
    assert_eq!(state.started_at_ms(), Some(1_787_155_335_417));
    assert_eq!(state.customer_number(), Some("+14155550142"));
    assert_eq!(state.phone_number(), Some("+14155550100"));
    assert_eq!(state.assistant_name(), Some("Riley - Front Desk"));
    assert_eq!(state.assistant_id(), Some("a3d9c2b1-7e4f-4a6b-8c5d-1e2f3a4b5c6d"));
    assert_eq!(state.partial(Role::User), Some("Hi, I'd like to book a"));
    assert_eq!(state.language(), Some("es"));

    let state = apply(&["conversation-update", "transfer-update", "user-interrupted", "hang"]);
    let roles: Vec<Role> = state.conversation().iter().map(|t| t.role).collect();
    assert_eq!(roles, [Role::System, Role::Assistant, Role::User, Role::Tool]);
    let record = state.tool_record("call_Q7yR2mVb9XkLw3TnA5pD1sHe").unwrap();
    assert_eq!(record.name, "check_availability");
    assert_eq!(record.arguments, serde_json::json!({"date": "2026-08-25"}));
    assert_eq!(
        record.result.as_deref(),
        Some("Available on 2026-08-25: 09:00, 11:30, 14:15")
    );
    assert_eq!(state.transfers()[0].target.as_deref(), Some("+14155550199"));
    assert_eq!(state.transfers()[0].kind.as_deref(), Some("number"));
    assert_eq!((state.interruptions(), state.hangs()), (1, 1));

    let state = apply(&["phone-call-control-forward", "phone-call-control-forward"]);
    let controls = state.phone_controls();
    assert_eq!(controls.len(), 1, "a repeated delivery is one request");
    assert_eq!(controls[0].request, "forward");
    assert_eq!(controls[0].kind.as_deref(), Some("sip"));
    assert_eq!(
        controls[0].target.as_deref(),
        Some("sip:billing@pbx.acme-dental.example")
    );
    assert_eq!(controls[0].at_ms, Some(1_787_155_350_582));

    let state = apply(&["tool-calls"]);
    let record = &state.tool_records()[0];
    assert_eq!(record.name, "getRealWeatherByCity_001");
    assert_eq!(record.arguments, serde_json::json!({"city": "Danville", "state": "CA"}));
    assert_eq!(record.result, None);

    let state = apply(&["status-update-ended-assistant-request-error"]);
    assert!(state.is_ended());
    assert!(state.ended_reason().is_some());

    let state = apply(&["end-of-call-report"]);
    assert!(state.is_ended());
    let report = state.report().unwrap();
    assert!(report.summary.is_some() && report.cost.is_some() && report.duration_seconds.is_some());

    let event = event_from_message(&fixture("function-call")).unwrap();
    let EventKind::ToolCalls { calls } = &event.kind else {
        panic!("{event:?}")
    };
    assert!(calls[0].id.starts_with("function-call-"), "{}", calls[0].id);
}
