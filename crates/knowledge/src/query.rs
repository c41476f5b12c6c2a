//! Turning a `knowledge-base-request` (and the call it belongs to) into one search query.
//!
//! What the caller just said is the query. A caller's latest words are often thin, though ("yes", "how long is
//! it?"), and mean something only with what came before; then the query is widened with the assistant's last
//! question and the caller's earlier turns, newest first, until it has enough content words or reaches the length
//! cap. The request itself usually carries the conversation so far; the accumulated [`CallState`] adds what the
//! request left out. This module does no searching and no I/O.

use std::collections::HashSet;

use call_state::{CallState, Role, Turn};
use vapi_types::{KnowledgeBaseRequest, conversation};

use crate::index::terms;

/// Fewer distinct content words than this make the latest user turns thin.
pub const THIN_QUERY_WORDS: usize = 3;
/// A widened query stops taking context once it has this many distinct content words.
const ENOUGH_QUERY_WORDS: usize = 8;

/// The search query for `request`, at most `max_chars` characters.
///
/// It starts with the request's latest user turns (those after the assistant last spoke), newest first. When they
/// hold fewer than [`THIN_QUERY_WORDS`] content words (words left after removing stop words such as "is", "it",
/// "yes", "what"), it adds, newest first: the assistant's last question, then the caller's earlier turns from the
/// request and from `context`, skipping repeats, until the query has about eight content words or would pass
/// `max_chars`. Without a user turn in the request, the last user turn of `context` stands in. The result may be
/// empty (nothing was said yet); searching an empty query finds nothing.
pub fn build_query(request: &KnowledgeBaseRequest, context: Option<&CallState>, max_chars: usize) -> String {
    let owned = request_turns(request);
    let turns: Vec<(Role, &str)> = owned.iter().map(|(role, text)| (*role, text.as_str())).collect();
    let context_turns: Vec<(Role, &str)> = context
        .map(|state| {
            state
                .conversation()
                .iter()
                .map(|turn| (turn.role, turn.text.as_str()))
                .collect()
        })
        .unwrap_or_default();

    // The latest user turns: the request's trailing user turns, newest first.
    let mut latest: Vec<&str> = Vec::new();
    let mut earlier = turns.len();
    for (index, (role, text)) in turns.iter().enumerate().rev() {
        match role {
            Role::User => {
                latest.push(text);
                earlier = index;
            }
            Role::Assistant => break,
            Role::System | Role::Tool => {}
        }
    }
    if latest.is_empty()
        && let Some((_, text)) = context_turns.iter().rev().find(|(role, _)| *role == Role::User)
    {
        latest.push(text);
    }

    let mut query = Query::new(max_chars);
    for text in latest {
        query.push(text);
    }
    if query.content_words() >= THIN_QUERY_WORDS {
        return query.finish();
    }

    // Thin: widen with what came before, newest first.
    let assistant_question = turns[..earlier]
        .iter()
        .rev()
        .chain(context_turns.iter().rev())
        .find(|(role, _)| *role == Role::Assistant)
        .and_then(|(_, text)| last_question(text));
    if let Some(question) = assistant_question {
        query.push(question);
    }
    let earlier_user_turns = turns[..earlier].iter().rev().chain(context_turns.iter().rev());
    for (_, text) in earlier_user_turns.filter(|(role, _)| *role == Role::User) {
        if query.content_words() >= ENOUGH_QUERY_WORDS || !query.push(text) {
            break;
        }
    }
    query.finish()
}

/// The request's turns with text, in order, as `vapi_types::conversation` reads them (Vapi's form first).
fn request_turns(request: &KnowledgeBaseRequest) -> Vec<(Role, String)> {
    let turns = conversation::read_lists(&request.messages, &request.messages_openai_formatted).unwrap_or_default();
    turns
        .iter()
        .filter_map(Turn::from_conversation)
        .map(|turn| (turn.role, turn.text))
        .collect()
}

/// The last sentence of `text` that ends with `?`, if any.
fn last_question(text: &str) -> Option<&str> {
    let end = text.rfind('?')? + 1;
    let start = text[..end - 1].rfind(['.', '!', '?', '\n']).map_or(0, |at| at + 1);
    Some(text[start..end].trim())
}

/// A query being assembled: texts joined by newlines, each kept once, within a character budget.
struct Query {
    max_chars: usize,
    text: String,
    chars: usize,
    seen: HashSet<String>,
}

impl Query {
    fn new(max_chars: usize) -> Query {
        Query {
            max_chars,
            text: String::new(),
            chars: 0,
            seen: HashSet::new(),
        }
    }

    /// Appends `text` unless it is a repeat; a text that does not fit whole is cut at a word boundary. `false`
    /// once the budget is spent.
    fn push(&mut self, text: &str) -> bool {
        let key = text.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase();
        if key.is_empty() || !self.seen.insert(key) {
            return self.chars < self.max_chars;
        }
        let separator = usize::from(!self.text.is_empty());
        let room = self.max_chars.saturating_sub(self.chars + separator);
        if room == 0 {
            return false;
        }
        let piece = cut_at_word(text, room);
        if piece.is_empty() {
            return false;
        }
        if separator == 1 {
            self.text.push('\n');
        }
        self.text.push_str(piece);
        self.chars += separator + piece.chars().count();
        self.chars < self.max_chars
    }

