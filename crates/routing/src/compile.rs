//! [`RoutingConfig::compile`]: every check of the configuration, and its translation into [`Routes`].
//!
//! Problems are collected rather than stopping at the first, so one start-up shows all of them.

use std::path::Path;

use serde_json::{Map, Value};
use vapi_types::response::{
    AssistantDestination, AssistantRequestResponse, Destination, HandoffAssistant, HandoffDestination,
    HandoffDestinationResponse, HandoffSquad, NumberDestination, SipDestination, TransferDestinationResponse,
};

use crate::config::{
    AssistantAnswer, AssistantMatch, ContextMatch, DestinationConfig, DestinationKind, HandoffDestinationConfig,
    HandoffKind, RoutingConfig, WindowConfig,
};
use crate::error::RoutingError;
use crate::routes::{Routes, Rule};
use crate::rules::{Accept, Conditions, Pattern, words};
use crate::window::{self, Window};

/// Spoken when no assistant rule matches and no fallback is configured.
pub const DEFAULT_ASSISTANT_ERROR: &str = "Sorry, this line cannot take your call right now. Please try again later.";
/// Answered when no transfer rule matches.
pub const DEFAULT_TRANSFER_ERROR: &str = "No transfer destination is configured for this call.";
/// Answered when no handoff rule matches.
pub const DEFAULT_HANDOFF_ERROR: &str = "No handoff destination is configured for this request.";
/// How many recent caller turns keyword conditions look at, unless `recent_turns` says otherwise.
pub const DEFAULT_RECENT_TURNS: usize = 3;

/// Collects problems, each named by where it is.
struct Problems(Vec<RoutingError>);

impl Problems {
    fn add(&mut self, at: &str, problem: impl Into<String>) {
        self.0.push(RoutingError::invalid(at, problem));
    }
}

impl RoutingConfig {
    /// Checks the whole configuration and compiles it into [`Routes`].
    ///
    /// Relative `assistant_file` paths are read against `base_dir` (the config file's folder); reading them is
    /// the only I/O. Every problem found is reported: one as itself, several as [`RoutingError::Several`].
    pub fn compile(&self, base_dir: &Path) -> Result<Routes, RoutingError> {
        let mut problems = Problems(Vec::new());
        let default_offset = match &self.utc_offset {
            None => 0,
            Some(text) => offset(text, "routing", &mut problems),
        };
        let recent_turns = match self.recent_turns {
            Some(0) => {
                problems.add(
                    "routing",
                    "recent_turns is 0 (keywords would never match; expected 1 or more)",
                );
                DEFAULT_RECENT_TURNS
            }
            Some(turns) => turns,
            None => DEFAULT_RECENT_TURNS,
        };

        let mut assistant = Vec::with_capacity(self.assistant.len());
        for (index, rule) in self.assistant.iter().enumerate() {
            let at = format!("routing.assistant[{index}]");
            let when = assistant_conditions(&rule.when, default_offset, &at, &mut problems);
            if let Some(answer) = assistant_answer(&rule.answer(), base_dir, &at, &mut problems) {
                assistant.push(Rule { when, answer });
            }
        }
        let assistant_default = match &self.assistant_fallback {
            Some(answer) => assistant_answer(answer, base_dir, "routing.assistant_fallback", &mut problems),
            None => match spoken(
                "routing",
                "assistant_error",
                self.assistant_error.as_deref(),
                &mut problems,
            ) {
                Some(None) => None,
                Some(Some(error)) => Some(error),
                None => Some(DEFAULT_ASSISTANT_ERROR),
            }
            .map(|error| AssistantRequestResponse {
                error: Some(error.to_owned()),
                ..Default::default()
            }),
        };
        if self.assistant_fallback.is_some() && self.assistant_error.is_some() {
            problems.add(
                "routing",
                "both assistant_fallback and assistant_error are set (assistant_error is only used without a fallback)",
            );
        }

        let mut transfer = Vec::with_capacity(self.transfer.len());
        for (index, rule) in self.transfer.iter().enumerate() {
            let at = format!("routing.transfer[{index}]");
            let when = context_conditions(&rule.when, false, &at, &mut problems);
            let destination = rule.destination.as_ref().map(|destination| {
                transfer_destination(destination, &at, true, &mut problems).map(|destination| {
                    TransferDestinationResponse {
                        destination: Some(destination),
                        ..Default::default()
                    }
                })
            });
            let error = spoken(&at, "error", rule.error.as_deref(), &mut problems).map(|error| {
                error.map(|error| TransferDestinationResponse {
                    error: Some(error.to_owned()),
                    ..Default::default()
                })
            });
            let answer = one_answer(&at, destination, error, &mut problems);
            if let Some(answer) = answer {
                transfer.push(Rule { when, answer });
            }
        }
        let transfer_default = TransferDestinationResponse {
            error: Some(
                spoken(
                    "routing",
                    "transfer_error",
                    self.transfer_error.as_deref(),
                    &mut problems,
                )
                .flatten()
                .unwrap_or(DEFAULT_TRANSFER_ERROR)
                .to_owned(),
            ),
            ..Default::default()
        };

        let mut handoff = Vec::with_capacity(self.handoff.len());
        for (index, rule) in self.handoff.iter().enumerate() {
            let at = format!("routing.handoff[{index}]");
            let when = context_conditions(&rule.when, true, &at, &mut problems);
            let destination = rule.destination.as_ref().map(|destination| {
                handoff_destination(destination, &at, &mut problems).map(|destination| HandoffDestinationResponse {
                    destination: Some(destination),
                    ..Default::default()
                })
            });
            let error = spoken(&at, "error", rule.error.as_deref(), &mut problems).map(|error| {
                error.map(|error| HandoffDestinationResponse {
                    error: Some(error.to_owned()),
                    ..Default::default()
                })
            });
            let answer = one_answer(&at, destination, error, &mut problems);
            if let Some(answer) = answer {
                handoff.push(Rule { when, answer });
            }
        }
        let handoff_default = HandoffDestinationResponse {
            error: Some(
                spoken("routing", "handoff_error", self.handoff_error.as_deref(), &mut problems)
                    .flatten()
                    .unwrap_or(DEFAULT_HANDOFF_ERROR)
                    .to_owned(),
            ),
            ..Default::default()
        };

        let mut problems = problems.0;
        match (problems.len(), assistant_default) {
            (0, Some(assistant_default)) => Ok(Routes {
                assistant,
                assistant_default,
                transfer,
                transfer_default,
                handoff,
                handoff_default,
                recent_turns,
            }),
            (1, _) => Err(problems.remove(0)),
            _ => Err(RoutingError::Several(problems)),
        }
    }
}

