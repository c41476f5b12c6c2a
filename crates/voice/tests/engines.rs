//! The command, upstream and prompt engines against real processes, a real loopback HTTP
//! server and real WAV files.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post as route_post;
use common::*;
use voice::{CommandConfig, EngineKind, UpstreamConfig, UpstreamFormat, VoiceConfig, VoiceRequest, VoiceService};

fn request(text: &str, rate: u32) -> VoiceRequest {
    VoiceRequest {
        text: text.into(),
        sample_rate: rate,
        voice_id: None,
    }
}

fn command_config(program: &str, args: &[&str], rate: u32) -> VoiceConfig {
    VoiceConfig {
        engine: EngineKind::Command,
        command: Some(CommandConfig {
            program: program.into(),
            args: args.iter().map(|a| a.to_string()).collect(),
            sample_rate: rate,
            voice: "en-us".into(),
            voices: BTreeMap::from([("Brit".to_owned(), "en-gb".to_owned())]),
        }),
        ..uncached()
    }
}

const TEXT: &str = "The command engine speaks this sentence.";

#[tokio::test]
async fn command_engine_reads_wav_or_raw_stdout() {
    let espeak = VoiceService::new(uncached()).unwrap();
    let reference = espeak.render(&request(TEXT, 16_000)).await.unwrap();

    // WAV on stdout, with the voice placeholder filled in.
    let wav = VoiceService::new(command_config("espeak-ng", &["--stdout", "-v", "{voice}"], 44_100)).unwrap();
    assert_eq!(wav.render(&request(TEXT, 16_000)).await.unwrap(), reference);
    let mut brit = request(TEXT, 16_000);
    brit.voice_id = Some("Brit".into());
    assert_ne!(wav.render(&brit).await.unwrap(), reference);

    // Raw s16le on stdout (the header cut off), at the configured native rate.
    let raw = VoiceService::new(command_config(
        "sh",
        &["-c", "espeak-ng --stdout -v {voice} | tail -c +45"],
        22_050,
    ))
    .unwrap();
    assert_eq!(raw.render(&request(TEXT, 16_000)).await.unwrap(), reference);
}

#[tokio::test]
async fn a_command_failing_mid_stream_ends_the_stream_early() {
    let config = command_config("sh", &["-c", "espeak-ng --stdout -v {voice}; exit 7"], 22_050);
    let service = VoiceService::new(config.clone()).unwrap();
    let err = service.render(&request(TEXT, 16_000)).await.unwrap_err();
    assert!(err.to_string().contains("exit status: 7"), "{err}");

    // Over HTTP the audio already sent stands: 200, whole samples, then the end.
    let base = serve(config).await;
    let response = post(&base, &body(TEXT, 16_000)).await;
    assert_eq!(response.status(), 200);
    let bytes = response.bytes().await.unwrap();
    assert!(bytes.len() > 16_000 && bytes.len() % 2 == 0);
}

/// What the loopback upstream saw.
#[derive(Default)]
struct Seen {
    bodies: Vec<serde_json::Value>,
    auth: Vec<Option<String>>,
}

type Upstream = (Arc<Mutex<Seen>>, u16);

/// 24 kHz s16le 1 kHz tone, 1 s, sent in odd-sized pieces with small pauses so samples are
/// split across HTTP chunks; as WAV (header included) when `response_format` is "wav".
async fn speech(State((seen, status)): State<Upstream>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let wav = json["response_format"] == "wav";
    {
        let mut seen = seen.lock().unwrap();
        seen.bodies.push(json);
        seen.auth
            .push(headers.get("authorization").map(|v| v.to_str().unwrap().to_owned()));
    }
    if status != 200 {
        return (StatusCode::from_u16(status).unwrap(), "model overloaded").into_response();
    }
    let mut bytes = Vec::new();
    if wav {
        // A header with a LIST chunk and a placeholder data size, like a streaming writer's.
        bytes.extend_from_slice(b"RIFF\xff\xff\xff\xffWAVEfmt \x10\0\0\0\x01\0\x01\0");
        bytes.extend_from_slice(&24_000u32.to_le_bytes());
        bytes.extend_from_slice(&48_000u32.to_le_bytes());
        bytes.extend_from_slice(b"\x02\0\x10\0LIST\x04\0\0\0INFOdata\xff\xff\xff\xff");
    }
    for n in 0..24_000 {
        let s = (8000.0 * (2.0 * std::f64::consts::PI * 1000.0 * f64::from(n) / 24_000.0).sin()) as i16;
        bytes.extend_from_slice(&s.to_le_bytes());
    }
    let pieces: Vec<Vec<u8>> = bytes.chunks(3333).map(<[u8]>::to_vec).collect();
    let stream = futures::stream::unfold(pieces.into_iter(), |mut pieces| async move {
        let piece = pieces.next()?;
        tokio::time::sleep(Duration::from_millis(1)).await;
        Some((Ok::<_, std::convert::Infallible>(piece), pieces))
    });
    Body::from_stream(stream).into_response()
}

async fn upstream(status: u16) -> (String, Arc<Mutex<Seen>>) {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let router = axum::Router::new()
        .route("/v1/audio/speech", route_post(speech))
        .with_state((seen.clone(), status));
    (serve_router(router).await, seen)
}

fn upstream_config(base_url: String, format: UpstreamFormat) -> VoiceConfig {
    VoiceConfig {
        engine: EngineKind::Upstream,
        upstream: Some(UpstreamConfig {
            base_url,
            model: "tts-1".into(),
            voice: "alloy".into(),
            voices: BTreeMap::from([("Elliot".to_owned(), "onyx".to_owned())]),
            api_key: Some("sk-test".into()),
            response_format: format,
            sample_rate: 24_000,
            timeout_ms: 5_000,
        }),
        ..uncached()
    }
}

