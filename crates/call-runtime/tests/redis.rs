//! The runtime over a real `redis-server` that each test starts on a free loopback port: two instances
//! sharing one Redis agree with a single-instance run, replays are journaled once across instances, and a
//! Redis killed mid-call loses nothing that was acknowledged while the runtime recovers without a restart. The
//! store's own contract (idempotency, snapshots, TTLs, bounds) is tested against both stores in
//! `src/store/contract.rs`.

#[path = "support/redis_server.rs"]
mod redis_server;

use std::sync::Arc;
use std::time::Duration;

use call_runtime::{CallRuntime, RedisConfig, Replay, RetentionConfig, RuntimeConfig, Store, Unclaimable};
use call_state::{CallEvent, CallState, EventKind, Limits, Role, ToolInvocation};
use redis_server::RedisServer;
use serde_json::json;

/// A deterministic generator (an LCG), so a failure replays exactly.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn config(url: &str) -> RedisConfig {
    RedisConfig {
        key_prefix: "test:".into(),
        response_timeout_ms: 500,
        connect_timeout_ms: 300,
        reconnect_retries: 1,
        reconnect_max_delay_ms: 100,
        ..RedisConfig::new(url)
    }
}

async fn redis_store(url: &str) -> Store {
    Store::connect(&config(url)).await.expect("connect to the test redis")
}

