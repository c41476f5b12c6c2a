//! Splitting one document's text into chunks of at most `max_chars` characters.
//!
//! A chunk never crosses a Markdown heading, and it is cut at paragraph boundaries where it can: only a paragraph
//! longer than a chunk is cut inside, at a sentence end, else at a space, else (one enormous word) anywhere on a
//! character boundary. Each chunk starts with the path of headings it sits under (`# Warranty` / `## Blenders`),
//! so a chunk read alone still says what it is about. Headings inside fenced code blocks are text, not headings.
//! This is a plain-text reading of Markdown, deliberately not a full CommonMark parser: the model receives the
//! chunk's Markdown as written.

/// The chunks of `text`, in document order. Whitespace-only text gives none; every chunk is non-empty and at
/// most `max_chars` characters long (`max_chars` is at least [`KnowledgeConfig::MIN_CHUNK_CHARS`]).
///
/// [`KnowledgeConfig::MIN_CHUNK_CHARS`]: crate::KnowledgeConfig::MIN_CHUNK_CHARS
pub(crate) fn chunk_text(text: &str, max_chars: usize) -> Vec<String> {
    let mut chunker = Chunker {
        max_chars,
        headings: Vec::new(),
        prefix: String::new(),
        body: String::new(),
        chunks: Vec::new(),
    };
    for block in blocks(text) {
        match block {
            Block::Heading { level, text } => chunker.heading(level, text),
            Block::Paragraph(text) => chunker.paragraph(&text),
        }
    }
    chunker.flush();
    chunker.chunks
}

/// A heading line or a paragraph (consecutive non-blank lines).
enum Block<'a> {
    Heading { level: usize, text: &'a str },
    Paragraph(String),
}

fn blocks(text: &str) -> Vec<Block<'_>> {
    let mut blocks = Vec::new();
    let mut paragraph: Vec<&str> = Vec::new();
    let mut in_fence = false;
    let flush = |paragraph: &mut Vec<&str>, blocks: &mut Vec<Block<'_>>| {
        if !paragraph.is_empty() {
            blocks.push(Block::Paragraph(paragraph.join("\n")));
            paragraph.clear();
        }
    };
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with("```") || trimmed.starts_with("~~~") {
            in_fence = !in_fence;
            paragraph.push(line.trim_end());
            continue;
        }
        if in_fence {
            paragraph.push(line.trim_end());
        } else if trimmed.is_empty() {
            flush(&mut paragraph, &mut blocks);
        } else if let Some(level) = heading_level(trimmed) {
            flush(&mut paragraph, &mut blocks);
            blocks.push(Block::Heading { level, text: trimmed });
        } else {
            paragraph.push(line.trim_end());
        }
    }
    flush(&mut paragraph, &mut blocks);
    blocks
}

/// `Some(1..=6)` for an ATX heading (`#`..`######` followed by a space, or alone).
fn heading_level(line: &str) -> Option<usize> {
    let level = line.bytes().take_while(|&b| b == b'#').count();
    let rest = &line[level..];
    ((1..=6).contains(&level) && (rest.is_empty() || rest.starts_with([' ', '\t']))).then_some(level)
}

fn chars(text: &str) -> usize {
    text.chars().count()
}

struct Chunker<'a> {
    max_chars: usize,
    /// The headings the current position sits under, outermost first.
    headings: Vec<(usize, &'a str)>,
    /// The heading path as it starts each chunk (empty before the first heading).
    prefix: String,
    /// The paragraphs gathered for the current chunk.
    body: String,
    chunks: Vec<String>,
}

impl<'a> Chunker<'a> {
    fn heading(&mut self, level: usize, text: &'a str) {
        self.flush();
        self.headings.retain(|&(outer, _)| outer < level);
        self.headings.push((level, text));
        let path = self
            .headings
            .iter()
            .map(|(_, text)| *text)
            .collect::<Vec<_>>()
            .join("\n");
        // A heading path may take at most half a chunk, so that text always fits beside it.
        let budget = self.max_chars / 2;
        self.prefix = if chars(&path) <= budget {
            path
        } else {
            truncate_chars(text, budget).to_owned()
        };
    }

    fn paragraph(&mut self, text: &str) {
        let joined = self.current_len() + 2 + chars(text);
        if !self.body.is_empty() && joined <= self.max_chars {
            self.body.push_str("\n\n");
            self.body.push_str(text);
            return;
        }
        self.flush();
        let room = self.room();
        if chars(text) <= room {
            self.body.push_str(text);
            return;
        }
        for piece in split_long(text, room) {
            self.flush();
            self.body.push_str(piece);
        }
    }

