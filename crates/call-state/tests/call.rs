//! A whole scripted call, through the wire parser, and what replays and caps do to it.

use call_state::{Applied, CallEvent, CallState, EventKind, Limits, Role, ToolRecord, event_from_message};
use serde_json::{Value, json};

const CALL: &str = "call-1";

/// The event of a webhook body of `type_name` sent at `ms` with the given extra `message` fields.
fn wire(ms: i64, type_name: &str, fields: Value) -> CallEvent {
    let mut message = json!({
        "type": type_name,
        "timestamp": ms,
        "call": {"id": CALL, "type": "inboundPhoneCall", "status": "ringing", "customer": {"number": "+14155550142"}},
        "phoneNumber": {"id": "pn-1", "number": "+14155550100"},
        "assistant": {"id": "as-1", "name": "Riley"},
    });
    for (key, value) in fields.as_object().unwrap() {
        message[key] = value.clone();
    }
    let body = serde_json::to_vec(&json!({ "message": message })).unwrap();
    let parsed = vapi_types::parse_body(&body).unwrap();
    event_from_message(&parsed).unwrap_or_else(|| panic!("{type_name} yields no event"))
}

fn transcript(ms: i64, role: &str, kind: &str, text: &str) -> CallEvent {
    wire(
        ms,
        "transcript",
        json!({"role": role, "transcriptType": kind, "transcript": text}),
    )
}

fn speech(ms: i64, role: &str, status: &str, turn: u64) -> CallEvent {
    wire(
        ms,
        "speech-update",
        json!({"role": role, "status": status, "turn": turn}),
    )
}

const SYSTEM: &str = "You are Riley, the front desk of Acme Dental.";
const GREETING: &str = "Thanks for calling Acme Dental. How can I help?";

/// A conversation-update of Vapi-form messages given as `(role, text)`; `tool_calls`/`tool_call_result`
/// entries use the text as the tool call id.
fn update(ms: i64, messages: &[(&str, &str)]) -> CallEvent {
    let messages: Vec<Value> = messages
        .iter()
        .map(|(role, text)| match *role {
            "tool_calls" => json!({"role": "tool_calls", "message": "", "toolCalls": [
                {"id": text, "type": "function",
                 "function": {"name": "check_availability", "arguments": "{\"date\": \"2026-08-25\"}"}}]}),
            "tool_call_result" => json!({"role": "tool_call_result", "toolCallId": text,
                "name": "check_availability", "result": "09:00, 11:30"}),
            _ => json!({"role": role, "message": text}),
        })
        .collect();
    wire(
        ms,
        "conversation-update",
        json!({"messages": messages, "messagesOpenAIFormatted": []}),
    )
}

/// The whole call, in delivery order.
fn script() -> Vec<CallEvent> {
    let base = [("system", SYSTEM), ("bot", GREETING)];
    let with_user = [
        base[0],
        base[1],
        ("user", "I'd like to book a cleaning. For next Tuesday."),
    ];
    let with_tool = [
        with_user[0],
        with_user[1],
        with_user[2],
        ("tool_calls", "tc1"),
        ("tool_call_result", "tc1"),
    ];
    let mut with_answer = with_tool.to_vec();
    with_answer.extend([("bot", "I have 9 AM or 11:30."), ("user", "Nine works.")]);
    let mut with_bye = with_answer.clone();
    with_bye.push(("user", "Thanks, bye."));
    vec![
        wire(1000, "assistant-request", json!({})),
        wire(1100, "status-update", json!({"status": "in-progress"})),
        speech(1200, "assistant", "started", 0),
        transcript(1300, "assistant", "final", GREETING),
        speech(1400, "assistant", "stopped", 0),
        update(1500, &base),
        speech(1600, "user", "started", 1),
        transcript(1700, "user", "partial", "I'd like to"),
        transcript(1800, "user", "partial", "I'd like to book a cleaning"),
        transcript(1900, "user", "final", "I'd like to book a cleaning."),
        transcript(2000, "user", "final", "For next Tuesday."),
        speech(2100, "user", "stopped", 1),
        // Covers both finals, merged into one message.
        update(2200, &with_user),
        wire(
            2300,
            "tool-calls",
            json!({"toolCallList": [{"id": "tc1", "type": "function",
                "function": {"name": "check_availability", "arguments": {"date": "2026-08-25"}}}],
                "toolWithToolCallList": []}),
        ),
        CallEvent::new(
            CALL,
            Some(2350),
            EventKind::ToolResult {
                tool_call_id: "tc1".into(),
                name: Some("check_availability".into()),
                result: Some("09:00, 11:30".into()),
                error: None,
            },
        ),
        update(2400, &with_tool),
        wire(2500, "language-change-detected", json!({"language": "es"})),
        transcript(2600, "assistant", "final", "I have 9 AM or 11:30."),
        wire(2700, "user-interrupted", json!({"turnId": "turn-3"})),
        transcript(2800, "user", "final", "Nine works."),
        update(2900, &with_answer),
        // The update including "Thanks, bye." overtakes its final transcript.
        update(3000, &with_bye),
        transcript(3100, "user", "final", "Thanks, bye."),
        wire(3200, "hang", json!({})),
        CallEvent::new(
            CALL,
            Some(3250),
            EventKind::MemorySet {
                key: "appointment".into(),
                value: json!({"date": "2026-08-25", "time": "09:00"}),
            },
        ),
        wire(
            3300,
            "transfer-update",
            json!({"destination": {"type": "number", "number": "+14155550199"}}),
        ),
        wire(
            3400,
            "status-update",
            json!({"status": "ended", "endedReason": "customer-ended-call"}),
        ),
        wire(
            3500,
            "end-of-call-report",
            json!({"endedReason": "customer-ended-call", "analysis": {"summary": "Booked a cleaning."},
                "cost": 0.25, "durationSeconds": 42.5, "artifact": {}}),
        ),
    ]
}

