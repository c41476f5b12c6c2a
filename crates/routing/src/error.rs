//! [`RoutingError`]: what is wrong with a routing configuration, naming the rule and the field.

use std::path::PathBuf;

/// A routing configuration that cannot be used. Each message starts with where the problem is
/// (`routing.assistant[2]`, rules counted from 0) and says what was found and what was expected.
#[derive(Debug, thiserror::Error)]
pub enum RoutingError {
    /// A value is missing, malformed or contradicts another.
    #[error("{at}: {problem}")]
    Invalid {
        /// Where: `routing.transfer[0]`, `routing.assistant_error`, ...
        at: String,
        /// What is wrong and what was expected.
        problem: String,
    },
    /// An `assistant_file` cannot be read.
    #[error("{at}: cannot read assistant_file {}: {source}", path.display())]
    AssistantFileUnreadable {
        /// The rule naming the file.
        at: String,
        /// The file, resolved against the config file's folder.
        path: PathBuf,
        /// Why reading failed.
        source: std::io::Error,
    },
    /// An `assistant_file` is not valid JSON.
    #[error("{at}: assistant_file {} is not valid JSON: {message} at line {line} column {column}", path.display())]
    AssistantFileInvalid {
        /// The rule naming the file.
        at: String,
        /// The file, resolved against the config file's folder.
        path: PathBuf,
        /// What the parser found wrong.
        message: String,
        /// 1-based line of the problem.
        line: usize,
        /// 1-based column of the problem.
        column: usize,
    },
    /// More than one problem: all of them, in config order.
    #[error("{} problems in the routing config:{}", .0.len(), list(.0))]
    Several(Vec<RoutingError>),
}

impl RoutingError {
    pub(crate) fn invalid(at: impl Into<String>, problem: impl Into<String>) -> Self {
        RoutingError::Invalid {
            at: at.into(),
            problem: problem.into(),
        }
    }
}

fn list(errors: &[RoutingError]) -> String {
    errors.iter().map(|error| format!("\n  - {error}")).collect()
}