    /// The characters left for body text in a chunk under the current headings.
    fn room(&self) -> usize {
        if self.prefix.is_empty() {
            self.max_chars
        } else {
            self.max_chars - chars(&self.prefix) - 2
        }
    }

    fn current_len(&self) -> usize {
        if self.prefix.is_empty() {
            chars(&self.body)
        } else {
            chars(&self.prefix) + 2 + chars(&self.body)
        }
    }

    fn flush(&mut self) {
        if self.body.trim().is_empty() {
            self.body.clear();
            return;
        }
        let chunk = if self.prefix.is_empty() {
            std::mem::take(&mut self.body)
        } else {
            format!("{}\n\n{}", self.prefix, std::mem::take(&mut self.body))
        };
        self.chunks.push(chunk);
    }
}

/// The first `max` characters of `text`.
fn truncate_chars(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((end, _)) => &text[..end],
        None => text,
    }
}

/// Cuts `text` into trimmed pieces of at most `max` characters: at the last sentence end in the second half of
/// the window, else at the last whitespace in it, else at exactly `max` characters.
fn split_long(text: &str, max: usize) -> Vec<&str> {
    let mut pieces = Vec::new();
    let mut rest = text.trim();
    while chars(rest) > max {
        let window = truncate_chars(rest, max);
        let half = window.len() / 2;
        let sentence_end = window
            .char_indices()
            .map(|(at, c)| (at, at + c.len_utf8(), c))
            .rfind(|&(at, end, c)| {
                at >= half && matches!(c, '.' | '!' | '?' | ';') && rest[end..].starts_with(char::is_whitespace)
            })
            .map(|(_, end, _)| end);
        let space = || {
            window
                .char_indices()
                .rfind(|&(at, c)| at > 0 && c.is_whitespace())
                .map(|(at, _)| at)
        };
        let cut = sentence_end.or_else(space).unwrap_or(window.len());
        let piece = rest[..cut].trim();
        if !piece.is_empty() {
            pieces.push(piece);
        }
        rest = rest[cut..].trim_start();
    }
    if !rest.is_empty() {
        pieces.push(rest);
    }
    pieces
}

/// The most sentences of one chunk read apart by the sentence encoder: a bound on the work of a load.
pub(crate) const MAX_SENTENCES: usize = 24;

/// The sentences of a chunk (its text after its heading path), each prefixed with the chunk's innermost heading
/// (`Out of network: If your plan is not on the list, ...`), at most [`MAX_SENTENCES`]; none when
/// the chunk has a single sentence, which the chunk itself already is. A sentence ends at `.`, `!` or `?` followed
/// by white space; a list item (`- `, `* `, `+ `, `1. `) is a sentence of its own.
pub(crate) fn sentences(chunk: &str) -> Vec<String> {
    let mut heading = "";
    let mut sentences: Vec<&str> = Vec::new();
    let mut lines = chunk.lines().map(str::trim).peekable();
    while let Some(level) = lines.peek().and_then(|line| heading_level(line)) {
        heading = lines.next().unwrap_or_default()[level..].trim();
    }
    let mut paragraph = String::new();
    let mut items = Vec::new();
    for line in lines {
        match list_item(line) {
            Some(item) => items.push(item),
            None => {
                paragraph.push_str(line);
                paragraph.push(' ');
            }
        }
    }
    let mut start = 0;
    let mut characters = paragraph.char_indices().peekable();
    while let Some((at, character)) = characters.next() {
        let ends =
            matches!(character, '.' | '!' | '?') && characters.peek().is_none_or(|(_, next)| next.is_whitespace());
        if ends {
            sentences.push(paragraph[start..at + 1].trim());
            start = at + 1;
        }
    }
    sentences.push(paragraph[start..].trim());
    sentences.extend(items);
    sentences.retain(|sentence| !sentence.is_empty());
    if sentences.len() < 2 {
        return Vec::new();
    }
    sentences
        .into_iter()
        .take(MAX_SENTENCES)
        .map(|sentence| match heading {
            "" => sentence.to_owned(),
            heading => format!("{heading}: {sentence}"),
        })
        .collect()
}

