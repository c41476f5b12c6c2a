//! Related English words from WordNet, for the caller's words that a page says otherwise.
//!
//! The synonym table ([`crate::synonyms`]) joins the phrasing of a few common questions; a caller can say anything,
//! though ("i want whiter teeth" for whitening, "reserve a book" for holds, "the weekend" for Saturday and Sunday).
//! `data/related-words.txt`, built from WordNet 3.0 by `train/wordnet_table.py`, lists for about 21,000 common
//! words the words WordNet relates to them, in three tiers of decreasing closeness: [`Tier::Same`] (synonyms and
//! derived forms), [`Tier::Broader`] (broader, narrower and part-of words) and [`Tier::Gloss`] (the words of the
//! definition). The table is parsed once, on first use, into stems of the index's own analyzer, so a caller's word
//! and a page's word meet by stem whatever their form.
//!
//! The table knows English, not the folder: most of a word's related words appear in no page and are dropped by
//! the index, which also weighs the rest below the caller's own words (see [`crate::index`]).

use std::collections::HashMap;
use std::sync::OnceLock;

use crate::index::terms;

/// The committed table: `word<TAB>same<TAB>broader<TAB>gloss`, space-separated words, or `word<TAB>=lemma` for a
/// comparative that shares its lemma's words; `#` lines are comments.
const TABLE: &str = include_str!("../data/related-words.txt");

/// How close a related word is to the caller's word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tier {
    /// A synonym or a derived form: "reserve" → "hold", "white" → "whiten".
    Same = 0,
    /// A broader, narrower or part-of word: "weekend" → "saturday", "tooth" → "canine".
    Broader = 1,
    /// A word of the definition: "sedative" → "calm".
    Gloss = 2,
}

const TIERS: [Tier; 3] = [Tier::Same, Tier::Broader, Tier::Gloss];

/// The parsed table: every stem once, and for each key stem the related stems of each tier.
struct Table {
    stems: Vec<String>,
    ids: HashMap<String, u32>,
    /// Key stem id → `(related stem id, tier)`, closest tier first, each stem once.
    related: HashMap<u32, Vec<(u32, Tier)>>,
}

impl Table {
    fn id(&mut self, stem: String) -> u32 {
        if let Some(id) = self.ids.get(&stem) {
            return *id;
        }
        let id = u32::try_from(self.stems.len()).unwrap_or(u32::MAX);
        self.stems.push(stem.clone());
        self.ids.insert(stem, id);
        id
    }

    fn parse(text: &str) -> Table {
        let mut table = Table {
            stems: Vec::new(),
            ids: HashMap::new(),
            related: HashMap::new(),
        };
        let mut aliases = Vec::new();
        // Each distinct word of the table is stemmed once: a word appears in many lines.
        let mut stemmed: HashMap<&str, Option<u32>> = HashMap::new();
        let mut stem = |table: &mut Table, word| {
            *stemmed
                .entry(word)
                .or_insert_with(|| terms(word, 1).pop().map(|stem| table.id(stem)))
        };
        for line in text.lines().filter(|line| !line.starts_with('#')) {
            let mut fields = line.split('\t');
            let Some(key) = fields.next().and_then(|word| stem(&mut table, word)) else {
                continue;
            };
            if let Some(lemma) = line.split_once("\t=").and_then(|(_, lemma)| stem(&mut table, lemma)) {
                aliases.push((key, lemma));
                continue;
            }
            let mut words = Vec::new();
            for (tier, field) in TIERS.into_iter().zip(fields) {
                for word in field.split(' ') {
                    if let Some(id) = stem(&mut table, word) {
                        words.push((id, tier));
                    }
                }
            }
            // Several forms of a word share its stem ("hold", "holding"): their lists are merged.
            let entry = table.related.entry(key).or_default();
            for (id, tier) in words {
                if id == key {
                    continue;
                }
                match entry.iter_mut().find(|(known, _)| *known == id) {
                    Some((_, known)) if (tier as u8) < (*known as u8) => *known = tier,
                    Some(_) => {}
                    None => entry.push((id, tier)),
                }
            }
        }
        // A comparative ("whiter") shares its lemma's words, after the lemma itself.
        for (key, lemma) in aliases {
            if key == lemma || table.related.contains_key(&key) {
                continue;
            }
            let mut words = vec![(lemma, Tier::Same)];
            words.extend(
                table
                    .related
                    .get(&lemma)
                    .into_iter()
                    .flatten()
                    .filter(|(id, _)| *id != key),
            );
            table.related.insert(key, words);
        }
        for words in table.related.values_mut() {
            words.sort_by_key(|(_, tier)| *tier as u8);
        }
        table
    }
}

fn table() -> &'static Table {
    static TABLE_PARSED: OnceLock<Table> = OnceLock::new();
    TABLE_PARSED.get_or_init(|| Table::parse(TABLE))
}

/// Parses the table now, so that the first query does not pay for it.
pub(crate) fn warm() {
    table();
}

/// The stems related to the stem `term`, closest first, with their tier.
pub(crate) fn related(term: &str) -> impl Iterator<Item = (&'static str, Tier)> {
    let table = table();
    table
        .ids
        .get(term)
        .and_then(|id| table.related.get(id))
        .into_iter()
        .flatten()
        .map(|(id, tier)| (table.stems[*id as usize].as_str(), *tier))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(word: &str, tier: Tier) -> Vec<&'static str> {
        let stem = terms(word, 1).pop().unwrap();
        related(&stem)
            .filter(|(_, found)| *found == tier)
            .map(|(word, _)| word)
            .collect()
    }

    #[test]
    fn callers_words_reach_the_words_pages_use() {
        assert!(words("reserve", Tier::Same).contains(&"hold"));
        assert!(words("whiter", Tier::Same).contains(&"whiten"));
        let weekend: Vec<&str> = related(&terms("weekend", 1)[0]).map(|(word, _)| word).collect();
        assert!(
            weekend.contains(&"saturday") && weekend.contains(&"sunday"),
            "{weekend:?}"
        );
        assert!(related("xqzv").next().is_none());
    }

    #[test]
    fn every_stem_appears_once_per_word_closest_tier_first() {
        let table = table();
        assert!(table.related.len() > 10_000, "{}", table.related.len());
        for (key, words) in &table.related {
            let mut seen: Vec<u32> = words.iter().map(|(id, _)| *id).collect();
            seen.sort_unstable();
            seen.dedup();
            assert_eq!(seen.len(), words.len());
            assert!(!seen.contains(key));
            assert!(words.windows(2).all(|pair| pair[0].1 as u8 <= pair[1].1 as u8));
        }
    }
}
