//! One contract, three stores: every case below runs against the memory store, against a real
//! `redis-server` started on a free loopback port, and against a real three-primary Redis Cluster, so they
//! cannot drift apart. Expiry runs on tokio's paused
//! clock for the memory store and on a real (short) wait for Redis.

// Shared with the integration tests, which also restart servers; these cases do not.
#[allow(dead_code)]
#[path = "../../tests/support/redis_cluster.rs"]
mod redis_cluster;
#[allow(dead_code)]
#[path = "../../tests/support/redis_server.rs"]
mod redis_server;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use call_state::{CallEvent, CallState, EventKind, Limits, Role};
use serde_json::json;

use self::redis_cluster::RedisCluster;
use self::redis_server::RedisServer;
use super::{Appended, Backend, Expect, Generation, Reseed, Saved, Snapshot, Store, StoreError, StoredReport};
use crate::config::RetentionConfig;
use crate::store::RedisConfig;

/// A store under test, with the Redis server behind it when there is one.
struct Harness {
    store: Store,
    server: Option<RedisServer>,
    cluster: Option<RedisCluster>,
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Memory,
    Redis,
    Cluster,
}

impl Harness {
    async fn new(kind: Kind, retention: RetentionConfig) -> Harness {
        match kind {
            Kind::Memory => Harness {
                store: Store::memory(retention),
                server: None,
                cluster: None,
            },
            Kind::Redis => {
                let server = RedisServer::start();
                let config = RedisConfig {
                    key_prefix: "contract:".into(),
                    response_timeout_ms: 1_000,
                    ..RedisConfig::new(server.url())
                };
                let store = Store::connect_with(&config, retention).await.unwrap();
                Harness {
                    store,
                    server: Some(server),
                    cluster: None,
                }
            }
            Kind::Cluster => {
                let cluster = RedisCluster::start(3, 0);
                let config = RedisConfig {
                    key_prefix: "contract:".into(),
                    response_timeout_ms: 2_000,
                    ..RedisConfig::cluster(cluster.urls())
                };
                let store = Store::connect_with(&config, retention).await.unwrap();
                Harness {
                    store,
                    server: None,
                    cluster: Some(cluster),
                }
            }
        }
    }

    /// Lets `duration` pass: tokio's paused clock for the memory store, a real wait for Redis.
    async fn wait(&self, duration: Duration) {
        match self.store.backend {
            Backend::Memory(_) => tokio::time::advance(duration).await,
            Backend::Redis(_) => tokio::time::sleep(duration).await,
        }
    }

    /// Loses everything the store holds, as a Redis restarted without persistence or `FLUSHALL` does.
    async fn lose_everything(&self) {
        if let Some(cluster) = &self.cluster {
            for node in &cluster.nodes {
                redis_cluster::cli(node.port, &["FLUSHALL"]);
            }
            return;
        }
        match (&self.server, &self.store.backend) {
            (Some(server), _) => {
                let mut redis = raw(&server.url()).await;
                redis::cmd("FLUSHALL").query_async::<()>(&mut redis).await.unwrap();
            }
            (None, Backend::Memory(memory)) => memory.clear(),
            (None, Backend::Redis(_)) => unreachable!(),
        }
    }
}

