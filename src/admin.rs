//! The admin API: `GET /calls`, `GET /calls/{id}`, `GET /calls/{id}/report`, `GET /metrics`,
//! `POST /knowledge/reload`, and the live call monitor (`GET /monitor`, `GET /monitor/events`; see
//! [`crate::monitor`]); and the body of the public `GET /readyz`.
//!
//! Conversation contents are personal data, so every admin route needs the admin token, whoever the peer is:
//! a reverse proxy or tunnel on the same host makes every outside client look like loopback. Without a
//! configured token a random one is generated at start and printed once with a URL that opens the API (as
//! notebook servers do). The token is accepted as `Authorization: Bearer <token>` (any letter case), as a
//! `token` query parameter (which also sets a cookie, so a browser can follow links), or as that cookie, which
//! the monitor's sign-in form (`POST /monitor/login`) sets too.

use axum::Router;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use call_state::{CallState, Role};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::Switchboard;
use crate::auth::{constant_time_eq, strip_bearer};
use crate::http::ApiError;

/// The cookie that carries the admin token in a browser.
pub const COOKIE: &str = "switchboard_admin";

/// The admin API's token: the configured one, or one generated at start. `Debug` never shows it.
#[derive(Clone)]
pub struct AdminToken {
    value: String,
    generated: bool,
}

impl AdminToken {
    /// The configured token, or a fresh random one (256 bits, hex) when none is configured.
    pub fn new(configured: Option<&str>) -> AdminToken {
        match configured {
            Some(token) => AdminToken {
                value: token.to_string(),
                generated: false,
            },
            None => {
                let mut bytes = [0u8; 32];
                getrandom::fill(&mut bytes).expect("the operating system provides random bytes");
                AdminToken {
                    value: hex::encode(bytes),
                    generated: true,
                }
            }
        }
    }

    /// The token.
    pub fn value(&self) -> &str {
        &self.value
    }

    /// Whether it was generated at start (and so must be shown to the operator).
    pub fn generated(&self) -> bool {
        self.generated
    }

    /// Whether `presented` is the token, compared in constant time.
    fn matches(&self, presented: &str) -> bool {
        constant_time_eq(presented.as_bytes(), self.value.as_bytes())
    }

    /// Whether `presented` is the token in hex (as the cookie carries it), compared in constant time.
    fn matches_hex(&self, presented: &str) -> bool {
        hex::decode(presented).is_ok_and(|bytes| constant_time_eq(&bytes, self.value.as_bytes()))
    }
}

impl std::fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminToken")
            .field("generated", &self.generated)
            .finish_non_exhaustive()
    }
}

/// The admin routes, behind the admin check.
pub fn routes(switchboard: Switchboard) -> Router<Switchboard> {
    Router::new()
        .route("/calls", get(list))
        .route("/calls/{id}", get(call))
        .route("/calls/{id}/report", get(report))
        .route("/metrics", get(metrics))
        .route("/knowledge/reload", axum::routing::post(reload_knowledge))
        .route("/monitor", get(crate::monitor::web::page))
        .route("/monitor/monitor.js", get(crate::monitor::web::script))
        .route("/monitor/monitor.css", get(crate::monitor::web::style))
        .route("/monitor/events", get(crate::monitor::web::events))
        .route_layer(middleware::from_fn_with_state(switchboard, authorize))
        // The form to enter the token carries no data, so it is the one page open to anyone. It posts the
        // token (a query string would leave it in every proxy's access log).
        .route("/monitor/login", get(crate::monitor::web::login).post(sign_in))
}

/// The largest sign-in form body read.
const MAX_SIGN_IN_BYTES: usize = 4096;

#[derive(Deserialize)]
struct SignIn {
    token: String,
}

