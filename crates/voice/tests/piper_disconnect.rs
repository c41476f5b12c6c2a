//! A client that hangs up mid-answer cancels its Piper request: the worker stops after the
//! sentence it is on, frees its slot and serves the next request still loaded (the same
//! process, not a restarted one). A worker killed mid-answer ends that stream early and is
//! replaced, and the next request is served by the new one.
//!
//! This file holds a single test because it counts this process's worker children in /proc;
//! other tests in the same binary would start their own.

mod common;

use std::time::Duration;

use common::*;
use voice::{VoiceConfig, VoiceService};

/// Pids of live Piper workers whose parent is this test process.
fn workers() -> Vec<u32> {
    let me = std::process::id();
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let (Ok(stat), Ok(cmdline)) = (
            std::fs::read_to_string(format!("/proc/{pid}/stat")),
            std::fs::read(format!("/proc/{pid}/cmdline")),
        ) else {
            continue;
        };
        let Some((_, tail)) = stat.rsplit_once(')') else {
            continue;
        };
        let fields: Vec<&str> = tail.split_whitespace().collect();
        let (state, ppid) = (fields[0], fields[1].parse::<u32>().unwrap_or(0));
        let is_worker = String::from_utf8_lossy(&cmdline).contains("A persistent Piper worker");
        if is_worker && ppid == me && state != "Z" {
            pids.push(pid);
        }
    }
    pids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disconnect_cancels_the_request_and_keeps_the_worker_and_a_crash_replaces_it() {
    let config = VoiceConfig {
        max_text_chars: 50_000,
        ..piper(1)
    };
    let service = VoiceService::new(config).unwrap();
    let base = serve_service(&service).await;
    let short = "The worker is loaded.";
    let warm = post(&base, &body(short, 16_000)).await;
    assert_eq!(warm.status(), 200);
    assert!(warm.bytes().await.unwrap().len() > 16_000);
    let before = workers();
    assert_eq!(before.len(), 1, "one worker for a pool of one");

    // About a hundred sentences: the worker is mid-request when the client hangs up.
    let text = "This sentence is spoken again and again to keep the worker busy. ".repeat(100);
    let mut response = post(&base, &body(&text, 48_000)).await;
    assert_eq!(response.status(), 200);
    let first = response.chunk().await.unwrap().expect("a first chunk");
    assert!(!first.is_empty() && first.len().is_multiple_of(2));
    drop(response);

    // Liveness bound only: the cancel lands within a sentence.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let piper = service.pool_stats().into_iter().find(|p| p.engine == "piper").unwrap();
        if piper.cancelled == 1 && piper.busy == 0 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "never cancelled: {piper:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let next = post(&base, &body(short, 16_000)).await;
    assert_eq!(next.status(), 200);
    let pcm = next.bytes().await.unwrap();
    assert!(pcm.len() > 16_000 && pcm.len().is_multiple_of(2), "{} bytes", pcm.len());
    assert_eq!(workers(), before, "the same worker, not a restarted one");
    let piper = service.pool_stats().into_iter().find(|p| p.engine == "piper").unwrap();
    assert_eq!((piper.served, piper.cancelled, piper.failed), (3, 1, 0), "{piper:?}");

    // The worker is killed mid-answer: the stream ends early instead of hanging.
    let mut response = post(&base, &body(&text, 48_000)).await;
    assert_eq!(response.status(), 200);
    let mut received = response.chunk().await.unwrap().expect("a first chunk").len();
    let killed = std::process::Command::new("kill")
        .args(["-9", &before[0].to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    while let Ok(Some(chunk)) = response.chunk().await {
        received += chunk.len();
    }
    // A hundred sentences at 48 kHz would be tens of megabytes.
    assert!(received < 20_000_000, "{received} bytes after the kill");
    // A replacement loads and serves the next request.
    let next = post(&base, &body(short, 16_000)).await;
    assert_eq!(next.status(), 200);
    assert!(next.bytes().await.unwrap().len() > 16_000);
    let after = workers();
    assert_eq!(after.len(), 1, "{after:?}");
    assert_ne!(after, before, "a new worker process");
    let piper = service.pool_stats().into_iter().find(|p| p.engine == "piper").unwrap();
    assert_eq!((piper.served, piper.cancelled, piper.failed), (5, 1, 1), "{piper:?}");
}
