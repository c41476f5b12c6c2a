//! Fuzzes the webhook message parser, `vapi_types::parse_body`, and what a parsed message does to a call.
//!
//! Any input must parse or fail without a panic. A message that parses is turned into its domain event
//! (`call_state::event_from_message`) and folded into a fresh `CallState` with the default `Limits`; a replay
//! of the same body (parsed again, so the event id must be deterministic) must be `Applied::Duplicate` and
//! leave the state as it was. The state's queries and snapshot serialization must not panic either.
//!
//! Seeds: `fuzz/seed.sh` (the fixtures under `tests/fixtures/vapi`). Run:
//! `RUSTC_BOOTSTRAP=1 cargo fuzz run --sanitizer none message -- -max_total_time=600`.

#![no_main]

use call_state::{Applied, CallState, Limits, event_from_message};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(message) = vapi_types::parse_body(data) else {
        return;
    };
    let _ = message.body.kind();
    let Some(event) = event_from_message(&message) else {
        return;
    };
    let limits = Limits::default();
    let mut state = CallState::new(event.call_id.clone());
    let first = state.apply(&event, &limits);
    assert_ne!(first, Applied::Duplicate, "a fresh state saw {event:?} as a duplicate");

    // A redelivered webhook: the same bytes parse to the same event, with the same id.
    let again = vapi_types::parse_body(data).expect("the same body parses twice");
    let replay = event_from_message(&again).expect("the same body yields an event twice");
    assert_eq!(replay.id, event.id, "event ids are not deterministic");
    let before = state.clone();
    assert_eq!(state.apply(&replay, &limits), Applied::Duplicate, "replay of {event:?}");
    assert_eq!(state, before, "a duplicate changed the state");

    // Everything grown stays under the caps.
    assert!(state.conversation().len() <= limits.max_turns);
    assert!(state.tool_records().len() <= limits.max_tool_records);
    assert!(state.memory().len() <= limits.max_memory_entries);
    for turn in state.conversation() {
        assert!(
            turn.text.len() <= limits.max_turn_bytes,
            "turn of {} bytes",
            turn.text.len()
        );
    }

    // Queries and the snapshot form.
    let _ = state.footprint();
    serde_json::to_string(&state).expect("a state serializes");
});
