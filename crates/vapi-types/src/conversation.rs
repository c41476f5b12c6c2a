//! One reading of a conversation: Vapi's message lists, in whichever form a message carries them, as typed turns.
//!
//! Vapi sends the conversation in two forms, often both, in several places: its own log (`messages`: roles
//! `system`, `bot`, `user`, `tool_calls`, `tool_call_result`, with times) and the OpenAI chat form
//! (`messagesOpenAIFormatted`: roles `system`, `user`, `assistant`, `tool`, no times), in a message's body
//! (`conversation-update`, `knowledge-base-request`, `call.endpointing.request`, `end-of-call-report`) and in its
//! `artifact`. Everything that needs the conversation reads it here, so every part of Switchboard sees the same
//! turns.
//!
//! # Precedence
//! 1. The message body's own lists before the artifact's: they are what the message is about.
//! 2. Within one place, Vapi's form before the OpenAI form: it carries times and tool names, and the OpenAI
//!    form is the same conversation rebuilt for the model.
//! 3. The first list with at least one readable entry wins; lists are never mixed, since the same turns would
//!    then appear twice.
//!
//! # Leniency
//! Entries with an unknown role, without text (for spoken and system turns) or without a tool call id (for tool
//! results) are skipped; entries that are not objects never reach this module (the wire types drop them; a list that is not a list
//! fails the message, naming its path). Text
//! is trimmed; a non-finite or negative time is no time.

use serde::{Deserialize, Serialize};

use crate::message::{MessageBody, ServerMessage};
use crate::openai::{ConversationMessage, OpenAiMessage, ToolCall};

/// Who a conversation entry belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TurnRole {
    /// The caller (`user`).
    User,
    /// The assistant (`bot` in Vapi's form, `assistant` in OpenAI's).
    Assistant,
    /// The system prompt (`system`).
    System,
    /// The model calling tools (`tool_calls` in Vapi's form, an assistant entry with `tool_calls` in OpenAI's).
    ToolCall,
    /// A tool's result (`tool_call_result` in Vapi's form, `tool` or `function` in OpenAI's).
    ToolResult,
}

impl TurnRole {
    /// Whether this role speaks on the call (user or assistant).
    pub fn is_speaker(self) -> bool {
        matches!(self, TurnRole::User | TurnRole::Assistant)
    }
}

/// One entry of a conversation, whichever form it came in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConversationTurn {
    /// Who it belongs to.
    pub role: TurnRole,
    /// What was said, or a tool's result text; empty for [`TurnRole::ToolCall`].
    pub text: String,
    /// When it started, epoch milliseconds (Vapi's form only).
    pub at_ms: Option<i64>,
    /// The calls of a [`TurnRole::ToolCall`] entry.
    pub tool_calls: Vec<ToolCall>,
    /// The tool call a [`TurnRole::ToolResult`] answers.
    pub tool_call_id: Option<String>,
    /// The tool's name, for a [`TurnRole::ToolResult`] when the wire names it.
    pub name: Option<String>,
}

impl ConversationTurn {
    fn spoken(role: TurnRole, text: &str, at_ms: Option<i64>) -> Self {
        ConversationTurn {
            role,
            text: text.to_owned(),
            at_ms,
            tool_calls: Vec::new(),
            tool_call_id: None,
            name: None,
        }
    }
}

/// Where a conversation was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ConversationSource {
    /// The body's `messages` (Vapi's form).
    Messages,
    /// The body's `messagesOpenAIFormatted`.
    MessagesOpenAi,
    /// `artifact.messages`.
    ArtifactMessages,
    /// `artifact.messagesOpenAIFormatted`.
    ArtifactMessagesOpenAi,
}

/// A conversation as one message carried it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Conversation {
    /// The turns, in order.
    pub turns: Vec<ConversationTurn>,
    /// The list they were read from.
    pub source: ConversationSource,
}

impl Conversation {
    /// The spoken turns (user and assistant).
    pub fn spoken(&self) -> impl DoubleEndedIterator<Item = &ConversationTurn> {
        self.turns.iter().filter(|turn| turn.role.is_speaker())
    }
}

