//! Queries share the actor's state rather than copying it, and events too large to journal are cut or refused.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use call_runtime::{CallRuntime, RuntimeConfig, RuntimeError, RuntimeStats, Store};
use call_state::{CallEvent, EventKind, Role, Turn};

fn transcript(call: &str, at: i64, text: &str) -> CallEvent {
    CallEvent::new(
        call,
        Some(at),
        EventKind::Transcript {
            role: if at % 2 == 0 { Role::User } else { Role::Assistant },
            is_final: true,
            text: text.into(),
        },
    )
}

fn tool_result(call: &str, at: i64, id: &str) -> CallEvent {
    CallEvent::new(
        call,
        Some(at),
        EventKind::ToolResult {
            tool_call_id: id.into(),
            name: Some("recall".into()),
            result: Some("the caller mentioned the router".into()),
            error: None,
        },
    )
}

fn trimmed(stats: &RuntimeStats, kind: &str) -> u64 {
    let at = RuntimeStats::TRIMMED_KINDS.iter().position(|k| *k == kind).unwrap();
    stats.trimmed[at].load(Ordering::Relaxed)
}

#[tokio::test]
async fn queries_share_the_state_and_events_copy_only_what_they_change() {
    let runtime = CallRuntime::start(Store::default(), RuntimeConfig::default())
        .await
        .unwrap();
    for at in 0..100 {
        runtime
            .ingest(transcript("c-long", at, &format!("turn number {at} of a long call")))
            .await
            .unwrap();
    }
    let first = runtime.query("c-long").await.unwrap().unwrap();
    let second = runtime.query("c-long").await.unwrap().unwrap();
    assert_eq!(first.state.conversation().len(), 100);
    assert!(
        Arc::ptr_eq(&first.state, &second.state),
        "two queries with no event between get the same state, not copies"
    );

    // A tool result changes the tool records only: the conversation is still the same storage.
    runtime.ingest(tool_result("c-long", 1000, "t-1")).await.unwrap();
    let third = runtime.query("c-long").await.unwrap().unwrap();
    assert!(!Arc::ptr_eq(&first.state, &third.state));
    assert_eq!(third.state.tool_records().len(), 1);
    assert!(
        std::ptr::eq(first.state.conversation(), third.state.conversation()),
        "an event that does not touch the conversation does not copy it"
    );

    // A new turn copies the conversation once, because the earlier answers still hold it; they do not change.
    runtime.ingest(transcript("c-long", 2000, "one more")).await.unwrap();
    let fourth = runtime.query("c-long").await.unwrap().unwrap();
    assert_eq!(fourth.state.conversation().len(), 101);
    assert_eq!(first.state.conversation().len(), 100);
    assert!(first.state.tool_records().is_empty());
    assert_eq!(third.state.conversation().len(), 100);
    runtime.shutdown().await;
}

#[tokio::test]
async fn oversized_events_are_cut_or_refused_before_the_journal() {
    let config = RuntimeConfig {
        max_event_bytes: 64 * 1024,
        ..RuntimeConfig::default()
    };
    let max_turn = config.limits.max_turn_bytes;
    let runtime = CallRuntime::start(Store::default(), config).await.unwrap();

    // One long text: cut to what the state keeps of it, then journaled.
    let long = "word ".repeat(40_000);
    runtime.ingest(transcript("c-big", 1, &long)).await.unwrap();
    let state = runtime.state("c-big").await.unwrap().unwrap();
    assert_eq!(state.conversation()[0].text.len(), max_turn);
    assert_eq!(trimmed(runtime.stats(), "event_bytes"), (long.len() - max_turn) as u64);

    // Many turns that each fit: still over the limit once cut, so refused, counted, and not journaled.
    let turns: Vec<Turn> = (0..20)
        .map(|i| Turn {
            role: Role::User,
            text: format!("{i} {}", "x".repeat(max_turn)),
            at_ms: None,
        })
        .collect();
    let update = CallEvent::new(
        "c-big",
        Some(2),
        EventKind::Conversation {
            turns,
            tool_calls: Vec::new(),
            tool_results: Vec::new(),
        },
    );
    let error = runtime.ingest(update).await.unwrap_err();
    assert!(matches!(error, RuntimeError::EventTooLarge(_)), "{error}");
    assert!(error.to_string().contains("over the limit of 65536 bytes"), "{error}");
    assert_eq!(trimmed(runtime.stats(), "events_refused"), 1);
    let state = runtime.state("c-big").await.unwrap().unwrap();
    assert_eq!(
        state.conversation().len(),
        1,
        "the refused update is neither journaled nor applied"
    );
    runtime.shutdown().await;
}
