//! The server messages: one typed body per message type, and the kind table that names them.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::common::Common;
use crate::lenient;
use crate::openai::{ConversationMessage, FunctionCall, OpenAiMessage, ToolCall};

/// A parsed webhook: the common fields and the type-specific body.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerMessage {
    /// Fields every message may carry (timestamp, call, customer, phone number, assistant, artifact).
    pub common: Common,
    /// The type-specific part.
    pub body: MessageBody,
}

impl ServerMessage {
    /// The message's kind.
    pub fn kind(&self) -> MessageKind {
        self.body.kind()
    }

    /// The call id, from `call.id`.
    pub fn call_id(&self) -> Option<&str> {
        self.common.call_id()
    }
}

macro_rules! kinds {
    ($( $(#[$doc:meta])* $kind:ident = $wire:literal, answers: $answers:literal; )*) => {
        /// Every message type Switchboard knows, plus [`MessageKind::Unknown`].
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum MessageKind {
            $( $(#[$doc])* $kind, )*
            /// A type this version does not know (Vapi adds types often).
            Unknown,
        }

        impl MessageKind {
            /// Every known kind, in catalog order (without `Unknown`).
            pub const ALL: &'static [MessageKind] = &[$(MessageKind::$kind),*];

            /// The `type` string Vapi sends; `"unknown"` for [`MessageKind::Unknown`].
            pub fn as_str(self) -> &'static str {
                match self {
                    $(MessageKind::$kind => $wire,)*
                    MessageKind::Unknown => "unknown",
                }
            }

            /// Whether Vapi reads the answer's body (the rest are informational: any 2xx will do).
            pub fn expects_answer(self) -> bool {
                match self {
                    $(MessageKind::$kind => $answers,)*
                    MessageKind::Unknown => false,
                }
            }

            /// The kind for a wire `type` string. `transcript[transcriptType="final"]` is a transcript.
            pub fn from_type(type_name: &str) -> MessageKind {
                match type_name {
                    $($wire => MessageKind::$kind,)*
                    "transcript[transcriptType=\"final\"]" => MessageKind::Transcript,
                    _ => MessageKind::Unknown,
                }
            }
        }
    };
}

kinds! {
    /// `assistant-request`: which assistant should take an inbound call.
    AssistantRequest = "assistant-request", answers: true;
    /// `tool-calls`: run the model's tool calls and answer their results.
    ToolCalls = "tool-calls", answers: true;
    /// `function-call`: the legacy single function call.
    FunctionCall = "function-call", answers: true;
    /// `transfer-destination-request`: where a transfer should go.
    TransferDestinationRequest = "transfer-destination-request", answers: true;
    /// `handoff-destination-request`: which assistant or squad a dynamic handoff goes to.
    HandoffDestinationRequest = "handoff-destination-request", answers: true;
    /// `knowledge-base-request`: documents for the model's next turn.
    KnowledgeBaseRequest = "knowledge-base-request", answers: true;
    /// `voice-request`: synthesize text; answered with raw PCM.
    VoiceRequest = "voice-request", answers: true;
    /// `call.endpointing.request`: how long to wait before the assistant speaks.
    CallEndpointingRequest = "call.endpointing.request", answers: true;
    /// `campaign.predial`: whether a campaign contact may be dialled.
    CampaignPredial = "campaign.predial", answers: true;
    /// `status-update`: the call's status changed.
    StatusUpdate = "status-update", answers: false;
    /// `end-of-call-report`: the final report after the call.
    EndOfCallReport = "end-of-call-report", answers: false;
    /// `conversation-update`: the conversation so far.
    ConversationUpdate = "conversation-update", answers: false;
    /// `transcript`: a partial or final transcript of one utterance.
    Transcript = "transcript", answers: false;
    /// `speech-update`: someone started or stopped speaking.
    SpeechUpdate = "speech-update", answers: false;
    /// `model-output`: a token or tool-call delta from the model.
    ModelOutput = "model-output", answers: false;
    /// `hang`: the assistant has not answered for several seconds.
    Hang = "hang", answers: false;
    /// `user-interrupted`: the caller spoke over the assistant.
    UserInterrupted = "user-interrupted", answers: false;
    /// `transfer-update`: a transfer happened.
    TransferUpdate = "transfer-update", answers: false;
    /// `phone-call-control`: the server must forward or hang up the call itself.
    PhoneCallControl = "phone-call-control", answers: false;
    /// `language-change-detected`: the transcriber detected a new language.
    LanguageChangeDetected = "language-change-detected", answers: false;
    /// `language-changed`: the 2024 name of `language-change-detected`.
    LanguageChanged = "language-changed", answers: false;
    /// `voice-input`: text the assistant is about to speak.
    VoiceInput = "voice-input", answers: false;
    /// `assistant.speechStarted`: the assistant began speaking a turn.
    AssistantSpeechStarted = "assistant.speechStarted", answers: false;
    /// `assistant.started`: a (new) assistant took over the call.
    AssistantStarted = "assistant.started", answers: false;
    /// `chat.created`: a text chat started.
    ChatCreated = "chat.created", answers: false;
    /// `chat.deleted`: a text chat was deleted.
    ChatDeleted = "chat.deleted", answers: false;
    /// `session.created`: a session started.
    SessionCreated = "session.created", answers: false;
    /// `session.updated`: a session changed.
    SessionUpdated = "session.updated", answers: false;
    /// `session.deleted`: a session was deleted.
    SessionDeleted = "session.deleted", answers: false;
    /// `call.deleted`: a call's data was deleted.
    CallDeleted = "call.deleted", answers: false;
    /// `call.delete.failed`: deleting a call's data failed.
    CallDeleteFailed = "call.delete.failed", answers: false;
    /// `call.artifact.upload`: artifacts were uploaded to customer storage.
    CallArtifactUpload = "call.artifact.upload", answers: false;
}

/// The type-specific part of a server message.
#[derive(Debug, Clone, PartialEq)]
#[allow(missing_docs)] // Each variant is the message type its kind documents.
pub enum MessageBody {
    AssistantRequest,
    ToolCalls(ToolCallsRequest),
    FunctionCall(FunctionCallRequest),
    TransferDestinationRequest,
    HandoffDestinationRequest(HandoffDestinationRequest),
    KnowledgeBaseRequest(KnowledgeBaseRequest),
    VoiceRequest(VoiceRequest),
    CallEndpointingRequest(EndpointingRequest),
    CampaignPredial(CampaignPredial),
    StatusUpdate(StatusUpdate),
    EndOfCallReport(Box<EndOfCallReport>),
    ConversationUpdate(ConversationUpdate),
    Transcript(Transcript),
    SpeechUpdate(SpeechUpdate),
    ModelOutput(ModelOutput),
    Hang,
    UserInterrupted(UserInterrupted),
    TransferUpdate(TransferUpdate),
    PhoneCallControl(PhoneCallControl),
    LanguageChangeDetected(LanguageChange),
    LanguageChanged(LanguageChange),
    VoiceInput(VoiceInput),
    AssistantSpeechStarted(AssistantSpeechStarted),
    AssistantStarted(AssistantStarted),
    ChatCreated(ChatEvent),
    ChatDeleted(ChatEvent),
    SessionCreated(SessionEvent),
    SessionUpdated(SessionEvent),
    SessionDeleted(SessionEvent),
    CallDeleted,
    CallDeleteFailed,
    CallArtifactUpload(CallArtifactUpload),
    /// A type Switchboard does not know: its name and the raw `message` object.
    Unknown {
        type_name: String,
        raw: Value,
    },
}

impl MessageBody {
    /// The kind of this body.
    pub fn kind(&self) -> MessageKind {
        use MessageBody as B;
        use MessageKind as K;
        match self {
            B::AssistantRequest => K::AssistantRequest,
            B::ToolCalls(_) => K::ToolCalls,
            B::FunctionCall(_) => K::FunctionCall,
            B::TransferDestinationRequest => K::TransferDestinationRequest,
            B::HandoffDestinationRequest(_) => K::HandoffDestinationRequest,
            B::KnowledgeBaseRequest(_) => K::KnowledgeBaseRequest,
            B::VoiceRequest(_) => K::VoiceRequest,
            B::CallEndpointingRequest(_) => K::CallEndpointingRequest,
            B::CampaignPredial(_) => K::CampaignPredial,
            B::StatusUpdate(_) => K::StatusUpdate,
            B::EndOfCallReport(_) => K::EndOfCallReport,
            B::ConversationUpdate(_) => K::ConversationUpdate,
            B::Transcript(_) => K::Transcript,
            B::SpeechUpdate(_) => K::SpeechUpdate,
            B::ModelOutput(_) => K::ModelOutput,
            B::Hang => K::Hang,
            B::UserInterrupted(_) => K::UserInterrupted,
            B::TransferUpdate(_) => K::TransferUpdate,
            B::PhoneCallControl(_) => K::PhoneCallControl,
            B::LanguageChangeDetected(_) => K::LanguageChangeDetected,
            B::LanguageChanged(_) => K::LanguageChanged,
            B::VoiceInput(_) => K::VoiceInput,
            B::AssistantSpeechStarted(_) => K::AssistantSpeechStarted,
            B::AssistantStarted(_) => K::AssistantStarted,
            B::ChatCreated(_) => K::ChatCreated,
            B::ChatDeleted(_) => K::ChatDeleted,
            B::SessionCreated(_) => K::SessionCreated,
            B::SessionUpdated(_) => K::SessionUpdated,
            B::SessionDeleted(_) => K::SessionDeleted,
            B::CallDeleted => K::CallDeleted,
            B::CallDeleteFailed => K::CallDeleteFailed,
            B::CallArtifactUpload(_) => K::CallArtifactUpload,
            B::Unknown { .. } => K::Unknown,
        }
    }
}

/// `tool-calls`: the model called one or more tools.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", from = "ToolCallsWire")]
pub struct ToolCallsRequest {
    /// The calls to answer, one result each (2024 payloads may send only the `toolCalls` alias).
    pub tool_call_list: Vec<ToolCall>,
    /// Each call with the definition of the tool it calls.
    pub tool_with_tool_call_list: Vec<ToolWithToolCall>,
}

/// `tool-calls` as sent: 2024 payloads carry `toolCalls` beside (or instead of) `toolCallList`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ToolCallsWire {
    #[serde(default, deserialize_with = "lenient::null_as_empty")]
    tool_call_list: Vec<ToolCall>,
    #[serde(default, deserialize_with = "lenient::null_as_empty")]
    tool_calls: Vec<ToolCall>,
    #[serde(default, deserialize_with = "lenient::null_as_empty")]
    tool_with_tool_call_list: Vec<ToolWithToolCall>,
}

impl From<ToolCallsWire> for ToolCallsRequest {
    fn from(wire: ToolCallsWire) -> Self {
        let mut tool_call_list = if wire.tool_call_list.is_empty() {
            wire.tool_calls
        } else {
            wire.tool_call_list
        };
        if tool_call_list.is_empty() {
            // The spec requires only `toolWithToolCallList`; its calls are the calls.
            tool_call_list = wire
                .tool_with_tool_call_list
                .iter()
                .filter_map(|t| t.tool_call.clone())
                .collect();
        }
        ToolCallsRequest {
            tool_call_list,
            tool_with_tool_call_list: wire.tool_with_tool_call_list,
        }
    }
}

/// A tool definition paired with one call of it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolWithToolCall {
    /// `function` for custom tools; other kinds exist (ghl, make, bash, ...).
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// Whether Vapi does not wait for this tool's result.
    #[serde(rename = "async", default)]
    pub is_async: Option<bool>,
    /// The function definition (`name`, `description`, `parameters`).
    pub function: Option<Value>,
    /// The call of this tool.
    pub tool_call: Option<ToolCall>,
}

/// `function-call`: the legacy single call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FunctionCallRequest {
    /// The function and its `parameters` (object in recorded payloads, a JSON string in old docs).
    pub function_call: LegacyFunctionCall,
}