/// The turns of Vapi's log form (`messages[]`), skipping what cannot be read.
pub fn from_vapi(messages: &[ConversationMessage]) -> Vec<ConversationTurn> {
    let mut turns = Vec::with_capacity(messages.len());
    for message in messages {
        let at_ms = millis(message.time);
        let text = message.message.as_deref().map(str::trim).unwrap_or_default();
        match message.role.as_str() {
            "tool_calls" => {
                if !message.tool_calls.is_empty() {
                    turns.push(ConversationTurn {
                        tool_calls: message.tool_calls.clone(),
                        ..ConversationTurn::spoken(TurnRole::ToolCall, "", at_ms)
                    });
                }
            }
            "tool_call_result" | "tool" => {
                let Some(id) = message.tool_call_id.as_ref() else {
                    continue;
                };
                let result = message.result.as_deref().or(message.message.as_deref());
                turns.push(ConversationTurn {
                    tool_call_id: Some(id.clone()),
                    name: message.name.clone(),
                    ..ConversationTurn::spoken(TurnRole::ToolResult, result.map(str::trim).unwrap_or_default(), at_ms)
                });
            }
            role => {
                if let Some(role) = spoken_role(role)
                    && !text.is_empty()
                {
                    turns.push(ConversationTurn::spoken(role, text, at_ms));
                }
            }
        }
    }
    turns
}

/// The turns of the OpenAI chat form (`messagesOpenAIFormatted[]`), skipping what cannot be read. An assistant
/// entry with both text and tool calls gives an assistant turn, then a tool-call turn.
pub fn from_openai(messages: &[OpenAiMessage]) -> Vec<ConversationTurn> {
    let mut turns = Vec::with_capacity(messages.len());
    for message in messages {
        let text = message.content.as_deref().map(str::trim).unwrap_or_default();
        match message.role.as_str() {
            "tool" | "function" => {
                if let Some(id) = &message.tool_call_id {
                    turns.push(ConversationTurn {
                        tool_call_id: Some(id.clone()),
                        ..ConversationTurn::spoken(TurnRole::ToolResult, text, None)
                    });
                }
            }
            role => {
                let Some(role) = spoken_role(role) else {
                    continue;
                };
                if !text.is_empty() {
                    turns.push(ConversationTurn::spoken(role, text, None));
                }
                if role == TurnRole::Assistant && !message.tool_calls.is_empty() {
                    turns.push(ConversationTurn {
                        tool_calls: message.tool_calls.clone(),
                        ..ConversationTurn::spoken(TurnRole::ToolCall, "", None)
                    });
                }
            }
        }
    }
    turns
}

/// The conversation in a pair of lists (Vapi's form, OpenAI form), by the precedence above; `None` when neither
/// has a readable entry.
pub fn read_lists(vapi: &[ConversationMessage], openai: &[OpenAiMessage]) -> Option<Vec<ConversationTurn>> {
    read_pair(vapi, openai).map(|(turns, _)| turns)
}

/// The lists, in precedence order, and which source each is.
fn read_pair(vapi: &[ConversationMessage], openai: &[OpenAiMessage]) -> Option<(Vec<ConversationTurn>, bool)> {
    let turns = from_vapi(vapi);
    if !turns.is_empty() {
        return Some((turns, true));
    }
    let turns = from_openai(openai);
    (!turns.is_empty()).then_some((turns, false))
}

impl ServerMessage {
    /// The conversation this message carries, by the module's precedence (body before artifact, Vapi's form
    /// before OpenAI's); `None` when it carries none.
    pub fn conversation(&self) -> Option<Conversation> {
        let body: Option<(&[ConversationMessage], &[OpenAiMessage])> = match &self.body {
            MessageBody::ConversationUpdate(update) => Some((&update.messages, &update.messages_openai_formatted)),
            MessageBody::KnowledgeBaseRequest(request) => Some((&request.messages, &request.messages_openai_formatted)),
            MessageBody::CallEndpointingRequest(request) => {
                Some((&request.messages, &request.messages_openai_formatted))
            }
            MessageBody::EndOfCallReport(report) => Some((&report.messages, &[])),
            _ => None,
        };
        if let Some((turns, vapi)) = body.and_then(|(vapi, openai)| read_pair(vapi, openai)) {
            let source = if vapi {
                ConversationSource::Messages
            } else {
                ConversationSource::MessagesOpenAi
            };
            return Some(Conversation { turns, source });
        }
        let artifact = self.common.artifact.as_ref()?;
        let (turns, vapi) = read_pair(&artifact.messages, &artifact.messages_openai_formatted)?;
        let source = if vapi {
            ConversationSource::ArtifactMessages
        } else {
            ConversationSource::ArtifactMessagesOpenAi
        };
        Some(Conversation { turns, source })
    }
}

