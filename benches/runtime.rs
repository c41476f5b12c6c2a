//! The call runtime: events applied per second through the actors (against the pure fold measured in the same
//! run), and memory per live call for 10k and 100k live calls holding a realistic 20-turn conversation.
//!
//! Run: `cargo bench --bench runtime` (criterion, then the memory report). `RUNTIME_BENCH_CALLS=10000` limits
//! the memory report to one size.
#![allow(missing_docs)] // criterion_group! generates undocumented items.

use std::time::{Duration, Instant};

use call_runtime::{CallRuntime, RuntimeConfig, Store};
use call_state::{CallEvent, CallState, EventKind, Limits, Role, Turn};
use criterion::{Criterion, Throughput, criterion_group};

const USER: &[&str] = &[
    "Hi, I'd like to book a cleaning for next Tuesday.",
    "Morning if possible, before ten.",
    "Yes, nine works. My name is Jordan Lee.",
    "It's 415 555 0123.",
    "No, that's everything, thanks.",
];
const ASSISTANT: &[&str] = &[
    "Thanks for calling Acme Dental, this is Riley. How can I help you today?",
    "Sure, let me check next Tuesday for you.",
    "I have nine, eleven thirty or two fifteen. Which works best?",
    "Great, and what's the best number to reach you?",
    "You're booked for Tuesday at nine. Anything else?",
];

/// The events of one realistic call: per turn a speech start, two partials, a final and a speech stop,
/// and a conversation update after each exchange; 20 turns in all.
fn call_events(call: &str) -> (Vec<CallEvent>, usize) {
    let mut events = vec![CallEvent::new(
        call,
        Some(0),
        EventKind::Status {
            status: "in-progress".into(),
            ended_reason: None,
        },
    )];
    let mut turns: Vec<Turn> = Vec::new();
    let mut at = 1;
    let mut text_bytes = 0;
    for turn in 0..20u64 {
        let (role, text) = if turn % 2 == 0 {
            (Role::Assistant, ASSISTANT[(turn as usize / 2) % ASSISTANT.len()])
        } else {
            (Role::User, USER[(turn as usize / 2) % USER.len()])
        };
        let text = format!("{text} ({turn})");
        text_bytes += text.len();
        let mut push = |events: &mut Vec<CallEvent>, kind| {
            at += 1;
            events.push(CallEvent::new(call, Some(at), kind));
            at
        };
        push(
            &mut events,
            EventKind::Speech {
                role,
                started: true,
                turn: Some(turn),
            },
        );
        for cut in [text.len() / 3, 2 * text.len() / 3] {
            let cut = (0..=cut).rev().find(|i| text.is_char_boundary(*i)).unwrap_or(0);
            push(
                &mut events,
                EventKind::Transcript {
                    role,
                    is_final: false,
                    text: text[..cut].to_string(),
                },
            );
        }
        let said_at = push(
            &mut events,
            EventKind::Transcript {
                role,
                is_final: true,
                text: text.clone(),
            },
        );
        push(
            &mut events,
            EventKind::Speech {
                role,
                started: false,
                turn: Some(turn),
            },
        );
        turns.push(Turn {
            role,
            text,
            at_ms: Some(said_at),
        });
        if turn % 2 == 1 {
            push(
                &mut events,
                EventKind::Conversation {
                    turns: turns.clone(),
                    tool_calls: vec![],
                    tool_results: vec![],
                },
            );
        }
    }
    (events, text_bytes)
}

fn runtime_bench(c: &mut Criterion) {
    let calls: Vec<Vec<CallEvent>> = (0..200).map(|i| call_events(&format!("bench-{i}")).0).collect();
    let total: usize = calls.iter().map(Vec::len).sum();
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("events");
    group.throughput(Throughput::Elements(total as u64));
    group.bench_function("pure_fold_baseline", |b| {
        b.iter(|| {
            let limits = Limits::default();
            for events in &calls {
                let mut state = CallState::new(&events[0].call_id);
                for event in events {
                    state.apply(event, &limits);
                }
                std::hint::black_box(&state);
            }
        })
    });
    group.bench_function("through_runtime", |b| {
        b.iter_custom(|iterations| {
            tokio.block_on(async {
                let mut elapsed = Duration::ZERO;
                for _ in 0..iterations {
                    let runtime = CallRuntime::start(Store::default(), RuntimeConfig::default())
                        .await
                        .unwrap();
                    let start = Instant::now();
                    // Interleave the calls, as concurrent traffic would.
                    for step in 0..calls[0].len() {
                        for events in &calls {
                            if let Some(event) = events.get(step) {
                                runtime.ingest(event.clone()).await.unwrap();
                            }
                        }
                    }
                    // Applied, not just queued: a query waits behind every event of its call.
                    for events in &calls {
                        runtime.state(&events[0].call_id).await.unwrap();
                    }
                    elapsed += start.elapsed();
                    runtime.shutdown().await;
                }
                elapsed
            })
        })
    });
    group.finish();
}

criterion_group!(benches, runtime_bench);

fn resident_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: usize = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

fn memory_report(sizes: Vec<usize>) {
    println!(
        "\nmemory per live call (20-turn conversation, {} events per call)",
        call_events("x").0.len()
    );
    println!("| live calls | resident per call | text per call | beyond the text |");
    println!("|---:|---:|---:|---:|");
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    for calls in sizes {
        tokio.block_on(async {
            let config = RuntimeConfig {
                max_live_calls: calls + 1,
                ..RuntimeConfig::default()
            };
            let runtime = CallRuntime::start(Store::default(), config).await.unwrap();
            let before = resident_bytes();
            let mut text = 0;
            for i in 0..calls {
                let (events, bytes) = call_events(&format!("mem-{i}"));
                text += bytes;
                for event in events {
                    runtime.ingest(event).await.unwrap();
                }
            }
            for i in (0..calls).step_by(97) {
                runtime.state(&format!("mem-{i}")).await.unwrap();
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
            let per_call = (resident_bytes().saturating_sub(before)) / calls;
            let text_per_call = text / calls;
            println!(
                "| {calls} | {:.1} KiB | {:.1} KiB | {:.1} KiB |",
                per_call as f64 / 1024.0,
                text_per_call as f64 / 1024.0,
                per_call.saturating_sub(text_per_call) as f64 / 1024.0
            );
            assert_eq!(runtime.live_calls(), calls);
            runtime.shutdown().await;
        });
    }
}

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    // `cargo bench` passes `--bench`; under `cargo test` the report only checks that it runs.
    let sizes = if std::env::args().any(|arg| arg == "--bench") {
        match std::env::var("RUNTIME_BENCH_CALLS") {
            Ok(n) => vec![n.parse().expect("RUNTIME_BENCH_CALLS is a number")],
            Err(_) => vec![10_000, 100_000],
        }
    } else {
        vec![100]
    };
    memory_report(sizes);
}