/// The function of a legacy `function-call`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LegacyFunctionCall {
    /// The function name.
    pub name: String,
    /// Its parameters.
    #[serde(default)]
    pub parameters: crate::openai::Arguments,
}

impl From<LegacyFunctionCall> for FunctionCall {
    fn from(call: LegacyFunctionCall) -> Self {
        FunctionCall {
            name: call.name,
            arguments: call.parameters,
        }
    }
}

/// `handoff-destination-request`: a dynamic handoff needs a destination.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HandoffDestinationRequest {
    /// The handoff tool's arguments.
    #[serde(default)]
    pub parameters: Value,
}

/// `knowledge-base-request`: the model is about to answer and may use documents.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KnowledgeBaseRequest {
    /// The messages about to be sent to the model, OpenAI form.
    #[serde(
        rename = "messagesOpenAIFormatted",
        default,
        deserialize_with = "lenient::skip_invalid"
    )]
    pub messages_openai_formatted: Vec<OpenAiMessage>,
    /// The same messages in Vapi form (when sent).
    #[serde(default, deserialize_with = "lenient::skip_invalid")]
    pub messages: Vec<ConversationMessage>,
}

/// `voice-request`: synthesize `text` as raw PCM at `sample_rate`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VoiceRequest {
    /// The text to speak, usually one sentence.
    pub text: String,
    /// The output rate in Hz; the answer must be at exactly this rate.
    pub sample_rate: u32,
    /// The voice to use, when the payload names one.
    #[serde(default)]
    pub voice_id: Option<String>,
}

