//! The in-RAM BM25 index over a corpus's chunks, built with tantivy, and the similarity it reports.
//!
//! Queries never go through tantivy's query parser: the query text is run through the same analyzer as the
//! documents (words, lowercased, ASCII-folded, stop words removed, English-stemmed) and each distinct term becomes
//! one optional term clause. So no query text can be a syntax error, and `"(:^-+*` are just separators.
//!
//! A chunk is indexed twice: its text (with [`with_variants`]) in `body`, and its file title and heading path in
//! `heading`, where a match counts again at [`HEADING_WEIGHT`]. The synonym table ([`crate::synonyms`]) adds
//! weaker clauses for the words pages use in place of the caller's, and so does WordNet ([`crate::related`]) for
//! a caller's word that no page uses ("whiter" → whiten, "reserve" → hold, "weekend" → Saturday, Sunday).
//!
//! With a sentence encoder ([`crate::encoder`]), each chunk also gets a meaning vector; a search blends the cosine
//! of the query's and the chunk's vectors into the BM25 similarity (see [`SearchIndex::search`]).

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, OnceLock};

use tantivy::collector::TopDocs;
use tantivy::columnar::Column;
use tantivy::merge_policy::NoMergePolicy;
use tantivy::query::{BooleanQuery, BoostQuery, Occur, Query, TermQuery};
use tantivy::schema::{Field, IndexRecordOption, NumericOptions, Schema, TextFieldIndexing, TextOptions};
use tantivy::tokenizer::{
    AsciiFoldingFilter, Language, LowerCaser, RemoveLongFilter, SimpleTokenizer, Stemmer, StopWordFilter, TextAnalyzer,
};
use tantivy::{Index, IndexReader, ReloadPolicy, Searcher, TantivyDocument, TantivyError, Term};

use crate::chunk;
use crate::corpus::Chunk;
use crate::encoder::{self, Encoder};
use crate::{KnowledgeError, related, synonyms};

const TOKENIZER: &str = "knowledge";
const CHUNK_FIELD: &str = "chunk";
/// A query longer than this many distinct terms keeps only its first ones: a bound on work per query.
pub(crate) const MAX_QUERY_TERMS: usize = 64;
/// The weight of a term the synonym table added, against 1 for the caller's own words, before it is shared among
/// the words of its entry (see [`expansion_weight`]).
const EXPANSION_WEIGHT: f32 = 0.75;
/// The weight of a WordNet-related word ([`crate::related`]) by tier (same meaning, broader or narrower, in the
/// definition), before it is shared among the words found for one caller's word: each tier counts less than the
/// one before, and all less than the caller's own words. Chosen on the development questions.
const RELATED_WEIGHT: [f32; 3] = [0.6, 0.4, 0.3];
/// The weight of a match in a chunk's file title or headings, on top of its match in the body.
const HEADING_WEIGHT: f32 = 0.5;
/// The largest reference, in words found in no chunk: a long question is answered by a chunk matching this much
/// of it, even when the rest of the question is chatter the folder never mentions.
const REFERENCE_CAP: f64 = 1.5;
/// The weight, in the similarity's reference, of a query word found in no chunk.
const UNKNOWN_WEIGHT: f64 = 0.75;
/// The cosine of meaning vectors at and over which a chunk's meaning similarity is 1; under it, the similarity is
/// the cosine divided by it. Chosen, with the default `min_similarity` for meaning, on the development questions
/// (`tests/eval.rs`).
const MEANING_CEILING: f64 = 0.6;
/// How many chunks BM25 ranks for the blend: a chunk further down has too little lexical similarity to matter.
const LEXICAL_CANDIDATES: usize = 64;