/// `POST /monitor/login`: the right token sets the cookie and sends the browser to `/monitor` (always there:
/// no return address is taken from the request, so the form cannot redirect anywhere else). The route is
/// open and outside the webhook's gate, so it reads its small body under the same deadline itself: a client
/// that trickles it does not hold a connection.
async fn sign_in(State(switchboard): State<Switchboard>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let deadline = std::time::Duration::from_secs(switchboard.config().http.body_timeout_seconds);
    let limited = http_body_util::Limited::new(body, MAX_SIGN_IN_BYTES);
    let bytes = match tokio::time::timeout(deadline, http_body_util::BodyExt::collect(limited)).await {
        Ok(Ok(collected)) => collected.to_bytes(),
        Ok(Err(error)) if error.downcast_ref::<http_body_util::LengthLimitError>().is_some() => {
            let message = format!("the sign-in form exceeds {MAX_SIGN_IN_BYTES} bytes");
            return ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, message)
                .closing()
                .into_response();
        }
        Ok(Err(_)) => {
            return ApiError::new(StatusCode::BAD_REQUEST, "cannot read the request body")
                .closing()
                .into_response();
        }
        Err(_) => {
            let message = format!("request body not received within {} seconds", deadline.as_secs());
            return ApiError::new(StatusCode::REQUEST_TIMEOUT, message)
                .closing()
                .into_response();
        }
    };
    let headers = parts.headers.clone();
    let request = Request::from_parts(parts, axum::body::Body::from(bytes));
    let form = match <axum::Form<SignIn> as axum::extract::FromRequest<()>>::from_request(request, &()).await {
        Ok(axum::Form(form)) => form,
        Err(rejection) => return rejection.into_response(),
    };
    let token = switchboard.admin_token();
    if !token.matches(&form.token) {
        tracing::warn!("monitor sign-in refused: invalid admin token");
        return ApiError::new(StatusCode::UNAUTHORIZED, "invalid admin token").into_response();
    }
    let mut response = (StatusCode::SEE_OTHER, [(header::LOCATION, "/monitor")]).into_response();
    if let Some(cookie) = session_cookie(token, behind_tls(&headers)) {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

/// The cookie that keeps `token` in a browser. The token is carried in hex: a configured token may hold what
/// a cookie value cannot (`;`, spaces, quotes). `Secure` when the browser reached this server over https.
fn session_cookie(token: &AdminToken, secure: bool) -> Option<HeaderValue> {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{COOKIE}={}; Path=/; HttpOnly; SameSite=Strict{secure}",
        hex::encode(token.value())
    ))
    .ok()
}

/// Whether the request came over https to a proxy in front (`X-Forwarded-Proto: https`, or `proto=https` in
/// `Forwarded`). A client that forges it only makes its own cookie `Secure`, so it needs no trust in the peer.
fn behind_tls(headers: &HeaderMap) -> bool {
    let values = |name: header::HeaderName| {
        headers
            .get_all(name)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split([',', ';']))
            .map(|part| part.trim().to_ascii_lowercase())
            .collect::<Vec<_>>()
    };
    values(header::HeaderName::from_static("x-forwarded-proto"))
        .iter()
        .any(|proto| proto == "https")
        || values(header::FORWARDED).iter().any(|pair| pair == "proto=https")
}

/// How a request presented the admin token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Presented {
    Header,
    Query,
    Cookie,
}

async fn authorize(State(switchboard): State<Switchboard>, request: Request, next: Next) -> Response {
    let token = switchboard.admin_token();
    match check(token, request.headers(), request.uri()) {
        Ok(Presented::Query) => {
            let secure = behind_tls(request.headers());
            let mut response = next.run(request).await;
            // A browser opened the printed URL: remember the token for the pages it links to.
            if let Some(cookie) = session_cookie(token, secure) {
                response.headers_mut().append(header::SET_COOKIE, cookie);
            }
            response
        }
        Ok(_) => next.run(request).await,
        Err(error) => {
            let mut response = error.into_response();
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            response
        }
    }
}

fn check(token: &AdminToken, headers: &HeaderMap, uri: &Uri) -> Result<Presented, ApiError> {
    let refused = |message: &str| Err(ApiError::new(StatusCode::UNAUTHORIZED, message));
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let presented = value.to_str().ok().and_then(strip_bearer);
        return match presented {
            Some(presented) if token.matches(presented) => Ok(Presented::Header),
            Some(_) => refused("invalid admin token"),
            None => refused("the admin `Authorization` header must be `Bearer <token>`"),
        };
    }
    if let Some(presented) = query_token(uri) {
        return if token.matches(&presented) {
            Ok(Presented::Query)
        } else {
            refused("invalid admin token")
        };
    }
    if let Some(presented) = cookie_token(headers) {
        return if token.matches_hex(presented) {
            Ok(Presented::Cookie)
        } else {
            refused("invalid admin token")
        };
    }
    refused("missing admin token: send `Authorization: Bearer <token>` or open the URL printed at start")
}

fn query_token(uri: &Uri) -> Option<String> {
    #[derive(Deserialize)]
    struct TokenQuery {
        token: Option<String>,
    }
    Query::<TokenQuery>::try_from_uri(uri).ok()?.0.token
}

