//! The trace points: each answer Vapi waits for, timed and turned into a [`MonitorEvent`] handed to
//! [`Switchboard::trace`]. Called from the dispatch in [`crate::app`], one line per answer there.

use std::future::Future;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::response::Response;
use http_body_util::BodyExt;
use serde::Serialize;
use serde_json::Value;
use vapi_types::response::KnowledgeBaseResponse;
use vapi_types::{KnowledgeBaseRequest, ServerMessage, ToolCallResult, VoiceRequest};

use super::event::{self, MAX_TEXT_CHARS, MonitorEvent, Payload, bounded_json, cut, label};
use super::millis;
use crate::app::{Reply, Switchboard};

fn call_id(message: &ServerMessage) -> String {
    message.call_id().unwrap_or_default().to_string()
}

/// `work`'s output and how long it took.
pub async fn timed<F: Future>(work: F) -> (F::Output, Duration) {
    let started = Instant::now();
    let output = work.await;
    (output, started.elapsed())
}

/// Traces a tool call's answer: its arguments, result or error, latency and dedup hit.
pub fn tool(
    switchboard: &Switchboard,
    call_id: &str,
    arguments: Value,
    result: &ToolCallResult,
    elapsed: Duration,
    replay: Option<call_runtime::Replay>,
) {
    let dedup = replay.map(|replay| match replay {
        call_runtime::Replay::Completed => "completed",
        call_runtime::Replay::InFlight => "in_flight",
    });
    let payload = Payload::Tool {
        tool_call_id: label(&result.tool_call_id),
        name: result.name.as_deref().map(label).unwrap_or_default(),
        arguments: bounded_json(arguments),
        result: result.result.as_deref().map(|r| cut(r, MAX_TEXT_CHARS)),
        error: result.error.as_deref().map(|e| cut(e, MAX_TEXT_CHARS)),
        latency_ms: millis(elapsed),
        dedup,
    };
    switchboard.trace(MonitorEvent::new(call_id, crate::http::now_ms(), payload));
}

/// Traces a knowledge-base answer: the caller's words, the documents and their scores.
pub fn knowledge(
    switchboard: &Switchboard,
    message: &ServerMessage,
    request: &KnowledgeBaseRequest,
    answer: &KnowledgeBaseResponse,
    started: Instant,
) {
    let payload = Payload::Knowledge {
        query: event::knowledge_query(request),
        documents: event::documents(answer),
        latency_ms: millis(started.elapsed()),
    };
    switchboard.trace(MonitorEvent::new(call_id(message), crate::http::now_ms(), payload));
}

/// Traces a routing decision and gives the reply carrying `answer`.
pub fn route(
    switchboard: &Switchboard,
    message: &ServerMessage,
    decision: &'static str,
    answer: impl Serialize,
    started: Instant,
) -> Reply {
    // Routing answers serialize infallibly (no maps with non-string keys); `{}` is a safe fallback.
    let answer = serde_json::to_value(answer).unwrap_or_else(|_| Value::Object(Default::default()));
    let payload = Payload::Route {
        decision,
        target: event::route_target(&answer),
        answer: bounded_json(answer.clone()),
        latency_ms: millis(started.elapsed()),
    };
    switchboard.trace(MonitorEvent::new(call_id(message), crate::http::now_ms(), payload));
    Reply::Json(answer)
}

/// Traces an end-of-turn decision of the main webhook (see [`crate::eot::answer`]) made since `started`.
pub fn endpointing(switchboard: &Switchboard, message: &ServerMessage, answer: &crate::eot::Answer, started: Instant) {
    let reasons = if answer.reasons.is_empty() {
        vec!["model".to_string()]
    } else {
        answer.reasons.clone()
    };
    let payload = Payload::Endpointing {
        timeout_seconds: answer.response.timeout_seconds,
        complete_probability: answer.complete_probability,
        reasons,
        language: label(&answer.language.to_string()),
        latency_ms: millis(started.elapsed()),
    };
    switchboard.trace(MonitorEvent::new(call_id(message), crate::http::now_ms(), payload));
}

/// Starts tracing a voice request; [`VoiceTrace::wrap`] finishes with its answer.
pub fn voice(
    switchboard: &Switchboard,
    message: &ServerMessage,
    request: &VoiceRequest,
    started: Instant,
) -> VoiceTrace {
    VoiceTrace {
        switchboard: switchboard.clone(),
        call_id: call_id(message),
        voice_id: request.voice_id.as_deref().map(label),
        text: cut(&request.text, MAX_TEXT_CHARS),
        started,
    }
}

/// A voice request being answered: traced at its first audio byte, or when its answer ends without one.
pub struct VoiceTrace {
    switchboard: Switchboard,
    call_id: String,
    voice_id: Option<String>,
    text: String,
    started: Instant,
}

impl VoiceTrace {
    fn finish(self, status: u16, ttfb: Option<Duration>) {
        let payload = Payload::Voice {
            voice_id: self.voice_id,
            text: self.text,
            status,
            ttfb_ms: ttfb.map(millis),
        };
        self.switchboard
            .trace(MonitorEvent::new(self.call_id, crate::http::now_ms(), payload));
    }

    /// `response` with its body watched for the first audio byte. An error answer is traced at once.
    pub fn wrap(self, response: Response) -> Response {
        let status = response.status().as_u16();
        if !response.status().is_success() {
            self.finish(status, None);
            return response;
        }
        let (parts, body) = response.into_parts();
        let mut pending = Some(Pending {
            trace: Some(self),
            status,
        });
        let body = body.map_frame(move |frame| {
            if frame.data_ref().is_some_and(|data| !data.is_empty())
                && let Some(mut pending) = pending.take()
                && let Some(trace) = pending.trace.take()
            {
                let ttfb = trace.started.elapsed();
                trace.finish(status, Some(ttfb));
            }
            frame
        });
        Response::from_parts(parts, Body::new(body))
    }
}

/// Traces a voice answer whose body ended (or was dropped by a client that left) before any audio.
struct Pending {
    trace: Option<VoiceTrace>,
    status: u16,
}

impl Drop for Pending {
    fn drop(&mut self) {
        if let Some(trace) = self.trace.take() {
            trace.finish(self.status, None);
        }
    }
}