/// `call.endpointing.request`: how long to wait after the user stops speaking.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EndpointingRequest {
    /// The conversation so far, OpenAI form.
    #[serde(
        rename = "messagesOpenAIFormatted",
        default,
        deserialize_with = "lenient::skip_invalid"
    )]
    pub messages_openai_formatted: Vec<OpenAiMessage>,
    /// The conversation so far, Vapi form (when sent).
    #[serde(default, deserialize_with = "lenient::skip_invalid")]
    pub messages: Vec<ConversationMessage>,
}

/// `campaign.predial`: may this contact be dialled now?
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CampaignPredial {
    /// The campaign.
    pub campaign_id: Option<String>,
    /// The contact about to be dialled.
    #[serde(default)]
    pub contact: Value,
}

/// `status-update`: the call's status changed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusUpdate {
    /// `scheduled`, `queued`, `ringing`, `in-progress`, `forwarding` or `ended`.
    pub status: String,
    /// Why the call ended (with `ended`).
    pub ended_reason: Option<String>,
    /// Where the call is forwarded (with `forwarding`).
    pub destination: Option<Value>,
}

/// `end-of-call-report`: sent once after the call, with analysis, costs and the artifact.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EndOfCallReport {
    /// Why the call ended.
    pub ended_reason: Option<String>,
    /// Analysis: `summary`, `structuredData`, `successEvaluation`.
    pub analysis: Option<Value>,
    /// Total cost in USD.
    pub cost: Option<f64>,
    /// When the call started (ISO).
    pub started_at: Option<String>,
    /// When the call ended (ISO).
    pub ended_at: Option<String>,
    /// Call length in seconds (2025+ payloads).
    pub duration_seconds: Option<f64>,
    /// Top-level summary copy (2024+ payloads).
    #[serde(default, deserialize_with = "lenient::text")]
    pub summary: Option<String>,
    /// Top-level transcript copy.
    #[serde(default, deserialize_with = "lenient::text")]
    pub transcript: Option<String>,
    /// Top-level recording URL copy.
    pub recording_url: Option<String>,
    /// Top-level conversation copy (2024 payloads had only this).
    #[serde(default, deserialize_with = "lenient::skip_invalid")]
    pub messages: Vec<ConversationMessage>,
}