/// The text of a Markdown list item line (`- `, `* `, `+ `, `1. `, `1) `), without its marker.
fn list_item(line: &str) -> Option<&str> {
    if let Some(item) = ["- ", "* ", "+ "].iter().find_map(|marker| line.strip_prefix(marker)) {
        return Some(item.trim());
    }
    let digits = line.bytes().take_while(u8::is_ascii_digit).count();
    let rest = &line[digits..];
    (digits > 0)
        .then(|| rest.strip_prefix(". ").or_else(|| rest.strip_prefix(") ")))?
        .map(str::trim)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn paragraphs_are_packed_and_headings_start_chunks() {
        let text = "# Returns\n\nYou may return items within 30 days.\n\nRefunds take 5 days.\n\n\
                    ## Exceptions\n\nSale items are final.\n\n# Shipping\n\nWe ship in 2 days.";
        assert_eq!(
            chunk_text(text, 200),
            vec![
                "# Returns\n\nYou may return items within 30 days.\n\nRefunds take 5 days.",
                "# Returns\n## Exceptions\n\nSale items are final.",
                "# Shipping\n\nWe ship in 2 days.",
            ]
        );
    }

    #[test]
    fn sentences_carry_their_headings_list_items_stand_alone_and_a_lone_sentence_gives_none() {
        let chunk = "# Dental insurance\n## Out of network\nYou can still see us. We bill your insurer, 2.5 times\na year!\nAsk?";
        assert_eq!(
            sentences(chunk),
            [
                "Out of network: You can still see us.",
                "Out of network: We bill your insurer, 2.5 times a year!",
                "Out of network: Ask?"
            ]
        );
        let list =
            "# Opening hours\nWe are open:\n\n- Friday: 9 am to 6 pm\n* Saturday: 10 am to 5 pm\n2. Sunday: closed";
        assert_eq!(
            sentences(list),
            [
                "Opening hours: We are open:",
                "Opening hours: Friday: 9 am to 6 pm",
                "Opening hours: Saturday: 10 am to 5 pm",
                "Opening hours: Sunday: closed"
            ]
        );
        assert!(sentences("# Hours\nWe open at nine.").is_empty());
        assert!(sentences("").is_empty());
        let long = "Word. ".repeat(100);
        assert_eq!(sentences(&long).len(), MAX_SENTENCES);
    }

    #[test]
    fn long_paragraphs_split_at_sentences_within_the_limit() {
        let sentence = "The warranty covers defects in materials and workmanship. ";
        let text = format!("# Warranty\n\n{}", sentence.repeat(10));
        let chunks = chunk_text(&text, 150);
        assert!(chunks.len() >= 4, "{chunks:?}");
        for chunk in &chunks {
            assert!(chars(chunk) <= 150, "{chunk:?}");
            assert!(chunk.starts_with("# Warranty\n\n"), "{chunk:?}");
            assert!(chunk.ends_with("workmanship."), "cut inside a sentence: {chunk:?}");
        }
    }

    #[test]
    fn paragraphs_are_not_split_when_they_fit() {
        let first = "a".repeat(50);
        let second = "b".repeat(50);
        let chunks = chunk_text(&format!("{first}\n\n{second}"), 80);
        assert_eq!(chunks, vec![first, second]);
    }

    #[test]
    fn blank_text_and_bare_headings_give_no_chunks() {
        assert!(chunk_text("", 100).is_empty());
        assert!(chunk_text(" \n\n\t\n", 100).is_empty());
        assert!(chunk_text("# Title\n\n## Sub", 100).is_empty());
    }

    #[test]
    fn fenced_code_is_not_split_at_hash_lines() {
        let text = "# Setup\n\n```sh\n# install\ncargo build\n```";
        assert_eq!(
            chunk_text(text, 200),
            vec!["# Setup\n\n```sh\n# install\ncargo build\n```"]
        );
    }

    #[test]
    fn one_huge_word_is_cut_on_char_boundaries() {
        let word = "é".repeat(300);
        let chunks = chunk_text(&word, 64);
        assert!(chunks.iter().all(|chunk| chars(chunk) <= 64));
        assert_eq!(chunks.concat(), word);
    }

    proptest! {
        #[test]
        fn chunks_fit_and_keep_every_word(
            text in "([#]{0,3} ?[a-zé.!?]{0,12}[ \n]{1,3}){0,80}",
            max in 64usize..300,
        ) {
            let chunks = chunk_text(&text, max);
            let joined = chunks.join(" ");
            for chunk in &chunks {
                prop_assert!(!chunk.trim().is_empty());
                prop_assert!(chars(chunk) <= max, "{} > {max}: {chunk:?}", chars(chunk));
            }
            let body_lines = text.lines().filter(|line| heading_level(line.trim()).is_none());
            for word in body_lines.flat_map(str::split_whitespace) {
                prop_assert!(joined.contains(word), "lost {word:?}");
            }
        }
    }
}
