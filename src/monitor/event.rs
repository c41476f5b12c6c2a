//! The monitor's event types: what happened on a call, as the log line, the metrics and the page see it.
//!
//! Pure data and pure conversions from parsed messages and answers; no I/O, no clock. Every text and value an
//! event carries is cut to a bound here, so an event's size does not depend on what a caller sends.

use serde::Serialize;
use serde_json::Value;
use vapi_types::ServerMessage;
use vapi_types::response::KnowledgeBaseResponse;

/// Characters of a transcript, result or error an event keeps.
pub const MAX_TEXT_CHARS: usize = 2000;
/// Characters of a knowledge document an event keeps.
pub const MAX_DOCUMENT_CHARS: usize = 300;
/// Documents of a knowledge-base answer an event keeps.
pub const MAX_DOCUMENTS: usize = 10;
/// Bytes of a JSON value (tool arguments, a routing answer) an event keeps; a larger one is cut to a string.
pub const MAX_JSON_BYTES: usize = 4096;
/// Characters of a short field an event keeps: a role, a status, an ended reason, a tool's name or call id, a
/// voice or document id. Vapi sends a few words there; a caller may send megabytes, which the replay ring
/// would otherwise hold thousands of times over.
pub const MAX_LABEL_CHARS: usize = 200;

/// One thing that happened on a call. `id` is given by the [`crate::monitor::Bus`] when it is published:
/// ids increase by one with every event of the process, so a client that saw id `n` missed nothing before it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MonitorEvent {
    /// Its place in the process's stream (0 until published).
    pub id: u64,
    /// The call it belongs to.
    pub call_id: String,
    /// The instance that saw it, when instances are named.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// When it happened, epoch milliseconds.
    pub at_ms: i64,
    /// What happened.
    #[serde(flatten)]
    pub payload: Payload,
}

impl MonitorEvent {
    /// An unpublished event of `call_id` at `at_ms`.
    pub fn new(call_id: impl Into<String>, at_ms: i64, payload: Payload) -> MonitorEvent {
        MonitorEvent {
            id: 0,
            call_id: call_id.into(),
            instance: None,
            at_ms,
            payload,
        }
    }
}

/// A knowledge document as the monitor shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Document {
    /// Its text, cut to [`MAX_DOCUMENT_CHARS`].
    pub content: String,
    /// Its score.
    pub similarity: f64,
    /// Its id, when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uuid: Option<String>,
}