/// A raw connection for inspecting keys.
async fn raw(url: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

fn transcript(call: &str, at: i64, role: Role, is_final: bool, text: &str) -> CallEvent {
    CallEvent::new(
        call,
        Some(at),
        EventKind::Transcript {
            role,
            is_final,
            text: text.into(),
        },
    )
}

/// A scripted call of about 60 events: status, partial and final transcripts of both sides, speech, tool
/// calls and results, memory writes, a transfer, the end and the report.
fn scripted_call(call: &str) -> Vec<CallEvent> {
    let mut events = vec![CallEvent::new(
        call,
        Some(1),
        EventKind::Status {
            status: "in-progress".into(),
            ended_reason: None,
        },
    )];
    let mut at = 10;
    for turn in 0..11u64 {
        at += 10;
        let said = format!("my order number is {}", 4400 + turn);
        events.push(CallEvent::new(
            call,
            Some(at),
            EventKind::Speech {
                role: Role::User,
                started: true,
                turn: Some(turn),
            },
        ));
        events.push(transcript(call, at + 1, Role::User, false, &said[..said.len() / 2]));
        events.push(transcript(call, at + 2, Role::User, true, &said));
        events.push(transcript(
            call,
            at + 3,
            Role::Assistant,
            true,
            &format!("checking order {}", 4400 + turn),
        ));
        if turn % 3 == 1 {
            let id = format!("tool-{turn}");
            events.push(CallEvent::new(
                call,
                Some(at + 4),
                EventKind::ToolCalls {
                    calls: vec![ToolInvocation {
                        id: id.clone(),
                        name: "lookup_order".into(),
                        arguments: json!({ "order": 4400 + turn }),
                    }],
                },
            ));
            events.push(CallEvent::new(
                call,
                Some(at + 5),
                EventKind::ToolResult {
                    tool_call_id: id,
                    name: Some("lookup_order".into()),
                    result: Some(format!("order {} ships tomorrow", 4400 + turn)),
                    error: None,
                },
            ));
            events.push(CallEvent::new(
                call,
                Some(at + 6),
                EventKind::MemorySet {
                    key: format!("order-{turn}"),
                    value: json!({ "status": "shipping", "turn": turn }),
                },
            ));
        }
    }
    events.push(CallEvent::new(
        call,
        Some(at + 20),
        EventKind::Transfer {
            kind: Some("number".into()),
            target: Some("+15550100".into()),
            to_assistant: None,
            from_assistant: None,
        },
    ));
    events.push(CallEvent::new(
        call,
        Some(at + 30),
        EventKind::Status {
            status: "ended".into(),
            ended_reason: Some("customer-ended-call".into()),
        },
    ));
    events.push(CallEvent::new(
        call,
        Some(at + 31),
        EventKind::EndOfCallReport {
            ended_reason: Some("customer-ended-call".into()),
            summary: Some("Orders checked.".into()),
            cost: Some(0.12),
            duration_seconds: Some(95.0),
            ended_at_ms: Some(at + 31),
        },
    ));
    events
}

/// The deliveries of a script: each event in order, and now and then a replay of an earlier one.
fn with_replays(events: &[CallEvent], rng: &mut Rng) -> Vec<CallEvent> {
    let mut deliveries = Vec::new();
    for (i, event) in events.iter().enumerate() {
        deliveries.push(event.clone());
        if rng.below(5) == 0 {
            deliveries.push(events[rng.below(i + 1)].clone());
        }
    }
    deliveries
}

fn fold(call: &str, events: &[CallEvent]) -> CallState {
    let limits = Limits::default();
    let mut state = CallState::new(call);
    for event in events {
        state.apply(event, &limits);
    }
    state
}

fn runtime_config() -> RuntimeConfig {
    RuntimeConfig {
        // Small, so instances checkpoint (and trim each other's journal) many times during the call.
        snapshot_every: 5,
        ..RuntimeConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_sharing_redis_answer_like_one() {
    let server = RedisServer::start();
    let call = "c-shared";
    for seed in [7u64, 1234, 99] {
        let call = format!("{call}-{seed}");
        let mut rng = Rng(seed);
        let events = scripted_call(&call);
        let deliveries = with_replays(&events, &mut rng);
        assert!(deliveries.len() > events.len(), "the script replays some events");
        assert!(events.len() >= 50, "about 60 events, got {}", events.len());

        let instances = [
            CallRuntime::start(redis_store(&server.url()).await, runtime_config())
                .await
                .unwrap(),
            CallRuntime::start(redis_store(&server.url()).await, runtime_config())
                .await
                .unwrap(),
        ];
        let single = CallRuntime::start(Store::default(), runtime_config()).await.unwrap();
        for (i, event) in deliveries.iter().enumerate() {
            instances[rng.below(2)].ingest(event.clone()).await.unwrap();
            single.ingest(event.clone()).await.unwrap();
            // A tool call arrives now and then, at either instance: its answer must reflect every event
            // acknowledged so far, whichever instance took it.
            if rng.below(4) == 0 {
                let asked = &instances[rng.below(2)];
                let queried = asked.query(&call).await.unwrap().unwrap();
                assert!(!queried.is_stale());
                let expected = single.state(&call).await.unwrap().unwrap();
                assert_eq!(*queried.state, expected, "seed {seed}, after delivery {i}");
                assert_eq!(
                    *queried.state,
                    fold(&call, &deliveries[..=i]),
                    "seed {seed}, after delivery {i}"
                );
            }
        }
        let expected = fold(&call, &events);
        assert_eq!(expected.events_applied(), events.len() as u64);
        for (n, instance) in instances.iter().enumerate() {
            let state = instance.state(&call).await.unwrap().unwrap();
            assert_eq!(state, expected, "seed {seed}, instance {n}");
        }
        assert_eq!(single.state(&call).await.unwrap().unwrap(), expected);

        // Replays were journaled once across both instances: the journal's seq counter counts each event once.
        let mut redis = raw(&server.url()).await;
        let seq: u64 = redis::cmd("GET")
            .arg(format!("test:call:{{{call}}}:seq"))
            .query_async(&mut redis)
            .await
            .unwrap();
        assert_eq!(seq, events.len() as u64, "seed {seed}");
        for instance in &instances {
            // Each instance caught up on events the other journaled (at holes and before answering).
            assert!(instance.stats().catch_ups.load(std::sync::atomic::Ordering::Relaxed) > 0);
            instance.shutdown().await;
        }
        single.shutdown().await;
        // A third instance started afterwards rebuilds the same state from Redis alone.
        let later = CallRuntime::start(redis_store(&server.url()).await, runtime_config())
            .await
            .unwrap();
        assert_eq!(later.state(&call).await.unwrap().unwrap(), expected, "seed {seed}");
        later.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tool_call_runs_once_across_runtimes_and_its_record_expires() {
    let server = RedisServer::start();
    let (one, two) = (redis_store(&server.url()).await, redis_store(&server.url()).await);
    let a = CallRuntime::start(one.clone(), RuntimeConfig::default()).await.unwrap();
    let b = CallRuntime::start(two, RuntimeConfig::default()).await.unwrap();
    let runs = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let tool = |pause: Duration| {
        let runs = Arc::clone(&runs);
        async move {
            let run = runs.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
            tokio::time::sleep(pause).await;
            format!("#{run}")
        }
    };
    let deadline = Duration::from_secs(2);
    let later = async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        b.run_tool_once("c-tool", "t-1", deadline, Unclaimable::Refuse, tool(Duration::ZERO))
            .await
    };
    let (first, second) = tokio::join!(
        a.run_tool_once(
            "c-tool",
            "t-1",
            deadline,
            Unclaimable::Refuse,
            tool(Duration::from_millis(400))
        ),
        later,
    );
    let (first, second) = (first.unwrap(), second.unwrap());
    assert_eq!((&*first.answer, first.replay), ("#1", None));
    assert_eq!((&*second.answer, second.replay), ("#1", Some(Replay::InFlight)));
    let third = b
        .run_tool_once("c-tool", "t-1", deadline, Unclaimable::Refuse, tool(Duration::ZERO))
        .await
        .unwrap();
    assert_eq!((&*third.answer, third.replay), ("#1", Some(Replay::Completed)));
    assert_eq!(runs.load(std::sync::atomic::Ordering::SeqCst), 1);

    // The answer expires with the call; the claim is gone once the answer is recorded.
    let key = |part: &str| format!("test:call:{{c-tool}}:{part}");
    let mut raw = raw(&server.url()).await;
    let ttl: i64 = redis::cmd("TTL").arg(key("tools")).query_async(&mut raw).await.unwrap();
    assert!(
        ttl > 0 && ttl as u64 <= RetentionConfig::default().call_ttl_seconds,
        "TTL {ttl}"
    );
    let claims: i64 = redis::cmd("EXISTS")
        .arg(key("tool-claim:t-1"))
        .query_async(&mut raw)
        .await
        .unwrap();
    assert_eq!(claims, 0);

    // A claim whose owner is gone (written, never completed) lapses, and the waiting delivery runs the call.
    let _: () = redis::cmd("SET")
        .arg(key("tool-claim:t-2"))
        .arg("dead-owner")
        .arg("PX")
        .arg(300)
        .query_async(&mut raw)
        .await
        .unwrap();
    let taken = a
        .run_tool_once("c-tool", "t-2", deadline, Unclaimable::Refuse, tool(Duration::ZERO))
        .await
        .unwrap();
    assert_eq!((&*taken.answer, taken.replay), ("#2", None));
    a.shutdown().await;
    b.shutdown().await;
}

/// Ingests `event`, retrying as Vapi does after a 503, a bounded number of times.
async fn ingest_with_retries(runtime: &CallRuntime, event: &CallEvent) {
    for _ in 0..100 {
        if runtime.ingest(event.clone()).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("ingest kept failing after redis returned");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_killed_mid_call_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = RedisServer::start_durable(dir.path());
    let call = "c-outage";
    let events = scripted_call(call);
    let (before, after) = events.split_at(events.len() / 2);
    let runtime = CallRuntime::start(redis_store(&server.url()).await, runtime_config())
        .await
        .unwrap();
    for event in before {
        runtime.ingest(event.clone()).await.unwrap();
    }
    assert!(runtime.readiness().await.is_ok());

    server.kill();
    // While Redis is down: not ready, events refused (the edge answers 503), and a tool call is answered
    // from what this instance knows, flagged as possibly stale.
    assert!(runtime.readiness().await.is_err(), "readiness fails");
    for event in &after[..3] {
        assert!(
            runtime.ingest(event.clone()).await.is_err(),
            "an event is refused while redis is down"
        );
    }
    let queried = runtime.query(call).await.unwrap().unwrap();
    assert!(queried.is_stale());
    assert_eq!(
        *queried.state,
        fold(call, before),
        "the local state has every acknowledged event"
    );
    assert_eq!(runtime.state(call).await.unwrap().unwrap(), fold(call, before));

    server.restart();
    // Recovery needs no restart of the runtime: readiness returns by itself.
    let mut ready = false;
    for _ in 0..200 {
        if runtime.readiness().await.is_ok() {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(ready, "the store became ready again");
    // What was acknowledged before the kill survived it (read by a fresh instance, from Redis alone).
    let fresh = CallRuntime::start(redis_store(&server.url()).await, runtime_config())
        .await
        .unwrap();
    assert_eq!(fresh.state(call).await.unwrap().unwrap(), fold(call, before));
    fresh.shutdown().await;

    // The refused events come again (Vapi retries after a 503), then the rest of the call.
    for event in after {
        ingest_with_retries(&runtime, event).await;
    }
    let queried = runtime.query(call).await.unwrap().unwrap();
    assert!(!queried.is_stale());
    assert_eq!(*queried.state, fold(call, &events));
    runtime.shutdown().await;

    let fresh = CallRuntime::start(redis_store(&server.url()).await, runtime_config())
        .await
        .unwrap();
    assert_eq!(fresh.state(call).await.unwrap().unwrap(), fold(call, &events));
    fresh.shutdown().await;
}

/// Two instances hold the same call when Redis loses everything; events keep alternating between them. The
/// first to notice re-seeds the store from its state, the other merges what it has that the first lacked (the
/// last event it took before the loss) and adopts the rest: both, and a fresh instance, end with every event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_heal_a_flushed_redis_without_losing_either_side() {
    let server = RedisServer::start();
    let call = "c-flushed";
    let events: Vec<CallEvent> = (0..60)
        .map(|i| transcript(call, i, Role::User, true, &format!("line {i}")))
        .collect();
    let instances = [
        CallRuntime::start(redis_store(&server.url()).await, runtime_config())
            .await
            .unwrap(),
        CallRuntime::start(redis_store(&server.url()).await, runtime_config())
            .await
            .unwrap(),
    ];
    for (i, event) in events[..30].iter().enumerate() {
        instances[i % 2].ingest(event.clone()).await.unwrap();
    }
    let mut redis = raw(&server.url()).await;
    redis::cmd("FLUSHALL").query_async::<()>(&mut redis).await.unwrap();
    for (i, event) in events.iter().enumerate().skip(30) {
        instances[i % 2].ingest(event.clone()).await.unwrap();
    }
    let expected = fold(call, &events);
    for (n, instance) in instances.iter().enumerate() {
        let queried = instance.query(call).await.unwrap().unwrap();
        assert!(!queried.is_stale());
        assert_eq!(queried.state.conversation(), expected.conversation(), "instance {n}");
    }
    let heals: u64 = instances
        .iter()
        .map(|instance| instance.stats().store_heals.load(std::sync::atomic::Ordering::Relaxed))
        .sum();
    assert!((1..=2).contains(&heals), "{heals} heals");
    for instance in &instances {
        instance.shutdown().await;
    }
    let fresh = CallRuntime::start(redis_store(&server.url()).await, runtime_config())
        .await
        .unwrap();
    assert_eq!(
        fresh.state(call).await.unwrap().unwrap().conversation(),
        expected.conversation()
    );
    fresh.shutdown().await;
}

/// A Redis restarted empty under a single instance: acknowledged events before and after are all kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_restarted_empty_mid_call_is_reseeded_from_the_live_actor() {
    let mut server = RedisServer::start();
    let call = "c-restarted";
    let events = scripted_call(call);
    let (before, after) = events.split_at(events.len() / 2);
    let runtime = CallRuntime::start(redis_store(&server.url()).await, runtime_config())
        .await
        .unwrap();
    for event in before {
        runtime.ingest(event.clone()).await.unwrap();
    }
    server.restart();
    for event in after {
        ingest_with_retries(&runtime, event).await;
    }
    assert_eq!(runtime.state(call).await.unwrap().unwrap(), fold(call, &events));
    assert_eq!(
        runtime.stats().store_heals.load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    runtime.shutdown().await;
    let fresh = CallRuntime::start(redis_store(&server.url()).await, runtime_config())
        .await
        .unwrap();
    assert_eq!(fresh.state(call).await.unwrap().unwrap(), fold(call, &events));
    fresh.shutdown().await;
}

/// A failover to a replica that lagged: the call's keys go back to an older copy of the same record. The
/// instance notices before it acknowledges the next event (the record has handed out fewer seqs than it
/// folded) and re-seeds it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_copy_of_the_record_is_noticed_and_reseeded() {
    let server = RedisServer::start();
    let call = "c-stale";
    let events: Vec<CallEvent> = (0..50)
        .map(|i| transcript(call, i, Role::Assistant, true, &format!("line {i}")))
        .collect();
    let runtime = CallRuntime::start(redis_store(&server.url()).await, runtime_config())
        .await
        .unwrap();
    for event in &events[..20] {
        runtime.ingest(event.clone()).await.unwrap();
    }
    let mut redis = raw(&server.url()).await;
    let keys: Vec<String> = ["seq", "journal", "ids", "snapshot", "gen"]
        .iter()
        .map(|part| format!("test:call:{{{call}}}:{part}"))
        .collect();
    let mut copies = Vec::new();
    for key in &keys {
        // `None` for a key that did not exist (the journal, when a snapshot just trimmed it).
        let dumped: Option<Vec<u8>> = redis::cmd("DUMP").arg(key).query_async(&mut redis).await.unwrap();
        copies.push(dumped);
    }
    for event in &events[20..40] {
        runtime.ingest(event.clone()).await.unwrap();
    }
    for (key, copy) in keys.iter().zip(&copies) {
        let command = match copy {
            Some(copy) => {
                let mut restore = redis::cmd("RESTORE");
                restore.arg(key).arg(0).arg(copy.as_slice()).arg("REPLACE");
                restore
            }
            None => {
                let mut delete = redis::cmd("DEL");
                delete.arg(key);
                delete
            }
        };
        command.query_async::<()>(&mut redis).await.unwrap();
    }
    for event in &events[40..] {
        runtime.ingest(event.clone()).await.unwrap();
    }
    let expected = fold(call, &events);
    assert_eq!(runtime.state(call).await.unwrap().unwrap(), expected);
    assert_eq!(
        runtime.stats().store_heals.load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    runtime.shutdown().await;
    let fresh = CallRuntime::start(redis_store(&server.url()).await, runtime_config())
        .await
        .unwrap();
    assert_eq!(fresh.state(call).await.unwrap().unwrap(), expected);
    fresh.shutdown().await;
}

/// Polls `done` every 20 ms for at most 10 s.
async fn eventually(mut done: impl FnMut() -> bool) -> bool {
    for _ in 0..500 {
        if done() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    done()
}

/// When a call's events move to another instance (a load balancer's choice), the actor left behind retires
/// after the short unserved timeout while the instance now taking the events keeps its own; when the events
/// move back, the roles swap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actors_of_calls_an_instance_does_not_serve_retire_sooner() {
    let server = RedisServer::start();
    let config = RuntimeConfig {
        idle_timeout_seconds: 60.0,
        unserved_idle_timeout_seconds: 0.3,
        ..RuntimeConfig::default()
    };
    let a = CallRuntime::start(redis_store(&server.url()).await, config.clone())
        .await
        .unwrap();
    let b = CallRuntime::start(redis_store(&server.url()).await, config)
        .await
        .unwrap();
    a.ingest(transcript("moving", 1, Role::User, true, "hello"))
        .await
        .unwrap();
    b.ingest(transcript("moving", 2, Role::User, true, "moved"))
        .await
        .unwrap();
    assert_eq!((a.live_calls(), b.live_calls()), (1, 1));
    assert!(eventually(|| a.live_calls() == 0).await, "a's actor retired");
    assert_eq!(a.retired_unserved(), 1);
    assert_eq!(b.live_calls(), 1, "b serves the call: its actor stays");
    assert_eq!(b.retired_unserved(), 0);

    a.ingest(transcript("moving", 3, Role::User, true, "back"))
        .await
        .unwrap();
    assert!(eventually(|| b.live_calls() == 0).await, "b's actor retired");
    assert_eq!(b.retired_unserved(), 1);
    assert_eq!(a.live_calls(), 1, "a serves the call again");
    let texts: Vec<String> = a
        .state("moving")
        .await
        .unwrap()
        .unwrap()
        .conversation()
        .iter()
        .map(|turn| turn.text.clone())
        .collect();
    assert_eq!(texts, ["hello", "moved", "back"]);
    a.shutdown().await;
    b.shutdown().await;
}
