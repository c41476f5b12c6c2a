//! The Piper engine with the real joe voice (installed by `scripts/install-voice`): every common
//! rate, sentence-by-sentence streaming, voice selection from the assistant, the espeak-ng
//! fallback when the model is missing, and the full-pool `503`.
//!
//! Piper's durations are stochastic (its duration predictor samples noise), so lengths are
//! compared with a tolerance, never exactly.

mod common;

use std::path::Path;

use common::*;
use serde_json::{Value, json};
use voice::{EngineKind, VoiceConfig, VoiceService};

const SENTENCE: &str = "Thanks for calling Acme Dental, how can I help you today?";

/// Seconds of audio in a body at `rate`, after checking it is raw s16le.
fn seconds(pcm: &[u8], rate: u32) -> f64 {
    assert!(pcm.len() >= 4 && pcm.len().is_multiple_of(2), "{} bytes", pcm.len());
    assert_ne!(&pcm[..4], b"RIFF", "no container header in the stream");
    pcm.len() as f64 / 2.0 / f64::from(rate)
}

async fn speak(base: &str, body: &Value) -> (u16, String, bytes::Bytes) {
    let response = post(base, body).await;
    let status = response.status().as_u16();
    let engine = response
        .headers()
        .get("x-voice-engine")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, engine, response.bytes().await.unwrap())
}

/// The joe voice with its duration noise off (`noise_w` 0): the same text always gives the same
/// number of samples, so lengths can be checked exactly. The model file is linked, not copied.
fn steady_joe(dir: &Path) -> std::path::PathBuf {
    let (_, model) = joe();
    let steady = dir.join("joe-steady.onnx");
    std::os::unix::fs::symlink(&model, &steady).unwrap();
    let mut config: Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{}.json", model.display())).unwrap()).unwrap();
    config["inference"]["noise_w"] = json!(0.0);
    std::fs::write(dir.join("joe-steady.onnx.json"), config.to_string()).unwrap();
    steady
}

