//! Conversations seen in messages other than updates (tool calls, status updates, knowledge-base and
//! endpointing requests, end-of-call reports): they fill a call's context where transcripts and updates did
//! not, never twice, and a call that shows its conversation only so is noticed once.

use call_state::{CallEvent, CallState, EventKind, Limits, Role, Turn, events_from_message};
use proptest::prelude::*;
use serde_json::{Value, json};

const CALL: &str = "call-seen";

/// The script of a call: turn `i` alternates speakers and has words of its own, so no turn covers another.
fn script(len: usize) -> Vec<Turn> {
    (0..len)
        .map(|i| Turn {
            role: if i % 2 == 0 { Role::Assistant } else { Role::User },
            text: format!("turn{i} alpha{i} beta{i}."),
            at_ms: Some(1_000 * i as i64),
        })
        .collect()
}

fn seen(turns: &[Turn], at: i64) -> CallEvent {
    CallEvent::new(CALL, Some(at), EventKind::ConversationSeen { turns: turns.to_vec() })
}

fn final_of(turn: &Turn, at: i64) -> CallEvent {
    CallEvent::new(
        CALL,
        Some(at),
        EventKind::Transcript {
            role: turn.role,
            is_final: true,
            text: turn.text.clone(),
        },
    )
}

fn texts(state: &CallState) -> Vec<(Role, String)> {
    state.conversation().iter().map(|t| (t.role, t.text.clone())).collect()
}

/// No two turns of the same role with the same words.
fn assert_no_duplicates(state: &CallState) {
    let turns = texts(state);
    for (i, a) in turns.iter().enumerate() {
        for b in &turns[i + 1..] {
            assert!(a != b, "duplicate turn {a:?} in {turns:?}");
        }
    }
}

/// A webhook body of `type_name` for the call, with `fields` added to `message`.
fn wire(type_name: &str, ms: i64, fields: Value) -> vapi_types::ServerMessage {
    let mut message = json!({"type": type_name, "timestamp": ms, "call": {"id": CALL}});
    for (key, value) in fields.as_object().unwrap() {
        message[key] = value.clone();
    }
    vapi_types::parse_body(json!({ "message": message }).to_string().as_bytes()).unwrap()
}

fn artifact(len: usize) -> Value {
    let messages: Vec<Value> = script(len)
        .iter()
        .map(|turn| {
            json!({
                "role": if turn.role == Role::User { "user" } else { "bot" },
                "message": turn.text,
                "time": turn.at_ms,
            })
        })
        .collect();
    json!({ "messages": messages })
}

#[test]
fn a_tool_call_artifact_fills_a_call_without_informational_events() {
    let limits = Limits::default();
    let mut state = CallState::new(CALL);
    let message = wire(
        "tool-calls",
        5_000,
        json!({
            "toolCallList": [{"id": "t1", "function": {"name": "summarize_call", "arguments": {}}}],
            "artifact": artifact(5),
        }),
    );
    let events = events_from_message(&message);
    assert_eq!(
        events.iter().map(|e| e.kind.name()).collect::<Vec<_>>(),
        ["conversation_seen", "tool_calls"]
    );
    for event in &events {
        state.apply(event, &limits);
    }
    assert_eq!(state.conversation().len(), 5);
    assert_eq!(state.user_turns().count(), 2);
    assert_eq!(state.missing_subscriptions_noticed_by(), Some(events[0].id));
    assert!(!state.is_informed());

    // Three more tool calls later: the first notice stays, the conversation grows with the artifact.
    for (n, len) in [(2, 7), (3, 7), (4, 9)] {
        let later = wire(
            "tool-calls",
            5_000 + n,
            json!({"toolCallList": [{"id": format!("t{n}"), "function": {"name": "x"}}], "artifact": artifact(len)}),
        );
        for event in events_from_message(&later) {
            state.apply(&event, &limits);
        }
    }
    assert_eq!(state.conversation().len(), 9);
    assert_eq!(state.missing_subscriptions_noticed_by(), Some(events[0].id));
}

#[test]
fn every_carrier_shows_the_conversation_but_updates_stay_updates() {
    let carriers = [
        wire(
            "status-update",
            1,
            json!({"status": "in-progress", "artifact": artifact(3)}),
        ),
        wire(
            "end-of-call-report",
            2,
            json!({"endedReason": "hangup", "artifact": artifact(3)}),
        ),
        wire(
            "knowledge-base-request",
            3,
            json!({"messagesOpenAIFormatted": [{"role": "user", "content": "hours?"}]}),
        ),
        wire(
            "call.endpointing.request",
            4,
            json!({"messages": [{"role": "user", "message": "my number is"}]}),
        ),
    ];
    for message in &carriers {
        let events = events_from_message(message);
        assert_eq!(events[0].kind.name(), "conversation_seen", "{:?}", message.kind());
    }
    let update = wire("conversation-update", 5, json!({"messages": artifact(3)["messages"]}));
    let events = events_from_message(&update);
    assert_eq!(
        events.iter().map(|e| e.kind.name()).collect::<Vec<_>>(),
        ["conversation"]
    );
    let bare = wire(
        "tool-calls",
        6,
        json!({"toolCallList": [], "artifact": {"messages": []}}),
    );
    assert_eq!(
        events_from_message(&bare)
            .iter()
            .map(|e| e.kind.name())
            .collect::<Vec<_>>(),
        ["tool_calls"]
    );
}