/// What happened, with what the page shows of it. Serialized with a `kind` tag (`"tool"`, `"knowledge"`, ...).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case", rename_all_fields = "camelCase")]
pub enum Payload {
    /// A transcript: a partial is replaced by the next partial or final of the same role.
    Transcript {
        /// `user` or `assistant`.
        role: String,
        /// What was said.
        text: String,
        /// Whether it is final.
        #[serde(rename = "final")]
        is_final: bool,
    },
    /// A speaker started or stopped speaking.
    Speech {
        /// `user` or `assistant`.
        role: String,
        /// `started` or `stopped`.
        status: String,
        /// Vapi's turn number, when given.
        #[serde(skip_serializing_if = "Option::is_none")]
        turn: Option<u64>,
    },
    /// The user cut into the assistant's speech.
    Interruption {},
    /// The call's status changed.
    Status {
        /// The new status.
        status: String,
        /// Why it ended, when it did.
        #[serde(skip_serializing_if = "Option::is_none")]
        ended_reason: Option<String>,
    },
    /// A tool call was answered.
    Tool {
        /// Vapi's id of the tool call.
        tool_call_id: String,
        /// The tool.
        name: String,
        /// Its arguments.
        arguments: Value,
        /// Its result, when it succeeded.
        #[serde(skip_serializing_if = "Option::is_none")]
        result: Option<String>,
        /// Its error, when it failed.
        #[serde(skip_serializing_if = "Option::is_none")]
        error: Option<String>,
        /// Time to answer, milliseconds.
        latency_ms: f64,
        /// How a repeated delivery was answered without running the tool: `completed` or `in_flight`.
        #[serde(skip_serializing_if = "Option::is_none")]
        dedup: Option<&'static str>,
    },
    /// A knowledge-base request was answered.
    Knowledge {
        /// The caller's last words, which the search started from.
        #[serde(skip_serializing_if = "Option::is_none")]
        query: Option<String>,
        /// The documents returned, best first.
        documents: Vec<Document>,
        /// Time to answer, milliseconds.
        latency_ms: f64,
    },
    /// A routing decision: the assistant for a new call, a transfer destination or a handoff.
    Route {
        /// `assistant`, `transfer` or `handoff`.
        decision: &'static str,
        /// The destination's name or number, when the answer names one.
        #[serde(skip_serializing_if = "Option::is_none")]
        target: Option<String>,
        /// The answer as sent (cut to [`MAX_JSON_BYTES`]).
        answer: Value,
        /// Time to answer, milliseconds.
        latency_ms: f64,
    },
    /// An endpointing decision: how long Vapi waits before the user's turn counts as finished.
    Endpointing {
        /// The answered timeout, seconds.
        timeout_seconds: f64,
        /// P(the turn is complete), when a decision was made.
        #[serde(skip_serializing_if = "Option::is_none")]
        complete_probability: Option<f64>,
        /// The cues behind the decision; `no-user-message` when the request had none.
        reasons: Vec<String>,
        /// The language the decision was made in.
        language: String,
        /// Time to answer, milliseconds.
        latency_ms: f64,
    },
    /// A voice request was answered.
    Voice {
        /// The voice used.
        #[serde(skip_serializing_if = "Option::is_none")]
        voice_id: Option<String>,
        /// The text spoken (cut to [`MAX_TEXT_CHARS`]).
        text: String,
        /// The HTTP status of the answer.
        status: u16,
        /// Time to the first audio byte, milliseconds; `None` when no audio came.
        #[serde(skip_serializing_if = "Option::is_none")]
        ttfb_ms: Option<f64>,
    },
    /// Vapi transferred the call.
    Transfer {
        /// Where to (cut to [`MAX_JSON_BYTES`]).
        #[serde(skip_serializing_if = "Option::is_none")]
        destination: Option<Value>,
    },
    /// The assistant stalled.
    Hang {},
    /// The end-of-call report arrived.
    Report {
        /// Why the call ended.
        #[serde(skip_serializing_if = "Option::is_none")]
        ended_reason: Option<String>,
        /// Vapi's summary.
        #[serde(skip_serializing_if = "Option::is_none")]
        summary: Option<String>,
    },
}

