//! Property tests of the fold: interleaving calls and replaying deliveries changes nothing, and arbitrary
//! events under arbitrary small limits never panic and never break a cap.

use std::collections::BTreeMap;

use call_state::{Applied, CallEvent, CallState, EventKind, Limits, Role, ToolInvocation, ToolOutcome, Turn};
use proptest::prelude::*;
use proptest::sample::{Index, select};
use serde_json::json;

/// Utterances from a small vocabulary, so finals, updates and searches overlap as in real calls.
fn utterance() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => select(vec!["yes", "no", "book a cleaning", "next tuesday", "thanks bye", "nine works", "hello there"])
            .prop_map(str::to_owned),
        1 => "[a-zé日 ]{0,14}",
    ]
}

fn speaker() -> impl Strategy<Value = Role> {
    select(vec![Role::User, Role::Assistant])
}

fn any_role() -> impl Strategy<Value = Role> {
    select(vec![Role::User, Role::Assistant, Role::System, Role::Tool])
}

fn tool_id() -> impl Strategy<Value = String> {
    select(vec!["t1", "t2", "t3", "t4"]).prop_map(str::to_owned)
}

fn invocation() -> impl Strategy<Value = ToolInvocation> {
    (tool_id(), 0..100i64).prop_map(|(id, n)| ToolInvocation {
        id,
        name: "lookup".into(),
        arguments: json!({"n": n}),
    })
}

fn outcome() -> impl Strategy<Value = ToolOutcome> {
    (tool_id(), proptest::option::of(utterance())).prop_map(|(tool_call_id, result)| ToolOutcome {
        tool_call_id,
        name: None,
        result,
        error: None,
    })
}

fn kind() -> impl Strategy<Value = EventKind> {
    let opt_text = || proptest::option::of(utterance());
    prop_oneof![
        1 => Just(EventKind::Metadata),
        1 => (select(vec!["ringing", "in-progress", "ended"]), opt_text())
            .prop_map(|(status, ended_reason)| EventKind::Status { status: status.into(), ended_reason }),
        6 => (speaker(), any::<bool>(), utterance())
            .prop_map(|(role, is_final, text)| EventKind::Transcript { role, is_final, text }),
        3 => (
            prop::collection::vec((any_role(), utterance()), 0..8),
            prop::collection::vec(invocation(), 0..3),
            prop::collection::vec(outcome(), 0..3),
        )
            .prop_map(|(turns, tool_calls, tool_results)| EventKind::Conversation {
                turns: turns.into_iter().map(|(role, text)| Turn { role, text, at_ms: None }).collect(),
                tool_calls,
                tool_results,
            }),
        2 => prop::collection::vec((any_role(), utterance()), 0..8).prop_map(|turns| EventKind::ConversationSeen {
            turns: turns.into_iter().map(|(role, text)| Turn { role, text, at_ms: None }).collect(),
        }),
        2 => (speaker(), any::<bool>(), proptest::option::of(0..10u64))
            .prop_map(|(role, started, turn)| EventKind::Speech { role, started, turn }),
        1 => Just(EventKind::Interrupted { turn_id: None }),
        1 => select(vec!["en", "es", "fr"]).prop_map(|l| EventKind::Language { language: l.into() }),
        1 => opt_text().prop_map(|target| EventKind::Transfer {
            kind: Some("number".into()),
            target,
            to_assistant: None,
            from_assistant: None,
        }),
        1 => Just(EventKind::Hang),
        1 => prop::collection::vec(invocation(), 0..3).prop_map(|calls| EventKind::ToolCalls { calls }),
        1 => (tool_id(), opt_text(), opt_text()).prop_map(|(tool_call_id, result, error)| EventKind::ToolResult {
            tool_call_id,
            name: None,
            result,
            error,
        }),
        2 => (select(vec!["a", "b", "c", "d"]), utterance())
            .prop_map(|(key, value)| EventKind::MemorySet { key: key.into(), value: json!(value) }),
        1 => select(vec!["a", "b", "c", "d"]).prop_map(|key| EventKind::MemoryDelete { key: key.into() }),
        1 => (opt_text(), select(vec![None, Some(0.25), Some(1.5)])).prop_map(|(summary, cost)| {
            EventKind::EndOfCallReport {
                ended_reason: Some("customer-ended-call".into()),
                summary,
                cost,
                duration_seconds: cost,
                ended_at_ms: None,
            }
        }),
    ]
}

/// One call's script: its events in order, and for each a replay of some event already delivered.
fn script() -> impl Strategy<Value = (Vec<EventKind>, Vec<Option<Index>>)> {
    prop::collection::vec((kind(), proptest::option::weighted(0.3, any::<Index>())), 0..40)
        .prop_map(|steps| steps.into_iter().unzip())
}

/// The events of call `call` for `kinds`, timestamped by position (so distinct events get distinct ids).
fn events(call: &str, kinds: Vec<EventKind>) -> Vec<CallEvent> {
    kinds
        .into_iter()
        .enumerate()
        .map(|(at, kind)| CallEvent::new(call, Some(at as i64), kind))
        .collect()
}

