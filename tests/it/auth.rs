//! Each authentication mode end to end over a real socket: right, wrong and missing credentials, and stale
//! or tampered HMAC signatures.

use serde_json::{Value, json};
use switchboard::Config;
use switchboard::auth::{AuthConfig, HmacAlgorithm, HmacConfig, sign};

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

fn now_seconds() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[tokio::test]
async fn hmac_right_wrong_missing_stale_and_tampered() {
    let server = TestServer::start(with_auth(AuthConfig::Hmac(HmacConfig::new("k3y")))).await;
    let now = now_seconds();
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

/// Signs like Vapi's sender: the payload format filled in by hand, the MAC from the `hmac` crate directly.
fn vapi_signature(algorithm: &str, key: &[u8], payload: &str, base64: bool) -> String {
    use base64::Engine as _;
    use hmac::{Hmac, Mac};
    let raw = match algorithm {
        "sha256" => {
            let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key).unwrap();
            mac.update(payload.as_bytes());
            mac.finalize().into_bytes().to_vec()
        }
        "sha512" => {
            let mut mac = Hmac::<sha2::Sha512>::new_from_slice(key).unwrap();
            mac.update(payload.as_bytes());
            mac.finalize().into_bytes().to_vec()
        }
        "sha1" => {
            let mut mac = Hmac::<sha1::Sha1>::new_from_slice(key).unwrap();
            mac.update(payload.as_bytes());
            mac.finalize().into_bytes().to_vec()
        }
        other => panic!("{other}"),
    };
    if base64 {
        base64::engine::general_purpose::STANDARD.encode(raw)
    } else {
        hex::encode(raw)
    }
}

/// Every HMAC set-up Vapi's credential offers, configured from TOML as a user would, over a real socket: the
/// right signature is accepted; a wrong one, a tampered body and (where signed) a stale timestamp are refused.
#[tokio::test]
async fn every_vapi_hmac_set_up_verifies_over_http() {
    struct SetUp {
        toml: &'static str,
        algorithm: &'static str,
        key: &'static [u8],
        base64: bool,
        /// The payload with `{ts}` and `{body}` to fill in; the URL is written out.
        signature_header: &'static str,
        prefix: &'static str,
        timestamp_header: &'static str,
        payload: &'static str,
    }
    let set_ups = [
        SetUp {
            toml: "secret_key = \"k3y\"\nalgorithm = \"sha256\"",
            algorithm: "sha256",
            key: b"k3y",
            base64: false,
            signature_header: "x-signature",
            prefix: "",
            timestamp_header: "x-timestamp",
            payload: "{ts}.{body}",
        },
        SetUp {
            toml: "secret_key = \"k3y\"\nalgorithm = \"sha512\"\nsignature_header = \"x-hub-signature\"\n\
                   timestamp_header = \"x-hub-time\"\nsignature_prefix = \"sha512=\"",
            algorithm: "sha512",
            key: b"k3y",
            base64: false,
            signature_header: "x-hub-signature",
            prefix: "sha512=",
            timestamp_header: "x-hub-time",
            payload: "{ts}.{body}",
        },
        SetUp {
            toml: "secret_key = \"k3y\"\nalgorithm = \"sha1\"\nsignature_encoding = \"base64\"",
            algorithm: "sha1",
            key: b"k3y",
            base64: true,
            signature_header: "x-signature",
            prefix: "",
            timestamp_header: "x-timestamp",
            payload: "{ts}.{body}",
        },
        SetUp {
            toml: "secret_key = \"k3y\"\nalgorithm = \"sha256\"\ninclude_timestamp = false",
            algorithm: "sha256",
            key: b"k3y",
            base64: false,
            signature_header: "x-signature",
            prefix: "",
            timestamp_header: "",
            payload: "{body}",
        },
        SetUp {
            toml: "secret_key = \"c2VjcmV0LWtleQ==\"\nsecret_is_base64 = true\nalgorithm = \"sha256\"\n\
                   signature_encoding = \"base64\"\npayload_format = \"{method}\\n{url}\\n{timestamp}\\n{body}\"\n\
                   public_url = \"https://sb.example.com\"",
            algorithm: "sha256",
            key: b"secret-key",
            base64: true,
            signature_header: "x-signature",
            prefix: "",
            timestamp_header: "x-timestamp",
            payload: "POST\nhttps://sb.example.com/webhook\n{ts}\n{body}",
        },
    ];
    for set_up in set_ups {
        let config = Config::from_toml(&format!("[auth]\nmode = \"hmac\"\n{}\n", set_up.toml)).unwrap();
        config.validate().unwrap();
        let server = TestServer::start(config).await;
        let sign_with = |key: &[u8], ts: &str, body: &str| {
            let payload = set_up.payload.replace("{ts}", ts).replace("{body}", body);
            format!(
                "{}{}",
                set_up.prefix,
                vapi_signature(set_up.algorithm, key, &payload, set_up.base64)
            )
        };
        let sign = |ts: &str, body: &str| sign_with(set_up.key, ts, body);
        let send = |ts: String, signature: String, body: &'static str| {
            let mut headers = vec![(set_up.signature_header, signature)];
            if !set_up.timestamp_header.is_empty() {
                headers.push((set_up.timestamp_header, ts));
            }
            let server = &server;
            async move {
                let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
                status(server, &headers, body).await.0
            }
        };
        let now = now_seconds().to_string();
        let name = set_up.toml;
        assert_eq!(send(now.clone(), sign(&now, BODY), BODY).await, 200, "{name}");
        // Milliseconds are a timestamp too.
        let millis = format!("{now}123");
        assert_eq!(send(millis.clone(), sign(&millis, BODY), BODY).await, 200, "{name}");
        let other_body = r#"{"message":{"type":"hang","call":{"id":"c-other"}}}"#;
        assert_eq!(send(now.clone(), sign(&now, BODY), other_body).await, 401, "{name}");
        let wrong_key = sign_with(b"another key", &now, BODY);
        assert_eq!(send(now.clone(), wrong_key, BODY).await, 401, "{name}");
        let unprefixed = sign(&now, BODY).trim_start_matches(set_up.prefix).to_string();
        let expected = if set_up.prefix.is_empty() { 200 } else { 401 };
        assert_eq!(send(now.clone(), unprefixed, BODY).await, expected, "{name}");
        if !set_up.timestamp_header.is_empty() {
            let stale = (now_seconds() - 600).to_string();
            assert_eq!(send(stale.clone(), sign(&stale, BODY), BODY).await, 401, "{name}");
        }
        server.stop().await;
    }
}
