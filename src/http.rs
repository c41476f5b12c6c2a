//! The HTTP edge: routes, authentication before any body is buffered, body limits and deadlines, and the
//! mapping of every outcome to a status code with a JSON body.
//!
//! Handlers only translate between HTTP and [`Switchboard`]; they never touch call state. Anything a client
//! sends ends in a 2xx or a 4xx with a JSON `{"error": "..."}` naming the problem; a 503 says only that the
//! server cannot take the request now, and its internal cause goes to the log. Connections (timeouts, the
//! connection cap, graceful shutdown) are handled in [`server`].

pub mod server;

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Extension, Path, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Router, extract::DefaultBodyLimit};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde::Deserialize;
use serde_json::json;

use crate::app::{Reply, Switchboard};
use crate::auth::AuthConfig;
use crate::config::Config;

pub use server::{serve, serve_connection, serve_with};

/// Limits on every connection and request of every server the binary runs (`[http]` in the config file).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// Seconds a client has to send a request's headers once it has started (default 10). Slower clients are
    /// disconnected.
    pub header_timeout_seconds: u64,
    /// Seconds a client has to send a whole request body once its headers are in (default 30). Slower clients
    /// get `408` and are disconnected. A client that takes no part of an answer for this long is disconnected
    /// too.
    pub body_timeout_seconds: u64,
    /// Seconds a connection may sit idle between requests (or before its first) before it is closed
    /// (default 5). The wait for a request's headers is bounded by `header_timeout_seconds` too, so a value
    /// above that has no effect.
    pub idle_timeout_seconds: u64,
    /// Open connections at most (default 1024); further clients wait in the listen backlog.
    pub max_connections: usize,
    /// Seconds in-flight requests get to finish after a shutdown signal (default 10); then the remaining
    /// connections are closed.
    pub shutdown_grace_seconds: u64,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            header_timeout_seconds: 10,
            body_timeout_seconds: 30,
            idle_timeout_seconds: 5,
            max_connections: 1024,
            shutdown_grace_seconds: 10,
        }
    }
}

impl HttpConfig {
    /// Every timeout is at least a second and at most a day; at least one connection.
    pub fn validate(&self) -> Result<(), String> {
        for (name, value) in [
            ("header_timeout_seconds", self.header_timeout_seconds),
            ("body_timeout_seconds", self.body_timeout_seconds),
            ("idle_timeout_seconds", self.idle_timeout_seconds),
        ] {
            if !(1..=86_400).contains(&value) {
                return Err(format!("http: `{name}` must be between 1 and 86400, got {value}"));
            }
        }
        if self.shutdown_grace_seconds > 86_400 {
            return Err(format!(
                "http: `shutdown_grace_seconds` must be at most 86400, got {}",
                self.shutdown_grace_seconds
            ));
        }
        if self.max_connections == 0 {
            return Err("http: `max_connections` must be at least 1".into());
        }
        Ok(())
    }
}

/// What admits a request: its credential (from the headers first), then its body, read under the size limit
/// and the body deadline. Cloning is cheap; every route of a server shares one.
#[derive(Clone)]
pub struct Gate {
    inner: Arc<GateInner>,
}

struct GateInner {
    auth: AuthConfig,
    max_body_bytes: usize,
    body_timeout: Duration,
}

impl Gate {
    /// The gate of a server running `config`.
    pub fn new(config: &Config) -> Gate {
        Gate {
            inner: Arc::new(GateInner {
                auth: config.auth.clone(),
                max_body_bytes: config.max_body_bytes,
                body_timeout: Duration::from_secs(config.http.body_timeout_seconds),
            }),
        }
    }

