//! The one place where Vapi wire messages become domain events.

use serde_json::Value;
use vapi_types::{Common, ConversationTurn, MessageBody, ServerMessage, Timestamp, TurnRole};

use crate::event::{CallEvent, EventKind, Metadata, Role, ToolInvocation, ToolOutcome, Turn};

/// The domain event a wire message carries for its call's state.
///
/// `None` when the message has no call id, or carries nothing for call state (`voice-request`,
/// `model-output`, `knowledge-base-request`, unknown types, ...). `assistant-request` and `assistant.started`
/// yield [`EventKind::Metadata`]. Every event carries the message's call metadata (customer, phone number,
/// assistant) in [`CallEvent::meta`], and its id is computed from its content.
pub fn event_from_message(message: &ServerMessage) -> Option<CallEvent> {
    let call_id = message.call_id()?;
    let at_ms = message.common.timestamp.as_ref().and_then(Timestamp::as_millis);
    let mut meta = metadata_of(&message.common);
    let kind = match &message.body {
        MessageBody::AssistantRequest => EventKind::Metadata,
        MessageBody::AssistantStarted(started) => {
            // The assistant taking over is the newest truth about who is active.
            if let Some(assistant) = &started.new_assistant {
                if assistant.id.is_some() {
                    meta.assistant_id.clone_from(&assistant.id);
                }
                if assistant.name.is_some() {
                    meta.assistant_name.clone_from(&assistant.name);
                }
            }
            EventKind::Metadata
        }
        MessageBody::StatusUpdate(update) => EventKind::Status {
            status: update.status.clone(),
            ended_reason: update.ended_reason.clone(),
        },
        MessageBody::Transcript(transcript) => EventKind::Transcript {
            role: speaker(&transcript.role)?,
            is_final: transcript.is_final(),
            text: transcript.transcript.clone(),
        },
        MessageBody::SpeechUpdate(update) => EventKind::Speech {
            role: speaker(&update.role)?,
            started: match update.status.as_str() {
                "started" => true,
                "stopped" => false,
                _ => return None,
            },
            turn: update.turn,
        },
        MessageBody::ConversationUpdate(_) => conversation_event(
            &message
                .conversation()
                .map(|conversation| conversation.turns)
                .unwrap_or_default(),
        ),
        MessageBody::ToolCalls(request) => EventKind::ToolCalls {
            calls: request
                .tool_call_list
                .iter()
                .map(|call| ToolInvocation {
                    id: call.id.clone(),
                    name: call.function.name.clone(),
                    arguments: call.function.arguments.clone().into_value(),
                })
                .collect(),
        },
        MessageBody::FunctionCall(request) => {
            // The legacy function call has no id; derive a stable one from its content so that the answer the
            // runtime records (a `ToolResult` with this id) attaches to it.
            let call = &request.function_call;
            let arguments = call.parameters.clone().into_value();
            let provisional = CallEvent::new(
                call_id,
                at_ms,
                EventKind::ToolCalls {
                    calls: vec![ToolInvocation {
                        id: String::new(),
                        name: call.name.clone(),
                        arguments: arguments.clone(),
                    }],
                },
            );
            EventKind::ToolCalls {
                calls: vec![ToolInvocation {
                    id: format!("function-call-{}", provisional.id),
                    name: call.name.clone(),
                    arguments,
                }],
            }
        }
        MessageBody::Hang => EventKind::Hang,
        MessageBody::UserInterrupted(interrupted) => EventKind::Interrupted {
            turn_id: interrupted.turn_id.clone(),
        },
        MessageBody::LanguageChangeDetected(change) | MessageBody::LanguageChanged(change) => EventKind::Language {
            language: change.language.clone(),
        },
        MessageBody::TransferUpdate(update) => {
            let destination = update.destination.as_ref();
            let field = |name: &str| destination.and_then(|d| d.get(name)).and_then(Value::as_str);
            EventKind::Transfer {
                kind: field("type").map(str::to_owned),
                target: field("number")
                    .or_else(|| field("sipUri"))
                    .or_else(|| field("assistantName"))
                    .map(str::to_owned),
                to_assistant: assistant_label(update.to_assistant.as_ref()),
                from_assistant: assistant_label(update.from_assistant.as_ref()),
            }
        }
        MessageBody::PhoneCallControl(control) => {
            let destination = control.destination.as_ref();
            let field = |name: &str| destination.and_then(|d| d.get(name)).and_then(Value::as_str);
            EventKind::PhoneCallControl {
                request: control.request.clone(),
                kind: field("type").map(str::to_owned),
                target: field("number").or_else(|| field("sipUri")).map(str::to_owned),
            }
        }
        MessageBody::EndOfCallReport(report) => EventKind::EndOfCallReport {
            ended_reason: report.ended_reason.clone(),
            summary: report.summary().map(str::to_owned),
            cost: report.cost,
            duration_seconds: report.duration_seconds,
            ended_at_ms: report
                .ended_at
                .as_ref()
                .and_then(|at| Timestamp::Iso(at.clone()).as_millis()),
        },
        _ => return None,
    };
    Some(CallEvent::new(call_id, at_ms, kind).with_meta(meta))
}