/// Checks a text Vapi speaks or shows: `None` if unset, `Some(None)` if set but invalid.
/// A transfer or handoff rule's one answer: its destination or its spoken error, exactly one of them. Each side
/// is `None` when not set, `Some(None)` when set but invalid (the problem is already recorded).
fn one_answer<R>(
    at: &str,
    destination: Option<Option<R>>,
    error: Option<Option<R>>,
    problems: &mut Problems,
) -> Option<R> {
    match (destination, error) {
        (Some(destination), None) => destination,
        (None, Some(error)) => error,
        (None, None) => {
            problems.add(at, "has no answer (set one of destination, error)");
            None
        }
        (Some(_), Some(_)) => {
            problems.add(at, "has 2 answers (destination, error); set exactly one");
            None
        }
    }
}

fn spoken<'a>(at: &str, field: &str, text: Option<&'a str>, problems: &mut Problems) -> Option<Option<&'a str>> {
    match text {
        Some(text) if text.trim().is_empty() => {
            problems.add(
                at,
                format!("{field} is empty (Vapi would say \"Unknown Error. Contact Support.\"; expected a sentence)"),
            );
            Some(None)
        }
        Some(text) => Some(Some(text)),
        None => None,
    }
}

fn offset(text: &str, at: &str, problems: &mut Problems) -> i32 {
    window::parse_offset(text).unwrap_or_else(|| {
        problems.add(
            at,
            format!("utc_offset {text:?} is not an offset (expected ±HH:MM within ±14:00, e.g. \"-05:00\")"),
        );
        0
    })
}

/// Checks that an optional list is not empty (an empty list would never match).
fn non_empty<'a, T>(list: &'a Option<Vec<T>>, field: &str, at: &str, problems: &mut Problems) -> Option<&'a [T]> {
    match list {
        Some(list) if list.is_empty() => {
            problems.add(
                at,
                format!("match.{field} is empty (it would never match; leave it out to match any)"),
            );
            None
        }
        Some(list) => Some(list),
        None => None,
    }
}

