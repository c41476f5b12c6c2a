//! Measures `apply` throughput and the memory of many live 20-turn calls, to check the crate's budget
//! (≥ 500k events/s, ≤ 4 KiB per call beyond the text). Run with
//! `cargo run --release -p call-state --example footprint`.
//!
//! Memory is read from the process's resident set (Linux `/proc/self/statm`), so it includes allocator
//! overhead that `CallState::footprint` does not see.

use std::time::Instant;

use call_state::{CallEvent, CallState, EventKind, Limits, Role, Turn};

/// The events of one realistic 20-turn call: speech updates, three partials and a final per turn, and a
/// conversation-update after each turn.
fn call_events(call: &str) -> Vec<CallEvent> {
    let mut events = vec![CallEvent::new(
        call,
        Some(0),
        EventKind::Status {
            status: "in-progress".into(),
            ended_reason: None,
        },
    )];
    let mut log = vec![Turn {
        role: Role::System,
        text: "You are Riley, the front desk of Acme Dental.".into(),
        at_ms: Some(0),
    }];
    let mut ms = 1;
    for turn in 0..20u64 {
        let role = if turn % 2 == 0 { Role::Assistant } else { Role::User };
        let text = format!("This is turn number {turn}, a sentence of ordinary length about an appointment.");
        let speech = |started| EventKind::Speech {
            role,
            started,
            turn: Some(turn),
        };
        events.push(CallEvent::new(call, Some(ms), speech(true)));
        for cut in [10usize, 30, 50] {
            let partial = EventKind::Transcript {
                role,
                is_final: false,
                text: text[..cut].into(),
            };
            events.push(CallEvent::new(call, Some(ms + cut as i64), partial));
        }
        let fin = EventKind::Transcript {
            role,
            is_final: true,
            text: text.clone(),
        };
        events.push(CallEvent::new(call, Some(ms + 60), fin));
        events.push(CallEvent::new(call, Some(ms + 70), speech(false)));
        log.push(Turn {
            role,
            text,
            at_ms: Some(ms),
        });
        let update = EventKind::Conversation {
            turns: log.clone(),
            tool_calls: vec![],
            tool_results: vec![],
        };
        events.push(CallEvent::new(call, Some(ms + 80), update));
        ms += 100;
    }
    events
}

fn resident_bytes() -> usize {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|statm| statm.split_whitespace().nth(1)?.parse::<usize>().ok())
        .map_or(0, |pages| pages * 4096)
}

fn main() {
    const CALLS: usize = 10_000;
    let limits = Limits::default();
    let scripts: Vec<Vec<CallEvent>> = (0..100).map(|n| call_events(&format!("call-{n}"))).collect();
    let per_call = scripts[0].len();

    // Throughput: fold every script many times into fresh states.
    let start = Instant::now();
    let mut applied = 0u64;
    for _ in 0..20 {
        for script in &scripts {
            let mut state = CallState::new(script[0].call_id.clone());
            for event in script {
                state.apply(event, &limits);
            }
            applied += state.events_applied();
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    println!(
        "apply: {applied} events in {elapsed:.3} s = {:.0} events/s",
        applied as f64 / elapsed
    );

    // Memory: many live states, each folded from its own events (which are dropped afterwards).
    let before = resident_bytes();
    let mut states = Vec::with_capacity(CALLS);
    for n in 0..CALLS {
        let events = call_events(&format!("live-{n}"));
        let mut state = CallState::new(format!("live-{n}"));
        for event in &events {
            state.apply(event, &limits);
        }
        states.push(state);
    }
    let after = resident_bytes();
    let footprint = states[0].footprint();
    let per_state = (after.saturating_sub(before)) / CALLS;
    println!(
        "{per_call} events per call; size_of::<CallState>() = {}",
        footprint.inline
    );
    println!(
        "estimate per call: heap {} B, text {} B, overhead beyond text {} B",
        footprint.heap,
        footprint.text,
        footprint.overhead()
    );
    println!(
        "resident per call: {per_state} B, beyond text {} B",
        per_state.saturating_sub(footprint.text)
    );
}