    /// Authenticates a request and reads its body. A credential that the headers alone can refute is refused
    /// before a byte of the body is read; an HMAC signature is checked once the body is in.
    pub async fn admit(&self, parts: &Parts, body: Body) -> Result<Bytes, ApiError> {
        let GateInner {
            auth,
            max_body_bytes,
            body_timeout,
        } = &*self.inner;
        let lookup = |name: &str| parts.headers.get(name).and_then(|value| value.to_str().ok());
        auth.verify_headers(lookup, now_ms())
            .map_err(|error| refused(error, parts))?;
        let declared = parts
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok()?.parse::<u64>().ok());
        if declared.is_some_and(|length| length > *max_body_bytes as u64) {
            return Err(too_large(*max_body_bytes));
        }
        let bytes = match tokio::time::timeout(*body_timeout, Limited::new(body, *max_body_bytes).collect()).await {
            Ok(Ok(collected)) => collected.to_bytes(),
            Ok(Err(error)) if error.downcast_ref::<LengthLimitError>().is_some() => {
                return Err(too_large(*max_body_bytes));
            }
            Ok(Err(error)) => {
                tracing::debug!(%error, "request body unreadable");
                return Err(ApiError::new(StatusCode::BAD_REQUEST, "cannot read the request body").closing());
            }
            Err(_) => {
                tracing::info!(path = %parts.uri.path(), "request body not received in time");
                return Err(ApiError::new(
                    StatusCode::REQUEST_TIMEOUT,
                    format!("request body not received within {} seconds", body_timeout.as_secs()),
                )
                .closing());
            }
        };
        let path_and_query = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        auth.verify(lookup, parts.method.as_str(), path_and_query, &bytes, now_ms())
            .map_err(|error| refused(error, parts))?;
        Ok(bytes)
    }
}

fn refused(error: crate::auth::AuthError, parts: &Parts) -> ApiError {
    tracing::warn!(%error, path = %parts.uri.path(), "request refused");
    // The body may be unread: the connection is not reused.
    ApiError::new(StatusCode::UNAUTHORIZED, error.to_string()).closing()
}

fn too_large(limit: usize) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("request body exceeds the limit of {limit} bytes"),
    )
    .closing()
}

/// The router: `POST /webhook`, `POST /api/webhook/{conversation_id}`, `GET /healthz`, `GET /readyz`, the
/// admin API, and the mounted `POST /voice` and `POST /endpointing`.
pub fn app(switchboard: Switchboard) -> Router {
    let gate = Gate::new(switchboard.config());
    let webhooks = Router::new()
        .route("/webhook", post(webhook))
        .route("/api/webhook/{conversation_id}", post(conversation_webhook))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .merge(crate::admin::routes(switchboard.clone()))
        .with_state(switchboard.clone());
    // The voice and endpointing servers, mounted behind the same gate as the webhook.
    let mounted =
        voice::router(switchboard.voice().clone()).merge(endpointing::router(switchboard.endpointer().clone()));
    finish(webhooks.merge(guarded(mounted, gate.clone())), gate)
}

/// A standalone server's router (`switchboard voice`, `switchboard endpointing serve`) behind the gate of
/// `config`: the same authentication, limits and JSON errors as the main server.
pub fn standalone(router: Router, config: &Config) -> Router {
    let gate = Gate::new(config);
    finish(guarded(router, gate.clone()), gate)
}

/// Puts `router`'s routes behind `gate`: each request is admitted (credential, then body) and handed on with
/// its body in memory.
fn guarded(router: Router, gate: Gate) -> Router {
    router.route_layer(middleware::from_fn_with_state(gate, admit))
}

/// What every server's router ends with: the gate for handlers that read their own body, a JSON 404, JSON for
/// every other error, and a body limit for any extractor that reads a body itself.
fn finish(router: Router, gate: Gate) -> Router {
    let limit = gate.inner.max_body_bytes;
    router
        .fallback(not_found)
        .layer(Extension(gate))
        .layer(DefaultBodyLimit::max(limit))
        .layer(middleware::from_fn(json_errors))
}

async fn admit(State(gate): State<Gate>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    match gate.admit(&parts, body).await {
        Ok(bytes) => next.run(Request::from_parts(parts, Body::from(bytes))).await,
        Err(error) => error.into_response(),
    }
}