/// The spoken or system role of a role string, in either form.
fn spoken_role(role: &str) -> Option<TurnRole> {
    match role {
        "user" => Some(TurnRole::User),
        "assistant" | "bot" => Some(TurnRole::Assistant),
        "system" => Some(TurnRole::System),
        _ => None,
    }
}

/// Epoch milliseconds from Vapi's float `time`.
fn millis(time: Option<f64>) -> Option<i64> {
    time.filter(|t| (0.0..1e15).contains(t)).map(|t| t as i64)
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::parse_body;

    fn message(body: Value) -> ServerMessage {
        parse_body(json!({ "message": body }).to_string().as_bytes()).expect("parses")
    }

    fn texts(conversation: &Conversation) -> Vec<(TurnRole, &str)> {
        conversation
            .turns
            .iter()
            .map(|turn| (turn.role, turn.text.as_str()))
            .collect()
    }

    fn vapi_log() -> Value {
        json!([
            {"role": "system", "message": "You are a receptionist.", "time": 1000, "secondsFromStart": 0},
            {"role": "bot", "message": "Hello, how can I help?", "time": 1500.7, "endTime": 2500},
            {"role": "user", "message": " I want to move my appointment. ", "time": 3000},
            {"role": "tool_calls", "message": "", "time": 4000, "toolCalls": [
                {"id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": "{\"day\": \"monday\"}"}}
            ]},
            {"role": "tool_call_result", "toolCallId": "call_1", "name": "lookup", "result": "Monday is free", "time": 4100}
        ])
    }

    fn openai_log() -> Value {
        json!([
            {"role": "system", "content": "You are a receptionist."},
            {"role": "assistant", "content": "Hello, how can I help?"},
            {"role": "user", "content": [{"type": "text", "text": "I want to move"}, {"type": "text", "text": " my appointment."}]},
            {"role": "assistant", "content": "Let me look.", "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": {"day": "monday"}}}
            ]},
            {"role": "tool", "tool_call_id": "call_1", "content": "Monday is free"}
        ])
    }

    #[test]
    fn vapi_form_gives_every_role_with_times() {
        let update = message(json!({"type": "conversation-update", "messages": vapi_log()}));
        let conversation = update.conversation().unwrap();
        assert_eq!(conversation.source, ConversationSource::Messages);
        assert_eq!(
            texts(&conversation),
            [
                (TurnRole::System, "You are a receptionist."),
                (TurnRole::Assistant, "Hello, how can I help?"),
                (TurnRole::User, "I want to move my appointment."),
                (TurnRole::ToolCall, ""),
                (TurnRole::ToolResult, "Monday is free"),
            ]
        );
        let times: Vec<_> = conversation.turns.iter().map(|turn| turn.at_ms).collect();
        assert_eq!(times, [Some(1000), Some(1500), Some(3000), Some(4000), Some(4100)]);
        let call = &conversation.turns[3].tool_calls[0];
        assert_eq!((call.id.as_str(), call.function.name.as_str()), ("call_1", "lookup"));
        assert_eq!(call.function.arguments.0, json!({"day": "monday"}));
        let result = &conversation.turns[4];
        assert_eq!(result.tool_call_id.as_deref(), Some("call_1"));
        assert_eq!(result.name.as_deref(), Some("lookup"));
    }

    #[test]
    fn openai_form_splits_text_and_tool_calls() {
        let update = message(json!({"type": "conversation-update", "messagesOpenAIFormatted": openai_log()}));
        let conversation = update.conversation().unwrap();
        assert_eq!(conversation.source, ConversationSource::MessagesOpenAi);
        assert_eq!(
            texts(&conversation),
            [
                (TurnRole::System, "You are a receptionist."),
                (TurnRole::Assistant, "Hello, how can I help?"),
                (TurnRole::User, "I want to move my appointment."),
                (TurnRole::Assistant, "Let me look."),
                (TurnRole::ToolCall, ""),
                (TurnRole::ToolResult, "Monday is free"),
            ]
        );
        assert!(conversation.turns.iter().all(|turn| turn.at_ms.is_none()));
        assert_eq!(conversation.turns[4].tool_calls[0].id, "call_1");
    }

    #[test]
    fn artifact_forms_are_read_when_the_body_has_none() {
        let tool_calls = message(json!({
            "type": "tool-calls", "toolCallList": [],
            "artifact": {"messages": vapi_log(), "messagesOpenAIFormatted": openai_log()}
        }));
        let conversation = tool_calls.conversation().unwrap();
        assert_eq!(conversation.source, ConversationSource::ArtifactMessages);
        assert_eq!(conversation.turns.len(), 5);

        let status = message(json!({
            "type": "status-update", "status": "in-progress",
            "artifact": {"messagesOpenAIFormatted": openai_log()}
        }));
        let conversation = status.conversation().unwrap();
        assert_eq!(conversation.source, ConversationSource::ArtifactMessagesOpenAi);
        assert_eq!(conversation.spoken().count(), 3);

        let bare = message(json!({"type": "hang", "artifact": {"messages": []}}));
        assert_eq!(bare.conversation(), None);
        let none = message(json!({"type": "hang"}));
        assert_eq!(none.conversation(), None);
    }

    #[test]
    fn precedence_body_before_artifact_and_vapi_before_openai() {
        let request = message(json!({
            "type": "knowledge-base-request",
            "messages": [{"role": "user", "message": "from the body, Vapi form"}],
            "messagesOpenAIFormatted": [{"role": "user", "content": "from the body, OpenAI form"}],
            "artifact": {"messages": [{"role": "user", "message": "from the artifact"}]}
        }));
        let conversation = request.conversation().unwrap();
        assert_eq!(conversation.source, ConversationSource::Messages);
        assert_eq!(texts(&conversation), [(TurnRole::User, "from the body, Vapi form")]);

        // A body list with nothing readable gives way to the next one; lists are never mixed.
        let request = message(json!({
            "type": "call.endpointing.request",
            "messages": [{"role": "narrator", "message": "?"}, {"role": "user", "message": "  "}],
            "messagesOpenAIFormatted": [{"role": "user", "content": "openai"}]
        }));
        let conversation = request.conversation().unwrap();
        assert_eq!(conversation.source, ConversationSource::MessagesOpenAi);
        assert_eq!(texts(&conversation), [(TurnRole::User, "openai")]);

        let report = message(json!({
            "type": "end-of-call-report",
            "messages": [{"role": "bot", "message": "Bye"}],
            "artifact": {"messages": [{"role": "bot", "message": "artifact copy"}]}
        }));
        assert_eq!(texts(&report.conversation().unwrap()), [(TurnRole::Assistant, "Bye")]);
    }

    #[test]
    fn garbage_entries_are_skipped_not_fatal() {
        let body = json!({
            "type": "tool-calls", "toolCallList": [],
            "artifact": {
                "messages": [
                    42, null, "text", [], {},
                    {"role": 5, "message": "numeric role"},
                    {"role": "user", "message": "kept", "time": "yesterday"},
                    {"role": "user", "message": "kept too", "time": 1e300},
                    {"role": "user"},
                    {"role": "bot", "message": {"nested": true}},
                    {"role": "tool_call_result", "result": "no id"},
                    {"role": "tool_calls", "toolCalls": [{"id": 3}]},
                    {"role": "tool_calls", "toolCalls": [7]},
                    {"role": "user", "message": "last", "time": -5}
                ]
            }
        });
        let conversation = message(body).conversation().unwrap();
        assert_eq!(
            texts(&conversation),
            [
                (TurnRole::User, "kept too"),
                (TurnRole::Assistant, "{\"nested\":true}"),
                (TurnRole::User, "last"),
            ]
        );
        assert_eq!(conversation.turns[2].at_ms, None, "a negative time is no time");
    }

    #[test]
    fn a_list_that_is_not_a_list_is_an_error_naming_it() {
        let body = json!({"message": {"type": "hang", "artifact": {"messagesOpenAIFormatted": "nope"}}});
        let error = parse_body(body.to_string().as_bytes()).unwrap_err();
        assert_eq!(error.field(), Some("message.artifact.messagesOpenAIFormatted"));
    }

    #[test]
    fn every_sample_with_a_conversation_reads_it() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/vapi");
        let mut read = 0;
        for entry in std::fs::read_dir(&dir).expect("fixtures") {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|ext| ext != "json") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let Ok(message) = parse_body(text.as_bytes()) else {
                continue;
            };
            let raw: Value = serde_json::from_str(&text).unwrap();
            let inner = &raw["message"];
            let has_list = ["messages", "messagesOpenAIFormatted"].iter().any(|key| {
                inner[key].as_array().is_some_and(|list| !list.is_empty())
                    || inner["artifact"][key].as_array().is_some_and(|list| !list.is_empty())
            });
            let skipped = matches!(message.body, MessageBody::VoiceRequest(_));
            if has_list && !skipped {
                let conversation = message.conversation();
                assert!(conversation.is_some(), "{}", path.display());
                read += 1;
            }
        }
        assert!(read >= 10, "only {read} samples carried a conversation");
    }
}
