//! The language a turn is spoken in, which picks the cues (and the model) a decision uses.
//!
//! English has the learned model and the full English lexicon; Spanish has its own lexicon; any other
//! language gets a cautious policy that trusts only what every language shares (terminal punctuation, digit
//! readouts), and never a short timeout without terminal punctuation.

use std::fmt;

/// A language with its own end-of-turn policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Language {
    /// English: learned model plus English cues. The default when no language is known.
    #[default]
    English,
    /// Spanish: Spanish cues.
    Spanish,
    /// A language without a model or lexicon here: the cautious policy.
    Other,
}

impl Language {
    /// The language of a BCP-47-like code as transcribers report it (`en`, `en-US`, `es-419`, `es-LATAM`,
    /// `Spanish`). `multi`, an empty code or none at all mean "not known", read as English; any other
    /// code is [`Language::Other`].
    pub fn from_code(code: Option<&str>) -> Self {
        let Some(code) = code.map(str::trim).filter(|c| !c.is_empty()) else {
            return Self::English;
        };
        let primary = code.split(['-', '_']).next().unwrap_or(code).to_ascii_lowercase();
        match primary.as_str() {
            "en" | "eng" | "english" | "multi" | "multilingual" => Self::English,
            "es" | "spa" | "spanish" | "español" | "espanol" => Self::Spanish,
            _ => Self::Other,
        }
    }

    /// A short code for logs and reports.
    pub const fn code(self) -> &'static str {
        match self {
            Self::English => "en",
            Self::Spanish => "es",
            Self::Other => "other",
        }
    }
}

impl fmt::Display for Language {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_map_to_policies() {
        for (code, language) in [
            (None, Language::English),
            (Some(""), Language::English),
            (Some("en-US"), Language::English),
            (Some("multi"), Language::English),
            (Some("es"), Language::Spanish),
            (Some("es-419"), Language::Spanish),
            (Some("ES_latam"), Language::Spanish),
            (Some("de"), Language::Other),
            (Some("fr-CA"), Language::Other),
            (Some("zz-garbage-code"), Language::Other),
        ] {
            assert_eq!(Language::from_code(code), language, "{code:?}");
        }
    }
}