#[tokio::test]
async fn upstream_pcm_and_wav_are_streamed_and_resampled() {
    let (base_url, seen) = upstream(200).await;
    for format in [UpstreamFormat::Pcm, UpstreamFormat::Wav] {
        let base = serve(upstream_config(base_url.clone(), format)).await;
        for rate in [8_000u32, 16_000, 24_000, 48_000] {
            let mut json = body("Hello from upstream.", rate);
            json["message"]["voiceId"] = "Elliot".into();
            let response = post(&base, &json).await;
            assert_eq!(response.status(), 200);
            assert_eq!(response.headers()["x-voice-engine"], "upstream");
            let bytes = response.bytes().await.unwrap();
            assert!(!bytes.starts_with(b"RIFF"));
            let pcm = samples(&bytes);
            assert_eq!(pcm.len(), rate as usize, "{format:?} at {rate}: one second");
            let edge = rate as usize / 20;
            let level = tone_amplitude(&pcm[edge..pcm.len() - edge], rate, 1000.0);
            assert!(
                (level / 8000.0 - 1.0).abs() < 0.01,
                "{format:?} at {rate}: amplitude {level:.1}"
            );
        }
    }
    let seen = seen.lock().unwrap();
    let first = &seen.bodies[0];
    assert_eq!(first["input"], "Hello from upstream.");
    assert_eq!(first["model"], "tts-1");
    assert_eq!(first["voice"], "onyx");
    assert_eq!(first["response_format"], "pcm");
    assert_eq!(seen.bodies.last().unwrap()["response_format"], "wav");
    assert!(seen.auth.iter().all(|a| a.as_deref() == Some("Bearer sk-test")));
}

#[tokio::test]
async fn upstream_errors_are_502_and_503() {
    let (base_url, _) = upstream(500).await;
    let service = VoiceService::new(upstream_config(base_url, UpstreamFormat::Pcm)).unwrap();
    let response = service.respond(request("hello", 16_000)).await;
    assert_eq!(response.status(), 502);
    let err = service.render(&request("hello", 16_000)).await.unwrap_err().to_string();
    assert!(err.contains("upstream") && err.contains("model overloaded"), "{err}");

    // Nothing listening: bind a port, then free it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let service = VoiceService::new(upstream_config(format!("http://127.0.0.1:{port}"), UpstreamFormat::Pcm)).unwrap();
    let response = service.respond(request("hello", 16_000)).await;
    assert_eq!(response.status(), 503);
    let err = service.render(&request("hello", 16_000)).await.unwrap_err().to_string();
    assert!(err.contains("start the server or fix voice.upstream.base_url"), "{err}");
}

/// Writes a 1 kHz tone (0.5 s at amplitude 0.25 of full scale) in the given WAV format.
fn write_tone(path: &std::path::Path, rate: u32, channels: u16, bits: u16, float: bool) {
    let spec = hound::WavSpec {
        channels,
        sample_rate: rate,
        bits_per_sample: bits,
        sample_format: if float {
            hound::SampleFormat::Float
        } else {
            hound::SampleFormat::Int
        },
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for n in 0..rate / 2 {
        let x = 0.25 * (2.0 * std::f64::consts::PI * 1000.0 * f64::from(n) / f64::from(rate)).sin();
        for _ in 0..channels {
            if float {
                w.write_sample(x as f32).unwrap();
            } else {
                let scale = f64::from(1u32 << (bits - 1));
                w.write_sample((x * scale).round() as i32).unwrap();
            }
        }
    }
    w.finalize().unwrap();
}

#[tokio::test]
async fn prompts_of_any_format_play_at_any_rate() {
    let dir = temp_dir("prompts");
    let formats = [
        ("Thanks for calling.", 44_100, 2, 24, false),
        ("Please hold.", 16_000, 1, 32, true),
        ("Goodbye.", 8_000, 1, 16, false),
        ("One moment.", 48_000, 2, 32, false),
    ];
    let mut prompts = BTreeMap::new();
    for (i, (text, rate, channels, bits, float)) in formats.iter().enumerate() {
        let path = dir.join(format!("{i}.wav"));
        write_tone(&path, *rate, *channels, *bits, *float);
        prompts.insert(text.to_string(), path);
    }
    let config = VoiceConfig { prompts, ..cached() };
    let base = serve(config).await;
    for (text, native_rate, ..) in formats {
        for rate in [8_000u32, 22_050, 24_000, 48_000] {
            let response = post(&base, &body(&format!("  {text} "), rate)).await;
            assert_eq!(response.status(), 200);
            assert_eq!(response.headers()["x-voice-cache"], "prompt");
            let pcm = samples(&response.bytes().await.unwrap());
            let native_len = native_rate / 2;
            let expected = (u64::from(native_len) * u64::from(rate)).div_ceil(u64::from(native_rate));
            assert_eq!(pcm.len() as u64, expected, "{text} at {rate}");
            let edge = rate as usize / 20;
            let level = tone_amplitude(&pcm[edge..pcm.len() - edge], rate, 1000.0) / 8192.0;
            assert!((level - 1.0).abs() < 0.01, "{text} at {rate}: level {level:.4}");
        }
    }
    // A text that is not a prompt goes to the engine.
    let other = post(&base, &body("Something else.", 8_000)).await;
    assert_eq!(other.headers()["x-voice-engine"], "espeak");
}