fn callers(list: &Option<Vec<String>>, at: &str, problems: &mut Problems) -> Option<Vec<Pattern>> {
    let list = non_empty(list, "caller", at, problems)?;
    let mut patterns = Vec::with_capacity(list.len());
    for (index, entry) in list.iter().enumerate() {
        let entry = entry.trim();
        let (body, prefix) = match entry.strip_suffix('*') {
            Some(body) => (body, true),
            None => (entry, false),
        };
        if entry.is_empty() {
            problems.add(at, format!("match.caller[{index}] is empty"));
        } else if body.contains('*') {
            problems.add(
                at,
                format!("match.caller[{index}] {entry:?} has a `*` before its end (expected a number or a prefix ending in `*`)"),
            );
        } else if prefix {
            patterns.push(Pattern::Prefix(body.to_owned()));
        } else {
            patterns.push(Pattern::Exact(body.to_owned()));
        }
    }
    Some(patterns)
}

fn phone_numbers(list: &Option<Vec<String>>, at: &str, problems: &mut Problems) -> Option<Vec<String>> {
    let list = non_empty(list, "phone_number", at, problems)?;
    for (index, entry) in list.iter().enumerate() {
        if entry.trim().is_empty() {
            problems.add(
                at,
                format!("match.phone_number[{index}] is empty (expected a phone number id or number)"),
            );
        }
    }
    Some(list.iter().map(|entry| entry.trim().to_owned()).collect())
}

fn windows(list: &[WindowConfig], at: &str, problems: &mut Problems) -> Vec<Window> {
    let mut windows = Vec::with_capacity(list.len());
    for (index, config) in list.iter().enumerate() {
        let field = format!("match.windows[{index}]");
        let mut ok = true;
        let days = match &config.days {
            None => None,
            Some(days) if days.is_empty() => {
                problems.add(at, format!("{field}.days is empty (leave it out for every day)"));
                ok = false;
                None
            }
            Some(days) => Some(days.iter().fold(0, |bits, day| match window::parse_day(day) {
                Some(bit) => bits | bit,
                None => {
                    problems.add(
                        at,
                        format!("{field}.days: {day:?} is not a day (expected mon, tue, wed, thu, fri, sat or sun)"),
                    );
                    ok = false;
                    bits
                }
            })),
        };
        let mut time = |name: &str, text: &str, allow_end: bool| {
            let parsed = window::parse_time(text, allow_end);
            if parsed.is_none() {
                let range = if allow_end { "00:00 to 24:00" } else { "00:00 to 23:59" };
                problems.add(
                    at,
                    format!("{field}.{name} {text:?} is not a time (expected HH:MM, {range})"),
                );
            }
            parsed
        };
        let from = time("from", &config.from, false);
        let to = time("to", &config.to, true);
        match (from, to) {
            (Some(from), Some(to)) if from == to => {
                problems.add(at, format!("{field} is empty (`from` equals `to`)"));
            }
            (Some(from), Some(to)) if ok => windows.push(Window::new(days, from, to)),
            _ => {}
        }
    }
    windows
}

fn assistant_conditions(when: &AssistantMatch, default_offset: i32, at: &str, problems: &mut Problems) -> Conditions {
    let offset = match &when.utc_offset {
        Some(text) => offset(text, at, problems),
        None => default_offset,
    };
    Conditions {
        caller: callers(&when.caller, at, problems),
        phone_number: phone_numbers(&when.phone_number, at, problems),
        windows: non_empty(&when.windows, "windows", at, problems).map(|list| (windows(list, at, problems), offset)),
        ..Default::default()
    }
}

