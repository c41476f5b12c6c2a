//! Each authentication mode end to end over a real socket: right, wrong and missing credentials, and stale
//! or tampered HMAC signatures.

use serde_json::{Value, json};
use switchboard::Config;
use switchboard::auth::{AuthConfig, HmacAlgorithm, sign};

use crate::support::TestServer;

const BODY: &str = r#"{"message":{"type":"hang","call":{"id":"c-auth"}}}"#;

async fn status(server: &TestServer, headers: &[(&str, &str)], body: &str) -> (u16, Value) {
    let mut request = server.client.post(server.url("/webhook")).body(body.to_string());
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

fn with_auth(auth: AuthConfig) -> Config {
    Config {
        auth,
        ..Config::default()
    }
}

#[tokio::test]
async fn shared_secret() {
    let server = TestServer::start(with_auth(AuthConfig::Secret {
        secret: "s3cret".into(),
    }))
    .await;
    assert_eq!(
        status(&server, &[("x-vapi-secret", "s3cret")], BODY).await,
        (200, json!({}))
    );
    let (code, body) = status(&server, &[("x-vapi-secret", "nope")], BODY).await;
    assert_eq!(
        (code, body),
        (401, json!({"error": "invalid credential in `x-vapi-secret` header"}))
    );
    let (code, body) = status(&server, &[], BODY).await;
    assert_eq!((code, body), (401, json!({"error": "missing `x-vapi-secret` header"})));
    server.stop().await;
}

#[tokio::test]
async fn bearer_token_default_and_custom_header() {
    let server = TestServer::start(with_auth(AuthConfig::Bearer {
        token: "t0k".into(),
        header: "authorization".into(),
    }))
    .await;
    assert_eq!(status(&server, &[("authorization", "Bearer t0k")], BODY).await.0, 200);
    assert_eq!(status(&server, &[("authorization", "Bearer t0x")], BODY).await.0, 401);
    assert_eq!(status(&server, &[], BODY).await.0, 401);
    server.stop().await;
    let server = TestServer::start(with_auth(AuthConfig::Bearer {
        token: "t0k".into(),
        header: "x-api-key".into(),
    }))
    .await;
    assert_eq!(status(&server, &[("x-api-key", "t0k")], BODY).await.0, 200);
    assert_eq!(status(&server, &[("authorization", "Bearer t0k")], BODY).await.0, 401);
    server.stop().await;
}

#[tokio::test]
async fn hmac_right_wrong_missing_stale_and_tampered() {
    let server = TestServer::start(with_auth(AuthConfig::Hmac {
        secret: "k3y".into(),
        algorithm: HmacAlgorithm::Sha256,
        signature_header: "x-signature".into(),
        timestamp_header: "x-timestamp".into(),
        tolerance_seconds: 300,
    }))
    .await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let signed =
        |timestamp: &str, body: &str| hex::encode(sign(HmacAlgorithm::Sha256, b"k3y", timestamp, body.as_bytes()));

    let fresh = now.to_string();
    let good = signed(&fresh, BODY);
    assert_eq!(
        status(&server, &[("x-timestamp", &fresh), ("x-signature", &good)], BODY).await,
        (200, json!({}))
    );

    let tampered = BODY.replace("c-auth", "c-evil");
    let (code, body) = status(&server, &[("x-timestamp", &fresh), ("x-signature", &good)], &tampered).await;
    assert_eq!(
        (code, body),
        (401, json!({"error": "invalid credential in `x-signature` header"}))
    );

    let stale = (now - 301).to_string();
    let stale_signature = signed(&stale, BODY);
    let (code, body) = status(
        &server,
        &[("x-timestamp", &stale), ("x-signature", &stale_signature)],
        BODY,
    )
    .await;
    assert_eq!(
        (code, body),
        (
            401,
            json!({"error": "timestamp in `x-timestamp` is outside the allowed window"})
        )
    );

    let wrong_key = hex::encode(sign(HmacAlgorithm::Sha256, b"other", &fresh, BODY.as_bytes()));
    assert_eq!(
        status(&server, &[("x-timestamp", &fresh), ("x-signature", &wrong_key)], BODY)
            .await
            .0,
        401
    );
    assert_eq!(status(&server, &[("x-signature", &good)], BODY).await.0, 401);
    assert_eq!(status(&server, &[("x-timestamp", &fresh)], BODY).await.0, 401);
    server.stop().await;
}
