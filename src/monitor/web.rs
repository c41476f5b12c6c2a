//! `GET /monitor` (the page), its script and style, `GET /monitor/login` (a form to enter the admin token
//! once, posted to [`crate::admin`]'s sign-in) and `GET /monitor/events` (server-sent events).
//!
//! The page is three files compiled into the binary: no build step, no CDN, no request to anyone but this
//! server, which a strict Content-Security-Policy enforces in the browser. Everything but the login form sits
//! behind the admin token (see [`crate::admin`]); the form itself carries no data.
//!
//! The stream sends `ready` first (its id is the last event published, so a reconnect resumes from there),
//! then one unnamed event per [`MonitorEvent`] with the event's id, and `resync` when the client must reload
//! state from `/calls`: on a reconnect whose `Last-Event-ID` fell out of the replay ring, or when its buffer
//! overflowed because it read too slowly.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::Stream;

use super::bus::{Delivery, Start, Subscription};
use super::event::MonitorEvent;
use crate::Switchboard;
use crate::http::ApiError;

const PAGE: &str = include_str!("assets/monitor.html");
const SCRIPT: &str = include_str!("assets/monitor.js");
const STYLE: &str = include_str!("assets/monitor.css");
const LOGIN: &str = include_str!("assets/login.html");

/// The page's Content-Security-Policy: its own script, style and connections, nothing else.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// One of the page's files, with the headers that keep it to itself.
fn asset(content_type: &'static str, body: &'static str) -> Response {
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    // The page may have been opened with `?token=`: it must not leak to another site.
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

/// `GET /monitor`.
pub async fn page() -> Response {
    asset("text/html; charset=utf-8", PAGE)
}

/// `GET /monitor/monitor.js`.
pub async fn script() -> Response {
    asset("text/javascript; charset=utf-8", SCRIPT)
}

/// `GET /monitor/monitor.css`.
pub async fn style() -> Response {
    asset("text/css; charset=utf-8", STYLE)
}

/// `GET /monitor/login`: a form that posts the token to `POST /monitor/login`, which keeps it in a cookie.
pub async fn login() -> Response {
    asset("text/html; charset=utf-8", LOGIN)
}

/// `GET /monitor/events`.
pub async fn events(State(switchboard): State<Switchboard>, headers: HeaderMap) -> Response {
    let last_seen = headers
        .get("last-event-id")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse::<u64>().ok());
    let subscription = match switchboard.monitor().subscribe(last_seen) {
        Ok(subscription) => subscription,
        Err(error) => return ApiError::new(StatusCode::SERVICE_UNAVAILABLE, error.to_string()).into_response(),
    };
    let mut response = Sse::new(stream(subscription))
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // Proxies that buffer responses would hold the stream back.
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

/// The SSE events of one subscription.
fn stream(subscription: Subscription) -> impl Stream<Item = Result<Event, Infallible>> + Send {
    let mut first = VecDeque::new();
    let mut subscription = subscription;
    let last_id = subscription.last_id;
    match std::mem::replace(&mut subscription.start, Start::Replay(Vec::new())) {
        Start::Resync => first.push_back(Event::default().event("resync").id(last_id.to_string()).data("{}")),
        Start::Replay(missed) => {
            first.push_back(ready(last_id, !missed.is_empty()));
            first.extend(missed.iter().map(to_sse));
        }
    }
    futures::stream::unfold((first, subscription), |(mut first, mut subscription)| async move {
        if let Some(event) = first.pop_front() {
            return Some((Ok(event), (first, subscription)));
        }
        let event = match subscription.next().await? {
            Delivery::Event(event) => to_sse(&event),
            Delivery::Resync => Event::default().event("resync").data("{}"),
        };
        Some((Ok(event), (first, subscription)))
    })
}

/// `ready`, with the id of the last event published before the subscription. Its id is left out when a replay
/// follows: the replayed events carry their own.
fn ready(last_id: u64, replaying: bool) -> Event {
    let event = Event::default()
        .event("ready")
        .data(format!("{{\"lastId\":{last_id}}}"));
    if replaying {
        event
    } else {
        event.id(last_id.to_string())
    }
}

fn to_sse(event: &Arc<MonitorEvent>) -> Event {
    // A `MonitorEvent` always serializes: strings, numbers and JSON values.
    let data = serde_json::to_string(&**event).unwrap_or_else(|_| "{}".into());
    Event::default().id(event.id.to_string()).data(data)
}
