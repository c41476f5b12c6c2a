//! Text helpers: cutting at a char boundary, measuring JSON, and normalising for comparison.

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

/// The lowercase alphanumeric words of `text`, in order.
pub(crate) fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
        .map(str::to_lowercase)
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
}
