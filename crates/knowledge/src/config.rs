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
    /// The lowest similarity (`0..=1`) an answered document may have (default 0.45); see
    /// [`KnowledgeBase::search`](crate::KnowledgeBase::search) for what the number means.
    pub min_similarity: f64,
    /// The longest query built from a request, in characters (default 600).
    pub max_query_chars: usize,
    /// Files larger than this many bytes are skipped with a warning (default 4 MiB).
    pub max_file_bytes: u64,
    /// Rank by meaning as well as by words (default false): a chunk's similarity blends its BM25 similarity with
    /// the closeness of static word vectors (see the crate's README; `min_similarity` 0.46 was chosen for it).
    /// `false` ranks by words alone, as BM25 with the synonym and WordNet tables, for which the default
    /// `min_similarity` 0.45 was chosen.
    pub meaning: bool,
}

impl Default for KnowledgeConfig {
    fn default() -> Self {
        KnowledgeConfig {
            dir: None,
            top_k: 3,
            chunk_chars: 1200,
            min_similarity: 0.45,
            max_query_chars: 600,
            max_file_bytes: 4 * 1024 * 1024,
            meaning: false,
        }
    }
}

impl KnowledgeConfig {
    /// The smallest accepted `chunk_chars`: below it a heading and one sentence no longer fit.
    pub const MIN_CHUNK_CHARS: usize = 64;
    /// The largest accepted `top_k`.
    pub const MAX_TOP_K: usize = 100;

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
        if !(0.0..=1.0).contains(&self.min_similarity) {
            return invalid("min_similarity", format!("is {}, expected 0..=1", self.min_similarity));
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
                min_similarity: 1.5,
                ..Default::default()
            },
            "min_similarity",
        );
        check(
            KnowledgeConfig {
                min_similarity: f64::NAN,
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
    }
}
