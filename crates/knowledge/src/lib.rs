//! The custom knowledge base behind Vapi's `knowledge-base-request`.
//!
//! A [`KnowledgeBase`] reads a folder of Markdown and text files ([`KnowledgeConfig::dir`]), cuts each file into
//! chunks at headings and paragraphs, and indexes the chunks in RAM with tantivy's BM25. [`KnowledgeBase::answer`]
//! turns a request into a query with [`build_query`] (the caller's latest words, widened with the call's earlier
//! context when they are thin), searches, and answers `{documents: [{content, similarity, uuid}]}`, best first,
//! keeping only documents at least [`KnowledgeConfig::min_similarity()`] similar; nothing relevant is an empty list.
//! [`KnowledgeBase::reload`] re-reads the folder and swaps the new index in atomically, while searches continue on
//! the old one; a failed reload leaves the old index in service.
//!
//! Ranking is by words and by meaning: BM25 with English stemming, file titles and headings weighted again, a small
//! committed table of the words callers use for what pages call otherwise ("instalments" → payment plans,
//! "Medi-Cal" → Medicaid), and, for a caller's word no page uses, the words WordNet relates to it ("reserve" →
//! hold), from a committed table; then, with [`KnowledgeConfig::encoder`], the closeness in meaning of the query
//! and each chunk or sentence, from a sentence encoder run on the CPU, lifts pages the words miss.
//! `crates/knowledge/README.md` has the measured quality on labelled caller questions.
//!
//! It deliberately does not: download a model (the encoder is a local folder); watch the folder (the edge decides when to call `reload`, e.g.
//! on SIGHUP or an admin request); persist the index (the folder is the source of truth and rebuilding takes well
//! under a second for thousands of chunks by words; the encoder adds its encoding of every chunk and sentence); answer with a direct `message` (it only returns documents); or parse
//! Vapi JSON (that is `vapi-types`).

mod chunk;
mod config;
mod corpus;
mod encoder;
mod error;
mod index;
mod query;
mod related;
mod synonyms;

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use call_state::CallState;
use vapi_types::KnowledgeBaseRequest;
use vapi_types::response::{KnowledgeBaseResponse, KnowledgeDocument};

pub use config::KnowledgeConfig;
pub use corpus::{SkipReason, SkippedFile};
pub use error::KnowledgeError;
pub use query::{THIN_QUERY_WORDS, build_query};

use encoder::Encoder;
use index::SearchIndex;

/// A searchable knowledge base: a cheap, cloneable handle (an `Arc` inside) shared by every request handler.
///
/// The index in service is an immutable snapshot. A search takes the current snapshot under a read lock held
/// only long enough to clone an `Arc`, so searches never wait for a reload, and a reload builds its new index
/// outside any lock and swaps it in with one short write. Concurrent reloads run one at a time.
#[derive(Clone)]
pub struct KnowledgeBase {
    inner: Arc<Inner>,
}

struct Inner {
    config: KnowledgeConfig,
    /// The sentence encoder, loaded once and kept across reloads; `None` without `config.encoder`.
    encoder: Option<Arc<Encoder>>,
    current: RwLock<Arc<Snapshot>>,
    reloading: Mutex<()>,
}

/// One built index and what its build found. `index` is `None` without a configured folder.
struct Snapshot {
    index: Option<SearchIndex>,
    report: ReloadReport,
}

/// What a load or reload of the folder found.
#[derive(Debug, Clone, PartialEq)]
pub struct ReloadReport {
    /// The folder read (`None` without a configured folder).
    pub dir: Option<PathBuf>,
    /// The document files indexed.
    pub files: usize,
    /// The chunks indexed.
    pub chunks: usize,
    /// The document files left out (empty, not UTF-8, too large), each with a warning logged.
    pub skipped: Vec<SkippedFile>,
    /// How long reading, chunking and indexing took.
    pub took: Duration,
}

impl KnowledgeBase {
    /// Validates `config`, then reads every `.md`, `.markdown` and `.txt` file under `config.dir` (recursively),
    /// chunks it within `chunk_chars` at headings and paragraphs, and builds the in-RAM index. Without a `dir` the
    /// knowledge base is empty and answers every request with an empty list.
    ///
    /// Fails, naming the path, when the folder is missing or not a folder or a file in it cannot be read; empty,
    /// non-UTF-8 and oversized files are skipped with a warning instead (see [`KnowledgeBase::report`]).
    pub fn load(config: KnowledgeConfig) -> Result<KnowledgeBase, KnowledgeError> {
        config.validate()?;
        if let (Some(min), Some(_)) = (config.min_similarity, &config.encoder)
            && min < KnowledgeConfig::MEANING_MIN_SIMILARITY
        {
            tracing::warn!(
                min_similarity = min,
                chosen = KnowledgeConfig::MEANING_MIN_SIMILARITY,
                "knowledge min_similarity is below the one chosen for ranking by meaning: pages close in meaning \
                 to questions they do not answer will be answered; unset it to use the chosen one"
            );
        }
        let encoder = match &config.encoder {
            Some(dir) => Some(Arc::new(Encoder::load(dir)?)),
            None => None,
        };
        let snapshot = build(&config, encoder.as_ref())?;
        Ok(KnowledgeBase {
            inner: Arc::new(Inner {
                config,
                encoder,
                current: RwLock::new(Arc::new(snapshot)),
                reloading: Mutex::new(()),
            }),
        })
    }