/// Words that carry no topic, removed from documents and queries alike: English function words, what callers say
/// around a question ("hi", "okay", "please", "wondering", "guys", "exactly", "someone"), and the pieces
/// contractions split into ("it's" is tokenized as "it" and "s").
const STOP_WORDS: &[&str] = &[
    "a",
    "able",
    "about",
    "actually",
    "after",
    "again",
    "all",
    "also",
    "am",
    "an",
    "and",
    "any",
    "anybody",
    "anyone",
    "anything",
    "are",
    "as",
    "ask",
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
    "exactly",
    "for",
    "from",
    "get",
    "go",
    "goes",
    "going",
    "gonna",
    "got",
    "guess",
    "guys",
    "had",
    "has",
    "have",
    "having",
    "he",
    "hello",
    "her",
    "here",
    "hers",
    "hey",
    "hi",
    "him",
    "his",
    "hmm",
    "how",
    "i",
    "if",
    "in",
    "into",
    "is",
    "it",
    "its",
    "just",
    "kind",
    "know",
    "let",
    "like",
    "ll",
    "m",
    "maybe",
    "me",
    "mean",
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
    "probably",
    "re",
    "really",
    "right",
    "s",
    "say",
    "she",
    "should",
    "so",
    "some",
    "somebody",
    "someone",
    "something",
    "sort",
    "sure",
    "t",
    "talk",
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
    "think",
    "this",
    "those",
    "to",
    "too",
    "try",
    "uh",
    "um",
    "up",
    "us",
    "ve",
    "very",
    "wanna",
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
    "wonder",
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

/// `text` with the other spellings of its compounds and abbreviations added after it, so documents and queries
/// meet whichever one they use: a hyphenated compound gains its joined form ("e-books" → "ebooks", "Wi-Fi" →
/// "WiFi"), and an abbreviation's plural its singular ("DVDs" → "DVD"; an abbreviation is a word of two or more
/// consonants before the final `s`, which the English stemmer leaves alone). Only term frequencies are indexed,
/// not positions, so where the added words go does not matter.
pub(crate) fn with_variants(text: &str) -> Cow<'_, str> {
    let mut variants = String::new();
    let mut rest = text;
    while let Some(start) = rest.find(char::is_alphanumeric) {
        rest = &rest[start..];
        // A word, or words joined by single hyphens.
        let mut end = 0;
        let mut parts = 0;
        loop {
            end += rest[end..]
                .find(|c: char| !c.is_alphanumeric())
                .unwrap_or(rest.len() - end);
            parts += 1;
            let mut next = rest[end..].chars();
            match (next.next(), next.next()) {
                (Some('-'), Some(c)) if c.is_alphanumeric() => end += 1,
                _ => break,
            }
        }
        let compound = &rest[..end];
        if parts > 1 {
            variants.push(' ');
            variants.extend(compound.chars().filter(|c| *c != '-'));
        } else if let Some(singular) = abbreviation_singular(compound) {
            variants.push(' ');
            variants.push_str(singular);
        }
        rest = &rest[end..];
    }
    if variants.is_empty() {
        Cow::Borrowed(text)
    } else {
        Cow::Owned(format!("{text}\n{}", variants.trim_start()))
    }
}

fn abbreviation_singular(word: &str) -> Option<&str> {
    let stem = word.strip_suffix(['s', 'S'])?;
    let consonants = stem.len() >= 2
        && stem
            .chars()
            .all(|c| c.is_ascii_alphabetic() && !matches!(c.to_ascii_lowercase(), 'a' | 'e' | 'i' | 'o' | 'u' | 'y'));
    consonants.then_some(stem)
}

/// The distinct terms of `text`, in first-seen order, at most `limit`.
pub(crate) fn terms(text: &str, limit: usize) -> Vec<String> {
    let mut analyzer = analyzer();
    let text = with_variants(text);
    let mut stream = analyzer.token_stream(&text);
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
    /// The chunk's file title and heading path, searched again with [`HEADING_WEIGHT`].
    heading: Field,
    /// The sentence encoder, when the index ranks by meaning as well as words.
    encoder: Option<Arc<Encoder>>,
    /// The chunks' meaning vectors ([`meanings`]). Empty without an encoder.
    meanings: Meanings,
    /// Kept so the searcher's segments stay owned by a live reader.
    _reader: IndexReader,
}

