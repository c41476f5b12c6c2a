//! The runtime over the memory store on tokio's paused clock: retired calls, their reports and their
//! conversations leave the store once their TTLs pass (by the periodic sweep alone), and a live call whose
//! stored record is evicted or expires under it loses nothing acknowledged.

use std::sync::atomic::Ordering;
use std::time::Duration;

use call_state::{CallEvent, EventKind, Role};
use serde_json::json;

use super::*;
use crate::config::RetentionConfig;
use crate::store::{Backend, MemoryStore};

fn said(call: &str, at: i64, text: &str) -> CallEvent {
    CallEvent::new(
        call,
        Some(at),
        EventKind::Transcript {
            role: Role::User,
            is_final: true,
            text: text.into(),
        },
    )
}

fn ended(call: &str, at: i64) -> [CallEvent; 2] {
    [
        CallEvent::new(
            call,
            Some(at),
            EventKind::Status {
                status: "ended".into(),
                ended_reason: Some("customer-ended-call".into()),
            },
        ),
        CallEvent::new(
            call,
            Some(at + 1),
            EventKind::EndOfCallReport {
                ended_reason: Some("customer-ended-call".into()),
                summary: Some("done".into()),
                cost: None,
                duration_seconds: None,
                ended_at_ms: Some(at + 1),
            },
        ),
    ]
}

fn memory_of(runtime: &CallRuntime) -> MemoryStore {
    match &runtime.store().backend {
        Backend::Memory(memory) => memory.clone(),
        Backend::Redis(_) => unreachable!("these tests run on the memory store"),
    }
}

async fn start(retention: RetentionConfig, config: RuntimeConfig) -> CallRuntime {
    CallRuntime::start(Store::memory(retention), config).await.unwrap()
}

/// Lets virtual time pass in small steps (so the actors and the sweeper run) until `done` holds, at most
/// `limit`.
async fn pass_until(limit: Duration, mut done: impl FnMut() -> bool) {
    let step = Duration::from_millis(500);
    let mut waited = Duration::ZERO;
    while !done() && waited < limit {
        tokio::time::sleep(step).await;
        waited += step;
    }
}

/// The call's stored conversation, folded from the store alone.
async fn stored_texts(runtime: &CallRuntime, call: &str) -> Vec<String> {
    runtime
        .stored_state(call)
        .await
        .unwrap()
        .map(|state| state.conversation().iter().map(|turn| turn.text.clone()).collect())
        .unwrap_or_default()
}

