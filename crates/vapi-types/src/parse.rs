//! Turning a webhook body into a [`ServerMessage`], with errors that name the problem.
//!
//! What a body may grow is bounded here, at the door, so nothing accepted can become unreadable later: nesting
//! deeper than [`MAX_DEPTH`] and call ids longer than [`MAX_CALL_ID_BYTES`] are refused. The depth limit sits
//! well inside `serde_json`'s own (128), which the stores hit when they read back an event journaled inside
//! their larger JSON envelope.

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::common::{Artifact, Assistant, Call, Common, Customer, PhoneNumber, Timestamp};
use crate::message::{MessageBody, MessageKind, ServerMessage};

/// The deepest nesting of arrays and objects a body may have; the body's own object is level 1. Deeper bodies
/// are refused before they are decoded.
pub const MAX_DEPTH: usize = 64;

/// The longest call id (`message.call.id`) accepted, in bytes: the id keys everything kept about a call.
pub const MAX_CALL_ID_BYTES: usize = 256;

/// Why a body is not a valid server message. Messages are lowercase and name what was wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The body is not JSON.
    #[error("malformed JSON at line {line}, column {column}: {reason}")]
    Syntax {
        /// 1-based line of the error.
        line: usize,
        /// 1-based column of the error.
        column: usize,
        /// What the JSON parser expected.
        reason: String,
    },
    /// Arrays and objects are nested deeper than [`MAX_DEPTH`].
    #[error("JSON nested deeper than the limit of {limit} levels")]
    TooDeep {
        /// The limit, [`MAX_DEPTH`].
        limit: usize,
    },
    /// A required field is absent (or `null`).
    #[error("missing field `{0}`")]
    MissingField(String),
    /// A field has the wrong type or value.
    #[error("invalid field `{path}`: {reason}")]
    InvalidField {
        /// The field's path, such as `message.sampleRate`.
        path: String,
        /// What was wrong.
        reason: String,
    },
}

impl ParseError {
    /// The field path the error is about, when it is about one.
    pub fn field(&self) -> Option<&str> {
        match self {
            ParseError::Syntax { .. } | ParseError::TooDeep { .. } => None,
            ParseError::MissingField(path) | ParseError::InvalidField { path, .. } => Some(path),
        }
    }
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    message: Option<&'a RawValue>,
}

/// The `type` and common fields of a message, read in one pass. The artifact (often the largest part: the
/// whole conversation) is only delimited here, and decoded for the kinds that carry call context.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Head<'a> {
    #[serde(rename = "type")]
    type_name: Option<String>,
    timestamp: Option<Timestamp>,
    call: Option<Call>,
    customer: Option<Customer>,
    phone_number: Option<PhoneNumber>,
    assistant: Option<Assistant>,
    #[serde(borrow)]
    artifact: Option<&'a RawValue>,
}

/// Parses a webhook body `{"message": {"type": ..., ...}}`.
///
/// Syntax errors name line and column; missing and mistyped fields name their path (`message.type`,
/// `message.toolCallList[0].id`). A `type` this crate does not know gives [`MessageBody::Unknown`]. Bodies
/// nested deeper than [`MAX_DEPTH`] and call or tool call ids longer than [`MAX_CALL_ID_BYTES`] are errors too.
pub fn parse_body(body: &[u8]) -> Result<ServerMessage, ParseError> {
    if exceeds_depth(body, MAX_DEPTH) {
        return Err(ParseError::TooDeep { limit: MAX_DEPTH });
    }
    let not_an_object = || ParseError::InvalidField {
        path: "body".into(),
        reason: "expected a JSON object with a `message` field".into(),
    };
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        // Report broken JSON as such; well-formed JSON of another shape is the wrong shape.
        return match serde_json::from_slice::<serde::de::IgnoredAny>(body) {
            Err(error) if !error.is_data() => Err(syntax(&error)),
            _ => Err(not_an_object()),
        };
    }
    let envelope: Envelope<'_> = match serde_json::from_slice(body) {
        Ok(envelope) => envelope,
        Err(error) if error.is_data() => return Err(not_an_object()),
        Err(error) => return Err(syntax(&error)),
    };
    let raw = envelope
        .message
        .ok_or_else(|| ParseError::MissingField("message".into()))?;
    if !raw.get().starts_with('{') {
        return Err(ParseError::InvalidField {
            path: "message".into(),
            reason: "expected an object".into(),
        });
    }
    let head: Head<'_> = field_path(raw, "message")?;
    let type_name = head
        .type_name
        .ok_or_else(|| ParseError::MissingField("message.type".into()))?;
    if let Some(id) = head.call.as_ref().and_then(|call| call.id.as_deref())
        && id.len() > MAX_CALL_ID_BYTES
    {
        return Err(ParseError::InvalidField {
            path: "message.call.id".into(),
            reason: format!("{} bytes long, over the limit of {MAX_CALL_ID_BYTES} bytes", id.len()),
        });
    }
    let kind = MessageKind::from_type(&type_name);
    // The dedicated servers' requests must answer fast and never read the artifact.
    let artifact = match (kind, head.artifact) {
        (MessageKind::VoiceRequest | MessageKind::CallEndpointingRequest, _) | (_, None) => None,
        (_, Some(artifact)) if artifact.get() == "null" => None,
        (_, Some(artifact)) => Some(field_path::<Artifact>(artifact, "message.artifact")?),
    };
    let common = Common {
        timestamp: head.timestamp,
        call: head.call,
        customer: head.customer,
        phone_number: head.phone_number,
        assistant: head.assistant,
        artifact,
    };
    let body = parse_kind(kind, type_name, raw)?;
    if let MessageBody::ToolCalls(request) = &body {
        // Tool call ids name stored answers (the exactly-once ledger), so they are bounded like call ids.
        if let Some((index, call)) = request
            .tool_call_list
            .iter()
            .enumerate()
            .find(|(_, call)| call.id.len() > MAX_CALL_ID_BYTES)
        {
            return Err(ParseError::InvalidField {
                path: format!("message.toolCallList[{index}].id"),
                reason: format!(
                    "{} bytes long, over the limit of {MAX_CALL_ID_BYTES} bytes",
                    call.id.len()
                ),
            });
        }
    }
    Ok(ServerMessage { common, body })
}

