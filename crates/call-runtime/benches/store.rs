//! The memory store against Redis and a Redis Cluster in the same run, through the runtime's public API:
//! ingest rate (`CallRuntime::ingest` for 1,000 calls, 64 concurrent senders) and the latency of
//! `CallRuntime::state`, the path a tool call takes, with 10,000 live calls. One instance on the memory store;
//! two instances (two runtimes, each call's events alternating between them) on one `redis-server` and on a
//! three-primary cluster, both started by the bench on free loopback ports. It prints a table with ratios to
//! the memory store, then (unless `STORE_BENCH_TABLE_ONLY` is set) runs criterion's measurements.
//!
//! `cargo bench -p call-runtime --bench store`

#[path = "../tests/support/redis_cluster.rs"]
#[allow(dead_code, reason = "the bench kills and moves nothing")]
mod redis_cluster;
#[path = "../tests/support/redis_server.rs"]
#[allow(dead_code, reason = "the bench needs no durable server")]
mod redis_server;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use call_runtime::{CallRuntime, RedisConfig, RuntimeConfig, Store};
use call_state::{CallEvent, EventKind, Role};
use criterion::{Criterion, Throughput};
use redis_server::RedisServer;

const INGEST_CALLS: usize = 1_000;
const EVENTS_PER_CALL: usize = 20;
const SENDERS: usize = 64;
const LIVE_CALLS: usize = 10_000;
const STATE_SAMPLES: usize = 20_000;

fn transcript(call: &str, at: usize) -> CallEvent {
    CallEvent::new(
        call,
        Some(at as i64),
        EventKind::Transcript {
            role: if at.is_multiple_of(2) {
                Role::User
            } else {
                Role::Assistant
            },
            is_final: true,
            text: format!("utterance {at} about the order the caller placed last week"),
        },
    )
}

