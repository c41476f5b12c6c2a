//! Several Switchboard instances sharing one real `redis-server` (started by the test on a free port).

#[path = "../../crates/call-runtime/tests/support/redis_server.rs"]
pub(crate) mod redis_server;

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
pub(crate) fn script(call: &str) -> Vec<Value> {
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

/// A pick for [`run`] that sends each body to an instance drawn from a generator seeded with `seed`.
pub(crate) fn shuffled(seed: u64) -> impl FnMut(usize) -> usize {
    let mut rng = seed;
    move |_| {
        rng = rng.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        (rng >> 33) as usize
    }
}

/// The answers a run gives to the script's tool calls, in order.
pub(crate) async fn run(servers: &[&TestServer], bodies: &[Value], mut pick: impl FnMut(usize) -> usize) -> Vec<Value> {
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
        let shared = run(&[&a, &b], &bodies, shuffled(seed)).await;
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
    // It says why (the store does not answer), never where the store is.
    assert_eq!(ready["store"], json!({"kind": "redis", "reachable": false}), "{ready}");
    assert!(!ready.to_string().contains("127.0.0.1"), "{ready}");
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
    // Answered from this instance's view, and counted as such.
    assert_ne!(metric(&server, "switchboard_stale_answers_total").await, "0");

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

/// How a test makes Redis lose everything mid-call.
#[derive(Debug, Clone, Copy)]
enum Loss {
    /// `kill -9`, then a new `redis-server` on the same port without persistence: it starts empty.
    RestartEmpty,
    /// `FLUSHALL`, as an operator (or a failover to an empty replica) would.
    FlushAll,
}

async fn post_until_acknowledged(server: &TestServer, body: &Value) {
    for _ in 0..200 {
        let (status, answer) = server.post_json("/webhook", body).await;
        match status {
            StatusCode::OK => return,
            // Not acknowledged: Vapi retries after its backoff.
            StatusCode::SERVICE_UNAVAILABLE => tokio::time::sleep(std::time::Duration::from_millis(25)).await,
            other => panic!("{other}: {answer}"),
        }
    }
    panic!("{body} was never acknowledged");
}

async fn conversation_texts(server: &TestServer, call: &str) -> Vec<String> {
    let (status, context) = server.get_json(&format!("/calls/{call}")).await;
    assert_eq!(status, StatusCode::OK, "{context}");
    context["conversation"]
        .as_array()
        .unwrap()
        .iter()
        .map(|turn| turn["text"].as_str().unwrap().to_string())
        .collect()
}

async fn metric(server: &TestServer, name: &str) -> String {
    let text = server.metrics().await;
    text.lines()
        .find_map(|line| line.strip_prefix(&format!("{name} ")).map(str::to_string))
        .unwrap_or_else(|| panic!("no {name} in:\n{text}"))
}

/// 40 transcripts, Redis loses everything, 60 more: every acknowledged transcript is in the call's context
/// on the instance that took them and on a fresh one started afterwards, and the heal shows in `/metrics`.
async fn redis_loses_everything_mid_call(loss: Loss) {
    let mut redis = RedisServer::start();
    let server = TestServer::start(with_redis(&redis.url())).await;
    let call = format!("lost-{loss:?}");
    let said = |i: usize| {
        message(
            &call,
            "transcript",
            1_000 + i as i64,
            json!({"role": if i.is_multiple_of(2) { "user" } else { "assistant" }, "transcriptType": "final",
                   "transcript": format!("line {i}")}),
        )
    };
    let expected: Vec<String> = (0..100).map(|i| format!("line {i}")).collect();
    for i in 0..40 {
        assert_eq!(server.post_json("/webhook", &said(i)).await.0, StatusCode::OK);
    }
    assert_eq!(metric(&server, "switchboard_store_heals_total").await, "0");

    match loss {
        Loss::RestartEmpty => redis.restart(),
        Loss::FlushAll => {
            let flushed = std::process::Command::new("redis-cli")
                .args(["-u", &redis.url(), "FLUSHALL"])
                .output()
                .expect("redis-cli runs");
            assert!(flushed.status.success(), "{flushed:?}");
        }
    }
    for i in 40..100 {
        post_until_acknowledged(&server, &said(i)).await;
    }
    assert_eq!(
        conversation_texts(&server, &call).await,
        expected,
        "on the instance that took them"
    );
    assert_eq!(
        metric(&server, "switchboard_store_heals_total").await,
        "1",
        "one heal for the one loss"
    );
    let fresh = TestServer::start(with_redis(&redis.url())).await;
    assert_eq!(conversation_texts(&fresh, &call).await, expected, "on a fresh instance");
    // A tool call on the fresh instance reads the whole call too.
    let (status, answer) = fresh
        .post_json(
            "/webhook",
            &tool_calls(&call, 5_000, &[("r", "recall", json!({"topic": "line 7"}))]),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        answer["results"][0]["result"].as_str().unwrap().contains("line 7"),
        "{answer}"
    );
    server.stop().await;
    fresh.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_restarted_empty_mid_call_loses_nothing_acknowledged() {
    redis_loses_everything_mid_call(Loss::RestartEmpty).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_flushed_mid_call_loses_nothing_acknowledged() {
    redis_loses_everything_mid_call(Loss::FlushAll).await;
}

/// Conversation memory past `[retention]`'s bounds is refused and counted, in memory and in Redis alike, so a
/// later tool call never carries an unbounded conversation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conversation_memory_is_bounded_in_both_stores() {
    let redis = RedisServer::start();
    for with_redis_store in [false, true] {
        let mut config = if with_redis_store {
            with_redis(&redis.url())
        } else {
            Config::default()
        };
        config.retention.conversation_max_entries = 3;
        let server = TestServer::start(config).await;
        let path = "/api/webhook/bounded";
        for i in 0..5 {
            let remember = tool_calls(
                &format!("call-{i}"),
                i,
                &[(
                    "m",
                    "remember",
                    json!({"key": format!("k{i}"), "value": "x", "scope": "conversation"}),
                )],
            );
            assert_eq!(server.post_json(path, &remember).await.0, StatusCode::OK);
        }
        let read = tool_calls(
            "call-9",
            9,
            &[
                ("r2", "read_note", json!({"key": "k2"})),
                ("r3", "read_note", json!({"key": "k3"})),
            ],
        );
        let (_, answer) = server.post_json(path, &read).await;
        let found = |i: usize| -> bool {
            let result: Value = serde_json::from_str(answer["results"][i]["result"].as_str().unwrap()).unwrap();
            result["found"].as_bool().unwrap()
        };
        assert!(found(0), "redis {with_redis_store}: within the bound: {answer}");
        assert!(!found(1), "redis {with_redis_store}: past the bound: {answer}");
        assert_eq!(
            metric(&server, "switchboard_conversation_memory_refused_total").await,
            "2",
            "redis {with_redis_store}"
        );
        server.stop().await;
    }
}

/// Tool arguments nested `levels` objects deep, innermost `{"a": "bottom"}`.
fn nested(levels: usize) -> Value {
    (1..levels).fold(json!({"a": "bottom"}), |inner, _| json!({ "a": inner }))
}

/// What is accepted at the deepest nesting a body may have reads back from Redis, from the journal and from a
/// snapshot, on a fresh instance: nothing accepted becomes unreadable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_at_the_depth_limit_read_back_from_redis() {
    let redis = RedisServer::start();
    // The arguments start at level 6 of a `tool-calls` body: this is the deepest body accepted.
    let arguments = nested(vapi_types::MAX_DEPTH - 5);
    let body = |call: &str| tool_calls(call, 5, &[("t-deep", "lookup", arguments.clone())]);
    let journal_only = TestServer::start(with_redis(&redis.url())).await;
    let mut config = with_redis(&redis.url());
    config.calls.snapshot_every = 1;
    let snapshotting = TestServer::start(config).await;
    for (server, call) in [(&journal_only, "deep-journal"), (&snapshotting, "deep-snapshot")] {
        let (status, answer) = server.post_json("/webhook", &body(call)).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        let (status, _) = server.get_json(&format!("/calls/{call}")).await;
        assert_eq!(status, StatusCode::OK);
    }
    let fresh = TestServer::start(with_redis(&redis.url())).await;
    for call in ["deep-journal", "deep-snapshot"] {
        let (status, context) = fresh.get_json(&format!("/calls/{call}")).await;
        assert_eq!(status, StatusCode::OK, "{call}: {context}");
        assert_eq!(context["toolCalls"][0]["arguments"], arguments, "{call}");
    }
    // A later event still applies on the fresh instance: the call did not stop taking events.
    let more = message(
        "deep-journal",
        "transcript",
        9,
        json!({"role": "user", "transcriptType": "final", "transcript": "still here"}),
    );
    assert_eq!(fresh.post_json("/webhook", &more).await.0, StatusCode::OK);
    let (_, context) = fresh.get_json("/calls/deep-journal").await;
    assert_eq!(context["conversation"][0]["text"], "still here");
    for server in [journal_only, snapshotting, fresh] {
        server.stop().await;
    }
}
