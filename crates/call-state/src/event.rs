//! Domain events of a call, and their deterministic ids.
//!
//! An event is what happened to a call, in Switchboard's terms rather than Vapi's: a transcript, a status, a
//! tool result. Its [`EventId`] is a hash of its content, so every server instance computes the same id for the
//! same delivery and a replay can be recognised without coordination.

use std::fmt;
use std::io;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::endpointing::EndpointingDecision;
use crate::text::{json_len, truncate_at};

/// The deterministic id of an event: FNV-1a 64 over the call id, the timestamp, the kind and its content.
///
/// The same delivery always gets the same id, on any machine and in any process, because nothing but the
/// event's own content goes into it. Different events get different ids unless they have the same kind, the
/// same content *and* the same millisecond timestamp (or both lack one): such events are indistinguishable
/// from a replay, and are treated as one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EventId(pub u64);

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// Who a turn or transcript belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The caller.
    User,
    /// The assistant (Vapi's `bot`).
    Assistant,
    /// The system prompt.
    System,
    /// A tool's result.
    Tool,
}

impl Role {
    /// The role for a Vapi or OpenAI role string: `user`, `assistant`/`bot`, `system`,
    /// `tool`/`tool_call_result`/`function`. `None` for anything else.
    pub fn from_wire(role: &str) -> Option<Role> {
        match role {
            "user" => Some(Role::User),
            "assistant" | "bot" => Some(Role::Assistant),
            "system" => Some(Role::System),
            "tool" | "tool_call_result" | "function" => Some(Role::Tool),
            _ => None,
        }
    }

    /// The role's name: `user`, `assistant`, `system` or `tool`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::System => "system",
            Role::Tool => "tool",
        }
    }

    /// Whether this role speaks on the call (user or assistant).
    pub fn is_speaker(self) -> bool {
        matches!(self, Role::User | Role::Assistant)
    }
}

/// One turn of the conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Turn {
    /// Who spoke (or which tool answered).
    pub role: Role,
    /// What was said.
    pub text: String,
    /// When it was said, epoch milliseconds, when known.
    pub at_ms: Option<i64>,
}

/// A tool call the model made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolInvocation {
    /// The id its result must echo.
    pub id: String,
    /// The tool's function name.
    pub name: String,
    /// The arguments, as a JSON value (usually an object).
    pub arguments: Value,
}

/// The result of a tool call, as the conversation log records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolOutcome {
    /// The tool call it answers.
    pub tool_call_id: String,
    /// The tool's name, when given.
    pub name: Option<String>,
    /// The result text.
    pub result: Option<String>,
    /// The error text, when the call failed.
    pub error: Option<String>,
}

/// Who and what a call is about: a snapshot of the call's metadata as one message carried it.
///
/// Every field is optional; merging a snapshot into a state overwrites only the fields it has.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metadata {
    /// `inboundPhoneCall`, `outboundPhoneCall`, `webCall`, ...
    pub call_type: Option<String>,
    /// The customer's number (E.164), or their SIP URI on SIP calls.
    pub customer_number: Option<String>,
    /// The customer's name, when known.
    pub customer_name: Option<String>,
    /// The phone number the call uses (E.164).
    pub phone_number: Option<String>,
    /// The id of the phone number the call uses.
    pub phone_number_id: Option<String>,
    /// The active assistant's id.
    pub assistant_id: Option<String>,
    /// The active assistant's name.
    pub assistant_name: Option<String>,
    /// When the call started, epoch milliseconds.
    pub started_at_ms: Option<i64>,
}

impl Metadata {
    /// Whether the snapshot carries nothing.
    pub fn is_empty(&self) -> bool {
        *self == Metadata::default()
    }

    /// Overwrites the fields `other` has; whether anything changed.
    pub(crate) fn merge(&mut self, other: &Metadata) -> bool {
        fn take<T: Clone + PartialEq>(into: &mut Option<T>, from: &Option<T>) -> bool {
            match from {
                Some(value) if into.as_ref() != Some(value) => {
                    *into = Some(value.clone());
                    true
                }
                _ => false,
            }
        }
        // Every field is visited: `|` rather than `||` so one change does not skip the rest.
        take(&mut self.call_type, &other.call_type)
            | take(&mut self.customer_number, &other.customer_number)
            | take(&mut self.customer_name, &other.customer_name)
            | take(&mut self.phone_number, &other.phone_number)
            | take(&mut self.phone_number_id, &other.phone_number_id)
            | take(&mut self.assistant_id, &other.assistant_id)
            | take(&mut self.assistant_name, &other.assistant_name)
            | take(&mut self.started_at_ms, &other.started_at_ms)
    }
}

