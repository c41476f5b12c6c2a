//! Time only moves forward: late and out-of-order deliveries never take a call's state back, and the
//! conversation reads in spoken order whatever order its finals arrive in.

use call_state::{Applied, CallEvent, CallState, EventKind, Limits, Role};
use proptest::prelude::*;

const CALL: &str = "call-1";

fn status(at: i64, status: &str) -> CallEvent {
    CallEvent::new(
        CALL,
        Some(at),
        EventKind::Status {
            status: status.into(),
            ended_reason: (status == "ended").then(|| "customer-ended-call".into()),
        },
    )
}

fn final_transcript(at: Option<i64>, role: Role, text: &str) -> CallEvent {
    CallEvent::new(
        CALL,
        at,
        EventKind::Transcript {
            role,
            is_final: true,
            text: text.into(),
        },
    )
}

fn fold(events: &[CallEvent]) -> CallState {
    let mut state = CallState::new(CALL);
    for event in events {
        state.apply(event, &Limits::default());
    }
    state
}

fn texts(state: &CallState) -> Vec<&str> {
    state.conversation().iter().map(|turn| turn.text.as_str()).collect()
}

#[test]
fn a_late_status_after_ended_leaves_the_call_ended() {
    let mut state = fold(&[
        status(1000, "ringing"),
        status(2000, "in-progress"),
        status(4000, "ended"),
    ]);
    assert_eq!(state.status(), Some("ended"));
    let late = status(3000, "in-progress");
    assert_eq!(state.apply(&late, &Limits::default()), Applied::Ignored);
    assert_eq!(state.status(), Some("ended"));
    assert!(state.is_ended());
    // Even a status newer than `ended` does not reopen the call.
    assert_eq!(
        state.apply(&status(9000, "forwarding"), &Limits::default()),
        Applied::Ignored
    );
    assert_eq!(state.status(), Some("ended"));
    assert_eq!(state.started_at_ms(), Some(2000));
    assert_eq!(state.ended_at_ms(), Some(4000));
    assert_eq!(state.ended_reason(), Some("customer-ended-call"));
}

#[test]
fn an_older_status_does_not_replace_a_newer_one() {
    // `in-progress` (ts 2000) delivered after `forwarding` (ts 5000).
    let state = fold(&[status(5000, "forwarding"), status(2000, "in-progress")]);
    assert_eq!(state.status(), Some("forwarding"));
    // The late `in-progress` still says when the call started, since nothing else did.
    assert_eq!(state.started_at_ms(), Some(2000));
    // Same millisecond: the later stage of a call wins, whatever the arrival order.
    let one = fold(&[status(3000, "in-progress"), status(3000, "ringing")]);
    let other = fold(&[status(3000, "ringing"), status(3000, "in-progress")]);
    assert_eq!(one.status(), Some("in-progress"));
    assert_eq!(other.status(), Some("in-progress"));
    // A newer status does replace an older one (a transfer that failed returns the call to `in-progress`).
    let state = fold(&[
        status(2000, "in-progress"),
        status(5000, "forwarding"),
        status(6000, "in-progress"),
    ]);
    assert_eq!(state.status(), Some("in-progress"));
}

#[test]
fn late_start_and_end_times_do_not_move() {
    let state = fold(&[
        status(2000, "in-progress"),
        status(4000, "ended"),
        status(1500, "in-progress"),
        status(3500, "ended"),
    ]);
    assert_eq!(state.started_at_ms(), Some(2000));
    assert_eq!(state.ended_at_ms(), Some(4000));
}

#[test]
fn an_end_of_call_report_ends_the_call_for_late_statuses_too() {
    let report = CallEvent::new(
        CALL,
        Some(5000),
        EventKind::EndOfCallReport {
            ended_reason: Some("assistant-ended-call".into()),
            summary: None,
            cost: None,
            duration_seconds: None,
            ended_at_ms: Some(4900),
        },
    );
    let mut state = fold(&[status(2000, "in-progress"), report]);
    assert!(state.is_ended());
    assert_eq!(
        state.apply(&status(3000, "forwarding"), &Limits::default()),
        Applied::Ignored
    );
    assert_eq!(state.status(), Some("in-progress"));
    assert!(state.is_ended());
    assert_eq!(state.ended_reason(), Some("assistant-ended-call"));
    assert_eq!(state.ended_at_ms(), Some(4900));
}

#[test]
fn a_late_speech_update_of_an_earlier_turn_changes_nothing() {
    let speech = |at: i64, started: bool, turn: u64| {
        CallEvent::new(
            CALL,
            Some(at),
            EventKind::Speech {
                role: Role::User,
                started,
                turn: Some(turn),
            },
        )
    };
    let mut state = fold(&[speech(1000, true, 1), speech(2000, false, 1), speech(3000, true, 2)]);
    assert_eq!(state.turn(), 2);
    assert_eq!(state.speaking(), Some(Role::User));
    // The `stopped` of turn 1, delivered again late under a new timestamp, does not stop turn 2's speaker (it
    // is only placed among the end-of-turn history's speech marks, by its timestamp).
    assert_eq!(
        state.apply(&speech(2500, false, 1), &Limits::default()),
        Applied::Changed
    );
    assert_eq!(state.turn(), 2);
    assert_eq!(state.speaking(), Some(Role::User));
}

