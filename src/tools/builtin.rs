//! Built-in context tools, for assistants whose authors write no code: recall what was said about a topic,
//! remember and read notes in call or conversation memory, summarize the conversation so far, and the
//! caller's details.
//!
//! Each reads only the call's context; none calls out. Names are stable, so an assistant's tool definitions
//! can refer to them: `recall`, `remember`, `read_note`, `summarize_call`, `caller_details`. Each is
//! registered with its definition (description and the JSON Schema of its arguments, derived from the argument
//! type below), which `switchboard vapi-assistant` prints for Vapi. Answers are short JSON objects holding
//! only what the call knows: a field the call has no value for is left out, never guessed.

use call_state::{Role, Turn};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::{ToolContext, ToolRegistry};

/// Most turns `recall` returns.
const RECALL_LIMIT: usize = 3;
/// Most characters of one turn `recall` quotes.
const RECALL_CHARS: usize = 300;
/// Most characters of a topic `recall` reads (and echoes): a topic is a few words, and every turn is compared
/// with each of its words.
const TOPIC_CHARS: usize = 120;
/// Most turns `summarize_call` quotes.
const SUMMARY_TURNS: usize = 12;
/// Most characters `summarize_call` returns.
const SUMMARY_CHARS: usize = 2_000;

/// Where a note lives.
#[derive(Debug, Clone, Copy, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
enum Scope {
    // This call only.
    #[default]
    Call,
    // Every call of the conversation (`/api/webhook/{conversation_id}`); the call when there is none.
    Conversation,
}

#[derive(Deserialize, JsonSchema)]
struct RecallArgs {
    /// A word or a few words about what was said, e.g. "appointment" or "order number".
    topic: String,
}

#[derive(Deserialize, JsonSchema)]
struct RememberArgs {
    /// A short name for the note, e.g. "preferred_day".
    key: String,
    /// What to note.
    #[schemars(with = "String")]
    value: Value,
    /// `call` (default): this call only; `conversation`: every call of the conversation.
    #[serde(default)]
    scope: Scope,
}

#[derive(Deserialize, JsonSchema)]
struct ReadArgs {
    /// The note's name, as given to `remember`.
    key: String,
    /// `call` or `conversation`; left out, the call's note, else the conversation's.
    #[serde(default)]
    scope: Option<Scope>,
}

#[derive(Deserialize, JsonSchema)]
struct NoArgs {}

/// Adds the built-in tools to `registry`.
pub fn register(registry: &mut ToolRegistry) {
    registry.define(
        "recall",
        "Find what was said earlier in this call about a topic: the caller's own words first, then the \
         assistant's, each with who said it and when. Use it before asking the caller to repeat something.",
        |args: RecallArgs, context: ToolContext| async move { Ok::<_, String>(recall(&context, &args.topic)) },
    );
    registry.define(
        "remember",
        "Note a fact for later in this call (or, with scope \"conversation\", for the caller's later calls).",
        |args: RememberArgs, context: ToolContext| async move {
            if args.key.trim().is_empty() {
                return Err("`key` must not be empty".to_string());
            }
            let scope = match args.scope {
                Scope::Call => {
                    context.remember(args.key.clone(), args.value);
                    "call"
                }
                Scope::Conversation => {
                    context.remember_in_conversation(args.key.clone(), args.value);
                    if context.conversation_id().is_some() {
                        "conversation"
                    } else {
                        "call"
                    }
                }
            };
            Ok(json!({ "noted": args.key, "scope": scope }))
        },
    );
    registry.define(
        "read_note",
        "Read a note saved with `remember`.",
        |args: ReadArgs, context: ToolContext| async move {
            Ok::<_, String>(read_note(&context, &args.key, args.scope))
        },
    );
    registry.define(
        "summarize_call",
        "The call so far: how many turns and tool calls, the language, and the latest turns.",
        |_: NoArgs, context: ToolContext| async move { Ok::<_, String>(summarize(&context)) },
    );
    registry.define(
        "caller_details",
        "Who is calling: their number and name when known, the number they called, and when the call started.",
        |_: NoArgs, context: ToolContext| async move { Ok::<_, String>(caller_details(&context)) },
    );
    // They read the call and write its memory, nothing outside: a second run while the store cannot record
    // a claim does no harm.
    for name in ["recall", "remember", "read_note", "summarize_call", "caller_details"] {
        registry.set_contained(name, true);
    }
}

