//! Small limits trim and count: nothing a cap drops goes unnoticed.

use call_state::{Applied, CallEvent, CallState, EventKind, Limits, Role, ToolInvocation, Trimmed, Turn};
use serde_json::json;

const CALL: &str = "c";

/// Applies `kinds` (timestamps 0, 1, 2, ...) under `limits` and returns the state.
fn fold(limits: &Limits, kinds: Vec<EventKind>) -> CallState {
    let mut state = CallState::new(CALL);
    for (at, kind) in kinds.into_iter().enumerate() {
        state.apply(&CallEvent::new(CALL, Some(at as i64), kind), limits);
    }
    state
}

fn fin(text: &str) -> EventKind {
    EventKind::Transcript {
        role: Role::User,
        is_final: true,
        text: text.into(),
    }
}

fn conversation(texts: &[&str]) -> EventKind {
    EventKind::Conversation {
        turns: texts
            .iter()
            .map(|text| Turn {
                role: Role::User,
                text: (*text).into(),
                at_ms: None,
            })
            .collect(),
        tool_calls: vec![],
        tool_results: vec![],
    }
}

fn texts(state: &CallState) -> Vec<&str> {
    state.conversation().iter().map(|t| t.text.as_str()).collect()
}

fn check(state: &CallState, expected_texts: &[&str], expected: Trimmed) {
    assert_eq!(texts(state), expected_texts);
    assert_eq!(*state.trimmed(), expected);
}

#[test]
fn turn_count_cap_drops_the_oldest() {
    let limits = Limits {
        max_turns: 3,
        ..Limits::default()
    };
    let finals = ["one", "two", "three", "four", "five"].map(fin).to_vec();
    let state = fold(&limits, finals.clone());
    check(
        &state,
        &["three", "four", "five"],
        Trimmed {
            turns: 2,
            ..Trimmed::default()
        },
    );

    // An update covering the finals and adding one keeps its newest three; a later, longer update drops only
    // what is new beyond the cap.
    let mut kinds = finals;
    kinds.push(conversation(&["one", "two", "three", "four", "five", "six"]));
    kinds.push(conversation(&["one", "two", "three", "four", "five", "six", "seven"]));
    let state = fold(&limits, kinds);
    check(
        &state,
        &["five", "six", "seven"],
        Trimmed {
            turns: 2 + 3 + 1,
            ..Trimmed::default()
        },
    );
}

#[test]
fn long_texts_are_cut_at_a_char_boundary() {
    let limits = Limits {
        max_turn_bytes: 5,
        ..Limits::default()
    };
    let partial = EventKind::Transcript {
        role: Role::Assistant,
        is_final: false,
        text: "héllo there".into(),
    };
    let state = fold(&limits, vec![fin("hello world"), partial]);
    check(
        &state,
        &["hello"],
        Trimmed {
            bytes: 6 + 7,
            ..Trimmed::default()
        },
    );
    assert_eq!(state.partial(Role::Assistant), Some("héll"));
}

#[test]
fn total_text_cap_drops_the_oldest_turns() {
    let limits = Limits {
        max_total_text_bytes: 10,
        ..Limits::default()
    };
    let state = fold(&limits, ["aaaa", "bbbb", "cccc", "dddd"].map(fin).to_vec());
    check(
        &state,
        &["cccc", "dddd"],
        Trimmed {
            turns: 2,
            ..Trimmed::default()
        },
    );
    let state = fold(&limits, vec![conversation(&["aaaa", "bbbb", "cccc", "dddd"])]);
    check(
        &state,
        &["cccc", "dddd"],
        Trimmed {
            turns: 2,
            ..Trimmed::default()
        },
    );
}

#[test]
fn tool_records_and_transfers_keep_the_newest() {
    let limits = Limits {
        max_tool_records: 2,
        ..Limits::default()
    };
    let call = |id: &str| ToolInvocation {
        id: id.into(),
        name: "lookup".into(),
        arguments: json!({"q": id}),
    };
    let transfer = |to: &str| EventKind::Transfer {
        kind: Some("number".into()),
        target: Some(to.into()),
        to_assistant: None,
        from_assistant: None,
    };
    let forward = |to: &str| EventKind::PhoneCallControl {
        request: "forward".into(),
        kind: Some("number".into()),
        target: Some(to.into()),
    };
    let state = fold(
        &limits,
        vec![
            EventKind::ToolCalls {
                calls: vec![call("t1"), call("t2")],
            },
            EventKind::ToolCalls {
                calls: vec![call("t3")],
            },
            transfer("+1"),
            transfer("+2"),
            transfer("+3"),
            forward("+4"),
            forward("+5"),
            forward("+6"),
        ],
    );
    let ids: Vec<&str> = state.tool_records().iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["t2", "t3"]);
    assert_eq!(state.transfers().len(), 2);
    assert_eq!(state.transfers()[0].target.as_deref(), Some("+2"));
    let forwarded: Vec<Option<&str>> = state.phone_controls().iter().map(|c| c.target.as_deref()).collect();
    assert_eq!(forwarded, [Some("+5"), Some("+6")]);
    check(
        &state,
        &[],
        Trimmed {
            tool_records: 1,
            transfers: 2,
            ..Trimmed::default()
        },
    );

    // Arguments longer than a turn are kept as their cut JSON text.
    let limits = Limits {
        max_turn_bytes: 8,
        ..Limits::default()
    };
    let state = fold(
        &limits,
        vec![EventKind::ToolCalls {
            calls: vec![call("long-id")],
        }],
    );
    assert_eq!(state.tool_records()[0].arguments, json!("{\"q\":\"lo"));
    assert_eq!(state.trimmed().bytes, 7);
}