fn cookie_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .find_map(|pair| {
            let (name, value) = pair.trim().split_once('=')?;
            (name == COOKIE).then_some(value)
        })
}

#[derive(Deserialize)]
struct ListQuery {
    limit: Option<usize>,
}

/// This instance's live calls (with their summaries), the live calls of every other instance sharing the
/// store (ids only), the recently ended calls with their reports, and the instances seen: each call marked
/// with the instance that holds it.
async fn list(State(switchboard): State<Switchboard>, Query(query): Query<ListQuery>) -> Response {
    let limit = query.limit.unwrap_or(1000).min(10_000);
    let runtime = switchboard.runtime();
    let me = runtime.instance_id();
    let mut calls: Vec<Value> = runtime
        .list(limit)
        .await
        .into_iter()
        .map(|summary| {
            let mut value = json!(summary);
            value["instance"] = json!(me);
            value
        })
        .collect();
    // What other instances hold and what ended come from the store; without it, this instance's calls stand.
    let (instances, others_error) = match runtime.instances(limit).await {
        Ok(instances) => (instances, None),
        Err(error) => (Vec::new(), Some(error.to_string())),
    };
    for other in instances.iter().filter(|other| other.instance != me) {
        for id in &other.calls {
            calls.push(json!({ "id": id, "instance": other.instance }));
        }
    }
    calls.truncate(limit);
    let (ended, ended_error) = match runtime.ended_calls(limit).await {
        Ok(ended) => (ended, None),
        Err(error) => (Vec::new(), Some(error.to_string())),
    };
    let ended: Vec<Value> = ended
        .iter()
        .map(|call| {
            let report = &call.report;
            json!({
                "id": report.call_id,
                "instance": call.instance,
                "endedReason": report.ended_reason,
                "summary": report.summary,
                "cost": report.cost,
                "durationSeconds": report.duration_seconds,
                "receivedAtMs": report.received_at_ms,
            })
        })
        .collect();
    let instances: Vec<Value> = instances
        .iter()
        .map(|instance| {
            json!({
                "id": instance.instance,
                "lastSeenMs": instance.last_seen_ms,
                "calls": instance.calls.len(),
            })
        })
        .collect();
    let mut body = json!({
        "instance": me,
        "live": runtime.live_calls(),
        "calls": calls,
        "ended": ended,
        "instances": instances,
    });
    if let Some(error) = others_error.or(ended_error) {
        tracing::warn!(%error, "listing this instance's calls only: the store cannot be read");
        body["partial"] = json!(true);
    }
    axum::Json(body).into_response()
}

/// `GET /readyz`: 200 with the instance id, the store's kind and, for a Redis Cluster, its state when the
/// store answers; 503 otherwise, saying that the store does not answer (its kind, never its address or
/// credentials: the error text goes to the log, not to the unauthenticated caller). Bounded by the store's
/// response timeout.
pub async fn readyz(switchboard: &Switchboard) -> Response {
    let runtime = switchboard.runtime();
    match switchboard.readiness().await {
        Ok(()) => {
            let store = runtime.store_state().await;
            axum::Json(json!({ "status": "ready", "instance": runtime.instance_id(), "store": store })).into_response()
        }
        Err(cause) => {
            tracing::warn!(cause, "not ready");
            let body = json!({
                "error": "the call store does not answer; retry later",
                "status": "unavailable",
                "instance": runtime.instance_id(),
                "store": { "kind": runtime.store_kind(), "reachable": false },
            });
            (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response()
        }
    }
}

async fn call(State(switchboard): State<Switchboard>, Path(id): Path<String>) -> Response {
    match switchboard.runtime().state(&id).await {
        Ok(Some(state)) => axum::Json(context_json(&state)).into_response(),
        Ok(None) => ApiError::new(StatusCode::NOT_FOUND, format!("no call `{id}`")).into_response(),
        Err(error) => ApiError::unavailable(&error.to_string()).into_response(),
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
        Err(error) => ApiError::unavailable(&error.to_string()).into_response(),
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
        Err(error) => ApiError::unavailable(&format!("knowledge reload task: {error}")).into_response(),
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
        "phoneControls": state.phone_controls(),
        "toolCalls": state.tool_records(),
        "memory": state.memory(),
        "report": state.report(),
        "trimmed": state.trimmed(),
        "eventsApplied": state.events_applied(),
        "endpointing": crate::eot::history_json(state),
    })
}