/// The turns about `topic`: the caller's first, best match then latest, then the assistant's; at most three,
/// each quoted with its speaker and time. Words match by English stem and near form, so "appointments",
/// "appointment" and a one-letter slip of it find each other, as do "moving" and "move".
pub fn recall(context: &ToolContext, topic: &str) -> Value {
    let topic = match topic.char_indices().nth(TOPIC_CHARS) {
        Some((cut, _)) => &topic[..cut],
        None => topic,
    };
    let call = context.call();
    let started = call.started_at_ms();
    let said: Vec<Value> = rank(call.conversation(), topic, RECALL_LIMIT)
        .into_iter()
        .map(|turn| quote(turn, started))
        .collect();
    json!({ "topic": topic, "found": !said.is_empty(), "said": said })
}

/// The speaker turns matching `topic`, caller first, at most `limit`.
fn rank<'a>(turns: &'a [Turn], topic: &str, limit: usize) -> Vec<&'a Turn> {
    let wanted = topic_stems(topic);
    if wanted.is_empty() {
        return Vec::new();
    }
    // (caller, score, position): sorted descending, so the caller's turns come first, then the better match,
    // then the later turn.
    let mut scored: Vec<(bool, u32, usize)> = turns
        .iter()
        .enumerate()
        .filter(|(_, turn)| turn.role.is_speaker())
        .filter_map(|(index, turn)| {
            let score = score(&wanted, &turn.text);
            (score > 0).then_some((turn.role == Role::User, score, index))
        })
        .collect();
    scored.sort_unstable_by(|a, b| b.cmp(a));
    scored
        .into_iter()
        .take(limit)
        .map(|(_, _, index)| &turns[index])
        .collect()
}

/// Two points per topic word the text holds in the same stem, one per word it holds in a near form.
///
/// Every word of every turn is stemmed on each `recall` (the call's text is bounded by
/// `calls.limits.max_total_text_bytes`), so this reuses one buffer and compares without allocating.
fn score(wanted: &[String], text: &str) -> u32 {
    let stemmer = frostem::Stemmer::new(frostem::Algorithm::English);
    let mut best = vec![0u32; wanted.len()];
    let mut lower = String::new();
    for word in text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
    {
        lower.clear();
        lower.extend(word.chars().flat_map(char::to_lowercase));
        let stem = stemmer.stem(&lower);
        for (points, want) in best.iter_mut().zip(wanted) {
            let found = if *stem == **want {
                2
            } else if near(&stem, want) {
                1
            } else {
                0
            };
            *points = (*points).max(found);
        }
    }
    best.iter().sum()
}

/// Words no topic is about.
const STOP_WORDS: &[&str] = &[
    "a", "an", "and", "are", "about", "at", "be", "by", "did", "do", "for", "from", "he", "her", "his", "i", "in",
    "is", "it", "me", "my", "of", "on", "or", "our", "she", "so", "that", "the", "their", "they", "this", "to", "was",
    "we", "what", "when", "where", "which", "who", "with", "you", "your",
];

/// The distinct stems of a topic, without stop words.
fn topic_stems(topic: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for word in topic
        .split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
    {
        let lower = word.to_lowercase();
        if STOP_WORDS.contains(&lower.as_str()) {
            continue;
        }
        let stem = stem(&lower);
        if !out.contains(&stem) {
            out.push(stem);
        }
    }
    out
}

/// A lowercase word's English Snowball stem (the stemmer routing keywords use).
fn stem(word: &str) -> String {
    frostem::Stemmer::new(frostem::Algorithm::English)
        .stem(word)
        .into_owned()
}

/// Near forms of one word: a stem extending the other by at most two letters ("appoint" / "appointe"), or,
/// from five letters up, one letter added, dropped or changed (a transcription slip: "apointment").
fn near(a: &str, b: &str) -> bool {
    if a.is_ascii() && b.is_ascii() {
        return near_in(a.as_bytes(), b.as_bytes());
    }
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    near_in(&a, &b)
}

fn near_in<T: PartialEq>(a: &[T], b: &[T]) -> bool {
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    if short.len() >= 4 && long.len() - short.len() <= 2 && long.starts_with(short) {
        return true;
    }
    short.len() >= 5 && long.len() - short.len() <= 1 && edits_at_most_one(short, long)
}

