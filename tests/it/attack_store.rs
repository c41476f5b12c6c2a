//! The shared store seen from outside when it fails: `/readyz` says why without giving away where the store
//! is or how to log in to it.

use axum::http::StatusCode;
use serde_json::json;
use switchboard::Config;

use crate::redis::redis_server::RedisServer;
use crate::support::{Binary, PATIENCE, TestServer, eventually};

#[tokio::test]
async fn readyz_with_redis_down_says_why_and_never_the_password() {
    let mut redis = RedisServer::start();
    let address = redis.url().trim_start_matches("redis://").to_string();
    let port = address.rsplit(':').next().unwrap().to_string();
    let password = "hunter2-do-not-show";
    let set = std::process::Command::new("redis-cli")
        .args(["-p", &port, "CONFIG", "SET", "requirepass", password])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&set.stdout).contains("OK"), "{set:?}");
    let url = format!("redis://:{password}@{address}");
    let config = Config {
        redis: Some(call_runtime::RedisConfig {
            response_timeout_ms: 300,
            ..call_runtime::RedisConfig::new(&url)
        }),
        ..Config::default()
    };
    let server = TestServer::start(config).await;
    let (status, ready) = server.get_json("/readyz").await;
    assert_eq!(
        (status, &ready["store"]["reachable"]),
        (StatusCode::OK, &json!(true)),
        "{ready}"
    );

    redis.kill();
    // Bounded by the store's response timeout, not by however long Redis stays away.
    let answer = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        server.client.get(server.url("/readyz")).send(),
    )
    .await
    .expect("/readyz hangs while Redis is down")
    .unwrap();
    assert_eq!(answer.status(), StatusCode::SERVICE_UNAVAILABLE);
    let text = answer.text().await.unwrap();
    let body: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["store"], json!({"kind": "redis", "reachable": false}), "{text}");
    assert_eq!(body["status"], "unavailable");
    for secret in [password, &address, &port] {
        assert!(!text.contains(secret), "{secret} in {text}");
    }
    server.stop().await;
}

/// `redis-cli -p port args...`, its output.
fn cli(port: &str, args: &[&str]) -> String {
    let output = std::process::Command::new("redis-cli")
        .args(["-p", port])
        .args(args)
        .output()
        .unwrap();
    String::from_utf8(output.stdout).unwrap()
}

#[tokio::test]
async fn every_key_a_call_writes_expires() {
    let redis = RedisServer::start();
    let port = redis.url().rsplit(':').next().unwrap().to_string();
    let mut config = Config {
        redis: Some(call_runtime::RedisConfig::new(redis.url())),
        ..Config::default()
    };
    config.server.heartbeat_seconds = 0.05;
    let server = TestServer::start(config).await;
    // Everything a call can make Redis hold: its journal and ids, tool answers and claims, a conversation link
    // and memory, a report listed as ended, the instance's heartbeat.
    let call = "call-keys";
    let mut bodies = crate::redis::script(call);
    bodies.push(crate::support::tool_calls(
        call,
        200,
        &[(
            "mem-1",
            "remember",
            json!({"key": "plan", "value": "gold", "scope": "conversation"}),
        )],
    ));
    bodies.push(crate::support::message(
        call,
        "status-update",
        300,
        json!({"status": "ended", "endedReason": "customer-ended-call"}),
    ));
    bodies.push(crate::support::message(
        call,
        "end-of-call-report",
        301,
        json!({"endedReason": "customer-ended-call", "summary": "Order checked."}),
    ));
    for body in &bodies {
        let (status, answer) = server.post_json("/api/webhook/conv-keys", body).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
    }
    // Until a heartbeat has listed the instance.
    for _ in 0..200 {
        if !cli(&port, &["--scan", "--pattern", "*instances"]).trim().is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let check = |when: &str| {
        let keys: Vec<String> = cli(&port, &["--scan"]).lines().map(str::to_string).collect();
        // (Shutdown checkpoints, trimming the journal into the snapshot.)
        for wanted in ["seq", "conversation", "memory", "report", "tools", "ended", "instances"] {
            assert!(
                keys.iter().any(|key| key.contains(wanted)),
                "{when}: no `{wanted}` key in {keys:?}"
            );
        }
        for key in &keys {
            // -1: no expiry; -2: gone since the scan (a heartbeat that found no live call deletes its set).
            let ttl: i64 = cli(&port, &["PTTL", key]).trim().parse().unwrap();
            assert_ne!(ttl, -1, "{when}: `{key}` never expires");
        }
    };
    check("while the server runs");
    // Shutdown writes snapshots and clears the heartbeat: what it leaves expires too.
    server.stop().await;
    check("after shutdown");
}

#[tokio::test]
async fn the_calls_of_an_instance_killed_without_shutdown_leave_the_listing() {
    let redis = RedisServer::start();
    let doomed = format!(
        "[server]\ninstance_id = \"doomed\"\nheartbeat_seconds = 0.1\n[redis]\nurl = \"{}\"\n",
        redis.url()
    );
    let mut doomed = Binary::start(&["serve"], &doomed);
    let mut config = Config {
        redis: Some(call_runtime::RedisConfig::new(redis.url())),
        ..Config::default()
    };
    config.server.heartbeat_seconds = 0.1;
    config.server.instance_id = Some("survivor".into());
    let survivor = TestServer::start(config).await;
    let hello = crate::support::message(
        "call-on-doomed",
        "transcript",
        1,
        json!({"role": "user", "transcriptType": "final", "transcript": "hello"}),
    );
    let response = reqwest::Client::new()
        .post(doomed.url("/webhook"))
        .json(&hello)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let listed = |listing: &serde_json::Value| {
        listing["calls"]
            .as_array()
            .unwrap()
            .iter()
            .any(|call| call["id"] == "call-on-doomed" && call["instance"] == "doomed")
    };
    let seen = eventually(PATIENCE, async || {
        listed(&survivor.get_json("/calls").await.1).then_some(())
    })
    .await;
    assert!(seen.is_some(), "the survivor never listed the doomed instance's call");
    // kill -9: no shutdown, no last heartbeat clearing its calls.
    doomed.child.kill().unwrap();
    doomed.child.wait().unwrap();
    let gone = eventually(PATIENCE, async || {
        (!listed(&survivor.get_json("/calls").await.1)).then_some(())
    })
    .await;
    assert!(gone.is_some(), "a dead instance's call lingers in /calls");
    survivor.stop().await;
}
