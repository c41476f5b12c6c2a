//! Several Switchboard instances sharing one real `redis-server` (started by the test on a free port).

#[path = "../../crates/call-runtime/tests/support/redis_server.rs"]
mod redis_server;

use axum::http::StatusCode;
use redis_server::RedisServer;
use serde_json::{Value, json};
use switchboard::Config;

use crate::support::{TestServer, message, tool_calls};

fn with_redis(url: &str) -> Config {
    let redis = call_runtime::RedisConfig {
        response_timeout_ms: 300,
        ..call_runtime::RedisConfig::new(url)
    };
    Config {
        redis: Some(redis),
        ..Config::default()
    }
}

/// A scripted call: what the caller and assistant say, and tool calls that read it back.
fn script(call: &str) -> Vec<Value> {
    let said = |at: i64, role: &str, text: &str| {
        message(
            call,
            "transcript",
            at,
            json!({"role": role, "transcriptType": "final", "transcript": text}),
        )
    };
    let mut bodies = vec![message(call, "status-update", 1, json!({"status": "in-progress"}))];
    let lines = [
        ("assistant", "Thanks for calling Acme, how can I help?"),
        ("user", "My order 48213 has not arrived."),
        ("assistant", "Sorry about that. When did you order it?"),
        ("user", "Last Monday, with express shipping."),
        ("assistant", "Let me check the shipping status."),
        ("user", "Also my address changed to 12 Elm Street."),
    ];
    for (i, (role, text)) in lines.iter().enumerate() {
        bodies.push(said(10 + i as i64, role, text));
        if i % 2 == 1 {
            let topic = if i == 1 { "order" } else { "address shipping" };
            bodies.push(tool_calls(
                call,
                100 + i as i64,
                &[
                    (&format!("recall-{i}"), "recall", json!({"topic": topic})),
                    (&format!("summary-{i}"), "summarize_call", json!({})),
                    (&format!("who-{i}"), "caller_details", json!({})),
                ],
            ));
        }
    }
    bodies
}

/// The answers a run gives to the script's tool calls, in order.
async fn run(servers: &[&TestServer], bodies: &[Value], mut pick: impl FnMut(usize) -> usize) -> Vec<Value> {
    let mut answers = Vec::new();
    for (i, body) in bodies.iter().enumerate() {
        let server = servers[pick(i) % servers.len()];
        let (status, answer) = server.post_json("/webhook", body).await;
        assert_eq!(status, StatusCode::OK, "{body} -> {answer}");
        if body["message"]["type"] == "tool-calls" {
            answers.push(answer);
        }
    }
    answers
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_answer_like_one() {
    let redis = RedisServer::start();
    let single = TestServer::start(Config::default()).await;
    let a = TestServer::start(with_redis(&redis.url())).await;
    let b = TestServer::start(with_redis(&redis.url())).await;
    for seed in [3u64, 17, 2024] {
        let call = format!("shared-{seed}");
        let bodies = script(&call);
        let alone = run(&[&single], &bodies, |_| 0).await;
        let mut rng = seed;
        let shared = run(&[&a, &b], &bodies, |_| {
            rng = rng.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            (rng >> 33) as usize
        })
        .await;
        assert_eq!(shared, alone, "seed {seed}");
        assert!(alone[0]["results"][0]["result"].as_str().unwrap().contains("48213"));
        // Both instances see the whole call.
        let (_, from_a) = a.get_json(&format!("/calls/{call}")).await;
        let (_, from_b) = b.get_json(&format!("/calls/{call}")).await;
        assert_eq!(from_a["conversation"], from_b["conversation"]);
        assert_eq!(from_a["conversation"].as_array().unwrap().len(), 6);
    }
    for server in [single, a, b] {
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_delivered_to_another_instance_is_applied_once() {
    let redis = RedisServer::start();
    let a = TestServer::start(with_redis(&redis.url())).await;
    let b = TestServer::start(with_redis(&redis.url())).await;
    let final_text = message(
        "dup",
        "transcript",
        5,
        json!({"role": "user", "transcriptType": "final", "transcript": "only once"}),
    );
    for server in [&a, &b, &a] {
        assert_eq!(server.post_json("/webhook", &final_text).await.0, StatusCode::OK);
    }
    for server in [&a, &b] {
        let (_, context) = server.get_json("/calls/dup").await;
        assert_eq!(
            context["conversation"],
            json!([{"role": "user", "text": "only once", "atMs": 5}])
        );
        assert_eq!(context["eventsApplied"], 1);
    }
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_refuses_events_answers_tools_and_recovers() {
    let dir = std::env::temp_dir().join(format!("switchboard-it-redis-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut redis = RedisServer::start_durable(&dir);
    let server = TestServer::start(with_redis(&redis.url())).await;
    let said = |at: i64, text: &str| {
        message(
            "outage",
            "transcript",
            at,
            json!({"role": "user", "transcriptType": "final", "transcript": text}),
        )
    };
    assert_eq!(
        server.post_json("/webhook", &said(1, "my order is 48213")).await.0,
        StatusCode::OK
    );

    redis.kill();
    let (status, ready) = server.get_json("/readyz").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(!ready.to_string().to_lowercase().contains("redis"), "{ready}");
    let (status, answer) = server.post_json("/webhook", &said(2, "lost while down?")).await;
    assert_eq!(
        status,
        StatusCode::SERVICE_UNAVAILABLE,
        "not acknowledged, so Vapi retries: {answer}"
    );
    // The cause (the store's error text) goes to the log, not to the caller.
    assert_eq!(answer, json!({"error": "temporarily unavailable; retry later"}));
    // Tool calls are still answered, from what this instance knows.
    let (status, answer) = server
        .post_json(
            "/webhook",
            &tool_calls("outage", 3, &[("r", "recall", json!({"topic": "order"}))]),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        answer["results"][0]["result"].as_str().unwrap().contains("48213"),
        "{answer}"
    );

    redis.restart();
    let mut ready = StatusCode::SERVICE_UNAVAILABLE;
    for _ in 0..100 {
        ready = server.get_json("/readyz").await.0;
        if ready == StatusCode::OK {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(ready, StatusCode::OK, "recovered without a restart");
    // The refused event is retried (as Vapi's backoff would) and accepted now.
    assert_eq!(
        server.post_json("/webhook", &said(2, "lost while down?")).await.0,
        StatusCode::OK
    );
    let fresh = TestServer::start(with_redis(&redis.url())).await;
    let (_, context) = fresh.get_json("/calls/outage").await;
    let texts: Vec<&str> = context["conversation"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["my order is 48213", "lost while down?"]);
    server.stop().await;
    fresh.stop().await;
    drop(redis);
    std::fs::remove_dir_all(&dir).ok();
}