#[tokio::test(start_paused = true)]
async fn retired_calls_reports_and_memory_leave_the_store_when_their_ttl_passes() {
    let retention = RetentionConfig {
        call_ttl_seconds: 60,
        report_ttl_seconds: 60,
        conversation_ttl_seconds: 120,
        ..RetentionConfig::default()
    };
    let config = RuntimeConfig {
        idle_timeout_seconds: 10.0,
        ..RuntimeConfig::default()
    };
    let runtime = start(retention, config).await;
    let memory = memory_of(&runtime);
    const CALLS: usize = 300;
    for round in 0..3 {
        for i in 0..CALLS {
            let call = format!("r{round}-c{i}");
            let conversation = format!("conv-{round}-{i}");
            runtime.link_conversation(&call, &conversation).await.unwrap();
            for turn in 0..3 {
                runtime
                    .ingest(said(&call, turn, &format!("turn {turn}")))
                    .await
                    .unwrap();
            }
            runtime
                .set_conversation_memory(&conversation, "name", Some(json!("Ada")))
                .await
                .unwrap();
            // Half end and report (and retire at once), half just go quiet (and retire idle).
            if i % 2 == 0 {
                for event in ended(&call, 10) {
                    runtime.ingest(event).await.unwrap();
                }
                runtime
                    .save_report(StoredReport {
                        call_id: call.clone(),
                        ended_reason: None,
                        summary: None,
                        cost: None,
                        duration_seconds: None,
                        received_at_ms: 1,
                        body: "{}".into(),
                    })
                    .await
                    .unwrap();
            }
        }
        pass_until(Duration::from_secs(30), || runtime.live_calls() == 0).await;
        assert_eq!(runtime.live_calls(), 0, "every call retired");
        assert_eq!(memory.calls(), CALLS, "retired calls stay stored for their TTL");
        // Stored, a retired call can still be read back.
        let call = format!("r{round}-c1");
        assert_eq!(stored_texts(&runtime, &call).await.len(), 3);

        // The sweep alone (no further traffic) empties the store once the TTLs pass.
        // Idle calls wrote their snapshot when they retired, which restarted their TTL.
        pass_until(Duration::from_secs(90), || memory.calls() == 0).await;
        assert_eq!(memory.calls(), 0, "round {round}: calls expired");
        assert_eq!(memory.others().0, 0, "round {round}: reports expired");
        assert_eq!(memory.others().1, 0, "round {round}: links expired");
        assert!(runtime.report(&format!("r{round}-c0")).await.unwrap().is_none());
        assert!(runtime.state(&call).await.unwrap().is_none());
        pass_until(Duration::from_secs(120), || memory.others() == (0, 0, 0)).await;
        assert_eq!(memory.others(), (0, 0, 0), "round {round}: conversations expired");
    }
    // Calls, links and reports of the ended half, and conversations: all counted.
    let expired = runtime.store_stats().expired.load(Ordering::Relaxed);
    assert_eq!(expired as usize, 3 * (CALLS + CALLS + CALLS / 2 + CALLS));
    runtime.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_live_call_whose_record_is_evicted_loses_nothing() {
    let retention = RetentionConfig {
        max_stored_calls: 4,
        ..RetentionConfig::default()
    };
    let config = RuntimeConfig {
        idle_timeout_seconds: 100_000.0,
        ..RuntimeConfig::default()
    };
    let runtime = start(retention, config).await;
    let memory = memory_of(&runtime);
    let expected: Vec<String> = (0..15).map(|i| format!("keep {i}")).collect();
    for (i, text) in expected[..10].iter().enumerate() {
        runtime.ingest(said("keep", i as i64, text)).await.unwrap();
    }
    // Newer calls push the live call's record out of the store (least recently written first).
    for other in 0..8 {
        tokio::time::advance(Duration::from_millis(5)).await;
        runtime.ingest(said(&format!("other-{other}"), 1, "hi")).await.unwrap();
    }
    assert!(runtime.stored_state("keep").await.unwrap().is_none(), "evicted");
    assert!(memory.calls() <= 4);
    assert_eq!(runtime.stats().store_heals.load(Ordering::Relaxed), 0);

    // The next event finds its record gone: the actor re-seeds the store before it is acknowledged.
    for (i, text) in expected.iter().enumerate().skip(10) {
        runtime.ingest(said("keep", i as i64, text)).await.unwrap();
    }
    assert_eq!(
        runtime.stats().store_heals.load(Ordering::Relaxed),
        1,
        "one heal, logged once"
    );
    let live: Vec<String> = runtime
        .state("keep")
        .await
        .unwrap()
        .unwrap()
        .conversation()
        .iter()
        .map(|turn| turn.text.clone())
        .collect();
    assert_eq!(live, expected);
    assert_eq!(
        stored_texts(&runtime, "keep").await,
        expected,
        "the store has it all again"
    );
    assert_eq!(memory.journal_len("keep"), 5, "the snapshot covers the re-seeded part");
    runtime.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_live_call_whose_record_expires_loses_nothing() {
    let retention = RetentionConfig {
        call_ttl_seconds: 60,
        ..RetentionConfig::default()
    };
    let config = RuntimeConfig {
        idle_timeout_seconds: 100_000.0,
        ..RuntimeConfig::default()
    };
    let runtime = start(retention, config).await;
    let memory = memory_of(&runtime);
    for i in 0..10 {
        runtime.ingest(said("slow", i, &format!("t{i}"))).await.unwrap();
    }
    // A pause longer than the call TTL: the sweep drops the record while the actor lives on.
    pass_until(Duration::from_secs(120), || memory.calls() == 0).await;
    assert_eq!(memory.calls(), 0);
    assert_eq!(runtime.live_calls(), 1);
    for i in 10..12 {
        runtime.ingest(said("slow", i, &format!("t{i}"))).await.unwrap();
    }
    let expected: Vec<String> = (0..12).map(|i| format!("t{i}")).collect();
    assert_eq!(stored_texts(&runtime, "slow").await, expected);
    assert_eq!(runtime.stats().store_heals.load(Ordering::Relaxed), 1);
    runtime.shutdown().await;
    // Shutdown checkpointed into the re-seeded record: the snapshot covers the whole journal.
    assert_eq!(memory.journal_len("slow"), 0);
    assert_eq!(stored_texts(&runtime, "slow").await, expected);
}

#[tokio::test(start_paused = true)]
async fn a_retiring_actor_reseeds_a_record_that_expired_under_it() {
    // With events since its last snapshot, and with none (its last event made a snapshot).
    for snapshot_every in [1_000, 5] {
        retire_after_expiry(snapshot_every).await;
    }
}

async fn retire_after_expiry(snapshot_every: u32) {
    let retention = RetentionConfig {
        call_ttl_seconds: 60,
        ..RetentionConfig::default()
    };
    let config = RuntimeConfig {
        idle_timeout_seconds: 100.0,
        snapshot_every,
        ..RuntimeConfig::default()
    };
    let runtime = start(retention, config).await;
    let memory = memory_of(&runtime);
    for i in 0..5 {
        runtime.ingest(said("quiet", i, &format!("q{i}"))).await.unwrap();
    }
    // The record expires at 60 s; the actor retires idle at about 100 s, saving its state on the way out.
    pass_until(Duration::from_secs(200), || runtime.live_calls() == 0).await;
    assert_eq!(runtime.live_calls(), 0);
    let expected: Vec<String> = (0..5).map(|i| format!("q{i}")).collect();
    assert_eq!(
        stored_texts(&runtime, "quiet").await,
        expected,
        "snapshot_every {snapshot_every}"
    );
    assert_eq!(runtime.stats().store_heals.load(Ordering::Relaxed), 1);
    assert_eq!(memory.calls(), 1);
    runtime.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_drains_every_actor_into_its_snapshot() {
    let runtime = start(RetentionConfig::default(), RuntimeConfig::default()).await;
    let memory = memory_of(&runtime);
    const CALLS: usize = 200;
    for i in 0..CALLS * 3 {
        runtime
            .ingest(said(&format!("c{}", i % CALLS), i as i64, &format!("t{i}")))
            .await
            .unwrap();
    }
    assert_eq!(runtime.live_calls(), CALLS);
    runtime.shutdown().await;
    assert_eq!(runtime.live_calls(), 0);
    for call in 0..CALLS {
        let call = format!("c{call}");
        assert_eq!(
            memory.journal_len(&call),
            0,
            "{call}: the snapshot covers the whole journal"
        );
        assert_eq!(stored_texts(&runtime, &call).await.len(), 3, "{call}");
    }
}
