//! Streaming sample-rate conversion of mono audio, with rubato's FFT resampler.
//!
//! Input arrives in pieces of any size; it is processed in 20 ms chunks of the input rate, and
//! the startup delay of the filter is trimmed so the output starts with the first input sample.
//! [`StreamResampler::finish`] flushes the tail so the total output length is exactly
//! `ceil(n · out / in)` (integer math). Equal rates pass samples through untouched; otherwise NaN
//! input samples are resampled as silence and others are clamped to `[-1, 1]` first.
//!
//! Deliberately absent: the polynomial and sinc `Async` resamplers (the polynomial ones alias
//! badly when downsampling), multi-channel audio (engines downmix first) and sample formats
//! other than `f32` (see [`to_i16`] / [`from_i16`] for the edges).

use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Indexing, Resampler};

use crate::error::VoiceError;

/// Converts one mono stream from `input_rate` to `output_rate`.
pub struct StreamResampler {
    input_rate: u32,
    output_rate: u32,
    fft: Option<FftState>,
    consumed: u64,
    emitted: u64,
}

struct FftState {
    fft: Fft<f32>,
    chunk: usize,
    pending: Vec<f32>,
    out_buf: Vec<f32>,
    to_trim: usize,
}

impl std::fmt::Debug for StreamResampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamResampler")
            .field("input_rate", &self.input_rate)
            .field("output_rate", &self.output_rate)
            .field("consumed", &self.consumed)
            .field("emitted", &self.emitted)
            .finish()
    }
}

/// The exact output length for `input_len` samples: `ceil(input_len · out / in)`.
pub fn expected_len(input_len: u64, input_rate: u32, output_rate: u32) -> u64 {
    let (inr, outr) = (u64::from(input_rate), u64::from(output_rate));
    (input_len * outr).div_ceil(inr)
}

/// Float sample in `[-1, 1)` to i16, rounded and clamped (never wraps).
pub fn to_i16(sample: f32) -> i16 {
    // `as` saturates and maps NaN to 0, so the clamp is only for clarity.
    (sample * 32768.0).round().clamp(-32768.0, 32767.0) as i16
}

/// i16 to a float sample in `[-1, 1)`; exact, so `to_i16(from_i16(x)) == x`.
pub fn from_i16(sample: i16) -> f32 {
    f32::from(sample) / 32768.0
}

impl StreamResampler {
    /// A resampler for the given rates; both must be in 1..=384000.
    pub fn new(input_rate: u32, output_rate: u32) -> Result<Self, VoiceError> {
        let range = 1..=384_000;
        if !range.contains(&input_rate) || !range.contains(&output_rate) {
            return Err(VoiceError::Resample(format!(
                "rates {input_rate} -> {output_rate} are out of range 1..=384000"
            )));
        }
        let fft = if input_rate == output_rate {
            None
        } else {
            // 20 ms of input per chunk; rubato may round it up to a multiple of its FFT size.
            let chunk = (input_rate as usize / 50).max(1);
            let fft = Fft::<f32>::new(input_rate as usize, output_rate as usize, chunk, 1, FixedSync::Input)
                .map_err(|e| VoiceError::Resample(e.to_string()))?;
            let chunk = fft.input_frames_next();
            let out_buf = vec![0.0; fft.output_frames_max()];
            let to_trim = fft.output_delay();
            Some(FftState {
                fft,
                chunk,
                pending: Vec::with_capacity(chunk * 2),
                out_buf,
                to_trim,
            })
        };
        Ok(StreamResampler {
            input_rate,
            output_rate,
            fft,
            consumed: 0,
            emitted: 0,
        })
    }

    /// The input rate.
    pub fn input_rate(&self) -> u32 {
        self.input_rate
    }

    /// The output rate.
    pub fn output_rate(&self) -> u32 {
        self.output_rate
    }

    /// Feeds `input` and appends every output sample that is ready to `out`.
    pub fn process(&mut self, input: &[f32], out: &mut Vec<f32>) -> Result<(), VoiceError> {
        self.consumed += input.len() as u64;
        let Some(state) = &mut self.fft else {
            out.extend_from_slice(input);
            self.emitted += input.len() as u64;
            return Ok(());
        };
        // rubato's inverse FFT panics on a non-finite spectrum, so NaN becomes silence and everything else is
        // clamped to full scale (which `to_i16` would clip to anyway) before filtering.
        state
            .pending
            .extend(input.iter().map(|&s| if s.is_nan() { 0.0 } else { s.clamp(-1.0, 1.0) }));
        let mut offset = 0;
        while state.pending.len() - offset >= state.chunk {
            let n = state.run(offset, None, out)?;
            self.emitted += n as u64;
            offset += state.chunk;
        }
        state.pending.drain(..offset);
        Ok(())
    }

    /// Flushes the tail: appends the remaining output so that the total is exactly
    /// [`expected_len`] of everything fed, then resets for a new stream.
    pub fn finish(&mut self, out: &mut Vec<f32>) -> Result<(), VoiceError> {
        let target = expected_len(self.consumed, self.input_rate, self.output_rate);
        if let Some(state) = &mut self.fft {
            let start = out.len();
            let mut partial = state.pending.len();
            // Feed the partial chunk, then silence, until the filter has pushed out the tail.
            while self.emitted + ((out.len() - start) as u64) < target {
                let indexing = Indexing::new().partial_len(partial);
                state.run(0, Some(&indexing), out)?;
                state.pending.clear();
                partial = 0;
            }
            let want = start + (target - self.emitted) as usize;
            out.truncate(want);
            state.fft.reset();
            state.pending.clear();
            state.to_trim = state.fft.output_delay();
        }
        self.consumed = 0;
        self.emitted = 0;
        Ok(())
    }

    /// Resamples a whole clip at once: the same as one `process` and `finish`.
    pub fn resample_all(input_rate: u32, output_rate: u32, input: &[f32]) -> Result<Vec<f32>, VoiceError> {
        let mut resampler = StreamResampler::new(input_rate, output_rate)?;
        let expected = expected_len(input.len() as u64, input_rate, output_rate) as usize;
        let mut out = Vec::with_capacity(expected + resampler.max_chunk_output());
        resampler.process(input, &mut out)?;
        resampler.finish(&mut out)?;
        Ok(out)
    }

    /// The most output samples one internal chunk can produce.
    fn max_chunk_output(&self) -> usize {
        self.fft.as_ref().map_or(0, |s| s.out_buf.len())
    }
}

impl FftState {
    /// Processes one chunk starting at `pending[offset]` (or a partial one, per `indexing`)
    /// and appends its output, minus whatever startup delay is still to be trimmed.
    fn run(&mut self, offset: usize, indexing: Option<&Indexing>, out: &mut Vec<f32>) -> Result<usize, VoiceError> {
        let err = |e: &dyn std::fmt::Display| VoiceError::Resample(e.to_string());
        let frames = self.pending.len().saturating_sub(offset);
        let input = &self.pending[offset..];
        // An empty slice is fine for a partial (silence-padded) chunk.
        let adapter = InterleavedSlice::new(input, 1, frames).map_err(|e| err(&e))?;
        let out_len = self.out_buf.len();
        let mut out_adapter = InterleavedSlice::new_mut(&mut self.out_buf, 1, out_len).map_err(|e| err(&e))?;
        let (_, produced) = self
            .fft
            .process_into_buffer(&adapter, &mut out_adapter, indexing)
            .map_err(|e| err(&e))?;
        let skip = self.to_trim.min(produced);
        self.to_trim -= skip;
        out.extend_from_slice(&self.out_buf[skip..produced]);
        Ok(produced - skip)
    }
}