/// What happened to a call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventKind {
    /// Only metadata (the event's [`CallEvent::meta`]): `assistant-request`, `assistant.started`.
    Metadata,
    /// The call's status changed (`status-update`).
    Status {
        /// `scheduled`, `queued`, `ringing`, `in-progress`, `forwarding`, `ended`, ...
        status: String,
        /// Why the call ended (with `ended`).
        ended_reason: Option<String>,
    },
    /// A partial or final transcript of one utterance (`transcript`).
    Transcript {
        /// User or assistant.
        role: Role,
        /// Final (the utterance is done) or partial (still being spoken).
        is_final: bool,
        /// The text so far (partial) or the whole utterance (final).
        text: String,
    },
    /// The whole conversation so far (`conversation-update`): authoritative for what it covers.
    Conversation {
        /// The spoken, system and tool-result turns, in order.
        turns: Vec<Turn>,
        /// The tool calls the log shows, in order.
        tool_calls: Vec<ToolInvocation>,
        /// The tool results the log shows, in order.
        tool_results: Vec<ToolOutcome>,
    },
    /// The conversation as a message that is not a `conversation-update` carried it (the artifact of a
    /// `tool-calls`, `status-update` or `end-of-call-report`, the lists of a `knowledge-base-request` or
    /// `call.endpointing.request`): fills the call's context past what its transcripts and updates gave (see
    /// [`crate::CallState`]).
    ConversationSeen {
        /// The spoken, system and tool-result turns, in order.
        turns: Vec<Turn>,
    },
    /// Someone started or stopped speaking (`speech-update`).
    Speech {
        /// User or assistant.
        role: Role,
        /// Started (true) or stopped (false).
        started: bool,
        /// The 0-indexed turn, when sent.
        turn: Option<u64>,
    },
    /// The caller spoke over the assistant (`user-interrupted`).
    Interrupted {
        /// The interrupted turn.
        turn_id: Option<String>,
    },
    /// The transcriber detected a new language (`language-change-detected`, `language-changed`).
    Language {
        /// The language code, such as `es`.
        language: String,
    },
    /// The call was transferred (`transfer-update`).
    Transfer {
        /// The destination's type: `number`, `sip` or `assistant`.
        kind: Option<String>,
        /// The number, SIP URI or assistant name transferred to.
        target: Option<String>,
        /// The assistant transferred to, in squads (name, else id).
        to_assistant: Option<String>,
        /// The assistant transferred from, in squads (name, else id).
        from_assistant: Option<String>,
    },
    /// The assistant has not answered for a while (`hang`).
    Hang,
    /// Vapi delegated a `forward` or `hang-up` of the phone call to the server (`phone-call-control`).
    PhoneCallControl {
        /// `forward` or `hang-up`.
        request: String,
        /// The destination's type, for a forward: `number` or `sip`.
        kind: Option<String>,
        /// The number or SIP URI forwarded to.
        target: Option<String>,
    },
    /// The model called tools (`tool-calls`, legacy `function-call`).
    ToolCalls {
        /// The calls, in request order.
        calls: Vec<ToolInvocation>,
    },
    /// Switchboard answered a tool call (emitted by the runtime, not by Vapi).
    ToolResult {
        /// The tool call answered.
        tool_call_id: String,
        /// The tool's name.
        name: Option<String>,
        /// The result text.
        result: Option<String>,
        /// The error text, when the tool failed.
        error: Option<String>,
    },
    /// A tool wrote a value into the call's memory.
    MemorySet {
        /// The key.
        key: String,
        /// The value.
        value: Value,
    },
    /// A tool deleted a key from the call's memory.
    MemoryDelete {
        /// The key.
        key: String,
    },
    /// Switchboard answered a `call.endpointing.request` on the main webhook (emitted by the edge, not by Vapi).
    Endpointing {
        /// What was decided and why.
        decision: EndpointingDecision,
    },
    /// The report sent after the call (`end-of-call-report`).
    EndOfCallReport {
        /// Why the call ended.
        ended_reason: Option<String>,
        /// The analysis summary.
        summary: Option<String>,
        /// Total cost in USD.
        cost: Option<f64>,
        /// Call length in seconds.
        duration_seconds: Option<f64>,
        /// When the call ended, epoch milliseconds.
        ended_at_ms: Option<i64>,
    },
}