    fn content_words(&self) -> usize {
        terms(&self.text, ENOUGH_QUERY_WORDS).len()
    }

    fn finish(self) -> String {
        self.text
    }
}

/// The longest prefix of `text` of at most `max` characters, ending at a word boundary where one exists.
fn cut_at_word(text: &str, max: usize) -> &str {
    let Some((end, _)) = text.char_indices().nth(max) else {
        return text;
    };
    let window = &text[..end];
    if text[end..].starts_with(char::is_whitespace) {
        return window.trim_end();
    }
    match window.rfind(char::is_whitespace) {
        Some(space) if space > 0 => window[..space].trim_end(),
        _ => window,
    }
}

#[cfg(test)]
mod tests {
    use call_state::{CallEvent, EventKind, Limits};
    use vapi_types::OpenAiMessage;

    use super::*;

    fn request(messages: &[(&str, &str)]) -> KnowledgeBaseRequest {
        KnowledgeBaseRequest {
            messages_openai_formatted: messages
                .iter()
                .map(|(role, content)| OpenAiMessage {
                    role: (*role).into(),
                    content: Some((*content).into()),
                    ..Default::default()
                })
                .collect(),
            messages: Vec::new(),
        }
    }

    fn state(turns: &[(Role, &str)]) -> CallState {
        let mut state = CallState::new("call-1");
        for (at, (role, text)) in turns.iter().enumerate() {
            let kind = EventKind::Transcript {
                role: *role,
                is_final: true,
                text: (*text).into(),
            };
            state.apply(
                &CallEvent::new("call-1", Some(1_000 + at as i64 * 1_000), kind),
                &Limits::default(),
            );
        }
        state
    }

    #[test]
    fn a_rich_latest_turn_is_the_whole_query() {
        let request = request(&[
            ("system", "You are a helpful assistant for Acme."),
            ("user", "I bought a kettle."),
            ("assistant", "How can I help?"),
            ("user", "What is your return policy for opened items?"),
        ]);
        assert_eq!(
            build_query(&request, None, 600),
            "What is your return policy for opened items?"
        );
    }

    #[test]
    fn consecutive_user_turns_are_taken_newest_first() {
        let request = request(&[
            ("assistant", "Hi!"),
            ("user", "I need to reset"),
            ("user", "my account password"),
        ]);
        assert_eq!(build_query(&request, None, 600), "my account password\nI need to reset");
    }

    #[test]
    fn a_thin_turn_takes_the_assistant_question_and_earlier_turns() {
        let request = request(&[
            ("user", "My blender stopped working."),
            ("assistant", "I'm sorry. Is it still under warranty?"),
            ("user", "yes"),
        ]);
        assert_eq!(
            build_query(&request, None, 600),
            "yes\nIs it still under warranty?\nMy blender stopped working."
        );
    }

    #[test]
    fn a_thin_turn_takes_the_call_context_when_the_request_lacks_it() {
        let state = state(&[(Role::User, "I have a question about the warranty on my blender")]);
        let request = request(&[("user", "how long is it?")]);
        assert_eq!(
            build_query(&request, Some(&state), 600),
            "how long is it?\nI have a question about the warranty on my blender"
        );
    }

    #[test]
    fn turns_repeated_in_request_and_context_appear_once() {
        let state = state(&[(Role::User, "Shipping to Canada"), (Role::User, "and what about that?")]);
        let request = request(&[
            ("user", "Shipping to Canada"),
            ("assistant", "Sure."),
            ("user", "and what about that?"),
        ]);
        assert_eq!(
            build_query(&request, Some(&state), 600),
            "and what about that?\nShipping to Canada"
        );
    }

    #[test]
    fn the_query_stays_within_max_chars() {
        let long = "warranty ".repeat(100);
        let query = build_query(&request(&[("user", &long)]), None, 50);
        assert!(query.chars().count() <= 50, "{query:?}");
        assert!(query.ends_with("warranty"), "{query:?}");
        let state = state(&[(Role::User, &long)]);
        let query = build_query(&request(&[("user", "ok?")]), Some(&state), 40);
        assert!(query.chars().count() <= 40, "{query:?}");
        assert!(query.starts_with("ok?\nwarranty"), "{query:?}");
    }

    #[test]
    fn nothing_said_gives_an_empty_query() {
        assert_eq!(build_query(&request(&[("system", "Be nice.")]), None, 600), "");
        assert_eq!(
            build_query(&KnowledgeBaseRequest::default(), Some(&CallState::new("c")), 600),
            ""
        );
    }

    #[test]
    fn vapi_form_is_used_when_the_openai_form_is_missing() {
        let request = KnowledgeBaseRequest {
            messages_openai_formatted: Vec::new(),
            messages: vec![vapi_types::ConversationMessage {
                role: "user".into(),
                message: Some("opening hours on Sunday".into()),
                ..Default::default()
            }],
        };
        assert_eq!(build_query(&request, None, 600), "opening hours on Sunday");
    }

    #[test]
    fn last_question_picks_the_final_question_sentence() {
        assert_eq!(
            last_question("Sorry. Is it still under warranty? Thanks."),
            Some("Is it still under warranty?")
        );
        assert_eq!(last_question("No question here."), None);
    }
}
