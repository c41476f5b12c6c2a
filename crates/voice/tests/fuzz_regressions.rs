//! Inputs the `voice` fuzz target (`fuzz/fuzz_targets/voice.rs`) found crashing, kept as regression tests.

use voice::resample::{StreamResampler, expected_len, to_i16};

/// Decodes a fuzz input of the resampler mode the way the fuzz target does:
/// `[in_rate: u16 LE][out_rate: u16 LE][flags: u8][raw f32 LE samples...]` (flags bit 0 set).
fn decode(input: &[u8]) -> (u32, u32, Vec<f32>) {
    let rate = |b: [u8; 2]| 8_000 + u32::from(u16::from_le_bytes(b)) % 40_001;
    assert_eq!(input[4] & 1, 1, "raw f32 samples");
    let samples = input[5..]
        .chunks_exact(4)
        .map(|s| f32::from_le_bytes([s[0], s[1], s[2], s[3]]))
        .collect();
    (rate([input[0], input[1]]), rate([input[2], input[3]]), samples)
}

fn stream(from: u32, to: u32, samples: &[f32]) -> Vec<f32> {
    let mut resampler = StreamResampler::new(from, to).unwrap();
    let mut out = Vec::new();
    resampler.process(samples, &mut out).unwrap();
    resampler.finish(&mut out).unwrap();
    out
}

/// A NaN sample (bytes `ff ff ff ff`) at 10720 -> 33311 Hz made rubato's inverse FFT panic ("Imaginary part
/// of first value was non-zero") in `finish`. NaN is now resampled as silence.
#[test]
fn nan_sample_does_not_panic() {
    let input = [0xa0, 0x0a, 0x20, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
    let (from, to, samples) = decode(&input);
    assert_eq!((from, to, samples.len()), (10_720, 33_311, 1));
    let out = stream(from, to, &samples);
    assert_eq!(out.len() as u64, expected_len(1, from, to));
    assert!(out.iter().all(|s| s.is_finite()), "{out:?}");
}

/// Infinities (and finite samples large enough to overflow the FFT) would make the spectrum non-finite the same
/// way (not seen by the fuzzer, inferred); they are clamped to full scale.
#[test]
fn non_finite_and_huge_samples_are_clamped() {
    let mut samples = vec![0.25_f32; 2_000];
    samples[10] = f32::INFINITY;
    samples[500] = f32::NEG_INFINITY;
    samples[900] = f32::MAX;
    samples[1_500] = f32::NAN;
    for (from, to) in [(16_000, 8_000), (22_050, 48_000), (24_000, 16_000)] {
        let out = stream(from, to, &samples);
        assert_eq!(out.len() as u64, expected_len(samples.len() as u64, from, to));
        assert!(out.iter().all(|s| s.is_finite()), "{from} -> {to}");
        for sample in out {
            let _ = to_i16(sample);
        }
    }
}
