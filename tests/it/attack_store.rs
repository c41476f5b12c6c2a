//! The shared store seen from outside when it fails: `/readyz` says why without giving away where the store
//! is or how to log in to it.

use axum::http::StatusCode;
use serde_json::json;
use switchboard::Config;

use crate::redis::redis_server::RedisServer;
use crate::support::TestServer;

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