/// Whether `long` is `short` with at most one letter changed, or one letter added (`long` being one longer).
fn edits_at_most_one<T: PartialEq>(short: &[T], long: &[T]) -> bool {
    let prefix = short.iter().zip(long).take_while(|(x, y)| x == y).count();
    if short.len() == long.len() {
        short[prefix..].iter().skip(1).eq(long[prefix..].iter().skip(1))
    } else {
        short[prefix..] == long[prefix + 1..]
    }
}

/// One turn as `recall` quotes it: speaker, time (UTC, and seconds into the call when its start is known),
/// words (cut at [`RECALL_CHARS`]).
fn quote(turn: &Turn, started_at_ms: Option<i64>) -> Value {
    let mut quoted = Map::new();
    let speaker = if turn.role == Role::User { "caller" } else { "assistant" };
    quoted.insert("speaker".into(), json!(speaker));
    if let Some(at) = turn.at_ms {
        quoted.insert("at".into(), json!(utc(at)));
        if let Some(started) = started_at_ms.filter(|started| *started <= at) {
            quoted.insert("secondsIntoCall".into(), json!((at - started) / 1000));
        }
    }
    let text = match turn.text.char_indices().nth(RECALL_CHARS) {
        Some((cut, _)) => format!("{}...", &turn.text[..cut]),
        None => turn.text.clone(),
    };
    quoted.insert("text".into(), json!(text));
    Value::Object(quoted)
}

/// Epoch milliseconds as `YYYY-MM-DDTHH:MM:SSZ`.
fn utc(epoch_ms: i64) -> String {
    let seconds = epoch_ms.div_euclid(1000);
    let (days, of_day) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
    // Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        of_day / 3600,
        of_day % 3600 / 60,
        of_day % 60
    )
}

fn read_note(context: &ToolContext, key: &str, scope: Option<Scope>) -> Value {
    let call = context.call().memory().get(key);
    let conversation = context.conversation_memory().get(key);
    let value = match scope {
        Some(Scope::Call) => call,
        Some(Scope::Conversation) => conversation,
        // Without a scope, the call's own note wins over the conversation's.
        None => call.or(conversation),
    };
    match value {
        Some(value) => json!({ "key": key, "found": true, "value": value }),
        None => json!({ "key": key, "found": false }),
    }
}

/// A bounded, extractive digest of the conversation: counts, language, and the latest turns, oldest first.
pub fn summarize(context: &ToolContext) -> Value {
    let call = context.call();
    let turns: Vec<String> = call
        .conversation()
        .iter()
        .filter(|turn| turn.role.is_speaker())
        .rev()
        .take(SUMMARY_TURNS)
        .map(|turn| {
            format!(
                "{}: {}",
                if turn.role == Role::User { "Caller" } else { "Assistant" },
                turn.text
            )
        })
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    let mut transcript = turns.join("\n");
    if transcript.len() > SUMMARY_CHARS {
        let mut cut = transcript.len() - SUMMARY_CHARS;
        while !transcript.is_char_boundary(cut) {
            cut += 1;
        }
        transcript = format!("...{}", &transcript[cut..]);
    }
    let spoken = call.conversation().iter().filter(|turn| turn.role.is_speaker()).count();
    let mut summary = Map::new();
    summary.insert("turns".into(), json!(spoken));
    summary.insert("callerTurns".into(), json!(call.user_turns().count()));
    summary.insert("toolCalls".into(), json!(call.tool_records().len()));
    if let Some(language) = call.language() {
        summary.insert("language".into(), json!(language));
    }
    summary.insert("recent".into(), json!(transcript));
    Value::Object(summary)
}

