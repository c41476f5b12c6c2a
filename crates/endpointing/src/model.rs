//! The learned text end-of-turn model: a logistic regression over hashed word features of the turn's ending.
//!
//! Trained offline by `train/train.py` (see the crate README for the recipe) and committed as
//! `model/eot-<lang>.bin`; the bytes are compiled in, so there is no file to find and nothing to download at
//! run time. The feature extraction here mirrors `features()` in `train.py` exactly: the same strings,
//! hashed with 64-bit FNV-1a into `2^bits` buckets, each bucket counted once. The weights are read straight
//! from the (little-endian) bytes, so loading is a header check and a decision is about a dozen hashes and
//! lookups, with no allocation beyond the tokenisation.
//!
//! Features: the ending punctuation, the last word, the second-to-last word, the last two and three words, the
//! first word and first two words, the first word with the last, the word count (capped), whether the assistant asked a question (and that
//! with a capped word count), and the ending punctuation with the last word. Apostrophes are dropped inside
//! words (`hasnt` and `hasn't` are one feature), as transcribers spell contractions both ways.

use std::borrow::Cow;
use std::sync::OnceLock;

use crate::EndpointingError;

const MAGIC: &[u8; 8] = b"SBEOT1\0\0";
const HEADER: usize = 16;
const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// The committed English weights.
static ENGLISH_BYTES: &[u8] = include_bytes!("../model/eot-en.bin");

/// A loaded end-of-turn model: P(turn complete) from the words of a turn.
#[derive(Debug, Clone)]
pub struct EotModel {
    bits: u32,
    bias: f32,
    bytes: Cow<'static, [u8]>,
}

impl EotModel {
    /// Reads a model from its bytes (the format `train.py` writes), checking the header and the length.
    pub fn from_bytes(bytes: impl Into<Cow<'static, [u8]>>) -> Result<Self, EndpointingError> {
        let bytes = bytes.into();
        let invalid = |message: String| EndpointingError::Model(message);
        if bytes.len() < HEADER || &bytes[..8] != MAGIC {
            return Err(invalid("not an end-of-turn model (bad magic)".to_owned()));
        }
        let bits = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
        if !(1..=24).contains(&bits) {
            return Err(invalid(format!("hash bits {bits} out of range 1..=24")));
        }
        let expected = HEADER + 4 * (1usize << bits);
        if bytes.len() != expected {
            return Err(invalid(format!(
                "{} bytes, expected {expected} for {bits} hash bits",
                bytes.len()
            )));
        }
        let bias = f32::from_le_bytes([bytes[12], bytes[13], bytes[14], bytes[15]]);
        let model = Self { bits, bias, bytes };
        let finite = (0..1usize << bits).all(|i| model.weight(i).is_finite());
        if !bias.is_finite() || !finite {
            return Err(invalid("non-finite weight".to_owned()));
        }
        Ok(model)
    }

