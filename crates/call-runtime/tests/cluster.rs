//! The runtime over a real Redis Cluster that each test starts on free loopback ports: a primary killed with
//! `kill -9` while two instances take events (its replica promoted; every write waits for a replica, so the
//! shard refuses writes until the killed node rejoins as the new primary's replica) loses no acknowledged
//! event, and a call's slot moved to another primary while events flow loses none either. Each
//! test counts the events acknowledged and proves every one is in the store afterwards, read by a fresh
//! instance from the cluster alone.

#[path = "support/redis_cluster.rs"]
mod redis_cluster;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use call_runtime::{CallRuntime, InstanceConfig, RedisConfig, RuntimeConfig, Store};
use call_state::{CallEvent, EventKind, Role};
use redis_cluster::RedisCluster;

fn config(cluster: &RedisCluster, wait_replicas: usize) -> RedisConfig {
    RedisConfig {
        key_prefix: "test:".into(),
        response_timeout_ms: 2_000,
        connect_timeout_ms: 500,
        wait_replicas,
        wait_timeout_ms: 1_000,
        ..RedisConfig::cluster(cluster.urls())
    }
}

async fn instance(cluster: &RedisCluster, wait_replicas: usize, id: &str) -> CallRuntime {
    let store = Store::connect(&config(cluster, wait_replicas)).await.unwrap();
    CallRuntime::start_instance(store, RuntimeConfig::default(), InstanceConfig::named(id))
        .await
        .unwrap()
}

fn said(call: &str, at: i64) -> CallEvent {
    CallEvent::new(
        call,
        Some(at),
        EventKind::Transcript {
            role: Role::User,
            is_final: true,
            text: format!("{call} #{at}"),
        },
    )
}

/// The texts of a call as `runtime` answers them.
async fn texts(runtime: &CallRuntime, call: &str) -> Vec<String> {
    runtime
        .state(call)
        .await
        .unwrap()
        .map(|state| state.conversation().iter().map(|turn| turn.text.clone()).collect())
        .unwrap_or_default()
}

/// Sends events for `calls` round-robin over `instances` until `stop` is set, each event retried (as Vapi
/// retries after a 503) until acknowledged, and returns the acknowledged texts per call, in order.
async fn traffic(instances: Vec<CallRuntime>, calls: Vec<String>, stop: Arc<AtomicBool>) -> Vec<Vec<String>> {
    let mut acknowledged = vec![Vec::new(); calls.len()];
    let mut at = 0i64;
    let mut refused = 0usize;
    while !stop.load(Ordering::Relaxed) || at < 40 {
        at += 1;
        let index = at as usize % calls.len();
        let event = said(&calls[index], at);
        let runtime = &instances[at as usize % instances.len()];
        let mut tries = 0;
        loop {
            match runtime.ingest(event.clone()).await {
                Ok(()) => break,
                Err(error) => {
                    refused += 1;
                    tries += 1;
                    assert!(tries < 500, "event {at} never acknowledged: {error}");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }
        acknowledged[index].push(format!("{} #{at}", calls[index]));
    }
    eprintln!("{at} events acknowledged, {refused} refusals retried");
    acknowledged
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_primary_killed_with_its_replica_promoted_loses_nothing_acknowledged() {
    let mut cluster = RedisCluster::start(3, 1);
    let calls: Vec<String> = (0..9).map(|i| format!("failover-{i}")).collect();
    let a = instance(&cluster, 1, "a").await;
    let b = instance(&cluster, 1, "b").await;
    let victim = cluster.primary_of(cluster.slot_of("test:call:{failover-0}:seq"));
    let stop = Arc::new(AtomicBool::new(false));
    let flow = tokio::spawn(traffic(vec![a.clone(), b.clone()], calls.clone(), Arc::clone(&stop)));
    tokio::time::sleep(Duration::from_millis(500)).await;
    cluster.kill(victim);
    // The replica takes over once the others agree the primary is gone (cluster-node-timeout 1 s).
    let slot = cluster.slot_of("test:call:{failover-0}:seq");
    let cluster = tokio::task::spawn_blocking(move || {
        cluster.wait_failover(victim, slot, Duration::from_secs(30));
        cluster
    })
    .await
    .unwrap();
    // With `wait_replicas = 1`, the promoted replica refuses writes while it has no replica of its own: the
    // killed node, restarted from its files, rejoins as its replica and events are acknowledged again.
    let cluster = tokio::task::spawn_blocking(move || {
        let mut cluster = cluster;
        cluster.restart(victim);
        cluster
    })
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    let acknowledged = flow.await.unwrap();

    // Every acknowledged event is in the cluster, in order, read by an instance that holds nothing itself.
    let fresh = instance(&cluster, 0, "fresh").await;
    for (call, expected) in calls.iter().zip(&acknowledged) {
        assert!(!expected.is_empty());
        assert_eq!(&texts(&fresh, call).await, expected, "{call}");
        assert_eq!(&texts(&a, call).await, expected, "{call} on a");
    }
    // The promoted replica had every write (each waited for it): no live actor had to re-seed the store.
    assert_eq!(a.stats().store_heals.load(Ordering::Relaxed), 0);
    assert_eq!(b.stats().store_heals.load(Ordering::Relaxed), 0);
    for runtime in [a, b, fresh] {
        runtime.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_calls_slot_moved_while_events_flow_loses_nothing() {
    let cluster = RedisCluster::start(3, 0);
    let calls = vec!["moving".to_string(), "staying".to_string()];
    let a = instance(&cluster, 0, "a").await;
    let b = instance(&cluster, 0, "b").await;
    let slot = cluster.slot_of("test:call:{moving}:seq");
    let from = cluster.primary_of(slot);
    let to = (from + 1) % 3;
    let stop = Arc::new(AtomicBool::new(false));
    let flow = tokio::spawn(traffic(vec![a.clone(), b.clone()], calls.clone(), Arc::clone(&stop)));
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Keys move two at a time with pauses, so events meet the slot half moved (`ASK`), then moved (`MOVED`).
    let cluster = tokio::task::spawn_blocking(move || {
        cluster.move_slot(slot, to, Duration::from_millis(100));
        cluster
    })
    .await
    .unwrap();
    assert_eq!(cluster.primary_of(slot), to);
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    let acknowledged = flow.await.unwrap();

    let fresh = instance(&cluster, 0, "fresh").await;
    for (call, expected) in calls.iter().zip(&acknowledged) {
        assert!(expected.len() > 5, "{call}: {expected:?}");
        assert_eq!(&texts(&fresh, call).await, expected, "{call}");
        assert_eq!(&texts(&b, call).await, expected, "{call} on b");
    }
    for runtime in [a, b, fresh] {
        runtime.shutdown().await;
    }
}
