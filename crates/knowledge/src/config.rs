//! [`KnowledgeConfig`]: the plain configuration struct the edge fills from its config file.

use std::path::PathBuf;

use serde::Deserialize;

use crate::KnowledgeError;

/// How the knowledge base is built and queried. Every field has a default, so an empty table is valid.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KnowledgeConfig {
    /// The folder of `.md`, `.markdown` and `.txt` documents, read recursively. `None`: no knowledge base, every
    /// request gets an empty list.
    pub dir: Option<PathBuf>,
    /// How many documents an answer holds at most (default 3).
    pub top_k: usize,
    /// The largest chunk, in characters (default 1200). Documents are split at headings and paragraphs within it.
    pub chunk_chars: usize,
    /// The lowest similarity (`0..=1`) an answered document may have; unset, the one chosen for the ranking
    /// ([`KnowledgeConfig::min_similarity`]). See [`KnowledgeBase::search`](crate::KnowledgeBase::search) for
    /// what the number means.
    pub min_similarity: Option<f64>,
    /// The longest query built from a request, in characters (default 600).
    pub max_query_chars: usize,
    /// Files larger than this many bytes are skipped with a warning (default 4 MiB).
    pub max_file_bytes: u64,
    /// A sentence encoder's model folder (sentence-transformers' layout: `config.json`, `model.safetensors`,
    /// `tokenizer.json`; `scripts/install-encoder` puts all-MiniLM-L6-v2 in `.models/all-MiniLM-L6-v2`). Set, a
    /// chunk's similarity blends its BM25 similarity with the closeness in meaning of the chunk and the query (see
    /// the crate's README). `None` (the default) ranks by words alone, as BM25 with the synonym and WordNet tables.
    pub encoder: Option<PathBuf>,
}

impl Default for KnowledgeConfig {
    fn default() -> Self {
        KnowledgeConfig {
            dir: None,
            top_k: 3,
            chunk_chars: 1200,
            min_similarity: None,
            max_query_chars: 600,
            max_file_bytes: 4 * 1024 * 1024,
            encoder: None,
        }
    }
}

impl KnowledgeConfig {
    /// The smallest accepted `chunk_chars`: below it a heading and one sentence no longer fit.
    pub const MIN_CHUNK_CHARS: usize = 64;
    /// The largest accepted `top_k`.
    pub const MAX_TOP_K: usize = 100;
    /// The default `min_similarity` when ranking by words alone, chosen on the development questions.
    pub const WORDS_MIN_SIMILARITY: f64 = 0.45;
    /// The default `min_similarity` when ranking by words and meaning (with an `encoder`), chosen on the
    /// development questions.
    pub const MEANING_MIN_SIMILARITY: f64 = 0.62;

    /// The lowest similarity answered: `min_similarity` when set, else [`Self::WORDS_MIN_SIMILARITY`] or, with an
    /// `encoder`, [`Self::MEANING_MIN_SIMILARITY`].
    pub fn min_similarity(&self) -> f64 {
        match (self.min_similarity, &self.encoder) {
            (Some(min), _) => min,
            (None, None) => Self::WORDS_MIN_SIMILARITY,
            (None, Some(_)) => Self::MEANING_MIN_SIMILARITY,
        }
    }

    /// Checks the values without touching the file system (the directory is checked by
    /// [`KnowledgeBase::load`](crate::KnowledgeBase::load)).
    pub fn validate(&self) -> Result<(), KnowledgeError> {
        let invalid = |field, reason: String| Err(KnowledgeError::InvalidConfig { field, reason });
        if self.top_k == 0 || self.top_k > Self::MAX_TOP_K {
            return invalid("top_k", format!("is {}, expected 1..={}", self.top_k, Self::MAX_TOP_K));
        }
        if self.chunk_chars < Self::MIN_CHUNK_CHARS {
            return invalid(
                "chunk_chars",
                format!("is {}, expected at least {}", self.chunk_chars, Self::MIN_CHUNK_CHARS),
            );
        }
        if let Some(min) = self.min_similarity.filter(|min| !(0.0..=1.0).contains(min)) {
            return invalid("min_similarity", format!("is {min}, expected 0..=1"));
        }
        if self.max_query_chars < 16 {
            return invalid(
                "max_query_chars",
                format!("is {}, expected at least 16", self.max_query_chars),
            );
        }
        if self.max_file_bytes == 0 {
            return invalid("max_file_bytes", "is 0, expected a positive size".into());
        }
        if self.dir.as_ref().is_some_and(|dir| dir.as_os_str().is_empty()) {
            return invalid("dir", "is empty, expected a folder path or no value".into());
        }
        if self.encoder.as_ref().is_some_and(|dir| dir.as_os_str().is_empty()) {
            return invalid("encoder", "is empty, expected a model folder or no value".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_bad_values_name_their_field() {
        KnowledgeConfig::default().validate().unwrap();
        let check = |config: KnowledgeConfig, field: &str| {
            let error = config.validate().unwrap_err().to_string();
            assert!(error.contains(&format!("`{field}`")), "{error}");
        };
        check(
            KnowledgeConfig {
                top_k: 0,
                ..Default::default()
            },
            "top_k",
        );
        check(
            KnowledgeConfig {
                chunk_chars: 10,
                ..Default::default()
            },
            "chunk_chars",
        );
        check(
            KnowledgeConfig {
                min_similarity: Some(1.5),
                ..Default::default()
            },
            "min_similarity",
        );
        check(
            KnowledgeConfig {
                min_similarity: Some(f64::NAN),
                ..Default::default()
            },
            "min_similarity",
        );
        check(
            KnowledgeConfig {
                max_query_chars: 3,
                ..Default::default()
            },
            "max_query_chars",
        );
        check(
            KnowledgeConfig {
                dir: Some(PathBuf::new()),
                ..Default::default()
            },
            "dir",
        );
    }

    #[test]
    fn unknown_fields_are_refused() {
        assert!(serde_json::from_str::<KnowledgeConfig>(r#"{"dir": "kb", "topk": 3}"#).is_err());
        let config: KnowledgeConfig = serde_json::from_str(r#"{"dir": "kb", "top_k": 5}"#).unwrap();
        assert_eq!((config.top_k, config.chunk_chars), (5, 1200));
        assert_eq!(config.min_similarity(), KnowledgeConfig::WORDS_MIN_SIMILARITY);
        let config: KnowledgeConfig = serde_json::from_str(r#"{"encoder": "model"}"#).unwrap();
        assert_eq!(config.min_similarity(), KnowledgeConfig::MEANING_MIN_SIMILARITY);
        let config: KnowledgeConfig = serde_json::from_str(r#"{"encoder": "model", "min_similarity": 0.3}"#).unwrap();
        assert_eq!(config.min_similarity(), 0.3);
    }
}