fn parse_kind(kind: MessageKind, type_name: String, raw: &RawValue) -> Result<MessageBody, ParseError> {
    use MessageBody as B;
    use MessageKind as K;
    Ok(match kind {
        K::AssistantRequest => B::AssistantRequest,
        K::ToolCalls => B::ToolCalls(field_path(raw, "message")?),
        K::FunctionCall => B::FunctionCall(field_path(raw, "message")?),
        K::TransferDestinationRequest => B::TransferDestinationRequest,
        K::HandoffDestinationRequest => B::HandoffDestinationRequest(field_path(raw, "message")?),
        K::KnowledgeBaseRequest => B::KnowledgeBaseRequest(field_path(raw, "message")?),
        K::VoiceRequest => B::VoiceRequest(field_path(raw, "message")?),
        K::CallEndpointingRequest => B::CallEndpointingRequest(field_path(raw, "message")?),
        K::CampaignPredial => B::CampaignPredial(field_path(raw, "message")?),
        K::StatusUpdate => B::StatusUpdate(field_path(raw, "message")?),
        K::EndOfCallReport => B::EndOfCallReport(Box::new(field_path(raw, "message")?)),
        K::ConversationUpdate => B::ConversationUpdate(field_path(raw, "message")?),
        K::Transcript => {
            let mut transcript: crate::message::Transcript = field_path(raw, "message")?;
            if type_name != "transcript" && transcript.transcript_type.is_none() {
                transcript.transcript_type = Some("final".into());
            }
            B::Transcript(transcript)
        }
        K::SpeechUpdate => B::SpeechUpdate(field_path(raw, "message")?),
        K::ModelOutput => B::ModelOutput(field_path(raw, "message")?),
        K::Hang => B::Hang,
        K::UserInterrupted => B::UserInterrupted(field_path(raw, "message")?),
        K::TransferUpdate => B::TransferUpdate(field_path(raw, "message")?),
        K::PhoneCallControl => B::PhoneCallControl(field_path(raw, "message")?),
        K::LanguageChangeDetected => B::LanguageChangeDetected(field_path(raw, "message")?),
        K::LanguageChanged => B::LanguageChanged(field_path(raw, "message")?),
        K::VoiceInput => B::VoiceInput(field_path(raw, "message")?),
        K::AssistantSpeechStarted => B::AssistantSpeechStarted(field_path(raw, "message")?),
        K::AssistantStarted => B::AssistantStarted(field_path(raw, "message")?),
        K::ChatCreated => B::ChatCreated(field_path(raw, "message")?),
        K::ChatDeleted => B::ChatDeleted(field_path(raw, "message")?),
        K::SessionCreated => B::SessionCreated(field_path(raw, "message")?),
        K::SessionUpdated => B::SessionUpdated(field_path(raw, "message")?),
        K::SessionDeleted => B::SessionDeleted(field_path(raw, "message")?),
        K::CallDeleted => B::CallDeleted,
        K::CallDeleteFailed => B::CallDeleteFailed,
        K::CallArtifactUpload => B::CallArtifactUpload(field_path(raw, "message")?),
        K::Unknown => B::Unknown {
            type_name,
            // The raw text was already validated as a JSON object, so this cannot fail; fall back to
            // `null` rather than panic all the same.
            raw: serde_json::from_str(raw.get()).unwrap_or_default(),
        },
    })
}