async fn not_found(request: Request) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        format!("no route for {} {}", request.method(), request.uri().path()),
    )
}

/// Gives every error answer a JSON body: axum's own rejections (405, extractor errors) are plain text or
/// empty. The text, at most a few KiB, becomes the `error`.
async fn json_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let text = match Limited::new(body, 4096).collect().await {
        Ok(collected) => String::from_utf8_lossy(&collected.to_bytes()).trim().to_string(),
        Err(_) => String::new(),
    };
    let message = if text.is_empty() {
        status.canonical_reason().unwrap_or("error").to_lowercase()
    } else {
        text
    };
    parts.headers.remove(header::CONTENT_LENGTH);
    parts
        .headers
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    let body = serde_json::to_vec(&json!({ "error": message })).unwrap_or_default();
    Response::from_parts(parts, Body::from(body))
}

/// An error answer: a status and a message for the caller. Internal causes are logged, never sent.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
    close: bool,
}

impl ApiError {
    /// An error with `status` and a message naming the problem.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
            close: false,
        }
    }

    /// `503` with a generic reason; `cause` (which may name internal parts) is logged, not sent.
    pub fn unavailable(cause: &str) -> Self {
        tracing::warn!(cause, "answering 503");
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "temporarily unavailable; retry later")
    }

    /// The same error, answered with `Connection: close` (the request body may be unread).
    pub fn closing(mut self) -> Self {
        self.close = true;
        self
    }

    /// The status.
    pub fn status(&self) -> StatusCode {
        self.status
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, axum::Json(json!({ "error": self.message }))).into_response();
        if self.close {
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        response
    }
}

async fn webhook(
    State(switchboard): State<Switchboard>,
    Extension(gate): Extension<Gate>,
    request: Request,
) -> Response {
    receive(&switchboard, &gate, request, None).await
}

async fn conversation_webhook(
    State(switchboard): State<Switchboard>,
    Extension(gate): Extension<Gate>,
    Path(conversation_id): Path<String>,
    request: Request,
) -> Response {
    receive(&switchboard, &gate, request, Some(conversation_id)).await
}

async fn receive(
    switchboard: &Switchboard,
    gate: &Gate,
    request: Request,
    conversation_id: Option<String>,
) -> Response {
    let started = std::time::Instant::now();
    let response = answer(switchboard, gate, request, conversation_id, started).await;
    switchboard.metrics().respond(response.status().as_u16());
    response
}

async fn answer(
    switchboard: &Switchboard,
    gate: &Gate,
    request: Request,
    conversation_id: Option<String>,
    started: std::time::Instant,
) -> Response {
    let (parts, body) = request.into_parts();
    let body = match gate.admit(&parts, body).await {
        Ok(body) => body,
        Err(error) => return error.into_response(),
    };
    let message = match vapi_types::parse_body(&body) {
        Ok(message) => message,
        Err(error) => {
            tracing::debug!(%error, "webhook body rejected");
            return ApiError::new(StatusCode::BAD_REQUEST, error.to_string()).into_response();
        }
    };
    let kind = message.kind().as_str();
    let response = match switchboard.handle(message, body, conversation_id).await {
        Reply::Json(value) => (StatusCode::OK, axum::Json(value)).into_response(),
        Reply::Response(response) => response,
        Reply::Unavailable(cause) => ApiError::unavailable(&cause).into_response(),
        Reply::TooLarge(reason) => ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, reason).into_response(),
    };
    switchboard.metrics().observe(kind, started.elapsed());
    response
}

async fn healthz() -> impl IntoResponse {
    axum::Json(json!({ "status": "ok" }))
}

async fn readyz(State(switchboard): State<Switchboard>) -> Response {
    crate::admin::readyz(&switchboard).await
}

/// The current time in epoch milliseconds.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_millis() as i64)
        .unwrap_or(0)
}