impl EndOfCallReport {
    /// The summary, from `analysis.summary` or the top-level copy.
    pub fn summary(&self) -> Option<&str> {
        self.analysis
            .as_ref()
            .and_then(|analysis| analysis.get("summary"))
            .and_then(Value::as_str)
            .or(self.summary.as_deref())
    }
}

/// `conversation-update`: the whole conversation so far.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConversationUpdate {
    /// The conversation, Vapi form.
    #[serde(default, deserialize_with = "lenient::skip_invalid")]
    pub messages: Vec<ConversationMessage>,
    /// The conversation, OpenAI form.
    #[serde(
        rename = "messagesOpenAIFormatted",
        default,
        deserialize_with = "lenient::skip_invalid"
    )]
    pub messages_openai_formatted: Vec<OpenAiMessage>,
}

/// `transcript`: one utterance, while it is spoken (`partial`) or once done (`final`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Transcript {
    /// `user` or `assistant`.
    pub role: String,
    /// `partial` or `final`; the `transcript[transcriptType="final"]` type implies `final`.
    #[serde(default)]
    pub transcript_type: Option<String>,
    /// The text.
    pub transcript: String,
    /// Whether security filtering changed the text.
    pub is_filtered: Option<bool>,
}

impl Transcript {
    /// Whether this is a final transcript of the utterance.
    pub fn is_final(&self) -> bool {
        self.transcript_type.as_deref() == Some("final")
    }
}