impl Payload {
    /// The `kind` tag.
    pub fn kind(&self) -> &'static str {
        match self {
            Payload::Transcript { .. } => "transcript",
            Payload::Speech { .. } => "speech",
            Payload::Interruption {} => "interruption",
            Payload::Status { .. } => "status",
            Payload::Tool { .. } => "tool",
            Payload::Knowledge { .. } => "knowledge",
            Payload::Route { .. } => "route",
            Payload::Endpointing { .. } => "endpointing",
            Payload::Voice { .. } => "voice",
            Payload::Transfer { .. } => "transfer",
            Payload::Hang {} => "hang",
            Payload::Report { .. } => "report",
        }
    }

    /// Whether it is an answer Vapi waited for (and so gets an `info` log line with its latency).
    pub fn is_answer(&self) -> bool {
        matches!(
            self,
            Payload::Tool { .. }
                | Payload::Knowledge { .. }
                | Payload::Route { .. }
                | Payload::Endpointing { .. }
                | Payload::Voice { .. }
        )
    }

    /// What the answer was about: the tool, the routing decision, the voice; `""` for other events.
    pub fn name(&self) -> &str {
        match self {
            Payload::Tool { name, .. } => name,
            Payload::Route { decision, .. } => decision,
            Payload::Voice { voice_id, .. } => voice_id.as_deref().unwrap_or("default"),
            Payload::Endpointing { language, .. } => language,
            _ => "",
        }
    }

    /// Time to answer (for a voice request, to its first byte), milliseconds.
    pub fn latency_ms(&self) -> Option<f64> {
        match self {
            Payload::Tool { latency_ms, .. }
            | Payload::Knowledge { latency_ms, .. }
            | Payload::Route { latency_ms, .. }
            | Payload::Endpointing { latency_ms, .. } => Some(*latency_ms),
            Payload::Voice { ttfb_ms, .. } => *ttfb_ms,
            _ => None,
        }
    }

    /// A short outcome for the log line: `ok`, `error`, `empty` (no documents), the voice status, the timeout.
    pub fn outcome(&self) -> String {
        match self {
            Payload::Tool { error: Some(_), .. } => "error".into(),
            Payload::Tool { .. } => "ok".into(),
            Payload::Knowledge { documents, .. } if documents.is_empty() => "empty".into(),
            Payload::Knowledge { documents, .. } => format!("{} documents", documents.len()),
            Payload::Route { target, .. } => target.clone().unwrap_or_else(|| "default".into()),
            Payload::Endpointing { timeout_seconds, .. } => format!("{timeout_seconds:.2}s"),
            Payload::Voice { status, .. } => status.to_string(),
            _ => String::new(),
        }
    }

    /// What explains the outcome, for the log line: an endpointing decision's reasons, a tool's error, a
    /// knowledge answer's best score.
    pub fn detail(&self) -> String {
        match self {
            Payload::Endpointing { reasons, .. } => reasons.join(","),
            Payload::Tool { error: Some(error), .. } => cut(error, 200),
            Payload::Knowledge { documents, .. } => documents
                .first()
                .map(|d| format!("best {:.3}", d.similarity))
                .unwrap_or_default(),
            _ => String::new(),
        }
    }

    /// The dedup hit of a repeated tool call delivery.
    pub fn dedup(&self) -> Option<&'static str> {
        match self {
            Payload::Tool { dedup, .. } => *dedup,
            _ => None,
        }
    }
}

/// `text` cut to at most `max` characters (an ellipsis marks the cut).
pub fn cut(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_string(),
    }
}

/// A short field cut to [`MAX_LABEL_CHARS`].
pub fn label(text: &str) -> String {
    cut(text, MAX_LABEL_CHARS)
}

/// `value` as is when its JSON is at most [`MAX_JSON_BYTES`], else its JSON text cut to that many characters.
pub fn bounded_json(value: Value) -> Value {
    let text = value.to_string();
    if text.len() <= MAX_JSON_BYTES {
        value
    } else {
        Value::String(cut(&text, MAX_JSON_BYTES))
    }
}

/// The monitor's event for an informational message (transcript, speech, interruption, status, transfer,
/// hang, report), or `None` for a message that is not one, or has no call id.
pub fn informational(message: &ServerMessage, at_ms: i64) -> Option<MonitorEvent> {
    use vapi_types::MessageBody as B;
    let payload = match &message.body {
        B::Transcript(t) => Payload::Transcript {
            role: label(&t.role),
            text: cut(&t.transcript, MAX_TEXT_CHARS),
            is_final: t.transcript_type.as_deref() != Some("partial"),
        },
        B::SpeechUpdate(s) => Payload::Speech {
            role: label(&s.role),
            status: label(&s.status),
            turn: s.turn,
        },
        B::UserInterrupted(_) => Payload::Interruption {},
        B::StatusUpdate(s) => Payload::Status {
            status: label(&s.status),
            ended_reason: s.ended_reason.as_deref().map(label),
        },
        B::TransferUpdate(t) => Payload::Transfer {
            destination: t.destination.clone().map(bounded_json),
        },
        B::Hang => Payload::Hang {},
        B::EndOfCallReport(report) => Payload::Report {
            ended_reason: report.ended_reason.as_deref().map(label),
            summary: report.summary().map(|s| cut(s, MAX_TEXT_CHARS)),
        },
        _ => return None,
    };
    Some(MonitorEvent::new(message.call_id()?, at_ms, payload))
}

