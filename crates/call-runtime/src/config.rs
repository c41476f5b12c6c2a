//! What the edge configures: how calls are treated (`[calls]`) and how long stored data lives (`[retention]`).

use std::time::Duration;

use call_state::Limits;
use serde::Deserialize;

/// How the runtime treats calls. Read once at the edge.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RuntimeConfig {
    /// Caps on each call's state.
    pub limits: Limits,
    /// A call with no event for this long retires (its snapshot is kept).
    pub idle_timeout_seconds: f64,
    /// A call this instance does not serve retires after this long without a message (at most
    /// `idle_timeout_seconds`): one whose newest event was taken by another instance (checked once the actor
    /// has been quiet this long), or whose actor was restarted and took no event since. So each instance's
    /// memory tracks the calls it takes events for, not every call it once took an event of.
    pub unserved_idle_timeout_seconds: f64,
    /// Save a snapshot after this many events (the journal covers the rest).
    pub snapshot_every: u32,
    /// Live calls at most; events of further new calls are refused until some retire.
    pub max_live_calls: usize,
    /// How long a query waits for a call's actor.
    pub ask_timeout_ms: u64,
    /// Bytes of JSON one event may take in the journal. A larger event has its texts cut to
    /// `limits.max_turn_bytes` first; one still larger is refused. With `snapshot_every`, this bounds what a
    /// call holds in its journal between snapshots.
    pub max_event_bytes: usize,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            limits: Limits::default(),
            idle_timeout_seconds: 600.0,
            unserved_idle_timeout_seconds: 60.0,
            snapshot_every: 32,
            max_live_calls: 200_000,
            ask_timeout_ms: 2_000,
            max_event_bytes: 1024 * 1024,
        }
    }
}

impl RuntimeConfig {
    /// The idle timeout as a duration.
    pub fn idle_timeout(&self) -> Duration {
        Duration::try_from_secs_f64(self.idle_timeout_seconds).unwrap_or(Duration::from_secs(600))
    }

    /// How long a call this instance does not serve stays live without a message.
    pub fn unserved_idle_timeout(&self) -> Duration {
        Duration::try_from_secs_f64(self.unserved_idle_timeout_seconds)
            .unwrap_or(Duration::from_secs(60))
            .min(self.idle_timeout())
    }

    /// Checks ranges.
    pub fn validate(&self) -> Result<(), String> {
        if !(self.unserved_idle_timeout_seconds.is_finite() && self.unserved_idle_timeout_seconds >= 0.01) {
            return Err(format!(
                "calls.unserved_idle_timeout_seconds must be at least 0.01, got {}",
                self.unserved_idle_timeout_seconds
            ));
        }
        if !(self.idle_timeout_seconds.is_finite() && self.idle_timeout_seconds >= 0.01) {
            return Err(format!(
                "calls.idle_timeout_seconds must be at least 0.01, got {}",
                self.idle_timeout_seconds
            ));
        }
        if self.max_live_calls == 0 {
            return Err("calls.max_live_calls must be at least 1".into());
        }
        if self.max_event_bytes < 4096 {
            return Err(format!(
                "calls.max_event_bytes must be at least 4096, got {}",
                self.max_event_bytes
            ));
        }
        if self.limits.max_turns == 0 || self.limits.max_seen_events == 0 {
            return Err("calls.limits.max_turns and max_seen_events must be at least 1".into());
        }
        Ok(())
    }
}

/// Who this process is among the instances that share a store: named in logs, metrics and `/calls`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceConfig {
    /// The instance id.
    pub id: String,
    /// How often the instance publishes its live calls to a shared store.
    pub heartbeat: Duration,
    /// Ended calls (with their reports) listed per instance at most.
    pub ended_kept: usize,
}

impl Default for InstanceConfig {
    fn default() -> Self {
        InstanceConfig::named(InstanceConfig::generated_id())
    }
}

impl InstanceConfig {
    /// An instance called `id`, with the default heartbeat (5 s) and 1000 ended calls kept.
    pub fn named(id: impl Into<String>) -> InstanceConfig {
        InstanceConfig {
            id: id.into(),
            heartbeat: Duration::from_secs(5),
            ended_kept: 1000,
        }
    }

    /// The host's name and a random suffix, e.g. `web-3-5f2a9c`: distinct for two processes on one host.
    pub fn generated_id() -> String {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .or_else(|| std::env::var("HOSTNAME").ok())
            .map(|host| host.trim().to_string())
            .filter(|host| !host.is_empty())
            .unwrap_or_else(|| "switchboard".into());
        // A host name is whatever bytes the kernel holds: keep the characters of a DNS name, at most 100.
        let host: String = host
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
            .take(100)
            .collect();
        let host = if host.is_empty() { "switchboard".into() } else { host };
        format!("{host}-{:06x}", crate::store::fresh_id() & 0xff_ffff)
    }

