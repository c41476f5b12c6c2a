//! The in-RAM BM25 index over a corpus's chunks, built with tantivy, and the similarity it reports.
//!
//! Queries never go through tantivy's query parser: the query text is run through the same analyzer as the
//! documents (words, lowercased, ASCII-folded, stop words removed, English-stemmed) and each distinct term becomes
//! one optional term clause. So no query text can be a syntax error, and `"(:^-+*` are just separators.

use std::collections::HashSet;
use std::sync::OnceLock;

use tantivy::collector::TopDocs;
use tantivy::columnar::Column;
use tantivy::merge_policy::NoMergePolicy;
use tantivy::query::{BooleanQuery, Occur, Query, TermQuery};
use tantivy::schema::{Field, IndexRecordOption, NumericOptions, Schema, TextFieldIndexing, TextOptions};
use tantivy::tokenizer::{
    AsciiFoldingFilter, Language, LowerCaser, RemoveLongFilter, SimpleTokenizer, Stemmer, StopWordFilter, TextAnalyzer,
};
use tantivy::{Index, IndexReader, ReloadPolicy, Searcher, TantivyDocument, TantivyError, Term};

use crate::corpus::Chunk;

const TOKENIZER: &str = "knowledge";
const CHUNK_FIELD: &str = "chunk";
/// A query longer than this many distinct terms keeps only its first ones: a bound on work per query.
pub(crate) const MAX_QUERY_TERMS: usize = 64;

/// Words that carry no topic, removed from documents and queries alike: English function words, what callers say
/// around a question ("hi", "okay", "please", "wondering"), and the pieces contractions split into ("it's" is
/// tokenized as "it" and "s").
const STOP_WORDS: &[&str] = &[
    "a",
    "about",
    "after",
    "again",
    "all",
    "also",
    "am",
    "an",
    "and",
    "any",
    "anything",
    "are",
    "as",
    "at",
    "be",
    "because",
    "been",
    "before",
    "being",
    "both",
    "but",
    "by",
    "can",
    "could",
    "d",
    "did",
    "do",
    "does",
    "doing",
    "done",
    "each",
    "else",
    "even",
    "for",
    "from",
    "get",
    "got",
    "had",
    "has",
    "have",
    "having",
    "he",
    "her",
    "here",
    "hers",
    "hey",
    "hi",
    "him",
    "his",
    "hello",
    "how",
    "hmm",
    "i",
    "if",
    "in",
    "into",
    "is",
    "it",
    "its",
    "just",
    "know",
    "let",
    "like",
    "ll",
    "m",
    "me",
    "mm",
    "much",
    "my",
    "need",
    "no",
    "nor",
    "not",
    "now",
    "of",
    "oh",
    "ok",
    "okay",
    "on",
    "one",
    "only",
    "or",
    "other",
    "our",
    "ours",
    "out",
    "please",
    "re",
    "really",
    "right",
    "s",
    "say",
    "she",
    "should",
    "so",
    "some",
    "sure",
    "t",
    "tell",
    "than",
    "thank",
    "thanks",
    "that",
    "the",
    "their",
    "them",
    "then",
    "there",
    "these",
    "they",
    "thing",
    "this",
    "those",
    "to",
    "too",
    "uh",
    "um",
    "up",
    "us",
    "ve",
    "very",
    "want",
    "was",
    "we",
    "well",
    "were",
    "what",
    "when",
    "where",
    "which",
    "while",
    "who",
    "why",
    "will",
    "with",
    "wondering",
    "would",
    "yeah",
    "yes",
    "you",
    "your",
    "yours",
];

/// The analyzer for documents and queries.
pub(crate) fn analyzer() -> TextAnalyzer {
    static ANALYZER: OnceLock<TextAnalyzer> = OnceLock::new();
    ANALYZER
        .get_or_init(|| {
            TextAnalyzer::builder(SimpleTokenizer::default())
                .filter(RemoveLongFilter::limit(40))
                .filter(LowerCaser)
                .filter(AsciiFoldingFilter)
                .filter(StopWordFilter::remove(STOP_WORDS.iter().map(|word| (*word).to_owned())))
                .filter(Stemmer::new(Language::English))
                .build()
        })
        .clone()
}

/// The distinct terms of `text`, in first-seen order, at most `limit`.
pub(crate) fn terms(text: &str, limit: usize) -> Vec<String> {
    let mut analyzer = analyzer();
    let mut stream = analyzer.token_stream(text);
    let mut seen = HashSet::new();
    let mut terms = Vec::new();
    while terms.len() < limit && stream.advance() {
        let term = &stream.token().text;
        if seen.insert(term.clone()) {
            terms.push(term.clone());
        }
    }
    terms
}

/// A built index and the chunks its documents point to.
pub(crate) struct SearchIndex {
    chunks: Vec<Chunk>,
    searcher: Searcher,
    /// The `chunk` fast field of each segment, by segment ordinal: a hit's chunk number.
    chunk_columns: Vec<Column<u64>>,
    body: Field,
    /// Kept so the searcher's segments stay owned by a live reader.
    _reader: IndexReader,
}