#[tokio::test]
async fn every_common_rate_gives_raw_pcm_of_the_exact_length() {
    let dir = temp_dir("piper-rates");
    let mut config = piper(1);
    config.piper.model = steady_joe(&dir);
    let service = VoiceService::new(config).unwrap();
    let base = serve_service(&service).await;
    // The model's own rate first: its length is the reference for the others.
    let (status, engine, native) = speak(&base, &body(SENTENCE, 22_050)).await;
    assert_eq!((status, engine.as_str()), (200, "piper"));
    let reference = seconds(&native, 22_050);
    // About 3 s of speech (espeak-ng says it in about 3.4 s).
    assert!((1.5..6.0).contains(&reference), "{reference} s");
    let native_len = native.len() as u64 / 2;
    for rate in [8_000, 16_000, 22_050, 24_000, 44_100, 48_000] {
        let (status, engine, pcm) = speak(&base, &body(SENTENCE, rate)).await;
        assert_eq!((status, engine.as_str()), (200, "piper"), "{rate} Hz");
        seconds(&pcm, rate);
        let want = voice::resample::expected_len(native_len, 22_050, rate);
        let got = pcm.len() as u64 / 2;
        assert!(got.abs_diff(want) <= 2, "{rate} Hz: {got} samples, expected {want}");
        // Speech, not silence.
        assert!(rms(&samples(&pcm)) > 300.0, "{rate} Hz is near silent");
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn the_stock_voice_speaks_every_rate_at_its_spoken_duration() {
    let service = VoiceService::new(piper(1)).unwrap();
    let base = serve_service(&service).await;
    let (_, _, native) = speak(&base, &body(SENTENCE, 22_050)).await;
    let reference = seconds(&native, 22_050);
    for rate in [8_000, 24_000, 48_000] {
        let (status, engine, pcm) = speak(&base, &body(SENTENCE, rate)).await;
        assert_eq!((status, engine.as_str()), (200, "piper"), "{rate} Hz");
        // The stock voice varies its timing a little from one rendering to the next.
        let got = seconds(&pcm, rate);
        assert!(
            (got / reference - 1.0).abs() < 0.2,
            "{rate} Hz: {got:.3} s vs {reference:.3} s"
        );
    }
}

#[tokio::test]
async fn the_first_sentence_streams_while_the_rest_is_synthesized() {
    let service = VoiceService::new(piper(1)).unwrap();
    let base = serve_service(&service).await;
    let text = (1..=12)
        .map(|n| format!("This is sentence number {n} of the answer."))
        .collect::<Vec<_>>()
        .join(" ");
    let mut response = post(&base, &body(&text, 16_000)).await;
    assert_eq!(response.status(), 200);
    let first = response.chunk().await.unwrap().expect("a first chunk");
    // The engine still holds its slot: synthesis has not ended when the first audio is out.
    let pools = service.pool_stats();
    let piper = pools.iter().find(|p| p.engine == "piper").unwrap();
    assert_eq!(piper.busy, 1, "{pools:?}");
    let mut total = first.len();
    while let Some(chunk) = response.chunk().await.unwrap() {
        assert_eq!(chunk.len() % 2, 0);
        total += chunk.len();
    }
    // The first chunk is one sentence of twelve.
    assert!(
        first.len() * 6 < total,
        "first chunk {} bytes of {total}: not streamed by sentence",
        first.len()
    );
    assert!(first.len() >= 640, "at least 20 ms first: {}", first.len());
}

/// A copy of the joe voice that speaks at half speed (`length_scale` 2), so the chosen voice shows
/// in the duration.
fn slow_joe(dir: &Path) -> std::path::PathBuf {
    let (_, model) = joe();
    let slow = dir.join("joe-slow.onnx");
    std::fs::copy(&model, &slow).unwrap();
    let mut config: Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{}.json", model.display())).unwrap()).unwrap();
    config["inference"]["length_scale"] = json!(2.0);
    std::fs::write(dir.join("joe-slow.onnx.json"), config.to_string()).unwrap();
    slow
}

#[tokio::test]
async fn the_assistant_voice_id_selects_the_model() {
    let dir = temp_dir("piper-voices");
    let mut config = piper(1);
    config.piper.voices.insert("slow-joe".into(), slow_joe(&dir));
    let base = serve(config).await;
    let text = "One moment while I look that up.";
    let duration = |mut body: Value| {
        let base = base.clone();
        async move {
            body["message"]["text"] = json!(text);
            let (status, engine, pcm) = speak(&base, &body).await;
            assert_eq!((status, engine.as_str()), (200, "piper"), "{body}");
            seconds(&pcm, 16_000)
        }
    };
    let plain = duration(body(text, 16_000)).await;

    let mut from_assistant = body(text, 16_000);
    from_assistant["message"]["assistant"] = json!({"voice": {"provider": "custom-voice", "voiceId": "slow-joe"}});
    // The assistant's voice wins over the message's own voiceId.
    from_assistant["message"]["voiceId"] = json!("someone-else");
    let mut from_call = body(text, 16_000);
    from_call["message"]["call"] = json!({"id": "c1", "assistant": {"voice": {"voiceId": "slow-joe"}}});
    let mut from_message = body(text, 16_000);
    from_message["message"]["voiceId"] = json!("slow-joe");
    for (how, request) in [
        ("assistant", from_assistant),
        ("call.assistant", from_call),
        ("message", from_message),
    ] {
        let slow = duration(request).await;
        assert!(slow > plain * 1.5, "{how}: {slow:.2} s vs {plain:.2} s");
    }

    // Another provider's voice is not ours: the default voice speaks.
    let mut other = body(text, 16_000);
    other["message"]["assistant"] = json!({"voice": {"provider": "11labs", "voiceId": "slow-joe"}});
    let got = duration(other).await;
    assert!(got < plain * 1.3, "{got:.2} s vs {plain:.2} s");
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn a_missing_model_falls_back_to_espeak() {
    let mut config = piper(1);
    config.piper.model = "/nonexistent/voices/en_US-joe-medium.onnx".into();
    let service = VoiceService::new(config).unwrap();
    assert_eq!(service.default_engine(), "espeak");
    let reason = service.fallback_reason().unwrap();
    assert!(reason.contains("/nonexistent/voices/en_US-joe-medium.onnx"), "{reason}");
    let base = serve_service(&service).await;
    let (status, engine, pcm) = speak(&base, &body(SENTENCE, 16_000)).await;
    assert_eq!((status, engine.as_str()), (200, "espeak"));
    assert!(seconds(&pcm, 16_000) > 1.0);

    // An installed Piper is not replaced.
    let installed = VoiceService::new(piper(1)).unwrap();
    assert_eq!(
        (installed.default_engine(), installed.fallback_reason()),
        ("piper", None)
    );
    // Nor is Piper started when nothing selects it.
    let unused = VoiceService::new(VoiceConfig {
        engine: EngineKind::Espeak,
        ..piper(1)
    })
    .unwrap();
    assert!(unused.pool_stats().iter().all(|p| p.engine != "piper"));
}

#[tokio::test]
async fn a_full_piper_pool_answers_503_and_counts_it() {
    let config = VoiceConfig {
        queue_size: Some(0),
        max_text_chars: 50_000,
        ..piper(1)
    };
    let service = VoiceService::new(config).unwrap();
    let base = serve_service(&service).await;
    // Hold the only slot: an answer far larger than every buffer on the way (about 40 MB at
    // 48 kHz), whose body is not read, keeps its engine waiting to send.
    let text = "This sentence is here to keep the only worker busy for a while. ".repeat(100);
    let held = post(&base, &body(&text, 48_000)).await;
    assert_eq!(held.status(), 200);

    let refused = post(&base, &body(SENTENCE, 16_000)).await;
    assert_eq!(refused.status(), 503);
    let error: Value = refused.json().await.unwrap();
    let message = error["error"].as_str().unwrap();
    assert!(message.contains("busy") && message.contains("pool_size"), "{message}");
    let piper = service.pool_stats().into_iter().find(|p| p.engine == "piper").unwrap();
    assert_eq!((piper.rejected, piper.busy, piper.slots), (1, 1, 1), "{piper:?}");

    // Once the held request is gone, the slot serves again.
    drop(held);
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let response = post(&base, &body(SENTENCE, 16_000)).await;
        if response.status() == 200 {
            assert!(seconds(&response.bytes().await.unwrap(), 16_000) > 1.0);
            break;
        }
        assert_eq!(response.status(), 503);
        assert!(tokio::time::Instant::now() < deadline, "the slot was never freed");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_runtime_without_piper_answers_503_naming_the_fix_and_never_hangs() {
    // A Python without the `piper-tts` package: the worker fails while loading.
    let found = std::process::Command::new("sh")
        .args(["-c", "command -v python3"])
        .output()
        .unwrap();
    let python = String::from_utf8(found.stdout).unwrap().trim().to_owned();
    assert!(!python.is_empty(), "python3 is needed to run this test");
    let probe = std::process::Command::new(&python)
        .args(["-c", "import piper"])
        .output()
        .unwrap();
    assert!(!probe.status.success(), "{python} must not have piper-tts installed");
    let mut config = piper(1);
    config.piper.python = python.into();
    let service = VoiceService::new(config).unwrap();
    assert_eq!(service.default_engine(), "piper");
    let base = serve_service(&service).await;
    // Twice: the failed worker is retried for the next request, which fails the same way.
    for _ in 0..2 {
        let response = post(&base, &body(SENTENCE, 16_000)).await;
        assert_eq!(response.status(), 503);
        let error: Value = response.json().await.unwrap();
        let message = error["error"].as_str().unwrap();
        assert!(
            message.contains("piper") && message.contains("scripts/install-voice"),
            "{message}"
        );
    }
    let piper = service.pool_stats().into_iter().find(|p| p.engine == "piper").unwrap();
    assert_eq!((piper.failed, piper.busy), (2, 0), "{piper:?}");
}