fn context_conditions(when: &ContextMatch, handoff: bool, at: &str, problems: &mut Problems) -> Conditions {
    let language = non_empty(&when.language, "language", at, problems).map(|list| {
        let mut languages = Vec::with_capacity(list.len());
        for (index, language) in list.iter().enumerate() {
            let language = language.trim().to_ascii_lowercase().replace('_', "-");
            if language.is_empty() || !language.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
                problems.add(at, format!("match.language[{index}] {language:?} is not a language code (expected e.g. \"es\" or \"es-MX\")"));
            } else {
                languages.push(language);
            }
        }
        languages
    });
    let keywords = non_empty(&when.keywords, "keywords", at, problems).map(|list| {
        let mut keywords = Vec::with_capacity(list.len());
        for (index, keyword) in list.iter().enumerate() {
            let keyword_words = words(keyword);
            if keyword_words.is_empty() {
                problems.add(
                    at,
                    format!("match.keywords[{index}] {keyword:?} has no letters or digits"),
                );
            } else {
                keywords.push(keyword_words);
            }
        }
        keywords
    });
    let parameters = match &when.parameters {
        Some(_) if !handoff => {
            problems.add(at, "match.parameters only applies to handoff rules");
            None
        }
        Some(map) if map.is_empty() => {
            problems.add(at, "match.parameters is empty (it would match any parameters; leave it out)");
            None
        }
        Some(map) => Some(
            map.iter()
                .filter_map(|(key, value)| accept(value).map(|accept| (key.clone(), accept)).or_else(|| {
                    problems.add(at, format!("match.parameters.{key} is an empty list or a table (expected a value, a list of values or \"*\")"));
                    None
                }))
                .collect(),
        ),
        None => None,
    };
    Conditions {
        caller: callers(&when.caller, at, problems),
        phone_number: phone_numbers(&when.phone_number, at, problems),
        language,
        keywords,
        parameters,
        ..Default::default()
    }
}

fn accept(value: &Value) -> Option<Accept> {
    let lower = |value: &Value| match value {
        Value::String(text) => Value::String(text.to_lowercase()),
        other => other.clone(),
    };
    match value {
        Value::String(text) if text == "*" => Some(Accept::Present),
        Value::Array(values) if values.is_empty() || values.iter().any(|v| v.is_array() || v.is_object()) => None,
        Value::Array(values) => Some(Accept::AnyOf(values.iter().map(lower).collect())),
        Value::Object(_) => None,
        scalar => Some(Accept::AnyOf(vec![lower(scalar)])),
    }
}

fn assistant_answer(
    answer: &AssistantAnswer,
    base_dir: &Path,
    at: &str,
    problems: &mut Problems,
) -> Option<AssistantRequestResponse> {
    let given: Vec<&str> = [
        ("assistant_id", answer.assistant_id.is_some()),
        ("assistant_file", answer.assistant_file.is_some()),
        ("squad_id", answer.squad_id.is_some()),
        ("destination", answer.destination.is_some()),
        ("error", answer.error.is_some()),
    ]
    .into_iter()
    .filter_map(|(name, set)| set.then_some(name))
    .collect();
    match given.as_slice() {
        [] => {
            problems.add(
                at,
                "has no answer (set one of assistant_id, assistant_file, squad_id, destination, error)",
            );
            return None;
        }
        [_] => {}
        many => {
            problems.add(
                at,
                format!("has {} answers ({}); set exactly one", many.len(), many.join(", ")),
            );
            return None;
        }
    }
    let with_assistant = answer.assistant_id.is_some() || answer.assistant_file.is_some();
    if answer.assistant_overrides.is_some() && !with_assistant {
        problems.add(
            at,
            "assistant_overrides only applies with assistant_id or assistant_file",
        );
        return None;
    }
    if answer.squad_overrides.is_some() && answer.squad_id.is_none() {
        problems.add(at, "squad_overrides only applies with squad_id");
        return None;
    }
    let overrides = |map: &Option<Map<String, Value>>| map.clone().map(Value::Object);
    let mut response = AssistantRequestResponse {
        assistant_overrides: overrides(&answer.assistant_overrides),
        squad_overrides: overrides(&answer.squad_overrides),
        ..Default::default()
    };
    if let Some(id) = &answer.assistant_id {
        response.assistant_id = Some(id_text(id, "assistant_id", at, problems)?);
    } else if let Some(file) = &answer.assistant_file {
        response.assistant = Some(assistant_file(&base_dir.join(file), at, problems)?);
    } else if let Some(id) = &answer.squad_id {
        response.squad_id = Some(id_text(id, "squad_id", at, problems)?);
    } else if let Some(destination) = &answer.destination {
        response.destination = Some(transfer_destination(destination, at, false, problems)?);
    } else if let Some(error) = &answer.error {
        response.error = Some(spoken(at, "error", Some(error), problems).flatten()?.to_owned());
    }
    Some(response)
}

fn id_text(id: &str, field: &str, at: &str, problems: &mut Problems) -> Option<String> {
    if id.trim().is_empty() {
        problems.add(at, format!("{field} is empty"));
        None
    } else {
        Some(id.trim().to_owned())
    }
}

