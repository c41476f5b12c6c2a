//! `GET /metrics` in Prometheus text format: webhook messages by type, request latency by type, tool latency
//! by tool (the label bounded to the configured tools), monitor subscribers dropped behind, and the
//! runtime's live calls, restarts, retirements, trimmed items and tool call deliveries answered from an earlier
//! run, read from its counters at scrape time, and the voice engines' pools (busy slots, queue, requests refused
//! when full).

use std::time::Duration;

use call_runtime::{CallRuntime, RuntimeStats};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TypeLabel {
    r#type: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ToolLabel {
    tool: String,
}

/// The `tool` label of a tool not configured (a name the model made up): the label's values stay bounded.
pub const OTHER_TOOL: &str = "other";

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabel {
    status: u16,
}

/// The server's metrics. One per server, shared by every request.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    messages: Family<TypeLabel, Counter>,
    latency: Family<TypeLabel, Histogram>,
    responses: Family<StatusLabel, Counter>,
    hangs: Counter,
    missing_subscriptions: Counter,
    tools: Family<ToolLabel, Histogram>,
    tool_names: std::collections::HashSet<String>,
    monitor_resyncs: Counter,
}

impl Metrics {
    /// Metrics over `runtime`'s counters.
    pub fn new(runtime: CallRuntime) -> Metrics {
        let mut registry = Registry::default();
        let messages = Family::<TypeLabel, Counter>::default();
        registry.register(
            "switchboard_messages",
            "Webhook messages received, by message type",
            messages.clone(),
        );
        let latency = Family::<TypeLabel, Histogram>::new_with_constructor(|| {
            // 50 µs to ~1.6 s.
            Histogram::new(exponential_buckets(0.000_05, 2.0, 16))
        });
        registry.register(
            "switchboard_request_duration_seconds",
            "Time from a webhook's arrival to its answer, by message type",
            latency.clone(),
        );
        let responses = Family::<StatusLabel, Counter>::default();
        registry.register(
            "switchboard_responses",
            "Webhook answers, by HTTP status",
            responses.clone(),
        );
        let hangs = Counter::default();
        registry.register(
            "switchboard_hangs",
            "`hang` messages: the assistant stalled on a call",
            hangs.clone(),
        );
        let missing_subscriptions = Counter::default();
        registry.register(
            "switchboard_missing_subscriptions",
            "Calls whose conversation arrived only inside other messages (no transcript, no conversation-update): \
             their assistant is likely not subscribed to those messages",
            missing_subscriptions.clone(),
        );
        let tools = Family::<ToolLabel, Histogram>::new_with_constructor(|| {
            // 1 ms to ~33 s: Vapi's tool timeout is 20 s by default.
            Histogram::new(exponential_buckets(0.001, 2.0, 16))
        });
        registry.register(
            "switchboard_tool_duration_seconds",
            "Time to answer a tool call, by tool (`other` for names not configured)",
            tools.clone(),
        );
        let monitor_resyncs = Counter::default();
        registry.register(
            "switchboard_monitor_resyncs",
            "Monitor subscribers whose buffer overflowed (events dropped for them; told to resync)",
            monitor_resyncs.clone(),
        );
        registry.register_collector(Box::new(RuntimeCollector { runtime }));
        Metrics {
            registry,
            messages,
            latency,
            responses,
            hangs,
            missing_subscriptions,
            tools,
            tool_names: Default::default(),
            monitor_resyncs,
        }
    }

    /// Sets the tools whose names label the tool histogram; others are counted as [`OTHER_TOOL`].
    pub fn set_tools(&mut self, names: impl IntoIterator<Item = String>) {
        self.tool_names = names.into_iter().collect();
    }

    /// Observes one tool call's time to answer, in seconds.
    pub fn observe_tool(&self, name: &str, seconds: f64) {
        let tool = match self.tool_names.contains(name) {
            true => name.to_string(),
            false => OTHER_TOOL.to_string(),
        };
        self.tools.get_or_create(&ToolLabel { tool }).observe(seconds);
    }

    /// The counter of monitor subscribers dropped behind (the bus increments it).
    pub fn monitor_resyncs(&self) -> Counter {
        self.monitor_resyncs.clone()
    }

    /// Adds the voice engines' pool gauges and counters, read at scrape time.
    pub fn register_voice(&mut self, voice: voice::VoiceService) {
        self.registry.register_collector(Box::new(VoiceCollector { voice }));
    }

    /// Adds a collector read at scrape time.
    pub fn register_collector(&mut self, collector: Box<dyn Collector>) {
        self.registry.register_collector(collector);
    }

