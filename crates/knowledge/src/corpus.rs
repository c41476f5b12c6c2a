//! Reading the knowledge folder into chunks.
//!
//! Every `.md`, `.markdown` and `.txt` file under the folder is read, recursively and in sorted path order, so the
//! same folder always gives the same chunks and uuids. Hidden files and folders (a name starting with `.`) are
//! ignored, as are symlinked folders (which could loop); symlinked files are followed. A file that cannot be
//! *read* is an error naming it: the folder is broken and the caller should know. A file that is readable but
//! unusable (empty, not UTF-8, larger than `max_file_bytes`) is skipped with a warning and listed in the
//! [`ReloadReport`], so one stray binary does not take the whole knowledge base out of service.

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

use crate::KnowledgeError;
use crate::chunk::chunk_text;

/// One searchable piece of a document.
#[derive(Debug, Clone)]
pub(crate) struct Chunk {
    /// `relative/path.md#ordinal`, stable while the file's text before this chunk is unchanged.
    pub(crate) uuid: String,
    /// The chunk's text, with its heading path first.
    pub(crate) content: String,
    /// Words from the file name (`shipping-times.md` → `shipping times`), indexed alongside the content.
    pub(crate) title: String,
}

/// What one read of the folder found.
#[derive(Debug, Default)]
pub(crate) struct Corpus {
    pub(crate) chunks: Vec<Chunk>,
    pub(crate) files: usize,
    pub(crate) skipped: Vec<SkippedFile>,
}

/// A file that was left out of the index, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedFile {
    /// The file's path.
    pub path: PathBuf,
    /// Why it was left out.
    pub reason: SkipReason,
}

/// Why a document file was left out of the index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkipReason {
    /// The file holds only whitespace (or only headings).
    Empty,
    /// The file is not valid UTF-8.
    NotUtf8,
    /// The file is larger than `max_file_bytes`.
    TooLarge {
        /// The file's size in bytes.
        bytes: u64,
    },
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SkipReason::Empty => f.write_str("no text"),
            SkipReason::NotUtf8 => f.write_str("not valid UTF-8"),
            SkipReason::TooLarge { bytes } => write!(f, "too large ({bytes} bytes)"),
        }
    }
}

const EXTENSIONS: [&str; 3] = ["md", "markdown", "txt"];

/// Reads and chunks every document under `dir`.
pub(crate) fn read_corpus(dir: &Path, chunk_chars: usize, max_file_bytes: u64) -> Result<Corpus, KnowledgeError> {
    let metadata = fs::metadata(dir).map_err(|source| KnowledgeError::ReadDir {
        path: dir.to_owned(),
        source,
    })?;
    if !metadata.is_dir() {
        return Err(KnowledgeError::NotADirectory { path: dir.to_owned() });
    }
    let mut files = Vec::new();
    collect_files(dir, &mut files)?;
    files.sort();
    let mut corpus = Corpus::default();
    for path in files {
        let skip = |reason: SkipReason| {
            tracing::warn!(path = %path.display(), %reason, "knowledge file skipped");
            SkippedFile {
                path: path.clone(),
                reason,
            }
        };
        let read_error = |source| KnowledgeError::ReadFile {
            path: path.clone(),
            source,
        };
        let bytes = fs::metadata(&path).map_err(read_error)?.len();
        if bytes > max_file_bytes {
            corpus.skipped.push(skip(SkipReason::TooLarge { bytes }));
            continue;
        }
        let raw = fs::read(&path).map_err(read_error)?;
        let Ok(text) = String::from_utf8(raw) else {
            corpus.skipped.push(skip(SkipReason::NotUtf8));
            continue;
        };
        let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
        let pieces = chunk_text(text, chunk_chars);
        if pieces.is_empty() {
            corpus.skipped.push(skip(SkipReason::Empty));
            continue;
        }
        let relative = relative_name(dir, &path);
        let title = title_words(&path);
        corpus.files += 1;
        corpus
            .chunks
            .extend(pieces.into_iter().enumerate().map(|(ordinal, content)| Chunk {
                uuid: format!("{relative}#{ordinal}"),
                content,
                title: title.clone(),
            }));
    }
    Ok(corpus)
}

fn collect_files(dir: &Path, files: &mut Vec<PathBuf>) -> Result<(), KnowledgeError> {
    let list_error = |source| KnowledgeError::ReadDir {
        path: dir.to_owned(),
        source,
    };
    for entry in fs::read_dir(dir).map_err(list_error)? {
        let entry = entry.map_err(list_error)?;
        let path = entry.path();
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        let file_type = entry.file_type().map_err(list_error)?;
        if file_type.is_dir() {
            collect_files(&path, files)?;
        } else if (file_type.is_file() || (file_type.is_symlink() && path.is_file())) && is_document(&path) {
            files.push(path);
        }
    }
    Ok(())
}

fn is_document(path: &Path) -> bool {
    path.extension()
        .and_then(|extension| extension.to_str())
        .is_some_and(|extension| EXTENSIONS.iter().any(|wanted| extension.eq_ignore_ascii_case(wanted)))
}

/// `path` relative to `dir`, with `/` separators on every platform.
fn relative_name(dir: &Path, path: &Path) -> String {
    let relative = path.strip_prefix(dir).unwrap_or(path);
    relative
        .components()
        .map(|part| part.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

fn title_words(path: &Path) -> String {
    let stem = path.file_stem().map(|stem| stem.to_string_lossy()).unwrap_or_default();
    stem.replace(['-', '_', '.'], " ")
}