impl SearchIndex {
    /// Indexes `chunks` in RAM, with their meaning vectors when there is an `encoder`.
    pub(crate) fn build(chunks: Vec<Chunk>, encoder: Option<Arc<Encoder>>) -> Result<SearchIndex, KnowledgeError> {
        let meanings = match &encoder {
            Some(encoder) => meanings(&chunks, encoder)?,
            None => Meanings::default(),
        };
        Self::index(chunks, encoder, meanings).map_err(|error| KnowledgeError::Index(error.to_string()))
    }

    fn index(
        chunks: Vec<Chunk>,
        encoder: Option<Arc<Encoder>>,
        meanings: Meanings,
    ) -> Result<SearchIndex, TantivyError> {
        related::warm();
        let mut schema = Schema::builder();
        let text = TextOptions::default().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(TOKENIZER)
                .set_index_option(IndexRecordOption::WithFreqs),
        );
        let body = schema.add_text_field("body", text.clone());
        let heading = schema.add_text_field("heading", text);
        let chunk_field = schema.add_u64_field(CHUNK_FIELD, NumericOptions::default().set_fast());
        let index = Index::create_in_ram(schema.build());
        index.tokenizers().register(TOKENIZER, analyzer());
        // One indexing thread: builds are rare, and the other core keeps serving.
        let mut writer = index.writer_with_num_threads::<TantivyDocument>(1, 64 << 20)?;
        writer.set_merge_policy(Box::new(NoMergePolicy));
        for (ordinal, chunk) in chunks.iter().enumerate() {
            let mut document = TantivyDocument::default();
            document.add_text(body, with_variants(&chunk.content).as_ref());
            document.add_text(body, &chunk.title);
            document.add_text(heading, &chunk.title);
            for line in chunk.content.lines().take_while(|line| line.starts_with('#')) {
                document.add_text(heading, with_variants(line).as_ref());
            }
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
            encoder,
            meanings,
            searcher,
            chunk_columns,
            body,
            heading,
            _reader: reader,
        })
    }

    pub(crate) fn chunks(&self) -> usize {
        self.chunks.len()
    }

    /// The best `top_k` chunks for `query` with their similarity, best first.
    ///
    /// Without an encoder, a chunk's similarity is its lexical similarity ([`SearchIndex::lexical`]). With one, it
    /// is the larger of that and its meaning similarity: the cosine between the query's meaning vector and the
    /// chunk's closest ([`Meanings::cosines`]), divided by [`MEANING_CEILING`] and capped at 1. So meaning lifts a
    /// chunk the words miss, and never sinks one the words find (a query whose topic word the model does not know,
    /// "Medi-Cal", keeps its lexical answer). The lexical similarity of the chunks after the first
    /// [`LEXICAL_CANDIDATES`] counts as 0.
    pub(crate) fn search(&self, query: &str, top_k: usize) -> Result<Vec<(f64, &Chunk)>, TantivyError> {
        if top_k == 0 || self.chunks.is_empty() {
            return Ok(Vec::new());
        }
        let Some(cosines) = self.cosines(query) else {
            let lexical = self.lexical(query, top_k)?;
            return Ok(lexical
                .into_iter()
                .map(|(score, at)| (score, &self.chunks[at]))
                .collect());
        };
        let mut scores: Vec<f64> = cosines
            .into_iter()
            .map(|cosine| (cosine / MEANING_CEILING).clamp(0.0, 1.0))
            .collect();
        for (similarity, at) in self.lexical(query, top_k.max(LEXICAL_CANDIDATES))? {
            scores[at] = scores[at].max(similarity);
        }
        let mut blended: Vec<(f64, usize)> = scores.into_iter().enumerate().map(|(at, score)| (score, at)).collect();
        blended.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        blended.truncate(top_k);
        Ok(blended
            .into_iter()
            .filter(|(score, _)| *score > 0.0)
            .map(|(score, at)| (score, &self.chunks[at]))
            .collect())
    }

    /// The best `top_k` chunks for `query` by BM25, with their lexical similarity and their position in `chunks`,
    /// best first.
    ///
    /// The query's own terms are optional BM25 clauses, in the body and (weighted [`HEADING_WEIGHT`]) in the file
    /// title and headings; the words the synonym table adds for them ([`crate::synonyms`]) are optional clauses
    /// weighted by [`expansion_weight`]; for an own term found in no chunk, the related words WordNet gives it
    /// that chunks use are optional clauses weighted by [`RELATED_WEIGHT`] (shared among them like a table entry's
    /// words). Only the query's own terms make the similarity's reference (see
    /// [`SearchIndex::reference_score`]), so added words can lift a chunk but never dilute the query.
    fn lexical(&self, query: &str, top_k: usize) -> Result<Vec<(f64, usize)>, TantivyError> {
        let own = terms(query, MAX_QUERY_TERMS);
        if own.is_empty() || top_k == 0 || self.chunks.is_empty() {
            return Ok(Vec::new());
        }
        // The words the table adds, with their weight, and for each own term the words added for it.
        let mut added: Vec<(String, f32)> = Vec::new();
        let mut through: HashMap<&str, Vec<(String, f32)>> = HashMap::new();
        for (phrase, expansion) in synonyms::expansions(query) {
            let expansion = terms(expansion, MAX_QUERY_TERMS);
            let weight = expansion_weight(expansion.len());
            for term in terms(phrase, MAX_QUERY_TERMS) {
                if let Some(term) = own.iter().find(|own| **own == term) {
                    let words = through.entry(term.as_str()).or_default();
                    words.extend(expansion.iter().map(|word| (word.clone(), weight)));
                }
            }
            for term in expansion {
                if own.contains(&term) {
                    continue;
                }
                let room = own.len() + added.len() < MAX_QUERY_TERMS;
                match added.iter_mut().find(|(word, _)| *word == term) {
                    Some((_, known)) => *known = known.max(weight),
                    None if room => added.push((term, weight)),
                    None => {}
                }
            }
        }
        // WordNet's related words for each own term the folder never uses, kept when the folder uses them.
        for term in &own {
            if self.searcher.doc_freq(&Term::from_field_text(self.body, term))? > 0 {
                continue;
            }
            let mut found: Vec<(&str, related::Tier)> = Vec::new();
            for (word, tier) in related::related(term) {
                if !own.iter().any(|own| own == word)
                    && self.searcher.doc_freq(&Term::from_field_text(self.body, word))? > 0
                {
                    found.push((word, tier));
                }
            }
            let share = (found.len().max(1) as f32).sqrt();
            for (word, tier) in found {
                let weight = RELATED_WEIGHT[tier as usize] / share;
                let room = own.len() + added.len() < MAX_QUERY_TERMS;
                match added.iter_mut().find(|(known, _)| known == word) {
                    Some((_, known)) => *known = known.max(weight),
                    None if room => added.push((word.to_owned(), weight)),
                    None => {}
                }
            }
        }
        let reference = self.reference_score(&own, &through)?;
        let clause = |field: Field, term: &str, weight: f32| {
            let query: Box<dyn Query> = Box::new(TermQuery::new(
                Term::from_field_text(field, term),
                IndexRecordOption::WithFreqs,
            ));
            let query: Box<dyn Query> = if weight == 1.0 {
                query
            } else {
                Box::new(BoostQuery::new(query, weight))
            };
            (Occur::Should, query)
        };
        let clauses: Vec<(Occur, Box<dyn Query>)> = own
            .iter()
            .flat_map(|term| [clause(self.body, term, 1.0), clause(self.heading, term, HEADING_WEIGHT)])
            .chain(added.iter().flat_map(|(term, weight)| {
                [
                    clause(self.body, term, *weight),
                    clause(self.heading, term, weight * HEADING_WEIGHT),
                ]
            }))
            .collect();
        let hits = self.searcher.search(
            &BooleanQuery::new(clauses),
            &TopDocs::with_limit(top_k).order_by_score(),
        )?;
        Ok(hits
            .into_iter()
            .filter_map(|(score, address)| {
                let column = self.chunk_columns.get(address.segment_ord as usize)?;
                let at = usize::try_from(column.first(address.doc_id)?).ok()?;
                (at < self.chunks.len()).then(|| (similarity(f64::from(score), reference), at))
            })
            .collect())
    }

    /// Every chunk with its lexical similarity ([`SearchIndex::lexical`]) and the cosine between its meaning
    /// vector and the query's, in chunk order: what [`SearchIndex::search`] blends.
    pub(crate) fn explain(&self, query: &str) -> Result<Vec<(&Chunk, f64, f64)>, TantivyError> {
        let mut lexical = vec![0.0; self.chunks.len()];
        for (similarity, at) in self.lexical(query, self.chunks.len())? {
            lexical[at] = similarity;
        }
        let cosines = self.cosines(query).unwrap_or_else(|| vec![0.0; self.chunks.len()]);
        Ok(self
            .chunks
            .iter()
            .zip(lexical)
            .zip(cosines)
            .map(|((chunk, lexical), cosine)| (chunk, lexical, cosine))
            .collect())
    }

    /// Each chunk's closeness in meaning to `query` ([`Meanings::cosines`]), in chunk order; `None` without an
    /// encoder, or when encoding fails (logged; the query is then ranked by its words alone).
    ///
    /// A query widened with the call's context ([`crate::build_query`]) holds the caller's newest words on its
    /// first line and earlier turns after it. Both the first line and the whole query are encoded, and a chunk's
    /// closeness is the larger: earlier turns about another topic would blur a question that stands on its own
    /// ("when do you close on saturday" after talk of an order), while a follow-up ("how much is it") means
    /// something only with them.
    ///
    /// A text without a content word ("", "hello?", "yes") is not encoded: its vector would be close to some page
    /// by chance, and nothing the caller asked.
    fn cosines(&self, query: &str) -> Option<Vec<f64>> {
        let encoder = self.encoder.as_ref()?;
        let says = |text: &str| !terms(text, 1).is_empty();
        let newest = query.lines().next().unwrap_or_default();
        let newest = (newest.len() < query.len() && says(newest)).then_some(newest);
        let mut cosines: Option<Vec<f64>> = None;
        for text in std::iter::once(query).filter(|query| says(query)).chain(newest) {
            let vector = encoder
                .encode(text)
                .inspect_err(
                    |error| tracing::warn!(%error, "encoding a knowledge query failed; ranking by words alone"),
                )
                .ok()?;
            let these = self.meanings.cosines(&vector, self.chunks.len());
            cosines = Some(match cosines {
                Some(known) => known.into_iter().zip(these).map(|(a, b)| a.max(b)).collect(),
                None => these,
            });
        }
        cosines
    }

    /// The BM25 score of a document of average length holding each query term once: the sum of the terms' idf
    /// (at tf = 1 and average length, BM25's tf factor `tf·(k1+1) / (tf + k1·(1−b+b·dl/avgdl))` is exactly 1).
    /// A term absent from the corpus counts, when the synonym table gave it words the corpus has (`through`),
    /// as the best of those words at [`EXPANSION_WEIGHT`] (the caller's word is known through its synonym);
    /// otherwise with [`UNKNOWN_WEIGHT`] times the idf of a term in no document, so a query half made of unknown
    /// words reaches less similarity than one whose words are all known and matched, while a spoken question's
    /// few off-topic words ("my son fell off his bike") do not drown its topic.
    fn reference_score(
        &self,
        terms: &[String],
        through: &HashMap<&str, Vec<(String, f32)>>,
    ) -> Result<f64, TantivyError> {
        let documents = self.searcher.num_docs() as f64;
        let term_idf = |term: &str| -> Result<(f64, bool), TantivyError> {
            let frequency = self.searcher.doc_freq(&Term::from_field_text(self.body, term))? as f64;
            Ok((idf(documents, frequency), frequency > 0.0))
        };
        let mut sum = 0.0;
        for term in terms {
            let (own, known) = term_idf(term)?;
            if known {
                sum += own;
                continue;
            }
            let mut best: Option<f64> = None;
            for (synonym, weight) in through.get(term.as_str()).into_iter().flatten() {
                if let (synonym, true) = term_idf(synonym)? {
                    let synonym = f64::from(*weight) * synonym;
                    best = Some(best.map_or(synonym, |best: f64| best.max(synonym)));
                }
            }
            sum += best.unwrap_or(UNKNOWN_WEIGHT * own);
        }
        let unseen = idf(documents, 0.0);
        Ok(sum.min(REFERENCE_CAP * unseen))
    }
}

