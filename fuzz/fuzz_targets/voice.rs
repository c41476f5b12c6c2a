//! Fuzzes the voice server's request handling and its streaming resampler.
//!
//! An input that starts with `{` is a webhook body: `vapi_types::parse_body`, and for a `voice-request`
//! `VoiceService::render`, whose first step is the service's own (private) request validation. The service
//! runs the default configuration except that its espeak-ng program does not exist and the cache is off, so
//! no process ever starts: a request must fail with exactly the validation error its text and `sampleRate`
//! call for (empty text, text over 2000 characters, rate outside 8000..=48000, in that order), and a valid one
//! with the engine being unavailable. Nothing may panic.
//!
//! Any other input drives `voice::resample::StreamResampler`:
//! `[in_rate: u16 LE][out_rate: u16 LE][flags: u8][samples...]`, each rate mapped into 8000..=48000; bit 0 of
//! `flags` picks raw `f32` samples (any bit pattern, NaN included) over `i16` ones, the other bits seed the
//! sizes of the pieces the samples are fed in. After `finish` the output length must be
//! `resample::expected_len` ±1; the same resampler then takes a second stream (one piece), checked the same
//! way. Every output sample goes through `to_i16`.
//!
//! Seeds: `fuzz/seed.sh`. Run: `RUSTC_BOOTSTRAP=1 cargo fuzz run --sanitizer none voice -- -max_total_time=600`.

#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use vapi_types::MessageBody;
use voice::resample::{StreamResampler, expected_len, from_i16, to_i16};
use voice::{EspeakConfig, MAX_SAMPLE_RATE, MIN_SAMPLE_RATE, VoiceConfig, VoiceError, VoiceRequest, VoiceService};

const MAX_TEXT_CHARS: usize = 2000;

struct Harness {
    runtime: tokio::runtime::Runtime,
    service: VoiceService,
}

fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(|| {
        let config = VoiceConfig {
            max_text_chars: MAX_TEXT_CHARS,
            cache_bytes: 0,
            espeak: EspeakConfig {
                program: "/nonexistent/switchboard-fuzz/espeak-ng".into(),
                warm_processes: 0,
                ..EspeakConfig::default()
            },
            ..VoiceConfig::default()
        };
        Harness {
            runtime: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a tokio runtime"),
            service: VoiceService::new(config).expect("the fuzz voice config is valid"),
        }
    })
}

fn check_request(request: &VoiceRequest) {
    let harness = harness();
    let error = harness
        .runtime
        .block_on(harness.service.render(request))
        .expect_err("no engine can run, so no request succeeds");
    let _ = (error.to_string(), error.status());
    let chars = request.text.chars().count();
    match error {
        VoiceError::EmptyText => assert!(request.text.trim().is_empty(), "{request:?}"),
        VoiceError::TextTooLong { chars: told, max } => {
            assert!(!request.text.trim().is_empty() && chars > max, "{request:?}");
            assert_eq!((told, max), (chars, MAX_TEXT_CHARS), "{request:?}");
        }
        VoiceError::SampleRate(rate) => {
            assert!(
                !request.text.trim().is_empty() && chars <= MAX_TEXT_CHARS,
                "{request:?}"
            );
            assert_eq!(rate, u64::from(request.sample_rate));
            assert!(!(MIN_SAMPLE_RATE..=MAX_SAMPLE_RATE).contains(&request.sample_rate));
        }
        VoiceError::EngineUnavailable { .. } => {
            assert!(
                !request.text.trim().is_empty() && chars <= MAX_TEXT_CHARS,
                "{request:?}"
            );
            assert!((MIN_SAMPLE_RATE..=MAX_SAMPLE_RATE).contains(&request.sample_rate));
        }
        other => panic!("unexpected error {other:?} for {request:?}"),
    }
}

fn rate(bytes: [u8; 2]) -> u32 {
    MIN_SAMPLE_RATE + u32::from(u16::from_le_bytes(bytes)) % (MAX_SAMPLE_RATE - MIN_SAMPLE_RATE + 1)
}

fn check_length(out: &[f32], fed: usize, from: u32, to: u32) {
    let expected = expected_len(fed as u64, from, to);
    assert!(
        (out.len() as u64).abs_diff(expected) <= 1,
        "{fed} samples {from} -> {to}: {} out, expected {expected}",
        out.len()
    );
}

fn check_resample(data: &[u8]) {
    let [a, b, c, d, flags, rest @ ..] = data else {
        return;
    };
    let (from, to) = (rate([*a, *b]), rate([*c, *d]));
    let samples: Vec<f32> = if flags & 1 == 1 {
        rest.chunks_exact(4)
            .map(|s| f32::from_le_bytes([s[0], s[1], s[2], s[3]]))
            .collect()
    } else {
        rest.chunks_exact(2)
            .map(|s| from_i16(i16::from_le_bytes([s[0], s[1]])))
            .collect()
    };
    let mut resampler = StreamResampler::new(from, to).expect("rates within 8000..=48000 are accepted");
    let mut out = Vec::new();
    let mut piece = usize::from(flags >> 1) + 1;
    let mut at = 0;
    while at < samples.len() {
        let end = (at + piece).min(samples.len());
        resampler.process(&samples[at..end], &mut out).expect("process");
        at = end;
        piece = (piece * 7 + 13) % 997 + 1;
    }
    resampler.finish(&mut out).expect("finish");
    check_length(&out, samples.len(), from, to);
    for &sample in &out {
        let _ = to_i16(sample);
    }

    // `finish` resets: the same resampler takes a new stream.
    let mut second = Vec::new();
    resampler.process(&samples, &mut second).expect("process after finish");
    resampler.finish(&mut second).expect("second finish");
    check_length(&second, samples.len(), from, to);
}

fuzz_target!(|data: &[u8]| {
    if data.first() == Some(&b'{') {
        if let Ok(message) = vapi_types::parse_body(data)
            && let MessageBody::VoiceRequest(request) = &message.body
        {
            check_request(request);
        }
    } else {
        check_resample(data);
    }
});