/// Every domain event a wire message carries, in the order to fold them: the conversation it shows when it is
/// not a `conversation-update` ([`EventKind::ConversationSeen`]: the artifact of any message, the lists of a
/// `knowledge-base-request` or `call.endpointing.request`), then its own event ([`event_from_message`]).
///
/// Empty when the message has no call id. The seen conversation's id is computed from its content (and the
/// message's timestamp), like every event's.
pub fn events_from_message(message: &ServerMessage) -> Vec<CallEvent> {
    let mut events = Vec::with_capacity(2);
    if let Some(seen) = conversation_seen(message) {
        events.push(seen);
    }
    events.extend(event_from_message(message));
    events
}

/// The [`EventKind::ConversationSeen`] of a message that is not a `conversation-update` and carries at least one
/// turn with text.
pub fn conversation_seen(message: &ServerMessage) -> Option<CallEvent> {
    if matches!(message.body, MessageBody::ConversationUpdate(_)) {
        return None;
    }
    let call_id = message.call_id()?;
    let conversation = message.conversation()?;
    let turns = turns_of(&conversation.turns);
    if turns.is_empty() {
        return None;
    }
    let at_ms = message.common.timestamp.as_ref().and_then(Timestamp::as_millis);
    Some(CallEvent::new(call_id, at_ms, EventKind::ConversationSeen { turns }))
}

/// A transcript or speech role: only the two speakers.
fn speaker(role: &str) -> Option<Role> {
    Role::from_wire(role).filter(|role| role.is_speaker())
}

/// The call metadata of a message's common fields.
fn metadata_of(common: &Common) -> Metadata {
    let call = common.call.as_ref();
    let customer = common.customer();
    let phone = common.phone_number.as_ref();
    let assistant = common.assistant.as_ref();
    Metadata {
        call_type: call.and_then(|c| c.call_type.clone()),
        customer_number: customer.and_then(|c| c.number.clone().or_else(|| c.sip_uri.clone())),
        customer_name: customer.and_then(|c| c.name.clone()),
        phone_number: phone.and_then(|p| p.number.clone()),
        phone_number_id: phone
            .and_then(|p| p.id.clone())
            .or_else(|| call.and_then(|c| c.phone_number_id.clone())),
        assistant_id: assistant
            .and_then(|a| a.id.clone())
            .or_else(|| call.and_then(|c| c.assistant_id.clone())),
        assistant_name: assistant.and_then(|a| a.name.clone()),
        started_at_ms: call
            .and_then(|c| c.started_at.as_ref())
            .and_then(|at| Timestamp::Iso(at.clone()).as_millis()),
    }
}

/// An assistant object's name, else its id.
fn assistant_label(assistant: Option<&Value>) -> Option<String> {
    let assistant = assistant?;
    assistant
        .get("name")
        .or_else(|| assistant.get("id"))
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// The call-state turns of a conversation: spoken, system and tool-result turns with text.
fn turns_of(conversation: &[ConversationTurn]) -> Vec<Turn> {
    conversation.iter().filter_map(Turn::from_conversation).collect()
}

impl Turn {
    /// The turn a conversation entry is, as every reader of a conversation maps it: a spoken, system or
    /// tool-result entry with text. `None` for a tool-call entry (its calls are tool records, not words) and an
    /// entry without text.
    pub fn from_conversation(entry: &ConversationTurn) -> Option<Turn> {
        let role = match entry.role {
            TurnRole::User => Role::User,
            TurnRole::Assistant => Role::Assistant,
            TurnRole::System => Role::System,
            TurnRole::ToolResult => Role::Tool,
            TurnRole::ToolCall => return None,
        };
        (!entry.text.is_empty()).then(|| Turn {
            role,
            text: entry.text.clone(),
            at_ms: entry.at_ms,
        })
    }
}

/// A `conversation-update`'s conversation: its turns and the tool calls and results it logs.
fn conversation_event(conversation: &[ConversationTurn]) -> EventKind {
    let mut tool_calls = Vec::new();
    let mut tool_results = Vec::new();
    for turn in conversation {
        match turn.role {
            TurnRole::ToolCall => tool_calls.extend(turn.tool_calls.iter().map(|call| ToolInvocation {
                id: call.id.clone(),
                name: call.function.name.clone(),
                arguments: call.function.arguments.clone().into_value(),
            })),
            TurnRole::ToolResult => tool_results.extend(turn.tool_call_id.as_ref().map(|id| ToolOutcome {
                tool_call_id: id.clone(),
                name: turn.name.clone(),
                result: (!turn.text.is_empty()).then(|| turn.text.clone()),
                error: None,
            })),
            _ => {}
        }
    }
    EventKind::Conversation {
        turns: turns_of(conversation),
        tool_calls,
        tool_results,
    }
}