/// BM25's idf of a term found in `frequency` of `documents` chunks.
fn idf(documents: f64, frequency: f64) -> f64 {
    (1.0 + (documents - frequency + 0.5) / (frequency + 0.5)).ln()
}

/// The chunks' meaning vectors: one for each chunk's whole text (its heading path first, so it says which page
/// and section it comes from) and one for each of its sentences ([`chunk::sentences`]), since a caller's question
/// is often the paraphrase of one sentence, which a whole chunk's vector dilutes.
#[derive(Default)]
struct Meanings {
    /// Unit vectors, `owners.len() × dims` components.
    vectors: Vec<f32>,
    /// The chunk (its position in `chunks`) each vector belongs to.
    owners: Vec<usize>,
}

impl Meanings {
    /// Each chunk's closeness in meaning to the `query` vector: the largest cosine of its vectors, in chunk order.
    fn cosines(&self, query: &[f32], chunks: usize) -> Vec<f64> {
        let mut cosines = vec![0.0_f64; chunks];
        for (vector, &owner) in self.vectors.chunks_exact(query.len().max(1)).zip(&self.owners) {
            let cosine = f64::from(encoder::dot(query, vector));
            cosines[owner] = cosines[owner].max(cosine);
        }
        cosines
    }
}

/// Encodes every chunk and its sentences with `encoder`.
fn meanings(chunks: &[Chunk], encoder: &Encoder) -> Result<Meanings, KnowledgeError> {
    let mut meanings = Meanings::default();
    for (at, chunk) in chunks.iter().enumerate() {
        for text in std::iter::once(chunk.content.clone()).chain(chunk::sentences(&chunk.content)) {
            let vector = encoder
                .encode(&text)
                .map_err(|reason| KnowledgeError::Index(format!("cannot encode chunk {}: {reason}", chunk.uuid)))?;
            meanings.vectors.extend(vector);
            meanings.owners.push(at);
        }
    }
    Ok(meanings)
}

