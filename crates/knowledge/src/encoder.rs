//! A sentence encoder, for the meaning of a question that shares few words with its page.
//!
//! BM25 and the word tables ([`crate::synonyms`], [`crate::related`]) match words; a caller often says the same
//! thing in other words ("can you put me to sleep" for sedation, "my brakes squeal" for a brake inspection). A
//! sentence encoder maps a whole text to one vector, and texts that mean alike to close vectors, whatever their
//! words. [`Encoder`] runs a BERT-family sentence-transformers model (all-MiniLM-L6-v2 as `scripts/install-encoder`
//! installs it: 6 layers, 384 dimensions, 22 M parameters) on the CPU with candle, from a local folder in sentence-transformers' layout
//! (`config.json`, `model.safetensors`, `tokenizer.json`), mean-pooled as the model was trained. The folder comes
//! from a package registry (`scripts/install-encoder`); nothing is downloaded at build or run time.

use std::path::Path;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use tokenizers::{Tokenizer, TruncationParams};

use crate::KnowledgeError;

/// The most word pieces of a text the encoder reads (fewer when the model has fewer positions): all-MiniLM-L6-v2
/// was trained on 128, and a chunk's opening says what it is about. Longer texts are cut, which also bounds the
/// work per text.
pub(crate) const MAX_PIECES: usize = 256;

/// A loaded sentence encoder. Cheap to share: searches encode their query through `&self`.
pub(crate) struct Encoder {
    model: BertModel,
    tokenizer: Tokenizer,
}

impl Encoder {
    /// Loads the model in `dir`. Fails naming the file when one is missing or malformed.
    pub(crate) fn load(dir: &Path) -> Result<Encoder, KnowledgeError> {
        let failed = |file: &str, reason: String| KnowledgeError::Encoder {
            path: dir.join(file),
            reason,
        };
        let config = std::fs::read_to_string(dir.join("config.json"))
            .map_err(|error| failed("config.json", error.to_string()))?;
        let config: Config = serde_json::from_str(&config).map_err(|error| failed("config.json", error.to_string()))?;
        let max_pieces = MAX_PIECES.min(config.max_position_embeddings);
        let weights = dir.join("model.safetensors");
        let bytes = std::fs::read(&weights).map_err(|error| failed("model.safetensors", error.to_string()))?;
        let variables = VarBuilder::from_buffered_safetensors(bytes, DType::F32, &Device::Cpu)
            .map_err(|error| failed("model.safetensors", error.to_string()))?;
        let model =
            BertModel::load(variables, &config).map_err(|error| failed("model.safetensors", error.to_string()))?;
        let mut tokenizer = Tokenizer::from_file(dir.join("tokenizer.json"))
            .map_err(|error| failed("tokenizer.json", error.to_string()))?;
        // sentence-transformers' tokenizer pads every text to a fixed length; pooling would then average padding.
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: max_pieces,
                ..Default::default()
            }))
            .map_err(|error| failed("tokenizer.json", error.to_string()))?;
        let encoder = Encoder { model, tokenizer };
        // One text through the whole model proves the weights fit the configuration before the encoder serves.
        encoder
            .encode("hello")
            .map_err(|reason| failed("model.safetensors", reason))?;
        Ok(encoder)
    }

    /// The unit vector of `text`: the mean of the model's last hidden states over its word pieces (at most
    /// [`MAX_PIECES`]), normalised. An empty text is encoded as its special tokens alone.
    pub(crate) fn encode(&self, text: &str) -> Result<Vec<f32>, String> {
        let pieces = self.tokenizer.encode(text, true).map_err(|error| error.to_string())?;
        let run = || -> candle_core::Result<Vec<f32>> {
            let ids = Tensor::new(pieces.get_ids(), &Device::Cpu)?.unsqueeze(0)?;
            let types = ids.zeros_like()?;
            let states = self.model.forward(&ids, &types, None)?;
            states.mean(1)?.squeeze(0)?.to_vec1::<f32>()
        };
        let mut vector = run().map_err(|error| error.to_string())?;
        normalize(&mut vector);
        Ok(vector)
    }
}

/// Scales `vector` to unit length; a zero vector stays zero.
pub(crate) fn normalize(vector: &mut [f32]) {
    let norm = vector.iter().map(|value| value * value).sum::<f32>().sqrt();
    if norm > 0.0 {
        vector.iter_mut().for_each(|value| *value /= norm);
    }
}

/// The dot product of two vectors of one length: their cosine when both are unit vectors.
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(a, b)| a * b).sum()
}