    /// Checks the id is usable as part of a key and a label: 1 to 128 bytes, no whitespace, control
    /// characters, braces (a key's hash tag), quotes or backslashes (the Prometheus text format, whose label
    /// values `prometheus-client` writes unescaped).
    pub fn validate(&self) -> Result<(), String> {
        if self.id.is_empty() || self.id.len() > 128 {
            return Err(format!(
                "server.instance_id must be 1 to 128 bytes, got {}",
                self.id.len()
            ));
        }
        if self.id.chars().any(|c| !instance_char(c)) {
            return Err(format!(
                "server.instance_id {:?} must not contain whitespace, control characters, braces, quotes or \
                 backslashes",
                self.id
            ));
        }
        if self.heartbeat < Duration::from_millis(10) {
            return Err("server.heartbeat_seconds must be at least 0.01".into());
        }
        Ok(())
    }
}

/// Whether `c` may be part of an instance id.
fn instance_char(c: char) -> bool {
    !(c.is_whitespace() || c.is_control() || matches!(c, '{' | '}' | '"' | '\\'))
}

/// How long stored data lives and how much of it a store holds, the same for the memory store and Redis.
/// Every time-to-live counts from the item's last write.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetentionConfig {
    /// How long a call's snapshot, journal and conversation link live after their last write.
    pub call_ttl_seconds: u64,
    /// How long a stored end-of-call report lives after it was (re)delivered.
    pub report_ttl_seconds: u64,
    /// How long a conversation's memory lives after its last write.
    pub conversation_ttl_seconds: u64,
    /// Calls the memory store holds at most (and as many reports, links and conversations); past it the least
    /// recently written go first. Redis bounds itself with `maxmemory`.
    pub max_stored_calls: usize,
    /// Keys in one conversation's memory; a write of a new key past it is refused.
    pub conversation_max_entries: usize,
    /// Bytes of one conversation memory entry (key plus the value's JSON text); a larger write is refused.
    pub conversation_max_value_bytes: usize,
    /// Bytes of one conversation's memory in all (keys plus JSON values); a write past it is refused.
    pub conversation_max_bytes: usize,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            call_ttl_seconds: 24 * 3600,
            report_ttl_seconds: 24 * 3600,
            conversation_ttl_seconds: 30 * 24 * 3600,
            max_stored_calls: 200_000,
            conversation_max_entries: 256,
            conversation_max_value_bytes: 64 * 1024,
            conversation_max_bytes: 256 * 1024,
        }
    }
}

impl RetentionConfig {
    /// A call's time-to-live.
    pub fn call_ttl(&self) -> Duration {
        Duration::from_secs(self.call_ttl_seconds)
    }

    /// A report's time-to-live.
    pub fn report_ttl(&self) -> Duration {
        Duration::from_secs(self.report_ttl_seconds)
    }

    /// A conversation's time-to-live.
    pub fn conversation_ttl(&self) -> Duration {
        Duration::from_secs(self.conversation_ttl_seconds)
    }

    /// How often the memory store sweeps out what expired: a tenth of the shortest TTL, at most a minute.
    pub fn sweep_interval(&self) -> Duration {
        let shortest = self
            .call_ttl_seconds
            .min(self.report_ttl_seconds)
            .min(self.conversation_ttl_seconds);
        (Duration::from_secs(shortest) / 10).clamp(Duration::from_millis(100), Duration::from_secs(60))
    }

    /// Checks ranges.
    pub fn validate(&self) -> Result<(), String> {
        let positive = [
            ("call_ttl_seconds", self.call_ttl_seconds),
            ("report_ttl_seconds", self.report_ttl_seconds),
            ("conversation_ttl_seconds", self.conversation_ttl_seconds),
            ("max_stored_calls", self.max_stored_calls as u64),
            ("conversation_max_entries", self.conversation_max_entries as u64),
            ("conversation_max_value_bytes", self.conversation_max_value_bytes as u64),
            ("conversation_max_bytes", self.conversation_max_bytes as u64),
        ];
        for (name, value) in positive {
            if value == 0 {
                return Err(format!("retention.{name} must be at least 1"));
            }
        }
        // Redis takes TTLs as 64-bit seconds but a year is plenty; larger values are surely typos.
        for (name, value) in &positive[..3] {
            if *value > 366 * 24 * 3600 {
                return Err(format!(
                    "retention.{name} must be at most a year (31622400), got {value}"
                ));
            }
        }
        if self.conversation_max_value_bytes > self.conversation_max_bytes {
            return Err("retention.conversation_max_value_bytes must not exceed conversation_max_bytes".into());
        }
        Ok(())
    }
}