    /// The English model compiled into the crate, loaded once.
    pub fn english() -> &'static EotModel {
        static MODEL: OnceLock<EotModel> = OnceLock::new();
        MODEL.get_or_init(|| EotModel::from_bytes(ENGLISH_BYTES).expect("the committed English model is valid"))
    }

    /// Number of hash buckets (weights).
    pub fn buckets(&self) -> usize {
        1 << self.bits
    }

    fn weight(&self, index: usize) -> f32 {
        let at = HEADER + 4 * index;
        let b = &self.bytes[at..at + 4];
        f32::from_le_bytes([b[0], b[1], b[2], b[3]])
    }

    /// The completion logit (log-odds that the turn is complete) of a turn, from the model alone.
    pub fn turn_logit(&self, turn: &crate::Turn<'_>) -> f64 {
        crate::decide::model_logit(self, turn)
    }

    /// The completion logit (log-odds that the turn is complete) of a tokenised turn.
    ///
    /// `words` are the turn's lowercase words, `ending` its ending punctuation class and `asked` whether an
    /// assistant message precedes it and ends with `?` (`None` when there is no assistant message).
    pub(crate) fn logit(&self, words: &[&str], ending: &str, asked: Option<bool>) -> f64 {
        let Some((&last, _)) = words.split_last() else {
            return f64::from(self.bias);
        };
        let n = words.len();
        let second = if n >= 2 { words[n - 2] } else { "^" };
        let cq: &[u8] = match asked {
            None => b"-",
            Some(true) => b"1",
            Some(false) => b"0",
        };
        let (mut count_buf, mut short_buf) = ([0u8; 2], [0u8; 2]);
        let count = decimal(n.min(12), &mut count_buf);
        let short = decimal(n.min(6), &mut short_buf);
        let mut seen = [usize::MAX; 12];
        let mut used = 0;
        let mask = self.buckets() - 1;
        let mut add = |hash: u64| {
            let index = (hash as usize) & mask;
            if !seen[..used].contains(&index) {
                seen[used] = index;
                used += 1;
            }
        };
        add(hash(&[b"e=", ending.as_bytes()], &[]));
        add(hash(&[b"w1="], &[last]));
        add(hash(&[b"w2="], &[second]));
        add(hash(&[b"b="], &[second, last]));
        add(hash(&[b"f="], &[words[0]]));
        add(hash(&[b"n=", count], &[]));
        add(hash(&[b"cq=", cq], &[]));
        add(hash(&[b"cqn=", cq, short], &[]));
        add(hash(&[b"ew1=", ending.as_bytes(), b" "], &[last]));
        if n >= 3 {
            add(hash(&[b"t="], &words[n - 3..]));
        }
        if n >= 2 {
            add(hash(&[b"fb="], &words[..2]));
            add(hash(&[b"fl="], &[words[0], last]));
        }
        seen[..used]
            .iter()
            .fold(f64::from(self.bias), |sum, &i| sum + f64::from(self.weight(i)))
    }
}

/// The decimal digits of `n` (below 100) without allocating.
fn decimal(n: usize, buf: &mut [u8; 2]) -> &[u8] {
    if n < 10 {
        buf[0] = b'0' + n as u8;
        &buf[..1]
    } else {
        buf[0] = b'0' + (n / 10 % 10) as u8;
        buf[1] = b'0' + (n % 10) as u8;
        &buf[..]
    }
}

/// FNV-1a of the concatenation of `prefix` parts and then `words` joined by single spaces, with apostrophes
/// dropped from the words.
fn hash(prefix: &[&[u8]], words: &[&str]) -> u64 {
    let mut h = FNV_OFFSET;
    let mut eat = |byte: u8| {
        h ^= u64::from(byte);
        h = h.wrapping_mul(FNV_PRIME);
    };
    for part in prefix {
        part.iter().copied().for_each(&mut eat);
    }
    for (i, word) in words.iter().enumerate() {
        if i > 0 {
            eat(b' ');
        }
        word.bytes().filter(|&b| b != b'\'').for_each(&mut eat);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv_matches_the_reference_values() {
        // FNV-1a 64 test vectors.
        assert_eq!(hash(&[], &[]), 0xcbf2_9ce4_8422_2325);
        assert_eq!(hash(&[b"a"], &[]), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(hash(&[b"foobar"], &[]), 0x8594_4171_f739_67e8);
        // Words are joined by spaces and lose their apostrophes.
        assert_eq!(hash(&[b"b="], &["hasn't", "it"]), hash(&[b"b=hasnt it"], &[]));
        let mut buf = [0; 2];
        assert_eq!(decimal(7, &mut buf), b"7");
        assert_eq!(decimal(12, &mut buf), b"12");
    }

    #[test]
    fn rejects_malformed_weights() {
        assert!(EotModel::from_bytes(&b"nope"[..]).is_err());
        let mut bytes = MAGIC.to_vec();
        bytes.extend_from_slice(&4u32.to_le_bytes());
        bytes.extend_from_slice(&0.5f32.to_le_bytes());
        bytes.extend_from_slice(&[0; 4 * 15]);
        assert!(EotModel::from_bytes(bytes.clone()).is_err(), "one weight short");
        bytes.extend_from_slice(&f32::NAN.to_le_bytes());
        assert!(EotModel::from_bytes(bytes.clone()).is_err(), "NaN weight");
        let len = bytes.len();
        bytes[len - 4..].copy_from_slice(&1.0f32.to_le_bytes());
        let model = EotModel::from_bytes(bytes).unwrap();
        assert_eq!(model.buckets(), 16);
        assert!(model.logit(&[], "none", None) == 0.5);
    }
}
