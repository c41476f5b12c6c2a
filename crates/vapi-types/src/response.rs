//! The bodies a server answers with, one type per answering message type.
//!
//! Optional fields are left out when `None`, so an answer carries only what was set. Shapes Switchboard
//! passes through without reading (an inline assistant, overrides, a handoff destination) stay
//! [`serde_json::Value`]s.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The answer to `tool-calls`: one result per tool call, always sent with HTTP 200.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ToolCallsResponse {
    /// One entry per `toolCallId`, in request order.
    #[serde(default)]
    pub results: Vec<ToolCallResult>,
    /// An error for the whole message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The result of one tool call: `result` or `error`, both strings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolCallResult {
    /// The tool's name (the spec requires it; Vapi accepts answers without it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The id of the call this answers.
    pub tool_call_id: String,
    /// The result text (objects are sent JSON-encoded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
    /// The error text, when the call failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// A message Vapi speaks instead of the tool's configured one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<Value>,
    /// Free-form metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
}

impl ToolCallResult {
    /// A successful result.
    pub fn ok(tool_call_id: impl Into<String>, name: impl Into<String>, result: impl Into<String>) -> Self {
        ToolCallResult {
            name: Some(name.into()),
            tool_call_id: tool_call_id.into(),
            result: Some(result.into()),
            ..Default::default()
        }
    }

    /// A failed result.
    pub fn err(tool_call_id: impl Into<String>, name: impl Into<String>, error: impl Into<String>) -> Self {
        ToolCallResult {
            name: Some(name.into()),
            tool_call_id: tool_call_id.into(),
            error: Some(error.into()),
            ..Default::default()
        }
    }
}

/// The answer to the legacy `function-call`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FunctionCallResponse {
    /// The result text.
    pub result: String,
}

/// The answer to `assistant-request`. `destination` wins over everything; `error` is spoken to the caller.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AssistantRequestResponse {
    /// A saved assistant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assistant_id: Option<String>,
    /// An inline (transient) assistant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assistant: Option<Value>,
    /// Overrides applied to the assistant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assistant_overrides: Option<Value>,
    /// A saved squad.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub squad_id: Option<String>,
    /// An inline squad.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub squad: Option<Value>,
    /// Overrides applied to the squad.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub squad_overrides: Option<Value>,
    /// A saved workflow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow_id: Option<String>,
    /// An inline workflow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow: Option<Value>,
    /// Overrides applied to the workflow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow_overrides: Option<Value>,
    /// Transfer the call straight away, skipping the AI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination: Option<Destination>,
    /// Refuse the call; Vapi speaks this text (an empty string makes it say "Unknown Error").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A transfer destination: a number, a SIP URI or another assistant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum Destination {
    /// A phone number.
    Number(NumberDestination),
    /// A SIP URI.
    Sip(SipDestination),
    /// Another assistant of the squad.
    Assistant(AssistantDestination),
}

/// A phone-number destination.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NumberDestination {
    /// The number in E.164 form.
    pub number: String,
    /// An extension to dial.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extension: Option<String>,
    /// The caller id to present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caller_id: Option<String>,
    /// Spoken before transferring (`""` transfers silently).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Other fields (`transferPlan`, `description`, ...), kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A SIP destination.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SipDestination {
    /// The SIP URI.
    pub sip_uri: String,
    /// Spoken before transferring.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Other fields (`sipHeaders`, `transferPlan`, ...), kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// An assistant destination.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AssistantDestination {
    /// The assistant's name in the squad.
    pub assistant_name: String,
    /// Spoken before transferring.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Other fields (`transferMode`, `description`, ...), kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The answer to `transfer-destination-request`: a destination, or an error (no transfer).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TransferDestinationResponse {
    /// Where to transfer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination: Option<Destination>,
    /// A message to speak (`{"type": "request-start", "content": "..."}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<Value>,
    /// Why there is no transfer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The answer to `handoff-destination-request`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HandoffDestinationResponse {
    /// An assistant or a squad to hand the call to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination: Option<HandoffDestination>,
    /// A result added to the conversation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
    /// Why the handoff should not happen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Where a dynamic handoff goes: an assistant or a squad.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum HandoffDestination {
    /// One assistant, saved (by id), of the squad (by name) or inline.
    Assistant(HandoffAssistant),
    /// A saved squad (by id) or an inline one.
    Squad(HandoffSquad),
}

/// An assistant handoff destination.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HandoffAssistant {
    /// A saved assistant's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assistant_id: Option<String>,
    /// An assistant of the current squad, by name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assistant_name: Option<String>,
    /// An inline assistant, passed through as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assistant: Option<Value>,
    /// Overrides applied to the assistant, passed through as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assistant_overrides: Option<Map<String, Value>>,
    /// Other fields (`contextEngineeringPlan`, `variableExtractionPlan`, ...), kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A squad handoff destination.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HandoffSquad {
    /// A saved squad's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub squad_id: Option<String>,
    /// An inline squad, passed through as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub squad: Option<Value>,
    /// The squad member that takes the call first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry_assistant_name: Option<String>,
    /// Overrides applied to the squad, passed through as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub squad_overrides: Option<Map<String, Value>>,
    /// Other fields, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The answer to `knowledge-base-request`: documents for the model, or a direct reply.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct KnowledgeBaseResponse {
    /// Relevant documents, best first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub documents: Option<Vec<KnowledgeDocument>>,
    /// A direct reply instead of documents (`custom-message` or OpenAI `{role, content}` form).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<Value>,
}

/// One knowledge-base document.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct KnowledgeDocument {
    /// The text given to the model.
    pub content: String,
    /// Relevance in `0..=1`.
    pub similarity: f64,
    /// A stable id for the document or chunk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uuid: Option<String>,
}

/// The answer to `call.endpointing.request`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EndpointingResponse {
    /// Seconds to wait after the user stops speaking, in `0..=15`.
    pub timeout_seconds: f64,
}

/// The answer to `campaign.predial`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct CampaignPredialResponse {
    /// Whether the contact may be dialled now.
    pub eligible: bool,
}

/// The answer to informational messages: `{}`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Acknowledgement {}