impl EventKind {
    /// A short stable name of the kind, for logs and metrics: `status`, `transcript`, `conversation`, ...
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::Metadata => "metadata",
            EventKind::Status { .. } => "status",
            EventKind::Transcript { .. } => "transcript",
            EventKind::Conversation { .. } => "conversation",
            EventKind::ConversationSeen { .. } => "conversation_seen",
            EventKind::Speech { .. } => "speech",
            EventKind::Interrupted { .. } => "interrupted",
            EventKind::Language { .. } => "language",
            EventKind::Transfer { .. } => "transfer",
            EventKind::Hang => "hang",
            EventKind::PhoneCallControl { .. } => "phone_call_control",
            EventKind::ToolCalls { .. } => "tool_calls",
            EventKind::ToolResult { .. } => "tool_result",
            EventKind::MemorySet { .. } => "memory_set",
            EventKind::MemoryDelete { .. } => "memory_delete",
            EventKind::Endpointing { .. } => "endpointing",
            EventKind::EndOfCallReport { .. } => "end_of_call_report",
        }
    }
}

/// One event of one call: the unit [`crate::CallState::apply`] folds, and the form the runtime may store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallEvent {
    /// The deterministic id (see [`EventId`]); a second event with the same id is a replay.
    pub id: EventId,
    /// The call the event belongs to.
    pub call_id: String,
    /// When it happened (Vapi's message timestamp), epoch milliseconds. Informational: state does not
    /// depend on it for ordering, because Vapi's timestamps are coarse.
    pub at_ms: Option<i64>,
    /// What happened.
    pub kind: EventKind,
    /// The call metadata the message carried (customer, phone number, assistant), when it carried any. Vapi
    /// repeats it on every message; it rides along so the state learns it from whatever message comes first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<Box<Metadata>>,
}

impl CallEvent {
    /// An event without metadata, with its id computed from its content.
    ///
    /// The runtime uses this for events it emits itself ([`EventKind::ToolResult`], [`EventKind::MemorySet`],
    /// ...). Two such events with the same content and timestamp get the same id and count as one; give a
    /// distinct `at_ms` (or use [`CallEvent::with_id`]) when that is not what you mean.
    pub fn new(call_id: impl Into<String>, at_ms: Option<i64>, kind: EventKind) -> Self {
        let call_id = call_id.into();
        let id = EventId::compute(&call_id, at_ms, &kind, None);
        CallEvent {
            id,
            call_id,
            at_ms,
            kind,
            meta: None,
        }
    }

    /// The event with `meta` attached (an empty snapshot attaches nothing) and its id recomputed.
    pub fn with_meta(mut self, meta: Metadata) -> Self {
        self.meta = (!meta.is_empty()).then(|| Box::new(meta));
        self.id = EventId::compute(&self.call_id, self.at_ms, &self.kind, self.meta.as_deref());
        self
    }

    /// The event with an id chosen by the caller instead of the content hash.
    pub fn with_id(mut self, id: EventId) -> Self {
        self.id = id;
        self
    }
}

/// An event whose JSON form stays over the limit even with its texts cut (see [`CallEvent::bound`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooLarge {
    /// The length of the event's JSON form after cutting, in bytes.
    pub bytes: usize,
    /// The limit, in bytes.
    pub limit: usize,
}

impl fmt::Display for TooLarge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the call event is {} bytes of JSON, over the limit of {} bytes",
            self.bytes, self.limit
        )
    }
}

impl std::error::Error for TooLarge {}