#[test]
fn memory_refuses_new_keys_past_the_cap_and_oversized_values() {
    let limits = Limits {
        max_memory_entries: 2,
        max_memory_value_bytes: 10,
        ..Limits::default()
    };
    let set = |key: &str, value| EventKind::MemorySet { key: key.into(), value };
    let state = fold(
        &limits,
        vec![
            set("a", json!(1)),
            set("b", json!(2)),
            set("c", json!(3)),
            set("a", json!(10)),
            set("d", json!("far too long a value")),
            EventKind::MemoryDelete { key: "b".into() },
            set("e", json!(5)),
        ],
    );
    assert_eq!(state.memory().len(), 2);
    assert_eq!(
        (state.memory()["a"].clone(), state.memory()["e"].clone()),
        (json!(10), json!(5))
    );
    check(
        &state,
        &[],
        Trimmed {
            memory_entries: 1,
            memory_values: 1,
            ..Trimmed::default()
        },
    );
}

#[test]
fn forgotten_event_ids_are_counted_and_their_replays_apply_again() {
    let limits = Limits {
        max_seen_events: 2,
        ..Limits::default()
    };
    let events: Vec<CallEvent> = (0..3)
        .map(|at| CallEvent::new(CALL, Some(at), EventKind::Hang))
        .collect();
    let mut state = CallState::new(CALL);
    for event in &events {
        assert_eq!(state.apply(event, &limits), Applied::Changed);
    }
    assert_eq!(state.trimmed().seen_events, 1);
    assert_eq!(state.remembered_events(), 2);
    assert_eq!(state.apply(&events[2], &limits), Applied::Duplicate);
    // The documented limitation: the first id was forgotten, so its replay counts again.
    assert_eq!(state.apply(&events[0], &limits), Applied::Changed);
    assert_eq!(state.hangs(), 4);
    assert_eq!(state.trimmed().seen_events, 2);
}

#[test]
fn oversized_events_are_cut_to_what_the_state_keeps_or_refused() {
    let limit = 64 * 1024;
    // An event that fits is left alone.
    let mut small = CallEvent::new(
        "c",
        Some(1),
        EventKind::Transcript {
            role: Role::User,
            is_final: true,
            text: "hello".into(),
        },
    );
    let before = small.clone();
    assert_eq!(small.bound(8, limit), Ok(0));
    assert_eq!(small, before);

    // Long texts and long arguments are cut (arguments to their JSON text), the id and call id stay.
    let arguments = json!({"note": "n".repeat(100_000)});
    let mut calls = CallEvent::new(
        "c",
        Some(2),
        EventKind::ToolCalls {
            calls: vec![ToolInvocation {
                id: "t-1".into(),
                name: "f".repeat(100_000),
                arguments,
            }],
        },
    );
    let id = calls.id;
    let cut = calls.bound(1024, limit).unwrap();
    assert_eq!(cut, (100_000 - 1024) * 2 + 11);
    assert_eq!(calls.id, id);
    assert_eq!(calls.call_id, "c");
    let EventKind::ToolCalls { calls: invocations } = &calls.kind else {
        unreachable!()
    };
    assert_eq!(invocations[0].name.len(), 1024);
    assert!(
        matches!(&invocations[0].arguments, serde_json::Value::String(text) if text.len() == 1024 && text.starts_with("{\"note\":\"nnn"))
    );

    // Memory writes are never cut: too large is too large.
    let mut memory = CallEvent::new(
        "c",
        Some(3),
        EventKind::MemorySet {
            key: "k".into(),
            value: json!("v".repeat(100_000)),
        },
    );
    let error = memory.bound(1024, limit).unwrap_err();
    assert_eq!(error.limit, limit);
    assert!(error.bytes > limit);
    assert!(error.to_string().contains("over the limit of 65536 bytes"), "{error}");
}
