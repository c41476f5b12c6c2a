//! The runtime over real actors: one actor per call under concurrency, supervision, idle retirement, the
//! lifecycle of an ended call, caps, and a property test that interleaving calls changes nothing.

use std::sync::atomic::Ordering;
use std::time::Duration;

use call_runtime::{CallRuntime, RuntimeConfig, Store, StoredReport};
use call_state::{CallEvent, CallState, EventKind, Limits, Role};
use proptest::prelude::*;

fn transcript(call: &str, at: i64, text: &str) -> CallEvent {
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

fn status(call: &str, at: i64, status: &str) -> CallEvent {
    let ended_reason = (status == "ended").then(|| "customer-ended-call".to_string());
    CallEvent::new(
        call,
        Some(at),
        EventKind::Status {
            status: status.into(),
            ended_reason,
        },
    )
}

fn report(call: &str, at: i64) -> CallEvent {
    CallEvent::new(
        call,
        Some(at),
        EventKind::EndOfCallReport {
            ended_reason: Some("customer-ended-call".into()),
            summary: Some("The caller asked about order 4417.".into()),
            cost: Some(0.05),
            duration_seconds: Some(42.0),
            ended_at_ms: Some(at),
        },
    )
}

async fn runtime(config: RuntimeConfig) -> CallRuntime {
    CallRuntime::start(Store::default(), config).await.unwrap()
}

/// Waits (bounded) until `done` holds, yielding to the actors meanwhile.
async fn eventually(mut done: impl FnMut() -> bool) {
    for _ in 0..500 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("condition not reached");
}

fn texts(state: &CallState) -> Vec<String> {
    state.conversation().iter().map(|turn| turn.text.clone()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_first_events_start_one_actor() {
    let runtime = runtime(RuntimeConfig::default()).await;
    let tasks: Vec<_> = (0..64)
        .map(|i| {
            let runtime = runtime.clone();
            tokio::spawn(async move { runtime.ingest(transcript("c-race", i, &format!("utterance {i}"))).await })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let state = runtime.state("c-race").await.unwrap().unwrap();
    assert_eq!(state.events_applied(), 64);
    assert_eq!(state.conversation().len(), 64);
    assert_eq!(runtime.live_calls(), 1);
    assert_eq!(
        runtime.stats().actors_started.load(Ordering::Relaxed),
        1,
        "exactly one actor was spawned"
    );
    runtime.shutdown().await;
}

#[tokio::test]
async fn a_failed_actor_restarts_from_its_snapshot_and_journal() {
    let config = RuntimeConfig {
        snapshot_every: 4,
        ..RuntimeConfig::default()
    };
    let runtime = runtime(config).await;
    for i in 0..10 {
        runtime
            .ingest(transcript("c-crash", i, &format!("turn {i}")))
            .await
            .unwrap();
        runtime
            .ingest(transcript("c-calm", i, &format!("calm {i}")))
            .await
            .unwrap();
    }
    let before = runtime.state("c-crash").await.unwrap().unwrap();
    assert!(runtime.fail("c-crash", "test"));
    eventually(|| runtime.stats().restarts.load(Ordering::Relaxed) == 1).await;
    // Events sent right after the failure are not lost either.
    runtime
        .ingest(transcript("c-crash", 100, "after the crash"))
        .await
        .unwrap();
    let after = runtime.state("c-crash").await.unwrap().unwrap();
    let mut expected = texts(&before);
    expected.push("after the crash".into());
    assert_eq!(texts(&after), expected);
    assert_eq!(after.events_applied(), 11);
    // The other call was not touched.
    assert_eq!(runtime.state("c-calm").await.unwrap().unwrap().conversation().len(), 10);
    assert_eq!(
        runtime.stats().actors_started.load(Ordering::Relaxed),
        3,
        "two calls plus one restart"
    );
    runtime.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn idle_calls_retire_and_keep_their_state() {
    let config = RuntimeConfig {
        idle_timeout_seconds: 30.0,
        ..RuntimeConfig::default()
    };
    let runtime = runtime(config).await;
    runtime.ingest(transcript("c-idle", 1, "hello")).await.unwrap();
    runtime.ingest(transcript("c-busy", 1, "hello")).await.unwrap();
    for step in 0..8 {
        tokio::time::sleep(Duration::from_secs(5)).await;
        runtime
            .ingest(transcript("c-busy", 10 + step, &format!("still here {step}")))
            .await
            .unwrap();
    }
    // 40 s later: the idle call has retired, the busy one is live.
    eventually(|| runtime.live_calls() == 1).await;
    assert_eq!(runtime.stats().retired_idle.load(Ordering::Relaxed), 1);
    assert_eq!(texts(&runtime.state("c-idle").await.unwrap().unwrap()), ["hello"]);
    assert_eq!(runtime.live_calls(), 1, "reading a retired call does not revive it");
    runtime.shutdown().await;
}

#[tokio::test]
async fn an_ended_call_retires_and_late_events_are_still_stored() {
    let runtime = runtime(RuntimeConfig::default()).await;
    runtime.ingest(status("c-end", 1, "in-progress")).await.unwrap();
    runtime
        .ingest(transcript("c-end", 2, "my order is 4417"))
        .await
        .unwrap();
    runtime.ingest(status("c-end", 3, "ended")).await.unwrap();
    runtime.ingest(report("c-end", 4)).await.unwrap();
    eventually(|| runtime.live_calls() == 0).await;
    assert_eq!(runtime.stats().retired_ended.load(Ordering::Relaxed), 1);

    // A straggling transcript and a redelivered report after retirement.
    runtime.ingest(transcript("c-end", 5, "thanks, bye")).await.unwrap();
    runtime
        .save_report(StoredReport {
            call_id: "c-end".into(),
            ended_reason: Some("customer-ended-call".into()),
            summary: Some("late".into()),
            cost: None,
            duration_seconds: None,
            received_at_ms: 6,
            body: "{\"message\":{}}".into(),
        })
        .await
        .unwrap();
    let state = runtime.state("c-end").await.unwrap().unwrap();
    assert_eq!(texts(&state), ["my order is 4417", "thanks, bye"]);
    assert_eq!(
        state.report().and_then(|r| r.summary.as_deref()),
        Some("The caller asked about order 4417.")
    );
    assert_eq!(
        runtime.report("c-end").await.unwrap().unwrap().summary.as_deref(),
        Some("late")
    );
    eventually(|| runtime.live_calls() == 0).await;
    runtime.shutdown().await;
}

#[tokio::test]
async fn caps_trim_and_the_runtime_counts_it() {
    let limits = Limits {
        max_turns: 3,
        ..Limits::default()
    };
    let runtime = runtime(RuntimeConfig {
        limits,
        ..RuntimeConfig::default()
    })
    .await;
    for i in 0..5 {
        runtime
            .ingest(transcript("c-cap", i, &format!("turn {i}")))
            .await
            .unwrap();
    }
    let state = runtime.state("c-cap").await.unwrap().unwrap();
    assert_eq!(texts(&state), ["turn 2", "turn 3", "turn 4"]);
    assert_eq!(state.trimmed().turns, 2);
    assert_eq!(runtime.stats().trimmed[0].load(Ordering::Relaxed), 2);
    runtime.shutdown().await;
}

#[tokio::test]
async fn too_many_live_calls_are_refused_without_journaling() {
    let runtime = runtime(RuntimeConfig {
        max_live_calls: 2,
        ..RuntimeConfig::default()
    })
    .await;
    runtime.ingest(transcript("a", 1, "x")).await.unwrap();
    runtime.ingest(transcript("b", 1, "x")).await.unwrap();
    assert!(matches!(
        runtime.ingest(transcript("c", 1, "x")).await,
        Err(call_runtime::RuntimeError::TooManyCalls(2))
    ));
    runtime.ingest(transcript("a", 2, "y")).await.unwrap();
    assert!(runtime.state("c").await.unwrap().is_none());
    runtime.shutdown().await;
}

#[tokio::test]
async fn shutdown_persists_every_call() {
    let store = Store::default();
    let runtime = CallRuntime::start(store.clone(), RuntimeConfig::default())
        .await
        .unwrap();
    for i in 0..20 {
        runtime
            .ingest(transcript(&format!("c{}", i % 4), i, &format!("t{i}")))
            .await
            .unwrap();
    }
    runtime.shutdown().await;
    let again = CallRuntime::start(store, RuntimeConfig::default()).await.unwrap();
    assert_eq!(again.state("c1").await.unwrap().unwrap().conversation().len(), 5);
    again.shutdown().await;
}

/// Scripts for several calls, each a list of (text index, duplicated?) pairs.
fn scripts() -> impl Strategy<Value = Vec<Vec<(u8, bool)>>> {
    prop::collection::vec(prop::collection::vec((0u8..20, any::<bool>()), 1..12), 1..6)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn interleaving_calls_with_duplicates_equals_each_call_alone(scripts in scripts(), seed in any::<u64>()) {
        let limits = Limits::default();
        // Each call's own events, in order, each delivered once or twice.
        let calls: Vec<Vec<CallEvent>> = scripts
            .iter()
            .enumerate()
            .map(|(c, script)| {
                script
                    .iter()
                    .enumerate()
                    .map(|(i, (text, _))| match text % 5 {
                        0 => status(&format!("p{c}"), i as i64, "in-progress"),
                        1 => CallEvent::new(format!("p{c}"), Some(i as i64), EventKind::Hang),
                        _ => transcript(&format!("p{c}"), i as i64, &format!("words {text}")),
                    })
                    .collect()
            })
            .collect();
        let mut deliveries: Vec<Vec<CallEvent>> = calls
            .iter()
            .zip(&scripts)
            .map(|(events, script)| {
                events
                    .iter()
                    .zip(script)
                    .flat_map(|(event, (_, twice))| std::iter::repeat_n(event.clone(), if *twice { 2 } else { 1 }))
                    .collect()
            })
            .collect();
        // A random interleaving that keeps each call's order.
        let mut rng = seed;
        let mut order = Vec::new();
        while deliveries.iter().any(|d| !d.is_empty()) {
            rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let nonempty: Vec<usize> = (0..deliveries.len()).filter(|&i| !deliveries[i].is_empty()).collect();
            let pick = nonempty[(rng >> 33) as usize % nonempty.len()];
            order.push(deliveries[pick].remove(0));
        }
        let tokio = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        tokio.block_on(async {
            let runtime = runtime(RuntimeConfig { snapshot_every: 3, ..RuntimeConfig::default() }).await;
            for event in order {
                runtime.ingest(event).await.unwrap();
            }
            for (c, events) in calls.iter().enumerate() {
                let mut expected = CallState::new(format!("p{c}"));
                for event in events {
                    expected.apply(event, &limits);
                }
                let got = runtime.state(&format!("p{c}")).await.unwrap().unwrap();
                assert_eq!(got, expected);
            }
            runtime.shutdown().await;
        });
    }
}
