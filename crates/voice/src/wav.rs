//! WAV in both directions: an incremental decoder for engine output (WAV or raw s16le,
//! arriving in arbitrary pieces), file loading for recorded prompts, and file writing for
//! `switchboard say`.
//!
//! The streaming decoder parses the RIFF chunk list itself instead of trusting a fixed
//! 44-byte header: espeak-ng and other pipe writers emit *streaming* headers whose sizes are
//! placeholders (`0x7ffff000`, `0xffffffff` or `0`). A stated `data` size is treated as an
//! upper bound and end of input before it is a normal end of stream. Not supported:
//! compressed formats (ADPCM, µ-law) and big-endian `RIFX`.

use std::path::Path;

use crate::error::VoiceError;

/// What an engine's byte stream is expected to contain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Container {
    /// WAV when it starts with `RIFF`/`RF64`, otherwise raw mono s16le at this rate.
    Auto {
        /// Rate of headerless input.
        raw_rate: u32,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SampleKind {
    U8,
    I16,
    I24,
    I32,
    F32,
    F64,
}

impl SampleKind {
    fn bytes(self) -> usize {
        match self {
            SampleKind::U8 => 1,
            SampleKind::I16 => 2,
            SampleKind::I24 => 3,
            SampleKind::I32 | SampleKind::F32 => 4,
            SampleKind::F64 => 8,
        }
    }

    fn decode(self, b: &[u8]) -> f32 {
        match self {
            SampleKind::U8 => (f32::from(b[0]) - 128.0) / 128.0,
            SampleKind::I16 => f32::from(i16::from_le_bytes([b[0], b[1]])) / 32768.0,
            SampleKind::I24 => {
                let v = i32::from_le_bytes([0, b[0], b[1], b[2]]) >> 8;
                v as f32 / 8_388_608.0
            }
            SampleKind::I32 => i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f32 / 2_147_483_648.0,
            SampleKind::F32 => f32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            SampleKind::F64 => f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]) as f32,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Format {
    rate: u32,
    channels: usize,
    kind: SampleKind,
}

impl Format {
    fn frame_bytes(&self) -> usize {
        self.channels * self.kind.bytes()
    }
}

#[derive(Debug)]
enum State {
    /// Waiting for 4 bytes to tell WAV from raw.
    Detect { raw_rate: u32 },
    /// Collecting the RIFF header up to the start of the `data` payload.
    Header,
    /// Decoding samples; `remaining` is the stated data size, if it is believable.
    Data { format: Format, remaining: Option<u64> },
}

/// Largest header (all chunks before `data`) accepted, so a bogus stream cannot grow memory.
const MAX_HEADER: usize = 1 << 20;

/// Turns an engine's bytes into mono f32 samples at the stream's native rate.
#[derive(Debug)]
pub(crate) struct PcmDecoder {
    state: State,
    buf: Vec<u8>,
}

impl PcmDecoder {
    /// A decoder for the given container.
    pub(crate) fn new(container: Container) -> Self {
        let Container::Auto { raw_rate } = container;
        PcmDecoder {
            state: State::Detect { raw_rate },
            buf: Vec::new(),
        }
    }

    /// The native rate, once the header (if any) has been read.
    pub(crate) fn rate(&self) -> Option<u32> {
        match &self.state {
            State::Data { format, .. } => Some(format.rate),
            _ => None,
        }
    }

    /// Feeds bytes and appends decoded mono samples to `out`.
    pub(crate) fn feed(&mut self, bytes: &[u8], out: &mut Vec<f32>) -> Result<(), String> {
        self.buf.extend_from_slice(bytes);
        loop {
            match &mut self.state {
                State::Detect { raw_rate } => {
                    if self.buf.len() < 4 {
                        return Ok(());
                    }
                    if &self.buf[..4] == b"RIFF" || &self.buf[..4] == b"RF64" {
                        self.state = State::Header;
                    } else {
                        self.state = State::Data {
                            format: Format {
                                rate: *raw_rate,
                                channels: 1,
                                kind: SampleKind::I16,
                            },
                            remaining: None,
                        };
                    }
                }
                State::Header => match parse_header(&self.buf)? {
                    None => {
                        if self.buf.len() > MAX_HEADER {
                            return Err("wav header is over 1 MiB without a data chunk".into());
                        }
                        return Ok(());
                    }
                    Some((format, data_start, remaining)) => {
                        self.buf.drain(..data_start);
                        self.state = State::Data { format, remaining };
                    }
                },
                State::Data { format, remaining } => {
                    let frame = format.frame_bytes();
                    let mut usable = self.buf.len() - self.buf.len() % frame;
                    if let Some(left) = remaining {
                        usable = usable.min((*left - *left % frame as u64) as usize);
                        *left -= usable as u64;
                    }
                    let channels = format.channels;
                    let kind = format.kind;
                    let width = kind.bytes();
                    out.reserve(usable / frame);
                    for f in self.buf[..usable].chunks_exact(frame) {
                        let sum: f32 = f.chunks_exact(width).map(|s| kind.decode(s)).sum();
                        out.push(sum / channels as f32);
                    }
                    self.buf.drain(..usable);
                    if remaining.is_some_and(|left| left < frame as u64) {
                        // The stated data is complete; whatever follows is other chunks.
                        self.buf.clear();
                    }
                    return Ok(());
                }
            }
        }
    }

    /// Checks the end of input: a WAV stream must at least have had a complete header.
    pub(crate) fn finish(&self) -> Result<(), String> {
        match self.state {
            State::Header => Err("the output ended inside its wav header".into()),
            _ => Ok(()),
        }
    }
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}
fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Parses `RIFF....WAVE` and its chunks up to `data`. `Ok(None)` means "need more bytes".
fn parse_header(b: &[u8]) -> Result<Option<(Format, usize, Option<u64>)>, String> {
    if b.len() < 12 {
        return Ok(None);
    }
    if &b[8..12] != b"WAVE" {
        return Err("riff stream is not WAVE".into());
    }
    let mut pos = 12;
    let mut format = None;
    loop {
        if b.len() < pos + 8 {
            return Ok(None);
        }
        let id = &b[pos..pos + 4];
        let size = u32_at(b, pos + 4);
        let body = pos + 8;
        if id == b"data" {
            let format = format.ok_or("wav data chunk comes before its fmt chunk")?;
            // Placeholder sizes of streaming writers mean "until the end".
            let remaining = match size {
                0 | 0xffff_ffff => None,
                n => Some(u64::from(n)),
            };
            return Ok(Some((format, body, remaining)));
        }
        let padded = size as usize + (size as usize & 1);
        if b.len() < body + padded {
            if body + padded > MAX_HEADER {
                return Err(format!(
                    "wav chunk {:?} of {size} bytes is too large before data",
                    String::from_utf8_lossy(id)
                ));
            }
            return Ok(None);
        }
        if id == b"fmt " {
            format = Some(parse_fmt(&b[body..body + size as usize])?);
        }
        pos = body + padded;
    }
}

fn parse_fmt(f: &[u8]) -> Result<Format, String> {
    if f.len() < 16 {
        return Err("wav fmt chunk is shorter than 16 bytes".into());
    }
    let mut tag = u16_at(f, 0);
    let channels = usize::from(u16_at(f, 2));
    let rate = u32_at(f, 4);
    let bits = u16_at(f, 14);
    if tag == 0xfffe {
        // WAVE_FORMAT_EXTENSIBLE: the sub-format GUID starts with the real tag.
        if f.len() < 26 {
            return Err("extensible wav fmt chunk is truncated".into());
        }
        tag = u16_at(f, 24);
    }
    let kind = match (tag, bits) {
        (1, 8) => SampleKind::U8,
        (1, 16) => SampleKind::I16,
        (1, 24) => SampleKind::I24,
        (1, 32) => SampleKind::I32,
        (3, 32) => SampleKind::F32,
        (3, 64) => SampleKind::F64,
        _ => {
            return Err(format!(
                "unsupported wav encoding (format tag {tag}, {bits} bits): use pcm or float"
            ));
        }
    };
    if channels == 0 || channels > 8 {
        return Err(format!("unsupported wav channel count {channels}"));
    }
    if !crate::config::NATIVE_RATES.contains(&rate) {
        return Err(format!("unsupported wav sample rate {rate}"));
    }
    Ok(Format { rate, channels, kind })
}

/// Reads a whole WAV file (any rate, mono or multi-channel, 8/16/24/32-bit int or float)
/// as mono f32 and its rate.
pub(crate) fn read_wav_mono(path: &Path) -> Result<(Vec<f32>, u32), VoiceError> {
    let wav_err = |reason: String| VoiceError::Wav {
        path: path.display().to_string(),
        reason,
    };
    let reader = hound::WavReader::open(path).map_err(|e| wav_err(e.to_string()))?;
    let spec = reader.spec();
    let channels = usize::from(spec.channels.max(1));
    let interleaved: Vec<f32> = match spec.sample_format {
        hound::SampleFormat::Float => reader
            .into_samples::<f32>()
            .collect::<Result<_, _>>()
            .map_err(|e| wav_err(e.to_string()))?,
        hound::SampleFormat::Int => {
            let scale = 2f32.powi(i32::from(spec.bits_per_sample) - 1);
            reader
                .into_samples::<i32>()
                .map(|s| s.map(|v| v as f32 / scale))
                .collect::<Result<_, _>>()
                .map_err(|e| wav_err(e.to_string()))?
        }
    };
    let mono = interleaved
        .chunks_exact(channels)
        .map(|f| f.iter().sum::<f32>() / channels as f32)
        .collect();
    Ok((mono, spec.sample_rate))
}

/// Writes mono 16-bit PCM to a WAV file.
pub fn write_wav(path: &Path, samples: &[i16], sample_rate: u32) -> Result<(), VoiceError> {
    let wav_err = |e: hound::Error| VoiceError::Wav {
        path: path.display().to_string(),
        reason: e.to_string(),
    };
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut writer = hound::WavWriter::create(path, spec).map_err(wav_err)?;
    let mut w16 = writer.get_i16_writer(samples.len() as u32);
    for &s in samples {
        w16.write_sample(s);
    }
    w16.flush().map_err(wav_err)?;
    writer.finalize().map_err(wav_err)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(fmt_tag: u16, channels: u16, rate: u32, bits: u16, data_size: u32, extra: &[u8]) -> Vec<u8> {
        let mut h = Vec::new();
        h.extend_from_slice(b"RIFF");
        h.extend_from_slice(&0x7fff_f024u32.to_le_bytes());
        h.extend_from_slice(b"WAVE");
        h.extend_from_slice(extra);
        h.extend_from_slice(b"fmt ");
        h.extend_from_slice(&16u32.to_le_bytes());
        h.extend_from_slice(&fmt_tag.to_le_bytes());
        h.extend_from_slice(&channels.to_le_bytes());
        h.extend_from_slice(&rate.to_le_bytes());
        let block = channels * bits / 8;
        h.extend_from_slice(&(rate * u32::from(block)).to_le_bytes());
        h.extend_from_slice(&block.to_le_bytes());
        h.extend_from_slice(&bits.to_le_bytes());
        h.extend_from_slice(b"data");
        h.extend_from_slice(&data_size.to_le_bytes());
        h
    }

    fn decode_in_pieces(bytes: &[u8], piece: usize) -> (Vec<f32>, Option<u32>) {
        let mut d = PcmDecoder::new(Container::Auto { raw_rate: 16_000 });
        let mut out = Vec::new();
        for p in bytes.chunks(piece) {
            d.feed(p, &mut out).unwrap();
        }
        d.finish().unwrap();
        (out, d.rate())
    }

    #[test]
    fn streaming_header_with_placeholder_size_and_list_chunk() {
        let mut list = Vec::new();
        list.extend_from_slice(b"LIST");
        list.extend_from_slice(&5u32.to_le_bytes());
        list.extend_from_slice(b"abcde\0"); // odd size plus pad byte
        let mut bytes = header(1, 1, 22_050, 16, 0x7fff_f000, &list);
        for s in [1i16, -2, 300, -32768, 32767] {
            bytes.extend_from_slice(&s.to_le_bytes());
        }
        for piece in [1, 2, 3, 7, 1000] {
            let (out, rate) = decode_in_pieces(&bytes, piece);
            assert_eq!(rate, Some(22_050));
            let back: Vec<i16> = out.iter().map(|&x| crate::resample::to_i16(x)).collect();
            assert_eq!(back, [1, -2, 300, -32768, 32767], "piece {piece}");
        }
    }

    #[test]
    fn stated_size_stops_before_trailing_chunks() {
        let mut bytes = header(1, 1, 8_000, 16, 4, &[]);
        bytes.extend_from_slice(&[1, 0, 2, 0]);
        bytes.extend_from_slice(b"LIST\x04\0\0\0junk");
        let (out, _) = decode_in_pieces(&bytes, 3);
        assert_eq!(out.len(), 2);
    }

    #[test]
    fn stereo_float_is_downmixed() {
        let mut bytes = header(3, 2, 48_000, 32, 0, &[]);
        for s in [0.5f32, 0.25, -1.0, 0.0] {
            bytes.extend_from_slice(&s.to_le_bytes());
        }
        let (out, rate) = decode_in_pieces(&bytes, 5);
        assert_eq!(rate, Some(48_000));
        assert_eq!(out, [0.375, -0.5]);
    }

    #[test]
    fn raw_without_header_uses_the_configured_rate() {
        let bytes: Vec<u8> = [5i16, -5, 7].iter().flat_map(|s| s.to_le_bytes()).collect();
        let (out, rate) = decode_in_pieces(&bytes, 1);
        assert_eq!(rate, Some(16_000));
        assert_eq!(out.len(), 3);
    }

    #[test]
    fn truncated_header_and_bad_formats_are_errors() {
        let mut d = PcmDecoder::new(Container::Auto { raw_rate: 16_000 });
        d.feed(b"RIFF\0\0\0\0WAVEfmt ", &mut Vec::new()).unwrap();
        assert!(d.finish().is_err());

        let bytes = header(2, 1, 8_000, 4, 0, &[]); // ADPCM
        let mut d = PcmDecoder::new(Container::Auto { raw_rate: 16_000 });
        assert!(d.feed(&bytes, &mut Vec::new()).is_err());
    }

    #[test]
    fn twenty_four_bit_sign_extends() {
        let mut bytes = header(1, 1, 44_100, 24, 6, &[]);
        bytes.extend_from_slice(&[0x00, 0x00, 0x80, 0xff, 0xff, 0x7f]);
        let (out, _) = decode_in_pieces(&bytes, 2);
        assert_eq!(out[0], -1.0);
        assert!((out[1] - 1.0).abs() < 1e-6);
    }
}