impl CallEvent {
    /// Fits the event's stored (JSON) form under `max_event_bytes`, so that what is journaled stays bounded.
    ///
    /// An event that fits is left as it is (judged first by a cheap upper bound, so most events are never
    /// measured). Otherwise every text longer than `max_text_bytes` is cut at a char boundary, and tool
    /// arguments whose JSON is longer are replaced by that JSON text cut likewise, as [`crate::CallState`] keeps
    /// them anyway; memory writes are left whole (the state refuses oversized ones). Returns the bytes cut, or
    /// [`TooLarge`] when the event is still over the limit. The id stays: it names the delivery, not its form.
    pub fn bound(&mut self, max_text_bytes: usize, max_event_bytes: usize) -> Result<u64, TooLarge> {
        if self.size_bound() <= max_event_bytes {
            return Ok(0);
        }
        let mut cut = 0u64;
        let mut cut_text = |text: &mut String| {
            let kept = truncate_at(text, max_text_bytes).len();
            cut += (text.len() - kept) as u64;
            text.truncate(kept);
        };
        let (texts, values) = self.parts_mut(false);
        texts.into_iter().for_each(&mut cut_text);
        for value in values {
            if json_len(value) > max_text_bytes {
                let mut text = value.to_string();
                cut_text(&mut text);
                *value = Value::String(text);
            }
        }
        let bytes = json_len(self);
        if bytes > max_event_bytes {
            return Err(TooLarge {
                bytes,
                limit: max_event_bytes,
            });
        }
        Ok(cut)
    }

    /// An upper bound of the length of the event's JSON form: every text fully escaped (6 bytes a byte), plus
    /// room for the structure around each part.
    fn size_bound(&mut self) -> usize {
        let (texts, values) = self.parts_mut(true);
        let parts = texts.len() + values.len();
        let text: usize = texts.iter().map(|text| text.len().saturating_mul(6)).sum();
        let values: usize = values.iter().map(|value| json_len(&**value)).sum();
        text.saturating_add(values)
            .saturating_add(parts.saturating_mul(64))
            .saturating_add(512)
    }

    /// The texts and JSON values the event carries: all of them when `every`, else those that may be cut (not
    /// the call id, which routes the event, nor memory writes, which the state refuses whole when too large).
    fn parts_mut(&mut self, every: bool) -> (Vec<&mut String>, Vec<&mut Value>) {
        let mut texts: Vec<&mut String> = Vec::new();
        let mut values: Vec<&mut Value> = Vec::new();
        if every {
            texts.push(&mut self.call_id);
        }
        if let Some(meta) = self.meta.as_deref_mut() {
            texts.extend(
                [
                    &mut meta.call_type,
                    &mut meta.customer_number,
                    &mut meta.customer_name,
                    &mut meta.phone_number,
                    &mut meta.phone_number_id,
                    &mut meta.assistant_id,
                    &mut meta.assistant_name,
                ]
                .into_iter()
                .filter_map(Option::as_mut),
            );
        }
        match &mut self.kind {
            EventKind::Metadata | EventKind::Hang | EventKind::Speech { .. } => {}
            EventKind::Status { status, ended_reason } => {
                texts.push(status);
                texts.extend(ended_reason.as_mut());
            }
            EventKind::Transcript { text, .. } => texts.push(text),
            EventKind::Conversation {
                turns,
                tool_calls,
                tool_results,
            } => {
                texts.extend(turns.iter_mut().map(|turn| &mut turn.text));
                for call in tool_calls {
                    texts.push(&mut call.id);
                    texts.push(&mut call.name);
                    values.push(&mut call.arguments);
                }
                for outcome in tool_results {
                    texts.push(&mut outcome.tool_call_id);
                    texts.extend(
                        [&mut outcome.name, &mut outcome.result, &mut outcome.error]
                            .into_iter()
                            .flatten(),
                    );
                }
            }
            EventKind::ConversationSeen { turns } => texts.extend(turns.iter_mut().map(|turn| &mut turn.text)),
            EventKind::Interrupted { turn_id } => texts.extend(turn_id.as_mut()),
            EventKind::Language { language } => texts.push(language),
            EventKind::PhoneCallControl { request, kind, target } => {
                texts.push(request);
                texts.extend([kind, target].into_iter().flatten());
            }
            EventKind::Transfer {
                kind,
                target,
                to_assistant,
                from_assistant,
            } => texts.extend([kind, target, to_assistant, from_assistant].into_iter().flatten()),
            EventKind::ToolCalls { calls } => {
                for call in calls {
                    texts.push(&mut call.id);
                    texts.push(&mut call.name);
                    values.push(&mut call.arguments);
                }
            }
            EventKind::ToolResult {
                tool_call_id,
                name,
                result,
                error,
            } => {
                texts.push(tool_call_id);
                texts.extend([name, result, error].into_iter().flatten());
            }
            EventKind::MemorySet { key, value } => {
                if every {
                    texts.push(key);
                    values.push(value);
                }
            }
            EventKind::MemoryDelete { key } => {
                if every {
                    texts.push(key);
                }
            }
            EventKind::EndOfCallReport {
                ended_reason, summary, ..
            } => texts.extend([ended_reason, summary].into_iter().flatten()),
            EventKind::Endpointing { decision } => {
                texts.push(&mut decision.language);
                texts.push(&mut decision.text);
                texts.extend(decision.reasons.iter_mut());
            }
        }
        (texts, values)
    }
}