/// The documents of a knowledge-base answer, bounded.
pub fn documents(answer: &KnowledgeBaseResponse) -> Vec<Document> {
    answer
        .documents
        .iter()
        .flatten()
        .take(MAX_DOCUMENTS)
        .map(|d| Document {
            content: cut(&d.content, MAX_DOCUMENT_CHARS),
            similarity: d.similarity,
            uuid: d.uuid.as_deref().map(label),
        })
        .collect()
}

/// The caller's last words in a knowledge-base request: the last user message with text.
pub fn knowledge_query(request: &vapi_types::KnowledgeBaseRequest) -> Option<String> {
    let openai = request
        .messages_openai_formatted
        .iter()
        .rev()
        .find(|m| m.role == "user")
        .and_then(|m| m.content.clone());
    let log = || {
        request
            .messages
            .iter()
            .rev()
            .find(|m| m.role == "user")
            .and_then(|m| m.message.clone())
    };
    openai
        .or_else(log)
        .filter(|text| !text.trim().is_empty())
        .map(|text| cut(&text, MAX_TEXT_CHARS))
}

/// The destination a routing answer names: an assistant's id or name, a transfer's number or SIP URI, a
/// handoff's assistant; `None` when it names none (Vapi's default applies).
pub fn route_target(answer: &Value) -> Option<String> {
    let pick = |value: &Value| -> Option<String> {
        for key in ["assistantName", "name", "number", "sipUri", "assistantId", "squadId"] {
            if let Some(text) = value.get(key).and_then(Value::as_str) {
                return Some(cut(text, 200));
            }
        }
        None
    };
    let candidates = [
        answer.get("destination"),
        answer.get("assistant"),
        answer.get("destinations").and_then(|d| d.get(0)),
        answer.get("squad"),
        Some(answer),
    ];
    candidates.into_iter().flatten().find_map(pick)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn cut_keeps_short_text_and_marks_a_cut() {
        assert_eq!(cut("hello", 5), "hello");
        assert_eq!(cut("héllo wörld", 5), "héllo…");
        assert_eq!(cut("", 0), "");
    }

    #[test]
    fn large_json_becomes_a_bounded_string() {
        let big = json!({ "x": "a".repeat(10_000) });
        let Value::String(text) = bounded_json(big) else {
            panic!("not cut")
        };
        assert!(text.chars().count() <= MAX_JSON_BYTES + 1);
        assert_eq!(bounded_json(json!({"a": 1})), json!({"a": 1}));
    }

    #[test]
    fn events_serialize_with_kind_and_camel_case_fields() {
        let mut event = MonitorEvent::new(
            "call-1",
            5,
            Payload::Tool {
                tool_call_id: "t1".into(),
                name: "recall".into(),
                arguments: json!({"topic": "x"}),
                result: Some("found".into()),
                error: None,
                latency_ms: 1.5,
                dedup: Some("completed"),
            },
        );
        event.id = 7;
        assert_eq!(
            serde_json::to_value(&event).unwrap(),
            json!({"id": 7, "callId": "call-1", "atMs": 5, "kind": "tool", "toolCallId": "t1", "name": "recall",
                   "arguments": {"topic": "x"}, "result": "found", "latencyMs": 1.5, "dedup": "completed"})
        );
        let transcript = Payload::Transcript {
            role: "user".into(),
            text: "hi".into(),
            is_final: false,
        };
        assert_eq!(
            serde_json::to_value(&transcript).unwrap(),
            json!({"kind": "transcript", "role": "user", "text": "hi", "final": false})
        );
    }

    #[test]
    fn route_target_reads_each_answer_shape() {
        let check = |answer: Value, expected: Option<&str>| {
            assert_eq!(route_target(&answer).as_deref(), expected, "{answer}");
        };
        check(json!({"assistantId": "a-1"}), Some("a-1"));
        check(json!({"assistant": {"name": "Sales"}}), Some("Sales"));
        check(
            json!({"destination": {"type": "number", "number": "+1555"}}),
            Some("+1555"),
        );
        check(
            json!({"destinations": [{"type": "assistant", "assistantName": "Billing"}]}),
            Some("Billing"),
        );
        check(json!({}), None);
    }

    fn parsed(kind: &str, fields: Value) -> ServerMessage {
        let mut message = json!({"type": kind, "call": {"id": "c-1"}});
        message
            .as_object_mut()
            .unwrap()
            .extend(fields.as_object().unwrap().clone());
        vapi_types::parse_body(json!({ "message": message }).to_string().as_bytes()).unwrap()
    }

    #[test]
    fn informational_messages_become_their_events() {
        let check = |kind: &str, fields: Value, expected: Option<Value>| {
            let event = informational(&parsed(kind, fields), 9);
            let got = event.map(|e| {
                assert_eq!((e.call_id.as_str(), e.at_ms), ("c-1", 9));
                serde_json::to_value(&e.payload).unwrap()
            });
            assert_eq!(got, expected, "{kind}");
        };
        check(
            "transcript",
            json!({"role": "user", "transcriptType": "partial", "transcript": "hel"}),
            Some(json!({"kind": "transcript", "role": "user", "text": "hel", "final": false})),
        );
        check(
            "transcript",
            json!({"role": "assistant", "transcript": "Hello."}),
            Some(json!({"kind": "transcript", "role": "assistant", "text": "Hello.", "final": true})),
        );
        check(
            "speech-update",
            json!({"status": "stopped", "role": "user"}),
            Some(json!({"kind": "speech", "role": "user", "status": "stopped"})),
        );
        check("user-interrupted", json!({}), Some(json!({"kind": "interruption"})));
        check(
            "status-update",
            json!({"status": "ended", "endedReason": "silence-timed-out"}),
            Some(json!({"kind": "status", "status": "ended", "endedReason": "silence-timed-out"})),
        );
        check("hang", json!({}), Some(json!({"kind": "hang"})));
        check("conversation-update", json!({"messages": []}), None);
        check("tool-calls", json!({"toolCallList": []}), None);
    }

    #[test]
    fn the_knowledge_query_is_the_callers_last_words() {
        let request = |fields: Value| match parsed("knowledge-base-request", fields).body {
            vapi_types::MessageBody::KnowledgeBaseRequest(request) => request,
            other => panic!("{other:?}"),
        };
        let openai = request(json!({"messagesOpenAIFormatted": [
            {"role": "user", "content": "first"}, {"role": "assistant", "content": "ok"},
            {"role": "user", "content": "second"}]}));
        assert_eq!(knowledge_query(&openai).as_deref(), Some("second"));
        let log = request(json!({"messages": [{"role": "user", "message": "from the log"}]}));
        assert_eq!(knowledge_query(&log).as_deref(), Some("from the log"));
        let blank = request(json!({"messagesOpenAIFormatted": [{"role": "user", "content": "  "}]}));
        assert_eq!(knowledge_query(&blank), None);
    }

    #[test]
    fn outcome_and_latency_of_each_answer() {
        let voice = Payload::Voice {
            voice_id: None,
            text: "hi".into(),
            status: 200,
            ttfb_ms: Some(12.0),
        };
        assert_eq!(
            (voice.name(), voice.outcome(), voice.latency_ms()),
            ("default", "200".into(), Some(12.0))
        );
        let knowledge = Payload::Knowledge {
            query: None,
            documents: vec![],
            latency_ms: 3.0,
        };
        assert_eq!(knowledge.outcome(), "empty");
        assert!(knowledge.is_answer());
        assert!(!Payload::Hang {}.is_answer());
    }
}