/// Who is calling, on which number, since when: only what the call knows.
pub fn caller_details(context: &ToolContext) -> Value {
    let call = context.call();
    let mut details = Map::new();
    details.insert("callId".into(), json!(call.call_id()));
    let known = [
        ("customerNumber", call.customer_number().map(str::to_string)),
        ("customerName", call.customer_name().map(str::to_string)),
        ("phoneNumber", call.phone_number().map(str::to_string)),
        ("startedAt", call.started_at_ms().map(utc)),
        ("status", call.status().map(str::to_string)),
        ("language", call.language().map(str::to_string)),
    ];
    for (key, value) in known {
        if let Some(value) = value {
            details.insert(key.into(), json!(value));
        }
    }
    Value::Object(details)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn turn(role: Role, text: &str, at_ms: i64) -> Turn {
        Turn {
            role,
            text: text.into(),
            at_ms: Some(at_ms),
        }
    }

    #[test]
    fn the_callers_words_rank_first_however_often_the_assistant_repeats_the_topic() {
        let mut turns = vec![turn(Role::User, "I want to move my appointment.", 1_000)];
        for i in 0..13 {
            turns.push(turn(Role::Assistant, "Your appointment is on Tuesday.", 2_000 + i));
        }
        for topic in ["appointment", "appointments", "Appointment?", "apointment"] {
            let found = rank(&turns, topic, 3);
            assert_eq!(found.len(), 3, "{topic}");
            assert_eq!(found[0].text, "I want to move my appointment.", "{topic}");
            assert_eq!(
                found[1].at_ms,
                Some(2_012),
                "{topic}: the latest of the assistant's next"
            );
        }
        let moving = rank(&turns, "moving", 3);
        assert_eq!(moving.len(), 1, "only the caller spoke of moving");
        assert_eq!(moving[0].text, "I want to move my appointment.");
        assert!(rank(&turns, "refund", 3).is_empty());
        assert!(rank(&turns, "the my", 3).is_empty(), "stop words alone match nothing");
    }

    #[test]
    fn better_matches_of_the_caller_come_before_later_ones() {
        let turns = [
            turn(Role::User, "My order number is 48213.", 1),
            turn(Role::User, "The order never came.", 2),
            turn(Role::Assistant, "Your order number is 48213.", 3),
        ];
        let found: Vec<i64> = rank(&turns, "order number", 3).iter().filter_map(|t| t.at_ms).collect();
        assert_eq!(found, [1, 2, 3]);
    }

    #[test]
    fn near_forms_are_close_but_not_loose() {
        assert!(near("appoint", "apoint"));
        assert!(near("appoint", "appointe"));
        assert!(near("cancel", "cancal"));
        assert!(near("teléfono", "telefono"), "letters, not bytes");
        assert!(!near("bill", "ball"), "four letters must match exactly");
        assert!(!near("order", "border1"));
        assert!(!near("move", "movie1"));
        assert!(edits_at_most_one(&['a', 'b', 'c'], &['a', 'x', 'b', 'c']));
        assert!(!edits_at_most_one(&['a', 'b', 'c'], &['x', 'y', 'c']));
    }

    #[test]
    fn times_are_utc() {
        assert_eq!(utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc(1_787_328_004_931), "2026-08-21T16:00:04Z");
        assert_eq!(utc(951_782_400_000), "2000-02-29T00:00:00Z");
        assert_eq!(utc(-1_000), "1969-12-31T23:59:59Z");
    }

    #[test]
    fn a_quote_is_cut_and_timed() {
        let long = "word ".repeat(100);
        let quoted = quote(&turn(Role::User, &long, 61_500), Some(1_000));
        assert_eq!(quoted["speaker"], "caller");
        assert_eq!(quoted["secondsIntoCall"], 60);
        assert_eq!(quoted["text"].as_str().unwrap().chars().count(), RECALL_CHARS + 3);
        let untimed = quote(
            &Turn {
                role: Role::Assistant,
                text: "hi".into(),
                at_ms: None,
            },
            None,
        );
        assert_eq!(untimed, json!({"speaker": "assistant", "text": "hi"}));
    }

    #[test]
    fn every_builtin_tool_has_a_described_object_schema() {
        let mut registry = ToolRegistry::new();
        register(&mut registry);
        let definitions = registry.definitions();
        let names: Vec<&str> = definitions.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(
            names,
            ["caller_details", "read_note", "recall", "remember", "summarize_call"]
        );
        for definition in &definitions {
            super::super::schema::check_parameters(&definition.parameters).unwrap();
            assert!(!definition.description.starts_with("The `"), "{definition:?}");
        }
        let recall = &definitions[2].parameters;
        assert_eq!(recall["required"], json!(["topic"]));
        assert_eq!(recall["properties"]["topic"]["type"], "string");
        let remember = &definitions[3].parameters;
        assert_eq!(remember["properties"]["scope"]["enum"], json!(["call", "conversation"]));
        assert_eq!(remember["required"], json!(["key", "value"]));
        let read_note = &definitions[1].parameters;
        assert_eq!(
            read_note["properties"]["scope"]["enum"],
            json!(["call", "conversation"])
        );
        assert_eq!(read_note["required"], json!(["key"]));
    }
}
