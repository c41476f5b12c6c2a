//! The HTTP edge: routes, body limits, authentication and the mapping of every outcome to a status code.
//!
//! Handlers only translate between HTTP and [`Switchboard`]; they never touch call state. Anything a client
//! sends ends in a 2xx or a 4xx with a JSON `{"error": "..."}` naming the problem, never a 5xx.

use std::net::SocketAddr;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;

use crate::app::{Reply, Switchboard};

/// The router: `POST /webhook`, `POST /api/webhook/{conversation_id}`, `GET /healthz`, `GET /readyz`, the
/// admin API, and the mounted `POST /voice` and `POST /endpointing`.
pub fn app(switchboard: Switchboard) -> Router {
    let limit = switchboard.config().max_body_bytes;
    let webhooks = Router::new()
        .route("/webhook", post(webhook))
        .route("/api/webhook/{conversation_id}", post(conversation_webhook))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .merge(crate::admin::routes(switchboard.clone()))
        .with_state(switchboard.clone());
    // The voice and endpointing servers, mounted with the same authentication as the webhook.
    let mounted = voice::router(switchboard.voice().clone())
        .merge(endpointing::router(switchboard.endpointer().clone()))
        .route_layer(axum::middleware::from_fn_with_state(switchboard, authenticate));
    webhooks.merge(mounted).layer(DefaultBodyLimit::max(limit))
}

/// Serves `router` on `listener` until `shutdown` completes, then finishes in-flight requests.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(shutdown)
        .await
}

/// An error answer: a status and a message for the caller. Internal causes are logged, never sent.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    /// An error with `status` and a message naming the problem.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(json!({ "error": self.message }))).into_response()
    }
}

async fn webhook(
    State(switchboard): State<Switchboard>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    receive(&switchboard, &headers, body, None).await
}

async fn conversation_webhook(
    State(switchboard): State<Switchboard>,
    Path(conversation_id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    receive(&switchboard, &headers, body, Some(conversation_id)).await
}

async fn receive(
    switchboard: &Switchboard,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
    conversation_id: Option<String>,
) -> Response {
    let started = std::time::Instant::now();
    let response = answer(switchboard, headers, body, conversation_id, started).await;
    switchboard.metrics().respond(response.status().as_u16());
    response
}

async fn answer(
    switchboard: &Switchboard,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
    conversation_id: Option<String>,
    started: std::time::Instant,
) -> Response {
    let body = match body {
        Ok(body) => body,
        Err(rejection) => return body_rejection(rejection, switchboard.config().max_body_bytes).into_response(),
    };
    let lookup = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
    if let Err(error) = switchboard.config().auth.verify(lookup, &body, now_ms()) {
        tracing::warn!(%error, "webhook refused");
        return ApiError::new(StatusCode::UNAUTHORIZED, error.to_string()).into_response();
    }
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
        Reply::Unavailable(reason) => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, reason).into_response(),
        Reply::TooLarge(reason) => ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, reason).into_response(),
    };
    switchboard.metrics().observe(kind, started.elapsed());
    response
}

/// Applies the webhook authentication to the mounted servers' routes (`/voice`, `/endpointing`), which read
/// their own bodies: the body is buffered (within the limit), checked, and handed on.
async fn authenticate(
    State(switchboard): State<Switchboard>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let (parts, body) = request.into_parts();
    let limit = switchboard.config().max_body_bytes;
    let bytes = match axum::body::to_bytes(body, limit).await {
        Ok(bytes) => bytes,
        Err(_) => {
            return ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("request body exceeds the limit of {limit} bytes"),
            )
            .into_response();
        }
    };
    let lookup = |name: &str| parts.headers.get(name).and_then(|value| value.to_str().ok());
    if let Err(error) = switchboard.config().auth.verify(lookup, &bytes, now_ms()) {
        tracing::warn!(%error, path = %parts.uri.path(), "request refused");
        return ApiError::new(StatusCode::UNAUTHORIZED, error.to_string()).into_response();
    }
    next.run(axum::extract::Request::from_parts(parts, axum::body::Body::from(bytes)))
        .await
}

fn body_rejection(rejection: BytesRejection, limit: usize) -> ApiError {
    let status = rejection.status();
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(status, format!("request body exceeds the limit of {limit} bytes"))
    } else {
        ApiError::new(status, format!("cannot read request body: {}", rejection.body_text()))
    }
}

async fn healthz() -> impl IntoResponse {
    axum::Json(json!({ "status": "ok" }))
}

async fn readyz(State(switchboard): State<Switchboard>) -> Response {
    match switchboard.readiness().await {
        Ok(()) => axum::Json(json!({ "status": "ready" })).into_response(),
        Err(reason) => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, reason).into_response(),
    }
}

/// The current time in epoch milliseconds.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_millis() as i64)
        .unwrap_or(0)
}
