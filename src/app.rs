//! The wiring: what Switchboard does with each parsed message.
//!
//! [`Switchboard`] is a cheap cloneable handle shared by every request. It owns the configuration, the call
//! runtime and the metrics. It knows nothing of HTTP status codes; the edge in [`crate::http`] does.

use std::sync::Arc;

use axum::body::Bytes;
use call_runtime::{CallRuntime, RuntimeError, Store, StoredReport, Unclaimable};
use serde::Serialize;
use serde_json::Value;
use vapi_types::response::{Acknowledgement, CampaignPredialResponse, FunctionCallResponse, KnowledgeBaseResponse};
use vapi_types::{MessageBody, ServerMessage, ToolCallResult, ToolCallsResponse};

use crate::config::Config;
use crate::metrics::Metrics;
use crate::tools::{Finished, MemoryWrite, ToolCall, ToolContext, ToolRegistry};

/// What the webhook answers.
#[derive(Debug)]
pub enum Reply {
    /// `200` with this JSON body.
    Json(Value),
    /// A response built by a mounted service (the voice server's PCM stream).
    Response(axum::response::Response),
    /// `503`: the server cannot take the message now; Vapi may retry.
    Unavailable(String),
    /// `413`: the message's call event is too large to keep, even cut; a retry would not help.
    TooLarge(String),
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
    tools: ToolRegistry,
    alerter: Option<crate::alert::Alerter>,
    control: crate::control::Control,
    routes: routing::Routes,
    knowledge: knowledge::KnowledgeBase,
    /// One permit per core: knowledge searches running the sentence encoder at once. More would only share the
    /// cores, and the blocking pool's threads are for everyone.
    knowledge_slots: Arc<tokio::sync::Semaphore>,
    admin_token: crate::admin::AdminToken,
    monitor: crate::monitor::Bus,
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The call runtime did not start.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// The voice configuration is unusable.
    #[error("voice: {0}")]
    Voice(voice::VoiceError),
    /// The endpointing configuration is unusable.
    #[error("endpointing: {0}")]
    Endpointing(endpointing::EndpointingError),
    /// The knowledge base could not be loaded.
    #[error("knowledge: {0}")]
    Knowledge(knowledge::KnowledgeError),
    /// A routing rule is unusable.
    #[error(transparent)]
    Routing(#[from] routing::RoutingError),
    /// The tools configuration is unusable.
    #[error("{0}")]
    Tools(String),
}

// The three errors above are shown in their message, not as a source, so an error chain names each once.
impl From<voice::VoiceError> for StartError {
    fn from(error: voice::VoiceError) -> StartError {
        StartError::Voice(error)
    }
}

impl From<endpointing::EndpointingError> for StartError {
    fn from(error: endpointing::EndpointingError) -> StartError {
        StartError::Endpointing(error)
    }
}

impl From<knowledge::KnowledgeError> for StartError {
    fn from(error: knowledge::KnowledgeError) -> StartError {
        StartError::Knowledge(error)
    }
}

impl Switchboard {
    /// Starts the server's services from a validated configuration.
    pub async fn start(config: Config) -> Result<Switchboard, StartError> {
        Switchboard::start_with(config, ToolRegistry::new()).await
    }

    /// Starts the server with Rust tools of the embedding program added to the configured ones (a Rust tool
    /// replaces a configured tool of the same name).
    pub async fn start_with(config: Config, rust_tools: ToolRegistry) -> Result<Switchboard, StartError> {
        let routes = config.routing.compile(&config.base_dir)?;
        // Encoding a folder's chunks takes seconds with a sentence encoder: off the async workers.
        let knowledge_config = config.knowledge.clone();
        let knowledge = tokio::task::spawn_blocking(move || knowledge::KnowledgeBase::load(knowledge_config))
            .await
            .map_err(|error| StartError::Tools(format!("knowledge: the load task failed: {error}")))??;
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        let mut tools = crate::tools::configured(&config.tools).map_err(StartError::Tools)?;
        tools.extend(rust_tools);
        let voice = voice::VoiceService::new(config.voice.clone())?;
        let endpointer = endpointing::Endpointer::new(config.endpointing.clone())?;
        let store = match &config.redis {
            Some(redis) => Store::connect_with(redis, config.retention.clone())
                .await
                .map_err(RuntimeError::from)?,
            None => Store::memory(config.retention.clone()),
        };
        let runtime = CallRuntime::start_instance(store, config.calls.clone(), config.server.instance()).await?;
        let mut metrics = Metrics::new(runtime.clone());
        metrics.register_voice(voice.clone());
        metrics.set_tools(tools.names());
        let instance = Some(runtime.instance_id().to_string());
        let monitor = crate::monitor::Bus::new(config.monitor.clone(), instance, metrics.monitor_resyncs());
        let alerter = crate::alert::Alerter::start(&config.alerts);
        let control = crate::control::Control::start(&config.control, &config.telephony, runtime.clone())
            .map_err(StartError::Tools)?;
        metrics.register_collector(Box::new(control.collector()));
        let admin_token = crate::admin::AdminToken::new(config.admin.token.as_deref());
        Ok(Switchboard {
            inner: Arc::new(Inner {
                config,
                runtime,
                metrics,
                voice,
                endpointer,
                tools,
                alerter,
                control,
                routes,
                knowledge,
                knowledge_slots: Arc::new(tokio::sync::Semaphore::new(cores)),
                admin_token,
                monitor,
            }),
        })
    }

