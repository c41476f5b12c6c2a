//! Recorded prompts: exact texts answered from WAV files instead of an engine.
//!
//! Each file is decoded with hound once, at startup, to mono f32 at its own rate; the first
//! request for a given output rate converts it through the same resampler as engine audio and
//! keeps the PCM for the life of the service. Prompts are few and fixed by configuration, so
//! this store is never evicted.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use bytes::Bytes;

use crate::error::VoiceError;
use crate::resample::{StreamResampler, to_i16};

struct Prompt {
    samples: Vec<f32>,
    rate: u32,
    path: PathBuf,
}

/// One prompt at one rate, filled on first use.
type ConvertedPcm = Arc<OnceLock<Bytes>>;

/// All configured prompts and their per-rate conversions.
#[derive(Default)]
pub(crate) struct Prompts {
    by_text: HashMap<String, usize>,
    prompts: Vec<Prompt>,
    converted: Mutex<HashMap<(usize, u32), ConvertedPcm>>,
}

impl Prompts {
    /// Loads every file of `map` (text → path).
    pub(crate) fn load<'a>(map: impl IntoIterator<Item = (&'a String, &'a PathBuf)>) -> Result<Self, VoiceError> {
        let mut prompts = Prompts::default();
        for (text, path) in map {
            let (samples, rate) = crate::wav::read_wav_mono(path)?;
            if !crate::config::NATIVE_RATES.contains(&rate) {
                return Err(VoiceError::Wav {
                    path: path.display().to_string(),
                    reason: format!("sample rate {rate} is out of range 4000..=192000"),
                });
            }
            prompts.by_text.insert(text.trim().to_owned(), prompts.prompts.len());
            prompts.prompts.push(Prompt {
                samples,
                rate,
                path: path.clone(),
            });
        }
        Ok(prompts)
    }

    /// The prompt's PCM at `rate`, if `text` is a prompt; converted on first use.
    pub(crate) fn get(&self, text: &str, rate: u32) -> Option<Result<Bytes, VoiceError>> {
        let &index = self.by_text.get(text.trim())?;
        let cell = {
            let mut map = self.converted.lock().unwrap_or_else(|p| p.into_inner());
            map.entry((index, rate)).or_default().clone()
        };
        if let Some(bytes) = cell.get() {
            return Some(Ok(bytes.clone()));
        }
        let prompt = &self.prompts[index];
        let converted = match StreamResampler::resample_all(prompt.rate, rate, &prompt.samples) {
            Ok(samples) => samples,
            Err(e) => return Some(Err(e)),
        };
        let bytes: Vec<u8> = converted.iter().flat_map(|&s| to_i16(s).to_le_bytes()).collect();
        tracing::debug!(path = %prompt.path.display(), rate, "converted prompt");
        // A racing request may have converted it too; both results are identical.
        Some(Ok(cell.get_or_init(|| Bytes::from(bytes)).clone()))
    }
}
