//! Resampler quality and bookkeeping: frequency and level kept, aliases rejected, streamed
//! output equal to one-shot output, exact lengths.

use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Resampler};
use voice::resample::{StreamResampler, expected_len, from_i16, to_i16};

const INPUT_RATES: [u32; 4] = [16_000, 22_050, 24_000, 44_100];
const OUTPUT_RATES: [u32; 6] = [8_000, 16_000, 22_050, 24_000, 44_100, 48_000];

fn sine(rate: u32, freq: f64, amplitude: f64, len: usize) -> Vec<f32> {
    (0..len)
        .map(|n| (amplitude * (2.0 * std::f64::consts::PI * freq * n as f64 / f64::from(rate)).sin()) as f32)
        .collect()
}

/// Streams `input` through a resampler in varying piece sizes (1..=997 samples).
fn stream(input: &[f32], from: u32, to: u32) -> Vec<f32> {
    let mut r = StreamResampler::new(from, to).unwrap();
    let mut out = Vec::new();
    let mut at = 0;
    let mut piece = 1;
    while at < input.len() {
        let end = (at + piece).min(input.len());
        r.process(&input[at..end], &mut out).unwrap();
        at = end;
        piece = (piece * 7 + 13) % 997 + 1;
    }
    r.finish(&mut out).unwrap();
    out
}

/// Least-squares fit of `a·sin + b·cos + c` at `freq`; returns (amplitude, residual rms).
fn fit(signal: &[f32], rate: u32, freq: f64) -> (f64, f64) {
    let w = 2.0 * std::f64::consts::PI * freq / f64::from(rate);
    let basis = |n: usize| [(w * n as f64).sin(), (w * n as f64).cos(), 1.0];
    let mut m = [[0.0f64; 3]; 3];
    let mut v = [0.0f64; 3];
    for (n, &y) in signal.iter().enumerate() {
        let b = basis(n);
        for i in 0..3 {
            v[i] += b[i] * f64::from(y);
            for j in 0..3 {
                m[i][j] += b[i] * b[j];
            }
        }
    }
    let coef = solve3(m, v);
    let mut residual = 0.0;
    for (n, &y) in signal.iter().enumerate() {
        let b = basis(n);
        let model = coef[0] * b[0] + coef[1] * b[1] + coef[2] * b[2];
        residual += (f64::from(y) - model).powi(2);
    }
    (coef[0].hypot(coef[1]), (residual / signal.len() as f64).sqrt())
}

fn solve3(m: [[f64; 3]; 3], v: [f64; 3]) -> [f64; 3] {
    let det = |a: [[f64; 3]; 3]| {
        a[0][0] * (a[1][1] * a[2][2] - a[1][2] * a[2][1]) - a[0][1] * (a[1][0] * a[2][2] - a[1][2] * a[2][0])
            + a[0][2] * (a[1][0] * a[2][1] - a[1][1] * a[2][0])
    };
    let d = det(m);
    let mut out = [0.0; 3];
    for (k, o) in out.iter_mut().enumerate() {
        let mut mk = m;
        for i in 0..3 {
            mk[i][k] = v[i];
        }
        *o = det(mk) / d;
    }
    out
}

fn rms(signal: &[f32]) -> f64 {
    (signal.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>() / signal.len() as f64).sqrt()
}

/// The middle of a signal, away from the edges where the filter starts and stops.
fn middle(signal: &[f32], rate: u32) -> &[f32] {
    let edge = (rate / 20) as usize; // 50 ms
    &signal[edge..signal.len() - edge]
}

fn db(ratio: f64) -> f64 {
    20.0 * ratio.log10()
}

#[test]
fn one_khz_keeps_frequency_and_level_at_every_rate() {
    let amplitude = 0.5; // -6 dBFS
    for from in INPUT_RATES {
        let input = sine(from, 1000.0, amplitude, from as usize / 2);
        for to in OUTPUT_RATES {
            let out = stream(&input, from, to);
            let (a, residual) = fit(middle(&out, to), to, 1000.0);
            let level = db(a / amplitude);
            assert!(level.abs() <= 0.1, "{from} -> {to}: level {level:.4} dB");
            let thdn = db(residual / a);
            assert!(thdn < -90.0, "{from} -> {to}: thd+n {thdn:.1} dB");
            // The same after the i16 edge (dither-free quantization caps it near -92 dB).
            let quantized: Vec<f32> = out.iter().map(|&x| from_i16(to_i16(x))).collect();
            let (aq, residual_q) = fit(middle(&quantized, to), to, 1000.0);
            assert!(db(aq / amplitude).abs() <= 0.1);
            assert!(db(residual_q / aq) < -85.0, "{from} -> {to}: i16 thd+n");
        }
    }
}

