//! The caps that keep one call's state bounded, and the counters of what they trimmed.

use serde::{Deserialize, Serialize};

/// Caps on everything a call's state can grow. Read once from configuration at the edge and passed to every
/// [`crate::CallState::apply`]; a missing field takes its default.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Conversation turns kept; the oldest go first.
    pub max_turns: usize,
    /// Bytes of text kept per turn (and per live partial, tool result, tool arguments and report summary);
    /// longer texts are cut at a char boundary.
    pub max_turn_bytes: usize,
    /// Bytes of conversation text kept in all; the oldest turns go first.
    pub max_total_text_bytes: usize,
    /// Tool records kept; the oldest go first. Also caps the transfers and the `phone-call-control` requests kept.
    pub max_tool_records: usize,
    /// Keys in a call's memory; writes of new keys past the cap are refused.
    pub max_memory_entries: usize,
    /// Bytes of one memory entry (key plus the value's JSON text); larger writes are refused.
    pub max_memory_value_bytes: usize,
    /// Event ids remembered to recognise replays; the oldest are forgotten first.
    pub max_seen_events: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_turns: 500,
            max_turn_bytes: 8 * 1024,
            max_total_text_bytes: 256 * 1024,
            max_tool_records: 200,
            max_memory_entries: 256,
            max_memory_value_bytes: 16 * 1024,
            max_seen_events: 4096,
        }
    }
}

/// How much the caps of [`Limits`] dropped or refused, so nothing is lost silently.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trimmed {
    /// Conversation turns dropped (oldest first) by `max_turns` or `max_total_text_bytes`.
    pub turns: u64,
    /// Bytes cut from texts longer than `max_turn_bytes` (turns, partials, tool arguments and results, summary).
    pub bytes: u64,
    /// Tool records dropped (oldest first) by `max_tool_records`.
    pub tool_records: u64,
    /// Transfers and `phone-call-control` requests dropped (oldest first) by `max_tool_records`.
    pub transfers: u64,
    /// Memory writes of a new key refused by `max_memory_entries`.
    pub memory_entries: u64,
    /// Memory writes refused by `max_memory_value_bytes`.
    pub memory_values: u64,
    /// Event ids forgotten by `max_seen_events`: a replay of one of them can no longer be recognised.
    pub seen_events: u64,
}

impl Trimmed {
    /// Whether no cap has trimmed anything.
    pub fn is_empty(&self) -> bool {
        *self == Trimmed::default()
    }
}
