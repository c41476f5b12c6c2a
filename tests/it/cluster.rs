//! Several Switchboard instances on a real three-primary Redis Cluster (started by each test on free ports):
//! a call's events spread over two instances are answered as one instance answers them, conversation memory
//! is shared by the calls of a conversation whichever instance takes them, a tool call runs once across
//! instances, and `/calls` and `/readyz` show every instance and the cluster.

#[path = "../../crates/call-runtime/tests/support/redis_cluster.rs"]
#[allow(dead_code)]
pub(crate) mod redis_cluster;

use std::time::Duration;

use axum::http::StatusCode;
use redis_cluster::RedisCluster;
use serde_json::{Value, json};
use switchboard::Config;

use crate::exactly_once::{Backend, booking};
use crate::redis::{run, script, shuffled};
use crate::support::{TestServer, message, tool_calls};

/// `config` on the cluster, as instance `id`, publishing its calls every 100 ms.
fn on_cluster(mut config: Config, cluster: &RedisCluster, id: &str) -> Config {
    config.redis = Some(call_runtime::RedisConfig {
        response_timeout_ms: 2_000,
        ..call_runtime::RedisConfig::cluster(cluster.urls())
    });
    config.server.instance_id = Some(id.into());
    config.server.heartbeat_seconds = 0.1;
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_a_cluster_answer_like_one() {
    let cluster = RedisCluster::start(3, 0);
    let single = TestServer::start(Config::default()).await;
    let a = TestServer::start(on_cluster(Config::default(), &cluster, "a")).await;
    let b = TestServer::start(on_cluster(Config::default(), &cluster, "b")).await;
    // Calls whose keys land on different primaries.
    for seed in [3u64, 17, 2024, 77] {
        let call = format!("spread-{seed}");
        let bodies = script(&call);
        let alone = run(&[&single], &bodies, |_| 0).await;
        let shared = run(&[&a, &b], &bodies, shuffled(seed)).await;
        assert_eq!(shared, alone, "seed {seed}");
        let (_, from_a) = a.get_json(&format!("/calls/{call}")).await;
        let (_, from_b) = b.get_json(&format!("/calls/{call}")).await;
        assert_eq!(from_a["conversation"], from_b["conversation"]);
        assert_eq!(from_a["conversation"].as_array().unwrap().len(), 6);
    }
    // Each instance says which store it sees and that the cluster serves every slot.
    let (status, ready) = a.get_json("/readyz").await;
    assert_eq!(status, StatusCode::OK, "{ready}");
    assert_eq!(ready["instance"], "a");
    assert_eq!(ready["store"]["kind"], "redis-cluster");
    assert_eq!(ready["store"]["cluster"]["state"], "ok");
    assert_eq!(ready["store"]["cluster"]["slotsOk"], 16_384);
    assert_eq!(ready["store"]["cluster"]["size"], 3);
    assert!(
        a.metrics()
            .await
            .contains("switchboard_instance_info{instance=\"a\",store=\"redis-cluster\"} 1")
    );
    for server in [single, a, b] {
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conversation_memory_is_shared_across_calls_and_instances_on_a_cluster() {
    let cluster = RedisCluster::start(3, 0);
    let a = TestServer::start(on_cluster(Config::default(), &cluster, "a")).await;
    let b = TestServer::start(on_cluster(Config::default(), &cluster, "b")).await;
    let path = "/api/webhook/customer-7";
    let remember = tool_calls(
        "call-one",
        1,
        &[(
            "m1",
            "remember",
            json!({"key": "preferred_day", "value": "Tuesday", "scope": "conversation"}),
        )],
    );
    let (_, answer) = a.post_json(path, &remember).await;
    let noted: Value = serde_json::from_str(answer["results"][0]["result"].as_str().unwrap()).unwrap();
    assert_eq!(
        noted,
        json!({"noted": "preferred_day", "scope": "conversation"}),
        "{answer}"
    );
    // A later call of the conversation, on the other instance: the call's keys and the conversation's are
    // on different slots.
    let read = tool_calls("call-two", 2, &[("r1", "read_note", json!({"key": "preferred_day"}))]);
    let (_, answer) = b.post_json(path, &read).await;
    let found: Value = serde_json::from_str(answer["results"][0]["result"].as_str().unwrap()).unwrap();
    assert_eq!(
        found,
        json!({"key": "preferred_day", "found": true, "value": "Tuesday"})
    );
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_on_a_cluster_run_a_tool_call_once() {
    let cluster = RedisCluster::start(3, 0);
    let backend = Backend::start(Duration::from_millis(600)).await;
    let a = TestServer::start(on_cluster(backend.config(""), &cluster, "a")).await;
    let b = TestServer::start(on_cluster(backend.config(""), &cluster, "b")).await;
    for call in ["tool-1", "tool-2", "tool-3"] {
        let body = booking(call);
        let on_b = async {
            tokio::time::sleep(Duration::from_millis(150)).await;
            b.post_json("/webhook", &body).await
        };
        let ((s1, a1), (s2, a2)) = tokio::join!(a.post_json("/webhook", &body), on_b);
        assert_eq!((s1, s2), (StatusCode::OK, StatusCode::OK));
        assert_eq!(a2, a1, "{call}: the other instance waited for the same run");
        // A retry after the run, on either instance, gets the recorded answer.
        assert_eq!(b.post_json("/webhook", &body).await.1, a1);
        assert_eq!(a.post_json("/webhook", &body).await.1, a1);
    }
    assert_eq!(backend.runs(), 3, "one run per tool call");
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_lists_the_calls_of_every_instance_and_the_ended_ones() {
    let cluster = RedisCluster::start(3, 0);
    let a = TestServer::start(on_cluster(Config::default(), &cluster, "a")).await;
    let b = TestServer::start(on_cluster(Config::default(), &cluster, "b")).await;
    let said = |call: &str| {
        message(
            call,
            "transcript",
            5,
            json!({"role": "user", "transcriptType": "final", "transcript": "hello"}),
        )
    };
    assert_eq!(a.post_json("/webhook", &said("on-a")).await.0, StatusCode::OK);
    assert_eq!(b.post_json("/webhook", &said("on-b")).await.0, StatusCode::OK);
    assert_eq!(b.post_json("/webhook", &said("ends-on-b")).await.0, StatusCode::OK);
    let report = message(
        "ends-on-b",
        "end-of-call-report",
        9_000,
        json!({"endedReason": "customer-ended-call", "analysis": {"summary": "Booked."}, "durationSeconds": 12.0}),
    );
    assert_eq!(b.post_json("/webhook", &report).await.0, StatusCode::OK);
    // After a heartbeat, `a` lists `b`'s live call, marked with `b`, and the call that ended on `b`.
    let mut listing = Value::Null;
    for _ in 0..100 {
        listing = a.get_json("/calls").await.1;
        let calls = listing["calls"].as_array().unwrap();
        if calls.iter().any(|call| call["id"] == "on-b") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(listing["instance"], "a");
    let by_id = |id: &str| {
        listing["calls"]
            .as_array()
            .unwrap()
            .iter()
            .find(|call| call["id"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("{id} not listed: {listing}"))
    };
    assert_eq!(by_id("on-a")["instance"], "a");
    assert_eq!(by_id("on-a")["turns"], 1, "this instance's calls carry their summary");
    assert_eq!(by_id("on-b")["instance"], "b");
    assert_eq!(
        listing["ended"],
        json!([{"id": "ends-on-b", "instance": "b", "endedReason": "customer-ended-call", "summary": "Booked.",
                "cost": null, "durationSeconds": 12.0, "receivedAtMs": listing["ended"][0]["receivedAtMs"]}]),
        "{listing}"
    );
    let instances: Vec<&str> = listing["instances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|instance| instance["id"].as_str().unwrap())
        .collect();
    assert_eq!(instances, ["a", "b"]);
    // An instance that stops drops out of the others' live listing at once; its ended calls stay listed.
    b.stop().await;
    let (_, listing) = a.get_json("/calls").await;
    let ids: Vec<&str> = listing["calls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|call| call["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["on-a"], "{listing}");
    assert_eq!(listing["ended"][0]["id"], "ends-on-b");
    a.stop().await;
}