    /// Re-reads the folder and swaps in the new index. On error the old index stays in service, unchanged.
    pub fn reload(&self) -> Result<ReloadReport, KnowledgeError> {
        let _one_at_a_time = self.inner.reloading.lock().unwrap_or_else(PoisonError::into_inner);
        let snapshot = build(&self.inner.config, self.inner.encoder.as_ref()).inspect_err(|error| {
            tracing::warn!(%error, "knowledge reload failed; the previous index stays in service");
        })?;
        let report = snapshot.report.clone();
        *self.inner.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(snapshot);
        Ok(report)
    }

    /// The report of the load or reload whose index is in service.
    pub fn report(&self) -> ReloadReport {
        self.snapshot().report.clone()
    }

    /// The number of chunks in the index in service.
    pub fn chunks(&self) -> usize {
        self.snapshot().index.as_ref().map_or(0, SearchIndex::chunks)
    }

    /// The configuration this knowledge base was loaded with.
    pub fn config(&self) -> &KnowledgeConfig {
        &self.inner.config
    }

    /// The `top_k` chunks that best match `query`, best first, whatever their similarity (see
    /// [`KnowledgeBase::answer`] for the filtered answer). Any text is a valid query: it is split into words
    /// (stop words removed, English-stemmed; no query syntax), and each word is an optional BM25 term.
    ///
    /// `similarity` is `1 − exp(−score / reference)`, where `score` is the chunk's BM25 score and `reference` the
    /// score an average-length chunk containing every query word exactly once would get (the sum of the words'
    /// idf; words found nowhere count with the idf of an unseen word). It is strictly increasing in the BM25 score
    /// for one query, always in `0..1`, and comparable across queries of different lengths and corpora of
    /// different sizes: ≈ 0.63 when a chunk covers the whole query once, ≈ 0.22 when it covers a quarter of the
    /// query's weight, near 1 when it covers it repeatedly. `uuid` is `relative/path.md#n`: the file's path under
    /// the folder (with `/`) and the chunk's position in that file, stable across reloads while the file's text
    /// before the chunk is unchanged.
    pub fn search(&self, query: &str, top_k: usize) -> Vec<KnowledgeDocument> {
        let snapshot = self.snapshot();
        let Some(index) = snapshot.index.as_ref() else {
            return Vec::new();
        };
        match index.search(query, top_k) {
            Ok(hits) => hits
                .into_iter()
                .map(|(similarity, chunk)| KnowledgeDocument {
                    content: chunk.content.clone(),
                    similarity,
                    uuid: Some(chunk.uuid.clone()),
                })
                .collect(),
            Err(error) => {
                tracing::warn!(%error, "knowledge search failed; answering with no documents");
                Vec::new()
            }
        }
    }

    /// Every chunk of the index in service with its lexical similarity and the cosine of its meaning vector
    /// with the query's: `(uuid, lexical, cosine)`, in the folder's order: what a search blends, for tuning and
    /// diagnosis. Empty without a folder; the cosine is 0 without an encoder.
    pub fn explain(&self, query: &str) -> Vec<(String, f64, f64)> {
        let snapshot = self.snapshot();
        let Some(index) = snapshot.index.as_ref() else {
            return Vec::new();
        };
        index
            .explain(query)
            .map(|all| {
                all.into_iter()
                    .map(|(chunk, lexical, cosine)| (chunk.uuid.clone(), lexical, cosine))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The answer to a `knowledge-base-request`: the query from [`build_query`] (with `max_query_chars`),
    /// searched with `top_k`, keeping documents whose similarity is at least `min_similarity`. Always
    /// `documents: Some(..)`; nothing relevant (or no knowledge base) is `Some(vec![])`.
    pub fn answer(&self, request: &KnowledgeBaseRequest, context: Option<&CallState>) -> KnowledgeBaseResponse {
        let config = &self.inner.config;
        let query = build_query(request, context, config.max_query_chars);
        let mut documents = self.search(&query, config.top_k);
        let found = documents.len();
        let min_similarity = config.min_similarity();
        documents.retain(|document| document.similarity >= min_similarity);
        tracing::debug!(query = %query, found, kept = documents.len(), "knowledge-base-request answered");
        KnowledgeBaseResponse {
            documents: Some(documents),
            message: None,
        }
    }

    fn snapshot(&self) -> Arc<Snapshot> {
        self.inner
            .current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl std::fmt::Debug for KnowledgeBase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KnowledgeBase")
            .field("dir", &self.inner.config.dir)
            .field("chunks", &self.chunks())
            .finish()
    }
}

fn build(config: &KnowledgeConfig, encoder: Option<&Arc<Encoder>>) -> Result<Snapshot, KnowledgeError> {
    let started = Instant::now();
    let Some(dir) = config.dir.as_ref() else {
        let report = ReloadReport {
            dir: None,
            files: 0,
            chunks: 0,
            skipped: Vec::new(),
            took: Duration::ZERO,
        };
        return Ok(Snapshot { index: None, report });
    };
    let corpus = corpus::read_corpus(dir, config.chunk_chars, config.max_file_bytes)?;
    let chunks = corpus.chunks.len();
    let index = SearchIndex::build(corpus.chunks, encoder.cloned())?;
    let report = ReloadReport {
        dir: Some(dir.clone()),
        files: corpus.files,
        chunks,
        skipped: corpus.skipped,
        took: started.elapsed(),
    };
    tracing::info!(dir = %dir.display(), files = report.files, chunks, skipped = report.skipped.len(),
        took_ms = report.took.as_millis() as u64, "knowledge base indexed");
    Ok(Snapshot {
        index: Some(index),
        report,
    })
}