fn run(events: &[CallEvent]) -> CallState {
    let mut state = CallState::new(CALL);
    for event in events {
        state.apply(event, &Limits::default());
    }
    state
}

fn texts(state: &CallState) -> Vec<(Role, &str)> {
    state.conversation().iter().map(|t| (t.role, t.text.as_str())).collect()
}

#[test]
fn a_whole_call_folds_into_an_ordered_conversation_without_duplicates() {
    let events = script();
    let limits = Limits::default();
    let mut state = CallState::new(CALL);
    let step = |state: &mut CallState, upto: usize| {
        for event in &events[state.events_applied() as usize..upto] {
            assert_ne!(state.apply(event, &limits), Applied::Duplicate, "{event:?}");
        }
    };

    step(&mut state, 3);
    assert_eq!(state.speaking(), Some(Role::Assistant));
    step(&mut state, 9);
    assert_eq!(state.speaking(), Some(Role::User));
    assert_eq!(state.turn(), 1);
    assert_eq!(state.partial(Role::User), Some("I'd like to book a cleaning"));
    step(&mut state, 11);
    assert_eq!(state.partial(Role::User), None);
    assert_eq!(
        texts(&state),
        [
            (Role::System, SYSTEM),
            (Role::Assistant, GREETING),
            (Role::User, "I'd like to book a cleaning."),
            (Role::User, "For next Tuesday.")
        ]
    );
    step(&mut state, 13);
    assert_eq!(state.speaking(), None);
    assert_eq!(
        texts(&state)[2..],
        [(Role::User, "I'd like to book a cleaning. For next Tuesday.")]
    );
    step(&mut state, 20);
    assert_eq!(
        texts(&state)[3..],
        [
            (Role::Tool, "09:00, 11:30"),
            (Role::Assistant, "I have 9 AM or 11:30."),
            (Role::User, "Nine works.")
        ]
    );
    step(&mut state, events.len());

    assert_eq!(
        texts(&state),
        [
            (Role::System, SYSTEM),
            (Role::Assistant, GREETING),
            (Role::User, "I'd like to book a cleaning. For next Tuesday."),
            (Role::Tool, "09:00, 11:30"),
            (Role::Assistant, "I have 9 AM or 11:30."),
            (Role::User, "Nine works."),
            (Role::User, "Thanks, bye."),
        ]
    );
    assert_eq!(state.user_turns().count(), 3);
    assert_eq!(state.call_id(), CALL);
    assert_eq!(state.customer_number(), Some("+14155550142"));
    assert_eq!(state.phone_number(), Some("+14155550100"));
    assert_eq!(state.phone_number_id(), Some("pn-1"));
    assert_eq!(
        (state.assistant_id(), state.assistant_name()),
        (Some("as-1"), Some("Riley"))
    );
    assert_eq!(state.call_type(), Some("inboundPhoneCall"));
    assert_eq!(state.status(), Some("ended"));
    assert!(state.is_ended());
    assert_eq!(state.ended_reason(), Some("customer-ended-call"));
    assert_eq!(state.started_at_ms(), Some(1100));
    assert_eq!(state.ended_at_ms(), Some(3400));
    assert_eq!(state.last_event_at_ms(), Some(3500));
    assert_eq!(state.language(), Some("es"));
    assert_eq!((state.interruptions(), state.hangs()), (1, 1));
    assert_eq!(state.transfers()[0].target.as_deref(), Some("+14155550199"));
    assert_eq!(
        state.tool_records(),
        [ToolRecord {
            id: "tc1".into(),
            name: "check_availability".into(),
            arguments: json!({"date": "2026-08-25"}),
            result: Some("09:00, 11:30".into()),
            error: None,
            at_ms: Some(2300),
        }]
    );
    assert_eq!(state.memory()["appointment"]["time"], "09:00");
    let report = state.report().unwrap();
    assert_eq!(report.summary.as_deref(), Some("Booked a cleaning."));
    assert_eq!((report.cost, report.duration_seconds), (Some(0.25), Some(42.5)));
    assert!(state.trimmed().is_empty());
    assert_eq!(state.events_applied(), events.len() as u64);
}

