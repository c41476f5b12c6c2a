//! The reliability suite, scaled down for CI. The full size (1,000,000 events over 10,000 calls) runs with
//! `RELIABILITY_EVENTS=1000000 RELIABILITY_CALLS=10000 cargo test --release --test it reliability -- --nocapture`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::http::StatusCode;
use call_state::{CallState, Limits};
use serde_json::{Value, json};
use switchboard::tools::{ToolContext, ToolRegistry};
use switchboard::{Config, Switchboard, http};

use crate::support::{TestServer, message, tool_calls};

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// A deterministic pseudo-random sequence (no dependency, reproducible from the seed).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, bound: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % bound.max(1)
    }
}

/// The `n`th webhook body of a call's script.
fn body(call: &str, n: usize, rng: &mut Lcg) -> Value {
    let at = 1_000 + n as i64;
    let role = if n.is_multiple_of(2) { "user" } else { "assistant" };
    match rng.next(10) {
        0 => message(
            call,
            "speech-update",
            at,
            json!({"role": role, "status": "started", "turn": n}),
        ),
        1 => message(
            call,
            "speech-update",
            at,
            json!({"role": role, "status": "stopped", "turn": n}),
        ),
        2 => message(
            call,
            "transcript",
            at,
            json!({"role": role, "transcriptType": "partial", "transcript": format!("part {n}")}),
        ),
        3 if n.is_multiple_of(7) => message(call, "status-update", at, json!({"status": "in-progress"})),
        4 if n.is_multiple_of(11) => message(
            call,
            "language-change-detected",
            at,
            json!({"language": if n.is_multiple_of(2) { "es" } else { "en" }}),
        ),
        _ => message(
            call,
            "transcript",
            at,
            json!({"role": role, "transcriptType": "final", "transcript": format!("{call} says {n}")}),
        ),
    }
}

