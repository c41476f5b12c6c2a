//! The `/voice` endpoint with the real espeak-ng, over a real socket.

mod common;

use common::*;
use voice::{VoiceRequest, VoiceService};

const TEXT: &str = "I have 9 AM, 11:30, or 2:15 on Tuesday the 25th. Which works best?";

#[tokio::test]
async fn every_rate_streams_headerless_pcm_of_the_native_duration() {
    let (native, native_rate) = native_espeak(TEXT);
    assert_eq!(native_rate, 22_050);
    let native_rms = rms(&native);
    let base = serve(uncached()).await;
    for rate in [8_000u32, 16_000, 22_050, 24_000, 44_100, 48_000] {
        let response = post(&base, &body(TEXT, rate)).await;
        assert_eq!(response.status(), 200, "rate {rate}");
        let headers = response.headers().clone();
        assert_eq!(headers["content-type"], "application/octet-stream");
        assert!(headers.get("content-length").is_none(), "must stream, not buffer");
        assert_eq!(headers["transfer-encoding"], "chunked");
        let bytes = response.bytes().await.unwrap();
        assert_eq!(bytes.len() % 2, 0, "rate {rate}: odd length");
        assert!(!bytes.windows(4).any(|w| w == b"RIFF"), "rate {rate}: RIFF in body");
        let pcm = samples(&bytes);
        let expected = native.len() as f64 * f64::from(rate) / f64::from(native_rate);
        let ratio = pcm.len() as f64 / expected;
        assert!((0.98..=1.02).contains(&ratio), "rate {rate}: duration ratio {ratio:.4}");
        let level = rms(&pcm);
        assert!(level > 300.0, "rate {rate}: rms {level:.0} is near silence");
        let db = 20.0 * (level / native_rms).log10();
        assert!(db.abs() < 3.0, "rate {rate}: level {db:.2} dB from native");
    }
}

#[tokio::test]
async fn the_fixture_body_is_answered() {
    let fixture = std::fs::read("/work/shared/vapi/fixtures/voice-request.json");
    let Ok(fixture) = fixture else { return }; // the shared fixture is optional outside this machine
    let base = serve(cached()).await;
    let response = reqwest::Client::new()
        .post(format!("{base}/voice"))
        .header("content-type", "application/json")
        .body(fixture)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-sample-rate"], "24000");
    assert!(response.bytes().await.unwrap().len() > 24_000);
}

#[tokio::test]
async fn concurrent_requests_each_get_their_own_audio() {
    let service = VoiceService::new(uncached()).unwrap();
    let texts: Vec<String> = (0..8)
        .map(|i| format!("Request number {i} is being spoken now."))
        .collect();
    let mut sequential = Vec::new();
    for text in &texts {
        sequential.push(service.render(&request(text, 16_000)).await.unwrap());
    }
    let base = serve_router(voice::router(service)).await;
    let handles: Vec<_> = texts
        .iter()
        .map(|text| {
            let base = base.clone();
            let json = body(text, 16_000);
            tokio::spawn(async move { post(&base, &json).await.bytes().await.unwrap() })
        })
        .collect();
    for (handle, expected) in handles.into_iter().zip(sequential) {
        assert_eq!(samples(&handle.await.unwrap()), expected);
    }
}

#[tokio::test]
async fn a_repeated_request_is_served_from_the_cache() {
    let base = serve(cached()).await;
    let first = post(&base, &body("Cache me if you can.", 16_000)).await;
    assert_eq!(first.headers()["x-voice-cache"], "miss");
    let first = first.bytes().await.unwrap();
    let second = post(&base, &body("Cache me if you can.", 16_000)).await;
    assert_eq!(second.headers()["x-voice-cache"], "hit");
    assert_eq!(second.bytes().await.unwrap(), first);
    let other_rate = post(&base, &body("Cache me if you can.", 8_000)).await;
    assert_eq!(other_rate.headers()["x-voice-cache"], "miss");

    let uncached_base = serve(uncached()).await;
    for _ in 0..2 {
        let r = post(&uncached_base, &body("Cache me if you can.", 16_000)).await;
        assert_eq!(r.headers()["x-voice-cache"], "miss");
    }
}

#[tokio::test]
async fn voice_ids_map_to_espeak_voices() {
    let mut config = uncached();
    config.espeak.voices.insert("Elliot".into(), "en-gb".into());
    let service = VoiceService::new(config).unwrap();
    let mut with_id = request(TEXT, 22_050);
    with_id.voice_id = Some("Elliot".into());
    let gb = service.render(&with_id).await.unwrap();
    let us = service.render(&request(TEXT, 22_050)).await.unwrap();
    assert_ne!(gb, us, "en-gb and en-us should differ");
    // An unmapped id falls back to the default voice.
    with_id.voice_id = Some("Unknown".into());
    assert_eq!(service.render(&with_id).await.unwrap(), us);
    // At the native rate the pipeline passes espeak's samples through untouched.
    assert_eq!(us, native_espeak(TEXT).0);
}

#[tokio::test]
async fn warm_and_cold_espeak_processes_sound_the_same() {
    let (native, _) = native_espeak(TEXT);
    let mut cold = uncached();
    cold.espeak.warm_processes = 0;
    let cold = VoiceService::new(cold).unwrap();
    let warm = VoiceService::new(uncached()).unwrap();
    for _ in 0..4 {
        assert_eq!(cold.render(&request(TEXT, 22_050)).await.unwrap(), native);
        // The first warm request starts cold and fills the spares; the rest use them.
        assert_eq!(warm.render(&request(TEXT, 22_050)).await.unwrap(), native);
    }
}

#[tokio::test]
async fn render_and_write_wav_round_trip() {
    let service = VoiceService::new(cached()).unwrap();
    let pcm = service.render(&request("Hello there.", 16_000)).await.unwrap();
    let path = temp_dir("say").join("hello.wav");
    voice::write_wav(&path, &pcm, 16_000).unwrap();
    let reader = hound::WavReader::open(&path).unwrap();
    let spec = reader.spec();
    assert_eq!((spec.channels, spec.sample_rate, spec.bits_per_sample), (1, 16_000, 16));
    let back: Vec<i16> = reader.into_samples().map(Result::unwrap).collect();
    assert_eq!(back, pcm);
}

fn request(text: &str, rate: u32) -> VoiceRequest {
    VoiceRequest {
        text: text.into(),
        sample_rate: rate,
        voice_id: None,
    }
}
