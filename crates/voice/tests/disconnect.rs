//! Streaming and cancelling with the real espeak-ng: the first chunk arrives while the
//! espeak-ng process is still running, and dropping the connection kills that process.
//!
//! This file holds a single test because it counts this process's espeak-ng children in
//! /proc; other tests in the same binary would spawn their own.

mod common;

use std::time::Duration;

use common::*;
use voice::VoiceConfig;

/// Pids of live (not zombie) espeak-ng processes whose parent is this test process.
fn espeak_children() -> Vec<u32> {
    let me = std::process::id();
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // "pid (comm) state ppid ...": comm may contain spaces, so split at the last ')'.
        let Some((head, tail)) = stat.rsplit_once(')') else {
            continue;
        };
        let comm = head.split_once('(').map_or("", |(_, c)| c);
        let fields: Vec<&str> = tail.split_whitespace().collect();
        let (state, ppid) = (fields[0], fields[1].parse::<u32>().unwrap_or(0));
        if comm == "espeak-ng" && ppid == me && state != "Z" {
            pids.push(pid);
        }
    }
    pids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_chunk_streams_early_and_disconnect_kills_espeak() {
    // About fifteen minutes of speech: far more than the pipes and channels can buffer, so
    // espeak-ng is still running (blocked on its stdout) when the first chunk arrives.
    let text = "This sentence is spoken again and again to keep the engine busy. ".repeat(300);
    let mut config = VoiceConfig {
        max_text_chars: 50_000,
        ..uncached()
    };
    // No idle spare processes, so the only espeak-ng child is the one doing this request.
    config.espeak.warm_processes = 0;
    let base = serve(config).await;
    assert!(espeak_children().is_empty());

    let mut response = post(&base, &body(&text, 16_000)).await;
    assert_eq!(response.status(), 200);
    let first = response.chunk().await.unwrap().expect("a first chunk");
    assert!(!first.is_empty() && first.len() % 2 == 0);
    let running = espeak_children();
    assert_eq!(running.len(), 1, "espeak-ng should still be synthesizing");

    // Read a little more to show the stream keeps flowing, then hang up.
    for _ in 0..3 {
        let chunk = response.chunk().await.unwrap().expect("more audio");
        assert_eq!(chunk.len() % 2, 0);
    }
    drop(response);

    // Liveness bound only (not a speed assertion): the kill happens within milliseconds.
    // Waiting for /proc/<pid> itself to vanish shows it was killed *and* reaped.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let proc_dir = format!("/proc/{}", running[0]);
    while std::path::Path::new(&proc_dir).exists() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "espeak-ng {running:?} was not killed"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(espeak_children().is_empty());
}
