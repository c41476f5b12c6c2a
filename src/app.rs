//! The wiring: what Switchboard does with each parsed message.
//!
//! [`Switchboard`] is a cheap cloneable handle shared by every request. It owns the configuration and the
//! services behind the webhook. It knows nothing of HTTP status codes; the edge in [`crate::http`] does.

use std::sync::Arc;

use axum::body::Bytes;
use serde::Serialize;
use serde_json::Value;
use vapi_types::response::{Acknowledgement, CampaignPredialResponse};
use vapi_types::{MessageBody, ServerMessage};

use crate::answer;
use crate::config::Config;

/// What the webhook answers.
#[derive(Debug)]
pub enum Reply {
    /// `200` with this JSON body.
    Json(Value),
    /// A response built by a mounted service (the voice server's PCM stream).
    Response(axum::response::Response),
    /// `503`: the server cannot take the message now; Vapi may retry.
    Unavailable(String),
}

impl Reply {
    fn json(value: impl Serialize) -> Reply {
        // Response types serialize infallibly (no maps with non-string keys); `{}` is a safe fallback.
        Reply::Json(serde_json::to_value(value).unwrap_or_else(|_| Value::Object(Default::default())))
    }
}

/// The server: configuration and the services behind the webhook. Cloning is cheap; all clones share one
/// server, which lives as long as the last clone.
#[derive(Clone)]
pub struct Switchboard {
    inner: Arc<Inner>,
}

struct Inner {
    config: Config,
}

impl Switchboard {
    /// Builds the server from a validated configuration.
    pub fn new(config: Config) -> Switchboard {
        Switchboard {
            inner: Arc::new(Inner { config }),
        }
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// `Ok` when the server can take traffic, or why not.
    pub async fn readiness(&self) -> Result<(), String> {
        Ok(())
    }

    /// Handles one authenticated, parsed webhook. `raw` is the body as received; `conversation_id` comes from
    /// the `/api/webhook/{conversation_id}` path form.
    pub async fn handle(&self, message: ServerMessage, raw: Bytes, conversation_id: Option<String>) -> Reply {
        let _ = (&raw, &conversation_id);
        let config = &self.inner.config;
        match &message.body {
            MessageBody::ToolCalls(request) => Reply::json(answer::unknown_tools(request)),
            MessageBody::FunctionCall(request) => Reply::json(answer::unknown_function(&request.function_call.name)),
            MessageBody::AssistantRequest => Reply::json(answer::assistant_fallback(&config.answers)),
            MessageBody::TransferDestinationRequest => Reply::json(answer::no_transfer()),
            MessageBody::HandoffDestinationRequest(_) => Reply::json(answer::no_handoff()),
            MessageBody::KnowledgeBaseRequest(_) => Reply::json(answer::no_documents()),
            MessageBody::CampaignPredial(_) => Reply::json(CampaignPredialResponse {
                eligible: config.answers.campaign_eligible.unwrap_or(true),
            }),
            MessageBody::VoiceRequest(_) | MessageBody::CallEndpointingRequest(_) => {
                Reply::Unavailable(format!("`{}` is not served by this instance", message.kind().as_str()))
            }
            MessageBody::Unknown { type_name, .. } => {
                tracing::debug!(type_name, "ignoring unknown message type");
                Reply::json(Acknowledgement {})
            }
            _ => Reply::json(Acknowledgement {}),
        }
    }
}