#[test]
fn replays_change_nothing() {
    let events = script();
    let once = run(&events);
    // Each event delivered twice in a row, then the whole call again.
    let mut twice = CallState::new(CALL);
    let limits = Limits::default();
    for event in &events {
        twice.apply(event, &limits);
        assert_eq!(twice.apply(event, &limits), Applied::Duplicate, "{event:?}");
    }
    for event in &events {
        assert_eq!(twice.apply(event, &limits), Applied::Duplicate, "{event:?}");
    }
    assert_eq!(twice, once);
}

#[test]
fn events_of_another_call_are_ignored() {
    let events = script();
    let mut other = CallState::new("call-2");
    for event in &events {
        assert_eq!(other.apply(event, &Limits::default()), Applied::Ignored);
    }
    assert_eq!(other, CallState::new("call-2"));
}

#[test]
fn snapshots_round_trip_and_carry_their_version() {
    let state = run(&script());
    let json = serde_json::to_value(&state).unwrap();
    assert_eq!(json["version"], 1);
    assert_eq!(state.version(), call_state::SNAPSHOT_VERSION);
    let back: CallState = serde_json::from_value(json).unwrap();
    assert_eq!(back, state);
    // A restored state still recognises replays.
    let mut back = back;
    assert_eq!(back.apply(&script()[5], &Limits::default()), Applied::Duplicate);
}

#[test]
fn a_twenty_turn_call_stays_lean() {
    // A realistic call: 20 spoken turns with partials, speech updates, finals and an update after each turn.
    let mut events = vec![wire(0, "status-update", json!({"status": "in-progress"}))];
    let mut log: Vec<(String, String)> = vec![("system".into(), SYSTEM.into())];
    let mut ms = 1;
    for turn in 0..20u64 {
        let (role, bot) = if turn % 2 == 0 {
            ("assistant", "bot")
        } else {
            ("user", "user")
        };
        let text = format!("This is turn number {turn}, a sentence of ordinary length about an appointment.");
        events.push(speech(ms, role, "started", turn));
        for cut in [10usize, 30, 50] {
            events.push(transcript(ms + cut as i64, role, "partial", &text[..cut]));
        }
        events.push(transcript(ms + 60, role, "final", &text));
        events.push(speech(ms + 70, role, "stopped", turn));
        log.push((bot.into(), text));
        let refs: Vec<(&str, &str)> = log.iter().map(|(r, t)| (r.as_str(), t.as_str())).collect();
        events.push(update(ms + 80, &refs));
        ms += 100;
    }
    let state = run(&events);
    assert_eq!(state.conversation().len(), 21);
    let footprint = state.footprint();
    eprintln!(
        "20-turn call: {} events, size_of::<CallState>() = {}, heap = {}, text = {}, overhead = {}",
        events.len(),
        footprint.inline,
        footprint.heap,
        footprint.text,
        footprint.overhead()
    );
    assert!(footprint.overhead() <= 4096, "{footprint:?}");
    assert!(std::mem::size_of::<CallState>() <= 768);
}

#[test]
fn conversation_entries_become_turns_one_way() {
    use vapi_types::{ConversationTurn, TurnRole};
    let entry = |role: TurnRole, text: &str| ConversationTurn {
        role,
        text: text.into(),
        at_ms: Some(5),
        tool_calls: Vec::new(),
        tool_call_id: None,
        name: None,
    };
    let turn = |role: Role, text: &str| {
        Some(call_state::Turn {
            role,
            text: text.into(),
            at_ms: Some(5),
        })
    };
    for (entry, expected) in [
        (entry(TurnRole::User, "hi"), turn(Role::User, "hi")),
        (entry(TurnRole::Assistant, "hello"), turn(Role::Assistant, "hello")),
        (entry(TurnRole::System, "be brief"), turn(Role::System, "be brief")),
        (entry(TurnRole::ToolResult, "42"), turn(Role::Tool, "42")),
        (entry(TurnRole::ToolCall, ""), None),
        (entry(TurnRole::User, ""), None),
    ] {
        assert_eq!(call_state::Turn::from_conversation(&entry), expected, "{entry:?}");
    }
}