#[test]
fn tones_between_the_two_nyquists_are_rejected_by_60_db() {
    let amplitude = 0.5;
    for from in INPUT_RATES {
        for to in OUTPUT_RATES.into_iter().filter(|&to| to < from) {
            let (out_nyquist, in_nyquist) = (f64::from(to) / 2.0, f64::from(from) / 2.0);
            // Well inside the band that must vanish: 1.25 × out-Nyquist, or the midpoint.
            let freq = (out_nyquist * 1.25).min((out_nyquist + in_nyquist) / 2.0);
            let input = sine(from, freq, amplitude, from as usize / 2);
            let out = stream(&input, from, to);
            let attenuation = db(rms(middle(&out, to)) / (amplitude / 2f64.sqrt()));
            assert!(
                attenuation <= -60.0,
                "{from} -> {to}: {freq:.0} Hz only {attenuation:.1} dB down"
            );
        }
    }
}

#[test]
fn streamed_output_equals_one_shot_output() {
    for from in INPUT_RATES {
        // Speech-like: a few tones and a decaying envelope, 0.3 s.
        let len = (from as usize * 3) / 10;
        let input: Vec<f32> = (0..len)
            .map(|n| {
                let t = n as f64 / f64::from(from);
                (0.3 * (2.0 * std::f64::consts::PI * 220.0 * t).sin()
                    + 0.2 * (2.0 * std::f64::consts::PI * 1500.0 * t).sin() * (-3.0 * t).exp()) as f32
            })
            .collect();
        for to in OUTPUT_RATES {
            let streamed = stream(&input, from, to);
            let ours = StreamResampler::resample_all(from, to, &input).unwrap();
            assert_eq!(streamed, ours, "{from} -> {to}: streamed vs resample_all");

            // rubato's own one-shot process_all, on the same resampler configuration.
            let chunk = StreamResampler::new(from, to)
                .map(|_| (from as usize / 50).max(1))
                .unwrap();
            if from == to {
                assert_eq!(streamed, input);
                continue;
            }
            let mut fft = Fft::<f32>::new(from as usize, to as usize, chunk, 1, FixedSync::Input).unwrap();
            let adapter = InterleavedSlice::new(&input, 1, input.len()).unwrap();
            let reference = fft.process_all(&adapter, input.len(), None).unwrap().take_data();
            assert!(
                streamed.len().abs_diff(reference.len()) <= 1,
                "{from} -> {to}: {} vs {}",
                streamed.len(),
                reference.len()
            );
            let worst = streamed
                .iter()
                .zip(&reference)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max);
            assert!(worst < 1e-5, "{from} -> {to}: differs by {worst}");
            let lsb = streamed
                .iter()
                .zip(&reference)
                .all(|(&a, &b)| (to_i16(a) - to_i16(b)).abs() <= 1);
            assert!(lsb, "{from} -> {to}: more than 1 LSB apart");
        }
    }
}

#[test]
fn output_length_matches_the_rate_ratio() {
    for from in INPUT_RATES {
        for to in OUTPUT_RATES {
            for len in [0usize, 1, 7, 319, 320, 441, 442, 1000, 4410, 22_051] {
                let input = vec![0.1f32; len];
                let out = stream(&input, from, to);
                let want = (len as u64 * u64::from(to)).div_ceil(u64::from(from));
                assert_eq!(expected_len(len as u64, from, to), want);
                assert!(
                    (out.len() as u64).abs_diff(want) <= 1,
                    "{from} -> {to}, {len} samples: {} vs {want}",
                    out.len()
                );
            }
        }
    }
}

#[test]
fn equal_rates_pass_through_bit_exact() {
    let samples: Vec<i16> = (0..5000).map(|n| ((n * 7919) % 65536 - 32768) as i16).collect();
    let input: Vec<f32> = samples.iter().map(|&s| from_i16(s)).collect();
    let out = stream(&input, 24_000, 24_000);
    let back: Vec<i16> = out.iter().map(|&x| to_i16(x)).collect();
    assert_eq!(back, samples);
}

#[test]
fn full_scale_input_clamps_instead_of_wrapping() {
    // A full-scale square wave overshoots after band-limiting (Gibbs); i16 must saturate.
    let input: Vec<f32> = (0..22_050)
        .map(|n| if (n / 50) % 2 == 0 { 1.0 } else { -1.0 })
        .collect();
    let out = stream(&input, 22_050, 8_000);
    assert!(
        out.iter().any(|&x| x.abs() > 1.0),
        "expected overshoot to test clamping"
    );
    for (&f, s) in out.iter().zip(out.iter().map(|&x| to_i16(x))) {
        if f > 0.5 {
            assert!(s > 0, "{f} wrapped to {s}");
        }
        if f < -0.5 {
            assert!(s < 0, "{f} wrapped to {s}");
        }
    }
    assert_eq!(to_i16(1.5), i16::MAX);
    assert_eq!(to_i16(-1.5), i16::MIN);
    assert_eq!(to_i16(f32::NAN), 0);
}

#[test]
fn a_resampler_is_reusable_after_finish() {
    let input = sine(22_050, 440.0, 0.3, 5000);
    let mut r = StreamResampler::new(22_050, 16_000).unwrap();
    let mut first = Vec::new();
    r.process(&input, &mut first).unwrap();
    r.finish(&mut first).unwrap();
    let mut second = Vec::new();
    r.process(&input, &mut second).unwrap();
    r.finish(&mut second).unwrap();
    assert_eq!(first, second);
}
