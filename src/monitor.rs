//! The live call monitor and the trace of every answer.
//!
//! One point, [`emit`], turns what happened on a call into three things that therefore cannot disagree: a
//! structured log line (`info` for every answer Vapi waited for, with call id, kind, name, latency, outcome and
//! dedup; `debug` for the call's other events), the per-tool latency histogram, and a [`MonitorEvent`] on the
//! in-process [`Bus`], which `GET /monitor/events` streams to the page served at `GET /monitor`.
//!
//! - [`event`]: the event types and their pure conversions from messages and answers, each value bounded.
//! - [`bus`]: ids, the replay ring and the bounded per-subscriber buffers (drop-and-resync).
//! - [`trace`]: the trace points the dispatch calls, one per kind of answer.
//! - [`web`]: the page (compiled into the binary), its assets and the server-sent event stream.
//!
//! The monitor keeps no call state of its own: a page that resyncs reloads it from the admin API (`/calls`).

pub mod bus;
pub mod event;
pub mod trace;
pub mod web;

pub use bus::{Bus, Delivery, MonitorConfig, Start, SubscribeError, Subscription};
pub use event::{MonitorEvent, Payload};

use crate::metrics::Metrics;

/// Logs `event`, observes a tool's latency in the per-tool histogram and publishes the event on `bus`.
pub fn emit(bus: &Bus, metrics: &Metrics, event: MonitorEvent) {
    let payload = &event.payload;
    if payload.is_answer() {
        tracing::info!(
            call_id = %event.call_id,
            kind = payload.kind(),
            name = payload.name(),
            latency_ms = payload.latency_ms(),
            outcome = %payload.outcome(),
            dedup = payload.dedup(),
            detail = %payload.detail(),
            "answer"
        );
    } else {
        tracing::debug!(call_id = %event.call_id, kind = payload.kind(), "call event");
    }
    if let Payload::Tool { name, latency_ms, .. } = payload {
        metrics.observe_tool(name, latency_ms / 1000.0);
    }
    bus.publish(event);
}

/// Milliseconds in `elapsed`, with microsecond precision.
pub fn millis(elapsed: std::time::Duration) -> f64 {
    (elapsed.as_micros() as f64) / 1000.0
}
