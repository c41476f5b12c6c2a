//! The admin API: `GET /calls`, `GET /calls/{id}`, `GET /calls/{id}/report`, and `GET /metrics`.
//!
//! Conversation contents are personal data, so these routes need the admin bearer token; without a
//! configured token they answer loopback clients only.

use std::net::SocketAddr;

use axum::Router;
use axum::extract::{ConnectInfo, Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use call_state::{CallState, Role};
use serde::Deserialize;
use serde_json::{Value, json};
use subtle::ConstantTimeEq;

use crate::Switchboard;
use crate::http::ApiError;

/// The admin routes, behind the admin check.
pub fn routes(switchboard: Switchboard) -> Router<Switchboard> {
    Router::new()
        .route("/calls", get(list))
        .route("/calls/{id}", get(call))
        .route("/calls/{id}/report", get(report))
        .route("/metrics", get(metrics))
        .route("/knowledge/reload", axum::routing::post(reload_knowledge))
        .route_layer(middleware::from_fn_with_state(switchboard, authorize))
}

async fn authorize(
    State(switchboard): State<Switchboard>,
    headers: HeaderMap,
    request: Request,
    next: Next,
) -> Response {
    // Without connection info (a router called in-process) the peer is unknown, so not trusted as loopback.
    let peer = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|info| info.0);
    match check(switchboard.config().admin.token.as_deref(), &headers, peer) {
        Ok(()) => next.run(request).await,
        Err(error) => error.into_response(),
    }
}

fn check(token: Option<&str>, headers: &HeaderMap, peer: Option<SocketAddr>) -> Result<(), ApiError> {
    let Some(token) = token else {
        return if peer.is_some_and(|peer| peer.ip().is_loopback()) {
            Ok(())
        } else {
            Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "the admin API is loopback-only until an admin token is set",
            ))
        };
    };
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .ok_or_else(|| ApiError::new(StatusCode::UNAUTHORIZED, "missing admin bearer token"))?;
    if bool::from(presented.as_bytes().ct_eq(token.as_bytes())) {
        Ok(())
    } else {
        Err(ApiError::new(StatusCode::UNAUTHORIZED, "invalid admin bearer token"))
    }
}

#[derive(Deserialize)]
struct ListQuery {
    limit: Option<usize>,
}

async fn list(State(switchboard): State<Switchboard>, Query(query): Query<ListQuery>) -> Response {
    let limit = query.limit.unwrap_or(1000).min(10_000);
    let calls = switchboard.runtime().list(limit).await;
    axum::Json(json!({ "live": switchboard.runtime().live_calls(), "calls": calls })).into_response()
}

async fn call(State(switchboard): State<Switchboard>, Path(id): Path<String>) -> Response {
    match switchboard.runtime().state(&id).await {
        Ok(Some(state)) => axum::Json(context_json(&state)).into_response(),
        Ok(None) => ApiError::new(StatusCode::NOT_FOUND, format!("no call `{id}`")).into_response(),
        Err(error) => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, error.to_string()).into_response(),
    }
}

async fn report(State(switchboard): State<Switchboard>, Path(id): Path<String>) -> Response {
    match switchboard.runtime().report(&id).await {
        Ok(Some(report)) => {
            // The body as Vapi sent it, verbatim, beside the extracted fields.
            let body: Value = serde_json::from_str(&report.body).unwrap_or(Value::String(report.body.clone()));
            axum::Json(json!({
                "callId": report.call_id,
                "endedReason": report.ended_reason,
                "summary": report.summary,
                "cost": report.cost,
                "durationSeconds": report.duration_seconds,
                "receivedAtMs": report.received_at_ms,
                "body": body,
            }))
            .into_response()
        }
        Ok(None) => ApiError::new(StatusCode::NOT_FOUND, format!("no report for call `{id}`")).into_response(),
        Err(error) => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, error.to_string()).into_response(),
    }
}

async fn reload_knowledge(State(switchboard): State<Switchboard>) -> Response {
    let knowledge = switchboard.knowledge().clone();
    // Reading and indexing the folder is blocking work.
    match tokio::task::spawn_blocking(move || knowledge.reload()).await {
        Ok(Ok(report)) => axum::Json(json!({
            "files": report.files,
            "chunks": report.chunks,
            "skipped": report.skipped.iter().map(|s| s.path.display().to_string()).collect::<Vec<_>>(),
            "tookMs": report.took.as_millis() as u64,
        }))
        .into_response(),
        // The previous index stays in service.
        Ok(Err(error)) => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, error.to_string()).into_response(),
        Err(error) => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, error.to_string()).into_response(),
    }
}

async fn metrics(State(switchboard): State<Switchboard>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        switchboard.metrics().render(),
    )
        .into_response()
}

/// A call's context as the admin API shows it: what a tool author can ask about the call.
pub fn context_json(state: &CallState) -> Value {
    let meta = state.metadata();
    json!({
        "id": state.call_id(),
        "status": state.status(),
        "endedReason": state.ended_reason(),
        "type": state.call_type(),
        "customer": { "number": meta.customer_number, "name": meta.customer_name },
        "phoneNumber": { "id": meta.phone_number_id, "number": meta.phone_number },
        "assistant": { "id": meta.assistant_id, "name": meta.assistant_name },
        "startedAtMs": state.started_at_ms(),
        "endedAtMs": state.ended_at_ms(),
        "turn": state.turn(),
        "speaking": state.speaking().map(Role::as_str),
        "conversation": state.conversation().iter().map(|turn| json!({
            "role": turn.role.as_str(), "text": turn.text, "atMs": turn.at_ms,
        })).collect::<Vec<_>>(),
        "partial": { "user": state.partial(Role::User), "assistant": state.partial(Role::Assistant) },
        "language": state.language(),
        "interruptions": state.interruptions(),
        "hangs": state.hangs(),
        "transfers": state.transfers(),
        "toolCalls": state.tool_records(),
        "memory": state.memory(),
        "report": state.report(),
        "trimmed": state.trimmed(),
        "eventsApplied": state.events_applied(),
    })
}