/// The weight of each of the `words` words a table entry adds: [`EXPANSION_WEIGHT`] divided by the square root of
/// their number, so a long expansion ("how much" → "cost price dollars fee") weighs twice a one-word one, not four
/// times, and cannot outweigh the caller's own words.
fn expansion_weight(words: usize) -> f32 {
    EXPANSION_WEIGHT / (words.max(1) as f32).sqrt()
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
        check("Café \"(:^-+* opening-hours", &["cafe", "open", "hour", "openinghour"]);
        check("yes", &[]);
        check("how long is it?", &["long"]);
        check("I'd like what's it's we've you'll I'm", &[]);
    }

    #[test]
    fn compounds_and_abbreviation_plurals_gain_their_other_spelling() {
        assert_eq!(
            with_variants("e-books, Wi-Fi and DVDs!"),
            "e-books, Wi-Fi and DVDs!\nebooks WiFi DVD"
        );
        assert_eq!(with_variants("step-by-step"), "step-by-step\nstepbystep");
        assert_eq!(with_variants("CDs cds bus plans ms s"), "CDs cds bus plans ms s\nCD cd");
        assert_eq!(with_variants("a - b -- c- -d A-A-"), "a - b -- c- -d A-A-\nAA");
        assert_eq!(with_variants("Café-Bar é"), "Café-Bar é\nCaféBar");
        assert_eq!(with_variants(""), "");
        assert!(matches!(with_variants("no variants here"), Cow::Borrowed(_)));
        assert!(terms("Wi-Fi", 8).contains(&terms("wifi", 8)[0]));
        assert!(terms("dvds", 8).contains(&terms("DVD", 8)[0]));
    }

    proptest::proptest! {
        #[test]
        fn variants_keep_the_text_and_add_at_most_its_length(text in "[a-zA-Z0-9é -]{0,40}|\\PC{0,40}") {
            let out = with_variants(&text);
            proptest::prop_assert!(out.starts_with(text.as_str()), "{out:?}");
            proptest::prop_assert!(out.len() <= 2 * text.len() + 1, "{out:?}");
        }
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
