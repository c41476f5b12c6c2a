//! The one error type of this crate.

use std::io;
use std::path::PathBuf;

/// Why the knowledge base could not be configured, loaded or reloaded. Messages are lowercase and name the path
/// or field that was wrong.
#[derive(Debug, thiserror::Error)]
pub enum KnowledgeError {
    /// A configuration value is out of range.
    #[error("invalid knowledge config: `{field}` {reason}")]
    InvalidConfig {
        /// The field, as spelled in the config file.
        field: &'static str,
        /// What was wrong and what is expected.
        reason: String,
    },
    /// The knowledge directory (or a folder inside it) could not be listed.
    #[error("cannot read knowledge directory {}: {source}", path.display())]
    ReadDir {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// The configured knowledge path exists but is not a directory.
    #[error("knowledge path {} is not a directory", path.display())]
    NotADirectory {
        /// The path.
        path: PathBuf,
    },
    /// A document file could not be read (permissions, vanished mid-read, ...).
    #[error("cannot read knowledge file {}: {source}", path.display())]
    ReadFile {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// The sentence encoder's model folder is incomplete or its files do not make a model.
    #[error("cannot load the sentence encoder from {}: {reason} (scripts/install-encoder installs all-MiniLM-L6-v2)", path.display())]
    Encoder {
        /// The model file that failed.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
    /// The search library failed to build the index. Kept as text so the library's types stay out of this API.
    #[error("cannot build the knowledge index: {0}")]
    Index(String),
}