/// Every cap of `limits` holds in `state`.
fn assert_within(state: &CallState, limits: &Limits) {
    let turns = state.conversation();
    assert!(turns.len() <= limits.max_turns, "{} turns", turns.len());
    assert!(turns.iter().all(|t| t.text.len() <= limits.max_turn_bytes));
    assert!(turns.iter().map(|t| t.text.len()).sum::<usize>() <= limits.max_total_text_bytes);
    for role in [Role::User, Role::Assistant] {
        assert!(state.partial(role).is_none_or(|p| p.len() <= limits.max_turn_bytes));
    }
    assert!(state.tool_records().len() <= limits.max_tool_records);
    assert!(state.transfers().len() <= limits.max_tool_records);
    assert!(state.memory().len() <= limits.max_memory_entries);
    for (key, value) in state.memory() {
        assert!(key.len() + value.to_string().len() <= limits.max_memory_value_bytes);
    }
    assert!(state.remembered_events() <= limits.max_seen_events);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn interleaved_calls_with_replays_fold_as_each_call_alone(
        scripts in prop::collection::vec(script(), 1..5),
        choices in prop::collection::vec(any::<Index>(), 0..400),
    ) {
        let limits = Limits::default();
        let calls: Vec<String> = (0..scripts.len()).map(|n| format!("call-{n}")).collect();
        // Per call: its events, and its deliveries (each event once, in order, plus replays of earlier ones).
        let mut originals = Vec::new();
        let mut deliveries: Vec<Vec<CallEvent>> = Vec::new();
        for (call, (kinds, replays)) in calls.iter().zip(scripts) {
            let own = events(call, kinds);
            let mut sent = Vec::new();
            for (i, event) in own.iter().enumerate() {
                sent.push(event.clone());
                if let Some(replay) = &replays[i] {
                    sent.push(own[replay.index(i + 1)].clone());
                }
            }
            originals.push(own);
            deliveries.push(sent);
        }

        // Interleave the calls' deliveries randomly, keeping each call's own order.
        let mut states: BTreeMap<String, CallState> =
            calls.iter().map(|call| (call.clone(), CallState::new(call.clone()))).collect();
        let mut next = vec![0usize; calls.len()];
        let mut choices = choices.into_iter();
        loop {
            let open: Vec<usize> = (0..calls.len()).filter(|&c| next[c] < deliveries[c].len()).collect();
            if open.is_empty() {
                break;
            }
            let call = open[choices.next().map_or(0, |choice| choice.index(open.len()))];
            let event = &deliveries[call][next[call]];
            next[call] += 1;
            for (id, state) in states.iter_mut() {
                let before = (*id != event.call_id).then(|| state.clone());
                let applied = state.apply(event, &limits);
                if let Some(before) = before {
                    // Misrouted events are ignored and change nothing.
                    prop_assert_eq!(applied, Applied::Ignored);
                    prop_assert_eq!(&*state, &before);
                }
            }
        }

        for (call, own) in calls.iter().zip(&originals) {
            let mut alone = CallState::new(call.clone());
            for event in own {
                alone.apply(event, &limits);
            }
            prop_assert_eq!(&states[call], &alone);
            // The snapshot format round-trips the folded state.
            let json = serde_json::to_string(&alone).unwrap();
            prop_assert_eq!(serde_json::from_str::<CallState>(&json).unwrap(), alone);
        }
    }

    #[test]
    fn any_events_under_any_limits_stay_within_the_caps(
        kinds in prop::collection::vec(kind(), 0..60),
        replays in prop::collection::vec(proptest::option::weighted(0.3, any::<Index>()), 60),
        limits in (0..5usize, 0..12usize, 0..30usize, 0..4usize, 0..4usize, 0..20usize, 0..8usize).prop_map(
            |(max_turns, max_turn_bytes, max_total_text_bytes, max_tool_records, max_memory_entries,
              max_memory_value_bytes, max_seen_events)| Limits {
                max_turns, max_turn_bytes, max_total_text_bytes, max_tool_records, max_memory_entries,
                max_memory_value_bytes, max_seen_events,
            }),
    ) {
        let own = events("c", kinds);
        let mut state = CallState::new("c");
        for (i, event) in own.iter().enumerate() {
            state.apply(event, &limits);
            assert_within(&state, &limits);
            if let Some(replay) = &replays[i] {
                state.apply(&own[replay.index(i + 1)], &limits);
                assert_within(&state, &limits);
            }
        }
        // Replays within the remembered window are recognised even under tiny limits (the last event is still
        // remembered unless a replay of an older one came after it).
        let replayed_after_last = own.len().checked_sub(1).is_some_and(|i| replays[i].is_some());
        if let Some(last) = own.last() && limits.max_seen_events > 0 && !replayed_after_last {
            prop_assert_eq!(state.apply(last, &limits), Applied::Duplicate);
        }
    }

    #[test]
    fn replaying_any_event_equals_applying_it_once(kinds in prop::collection::vec(kind(), 1..30)) {
        let limits = Limits::default();
        let own = events("c", kinds);
        let mut once = CallState::new("c");
        let mut twice = CallState::new("c");
        for event in &own {
            once.apply(event, &limits);
            twice.apply(event, &limits);
            prop_assert_eq!(twice.apply(event, &limits), Applied::Duplicate);
            prop_assert_eq!(&twice, &once);
        }
    }
}
