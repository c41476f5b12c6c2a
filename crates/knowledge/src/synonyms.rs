//! The words callers use and the words help pages use for the same thing.
//!
//! A caller asks "can I pay in instalments?" or "who do I talk to about my bill?"; the page says "payment plans"
//! and "billing". Stemming joins forms of one word ("bill", "bills", "billed"), not different words. This small,
//! committed table joins the common ones of service FAQs: money, places and times, people, fear and pain, and the
//! question words that carry meaning ("where" asks for an address, "how much" for a price). A table entry's
//! phrase is matched against the query by stems, as whole words in order; its words are then added to the query as
//! weaker, optional terms (see [`crate::index`]), so they can lift a page that uses them but never push a page
//! matching the caller's own words below one matching only the added words.
//!
//! What the table deliberately leaves out: domain-specific jargon of one business (that belongs in the pages), and
//! words with several common senses in help pages ("book" is a verb at a dentist and a noun at a library).

use std::sync::OnceLock;

use tantivy::tokenizer::{AsciiFoldingFilter, Language, LowerCaser, SimpleTokenizer, Stemmer, TextAnalyzer};

/// `(what a caller says, what a page says)`. Phrases are matched by stem, so one form of each word is enough.
const TABLE: &[Entry] = &[
    // Paying.
    ("instalment", "payment plan monthly financing"), // also "installment": one stem
    ("bill", "billing balance statement payment"),
    ("invoice", "billing balance statement"),
    ("how much", "cost price dollars fee"),
    ("price", "cost dollars"),
    ("medicaid", "medi-cal insurance"),
    ("medi cal", "medicaid insurance"),
    ("denti cal", "medi-cal insurance"),
    ("in network", "insurance"),
    ("money back", "refund"),
    // Forms of one word that the stemmer keeps apart.
    ("pay", "payment"),
    ("payment", "pay"),
    ("deliver", "delivery"),
    ("delivery", "deliver"),
    ("apply", "application"),
    ("application", "apply"),
    // Places and getting there.
    ("where", "address location"),
    ("located", "address location"),
    ("directions", "address location"),
    ("car", "parking garage"),
    ("park", "parking garage"),
    ("drive", "parking"),
    ("bus", "transit station"),
    ("train", "transit station"),
    // Times.
    ("open", "hours"),
    ("tonight", "after hours"),
    ("night", "after hours on-call"),
    ("urgent", "emergency same-day"),
    ("right away", "emergency same-day"),
    ("first appointment", "new patients first visit"),
    ("first time", "new patients first visit"),
    ("in one day", "single visit same day"),
    ("same day", "single visit"),
    // People.
    ("kid", "children child"),
    ("son", "children child"),
    ("daughter", "children child"),
    ("toddler", "children baby"),
    ("teenager", "teens"),
    // Feelings and pain.
    ("scared", "anxious nervous anxiety"),
    ("afraid", "anxious nervous anxiety"),
    ("terrified", "anxious nervous anxiety"),
    ("fear", "anxious nervous anxiety"),
    ("agony", "pain"),
    // Things that break or go missing.
    ("broke", "broken damaged repair"),
    ("ruined", "damaged repair"),
    ("chewed", "damaged repair"),
    ("torn", "damaged repair"),
    ("ripped", "damaged repair"),
    ("spilled", "damaged repair"),
    // Words for a service's things.
    ("bleach", "whitening"),
    ("straighten", "invisalign braces"),
    ("keep", "loan lent"),
    ("used book", "donations book sale"),
    ("donate", "donations"),
];

/// A table entry: what a caller says, what a page says.
type Entry = (&'static str, &'static str);

/// The stemmed phrase of each table entry, with the entry.
fn entries() -> &'static [(Vec<String>, Entry)] {
    static ENTRIES: OnceLock<Vec<(Vec<String>, Entry)>> = OnceLock::new();
    ENTRIES.get_or_init(|| {
        TABLE
            .iter()
            .map(|entry| (stems(entry.0), *entry))
            .filter(|(phrase, _)| !phrase.is_empty())
            .collect()
    })
}

/// `text` as stems, stop words kept (a phrase such as "how much" is all stop words).
fn stems(text: &str) -> Vec<String> {
    static ANALYZER: OnceLock<TextAnalyzer> = OnceLock::new();
    let mut analyzer = ANALYZER
        .get_or_init(|| {
            TextAnalyzer::builder(SimpleTokenizer::default())
                .filter(LowerCaser)
                .filter(AsciiFoldingFilter)
                .filter(Stemmer::new(Language::English))
                .build()
        })
        .clone();
    let mut stream = analyzer.token_stream(text);
    let mut stems = Vec::new();
    while stream.advance() {
        stems.push(stream.token().text.clone());
    }
    stems
}

/// The table entries `(phrase, expansion)` whose phrase is found in `query`, in table order.
pub(crate) fn expansions(query: &str) -> Vec<Entry> {
    let words = stems(query);
    entries()
        .iter()
        .filter(|(phrase, _)| words.windows(phrase.len()).any(|run| run == phrase.as_slice()))
        .map(|(_, entry)| *entry)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phrases_match_by_stem_as_whole_words_in_order() {
        let added = |query: &str| -> Vec<&str> { expansions(query).into_iter().map(|(_, added)| added).collect() };
        assert_eq!(
            added("can I pay in INSTALMENTS?"),
            ["payment plan monthly financing", "payment"]
        );
        assert!(added("who do I talk to about my bills").contains(&"billing balance statement payment"));
        assert!(added("do you take Medi-Cal").contains(&"medicaid insurance"));
        assert!(added("how much is it").contains(&"cost price dollars fee"));
        assert_eq!(added("installments"), added("instalment"));
        assert!(expansions("much how").is_empty());
        assert!(expansions("billboard").is_empty());
        assert!(expansions("").is_empty());
    }

    #[test]
    fn every_entry_has_words_on_both_sides() {
        for (phrase, expansion) in TABLE {
            assert!(!stems(phrase).is_empty(), "{phrase:?}");
            assert!(!stems(expansion).is_empty(), "{expansion:?}");
        }
    }
}
