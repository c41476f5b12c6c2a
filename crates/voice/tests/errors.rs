//! Bad input and broken engines answer JSON errors before any audio.

mod common;

use common::*;
use serde_json::{Value, json};
use voice::VoiceConfig;

async fn expect_error(base: &str, body: &str, status: u16, needle: &str) {
    let response = reqwest::Client::new()
        .post(format!("{base}/voice"))
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), status, "body {body}");
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json"),
        "body {body}"
    );
    let json: Value = response.json().await.unwrap();
    let message = json["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no error field: {json}"));
    assert!(message.contains(needle), "{body}: {message:?} lacks {needle:?}");
    assert!(
        !message.starts_with(char::is_uppercase),
        "{message:?} should be lowercase"
    );
}

fn voice_request(fields: Value) -> String {
    let mut message = json!({"type": "voice-request"});
    for (k, v) in fields.as_object().unwrap() {
        message[k] = v.clone();
    }
    json!({ "message": message }).to_string()
}

#[tokio::test]
async fn bad_requests_are_400_with_a_reason() {
    let config = VoiceConfig {
        max_text_chars: 40,
        ..cached()
    };
    let base = serve(config).await;
    let cases: &[(Value, &str)] = &[
        (json!({"sampleRate": 16000}), "text"),
        (json!({"text": "", "sampleRate": 16000}), "text is empty"),
        (json!({"text": "  \n\t ", "sampleRate": 16000}), "text is empty"),
        (json!({"text": "x".repeat(41), "sampleRate": 16000}), "max_text_chars"),
        (json!({"text": "é".repeat(41), "sampleRate": 16000}), "41 characters"),
        (json!({"text": "hello"}), "sampleRate"),
        (json!({"text": "hello", "sampleRate": 7999}), "8000 to 48000"),
        (json!({"text": "hello", "sampleRate": 48001}), "8000 to 48000"),
        (json!({"text": "hello", "sampleRate": 0}), "8000 to 48000"),
        (json!({"text": "hello", "sampleRate": 16000.5}), "sampleRate"),
        (json!({"text": "hello", "sampleRate": -16000}), "sampleRate"),
        (json!({"text": "hello", "sampleRate": 1e12}), "sampleRate"),
        (json!({"text": "hello", "sampleRate": null}), "sampleRate"),
    ];
    for (fields, needle) in cases {
        expect_error(&base, &voice_request(fields.clone()), 400, needle).await;
    }
    // Exactly at the limit is fine.
    let ok = post(&base, &body(&"é".repeat(40), 16_000)).await;
    assert_eq!(ok.status(), 200);

    expect_error(&base, "{\"message\": ", 400, "line").await;
    expect_error(&base, "not json", 400, "invalid voice-request body").await;
    expect_error(&base, "{}", 400, "message").await;
    expect_error(
        &base,
        r#"{"message": {"type": "status-update", "status": "ended"}}"#,
        400,
        "status-update",
    )
    .await;
    expect_error(&base, r#"{"message": {"type": "no-such-type"}}"#, 400, "no-such-type").await;
}

#[tokio::test]
async fn a_missing_engine_is_503_naming_the_fix() {
    let mut config = uncached();
    config.espeak.program = "/nonexistent/espeak-ng".into();
    let base = serve(config).await;
    expect_error(&base, &body("hello", 16_000).to_string(), 503, "install espeak-ng").await;
}

#[tokio::test]
async fn an_engine_failing_before_audio_is_502_naming_the_engine() {
    // A program that exits non-zero without writing anything.
    let mut config = uncached();
    config.espeak.program = "false".into();
    let base = serve(config).await;
    expect_error(
        &base,
        &body("hello", 16_000).to_string(),
        502,
        "voice engine espeak failed",
    )
    .await;

    // Its stderr is part of the reason.
    let mut config = uncached();
    config.engine = voice::EngineKind::Command;
    config.command = Some(voice::CommandConfig {
        program: "sh".into(),
        args: vec![
            "-c".into(),
            "cat >/dev/null; echo model file is missing >&2; exit 3".into(),
        ],
        sample_rate: 22_050,
        voice: String::new(),
        voices: Default::default(),
    });
    let base = serve(config).await;
    expect_error(&base, &body("hello", 16_000).to_string(), 502, "model file is missing").await;

    // Success without a single sample is a failure too.
    let mut config = uncached();
    config.engine = voice::EngineKind::Command;
    config.command = Some(voice::CommandConfig {
        program: "sh".into(),
        args: vec!["-c".into(), "cat >/dev/null".into()],
        sample_rate: 22_050,
        voice: String::new(),
        voices: Default::default(),
    });
    let base = serve(config).await;
    expect_error(
        &base,
        &body("hello", 16_000).to_string(),
        502,
        "without producing audio",
    )
    .await;
}

#[tokio::test]
async fn an_unconfigured_engine_is_rejected_at_startup() {
    let mut config = VoiceConfig::default();
    config.voice_engines.insert("Piper".into(), voice::EngineKind::Command);
    let err = voice::VoiceService::new(config).unwrap_err().to_string();
    assert!(err.contains("[voice.command]"), "{err}");

    let mut config = VoiceConfig::default();
    config.prompts.insert("Hi.".into(), "/nonexistent/hi.wav".into());
    let err = voice::VoiceService::new(config).unwrap_err().to_string();
    assert!(err.contains("does not exist"), "{err}");
}

#[test]
fn config_reads_from_toml_and_rejects_unknown_fields() {
    let config: VoiceConfig = toml::from_str(
        r#"
        engine = "command"
        max_text_chars = 500
        cache_bytes = 0
        [voice_engines]
        Elliot = "espeak"
        [espeak]
        voice = "en-gb"
        voices = { Riley = "en-us+f3" }
        words_per_minute = 190
        [command]
        program = "piper"
        args = ["-m", "/opt/en_US-joe-medium.onnx", "--output-raw"]
        sample_rate = 22050
        [upstream]
        base_url = "http://127.0.0.1:8880"
        response_format = "wav"
        "#,
    )
    .unwrap();
    config.validate().unwrap();
    assert_eq!(config.engine, voice::EngineKind::Command);
    assert_eq!(config.espeak.voices["Riley"], "en-us+f3");
    assert_eq!(config.upstream.as_ref().unwrap().sample_rate, 24_000);

    let empty: VoiceConfig = toml::from_str("").unwrap();
    empty.validate().unwrap();
    assert!(empty.cache_bytes > 0);

    assert!(toml::from_str::<VoiceConfig>("engines = \"espeak\"").is_err());
    assert!(toml::from_str::<VoiceConfig>("[espeak]\nvoise = \"en\"").is_err());
}