impl EventId {
    /// The id of an event with this content: FNV-1a 64 over a version tag, the call id, the timestamp, the
    /// kind's name and every field of the kind, each length-prefixed so that field boundaries cannot shift.
    pub fn compute(call_id: &str, at_ms: Option<i64>, kind: &EventKind, meta: Option<&Metadata>) -> EventId {
        let mut h = Fnv::new();
        h.str("switchboard.event.v1");
        h.str(call_id);
        h.opt_i64(at_ms);
        h.str(kind.name());
        match kind {
            EventKind::Metadata | EventKind::Hang => {}
            EventKind::Status { status, ended_reason } => {
                h.str(status);
                h.opt_str(ended_reason.as_deref());
            }
            EventKind::Transcript { role, is_final, text } => {
                h.str(role.as_str());
                h.bool(*is_final);
                h.str(text);
            }
            EventKind::Conversation {
                turns,
                tool_calls,
                tool_results,
            } => {
                h.u64(turns.len() as u64);
                for turn in turns {
                    h.str(turn.role.as_str());
                    h.str(&turn.text);
                    h.opt_i64(turn.at_ms);
                }
                h.u64(tool_calls.len() as u64);
                for call in tool_calls {
                    h.invocation(call);
                }
                h.u64(tool_results.len() as u64);
                for outcome in tool_results {
                    h.str(&outcome.tool_call_id);
                    h.opt_str(outcome.name.as_deref());
                    h.opt_str(outcome.result.as_deref());
                    h.opt_str(outcome.error.as_deref());
                }
            }
            EventKind::ConversationSeen { turns } => {
                h.u64(turns.len() as u64);
                for turn in turns {
                    h.str(turn.role.as_str());
                    h.str(&turn.text);
                    h.opt_i64(turn.at_ms);
                }
            }
            EventKind::Speech { role, started, turn } => {
                h.str(role.as_str());
                h.bool(*started);
                h.opt_u64(*turn);
            }
            EventKind::Interrupted { turn_id } => h.opt_str(turn_id.as_deref()),
            EventKind::Language { language } => h.str(language),
            EventKind::PhoneCallControl { request, kind, target } => {
                h.str(request);
                h.opt_str(kind.as_deref());
                h.opt_str(target.as_deref());
            }
            EventKind::Transfer {
                kind,
                target,
                to_assistant,
                from_assistant,
            } => {
                h.opt_str(kind.as_deref());
                h.opt_str(target.as_deref());
                h.opt_str(to_assistant.as_deref());
                h.opt_str(from_assistant.as_deref());
            }
            EventKind::ToolCalls { calls } => {
                h.u64(calls.len() as u64);
                for call in calls {
                    h.invocation(call);
                }
            }
            EventKind::ToolResult {
                tool_call_id,
                name,
                result,
                error,
            } => {
                h.str(tool_call_id);
                h.opt_str(name.as_deref());
                h.opt_str(result.as_deref());
                h.opt_str(error.as_deref());
            }
            EventKind::MemorySet { key, value } => {
                h.str(key);
                h.value(value);
            }
            EventKind::MemoryDelete { key } => h.str(key),
            EventKind::Endpointing { decision } => {
                h.opt_f64(Some(decision.timeout_seconds));
                h.opt_f64(Some(decision.base_timeout_seconds));
                h.opt_f64(Some(decision.complete_probability));
                h.str(&decision.language);
                h.u64(decision.reasons.len() as u64);
                for reason in &decision.reasons {
                    h.str(reason);
                }
                h.bool(decision.dictation);
                h.str(&decision.text);
            }
            EventKind::EndOfCallReport {
                ended_reason,
                summary,
                cost,
                duration_seconds,
                ended_at_ms,
            } => {
                h.opt_str(ended_reason.as_deref());
                h.opt_str(summary.as_deref());
                h.opt_f64(*cost);
                h.opt_f64(*duration_seconds);
                h.opt_i64(*ended_at_ms);
            }
        }
        match meta {
            None => h.bool(false),
            Some(meta) => {
                h.bool(true);
                h.opt_str(meta.call_type.as_deref());
                h.opt_str(meta.customer_number.as_deref());
                h.opt_str(meta.customer_name.as_deref());
                h.opt_str(meta.phone_number.as_deref());
                h.opt_str(meta.phone_number_id.as_deref());
                h.opt_str(meta.assistant_id.as_deref());
                h.opt_str(meta.assistant_name.as_deref());
                h.opt_i64(meta.started_at_ms);
            }
        }
        EventId(h.0)
    }
}

