//! The one place where Vapi wire messages become domain events.

use serde_json::Value;
use vapi_types::{Common, ConversationMessage, MessageBody, OpenAiMessage, ServerMessage, Timestamp};

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
        MessageBody::ConversationUpdate(update) => {
            if update.messages.is_empty() {
                conversation_from_openai(&update.messages_openai_formatted)
            } else {
                conversation_from_vapi(&update.messages)
            }
        }
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

/// Epoch milliseconds from Vapi's float `time`.
fn millis(time: Option<f64>) -> Option<i64> {
    time.filter(|t| t.is_finite()).map(|t| t as i64)
}

/// A conversation from Vapi's own log form (`messages[]`).
fn conversation_from_vapi(messages: &[ConversationMessage]) -> EventKind {
    let mut turns = Vec::with_capacity(messages.len());
    let mut tool_calls = Vec::new();
    let mut tool_results = Vec::new();
    for message in messages {
        let at_ms = millis(message.time);
        match message.role.as_str() {
            "tool_calls" => tool_calls.extend(message.tool_calls.iter().map(|call| ToolInvocation {
                id: call.id.clone(),
                name: call.function.name.clone(),
                arguments: call.function.arguments.clone().into_value(),
            })),
            "tool_call_result" => {
                let result = message.result.clone().or_else(|| message.message.clone());
                if let Some(text) = result.as_ref().filter(|text| !text.is_empty()) {
                    turns.push(Turn {
                        role: Role::Tool,
                        text: text.clone(),
                        at_ms,
                    });
                }
                if let Some(id) = &message.tool_call_id {
                    tool_results.push(ToolOutcome {
                        tool_call_id: id.clone(),
                        name: message.name.clone(),
                        result,
                        error: None,
                    });
                }
            }
            role => {
                if let (Some(role), Some(text)) = (Role::from_wire(role), message.message.as_ref())
                    && !text.is_empty()
                {
                    turns.push(Turn {
                        role,
                        text: text.clone(),
                        at_ms,
                    });
                }
            }
        }
    }
    EventKind::Conversation {
        turns,
        tool_calls,
        tool_results,
    }
}

/// A conversation from the OpenAI chat form (`messagesOpenAIFormatted[]`), for updates without `messages`.
fn conversation_from_openai(messages: &[OpenAiMessage]) -> EventKind {
    let mut turns = Vec::with_capacity(messages.len());
    let mut tool_calls = Vec::new();
    let mut tool_results = Vec::new();
    for message in messages {
        tool_calls.extend(message.tool_calls.iter().map(|call| ToolInvocation {
            id: call.id.clone(),
            name: call.function.name.clone(),
            arguments: call.function.arguments.clone().into_value(),
        }));
        let Some(role) = Role::from_wire(&message.role) else {
            continue;
        };
        if role == Role::Tool
            && let Some(id) = &message.tool_call_id
        {
            tool_results.push(ToolOutcome {
                tool_call_id: id.clone(),
                name: None,
                result: message.content.clone(),
                error: None,
            });
        }
        if let Some(text) = message.content.as_ref().filter(|text| !text.is_empty()) {
            turns.push(Turn {
                role,
                text: text.clone(),
                at_ms: None,
            });
        }
    }
    EventKind::Conversation {
        turns,
        tool_calls,
        tool_results,
    }
}