/// Ingests `EVENTS_PER_CALL` events into each of `INGEST_CALLS` calls named `{tag}-{n}`, from `SENDERS`
/// concurrent tasks (each call's events in order, as Vapi sends them, alternating between the instances).
/// Returns events per second.
async fn ingest_rate(runtimes: &[CallRuntime], tag: &str) -> f64 {
    let started = Instant::now();
    let tasks: Vec<_> = (0..SENDERS)
        .map(|sender| {
            let runtimes = runtimes.to_vec();
            let tag = tag.to_string();
            tokio::spawn(async move {
                for call in (sender..INGEST_CALLS).step_by(SENDERS) {
                    let call_id = format!("{tag}-{call}");
                    for at in 0..EVENTS_PER_CALL {
                        let runtime = &runtimes[at % runtimes.len()];
                        runtime.ingest(transcript(&call_id, at)).await.expect("ingest");
                    }
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("sender");
    }
    (INGEST_CALLS * EVENTS_PER_CALL) as f64 / started.elapsed().as_secs_f64()
}

/// Starts `LIVE_CALLS` calls (a few events each, on the first instance), then times `STATE_SAMPLES` sequential
/// `state` queries of random calls, alternating between the instances. Returns (p50, p99) in microseconds.
async fn state_latency(runtimes: &[CallRuntime]) -> (f64, f64) {
    let runtime = &runtimes[0];
    let tasks: Vec<_> = (0..SENDERS)
        .map(|sender| {
            let runtime = runtime.clone();
            tokio::spawn(async move {
                for call in (sender..LIVE_CALLS).step_by(SENDERS) {
                    for at in 0..3 {
                        runtime
                            .ingest(transcript(&format!("live-{call}"), at))
                            .await
                            .expect("ingest");
                    }
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("sender");
    }
    assert!(runtime.live_calls() >= LIVE_CALLS);
    let mut rng = 0x9e37_79b9_7f4a_7c15_u64;
    let mut samples = Vec::with_capacity(STATE_SAMPLES);
    for sample in 0..STATE_SAMPLES {
        rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let call = format!("live-{}", (rng >> 33) as usize % LIVE_CALLS);
        let runtime = &runtimes[sample % runtimes.len()];
        let started = Instant::now();
        let state = runtime.state(&call).await.expect("state").expect("a live call");
        samples.push(started.elapsed());
        assert_eq!(state.conversation().len(), 3);
    }
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)].as_secs_f64() * 1e6;
    (at(0.50), at(0.99))
}

fn config() -> RuntimeConfig {
    RuntimeConfig {
        max_live_calls: 1_000_000,
        ..RuntimeConfig::default()
    }
}

async fn redis_store(url: &str) -> Store {
    Store::connect(&RedisConfig::new(url)).await.expect("connect")
}

struct Figures {
    events_per_second: f64,
    p50_us: f64,
    p99_us: f64,
}

/// Measures one instance per store in `stores` (each its own runtime, as separate processes would be).
async fn measure(stores: Vec<Store>, tag: &str) -> Figures {
    let mut runtimes = Vec::new();
    for store in stores {
        runtimes.push(CallRuntime::start(store, config()).await.expect("runtime"));
    }
    // A warm-up round, then the best of three (the machine is shared).
    ingest_rate(&runtimes, &format!("{tag}-warm")).await;
    let mut events_per_second: f64 = 0.0;
    for round in 0..3 {
        events_per_second = events_per_second.max(ingest_rate(&runtimes, &format!("{tag}-{round}")).await);
    }
    let (p50_us, p99_us) = state_latency(&runtimes).await;
    for runtime in runtimes {
        runtime.shutdown().await;
    }
    Figures {
        events_per_second,
        p50_us,
        p99_us,
    }
}

fn main() {
    let server = RedisServer::start();
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio");

    let cluster = redis_cluster::RedisCluster::start(3, 0);
    let memory = tokio.block_on(measure(vec![Store::default()], "memory"));
    let redis = tokio.block_on(async {
        let stores = vec![redis_store(&server.url()).await, redis_store(&server.url()).await];
        measure(stores, "redis").await
    });
    let on_cluster = tokio.block_on(async {
        let config = RedisConfig::cluster(cluster.urls());
        let stores = vec![
            Store::connect(&config).await.expect("connect"),
            Store::connect(&config).await.expect("connect"),
        ];
        measure(stores, "cluster").await
    });
    drop(cluster);
    println!();
    println!(
        "store bench: {INGEST_CALLS} calls x {EVENTS_PER_CALL} events from {SENDERS} senders; state() over {LIVE_CALLS} live calls, {STATE_SAMPLES} samples"
    );
    println!("| store | instances | ingest events/s | state() p50 µs | state() p99 µs | ingest vs memory |");
    println!("|---|---:|---:|---:|---:|---:|");
    for (name, instances, figures) in [
        ("memory", 1, &memory),
        ("redis", 2, &redis),
        ("redis cluster, 3 primaries", 2, &on_cluster),
    ] {
        println!(
            "| {name} | {instances} | {:.0} | {:.1} | {:.1} | {:.3} |",
            figures.events_per_second,
            figures.p50_us,
            figures.p99_us,
            figures.events_per_second / memory.events_per_second
        );
    }
    println!(
        "goals: tool-call p99 <= 3 ms: {}; redis ingest >= 1/3 of memory: {}",
        if redis.p99_us <= 3_000.0 { "met" } else { "MISSED" },
        if redis.events_per_second * 3.0 >= memory.events_per_second {
            "met"
        } else {
            "MISSED"
        }
    );
    println!();
    if std::env::var_os("STORE_BENCH_TABLE_ONLY").is_some() {
        return;
    }

    let mut criterion = Criterion::default()
        .configure_from_args()
        .sample_size(20)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    let stores = [
        ("memory", Store::default()),
        ("redis", tokio.block_on(redis_store(&server.url()))),
    ];
    let mut group = criterion.benchmark_group("ingest");
    group.throughput(Throughput::Elements(1));
    for (name, store) in &stores {
        let runtime = tokio
            .block_on(CallRuntime::start(store.clone(), config()))
            .expect("runtime");
        let counter = Arc::new(AtomicU64::new(0));
        group.bench_function(*name, |b| {
            b.to_async(&tokio).iter(|| {
                let n = counter.fetch_add(1, Ordering::Relaxed) as usize;
                let runtime = runtime.clone();
                async move {
                    let call = format!("crit-{}", n / EVENTS_PER_CALL);
                    runtime
                        .ingest(transcript(&call, n % EVENTS_PER_CALL))
                        .await
                        .expect("ingest");
                }
            });
        });
        tokio.block_on(runtime.shutdown());
    }
    group.finish();
    let mut group = criterion.benchmark_group("state");
    for (name, store) in &stores {
        let runtime = tokio
            .block_on(CallRuntime::start(store.clone(), config()))
            .expect("runtime");
        tokio.block_on(async {
            for at in 0..5 {
                runtime.ingest(transcript("crit-state", at)).await.expect("ingest");
            }
        });
        group.bench_function(*name, |b| {
            b.to_async(&tokio).iter(|| async {
                runtime.state("crit-state").await.expect("state").expect("live");
            });
        });
        tokio.block_on(runtime.shutdown());
    }
    group.finish();
    criterion.final_summary();
    drop(server);
}
