//! The Redis store against a real `redis-server` that each test starts on a free loopback port: two
//! instances sharing one Redis agree with a single-instance run, replays are journaled once across
//! instances, snapshots trim the journal, keys carry TTLs, and a Redis killed mid-call loses nothing that was
//! acknowledged while the runtime recovers without a restart.

#[path = "support/redis_server.rs"]
mod redis_server;

use std::sync::Arc;
use std::time::Duration;

use call_runtime::{CallRuntime, RedisConfig, RedisStore, RuntimeConfig, Snapshot, Store, StoredReport};
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

fn redis_of(store: &Store) -> &RedisStore {
    match store {
        Store::Redis(redis) => redis,
        Store::Memory(_) => panic!("expected the redis store"),
    }
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

#[tokio::test]
async fn appends_are_idempotent_across_instances() {
    let server = RedisServer::start();
    let a = redis_store(&server.url()).await;
    let b = redis_store(&server.url()).await;
    let first = Arc::new(transcript("c-idem", 1, Role::User, true, "hello"));
    let second = Arc::new(transcript("c-idem", 2, Role::User, true, "again"));
    assert_eq!(a.append(Arc::clone(&first)).await.unwrap(), 1);
    assert_eq!(
        b.append(Arc::clone(&first)).await.unwrap(),
        1,
        "a replay at another instance"
    );
    assert_eq!(
        a.append(Arc::clone(&first)).await.unwrap(),
        1,
        "a replay at the same instance"
    );
    assert_eq!(b.append(Arc::clone(&second)).await.unwrap(), 2);
    assert_eq!(a.append(Arc::clone(&second)).await.unwrap(), 2);
    let (snapshot, journal) = a.load("c-idem").await.unwrap();
    assert!(snapshot.is_none());
    let journal: Vec<(u64, CallEvent)> = journal
        .into_iter()
        .map(|(seq, event)| (seq, (*event).clone()))
        .collect();
    assert_eq!(journal, [(1, (*first).clone()), (2, (*second).clone())]);
    assert_eq!(a.load_since("c-idem", 1).await.unwrap().1.len(), 1);
    assert!(a.load_since("c-idem", 2).await.unwrap().1.is_empty());
    assert!(a.load("c-never").await.unwrap().1.is_empty());
}

#[tokio::test]
async fn snapshots_trim_the_journal_and_never_go_back() {
    let server = RedisServer::start();
    let store = redis_store(&server.url()).await;
    let runtime = CallRuntime::start(
        store.clone(),
        RuntimeConfig {
            snapshot_every: 4,
            ..RuntimeConfig::default()
        },
    )
    .await
    .unwrap();
    let events: Vec<CallEvent> = (0..10)
        .map(|i| transcript("c-snap", i, Role::User, true, &format!("turn {i}")))
        .collect();
    for event in &events {
        runtime.ingest(event.clone()).await.unwrap();
    }
    let state = runtime.state("c-snap").await.unwrap().unwrap();
    assert_eq!(state, fold("c-snap", &events));
    let redis = redis_of(&store);
    let mut raw = raw(&server.url()).await;
    let journal_len: u64 = redis::cmd("ZCARD")
        .arg(redis.call_key("c-snap", "journal"))
        .query_async(&mut raw)
        .await
        .unwrap();
    assert_eq!(journal_len, 2, "the snapshot through seq 8 trimmed entries 1..=8");
    let (snapshot, journal) = store.load("c-snap").await.unwrap();
    let snapshot = snapshot.unwrap();
    assert_eq!(snapshot.through, 8);
    assert_eq!(snapshot.state, fold("c-snap", &events[..8]));
    assert_eq!(journal.iter().map(|(seq, _)| *seq).collect::<Vec<_>>(), [9, 10]);

    // A late snapshot of an older actor does not replace the newer one.
    store
        .save_snapshot(Snapshot {
            state: fold("c-snap", &events[..3]),
            through: 3,
        })
        .await
        .unwrap();
    assert_eq!(store.load("c-snap").await.unwrap().0.unwrap().through, 8);
    // A reader at seq 9 gets no snapshot, only what it lacks.
    let (snapshot, journal) = store.load_since("c-snap", 9).await.unwrap();
    assert!(snapshot.is_none());
    assert_eq!(journal.len(), 1);
    runtime.shutdown().await;
    // Shutdown checkpointed everything: the journal is empty, the snapshot is the whole call.
    let (snapshot, journal) = store.load("c-snap").await.unwrap();
    assert_eq!(snapshot.unwrap().through, 10);
    assert!(journal.is_empty());
}

#[tokio::test]
async fn every_key_carries_a_ttl() {
    let server = RedisServer::start();
    let store = redis_store(&server.url()).await;
    let runtime = CallRuntime::start(
        store.clone(),
        RuntimeConfig {
            snapshot_every: 2,
            ..RuntimeConfig::default()
        },
    )
    .await
    .unwrap();
    for i in 0..3 {
        runtime
            .ingest(transcript("c-ttl", i, Role::User, true, &format!("t{i}")))
            .await
            .unwrap();
    }
    runtime.state("c-ttl").await.unwrap();
    runtime
        .save_report(StoredReport {
            call_id: "c-ttl".into(),
            ended_reason: None,
            summary: Some("short".into()),
            cost: None,
            duration_seconds: None,
            received_at_ms: 1,
            body: "{}".into(),
        })
        .await
        .unwrap();
    store.link_conversation("c-ttl", "conv-1").await.unwrap();
    store
        .set_conversation_memory("conv-1", "name", Some(json!("Ada")))
        .await
        .unwrap();
    store
        .set_conversation_memory("conv-1", "gone", Some(json!(1)))
        .await
        .unwrap();
    store.set_conversation_memory("conv-1", "gone", None).await.unwrap();

    // The values round-trip.
    assert_eq!(store.conversation_of("c-ttl").await.unwrap().as_deref(), Some("conv-1"));
    let memory = store.conversation_memory("conv-1").await.unwrap();
    assert_eq!(memory.len(), 1);
    assert_eq!(memory["name"], json!("Ada"));
    assert_eq!(
        store.report("c-ttl").await.unwrap().unwrap().summary.as_deref(),
        Some("short")
    );
    assert!(store.report("c-none").await.unwrap().is_none());

    let redis = redis_of(&store);
    let mut raw = raw(&server.url()).await;
    let defaults = RedisConfig::default();
    for part in ["seq", "journal", "ids", "snapshot", "report", "conversation"] {
        let key = redis.call_key("c-ttl", part);
        let ttl: i64 = redis::cmd("TTL").arg(&key).query_async(&mut raw).await.unwrap();
        assert!(ttl > 0 && ttl as u64 <= defaults.call_ttl_seconds, "{key}: TTL {ttl}");
    }
    let key = redis.conversation_key("conv-1");
    let ttl: i64 = redis::cmd("TTL").arg(&key).query_async(&mut raw).await.unwrap();
    assert!(ttl as u64 > defaults.call_ttl_seconds, "{key}: TTL {ttl}");
    runtime.shutdown().await;
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
    assert!(runtime.store().ping().await.is_ok());

    server.kill();
    // While Redis is down: not ready, events refused (the edge answers 503), and a tool call is answered
    // from what this instance knows, flagged as possibly stale.
    assert!(runtime.store().ping().await.is_err(), "readiness fails");
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
        if runtime.store().ping().await.is_ok() {
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