#[test]
fn out_of_order_finals_read_in_spoken_order() {
    let said = [
        final_transcript(Some(1000), Role::Assistant, "Thanks for calling, how can I help?"),
        final_transcript(Some(2000), Role::User, "I need to book a cleaning."),
        final_transcript(Some(3000), Role::Assistant, "Sure, which day works?"),
        final_transcript(Some(4000), Role::User, "Next Tuesday morning."),
    ];
    let in_order = fold(&said);
    let shuffled = fold(&[said[2].clone(), said[0].clone(), said[3].clone(), said[1].clone()]);
    assert_eq!(
        texts(&shuffled),
        [
            "Thanks for calling, how can I help?",
            "I need to book a cleaning.",
            "Sure, which day works?",
            "Next Tuesday morning.",
        ]
    );
    assert_eq!(shuffled.conversation(), in_order.conversation());
    // Equal or missing times keep arrival order.
    let tied = fold(&[
        final_transcript(Some(5000), Role::User, "first"),
        final_transcript(Some(5000), Role::Assistant, "second"),
        final_transcript(None, Role::User, "third"),
        final_transcript(Some(4000), Role::Assistant, "zeroth"),
    ]);
    assert_eq!(texts(&tied), ["zeroth", "first", "second", "third"]);
}

#[test]
fn old_snapshots_without_a_status_time_still_read() {
    let state = fold(&[status(2000, "in-progress")]);
    let mut json: serde_json::Value = serde_json::to_value(&state).unwrap();
    assert_eq!(json["status_at_ms"], 2000);
    json.as_object_mut().unwrap().remove("status_at_ms");
    let old: CallState = serde_json::from_value(json).unwrap();
    assert_eq!(old.status(), Some("in-progress"));
    assert_eq!(old.version(), call_state::SNAPSHOT_VERSION);
}

#[test]
fn clones_share_the_conversation_until_one_changes() {
    let state = fold(&[
        final_transcript(Some(1000), Role::User, "hello"),
        final_transcript(Some(2000), Role::Assistant, "hi there"),
    ]);
    let copy = state.clone();
    assert!(
        std::ptr::eq(state.conversation(), copy.conversation()),
        "a clone copies no turn"
    );
    let mut changed = copy.clone();
    changed.apply(&final_transcript(Some(3000), Role::User, "bye"), &Limits::default());
    assert!(!std::ptr::eq(state.conversation(), changed.conversation()));
    assert_eq!(texts(&state), ["hello", "hi there"], "the original is untouched");
    assert_eq!(texts(&changed), ["hello", "hi there", "bye"]);
}

const STATUSES: [&str; 6] = ["scheduled", "queued", "ringing", "in-progress", "forwarding", "ended"];

/// A call's timestamped events: statuses (each at most once) and final transcripts, at distinct times.
fn call_events() -> impl Strategy<Value = Vec<CallEvent>> {
    let a_status = prop::sample::select(STATUSES.to_vec()).prop_map(Some);
    let transcript = (
        prop::sample::select(vec![Role::User, Role::Assistant]),
        "[a-z]{1,8}( [a-z]{1,8}){0,3}",
    );
    (
        prop::collection::vec(prop_oneof![1 => a_status, 3 => Just(None)], 1..30),
        prop::collection::vec(transcript, 30),
        prop::collection::vec(1..1_000i64, 30),
    )
        .prop_map(|(kinds, transcripts, gaps)| {
            let mut at = 1_000_000;
            let mut used = Vec::new();
            let mut events = Vec::new();
            for ((kind, (role, text)), gap) in kinds.into_iter().zip(transcripts).zip(gaps) {
                at += gap;
                match kind {
                    Some(name) if !used.contains(&name) => {
                        used.push(name);
                        events.push(status(at, name));
                    }
                    _ => events.push(final_transcript(Some(at), role, &text)),
                }
            }
            events
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_arrival_order_folds_as_the_spoken_order(
        (events, order) in call_events().prop_flat_map(|events| {
            let n = events.len();
            (Just(events), Just((0..n).collect::<Vec<_>>()).prop_shuffle())
        }),
    ) {
        let sorted = fold(&events);
        let arrived: Vec<CallEvent> = order.iter().map(|&i| events[i].clone()).collect();
        let shuffled = fold(&arrived);
        prop_assert_eq!(shuffled.status(), sorted.status());
        prop_assert_eq!(shuffled.is_ended(), sorted.is_ended());
        prop_assert_eq!(shuffled.started_at_ms(), sorted.started_at_ms());
        prop_assert_eq!(shuffled.ended_at_ms(), sorted.ended_at_ms());
        prop_assert_eq!(shuffled.ended_reason(), sorted.ended_reason());
        prop_assert_eq!(shuffled.last_event_at_ms(), sorted.last_event_at_ms());
        prop_assert_eq!(shuffled.conversation(), sorted.conversation());
        // The sorted fold's status is the newest one, or `ended` once the call ended.
        let newest = events
            .iter()
            .filter_map(|e| match &e.kind {
                EventKind::Status { status, .. } => Some((status == "ended", e.at_ms, status.as_str())),
                _ => None,
            })
            .max()
            .map(|(_, _, status)| status);
        prop_assert_eq!(sorted.status(), newest);
    }
}