fn fold(bodies: &[Value]) -> CallState {
    let limits = Limits::default();
    let mut state: Option<CallState> = None;
    for body in bodies {
        let message = vapi_types::parse_body(body.to_string().as_bytes()).unwrap();
        let Some(event) = call_state::event_from_message(&message) else {
            continue;
        };
        state
            .get_or_insert_with(|| CallState::new(&event.call_id))
            .apply(&event, &limits);
    }
    state.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interleaved_calls_with_duplicates_lose_nothing() {
    let events = env_or("RELIABILITY_EVENTS", 12_000);
    let calls = env_or("RELIABILITY_CALLS", 300);
    let config = Config {
        calls: call_runtime::RuntimeConfig {
            max_live_calls: calls + 1,
            ..Default::default()
        },
        ..Config::default()
    };
    let server = Arc::new(TestServer::start(config).await);
    let per_call = events / calls;
    // Each call's script; about one delivery in ten is repeated (a replay).
    let mut rng = Lcg(7);
    let scripts: Vec<Vec<Value>> = (0..calls)
        .map(|c| {
            let call = format!("rel-{c}");
            let mut deliveries = Vec::new();
            while deliveries.len() < per_call {
                let next = body(&call, deliveries.len(), &mut rng);
                if rng.next(10) == 0 {
                    deliveries.push(next.clone());
                }
                deliveries.push(next);
            }
            deliveries
        })
        .collect();
    let sent = Arc::new(AtomicUsize::new(0));
    // Calls run concurrently (interleaved on the wire); a call's own events are sent in order.
    let mut workers = Vec::new();
    let scripts = Arc::new(scripts);
    for worker in 0..16 {
        let (server, scripts, sent) = (Arc::clone(&server), Arc::clone(&scripts), Arc::clone(&sent));
        workers.push(tokio::spawn(async move {
            for script in scripts.iter().skip(worker).step_by(16) {
                for body in script {
                    let (status, answer) = server.post_json("/webhook", body).await;
                    assert_eq!(status, StatusCode::OK, "{answer}");
                    sent.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for worker in workers {
        worker.await.unwrap();
    }
    let total = sent.load(Ordering::Relaxed);
    assert!(total >= events, "{total} deliveries");
    for (c, script) in scripts.iter().enumerate() {
        let expected = switchboard::admin::context_json(&fold(script));
        let (status, got) = server.get_json(&format!("/calls/rel-{c}")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(got, expected, "call rel-{c}");
    }
    println!("{total} deliveries over {calls} calls: every call equals its sequential fold");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_under_load_finishes_requests_and_persists_calls() {
    let switchboard = Switchboard::start(Config::default()).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(http::serve(listener, http::app(switchboard.clone()), async {
        let _ = stopped.await;
    }));
    let client = reqwest::Client::new();
    let acknowledged: Arc<std::sync::Mutex<Vec<(String, usize)>>> = Arc::default();
    let mut load = Vec::new();
    for c in 0..8 {
        let (client, acknowledged) = (client.clone(), Arc::clone(&acknowledged));
        load.push(tokio::spawn(async move {
            let call = format!("sd-{c}");
            for n in 0..10_000 {
                let body = message(
                    &call,
                    "transcript",
                    n as i64,
                    json!({"role": "user", "transcriptType": "final", "transcript": format!("utterance {n}")}),
                );
                match client.post(format!("http://{addr}/webhook")).json(&body).send().await {
                    Ok(response) => {
                        // Never a 5xx: either acknowledged or not sent at all.
                        assert_eq!(response.status(), 200);
                        acknowledged.lock().unwrap().push((call.clone(), n));
                    }
                    Err(_) => break, // The server stopped accepting.
                }
            }
        }));
    }
    // Let load build up, then stop while requests are in flight.
    while acknowledged.lock().unwrap().len() < 400 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let report = message(
        "sd-0",
        "end-of-call-report",
        99_999,
        json!({"endedReason": "customer-ended-call", "analysis": {"summary": "stopped under load"}}),
    );
    assert_eq!(
        client
            .post(format!("http://{addr}/webhook"))
            .json(&report)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(30), serving)
        .await
        .expect("drained in time")
        .unwrap()
        .unwrap();
    for task in load {
        task.await.unwrap();
    }
    switchboard.shutdown().await;

    // Every acknowledged event is in the persisted state of its call (rebuilt from the store: the actors
    // are gone), and the report was stored.
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert_eq!(switchboard.runtime().live_calls(), 0);
    for c in 0..8 {
        let call = format!("sd-{c}");
        let state = switchboard.runtime().state(&call).await.unwrap().unwrap();
        let texts: std::collections::HashSet<&str> = state.conversation().iter().map(|t| t.text.as_str()).collect();
        for (_, n) in acknowledged.iter().filter(|(id, _)| *id == call) {
            assert!(
                texts.contains(format!("utterance {n}").as_str()),
                "{call}: utterance {n} lost"
            );
        }
    }
    let stored = switchboard.runtime().report("sd-0").await.unwrap().unwrap();
    assert_eq!(stored.summary.as_deref(), Some("stopped under load"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_hanging_tools_do_not_hold_up_other_calls() {
    // The slow tool returns only once every fast answer is in: if fast answers waited behind slow ones,
    // this test would never finish (bounded below by a timeout).
    let (fast_done, released) = tokio::sync::watch::channel(false);
    let mut tools = ToolRegistry::new();
    tools.register("fast", |_: Value, context: ToolContext| async move {
        Ok::<_, String>(format!("fast for {}", context.call().call_id()))
    });
    tools.register("slow", move |_: Value, _: ToolContext| {
        let mut released = released.clone();
        async move {
            let _ = released.wait_for(|released| *released).await;
            Ok::<_, String>("slow done")
        }
    });
    tools.register("hang", |_: Value, _: ToolContext| async {
        std::future::pending::<()>().await;
        Ok::<_, String>("never")
    });
    tools.set_deadline("slow", Duration::from_secs(20));
    let config = Config::from_toml("[tools]\ndeadline_ms = 1500\n").unwrap();
    let server = Arc::new(TestServer::start_with(config, tools).await);

    let mut blocked = Vec::new();
    for c in 0..8 {
        let server = Arc::clone(&server);
        let name = if c % 2 == 0 { "slow" } else { "hang" };
        blocked.push(tokio::spawn(async move {
            server
                .post_json(
                    "/webhook",
                    &tool_calls(&format!("blocked-{c}"), 1, &[("b", name, json!({}))]),
                )
                .await
        }));
    }
    let mut fast = Vec::new();
    for c in 0..64 {
        let server = Arc::clone(&server);
        fast.push(tokio::spawn(async move {
            server
                .post_json(
                    "/webhook",
                    &tool_calls(&format!("fast-{c}"), 1, &[("f", "fast", json!({}))]),
                )
                .await
        }));
    }
    let answered = tokio::time::timeout(Duration::from_secs(60), async {
        let mut answers = Vec::new();
        for task in fast {
            answers.push(task.await.unwrap());
        }
        answers
    })
    .await
    .expect("fast answers did not wait for the slow tools");
    for (c, (status, answer)) in answered.iter().enumerate() {
        assert_eq!(*status, StatusCode::OK);
        assert_eq!(answer["results"][0]["result"], format!("fast for fast-{c}"));
    }
    fast_done.send(true).unwrap();
    for (c, task) in blocked.into_iter().enumerate() {
        let (status, answer) = tokio::time::timeout(Duration::from_secs(60), task)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(status, StatusCode::OK);
        if c % 2 == 0 {
            assert_eq!(answer["results"][0]["result"], "slow done");
        } else {
            assert_eq!(
                answer["results"][0]["error"],
                "tool `hang` did not answer within 1500 ms"
            );
        }
    }
}