fn assistant_file(path: &Path, at: &str, problems: &mut Problems) -> Option<Value> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(source) => {
            problems.0.push(RoutingError::AssistantFileUnreadable {
                at: at.to_owned(),
                path: path.to_owned(),
                source,
            });
            return None;
        }
    };
    match serde_json::from_str::<Value>(&text) {
        Ok(Value::Object(assistant)) => Some(Value::Object(assistant)),
        Ok(other) => {
            let found = match other {
                Value::Null => "null",
                Value::Bool(_) => "a boolean",
                Value::Number(_) => "a number",
                Value::String(_) => "a string",
                Value::Array(_) => "an array",
                Value::Object(_) => "an object",
            };
            problems.add(
                at,
                format!(
                    "assistant_file {} holds {found} (expected a JSON object: an inline assistant)",
                    path.display()
                ),
            );
            None
        }
        Err(error) => {
            let message = error.to_string();
            // serde_json appends " at line L column C"; the error names them itself.
            let message = message.split(" at line ").next().unwrap_or(&message).to_owned();
            problems.0.push(RoutingError::AssistantFileInvalid {
                at: at.to_owned(),
                path: path.to_owned(),
                message,
                line: error.line(),
                column: error.column(),
            });
            None
        }
    }
}

/// Whether `text` is an E.164 number: `+`, a non-zero digit, then at most 14 more digits.
fn is_e164(text: &str) -> bool {
    let Some(digits) = text.strip_prefix('+') else {
        return false;
    };
    (2..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) && !digits.starts_with('0')
}

fn transfer_destination(
    config: &DestinationConfig,
    at: &str,
    allow_assistant: bool,
    problems: &mut Problems,
) -> Option<Destination> {
    let before = problems.0.len();
    let kind = match config.kind {
        DestinationKind::Number => "number",
        DestinationKind::Sip => "sip",
        DestinationKind::Assistant => "assistant",
    };
    let mut not_for = |field: &str, set: bool| {
        if set {
            problems.add(
                at,
                format!("destination.{field} does not apply to a {kind} destination"),
            );
        }
    };
    let mut extra = config.extra.clone().unwrap_or_default();
    let destination = match config.kind {
        DestinationKind::Number => {
            not_for("sip_uri", config.sip_uri.is_some());
            not_for("assistant_name", config.assistant_name.is_some());
            let number = config.number.as_deref().unwrap_or_default().trim();
            if config.number.is_none() {
                problems.add(at, "destination.number is missing (a number destination needs one)");
            } else if !is_e164(number) {
                problems.add(at, format!("destination.number {number:?} is not an E.164 number (expected + and 2 to 15 digits, e.g. \"+14155552671\")"));
            }
            Destination::Number(NumberDestination {
                number: number.to_owned(),
                extension: config.extension.clone(),
                caller_id: config.caller_id.clone(),
                message: config.message.clone(),
                extra: Map::new(),
            })
        }
        DestinationKind::Sip => {
            not_for("number", config.number.is_some());
            not_for("extension", config.extension.is_some());
            not_for("assistant_name", config.assistant_name.is_some());
            let uri = config.sip_uri.as_deref().unwrap_or_default().trim();
            let rest = uri.strip_prefix("sips:").or_else(|| uri.strip_prefix("sip:"));
            if config.sip_uri.is_none() {
                problems.add(at, "destination.sip_uri is missing (a sip destination needs one)");
            } else if rest.is_none_or(|rest| rest.is_empty() || rest.contains(char::is_whitespace)) {
                problems.add(
                    at,
                    format!("destination.sip_uri {uri:?} is not a SIP URI (expected e.g. \"sip:support@example.com\")"),
                );
            }
            if let Some(caller_id) = &config.caller_id {
                extra.insert("callerId".into(), Value::String(caller_id.clone()));
            }
            Destination::Sip(SipDestination {
                sip_uri: uri.to_owned(),
                message: config.message.clone(),
                extra: Map::new(),
            })
        }
        DestinationKind::Assistant => {
            if !allow_assistant {
                problems.add(
                    at,
                    "destination type \"assistant\" is not allowed here (expected \"number\" or \"sip\")",
                );
                return None;
            }
            not_for("number", config.number.is_some());
            not_for("extension", config.extension.is_some());
            not_for("caller_id", config.caller_id.is_some());
            not_for("sip_uri", config.sip_uri.is_some());
            let name = config.assistant_name.as_deref().unwrap_or_default().trim();
            if name.is_empty() {
                problems.add(
                    at,
                    "destination.assistant_name is missing (an assistant destination needs one)",
                );
            }
            Destination::Assistant(AssistantDestination {
                assistant_name: name.to_owned(),
                message: config.message.clone(),
                extra: Map::new(),
            })
        }
    };
    const TYPED: [&str; 7] = [
        "type",
        "number",
        "extension",
        "callerId",
        "sipUri",
        "assistantName",
        "message",
    ];
    for key in TYPED {
        if config.extra.as_ref().is_some_and(|extra| extra.contains_key(key)) {
            problems.add(
                at,
                format!("destination.extra.{key} repeats a field of the destination itself; set it there"),
            );
        }
    }
    if problems.0.len() != before {
        return None;
    }
    Some(match destination {
        Destination::Number(number) => Destination::Number(NumberDestination { extra, ..number }),
        Destination::Sip(sip) => Destination::Sip(SipDestination { extra, ..sip }),
        Destination::Assistant(assistant) => Destination::Assistant(AssistantDestination { extra, ..assistant }),
    })
}