/// Deserializes `raw` (the value at `at`, such as `message`) into `T`, reporting errors with the field path.
fn field_path<'a, T: Deserialize<'a>>(raw: &'a RawValue, at: &str) -> Result<T, ParseError> {
    let mut deserializer = serde_json::Deserializer::from_str(raw.get());
    serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let inner = error.inner();
        let path = match error.path().to_string() {
            path if path == "." => at.to_string(),
            path => format!("{at}.{path}"),
        };
        let reason = strip_position(&inner.to_string());
        match reason
            .strip_prefix("missing field `")
            .and_then(|rest| rest.strip_suffix('`'))
        {
            Some(name) => ParseError::MissingField(format!("{path}.{name}")),
            None if reason.starts_with("invalid type: null") => ParseError::MissingField(path),
            None => ParseError::InvalidField { path, reason },
        }
    })
}

/// Whether `body` nests arrays and objects deeper than `limit`, judged by a scan of its brackets outside
/// strings. Malformed JSON is left to the parser, which names the problem; this only looks for depth, so it
/// runs before any decoding and costs one pass over the bytes.
fn exceeds_depth(body: &[u8], limit: usize) -> bool {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &byte in body {
        if in_string {
            if escaped {
                escaped = false;
            } else if byte == b'\\' {
                escaped = true;
            } else if byte == b'"' {
                in_string = false;
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                if depth > limit {
                    return true;
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

fn syntax(error: &serde_json::Error) -> ParseError {
    ParseError::Syntax {
        line: error.line(),
        column: error.column(),
        reason: strip_position(&error.to_string()),
    }
}

/// serde_json appends " at line L column C" (relative to the text it was given); the caller states the
/// position itself, or the position is meaningless because the text was a slice of the body.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(at) => message[..at].to_string(),
        None => message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_err(body: &str, expected: &str) {
        let error = parse_body(body.as_bytes()).expect_err(body);
        assert_eq!(error.to_string(), expected, "{body}");
    }

    #[test]
    fn bad_bodies_name_the_problem() {
        check_err(
            "{\"message\": {\"type\": ",
            "malformed JSON at line 1, column 21: EOF while parsing a value",
        );
        check_err(
            "{\n  \"message\": nope}",
            "malformed JSON at line 2, column 15: expected ident",
        );
        check_err(
            "[1, 2]",
            "invalid field `body`: expected a JSON object with a `message` field",
        );
        check_err("", "malformed JSON at line 1, column 0: EOF while parsing a value");
        check_err("[1, 2", "malformed JSON at line 1, column 5: EOF while parsing a list");
        check_err("{}", "missing field `message`");
        check_err("{\"message\": null}", "missing field `message`");
        check_err("{\"message\": 3}", "invalid field `message`: expected an object");
        check_err("{\"message\": {}}", "missing field `message.type`");
        check_err(
            "{\"message\": {\"type\": 7}}",
            "invalid field `message.type`: invalid type: integer `7`, expected a string",
        );
        check_err(
            "{\"message\": {\"type\": \"voice-request\", \"text\": \"hi\"}}",
            "missing field `message.sampleRate`",
        );
        check_err(
            "{\"message\": {\"type\": \"voice-request\", \"text\": \"hi\", \"sampleRate\": 16000.5}}",
            "invalid field `message.sampleRate`: invalid type: floating point `16000.5`, expected u32",
        );
        check_err(
            "{\"message\": {\"type\": \"tool-calls\", \"toolCallList\": [{\"id\": 1}]}}",
            "invalid field `message.toolCallList[0].id`: invalid type: integer `1`, expected a string",
        );
        check_err(
            "{\"message\": {\"type\": \"status-update\", \"call\": {\"id\": []}, \"status\": \"ended\"}}",
            "invalid field `message.call.id`: invalid type: sequence, expected a string",
        );
    }

    #[test]
    fn artifact_errors_name_their_path_and_dedicated_requests_skip_the_artifact() {
        check_err(
            r#"{"message": {"type": "hang", "artifact": {"transcript": 5, "recordingUrl": 5}}}"#,
            "invalid field `message.artifact.recordingUrl`: invalid type: integer `5`, expected a string",
        );
        // An unreadable conversation entry is skipped, not fatal: the rest of the log still counts.
        let hang = parse_body(
            br#"{"message": {"type": "hang", "artifact": {"messages": [{"role": 5}, {"role": "user", "message": "hi"}]}}}"#,
        )
        .unwrap();
        assert_eq!(hang.common.artifact.unwrap().messages.len(), 1);
        let voice = r#"{"message": {"type": "voice-request", "text": "hi", "sampleRate": 8000,
            "artifact": {"messages": [{"role": 5}]}}}"#;
        let message = parse_body(voice.as_bytes()).unwrap();
        assert_eq!(
            message.common.artifact, None,
            "a voice request never reads the conversation"
        );
        let hang = parse_body(br#"{"message": {"type": "hang", "artifact": null}}"#).unwrap();
        assert_eq!(hang.common.artifact, None);
    }

    /// A body whose `message.toolCallList[0].function.arguments` nests `levels` objects.
    fn nested_arguments(levels: usize) -> String {
        let inner = format!("{}1{}", "{\"a\": ".repeat(levels), "}".repeat(levels));
        format!(
            r#"{{"message": {{"type": "tool-calls", "call": {{"id": "c"}}, "toolCallList": [{{"id": "t", "type": "function", "function": {{"name": "f", "arguments": {inner}}}}}]}}}}"#
        )
    }

    #[test]
    fn depth_is_bounded_before_decoding() {
        // The arguments start at level 5 (body, message, toolCallList, its item, function).
        assert!(parse_body(nested_arguments(MAX_DEPTH - 5).as_bytes()).is_ok());
        check_err(
            &nested_arguments(MAX_DEPTH - 4),
            "JSON nested deeper than the limit of 64 levels",
        );
        check_err(&"[".repeat(100_000), "JSON nested deeper than the limit of 64 levels");
        // Brackets inside strings, escaped quotes included, do not count.
        let text = format!(r#"{{"message": {{"type": "hang", "x": "\\\"{}"}}}}"#, "[{".repeat(100));
        assert!(parse_body(text.as_bytes()).is_ok());
        assert!(!exceeds_depth(b"[[]]", 2));
        assert!(exceeds_depth(b"[[[]]]", 2));
        assert!(!exceeds_depth(br#"[["\\", "\"[["]]"#, 2));
    }

    #[test]
    fn call_ids_are_bounded() {
        let body = |id: &str| format!(r#"{{"message": {{"type": "hang", "call": {{"id": "{id}"}}}}}}"#);
        assert!(parse_body(body(&"c".repeat(MAX_CALL_ID_BYTES)).as_bytes()).is_ok());
        check_err(
            &body(&"c".repeat(MAX_CALL_ID_BYTES + 1)),
            "invalid field `message.call.id`: 257 bytes long, over the limit of 256 bytes",
        );
        let tool_call = |id: &str| {
            format!(
                r#"{{"message": {{"type": "tool-calls", "toolCallList": [{{"id": "ok", "function": {{"name": "f"}}}}, {{"id": "{id}", "function": {{"name": "f"}}}}]}}}}"#
            )
        };
        assert!(parse_body(tool_call(&"t".repeat(MAX_CALL_ID_BYTES)).as_bytes()).is_ok());
        check_err(
            &tool_call(&"t".repeat(MAX_CALL_ID_BYTES + 1)),
            "invalid field `message.toolCallList[1].id`: 257 bytes long, over the limit of 256 bytes",
        );
    }

    #[test]
    fn unknown_types_keep_name_and_raw_json() {
        let message = parse_body(br#"{"message": {"type": "brand-new", "x": [1]}}"#).unwrap();
        assert_eq!(
            message.body,
            MessageBody::Unknown {
                type_name: "brand-new".into(),
                raw: serde_json::json!({"type": "brand-new", "x": [1]}),
            }
        );
    }

    #[test]
    fn final_only_transcript_type_is_a_final_transcript() {
        let body =
            r#"{"message": {"type": "transcript[transcriptType=\"final\"]", "role": "user", "transcript": "hi"}}"#;
        match parse_body(body.as_bytes()).unwrap().body {
            MessageBody::Transcript(transcript) => assert!(transcript.is_final()),
            other => panic!("expected a transcript, got {other:?}"),
        }
    }

    #[test]
    fn every_kind_round_trips_its_type_string() {
        for kind in MessageKind::ALL {
            assert_eq!(MessageKind::from_type(kind.as_str()), *kind);
        }
        assert_eq!(
            MessageKind::ALL.len(),
            32,
            "29 types of the 2026 spec plus 3 legacy ones"
        );
    }
}
