//! Helpers shared by the voice integration tests: a real server on 127.0.0.1:0, request
//! bodies, native espeak-ng output for comparison, and signal measurements.
#![allow(dead_code, unreachable_pub)]

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use voice::{VoiceConfig, VoiceService};

/// Serves `voice::router` for `config` on an ephemeral port; returns its base URL.
pub async fn serve(config: VoiceConfig) -> String {
    let service = VoiceService::new(config).expect("valid config");
    serve_router(voice::router(service)).await
}

/// Serves any router on an ephemeral loopback port.
pub async fn serve_router(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("http://{addr}")
}

/// A `voice-request` body.
pub fn body(text: &str, rate: u32) -> serde_json::Value {
    serde_json::json!({"message": {"type": "voice-request", "text": text, "sampleRate": rate}})
}

/// POSTs `json` to `{base}/voice`.
pub async fn post(base: &str, json: &serde_json::Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{base}/voice"))
        .json(json)
        .send()
        .await
        .unwrap()
}

/// What espeak-ng produces natively for `text` (voice en-us): samples and rate, read with
/// hound until its streaming header's bogus size runs into the real end of the data.
pub fn native_espeak(text: &str) -> (Vec<i16>, u32) {
    let mut child = Command::new("espeak-ng")
        .args(["--stdout", "-b", "1", "-v", "en-us"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("espeak-ng is installed (apt-get install espeak-ng)");
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let reader = hound::WavReader::new(std::io::Cursor::new(out.stdout)).unwrap();
    let rate = reader.spec().sample_rate;
    let samples = reader.into_samples::<i16>().map_while(Result::ok).collect();
    (samples, rate)
}

/// Little-endian bytes to samples; panics on odd length.
pub fn samples(bytes: &[u8]) -> Vec<i16> {
    assert_eq!(bytes.len() % 2, 0, "odd body length {}", bytes.len());
    bytes
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect()
}

/// RMS in i16 units.
pub fn rms(samples: &[i16]) -> f64 {
    (samples.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / samples.len().max(1) as f64).sqrt()
}

/// A fresh directory under the system temp dir.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("voice-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A config with the cache off, so every request reaches the engine, speaking with espeak-ng.
pub fn uncached() -> VoiceConfig {
    VoiceConfig {
        engine: voice::EngineKind::Espeak,
        cache_bytes: 0,
        ..VoiceConfig::default()
    }
}

/// The installed joe voice (`scripts/install-voice`), as absolute paths: (python, model).
pub fn joe() -> (PathBuf, PathBuf) {
    let root = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../.voice"));
    let python = root.join("venv/bin/python");
    let model = root.join("models/en_US-joe-medium.onnx");
    assert!(
        python.is_file() && model.is_file(),
        "the Piper voice is not installed at {}: run scripts/install-voice",
        root.display()
    );
    (python, model)
}

/// Piper with the joe voice, `slots` workers, the cache off.
pub fn piper(slots: usize) -> VoiceConfig {
    let (python, model) = joe();
    let mut config = VoiceConfig {
        engine: voice::EngineKind::Piper,
        cache_bytes: 0,
        pool_size: Some(slots),
        ..VoiceConfig::default()
    };
    config.piper.python = python;
    config.piper.model = model;
    config
}

/// Serves `service` (a clone is kept by the caller to read its pools); returns the base URL.
pub async fn serve_service(service: &VoiceService) -> String {
    serve_router(voice::router(service.clone())).await
}

/// Least-squares amplitude of a `freq` sinusoid in `signal` (i16 units).
pub fn tone_amplitude(signal: &[i16], rate: u32, freq: f64) -> f64 {
    let w = 2.0 * std::f64::consts::PI * freq / f64::from(rate);
    let (mut s, mut c) = (0.0, 0.0);
    for (n, &y) in signal.iter().enumerate() {
        s += f64::from(y) * (w * n as f64).sin();
        c += f64::from(y) * (w * n as f64).cos();
    }
    2.0 * s.hypot(c) / signal.len() as f64
}

/// The default config (cache on), speaking with espeak-ng.
pub fn cached() -> VoiceConfig {
    VoiceConfig {
        engine: voice::EngineKind::Espeak,
        ..VoiceConfig::default()
    }
}
