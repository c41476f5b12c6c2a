//! Compiled conditions and the facts of one request they are checked against.

use serde_json::Value;

use crate::window::{self, Window};

/// A caller pattern: an exact number or a prefix (`+1415*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Pattern {
    Exact(String),
    Prefix(String),
}

impl Pattern {
    fn matches(&self, text: &str) -> bool {
        match self {
            Pattern::Exact(exact) => text == exact,
            Pattern::Prefix(prefix) => text.starts_with(prefix.as_str()),
        }
    }
}

/// What a handoff parameter must be.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Accept {
    /// Present and not null.
    Present,
    /// Any of these values; strings compare case-insensitively (kept lowercase).
    AnyOf(Vec<Value>),
}

impl Accept {
    fn matches(&self, value: Option<&Value>) -> bool {
        let Some(value) = value.filter(|value| !value.is_null()) else {
            return false;
        };
        match self {
            Accept::Present => true,
            Accept::AnyOf(accepted) => accepted.iter().any(|accepted| match (accepted, value) {
                (Value::String(accepted), Value::String(value)) => value.to_lowercase() == *accepted,
                (accepted, value) => accepted == value,
            }),
        }
    }
}

/// A rule's compiled conditions; `None` means "not a condition".
#[derive(Debug, Clone, Default)]
pub(crate) struct Conditions {
    pub(crate) caller: Option<Vec<Pattern>>,
    pub(crate) phone_number: Option<Vec<String>>,
    pub(crate) windows: Option<(Vec<Window>, i32)>,
    /// Lowercase; `primary` entries (no `-`) also match regional variants.
    pub(crate) language: Option<Vec<String>>,
    /// Each keyword as its word stems (see [`words`]).
    pub(crate) keywords: Option<Vec<Vec<String>>>,
    pub(crate) parameters: Option<Vec<(String, Accept)>>,
}

/// What is known about one request.
#[derive(Debug, Default)]
pub(crate) struct Facts<'a> {
    pub(crate) caller: Option<&'a str>,
    /// Every id and number the called phone number is known by.
    pub(crate) called: Vec<&'a str>,
    pub(crate) now_ms: Option<i64>,
    pub(crate) language: Option<&'a str>,
    /// The caller's recent turns, each as its word stems (see [`words`]).
    pub(crate) recent_turns: Vec<Vec<String>>,
    pub(crate) parameters: Option<&'a Value>,
}

impl Conditions {
    /// Whether every condition holds for `facts`.
    pub(crate) fn matches(&self, facts: &Facts<'_>) -> bool {
        if let Some(patterns) = &self.caller {
            let Some(caller) = facts.caller else { return false };
            if !patterns.iter().any(|pattern| pattern.matches(caller)) {
                return false;
            }
        }
        if let Some(numbers) = &self.phone_number
            && !numbers.iter().any(|number| facts.called.contains(&number.as_str()))
        {
            return false;
        }
        if let Some((windows, offset)) = &self.windows {
            let Some(now_ms) = facts.now_ms else { return false };
            if !window::any_contains(windows, *offset, now_ms) {
                return false;
            }
        }
        if let Some(languages) = &self.language {
            let Some(language) = facts.language else { return false };
            if !languages.iter().any(|wanted| language_matches(wanted, language)) {
                return false;
            }
        }
        if let Some(keywords) = &self.keywords
            && !keywords.iter().any(|keyword| {
                // `windows(0)` would panic; compile never keeps a keyword without words.
                !keyword.is_empty()
                    && facts
                        .recent_turns
                        .iter()
                        .any(|turn| turn.windows(keyword.len()).any(|run| run == keyword.as_slice()))
            })
        {
            return false;
        }
        if let Some(parameters) = &self.parameters {
            let Some(Value::Object(given)) = facts.parameters else {
                return false;
            };
            if !parameters.iter().all(|(key, accept)| accept.matches(given.get(key))) {
                return false;
            }
        }
        true
    }

    /// Whether the conditions look at the conversation (so the request's turns need splitting into words).
    pub(crate) fn needs_turns(&self) -> bool {
        self.keywords.is_some()
    }
}

/// `es` matches `es`, `es-MX`, `es_419`; `es-mx` matches only `es-MX` and `es_MX`. `wanted` is lowercase.
fn language_matches(wanted: &str, language: &str) -> bool {
    let language = language.trim().to_ascii_lowercase().replace('_', "-");
    language == wanted || (!wanted.contains('-') && language.split('-').next() == Some(wanted))
}

/// A text's words as stems: runs of letters and digits, lowercase, each reduced by the English Snowball stemmer.
///
/// Keywords and the caller's turns both go through here, so a keyword matches any form of its words: "billing"
/// matches "a bill", "cancel" matches "cancelled", "refunds" matches "refund". Words the stemmer does not know
/// (numbers, other languages' words) mostly stay as they are, and stay equal to themselves on both sides.
pub(crate) fn words(text: &str) -> Vec<String> {
    let stemmer = frostem::Stemmer::new(frostem::Algorithm::English);
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
        .map(|word| stemmer.stem(&word.to_lowercase()).into_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn languages_match_by_primary_subtag() {
        let check = |wanted: &str, language: &str, expected: bool| {
            assert_eq!(language_matches(wanted, language), expected, "{wanted} vs {language}");
        };
        check("es", "es", true);
        check("es", "ES-mx", true);
        check("es", "es_419", true);
        check("es-mx", "es-MX", true);
        check("es-mx", "es", false);
        check("es", "en", false);
        check("es", "est", false);
    }

    #[test]
    fn words_split_on_anything_but_letters_and_digits() {
        assert_eq!(
            words("I'd like a REFUND, please!"),
            ["i", "d", "like", "a", "refund", "pleas"]
        );
        assert_eq!(words("Reembolso: ¿Dónde está?"), ["reembolso", "dónde", "está"]);
        assert!(words(" .,; ").is_empty());
    }

    #[test]
    fn forms_of_a_word_share_one_stem() {
        let same = |a: &str, b: &str| assert_eq!(words(a), words(b), "{a:?} vs {b:?}");
        same("billing", "bill");
        same("Bills", "billed");
        same("cancel", "CANCELLED");
        same("cancellation", "cancellations");
        same("refunds", "refunding");
        same("speaking to humans", "speak to human");
        assert_ne!(words("bill"), words("ball"));
        assert_ne!(words("cancel"), words("can"));
    }
}