/// `speech-update`: someone started or stopped speaking.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SpeechUpdate {
    /// `started` or `stopped`.
    pub status: String,
    /// `user` or `assistant`.
    pub role: String,
    /// The 0-indexed turn.
    pub turn: Option<u64>,
}

/// `model-output`: a token (string) or tool-call deltas (array) from the model.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ModelOutput {
    /// The output, as sent.
    #[serde(default)]
    pub output: Value,
    /// The turn it belongs to.
    pub turn_id: Option<String>,
}

/// `user-interrupted`: the caller spoke over the assistant.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserInterrupted {
    /// The interrupted turn (matches `model-output.turnId`).
    pub turn_id: Option<String>,
}

/// `transfer-update`: the call was transferred.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TransferUpdate {
    /// Where it went (`assistant`, `number` or `sip` destination).
    pub destination: Option<Value>,
    /// The assistant transferred to, in squads.
    pub to_assistant: Option<Value>,
    /// The assistant transferred from, in squads.
    pub from_assistant: Option<Value>,
}

/// `phone-call-control`: the server must `forward` or `hang-up` the call itself.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PhoneCallControl {
    /// `forward` or `hang-up`.
    pub request: String,
    /// Where to forward.
    pub destination: Option<Value>,
}

/// `language-change-detected` (and the 2024 `language-changed`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LanguageChange {
    /// The new language code, such as `es`.
    pub language: String,
}

/// `voice-input`: text the assistant is about to speak.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VoiceInput {
    /// The text.
    pub input: String,
}

/// `assistant.speechStarted`: the assistant started speaking a turn.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AssistantSpeechStarted {
    /// The full text of the turn.
    pub text: String,
    /// The turn number.
    pub turn: Option<u64>,
    /// `model`, `force-say` or `custom-voice`.
    pub source: Option<String>,
    /// Word timing, when the voice provider gives it.
    pub timing: Option<Value>,
}

/// `assistant.started`: a (new) assistant took over.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AssistantStarted {
    /// The assistant that started.
    pub new_assistant: Option<crate::common::Assistant>,
}

/// `chat.created` / `chat.deleted`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatEvent {
    /// The chat, as sent.
    #[serde(default)]
    pub chat: Value,
}

/// `session.created` / `session.updated` / `session.deleted`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SessionEvent {
    /// The session, as sent.
    #[serde(default)]
    pub session: Value,
}

/// `call.artifact.upload`: which artifacts reached customer-owned storage.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CallArtifactUpload {
    /// One entry per artifact.
    #[serde(default, deserialize_with = "lenient::null_as_empty")]
    pub artifacts: Vec<ArtifactUpload>,
}

/// One uploaded artifact.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ArtifactUpload {
    /// `end-of-call-report`, `recording-mono`, `log`, ...
    #[serde(rename = "type")]
    pub kind: String,
    /// Whether the upload succeeded.
    #[serde(default)]
    pub success: bool,
}