fn text(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|text| !text.is_empty())
}

fn handoff_destination(
    config: &HandoffDestinationConfig,
    at: &str,
    problems: &mut Problems,
) -> Option<HandoffDestination> {
    let before = problems.0.len();
    let (kind, fields): (&str, &[(&str, bool)]) = match config.kind {
        HandoffKind::Assistant => (
            "assistant",
            &[
                ("squad_id", config.squad_id.is_some()),
                ("entry_assistant_name", config.entry_assistant_name.is_some()),
                ("squad_overrides", config.squad_overrides.is_some()),
            ],
        ),
        HandoffKind::Squad => (
            "squad",
            &[
                ("assistant_id", config.assistant_id.is_some()),
                ("assistant_name", config.assistant_name.is_some()),
                ("assistant_overrides", config.assistant_overrides.is_some()),
            ],
        ),
    };
    for (field, set) in fields {
        if *set {
            problems.add(
                at,
                format!("destination.{field} does not apply to a {kind} handoff destination"),
            );
        }
    }
    let (destination, typed): (HandoffDestination, &[&str]) = match config.kind {
        HandoffKind::Assistant => {
            let (assistant_id, assistant_name) = match (text(&config.assistant_id), text(&config.assistant_name)) {
                (Some(id), None) => (Some(id.to_owned()), None),
                (None, Some(name)) => (None, Some(name.to_owned())),
                _ => {
                    problems.add(
                        at,
                        "an assistant handoff destination needs exactly one of destination.assistant_id, destination.assistant_name",
                    );
                    (None, None)
                }
            };
            (
                HandoffDestination::Assistant(HandoffAssistant {
                    assistant_id,
                    assistant_name,
                    assistant: None,
                    assistant_overrides: config.assistant_overrides.clone(),
                    extra: config.extra.clone().unwrap_or_default(),
                }),
                &[
                    "type",
                    "assistantId",
                    "assistantName",
                    "assistant",
                    "assistantOverrides",
                ],
            )
        }
        HandoffKind::Squad => {
            let squad_id = text(&config.squad_id).map(str::to_owned);
            if squad_id.is_none() {
                problems.add(
                    at,
                    "destination.squad_id is missing (a squad handoff destination needs one)",
                );
            }
            (
                HandoffDestination::Squad(HandoffSquad {
                    squad_id,
                    squad: None,
                    entry_assistant_name: text(&config.entry_assistant_name).map(str::to_owned),
                    squad_overrides: config.squad_overrides.clone(),
                    extra: config.extra.clone().unwrap_or_default(),
                }),
                &["type", "squadId", "squad", "entryAssistantName", "squadOverrides"],
            )
        }
    };
    for key in config.extra.iter().flat_map(|extra| extra.keys()) {
        if typed.contains(&key.as_str()) {
            problems.add(
                at,
                format!("destination.extra.{key} repeats a field of the destination itself; set it there"),
            );
        }
    }
    (problems.0.len() == before).then_some(destination)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn e164_numbers() {
        for good in ["+14155552671", "+442071838750", "+12", "+123456789012345"] {
            assert!(is_e164(good), "{good}");
        }
        for bad in [
            "14155552671",
            "+0123",
            "+1",
            "+1234567890123456",
            "+1 415 555",
            "+1415555267x",
            "",
        ] {
            assert!(!is_e164(bad), "{bad}");
        }
    }
}