impl SearchIndex {
    /// Indexes `chunks` in RAM.
    pub(crate) fn build(chunks: Vec<Chunk>) -> Result<SearchIndex, TantivyError> {
        let mut schema = Schema::builder();
        let text = TextOptions::default().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(TOKENIZER)
                .set_index_option(IndexRecordOption::WithFreqs),
        );
        let body = schema.add_text_field("body", text);
        let chunk_field = schema.add_u64_field(CHUNK_FIELD, NumericOptions::default().set_fast());
        let index = Index::create_in_ram(schema.build());
        index.tokenizers().register(TOKENIZER, analyzer());
        // One indexing thread: builds are rare, and the other core keeps serving.
        let mut writer = index.writer_with_num_threads::<TantivyDocument>(1, 64 << 20)?;
        writer.set_merge_policy(Box::new(NoMergePolicy));
        for (ordinal, chunk) in chunks.iter().enumerate() {
            let mut document = TantivyDocument::default();
            document.add_text(body, &chunk.content);
            document.add_text(body, &chunk.title);
            document.add_u64(chunk_field, ordinal as u64);
            writer.add_document(document)?;
        }
        writer.commit()?;
        writer.wait_merging_threads()?;
        let reader = index.reader_builder().reload_policy(ReloadPolicy::Manual).try_into()?;
        let searcher = reader.searcher();
        let chunk_columns = searcher
            .segment_readers()
            .iter()
            .map(|segment| segment.fast_fields().u64(CHUNK_FIELD))
            .collect::<Result<_, _>>()?;
        Ok(SearchIndex {
            chunks,
            searcher,
            chunk_columns,
            body,
            _reader: reader,
        })
    }

    pub(crate) fn chunks(&self) -> usize {
        self.chunks.len()
    }

    /// The best `top_k` chunks for `query` with their similarity, best first.
    pub(crate) fn search(&self, query: &str, top_k: usize) -> Result<Vec<(f64, &Chunk)>, TantivyError> {
        let terms: Vec<Term> = terms(query, MAX_QUERY_TERMS)
            .iter()
            .map(|term| Term::from_field_text(self.body, term))
            .collect();
        if terms.is_empty() || top_k == 0 || self.chunks.is_empty() {
            return Ok(Vec::new());
        }
        let reference = self.reference_score(&terms)?;
        let clauses: Vec<(Occur, Box<dyn Query>)> = terms
            .into_iter()
            .map(|term| {
                (
                    Occur::Should,
                    Box::new(TermQuery::new(term, IndexRecordOption::WithFreqs)) as Box<dyn Query>,
                )
            })
            .collect();
        let hits = self.searcher.search(
            &BooleanQuery::new(clauses),
            &TopDocs::with_limit(top_k).order_by_score(),
        )?;
        Ok(hits
            .into_iter()
            .filter_map(|(score, address)| {
                let column = self.chunk_columns.get(address.segment_ord as usize)?;
                let chunk = self.chunks.get(usize::try_from(column.first(address.doc_id)?).ok()?)?;
                Some((similarity(f64::from(score), reference), chunk))
            })
            .collect())
    }

    /// The BM25 score of a document of average length holding each query term once: the sum of the terms' idf
    /// (at tf = 1 and average length, BM25's tf factor `tf·(k1+1) / (tf + k1·(1−b+b·dl/avgdl))` is exactly 1).
    /// Terms absent from the corpus count with the idf of a term in no document, so a query half made of
    /// unknown words reaches only half the similarity of one whose words are all known and matched.
    fn reference_score(&self, terms: &[Term]) -> Result<f64, TantivyError> {
        let documents = self.searcher.num_docs() as f64;
        let mut sum = 0.0;
        for term in terms {
            let frequency = self.searcher.doc_freq(term)? as f64;
            sum += (1.0 + (documents - frequency + 0.5) / (frequency + 0.5)).ln();
        }
        Ok(sum)
    }
}

/// Maps a BM25 score into `0..1`: `1 − exp(−score / reference)`, where `reference` is the query's
/// [`SearchIndex::reference_score`]. Strictly increasing in the score; dividing by the reference makes it
/// roughly independent of query length and corpus size: a chunk matching every query term once scores ≈ 0.63,
/// matching a quarter of the query's weight ≈ 0.22, and repeated matches approach (never reach) 1.
fn similarity(score: f64, reference: f64) -> f64 {
    if !(score > 0.0 && reference > 0.0) {
        return 0.0;
    }
    (1.0 - (-score / reference).exp()).clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terms_are_stemmed_folded_and_free_of_stop_words() {
        let check = |text: &str, expected: &[&str]| assert_eq!(terms(text, MAX_QUERY_TERMS), expected, "{text:?}");
        check("What is your RETURN policy?", &["return", "polici"]);
        check("returns, returned, returning", &["return"]);
        check("Café \"(:^-+* opening-hours", &["cafe", "open", "hour"]);
        check("yes", &[]);
        check("how long is it?", &["long"]);
        check("I'd like what's it's we've you'll I'm", &[]);
    }

    #[test]
    fn similarity_is_monotonic_and_bounded() {
        let values: Vec<f64> = [0.0, 0.1, 1.0, 2.0, 10.0, 1e6]
            .iter()
            .map(|score| similarity(*score, 2.0))
            .collect();
        assert!(values.windows(2).all(|pair| pair[0] <= pair[1]), "{values:?}");
        assert!(values.iter().all(|value| (0.0..=1.0).contains(value)));
        assert_eq!(similarity(f64::NAN, 1.0), 0.0);
        assert_eq!(similarity(1.0, 0.0), 0.0);
    }
}