async fn raw(url: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

fn said(call: &str, at: i64, text: &str) -> Arc<CallEvent> {
    Arc::new(CallEvent::new(
        call,
        Some(at),
        EventKind::Transcript {
            role: Role::User,
            is_final: true,
            text: text.into(),
        },
    ))
}

fn folded(call: &str, events: &[Arc<CallEvent>]) -> CallState {
    let mut state = CallState::new(call);
    for event in events {
        state.apply(event, &Limits::default());
    }
    state
}

fn report(call: &str, summary: &str) -> StoredReport {
    StoredReport {
        call_id: call.into(),
        ended_reason: Some("customer-ended-call".into()),
        summary: Some(summary.into()),
        cost: Some(0.1),
        duration_seconds: Some(30.0),
        received_at_ms: 1,
        body: "{}".into(),
    }
}

/// What an actor of `generation` that folded through `through` expects.
fn at(generation: u64, through: u64) -> Option<Expect> {
    Some(Expect { generation, through })
}

async fn journaled(store: &Store, event: &Arc<CallEvent>, expect: Option<Expect>) -> (u64, u64) {
    match store.append(Arc::clone(event), expect).await.unwrap() {
        Appended::Journaled { seq, generation } => (seq, generation),
        Appended::Diverged => panic!("append diverged"),
    }
}

// The cases: each takes the store kind and builds its own store.

async fn append_is_idempotent(kind: Kind) {
    let h = Harness::new(kind, RetentionConfig::default()).await;
    let store = &h.store;
    let first = said("c-idem", 1, "hello");
    let second = said("c-idem", 2, "again");
    let (seq, generation) = journaled(store, &first, None).await;
    assert_eq!(seq, 1);
    assert_eq!(journaled(store, &first, None).await, (1, generation), "a replay");
    assert_eq!(journaled(store, &first, at(generation, 1)).await, (1, generation));
    assert_eq!(journaled(store, &second, None).await, (2, generation));
    assert_eq!(journaled(store, &second, None).await, (2, generation));
    let loaded = store.load("c-idem").await.unwrap();
    assert!(loaded.snapshot.is_none());
    assert_eq!(loaded.last_seq, 2);
    assert_eq!(loaded.generation.map(|g| g.id), Some(generation));
    let journal: Vec<(u64, CallEvent)> = loaded
        .journal
        .into_iter()
        .map(|(seq, event)| (seq, (*event).clone()))
        .collect();
    assert_eq!(journal, [(1, (*first).clone()), (2, (*second).clone())]);
    assert_eq!(store.load_since("c-idem", 1).await.unwrap().journal.len(), 1);
    assert!(store.load_since("c-idem", 2).await.unwrap().journal.is_empty());
    let never = store.load("c-never").await.unwrap();
    assert!(never.is_empty() && never.generation.is_none() && never.last_seq == 0);
}

async fn snapshots_trim_the_journal_and_never_go_back(kind: Kind) {
    let h = Harness::new(kind, RetentionConfig::default()).await;
    let store = &h.store;
    let events: Vec<_> = (0..10).map(|i| said("c-snap", i, &format!("turn {i}"))).collect();
    let mut generation = 0;
    for event in &events {
        generation = journaled(store, event, None).await.1;
    }
    let snapshot = |n: usize| Snapshot {
        state: folded("c-snap", &events[..n]),
        through: n as u64,
    };
    assert_eq!(
        store.save_snapshot(snapshot(8), Some(generation)).await.unwrap(),
        Saved::Written
    );
    let loaded = store.load("c-snap").await.unwrap();
    assert_eq!(loaded.snapshot, Some(snapshot(8)));
    assert_eq!(loaded.journal.iter().map(|(seq, _)| *seq).collect::<Vec<_>>(), [9, 10]);
    // A late snapshot of an older actor does not replace the newer one.
    assert_eq!(
        store.save_snapshot(snapshot(3), Some(generation)).await.unwrap(),
        Saved::Older
    );
    // A snapshot for another generation of the record writes nothing.
    assert_eq!(
        store.save_snapshot(snapshot(9), Some(generation ^ 1)).await.unwrap(),
        Saved::Diverged
    );
    assert_eq!(store.save_snapshot(snapshot(9), None).await.unwrap(), Saved::Diverged);
    assert_eq!(store.load("c-snap").await.unwrap().snapshot.unwrap().through, 8);
    // A reader at seq 9 gets no snapshot, only what it lacks.
    let loaded = store.load_since("c-snap", 9).await.unwrap();
    assert!(loaded.snapshot.is_none());
    assert_eq!(loaded.journal.len(), 1);
    // The journal keeps numbering after a snapshot, and replays of trimmed events keep their seq.
    assert_eq!(journaled(store, &events[2], None).await, (3, generation));
    assert_eq!(
        journaled(store, &said("c-snap", 11, "more"), None).await,
        (11, generation)
    );
}

async fn a_lost_record_is_noticed_and_reseeded(kind: Kind) {
    let h = Harness::new(kind, RetentionConfig::default()).await;
    let store = &h.store;
    let events: Vec<_> = (0..5).map(|i| said("c-lost", i, &format!("t{i}"))).collect();
    let mut generation = 0;
    for event in &events {
        let expect = (generation != 0).then_some(Expect { generation, through: 0 });
        generation = journaled(store, event, expect).await.1;
    }
    // Another generation is refused, whether it is named by a stale actor or by a confused one.
    assert_eq!(
        store
            .append(said("c-lost", 9, "x"), at(generation ^ 1, 0))
            .await
            .unwrap(),
        Appended::Diverged
    );

    // A record behind the actor (a failover to a replica that lagged) is refused as well.
    assert_eq!(
        store.append(said("c-lost", 9, "x"), at(generation, 6)).await.unwrap(),
        Appended::Diverged
    );
    assert_eq!(store.load("c-lost").await.unwrap().last_seq, 5, "nothing was written");
    h.lose_everything().await;
    // The actor still expects its generation: the store says the record is gone instead of handing out seq 1.
    assert_eq!(
        store
            .append(said("c-lost", 6, "after"), at(generation, 5))
            .await
            .unwrap(),
        Appended::Diverged
    );
    // A writer without expectations (an instance that never held the call) starts a new record.
    let (seq, other) = journaled(store, &said("c-lost", 7, "elsewhere"), None).await;
    assert_eq!(seq, 1);
    assert_ne!(other, generation);
    assert_eq!(
        store.append(said("c-lost", 8, "x"), at(generation, 5)).await.unwrap(),
        Appended::Diverged
    );

    // Re-seeding is conditional on the record being as read.
    let lineage = BTreeMap::from([(generation, 5), (other, 1)]);
    let reseed = |expect_seq| Reseed {
        expect_generation: Some(other),
        expect_seq,
        generation: Generation {
            id: 42,
            lineage: lineage.clone(),
            base: 6,
        },
        snapshot: Snapshot {
            state: folded("c-lost", &events),
            through: 6,
        },
    };
    assert!(
        !store.reseed(reseed(0)).await.unwrap(),
        "the record moved on since it was read"
    );
    assert!(store.reseed(reseed(1)).await.unwrap());
    let loaded = store.load("c-lost").await.unwrap();
    assert_eq!(
        loaded.generation,
        Some(Generation {
            id: 42,
            lineage: lineage.clone(),
            base: 6,
        })
    );
    assert!(loaded.generation.unwrap().covers(generation, 5));
    assert_eq!(loaded.last_seq, 6);
    assert_eq!(loaded.snapshot.unwrap().state, folded("c-lost", &events));
    assert!(loaded.journal.is_empty());
    assert_eq!(journaled(store, &said("c-lost", 10, "next"), at(42, 6)).await, (7, 42));
    // A replay of an event journaled before the re-seed keeps its old seq (at or below the snapshot).
    assert_eq!(
        journaled(store, &said("c-lost", 7, "elsewhere"), at(42, 6)).await,
        (1, 42)
    );

    // Re-seeding a call the store has no record of at all.
    h.lose_everything().await;
    let fresh = Reseed {
        expect_generation: None,
        expect_seq: 0,
        generation: Generation {
            id: 43,
            lineage: BTreeMap::from([(42, 7)]),
            base: 8,
        },
        snapshot: Snapshot {
            state: folded("c-lost", &events),
            through: 8,
        },
    };
    assert!(store.reseed(fresh).await.unwrap());
    assert_eq!(journaled(store, &said("c-lost", 11, "on"), at(43, 8)).await, (9, 43));
}

async fn reports_links_and_conversation_memory(kind: Kind) {
    let h = Harness::new(kind, RetentionConfig::default()).await;
    let store = &h.store;
    assert!(store.report("c-r").await.unwrap().is_none());
    store.save_report(report("c-r", "first")).await.unwrap();
    store.save_report(report("c-r", "second")).await.unwrap();
    assert_eq!(
        store.report("c-r").await.unwrap().unwrap().summary.as_deref(),
        Some("second"),
        "a redelivery replaces the report"
    );

    assert_eq!(store.conversation_of("c-r").await.unwrap(), None);
    store.link_conversation("c-r", "conv-1").await.unwrap();
    store.link_conversation("c-r", "conv-1").await.unwrap();
    assert_eq!(store.conversation_of("c-r").await.unwrap().as_deref(), Some("conv-1"));

    assert!(store.conversation_memory("conv-1").await.unwrap().is_empty());
    store
        .set_conversation_memory("conv-1", "name", Some(json!("Ada")))
        .await
        .unwrap();
    store
        .set_conversation_memory("conv-1", "order", Some(json!({"id": 4417})))
        .await
        .unwrap();
    store
        .set_conversation_memory("conv-1", "name", Some(json!("Ada L.")))
        .await
        .unwrap();
    store.set_conversation_memory("conv-1", "order", None).await.unwrap();
    store.set_conversation_memory("conv-1", "never", None).await.unwrap();
    let memory = store.conversation_memory("conv-1").await.unwrap();
    assert_eq!(memory, BTreeMap::from([("name".to_string(), json!("Ada L."))]));
}

async fn conversation_memory_is_bounded(kind: Kind) {
    let retention = RetentionConfig {
        conversation_max_entries: 4,
        conversation_max_value_bytes: 100,
        conversation_max_bytes: 250,
        ..RetentionConfig::default()
    };
    let h = Harness::new(kind, retention).await;
    let store = &h.store;
    let refused = || store.stats().memory_refused.load(Ordering::Relaxed);
    let is_refused = |outcome: Result<(), StoreError>| matches!(outcome, Err(StoreError::Refused(_)));
    for key in ["a", "b", "c", "d"] {
        store
            .set_conversation_memory("conv", key, Some(json!(1)))
            .await
            .unwrap();
    }
    // A fifth key is refused; rewriting one of the four is not.
    assert!(is_refused(
        store.set_conversation_memory("conv", "e", Some(json!(1))).await
    ));
    assert_eq!(refused(), 1);
    store
        .set_conversation_memory("conv", "a", Some(json!(2)))
        .await
        .unwrap();
    // One entry over the per-entry bound (key plus JSON text) is refused, whoever holds the map.
    let big = json!("x".repeat(100));
    let error = store.set_conversation_memory("conv", "a", Some(big)).await.unwrap_err();
    assert!(error.to_string().contains("conversation_max_value_bytes"), "{error}");
    assert_eq!(refused(), 2);
    // Entries within their bound that together pass the total are refused.
    let ninety = || Some(json!("y".repeat(88))); // 90 bytes of JSON, 91 with its key
    store.set_conversation_memory("conv", "a", ninety()).await.unwrap();
    store.set_conversation_memory("conv", "b", ninety()).await.unwrap();
    let error = store.set_conversation_memory("conv", "c", ninety()).await.unwrap_err();
    assert!(error.to_string().contains("conversation_max_bytes"), "{error}");
    assert_eq!(refused(), 3);
    // Nothing refused was written, and deleting makes room again.
    let memory = store.conversation_memory("conv").await.unwrap();
    assert_eq!(memory.keys().collect::<Vec<_>>(), ["a", "b", "c", "d"]);
    assert_eq!(memory["c"], json!(1));
    store.set_conversation_memory("conv", "b", None).await.unwrap();
    store.set_conversation_memory("conv", "c", ninety()).await.unwrap();
    store.set_conversation_memory("conv", "e", None).await.unwrap();
    assert_eq!(refused(), 3);
}

async fn everything_expires(kind: Kind) {
    let retention = RetentionConfig {
        call_ttl_seconds: 1,
        report_ttl_seconds: 1,
        conversation_ttl_seconds: 3,
        ..RetentionConfig::default()
    };
    let h = Harness::new(kind, retention).await;
    let store = &h.store;
    let (_, generation) = journaled(store, &said("c-exp", 1, "hi"), None).await;
    store
        .save_snapshot(
            Snapshot {
                state: folded("c-exp", &[said("c-exp", 1, "hi")]),
                through: 1,
            },
            Some(generation),
        )
        .await
        .unwrap();
    journaled(store, &said("c-exp", 2, "there"), None).await;
    store.save_report(report("c-exp", "short")).await.unwrap();
    store.link_conversation("c-exp", "conv-exp").await.unwrap();
    store
        .set_conversation_memory("conv-exp", "name", Some(json!("Ada")))
        .await
        .unwrap();

    h.wait(Duration::from_millis(600)).await;
    // A write refreshes what it touches: the call lives on, the report (not rewritten) does not.
    journaled(store, &said("c-exp", 3, "still here"), None).await;
    h.wait(Duration::from_millis(600)).await;
    assert_eq!(store.load("c-exp").await.unwrap().last_seq, 3, "refreshed by the write");
    assert!(store.report("c-exp").await.unwrap().is_none(), "the report expired");
    h.wait(Duration::from_millis(1_100)).await;
    let loaded = store.load("c-exp").await.unwrap();
    assert!(loaded.is_empty() && loaded.generation.is_none(), "the call expired");
    assert_eq!(store.conversation_of("c-exp").await.unwrap(), None, "the link expired");
    assert_eq!(
        store.conversation_memory("conv-exp").await.unwrap().len(),
        1,
        "conversations live longer"
    );
    // An append to an expired call starts a new record (a new generation), from seq 1.
    let (seq, again) = journaled(store, &said("c-exp", 4, "back"), None).await;
    assert_eq!(seq, 1);
    assert_ne!(again, generation);
    h.wait(Duration::from_millis(1_200)).await;
    assert!(store.conversation_memory("conv-exp").await.unwrap().is_empty());
    if let Backend::Memory(memory) = &store.backend {
        // Expired entries are invisible at once and gone after a sweep.
        assert!(memory.sweep() >= 3);
        assert_eq!(memory.calls(), 0);
        assert_eq!(memory.others(), (0, 0, 0));
    }
}

/// Runs each case against the three stores. The memory store's cases run on tokio's paused clock.
macro_rules! contract {
    ($($case:ident),* $(,)?) => {
        mod memory_store {
            $(
                #[tokio::test(start_paused = true)]
                async fn $case() {
                    super::$case(super::Kind::Memory).await
                }
            )*
        }
        mod redis_store {
            $(
                #[tokio::test]
                async fn $case() {
                    super::$case(super::Kind::Redis).await
                }
            )*
        }
        mod redis_cluster_store {
            $(
                #[tokio::test]
                async fn $case() {
                    super::$case(super::Kind::Cluster).await
                }
            )*
        }
    };
}

contract!(
    append_is_idempotent,
    snapshots_trim_the_journal_and_never_go_back,
    a_lost_record_is_noticed_and_reseeded,
    reports_links_and_conversation_memory,
    conversation_memory_is_bounded,
    everything_expires,
);

#[tokio::test(start_paused = true)]
async fn the_memory_store_holds_at_most_max_stored_calls() {
    let retention = RetentionConfig {
        max_stored_calls: 10,
        ..RetentionConfig::default()
    };
    let h = Harness::new(Kind::Memory, retention).await;
    let Backend::Memory(memory) = &h.store.backend else {
        unreachable!()
    };
    for i in 0..25 {
        let call = format!("c{i}");
        // Distinct write times, so "least recently written" is well defined.
        h.wait(Duration::from_millis(10)).await;
        journaled(&h.store, &said(&call, 1, "hi"), None).await;
        h.store.save_report(report(&call, "r")).await.unwrap();
        h.store.link_conversation(&call, &format!("conv{i}")).await.unwrap();
        h.store
            .set_conversation_memory(&format!("conv{i}"), "k", Some(json!(i)))
            .await
            .unwrap();
        assert!(memory.calls() <= 10);
        let (reports, links, conversations) = memory.others();
        assert!(reports <= 10 && links <= 10 && conversations <= 10);
    }
    // c0 was written long ago; touching it brings it back to the front.
    h.wait(Duration::from_millis(10)).await;
    journaled(&h.store, &said("c20", 2, "again"), None).await;
    for i in 25..30 {
        h.wait(Duration::from_millis(10)).await;
        journaled(&h.store, &said(&format!("c{i}"), 1, "hi"), None).await;
    }
    assert_eq!(memory.calls(), 10);
    assert_eq!(h.store.load("c20").await.unwrap().last_seq, 2, "recently written: kept");
    assert!(
        h.store.load("c19").await.unwrap().is_empty(),
        "least recently written: evicted"
    );
    assert!(h.store.load("c0").await.unwrap().is_empty());
    assert_eq!(
        h.store.stats().evicted.load(Ordering::Relaxed),
        (30 - 10) + 3 * (25 - 10),
        "every eviction is counted"
    );
}

#[tokio::test]
async fn every_redis_key_carries_its_ttl() {
    let retention = RetentionConfig {
        call_ttl_seconds: 500,
        report_ttl_seconds: 400,
        conversation_ttl_seconds: 3_000,
        ..RetentionConfig::default()
    };
    let h = Harness::new(Kind::Redis, retention).await;
    let store = &h.store;
    let Backend::Redis(redis) = &store.backend else {
        unreachable!()
    };
    let (_, generation) = journaled(store, &said("c-ttl", 1, "a"), None).await;
    journaled(store, &said("c-ttl", 2, "b"), None).await;
    let snapshot = Snapshot {
        state: folded("c-ttl", &[said("c-ttl", 1, "a")]),
        through: 1,
    };
    store.save_snapshot(snapshot, Some(generation)).await.unwrap();
    store.save_report(report("c-ttl", "short")).await.unwrap();
    store.link_conversation("c-ttl", "conv-1").await.unwrap();
    store
        .set_conversation_memory("conv-1", "name", Some(json!("Ada")))
        .await
        .unwrap();
    let mut raw = raw(&h.server.as_ref().unwrap().url()).await;
    for part in ["seq", "journal", "ids", "snapshot", "gen", "conversation"] {
        let left = ttl(&mut raw, redis.call_key("c-ttl", part)).await;
        assert!((490..=500).contains(&left), "{part}: TTL {left}");
    }
    let left = ttl(&mut raw, redis.call_key("c-ttl", "report")).await;
    assert!((390..=400).contains(&left), "report: TTL {left}");
    let left = ttl(&mut raw, redis.conversation_key("conv-1")).await;
    assert!((2_990..=3_000).contains(&left), "memory: TTL {left}");
}

async fn ttl(raw: &mut redis::aio::MultiplexedConnection, key: String) -> i64 {
    redis::cmd("TTL").arg(&key).query_async(raw).await.unwrap()
}

#[tokio::test(start_paused = true)]
async fn the_memory_store_remembers_a_bounded_number_of_event_ids_per_call() {
    let h = Harness::new(Kind::Memory, RetentionConfig::default()).await;
    let events: Vec<_> = (0..8_200).map(|i| said("c-long", i, "same words")).collect();
    for event in &events {
        journaled(&h.store, event, None).await;
    }
    // A recent replay is recognised; one older than the remembered ids is journaled again.
    assert_eq!(journaled(&h.store, &events[8_199], None).await.0, 8_200);
    assert_eq!(journaled(&h.store, &events[100], None).await.0, 101);
    assert_eq!(journaled(&h.store, &events[0], None).await.0, 8_201);
}

#[tokio::test]
async fn the_slot_the_store_computes_is_the_clusters_and_a_calls_keys_share_one() {
    let h = Harness::new(Kind::Cluster, RetentionConfig::default()).await;
    let Backend::Redis(redis) = &h.store.backend else {
        unreachable!()
    };
    let port = h.cluster.as_ref().unwrap().nodes[0].port;
    let keyslot = |key: &str| -> u16 {
        redis_cluster::cli(port, &["CLUSTER", "KEYSLOT", key])
            .trim()
            .parse()
            .unwrap()
    };
    for call in ["c-1", "call with spaces", "ünï", "{nested}", "a}b"] {
        let parts = [
            "seq",
            "journal",
            "ids",
            "snapshot",
            "gen",
            "report",
            "conversation",
            "tools",
        ];
        let slots: Vec<u16> = parts.iter().map(|part| keyslot(&redis.call_key(call, part))).collect();
        assert!(slots.iter().all(|slot| *slot == slots[0]), "{call}: {slots:?}");
        assert_eq!(
            super::redis_store::hash_slot(redis.tool_claim_key(call, "t-1").as_bytes()),
            slots[0]
        );
    }
    for key in ["foo", "{}", "{}x", "a{b}c", "{a}{b}", &redis.conversation_key("conv-9")] {
        assert_eq!(super::redis_store::hash_slot(key.as_bytes()), keyslot(key), "{key}");
    }
}