    /// Counts one parsed message and how long answering it took.
    pub fn observe(&self, kind: &'static str, elapsed: Duration) {
        self.messages.get_or_create(&TypeLabel { r#type: kind }).inc();
        self.latency
            .get_or_create(&TypeLabel { r#type: kind })
            .observe(elapsed.as_secs_f64());
    }

    /// Counts one webhook answer by status.
    pub fn respond(&self, status: u16) {
        self.responses.get_or_create(&StatusLabel { status }).inc();
    }

    /// Counts one `hang`.
    pub fn hang(&self) {
        self.hangs.inc();
    }

    /// Counts one call whose subscriptions look missing.
    pub fn missing_subscriptions(&self) {
        self.missing_subscriptions.inc();
    }

    /// The text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// Reads the runtime's atomics at scrape time, so the hot path pays only a relaxed increment.
#[derive(Debug)]
struct RuntimeCollector {
    runtime: CallRuntime,
}

impl Collector for RuntimeCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let stats: &RuntimeStats = self.runtime.stats();
        let load = |counter: &std::sync::atomic::AtomicU64| counter.load(std::sync::atomic::Ordering::Relaxed);
        let gauge = ConstGauge::new(self.runtime.live_calls() as i64);
        gauge.encode(encoder.encode_descriptor(
            "switchboard_live_calls",
            "Calls with a live actor",
            None,
            gauge.metric_type(),
        )?)?;
        // Which instance this is and which store it uses, as labels of a constant 1.
        let info = ConstGauge::new(1i64);
        let labels = [
            ("instance", self.runtime.instance_id().to_string()),
            ("store", self.runtime.store_name().to_string()),
        ];
        info.encode(
            encoder
                .encode_descriptor(
                    "switchboard_instance_info",
                    "This instance's id and store",
                    None,
                    info.metric_type(),
                )?
                .encode_family(&labels)?,
        )?;
        let counters = [
            (
                "switchboard_actor_restarts",
                "Call actors restarted after a failure",
                &stats.restarts,
            ),
            (
                "switchboard_actors_started",
                "Call actors started",
                &stats.actors_started,
            ),
            (
                "switchboard_retired_idle",
                "Call actors retired for idleness",
                &stats.retired_idle,
            ),
            (
                "switchboard_retired_unserved",
                "Call actors retired sooner because this instance does not serve their call",
                &stats.retired_unserved,
            ),
            (
                "switchboard_retired_ended",
                "Call actors retired after the call ended",
                &stats.retired_ended,
            ),
            (
                "switchboard_store_heals",
                "Calls whose stored record was lost (store restarted empty, flushed, evicted) and re-seeded from a live actor",
                &stats.store_heals,
            ),
            (
                "switchboard_stale_answers",
                "Answers given from this instance's view of a call because the shared store could not be read",
                &stats.stale_answers,
            ),
            (
                "switchboard_store_expired",
                "Items (calls, reports, links, conversations) the memory store dropped after their TTL",
                &self.runtime.store_stats().expired,
            ),
            (
                "switchboard_store_evicted",
                "Items the memory store dropped to stay within retention.max_stored_calls",
                &self.runtime.store_stats().evicted,
            ),
            (
                "switchboard_conversation_memory_refused",
                "Conversation memory writes refused by the retention bounds",
                &self.runtime.store_stats().memory_refused,
            ),
        ];
        for (name, help, counter) in counters {
            let value = ConstCounter::new(load(counter));
            value.encode(encoder.encode_descriptor(name, help, None, MetricType::Counter)?)?;
        }
        let mut events = encoder.encode_descriptor(
            "switchboard_events_applied",
            "Call events folded into call state, by outcome",
            None,
            MetricType::Counter,
        )?;
        for (outcome, counter) in [
            ("changed", &stats.events_changed),
            ("duplicate", &stats.events_duplicate),
            ("ignored", &stats.events_ignored),
        ] {
            ConstCounter::new(load(counter)).encode(events.encode_family(&[("outcome", outcome)])?)?;
        }
        let mut trimmed = encoder.encode_descriptor(
            "switchboard_trimmed",
            "Items the per-call caps trimmed or refused, by kind",
            None,
            MetricType::Counter,
        )?;
        for (kind, counter) in RuntimeStats::TRIMMED_KINDS.iter().zip(&stats.trimmed) {
            ConstCounter::new(load(counter)).encode(trimmed.encode_family(&[("kind", *kind)])?)?;
        }
        let mut dedup = encoder.encode_descriptor(
            "switchboard_tool_dedup",
            "Repeated tool call deliveries answered without running the tool again: after the run completed, \
             or by waiting for the run in flight",
            None,
            MetricType::Counter,
        )?;
        for (state, counter) in [
            ("completed", &stats.tool_replays_completed),
            ("in_flight", &stats.tool_replays_in_flight),
        ] {
            ConstCounter::new(load(counter)).encode(dedup.encode_family(&[("state", state)])?)?;
        }
        Ok(())
    }
}

/// A metric's name, help and how to read it from one pool.
type Metric<T> = (&'static str, &'static str, fn(&voice::PoolStats) -> T);

/// Reads the voice pools at scrape time.
#[derive(Debug)]
struct VoiceCollector {
    voice: voice::VoiceService,
}

impl Collector for VoiceCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let pools = self.voice.pool_stats();
        let gauges: [Metric<usize>; 3] = [
            (
                "switchboard_voice_slots",
                "Voice requests an engine synthesizes at once",
                |p| p.slots,
            ),
            ("switchboard_voice_busy", "Voice engine slots in use", |p| p.busy),
            ("switchboard_voice_queued", "Voice requests waiting for a slot", |p| {
                p.queued
            }),
        ];
        for (name, help, value) in gauges {
            let mut family = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
            for pool in &pools {
                ConstGauge::new(value(pool) as i64).encode(family.encode_family(&[("engine", pool.engine)])?)?;
            }
        }
        let counters: [Metric<u64>; 4] = [
            ("switchboard_voice_served", "Voice requests given an engine slot", |p| {
                p.served
            }),
            (
                "switchboard_voice_rejected",
                "Voice requests refused with 503 because the engine's queue was full",
                |p| p.rejected,
            ),
            (
                "switchboard_voice_cancelled",
                "Voice requests whose client disconnected before the audio was complete",
                |p| p.cancelled,
            ),
            ("switchboard_voice_failed", "Voice requests whose engine failed", |p| {
                p.failed
            }),
        ];
        for (name, help, value) in counters {
            let mut family = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
            for pool in &pools {
                ConstCounter::new(value(pool)).encode(family.encode_family(&[("engine", pool.engine)])?)?;
            }
        }
        Ok(())
    }
}
