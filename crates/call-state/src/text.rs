//! Text helpers: cutting at a char boundary, normalising for comparison, and word matching for search.

/// `text` cut to at most `max` bytes at a char boundary.
pub(crate) fn truncate_at(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// The length of a value's compact JSON text, without building it.
pub(crate) fn json_len<T: serde::Serialize + ?Sized>(value: &T) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    // Counting cannot fail; were serde_json to report an error, the count so far is still a lower bound.
    let _ = serde_json::to_writer(&mut count, value);
    count.0
}

/// Words that carry no meaning for "what did the caller say about X" (they would match every turn).
const STOP_WORDS: &[&str] = &[
    "a", "about", "an", "and", "are", "as", "at", "be", "did", "do", "for", "from", "i", "in", "is", "it", "me", "my",
    "of", "on", "or", "said", "say", "that", "the", "this", "to", "was", "what", "when", "where", "who", "with", "you",
];

/// The lowercase alphanumeric words of `text`, in order.
pub(crate) fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
        .map(str::to_lowercase)
}

/// The alphanumeric words of `text` as they are written, in order (no allocation).
pub(crate) fn raw_words(text: &str) -> impl Iterator<Item = &str> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
}

/// Whether the written word `raw` lowercases to `lower`, char by char and without allocating (so a Greek final
/// sigma compares as `σ`).
pub(crate) fn same_word(raw: &str, lower: &str) -> bool {
    if raw.is_ascii() {
        return raw.len() == lower.len() && raw.eq_ignore_ascii_case(lower);
    }
    raw.chars().flat_map(char::to_lowercase).eq(lower.chars())
}

/// The distinct words of a search query, without stop words.
pub(crate) fn query_words(query: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for word in words(query) {
        if !STOP_WORDS.contains(&word.as_str()) && !out.contains(&word) {
            out.push(word);
        }
    }
    out
}

/// `text` as ` word word word `: lowercase words separated and surrounded by single spaces, so that a
/// substring test on two normalised texts matches whole words only.
pub(crate) fn normalized(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push(' ');
    for word in words(text) {
        out.push_str(&word);
        out.push(' ');
    }
    out
}

/// Whether the conversation turn `turn` already contains the utterance `utterance` (a final transcript).
///
/// Vapi's conversation log may merge several finals into one message and punctuate differently, so this
/// compares words, not bytes: the utterance's words appear in order in the turn, or at least 80% of them (and
/// at least three) appear in it at all.
pub(crate) fn covers(turn: &str, utterance: &str) -> bool {
    let utterance = normalized(utterance);
    if utterance.len() <= 1 {
        return true;
    }
    let turn = normalized(turn);
    if turn.contains(&utterance) {
        return true;
    }
    let wanted: Vec<&str> = utterance.split(' ').filter(|w| !w.is_empty()).collect();
    if wanted.len() < 3 {
        return false;
    }
    let have: Vec<&str> = turn.split(' ').filter(|w| !w.is_empty()).collect();
    let found = wanted.iter().filter(|word| have.contains(word)).count();
    found * 5 >= wanted.len() * 4
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_respects_char_boundaries() {
        let check = |text: &str, max: usize, expected: &str| assert_eq!(truncate_at(text, max), expected, "{text}");
        check("hello", 10, "hello");
        check("hello", 3, "hel");
        check("héllo", 2, "h");
        check("héllo", 3, "hé");
        check("日本", 4, "日");
        check("", 0, "");
        check("abc", 0, "");
    }

    #[test]
    fn words_compare_in_place_as_lowercase() {
        assert_eq!(
            raw_words("Router, ROUTER's light!").collect::<Vec<_>>(),
            ["Router", "ROUTER", "s", "light"]
        );
        assert!(same_word("Router", "router"));
        assert!(!same_word("Routers", "router"));
        assert!(same_word("Élan", "élan"));
        assert!(same_word("ÄRGER", "ärger"));
        assert!(!same_word("Ärger", "arger"));
        assert!(same_word("日本", "日本"));
    }

    #[test]
    fn covering_compares_words() {
        let check = |turn: &str, utterance: &str, expected: bool| {
            assert_eq!(covers(turn, utterance), expected, "{turn:?} covers {utterance:?}");
        };
        check(
            "Hi, I'd like to book a cleaning.",
            "hi i'd like to book a cleaning",
            true,
        );
        check("Hi, I'd like to book a cleaning. For Tuesday.", "For Tuesday", true);
        check("Hi there", "", true);
        check("yes", "yes", true);
        check("yesterday", "yes", false);
        check("no", "yes", false);
        check(
            "book a cleaning for next tuesday please",
            "book cleaning next tuesday morning",
            true,
        );
        check("book a cleaning", "cancel my appointment tomorrow", false);
    }

    #[test]
    fn query_words_drop_stop_words_and_repeats() {
        assert_eq!(
            query_words("What did the caller say about Tuesday, Tuesday?"),
            ["caller", "tuesday"]
        );
        assert!(query_words("  ,; ").is_empty());
    }
}