#[test]
fn transcripts_before_or_after_a_snapshot_are_not_repeated() {
    let limits = Limits::default();
    let turns = script(6);
    let mut state = CallState::new(CALL);
    state.apply(&final_of(&turns[0], 10), &limits);
    state.apply(&final_of(&turns[1], 11), &limits);
    state.apply(&seen(&turns[..4], 12), &limits);
    assert_eq!(texts(&state).len(), 4, "{:?}", texts(&state));
    // The finals of turns the snapshot showed arrive late; then the conversation goes on.
    state.apply(&final_of(&turns[2], 13), &limits);
    state.apply(&final_of(&turns[3], 14), &limits);
    state.apply(&final_of(&turns[4], 15), &limits);
    let expected: Vec<(Role, String)> = turns[..5].iter().map(|t| (t.role, t.text.clone())).collect();
    assert_eq!(texts(&state), expected);
    assert_eq!(state.missing_subscriptions_noticed_by(), None, "transcripts came first");
}

#[test]
fn an_older_snapshot_delivered_late_changes_nothing() {
    let limits = Limits::default();
    let turns = script(6);
    let mut state = CallState::new(CALL);
    state.apply(&seen(&turns, 2), &limits);
    let before = texts(&state);
    state.apply(&seen(&turns[..3], 1), &limits);
    assert_eq!(texts(&state), before);
    assert_eq!(before.len(), 6);
}

#[test]
fn a_snapshot_longer_than_the_caps_keeps_the_newest_turns() {
    let limits = Limits {
        max_turns: 4,
        ..Limits::default()
    };
    let turns = script(10);
    let mut state = CallState::new(CALL);
    state.apply(&seen(&turns, 1), &limits);
    let expected: Vec<(Role, String)> = turns[6..].iter().map(|t| (t.role, t.text.clone())).collect();
    assert_eq!(texts(&state), expected);
    // A snapshot survives the stored form.
    let restored: CallState = serde_json::from_str(&serde_json::to_string(&state).unwrap()).unwrap();
    assert_eq!(restored, state);
}

/// One delivery of the property: the final transcript of turn `i`, or a snapshot of the first `n` turns.
#[derive(Debug, Clone)]
enum Delivery {
    Final(usize),
    Seen(usize),
}

fn deliveries() -> impl Strategy<Value = (usize, Vec<Delivery>)> {
    (2..12usize).prop_flat_map(|len| {
        let finals = proptest::sample::subsequence((0..len).collect::<Vec<_>>(), 0..=len);
        let snapshots = prop::collection::vec(1..=len, 0..5);
        (finals, snapshots, any::<u64>()).prop_map(move |(finals, snapshots, seed)| {
            // Finals keep spoken order among themselves (Vapi sends them as said); snapshots land anywhere
            // and in any order.
            let mut out: Vec<Delivery> = finals.into_iter().map(Delivery::Final).collect();
            let mut rng = seed;
            for n in snapshots {
                rng = rng
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                let at = (rng >> 33) as usize % (out.len() + 1);
                out.insert(at, Delivery::Seen(n));
            }
            (len, out)
        })
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Any interleaving of final transcripts and conversation snapshots, replays included, yields no
    /// duplicate turn, only turns of the call, in spoken order.
    #[test]
    fn any_interleaving_of_transcripts_and_snapshots_has_no_duplicates((len, plan) in deliveries(), replay in any::<bool>()) {
        let limits = Limits::default();
        let turns = script(len);
        let mut state = CallState::new(CALL);
        let events: Vec<CallEvent> = plan
            .iter()
            .enumerate()
            .map(|(at, delivery)| match delivery {
                Delivery::Final(i) => final_of(&turns[*i], 100 + at as i64),
                Delivery::Seen(n) => seen(&turns[..*n], 100 + at as i64),
            })
            .collect();
        for event in &events {
            state.apply(event, &limits);
            if replay {
                state.apply(event, &limits);
            }
        }
        assert_no_duplicates(&state);
        let positions: Vec<usize> = state
            .conversation()
            .iter()
            .map(|t| turns.iter().position(|s| s.role == t.role && s.text == t.text).expect("a turn of the call"))
            .collect();
        prop_assert!(positions.windows(2).all(|w| w[0] < w[1]), "out of order: {:?}", positions);
        // Whatever was delivered is shown, up to the newest turn any delivery showed.
        let reach = plan.iter().map(|d| match d { Delivery::Final(i) => i + 1, Delivery::Seen(n) => *n }).max().unwrap_or(0);
        prop_assert_eq!(positions.last().map_or(0, |p| p + 1), reach);
    }
}
