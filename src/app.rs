//! The wiring: what Switchboard does with each parsed message.
//!
//! [`Switchboard`] is a cheap cloneable handle shared by every request. It owns the configuration, the call
//! runtime and the metrics. It knows nothing of HTTP status codes; the edge in [`crate::http`] does.

use std::sync::Arc;

use axum::body::Bytes;
use call_runtime::{CallRuntime, RuntimeError, Store, StoredReport};
use serde::Serialize;
use serde_json::Value;
use vapi_types::response::{Acknowledgement, CampaignPredialResponse};
use vapi_types::{MessageBody, ServerMessage};

use crate::answer;
use crate::config::Config;
use crate::metrics::Metrics;

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

/// The server: configuration, the call runtime and metrics. Cloning is cheap; all clones share one server,
/// which lives as long as the last clone (call [`Switchboard::shutdown`] to persist calls first).
#[derive(Clone)]
pub struct Switchboard {
    inner: Arc<Inner>,
}

struct Inner {
    config: Config,
    runtime: CallRuntime,
    metrics: Metrics,
    voice: voice::VoiceService,
    endpointer: endpointing::Endpointer,
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The call runtime did not start.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// The voice configuration is unusable.
    #[error("voice: {0}")]
    Voice(#[from] voice::VoiceError),
    /// The endpointing configuration is unusable.
    #[error("endpointing: {0}")]
    Endpointing(#[from] endpointing::EndpointingError),
}

impl Switchboard {
    /// Starts the server's services from a validated configuration.
    pub async fn start(config: Config) -> Result<Switchboard, StartError> {
        let voice = voice::VoiceService::new(config.voice.clone())?;
        let endpointer = endpointing::Endpointer::new(config.endpointing.clone())?;
        let runtime = CallRuntime::start(Store::default(), config.calls.clone()).await?;
        let metrics = Metrics::new(runtime.clone());
        Ok(Switchboard {
            inner: Arc::new(Inner {
                config,
                runtime,
                metrics,
                voice,
                endpointer,
            }),
        })
    }

    /// The custom voice service.
    pub fn voice(&self) -> &voice::VoiceService {
        &self.inner.voice
    }

    /// The endpointing service.
    pub fn endpointer(&self) -> &endpointing::Endpointer {
        &self.inner.endpointer
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The call runtime.
    pub fn runtime(&self) -> &CallRuntime {
        &self.inner.runtime
    }

    /// The metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// `Ok` when the server can take traffic, or why not.
    pub async fn readiness(&self) -> Result<(), String> {
        let store = self.inner.runtime.store();
        store
            .ping()
            .await
            .map_err(|error| format!("{} store: {error}", store.name()))
    }

    /// Stops every call actor, persisting each call's state.
    pub async fn shutdown(&self) {
        self.inner.runtime.shutdown().await;
    }

    /// Handles one authenticated, parsed webhook. `raw` is the body as received; `conversation_id` comes from
    /// the `/api/webhook/{conversation_id}` path form.
    pub async fn handle(&self, message: ServerMessage, raw: Bytes, conversation_id: Option<String>) -> Reply {
        // The dedicated servers' messages carry nothing for call state and must answer fast.
        match &message.body {
            MessageBody::VoiceRequest(request) => {
                return Reply::Response(self.inner.voice.respond(request.clone()).await);
            }
            MessageBody::CallEndpointingRequest(request) => return Reply::json(self.inner.endpointer.answer(request)),
            _ => {}
        }
        if let Err(error) = self.record(&message, &raw, conversation_id.as_deref()).await {
            if message.kind().expects_answer() {
                // Answering types are still answered from what this instance knows (Vapi waits on them).
                tracing::warn!(%error, kind = message.kind().as_str(), "answering without recording the event");
            } else {
                tracing::warn!(%error, kind = message.kind().as_str(), "event not acknowledged");
                return Reply::Unavailable(error.to_string());
            }
        }
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
            MessageBody::Hang => {
                tracing::warn!(
                    call_id = message.call_id(),
                    "hang: the assistant has not answered for a while"
                );
                self.inner.metrics.hang();
                Reply::json(Acknowledgement {})
            }
            MessageBody::Unknown { type_name, .. } => {
                tracing::debug!(type_name, "ignoring unknown message type");
                Reply::json(Acknowledgement {})
            }
            _ => Reply::json(Acknowledgement {}),
        }
    }

    /// Hands the message's call event to its actor and stores an end-of-call report verbatim.
    async fn record(
        &self,
        message: &ServerMessage,
        raw: &Bytes,
        conversation_id: Option<&str>,
    ) -> Result<(), RuntimeError> {
        let runtime = &self.inner.runtime;
        if let (MessageBody::EndOfCallReport(report), Some(call_id)) = (&message.body, message.call_id()) {
            runtime
                .save_report(StoredReport {
                    call_id: call_id.to_string(),
                    ended_reason: report.ended_reason.clone(),
                    summary: report.summary().map(str::to_string),
                    cost: report.cost,
                    duration_seconds: report.duration_seconds,
                    received_at_ms: crate::http::now_ms(),
                    body: String::from_utf8_lossy(raw).into_owned(),
                })
                .await?;
        }
        if let (Some(conversation_id), Some(call_id)) = (conversation_id, message.call_id()) {
            runtime.store().link_conversation(call_id, conversation_id).await?;
        }
        match call_state::event_from_message(message) {
            Some(event) => runtime.ingest(event).await,
            None => Ok(()),
        }
    }
}