    /// The custom voice service.
    pub fn voice(&self) -> &voice::VoiceService {
        &self.inner.voice
    }

    /// The knowledge base.
    pub fn knowledge(&self) -> &knowledge::KnowledgeBase {
        &self.inner.knowledge
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

    /// The admin API's token: the configured one, or the one generated at start.
    pub fn admin_token(&self) -> &crate::admin::AdminToken {
        &self.inner.admin_token
    }

    /// The metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// The live call monitor's event bus.
    pub fn monitor(&self) -> &crate::monitor::Bus {
        &self.inner.monitor
    }

    /// Logs `event`, observes it in the metrics and publishes it to the monitor (see [`crate::monitor::emit`]).
    pub fn trace(&self, event: crate::monitor::MonitorEvent) {
        crate::monitor::emit(&self.inner.monitor, &self.inner.metrics, event);
    }

    /// `Ok` when the server can take traffic, or why not.
    pub async fn readiness(&self) -> Result<(), String> {
        self.inner.runtime.readiness().await
    }

    /// Sends what Live Call Control and the telephony bridge still have queued (for at most the shutdown grace
    /// period), then stops every call actor, persisting each call's state.
    pub async fn shutdown(&self) {
        let grace = std::time::Duration::from_secs(self.inner.config.http.shutdown_grace_seconds);
        self.inner.control.drain(grace).await;
        self.inner.runtime.shutdown().await;
    }

    /// Handles one authenticated, parsed webhook. `raw` is the body as received; `conversation_id` comes from
    /// the `/api/webhook/{conversation_id}` path form.
    pub async fn handle(&self, message: ServerMessage, raw: Bytes, conversation_id: Option<String>) -> Reply {
        // The dedicated servers' messages carry nothing for call state and must answer fast.
        match &message.body {
            MessageBody::VoiceRequest(request) => {
                let started = std::time::Instant::now();
                let mut request = request.clone();
                request.voice_id = voice::select_voice(&message.common, &request);
                let traced = crate::monitor::trace::voice(self, &message, &request, started);
                return Reply::Response(traced.wrap(self.inner.voice.respond(request).await));
            }
            MessageBody::CallEndpointingRequest(request) => {
                let started = std::time::Instant::now();
                let state = self.context_state(&message).await;
                let inner = &self.inner;
                let answer = crate::eot::answer(&inner.endpointer, &inner.runtime, &message, request, state.as_deref());
                let answer = answer.await;
                crate::monitor::trace::endpointing(self, &message, &answer, started);
                // The conversation it shows is recorded after answering: the answer must be fast.
                let (app, message) = (self.clone(), message.clone());
                tokio::spawn(async move {
                    let seen = app.record_seen_conversation(&message).await;
                    app.notice_missing_subscriptions(&message, seen).await;
                });
                return Reply::json(answer.response);
            }
            _ => {}
        }
        // The message's call event, derived once: recorded below, and the legacy function call's id comes from it.
        let event = call_state::event_from_message(&message);
        let event_id = event.as_ref().map(|event| event.id.0);
        let informs = event.as_ref().is_some_and(crate::context::informs);
        let legacy_call_id = match (&message.body, &event) {
            (MessageBody::FunctionCall(_), Some(event)) => first_tool_call_id(event),
            _ => None,
        };
        let recorded = self.record(&message, &raw, conversation_id.as_deref(), event).await;
        // The conversation the message shows fills the call's context before the answers below read it (not
        // tried when the store just failed: that would only double the wait).
        let seen = match recorded {
            Ok(()) => self.record_seen_conversation(&message).await,
            Err(_) => None,
        };
        if let Err(error) = recorded {
            if let RuntimeError::EventTooLarge(_) = error {
                return Reply::TooLarge(error.to_string());
            }
            if message.kind().expects_answer() {
                // Answering types are still answered from what this instance knows (Vapi waits on them).
                tracing::warn!(%error, kind = message.kind().as_str(), "answering without recording the event");
            } else {
                tracing::warn!(%error, kind = message.kind().as_str(), "event not acknowledged");
                return Reply::Unavailable(error.to_string());
            }
        }
        if !informs {
            self.notice_missing_subscriptions(&message, seen).await;
        }
        if let Some(event) = crate::monitor::event::informational(&message, crate::http::now_ms()) {
            self.trace(event);
        }
        let config = &self.inner.config;
        match &message.body {
            MessageBody::ToolCalls(request) => {
                let calls = request
                    .tool_call_list
                    .iter()
                    .map(|call| ToolCall {
                        id: call.id.clone(),
                        name: call.function.name.clone(),
                        arguments: call.function.arguments.clone().into_value(),
                    })
                    .collect();
                let results = self.run_tools(&message, calls, conversation_id).await;
                Reply::json(ToolCallsResponse { results, error: None })
            }
            MessageBody::FunctionCall(request) => {
                let call = ToolCall {
                    id: legacy_call_id.unwrap_or_else(|| "function-call".to_string()),
                    name: request.function_call.name.clone(),
                    arguments: request.function_call.parameters.clone().into_value(),
                };
                let result = self.run_tools(&message, vec![call], conversation_id).await.pop();
                let text = result.and_then(|r| r.result.or(r.error)).unwrap_or_default();
                Reply::json(FunctionCallResponse { result: text })
            }
            MessageBody::AssistantRequest => {
                let started = std::time::Instant::now();
                let answer = self.inner.routes.assistant(&message, crate::http::now_ms());
                crate::monitor::trace::route(self, &message, "assistant", answer, started)
            }
            MessageBody::TransferDestinationRequest => {
                let started = std::time::Instant::now();
                let state = self.context_state(&message).await;
                let answer = self.inner.routes.transfer(&message, state.as_deref());
                crate::monitor::trace::route(self, &message, "transfer", answer, started)
            }
            MessageBody::HandoffDestinationRequest(request) => {
                let started = std::time::Instant::now();
                let state = self.context_state(&message).await;
                let answer = self
                    .inner
                    .routes
                    .handoff(&message, &request.parameters, state.as_deref());
                crate::monitor::trace::route(self, &message, "handoff", answer, started)
            }
            MessageBody::KnowledgeBaseRequest(request) => {
                let started = std::time::Instant::now();
                let state = self.context_state(&message).await;
                // Ranking by meaning runs a model for milliseconds of CPU: off the async workers, a core at a time.
                let knowledge = self.inner.knowledge.clone();
                let owned = request.clone();
                let slot = self.inner.knowledge_slots.clone().acquire_owned().await;
                let search = move || {
                    let _slot = slot;
                    knowledge.answer(&owned, state.as_deref())
                };
                let answer = match tokio::task::spawn_blocking(search).await {
                    Ok(answer) => answer,
                    Err(error) => {
                        tracing::error!(%error, "knowledge search task failed; answering with no documents");
                        KnowledgeBaseResponse {
                            documents: Some(Vec::new()),
                            message: None,
                        }
                    }
                };
                crate::monitor::trace::knowledge(self, &message, request, &answer, started);
                Reply::json(answer)
            }
            MessageBody::CampaignPredial(_) => Reply::json(CampaignPredialResponse {
                eligible: config.answers.campaign_eligible.unwrap_or(true),
            }),
            MessageBody::Hang => {
                tracing::warn!(
                    call_id = message.call_id(),
                    "hang: the assistant has not answered for a while"
                );
                self.inner.metrics.hang();
                if let Some(alerter) = &self.inner.alerter {
                    alerter.alert(serde_json::json!({
                        "alert": "hang",
                        "callId": message.call_id(),
                        "customerNumber": message.common.customer().and_then(|c| c.number.as_deref()),
                        "timestamp": message.common.timestamp.as_ref().and_then(|t| t.as_millis()),
                    }));
                }
                Reply::json(Acknowledgement {})
            }
            MessageBody::PhoneCallControl(control) => {
                self.inner.control.phone_call_control(&message, control, event_id).await;
                Reply::json(Acknowledgement {})
            }
            MessageBody::Unknown { type_name, .. } => {
                tracing::debug!(type_name, "ignoring unknown message type");
                Reply::json(Acknowledgement {})
            }
            _ => Reply::json(Acknowledgement {}),
        }
    }

    /// The call's state for an answer, or `None` (logged) when it cannot be had. With a shared store that
    /// cannot be read, this instance's own view of the call, with a warning.
    async fn context_state(&self, message: &ServerMessage) -> Option<Arc<call_state::CallState>> {
        let call_id = message.call_id()?;
        match self.inner.runtime.query(call_id).await {
            Ok(Some(queried)) => {
                if let Some(error) = &queried.stale {
                    tracing::warn!(call_id, %error, "answering from this instance's view of the call");
                }
                Some(queried.state)
            }
            Ok(None) => None,
            Err(error) => {
                tracing::warn!(call_id, %error, "answering without the call's context");
                None
            }
        }
    }

    /// Runs tool calls against the call's context and records their results in the call.
    async fn run_tools(
        &self,
        message: &ServerMessage,
        calls: Vec<ToolCall>,
        conversation_id: Option<String>,
    ) -> Vec<ToolCallResult> {
        let runtime = self.inner.runtime.clone();
        let call_id = message.call_id().unwrap_or_default().to_string();
        let state = self
            .context_state(message)
            .await
            .unwrap_or_else(|| Arc::new(call_state::CallState::new(&call_id)));
        let conversation_id = match conversation_id {
            Some(id) => Some(id),
            None => runtime.conversation_of(&call_id).await.unwrap_or_default(),
        };
        let conversation_memory = match &conversation_id {
            Some(id) => runtime.conversation_memory(id).await.unwrap_or_default(),
            None => Default::default(),
        };
        let context = ToolContext::new(state, conversation_id.clone(), conversation_memory);
        let tools = &self.inner.config.tools;
        let deadline = std::time::Duration::from_millis(tools.deadline_ms);
        let recorder = Recorder {
            runtime: runtime.clone(),
            call_id: call_id.clone(),
            conversation_id,
        };
        let background = {
            let (recorder, control) = (recorder.clone(), &self.inner.control);
            control.background(&call_id, control.result_target(message), move |finished: Finished| {
                let recorder = recorder.clone();
                tokio::spawn(async move { recorder.record(finished).await });
            })
        };
        let prepared = crate::tools::prepare_tool_calls(
            &self.inner.tools,
            calls,
            &context,
            deadline,
            tools.max_concurrent_per_message,
            background,
        );
        // Let go of the call's state before recording: each prepared call holds its own view until its run
        // ends, and the actor then folds the results in place instead of copying what it shares with them.
        drop(context);
        // Every call on its own task, answers in request order.
        let running: Vec<_> = prepared
            .into_iter()
            .map(|prepared| {
                let call = (prepared.call.id.clone(), prepared.call.name.clone());
                let arguments = prepared.call.arguments.clone();
                let task = tokio::spawn(crate::monitor::trace::timed(run_once(
                    runtime.clone(),
                    call_id.clone(),
                    prepared,
                    recorder.clone(),
                )));
                (call, arguments, task)
            })
            .collect();
        let mut results = Vec::with_capacity(running.len());
        for ((id, name), arguments, task) in running {
            // `run_once` answers every outcome; should its task fail all the same, the call still gets one.
            let ((result, dedup), elapsed) = task.await.unwrap_or_else(|error| {
                tracing::error!(tool_call_id = id, %error, "tool call task failed");
                let failed = ToolCallResult::err(&id, &name, format!("tool `{name}` failed unexpectedly"));
                ((failed, None), std::time::Duration::ZERO)
            });
            crate::monitor::trace::tool(self, &call_id, arguments, &result, elapsed, dedup);
            results.push(result);
        }
        results
    }

    /// Hands the message's call event to its actor and stores an end-of-call report verbatim.
    async fn record(
        &self,
        message: &ServerMessage,
        raw: &Bytes,
        conversation_id: Option<&str>,
        event: Option<call_state::CallEvent>,
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
            runtime.link_conversation(call_id, conversation_id).await?;
        }
        match event {
            Some(event) => runtime.ingest(event).await,
            None => Ok(()),
        }
    }
}

/// The id a legacy `function-call` is recorded under: the one `call-state` gives its tool call.
fn first_tool_call_id(event: &call_state::CallEvent) -> Option<String> {
    match &event.kind {
        call_state::EventKind::ToolCalls { calls } => calls.first().map(|call| call.id.clone()),
        _ => None,
    }
}

/// Runs one tool call once per (call, tool call id), recording its outcome in the call: a repeated delivery
/// (Vapi retries, on any instance) gets the first run's answer, verbatim, and records nothing. A run that hit
/// its deadline is recorded like any other outcome: its retry gets the same error (the backend got the
/// `Idempotency-Key` and may have acted). A call without a call id runs as it is, having nothing to be
/// recorded under. While the store cannot record a claim, a tool with effects outside the call is not run
/// (its answer says so, and Vapi's retry may find the store back); a contained one runs here. Returns the
/// answer and, for a repeated delivery, how it was answered without a run.
async fn run_once(
    runtime: CallRuntime,
    call_id: String,
    prepared: crate::tools::PreparedCall,
    recorder: Recorder,
) -> (ToolCallResult, Option<call_runtime::Replay>) {
    let crate::tools::PreparedCall {
        call,
        deadline,
        contained,
        run,
    } = prepared;
    let work = async move {
        let finished = run.await;
        let result = finished.result.clone();
        // An async tool's outcome is recorded when its background run ends.
        if !finished.background {
            recorder.record(finished).await;
        }
        result
    };
    if call_id.is_empty() {
        return (work.await, None);
    }
    let encoded = async move {
        // A `ToolCallResult` always serializes: its fields are strings and JSON values.
        serde_json::to_string(&work.await).unwrap_or_default()
    };
    // A tool with no effect outside the call still answers while the store cannot record a claim.
    let unclaimable = match contained {
        true => Unclaimable::Run,
        false => Unclaimable::Refuse,
    };
    match runtime
        .run_tool_once(&call_id, &call.id, deadline, unclaimable, encoded)
        .await
    {
        Ok(run) => (
            serde_json::from_str(&run.answer).unwrap_or_else(|error| {
                tracing::error!(call_id, tool_call_id = call.id, %error, "recorded tool answer unreadable");
                ToolCallResult::err(
                    &call.id,
                    &call.name,
                    format!("tool `{}`: its recorded answer is unreadable", call.name),
                )
            }),
            run.replay,
        ),
        Err(error) => {
            tracing::warn!(call_id, tool_call_id = call.id, %error, "tool call not run");
            let answer = ToolCallResult::err(&call.id, &call.name, format!("tool `{}` not run: {error}", call.name));
            (answer, None)
        }
    }
}

/// Records a finished tool call in its call: the result, then the memory writes it asked for.
#[derive(Clone)]
struct Recorder {
    runtime: CallRuntime,
    call_id: String,
    conversation_id: Option<String>,
}

impl Recorder {
    async fn record(&self, finished: Finished) {
        if self.call_id.is_empty() {
            return;
        }
        let now = Some(crate::http::now_ms());
        let result = finished.result;
        let mut events = vec![call_state::CallEvent::new(
            &self.call_id,
            now,
            call_state::EventKind::ToolResult {
                tool_call_id: result.tool_call_id,
                name: result.name,
                result: result.result,
                error: result.error,
            },
        )];
        for write in finished.writes {
            match (write, &self.conversation_id) {
                (MemoryWrite::Conversation(key, value), Some(conversation)) => {
                    if let Err(error) = self.runtime.set_conversation_memory(conversation, &key, value).await {
                        tracing::warn!(call_id = self.call_id, %error, "conversation memory not written");
                    }
                }
                (MemoryWrite::Conversation(key, value) | MemoryWrite::Call(key, value), _) => {
                    let kind = match value {
                        Some(value) => call_state::EventKind::MemorySet { key, value },
                        None => call_state::EventKind::MemoryDelete { key },
                    };
                    events.push(call_state::CallEvent::new(&self.call_id, now, kind));
                }
            }
        }
        for event in events {
            if let Err(error) = self.runtime.ingest(event).await {
                tracing::warn!(call_id = self.call_id, %error, "tool outcome not recorded");
            }
        }
    }
}
