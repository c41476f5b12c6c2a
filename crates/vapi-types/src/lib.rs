//! Serde types for every message Vapi POSTs to a Server URL, and for every answer a server sends back.
//!
//! This crate is the only place in Switchboard that knows Vapi's wire JSON. It parses a webhook body into a
//! [`ServerMessage`] (common fields plus a typed [`MessageBody`] per message type) and defines the response
//! bodies in [`response`]. It tolerates what Vapi really sends rather than only what its spec says: tool
//! arguments as objects or strings, ISO or epoch timestamps, `null`s, missing optional fields and extra fields.
//! A type it does not know parses as [`MessageBody::Unknown`], keeping its name and raw JSON.
//!
//! It deliberately does no I/O and holds no domain logic: what a message *means* for a call lives in
//! `call-state`.

mod common;
pub mod control;
pub mod conversation;
mod lenient;
mod message;
mod openai;
mod parse;
pub mod response;

pub use common::{
    Artifact, Assistant, AssistantTranscriber, AssistantVoice, Call, Common, Customer, Monitor, PhoneNumber, Timestamp,
};
pub use control::ControlMessage;
pub use conversation::{Conversation, ConversationSource, ConversationTurn, TurnRole};
pub use message::{
    ArtifactUpload, AssistantSpeechStarted, AssistantStarted, CallArtifactUpload, CampaignPredial, ChatEvent,
    ConversationUpdate, EndOfCallReport, EndpointingRequest, FunctionCallRequest, HandoffDestinationRequest,
    KnowledgeBaseRequest, LanguageChange, LegacyFunctionCall, MessageBody, MessageKind, ModelOutput, PhoneCallControl,
    ServerMessage, SessionEvent, SpeechUpdate, StatusUpdate, ToolCallsRequest, ToolWithToolCall, Transcript,
    TransferUpdate, UserInterrupted, VoiceInput, VoiceRequest,
};
pub use openai::{Arguments, ConversationMessage, FunctionCall, OpenAiMessage, ToolCall};
pub use parse::{MAX_CALL_ID_BYTES, MAX_DEPTH, ParseError, parse_body};
pub use response::{EndpointingResponse, ToolCallResult, ToolCallsResponse};