/// FNV-1a 64. Chosen over `std`'s hashers because its output is specified and never changes between Rust
/// versions, processes or machines, which the shared event ids need.
struct Fnv(u64);

impl Fnv {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;

    fn new() -> Self {
        Fnv(Self::OFFSET)
    }

    fn bytes(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 ^= u64::from(byte);
            self.0 = self.0.wrapping_mul(Self::PRIME);
        }
    }

    fn u64(&mut self, value: u64) {
        self.bytes(&value.to_le_bytes());
    }

    fn bool(&mut self, value: bool) {
        self.bytes(&[u8::from(value)]);
    }

    fn str(&mut self, text: &str) {
        self.u64(text.len() as u64);
        self.bytes(text.as_bytes());
    }

    fn opt_str(&mut self, text: Option<&str>) {
        self.bool(text.is_some());
        if let Some(text) = text {
            self.str(text);
        }
    }

    fn opt_u64(&mut self, value: Option<u64>) {
        self.bool(value.is_some());
        if let Some(value) = value {
            self.u64(value);
        }
    }

    fn opt_i64(&mut self, value: Option<i64>) {
        self.opt_u64(value.map(|v| v as u64));
    }

    fn opt_f64(&mut self, value: Option<f64>) {
        self.opt_u64(value.map(f64::to_bits));
    }

    /// A JSON value, hashed as its compact JSON text followed by a terminator. serde_json writes object keys
    /// in the map's order, which is sorted (or, with `preserve_order`, the wire order of the same delivery), so
    /// the text is the same wherever the same event is hashed.
    fn value(&mut self, value: &Value) {
        // Writing into the hasher cannot fail; should serde_json ever report an error, the prefix written so
        // far still hashes deterministically.
        let _ = serde_json::to_writer(&mut *self, value);
        self.bytes(&[0xff]);
    }

    fn invocation(&mut self, call: &ToolInvocation) {
        self.str(&call.id);
        self.str(&call.name);
        self.value(&call.arguments);
    }
}

impl io::Write for Fnv {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.bytes(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transcript(text: &str, is_final: bool) -> EventKind {
        EventKind::Transcript {
            role: Role::User,
            is_final,
            text: text.into(),
        }
    }

    #[test]
    fn fnv_matches_the_reference_vectors() {
        let check = |input: &[u8], expected: u64| {
            let mut h = Fnv::new();
            h.bytes(input);
            assert_eq!(h.0, expected, "{input:?}");
        };
        check(b"", 0xcbf2_9ce4_8422_2325);
        check(b"a", 0xaf63_dc4c_8601_ec8c);
        check(b"foobar", 0x8594_4171_f739_67e8);
    }

    #[test]
    fn ids_are_stable_and_tell_events_apart() {
        let id = |kind: EventKind, at: Option<i64>| CallEvent::new("call-1", at, kind).id;
        // Pinned: this value must never change, or instances of different versions would disagree.
        assert_eq!(id(EventKind::Hang, Some(1)).to_string(), "316275a98050f9a2");
        assert_eq!(id(transcript("a", false), Some(5)), id(transcript("a", false), Some(5)));
        assert_ne!(
            id(transcript("a", false), Some(5)),
            id(transcript("ab", false), Some(5))
        );
        assert_ne!(id(transcript("a", false), Some(5)), id(transcript("a", true), Some(5)));
        assert_ne!(id(transcript("a", false), Some(5)), id(transcript("a", false), Some(6)));
        assert_ne!(id(transcript("a", false), Some(5)), id(transcript("a", false), None));
        assert_ne!(
            id(EventKind::Hang, Some(1)),
            CallEvent::new("call-2", Some(1), EventKind::Hang).id
        );
        let with_meta = CallEvent::new("call-1", Some(1), EventKind::Metadata).with_meta(Metadata {
            customer_number: Some("+1".into()),
            ..Metadata::default()
        });
        assert_ne!(with_meta.id, id(EventKind::Metadata, Some(1)));
    }
}
