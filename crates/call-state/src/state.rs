//! [`CallState`]: one call's state, folded from its events exactly once, with the queries tools ask.
//!
//! # The conversation
//! A `conversation-update` carries the whole conversation so far and is authoritative: after it, the turns are
//! exactly its turns (minus what the caps drop), followed by the final transcripts that arrived after the
//! previous update and that this update does not include yet. A final transcript counts as included when a
//! same-role turn of the update's new part contains its words (see `text::covers`); such finals are dropped
//! rather than shown twice. A final that arrives after an update already including it (webhooks race) is not
//! appended either. Partial transcripts only update the per-role live partial, which the final of that role
//! clears.
//!
//! # Conversations seen in other messages
//! Messages other than `conversation-update` often carry the conversation too (the artifact of `tool-calls`,
//! `status-update`, `end-of-call-report`; the lists of `knowledge-base-request` and `call.endpointing.request`),
//! and on a call whose assistant is not subscribed to transcripts or conversation updates they are the only
//! context there is. The longest such conversation is kept apart (`seen`), and the turns shown are the call's
//! own turns (from transcripts and updates) followed by the seen turns past the last one that matches the last
//! own turn: same role, and the same normalized words or one's words found whole, in order, in the other's (Vapi's
//! log may merge or split finals). Times are not compared: a transcript's is when it was sent, a log entry's when
//! the utterance started. With no own turns,
//! every seen turn is shown; when the last own turn is not among them, none is (that view is older). So a seen
//! turn is shown only for the span the call's own turns do not reach, and never beside the final transcript
//! that said it, whichever arrived first. Own turns missing in the middle (a lost webhook) stay missing. The
//! first seen conversation with a spoken turn on a call that had no transcript or update yet is remembered
//! ([`CallState::missing_subscriptions_noticed_by`]): the assistant is likely not subscribed to them.
//!
//! # Time only moves forward
//! Webhooks arrive out of order, so an event older than what the state knows does not take it back: `ended`
//! is terminal, a status replaces the shown one only when it is not older (by timestamp, then by its place in a
//! call's life), the start and end times are set once, a `speech-update` of an earlier turn is ignored, and a
//! final transcript that arrives late is placed among the finals since the last update by its timestamp, so
//! the conversation reads in spoken order. Equal or missing timestamps keep arrival order.
//!
//! # Exactly once
//! The ids of the last [`Limits::max_seen_events`] events are remembered; an event whose id is among them is a
//! [`Applied::Duplicate`] and changes nothing. A replay arriving after its id was forgotten cannot be
//! recognised and is applied again; [`Trimmed::seen_events`] counts how many ids were forgotten, so a caller
//! can tell whether that was possible.
//!
//! The ids are kept in a plain ring searched linearly rather than in a hash set: for the few hundred events of
//! a typical call this is as fast and costs a third of the memory, which matters at thousands of live calls.

use std::collections::{BTreeMap, VecDeque};
use std::mem::size_of;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::endpointing::{Endpointing, Mark};
use crate::event::{CallEvent, EventId, EventKind, Metadata, Role, ToolInvocation, ToolOutcome, Turn};
use crate::limits::{Limits, Trimmed};
use crate::text::{covers, json_len, normalized, truncate_at};

/// The version of the snapshot format (the serde form of [`CallState`]). Bumped on any incompatible change.
pub const SNAPSHOT_VERSION: u32 = 1;

/// What [`CallState::apply`] did with an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// The event was applied and changed what the queries show.
    Changed,
    /// The event was applied before (same id): nothing changed.
    Duplicate,
    /// The event belongs to another call (nothing changed), or it was recorded as applied but changed nothing
    /// the queries show (a delete of an absent key, a repeated status).
    Ignored,
}

/// A tool call the model made, and its result once known.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolRecord {
    /// The tool call id.
    pub id: String,
    /// The tool's function name (empty when only the result was seen).
    pub name: String,
    /// The arguments (`null` when only the result was seen; a JSON string when cut by the caps).
    pub arguments: Value,
    /// The result text, once answered.
    pub result: Option<String>,
    /// The error text, when the call failed.
    pub error: Option<String>,
    /// When the call was made, epoch milliseconds.
    pub at_ms: Option<i64>,
}

/// A transfer of the call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transfer {
    /// The destination's type: `number`, `sip` or `assistant`.
    pub kind: Option<String>,
    /// The number, SIP URI or assistant name transferred to.
    pub target: Option<String>,
    /// The assistant transferred to, in squads.
    pub to_assistant: Option<String>,
    /// The assistant transferred from, in squads.
    pub from_assistant: Option<String>,
    /// When it happened, epoch milliseconds.
    pub at_ms: Option<i64>,
}

/// A `forward` or `hang-up` Vapi delegated to the server (`phone-call-control`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhoneControl {
    /// `forward` or `hang-up`.
    pub request: String,
    /// The destination's type, for a forward: `number` or `sip`.
    pub kind: Option<String>,
    /// The number or SIP URI forwarded to.
    pub target: Option<String>,
    /// When it was requested, epoch milliseconds.
    pub at_ms: Option<i64>,
}

/// What the end-of-call report added.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EndReport {
    /// The analysis summary.
    pub summary: Option<String>,
    /// Total cost in USD.
    pub cost: Option<f64>,
    /// Call length in seconds.
    pub duration_seconds: Option<f64>,
}

/// An estimate of the memory a state uses (see [`CallState::footprint`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Footprint {
    /// `size_of::<CallState>()`.
    pub inline: usize,
    /// Heap bytes owned, by capacity (allocator overhead not included).
    pub heap: usize,
    /// Bytes of conversation and partial text, included in `heap`.
    pub text: usize,
}

impl Footprint {
    /// Bytes beyond the text itself: what a live call costs for holding state at all.
    pub fn overhead(&self) -> usize {
        (self.inline + self.heap).saturating_sub(self.text)
    }
}

/// The state of one call: metadata, conversation, speech, tools, memory, and what the caps trimmed.
///
/// Changed only by [`CallState::apply`]. Its serde form is the stored snapshot format, versioned by the
/// `version` field ([`SNAPSHOT_VERSION`]).
///
/// Cloning is cheap whatever the conversation's length: the turns, tool records, memory and remembered event
/// ids are shared between a state and its clones, and copied only when one side changes them (copy on
/// write), so a query can take a clone while the call goes on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallState {
    version: u32,
    call_id: String,
    meta: Metadata,
    status: Option<String>,
    ended_reason: Option<String>,
    ended_at_ms: Option<i64>,
    last_event_at_ms: Option<i64>,
    /// The timestamp of the status event `status` comes from: an older status event does not replace it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    status_at_ms: Option<i64>,
    /// The conversation: `turns[..covered]` come from the last update, the rest are finals since, in spoken
    /// order. Shared with the clones of this state until either side changes it.
    #[serde(with = "shared")]
    turns: Arc<Vec<Turn>>,
    covered: u32,
    /// How many turns the last update had, and how many of its oldest the caps dropped.
    update_turns: u32,
    update_dropped: u32,
    /// How many tool calls and results the last update had: later updates repeat them, and only what is
    /// new in an update is folded into the tool records (so a record the caps dropped stays dropped).
    update_tool_calls: u32,
    update_tool_results: u32,
    partial_user: Option<String>,
    partial_assistant: Option<String>,
    speaking: Option<Role>,
    turn: u64,
    language: Option<String>,
    interruptions: u32,
    hangs: u32,
    transfers: Vec<Transfer>,
    /// Absent from snapshots written before it existed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    phone_controls: Vec<PhoneControl>,
    #[serde(with = "shared")]
    tool_records: Arc<Vec<ToolRecord>>,
    #[serde(with = "shared")]
    memory: Arc<BTreeMap<String, Value>>,
    report: Option<Box<EndReport>>,
    trimmed: Trimmed,
    /// The ids of the last events applied, oldest first.
    #[serde(with = "shared")]
    seen: Arc<VecDeque<EventId>>,
    events_applied: u64,
    /// The end-of-turn history: endpointing decisions and the speech around them.
    #[serde(default, skip_serializing_if = "Endpointing::is_empty")]
    endpointing: Endpointing,
    /// The longest conversation seen in messages other than updates (capped like the turns).
    #[serde(default, with = "shared", skip_serializing_if = "no_turns")]
    seen_turns: Arc<Vec<Turn>>,
    /// How many of the last `turns` come from `seen_turns`, past the own turns.
    #[serde(default, skip_serializing_if = "is_zero")]
    seen_tail: u32,
    /// Whether a transcript or a conversation update arrived.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    informed: bool,
    /// The event that first showed the conversation while no transcript or update had arrived.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    missing_subscriptions: Option<EventId>,
}

fn is_zero(value: &u32) -> bool {
    *value == 0
}

fn no_turns(turns: &Arc<Vec<Turn>>) -> bool {
    turns.is_empty()
}

impl CallState {
    /// An empty state for a call.
    pub fn new(call_id: impl Into<String>) -> Self {
        CallState {
            version: SNAPSHOT_VERSION,
            call_id: call_id.into(),
            meta: Metadata::default(),
            status: None,
            ended_reason: None,
            ended_at_ms: None,
            last_event_at_ms: None,
            status_at_ms: None,
            turns: Arc::default(),
            covered: 0,
            update_turns: 0,
            update_dropped: 0,
            update_tool_calls: 0,
            update_tool_results: 0,
            partial_user: None,
            partial_assistant: None,
            speaking: None,
            turn: 0,
            language: None,
            interruptions: 0,
            hangs: 0,
            transfers: Vec::new(),
            phone_controls: Vec::new(),
            tool_records: Arc::default(),
            memory: Arc::default(),
            report: None,
            trimmed: Trimmed::default(),
            seen: Arc::default(),
            events_applied: 0,
            seen_turns: Arc::default(),
            seen_tail: 0,
            informed: false,
            missing_subscriptions: None,
            endpointing: Endpointing::default(),
        }
    }

    /// Folds one event into the state, exactly once.
    ///
    /// Events of another call are [`Applied::Ignored`]; an event already applied (same id, still remembered)
    /// is an [`Applied::Duplicate`]. Everything the event grows stays within `limits`; what they trim is
    /// counted in [`CallState::trimmed`]. Never panics.
    pub fn apply(&mut self, event: &CallEvent, limits: &Limits) -> Applied {
        if event.call_id != self.call_id {
            return Applied::Ignored;
        }
        if self.has_seen(event.id) {
            return Applied::Duplicate;
        }
        self.remember(event.id, limits);
        self.events_applied += 1;
        if let Some(at) = event.at_ms {
            self.last_event_at_ms = Some(self.last_event_at_ms.map_or(at, |last| last.max(at)));
        }
        let mut changed = match &event.meta {
            Some(meta) => self.meta.merge(meta),
            None => false,
        };
        changed |= match &event.kind {
            EventKind::ConversationSeen { turns } => self.apply_seen(turns, event.id, limits),
            EventKind::Transcript { is_final: true, .. } | EventKind::Conversation { .. } => {
                // Own turns change: set the seen tail apart, fold, and show what of it the own turns lack.
                let tail = self.strip_seen_tail();
                let first = !self.informed;
                self.informed = true;
                let folded = self.apply_kind(&event.kind, event.at_ms, limits);
                self.merge_seen_tail(limits);
                folded || first || tail != self.turns[self.turns.len() - self.seen_tail as usize..]
            }
            kind => {
                if matches!(kind, EventKind::Transcript { .. }) {
                    self.informed = true;
                }
                self.apply_kind(kind, event.at_ms, limits)
            }
        };
        if changed { Applied::Changed } else { Applied::Ignored }
    }

    fn apply_kind(&mut self, kind: &EventKind, at_ms: Option<i64>, limits: &Limits) -> bool {
        match kind {
            EventKind::Metadata => false,
            EventKind::Status { status, ended_reason } => self.apply_status(status, ended_reason.as_deref(), at_ms),
            EventKind::Transcript { role, is_final, text } => {
                self.apply_transcript(*role, *is_final, text, at_ms, limits)
            }
            EventKind::Conversation {
                turns,
                tool_calls,
                tool_results,
            } => {
                let mut changed = self.apply_conversation(turns, limits);
                changed |= self.apply_logged_tools(tool_calls, tool_results, at_ms, limits);
                changed
            }
            // Folded in `apply`, which knows the event's id.
            EventKind::ConversationSeen { .. } => false,
            EventKind::Speech { role, started, turn } => {
                // The end-of-turn history places speech by its timestamp, whatever turn it belongs to.
                let mark = match (role, started) {
                    (Role::User, true) => Some(Mark::UserStarted),
                    (Role::User, false) => Some(Mark::UserStopped),
                    (Role::Assistant, true) => Some(Mark::AssistantStarted),
                    _ => None,
                };
                let mut changed = mark.is_some_and(|mark| self.endpointing.marked(mark, at_ms));
                if turn.is_some_and(|turn| turn < self.turn) {
                    // Speech of an earlier turn, delivered late: who speaks now is known from later turns.
                    return changed;
                }
                if let Some(turn) = turn
                    && *turn != self.turn
                {
                    self.turn = *turn;
                    changed = true;
                }
                if *started {
                    changed |= self.speaking != Some(*role);
                    self.speaking = Some(*role);
                } else if self.speaking == Some(*role) {
                    self.speaking = None;
                    changed = true;
                }
                changed
            }
            EventKind::Interrupted { .. } => {
                self.interruptions = self.interruptions.saturating_add(1);
                self.endpointing.marked(Mark::UserInterrupted, at_ms);
                true
            }
            EventKind::Endpointing { decision } => self.endpointing.decided(decision, at_ms),
            EventKind::Language { language } => {
                let language = Some(language.as_str());
                if self.language.as_deref() == language {
                    return false;
                }
                self.language = language.map(str::to_owned);
                true
            }
            EventKind::Transfer {
                kind,
                target,
                to_assistant,
                from_assistant,
            } => {
                self.transfers.push(Transfer {
                    kind: kind.clone(),
                    target: target.clone(),
                    to_assistant: to_assistant.clone(),
                    from_assistant: from_assistant.clone(),
                    at_ms,
                });
                let excess = self.transfers.len().saturating_sub(limits.max_tool_records);
                if excess > 0 {
                    self.transfers.drain(..excess);
                    self.trimmed.transfers += excess as u64;
                }
                true
            }
            EventKind::PhoneCallControl { request, kind, target } => {
                self.phone_controls.push(PhoneControl {
                    request: request.clone(),
                    kind: kind.clone(),
                    target: target.clone(),
                    at_ms,
                });
                // Counted with transfers: a delegated forward is one.
                let excess = self.phone_controls.len().saturating_sub(limits.max_tool_records);
                if excess > 0 {
                    self.phone_controls.drain(..excess);
                    self.trimmed.transfers += excess as u64;
                }
                true
            }
            EventKind::Hang => {
                self.hangs = self.hangs.saturating_add(1);
                true
            }
            EventKind::ToolCalls { calls } => {
                let mut changed = false;
                for call in calls {
                    changed |= self.record_call(call, at_ms, limits);
                }
                changed
            }
            EventKind::ToolResult {
                tool_call_id,
                name,
                result,
                error,
            } => {
                let outcome = ToolOutcome {
                    tool_call_id: tool_call_id.clone(),
                    name: name.clone(),
                    result: result.clone(),
                    error: error.clone(),
                };
                self.record_outcome(&outcome, true, at_ms, limits)
            }
            EventKind::MemorySet { key, value } => self.memory_set(key, value, limits),
            EventKind::MemoryDelete { key } => {
                self.memory.contains_key(key) && Arc::make_mut(&mut self.memory).remove(key).is_some()
            }
            EventKind::EndOfCallReport {
                ended_reason,
                summary,
                cost,
                duration_seconds,
                ended_at_ms,
            } => {
                if let Some(reason) = ended_reason {
                    set_if_different(&mut self.ended_reason, reason);
                }
                if self.ended_at_ms.is_none() {
                    self.ended_at_ms = ended_at_ms.or(at_ms);
                }
                let summary = summary
                    .as_deref()
                    .map(|text| self.cut(text, limits.max_turn_bytes).to_owned());
                self.report = Some(Box::new(EndReport {
                    summary,
                    cost: *cost,
                    duration_seconds: *duration_seconds,
                }));
                true
            }
        }
    }

    // ---- status ----

    /// Folds a status. Time only moves forward: `ended` is terminal (nothing but another `ended` follows it,
    /// and an end-of-call report ends the call too), and a status older than the one shown (by timestamp, then
    /// by its place in a call's life) does not replace it. A status without a timestamp, or replacing one
    /// without, goes by arrival. The start and end times are set once, by the first `in-progress` and `ended`.
    fn apply_status(&mut self, status: &str, ended_reason: Option<&str>, at_ms: Option<i64>) -> bool {
        let mut changed = false;
        if status == "in-progress" && self.meta.started_at_ms.is_none() && at_ms.is_some() {
            self.meta.started_at_ms = at_ms;
            changed = true;
        }
        if status == "ended" {
            if self.ended_at_ms.is_none() && at_ms.is_some() {
                self.ended_at_ms = at_ms;
                changed = true;
            }
            if self.ended_reason.is_none()
                && let Some(reason) = ended_reason
            {
                self.ended_reason = Some(reason.to_owned());
                changed = true;
            }
            if self.status.as_deref() != Some("ended") {
                self.status = Some(status.to_owned());
                self.status_at_ms = at_ms;
                changed = true;
            }
            return changed;
        }
        if self.is_ended() {
            return changed;
        }
        let newer = match (&self.status, self.status_at_ms, at_ms) {
            (Some(shown), Some(shown_at), Some(at)) => {
                (at, status_rank(status), status) >= (shown_at, status_rank(shown), shown.as_str())
            }
            _ => true,
        };
        if newer {
            changed |= set_if_different(&mut self.status, status);
            self.status_at_ms = at_ms;
        }
        changed
    }

    // ---- exactly once ----

    fn has_seen(&self, id: EventId) -> bool {
        let (front, back) = self.seen.as_slices();
        contains(front, id) || contains(back, id)
    }

    fn remember(&mut self, id: EventId, limits: &Limits) {
        let max = limits.max_seen_events;
        let seen = Arc::make_mut(&mut self.seen);
        while seen.len() >= max.max(1) {
            seen.pop_front();
            self.trimmed.seen_events += 1;
        }
        if max == 0 {
            // Nothing may be remembered: this id is forgotten as soon as it is applied.
            self.trimmed.seen_events += 1;
            return;
        }
        if seen.len() == seen.capacity() {
            // Grow by a quarter rather than doubling, and never past the cap: the ring is most of a short call's
            // overhead.
            let grow = (seen.len() / 4).max(16).min(max - seen.len());
            seen.reserve_exact(grow);
        }
        seen.push_back(id);
    }

    // ---- conversation ----

    /// Cuts `text` to `max` bytes, counting what was cut.
    fn cut<'t>(&mut self, text: &'t str, max: usize) -> &'t str {
        let kept = truncate_at(text, max);
        self.trimmed.bytes += (text.len() - kept.len()) as u64;
        kept
    }

    fn apply_transcript(
        &mut self,
        role: Role,
        is_final: bool,
        text: &str,
        at_ms: Option<i64>,
        limits: &Limits,
    ) -> bool {
        let max = limits.max_turn_bytes;
        if !is_final {
            let kept = truncate_at(text, max);
            let slot = match role {
                Role::User => &mut self.partial_user,
                Role::Assistant => &mut self.partial_assistant,
                Role::System | Role::Tool => return false,
            };
            if slot.as_deref() == Some(kept) {
                return false;
            }
            // Reuse the allocation: partials arrive many times per utterance.
            let slot = slot.get_or_insert_with(String::new);
            slot.clear();
            slot.push_str(kept);
            self.trimmed.bytes += (text.len() - kept.len()) as u64;
            return true;
        }
        let cleared = match role {
            Role::User => self.partial_user.take().is_some(),
            Role::Assistant => self.partial_assistant.take().is_some(),
            Role::System | Role::Tool => false,
        };
        if text.trim().is_empty() || self.update_already_has(role, text) {
            return cleared;
        }
        let text = self.cut(text, max).to_owned();
        let turns = Arc::make_mut(&mut self.turns);
        reserve_lean(turns, 1);
        // Finals since the last update are kept in spoken order: a final that arrives late goes before the
        // pending finals said after it. Equal or missing times keep arrival order.
        let covered = (self.covered as usize).min(turns.len());
        let at = match at_ms {
            Some(at) => turns[covered..]
                .iter()
                .position(|turn| turn.at_ms.is_some_and(|said| said > at))
                .map_or(turns.len(), |offset| covered + offset),
            None => turns.len(),
        };
        turns.insert(at, Turn { role, text, at_ms });
        self.enforce_turn_caps(limits);
        true
    }

    /// Whether the last update already holds this utterance: a same-role turn at the end of the covered part
    /// (not followed by the other speaker) contains it. Only finals before any pending one can race so.
    fn update_already_has(&self, role: Role, text: &str) -> bool {
        if self.turns.len() != self.covered as usize {
            return false;
        }
        for turn in self.turns.iter().rev() {
            if turn.role == role {
                if covers(&turn.text, text) {
                    return true;
                }
            } else if turn.role.is_speaker() {
                return false;
            }
        }
        false
    }

    fn apply_conversation(&mut self, update: &[Turn], limits: &Limits) -> bool {
        let max_bytes = limits.max_turn_bytes;
        let covered = (self.covered as usize).min(self.turns.len());
        let pending = Arc::make_mut(&mut self.turns).split_off(covered);
        let pending_count = pending.len();
        // The new part of this update: what the previous update did not have yet.
        let previous = self.update_turns as usize;
        let fresh = if update.len() >= previous {
            &update[previous..]
        } else {
            update
        };
        let kept: Vec<Turn> = pending
            .into_iter()
            .filter(|fin| {
                !fresh
                    .iter()
                    .any(|turn| turn.role == fin.role && covers(&turn.text, &fin.text))
            })
            .collect();
        let mut changed = kept.len() != pending_count;

        // Keep the newest update turns that fit beside the kept finals, so the caps drop the oldest.
        let mut room_turns = limits.max_turns.saturating_sub(kept.len());
        let mut room_bytes = limits
            .max_total_text_bytes
            .saturating_sub(kept.iter().map(|t| t.text.len()).sum());
        let mut fitting = 0;
        for turn in update.iter().rev() {
            let len = truncate_at(&turn.text, max_bytes).len();
            if room_turns == 0 || len > room_bytes {
                break;
            }
            room_turns -= 1;
            room_bytes -= len;
            fitting += 1;
        }
        let skip = update.len() - fitting;
        let previously_dropped = self.update_dropped as usize;
        if skip > previously_dropped {
            self.trimmed.turns += (skip - previously_dropped) as u64;
        }

        // Reconcile in place: the turns kept from the previous update are, in order, that update's turns from
        // index `previously_dropped`; most of them are unchanged, so only differing or new turns are cloned.
        let retained = &update[skip..];
        if skip >= previously_dropped {
            let shift = (skip - previously_dropped).min(self.turns.len());
            if shift > 0 {
                Arc::make_mut(&mut self.turns).drain(..shift);
                changed = true;
            }
        } else {
            // The update shrank or room grew: rare, so simply rebuild.
            Arc::make_mut(&mut self.turns).clear();
            changed = true;
        }
        if self.turns.len() > retained.len() {
            Arc::make_mut(&mut self.turns).truncate(retained.len());
            changed = true;
        }
        let turns = Arc::make_mut(&mut self.turns);
        let wanted = (retained.len() + kept.len()).saturating_sub(turns.len());
        reserve_lean(turns, wanted);
        for (index, turn) in retained.iter().enumerate() {
            let text = truncate_at(&turn.text, max_bytes);
            match turns.get_mut(index) {
                Some(existing)
                    if existing.role == turn.role && existing.text == text && existing.at_ms == turn.at_ms => {}
                Some(existing) => {
                    existing.role = turn.role;
                    existing.text.clear();
                    existing.text.push_str(text);
                    existing.at_ms = turn.at_ms;
                    self.trimmed.bytes += (turn.text.len() - text.len()) as u64;
                    changed = true;
                }
                None => {
                    turns.push(Turn {
                        role: turn.role,
                        text: text.to_owned(),
                        at_ms: turn.at_ms,
                    });
                    self.trimmed.bytes += (turn.text.len() - text.len()) as u64;
                    changed = true;
                }
            }
        }
        self.covered = to_u32(turns.len());
        self.update_turns = to_u32(update.len());
        self.update_dropped = to_u32(skip);
        turns.extend(kept);
        self.enforce_turn_caps(limits);
        changed
    }

    // ---- conversations seen in other messages ----

    /// Keeps `turns` as the seen conversation unless a longer one was seen, and shows its part past the own
    /// turns. Notes the first one with a spoken turn on a call without transcripts or updates.
    fn apply_seen(&mut self, turns: &[Turn], id: EventId, limits: &Limits) -> bool {
        let mut changed = false;
        if !self.informed && self.missing_subscriptions.is_none() && turns.iter().any(|turn| turn.role.is_speaker()) {
            self.missing_subscriptions = Some(id);
            changed = true;
        }
        if turns.len() < self.seen_turns.len() {
            // An older view of the conversation, delivered late.
            return changed;
        }
        let keep = turns.len().min(limits.max_turns);
        let newest = &turns[turns.len() - keep..];
        let capped: Vec<Turn> = newest
            .iter()
            .map(|turn| Turn {
                role: turn.role,
                text: truncate_at(&turn.text, limits.max_turn_bytes).to_owned(),
                at_ms: turn.at_ms,
            })
            .collect();
        if *self.seen_turns == capped {
            return changed;
        }
        self.seen_turns = Arc::new(capped);
        let before = self.strip_seen_tail();
        self.merge_seen_tail(limits);
        changed || before != self.turns[self.turns.len() - self.seen_tail as usize..]
    }

    /// Takes the seen tail off the turns, returning it.
    fn strip_seen_tail(&mut self) -> Vec<Turn> {
        let tail = (self.seen_tail as usize).min(self.turns.len());
        self.seen_tail = 0;
        if tail == 0 {
            return Vec::new();
        }
        let own = self.turns.len() - tail;
        Arc::make_mut(&mut self.turns).split_off(own)
    }

    /// Appends the seen turns past the one that matches the last own turn (all of them when there are no own
    /// turns, none when the last own turn is not among them: the seen conversation is older), then applies the
    /// caps.
    fn merge_seen_tail(&mut self, limits: &Limits) {
        let start = match self.turns.last() {
            None => 0,
            Some(last) => {
                let key = normalized(&last.text);
                let same = |seen: &Turn| {
                    if seen.role != last.role {
                        return false;
                    }
                    // Whole words, either way: Vapi's log may merge finals into one entry, or split them.
                    let text = normalized(&seen.text);
                    text == key || (key.len() > 1 && text.contains(&key)) || (text.len() > 1 && key.contains(&text))
                };
                match self.seen_turns.iter().rposition(same) {
                    Some(at) => at + 1,
                    None => return,
                }
            }
        };
        let tail = &self.seen_turns[start..];
        if tail.is_empty() {
            return;
        }
        let turns = Arc::make_mut(&mut self.turns);
        reserve_lean(turns, tail.len());
        turns.extend(tail.iter().cloned());
        self.seen_tail = to_u32(tail.len());
        self.enforce_turn_caps(limits);
        self.seen_tail = self.seen_tail.min(to_u32(self.turns.len()));
    }

    /// Drops the oldest turns until `max_turns` and `max_total_text_bytes` hold, counting them.
    fn enforce_turn_caps(&mut self, limits: &Limits) {
        let mut total: usize = self.turns.iter().map(|t| t.text.len()).sum();
        let mut drop = 0;
        while drop < self.turns.len()
            && (self.turns.len() - drop > limits.max_turns || total > limits.max_total_text_bytes)
        {
            total -= self.turns[drop].text.len();
            drop += 1;
        }
        if drop == 0 {
            return;
        }
        Arc::make_mut(&mut self.turns).drain(..drop);
        self.trimmed.turns += drop as u64;
        let from_update = drop.min(self.covered as usize);
        self.covered -= to_u32(from_update);
        self.update_dropped = self.update_dropped.saturating_add(to_u32(from_update));
    }

    // ---- tools ----

    /// Folds the tool calls and results a conversation log shows, only those new since the last update.
    fn apply_logged_tools(
        &mut self,
        calls: &[ToolInvocation],
        results: &[ToolOutcome],
        at_ms: Option<i64>,
        limits: &Limits,
    ) -> bool {
        let new_calls = calls.get(self.update_tool_calls as usize..).unwrap_or(calls);
        let new_results = results.get(self.update_tool_results as usize..).unwrap_or(results);
        let mut changed = false;
        for call in new_calls {
            changed |= self.record_call(call, at_ms, limits);
        }
        for outcome in new_results {
            // The log's copy of a result never overrides the one Switchboard recorded when it answered.
            changed |= self.record_outcome(outcome, false, at_ms, limits);
        }
        self.update_tool_calls = to_u32(calls.len());
        self.update_tool_results = to_u32(results.len());
        changed
    }

    fn record_call(&mut self, call: &ToolInvocation, at_ms: Option<i64>, limits: &Limits) -> bool {
        if self.tool_records.iter().any(|record| record.id == call.id) {
            return false;
        }
        let arguments = self.capped_value(&call.arguments, limits.max_turn_bytes);
        self.push_record(
            ToolRecord {
                id: call.id.clone(),
                name: call.name.clone(),
                arguments,
                result: None,
                error: None,
                at_ms,
            },
            limits,
        );
        true
    }

    fn record_outcome(&mut self, outcome: &ToolOutcome, overwrite: bool, at_ms: Option<i64>, limits: &Limits) -> bool {
        let max = limits.max_turn_bytes;
        let result = outcome.result.as_deref().map(|text| self.cut(text, max).to_owned());
        let error = outcome.error.as_deref().map(|text| self.cut(text, max).to_owned());
        let found = self
            .tool_records
            .iter()
            .position(|record| record.id == outcome.tool_call_id);
        match found {
            Some(at) => {
                let record = &self.tool_records[at];
                let answered = record.result.is_some() || record.error.is_some();
                if (answered && !overwrite) || (record.result == result && record.error == error) {
                    return false;
                }
                let record = &mut Arc::make_mut(&mut self.tool_records)[at];
                record.result = result;
                record.error = error;
                if record.name.is_empty()
                    && let Some(name) = &outcome.name
                {
                    record.name.clone_from(name);
                }
                true
            }
            None => {
                self.push_record(
                    ToolRecord {
                        id: outcome.tool_call_id.clone(),
                        name: outcome.name.clone().unwrap_or_default(),
                        arguments: Value::Null,
                        result,
                        error,
                        at_ms,
                    },
                    limits,
                );
                true
            }
        }
    }

    fn push_record(&mut self, record: ToolRecord, limits: &Limits) {
        let records = Arc::make_mut(&mut self.tool_records);
        records.push(record);
        let excess = records.len().saturating_sub(limits.max_tool_records);
        if excess > 0 {
            records.drain(..excess);
            self.trimmed.tool_records += excess as u64;
        }
    }

    /// `value`, or its JSON text cut to `max` bytes when longer (counted).
    fn capped_value(&mut self, value: &Value, max: usize) -> Value {
        let len = json_len(value);
        if len <= max {
            return value.clone();
        }
        let text = value.to_string();
        Value::String(self.cut(&text, max).to_owned())
    }

    // ---- memory ----

    fn memory_set(&mut self, key: &str, value: &Value, limits: &Limits) -> bool {
        if key.len().saturating_add(json_len(value)) > limits.max_memory_value_bytes {
            self.trimmed.memory_values += 1;
            return true;
        }
        let full = self.memory.len() >= limits.max_memory_entries;
        match self.memory.get(key) {
            Some(existing) if existing == value => false,
            Some(_) => {
                Arc::make_mut(&mut self.memory).insert(key.to_owned(), value.clone());
                true
            }
            None if full => {
                self.trimmed.memory_entries += 1;
                true
            }
            None => {
                Arc::make_mut(&mut self.memory).insert(key.to_owned(), value.clone());
                true
            }
        }
    }

    // ---- queries ----

    /// The snapshot format version of this state.
    pub fn version(&self) -> u32 {
        self.version
    }

    /// The call id.
    pub fn call_id(&self) -> &str {
        &self.call_id
    }

    /// The last status (`in-progress`, `forwarding`, `ended`, ...), from `status-update`.
    pub fn status(&self) -> Option<&str> {
        self.status.as_deref()
    }

    /// Whether the call has ended (status `ended`, or an end-of-call report arrived).
    pub fn is_ended(&self) -> bool {
        self.status.as_deref() == Some("ended") || self.report.is_some()
    }

    /// Why the call ended.
    pub fn ended_reason(&self) -> Option<&str> {
        self.ended_reason.as_deref()
    }

    /// All the call metadata known.
    pub fn metadata(&self) -> &Metadata {
        &self.meta
    }

    /// The call type (`inboundPhoneCall`, `outboundPhoneCall`, `webCall`, ...).
    pub fn call_type(&self) -> Option<&str> {
        self.meta.call_type.as_deref()
    }

    /// The customer's number (or SIP URI).
    pub fn customer_number(&self) -> Option<&str> {
        self.meta.customer_number.as_deref()
    }

    /// The customer's name.
    pub fn customer_name(&self) -> Option<&str> {
        self.meta.customer_name.as_deref()
    }

    /// The phone number the call uses.
    pub fn phone_number(&self) -> Option<&str> {
        self.meta.phone_number.as_deref()
    }

    /// The id of the phone number the call uses.
    pub fn phone_number_id(&self) -> Option<&str> {
        self.meta.phone_number_id.as_deref()
    }

    /// The active assistant's id.
    pub fn assistant_id(&self) -> Option<&str> {
        self.meta.assistant_id.as_deref()
    }

    /// The active assistant's name.
    pub fn assistant_name(&self) -> Option<&str> {
        self.meta.assistant_name.as_deref()
    }

    /// When the call started (from the call record, else the `in-progress` status), epoch milliseconds.
    pub fn started_at_ms(&self) -> Option<i64> {
        self.meta.started_at_ms
    }

    /// When the call ended (the `ended` status, else the report), epoch milliseconds.
    pub fn ended_at_ms(&self) -> Option<i64> {
        self.ended_at_ms
    }

    /// The latest event timestamp seen, epoch milliseconds (for idle eviction).
    pub fn last_event_at_ms(&self) -> Option<i64> {
        self.last_event_at_ms
    }

    /// The turn counter of the last `speech-update` that carried one.
    pub fn turn(&self) -> u64 {
        self.turn
    }

    /// Who is speaking now, per `speech-update`.
    pub fn speaking(&self) -> Option<Role> {
        self.speaking
    }

    /// The event that first showed this call's conversation (in a message other than an update) while the call
    /// had received no transcript and no conversation update: its assistant is likely not subscribed to them.
    /// `None` when that never happened.
    pub fn missing_subscriptions_noticed_by(&self) -> Option<EventId> {
        self.missing_subscriptions
    }

    /// Whether a transcript or a conversation update arrived for this call.
    pub fn is_informed(&self) -> bool {
        self.informed
    }

    /// The conversation: ordered, without duplicates, within the caps.
    pub fn conversation(&self) -> &[Turn] {
        &self.turns
    }

    /// The caller's turns, in order.
    pub fn user_turns(&self) -> impl Iterator<Item = &Turn> {
        self.turns.iter().filter(|turn| turn.role == Role::User)
    }

    /// The live partial transcript of a speaker, while they speak.
    pub fn partial(&self, role: Role) -> Option<&str> {
        match role {
            Role::User => self.partial_user.as_deref(),
            Role::Assistant => self.partial_assistant.as_deref(),
            Role::System | Role::Tool => None,
        }
    }

    /// The detected language, once a change was detected.
    pub fn language(&self) -> Option<&str> {
        self.language.as_deref()
    }

    /// How often the caller interrupted the assistant.
    pub fn interruptions(&self) -> u32 {
        self.interruptions
    }

    /// How often Vapi reported the assistant hanging.
    pub fn hangs(&self) -> u32 {
        self.hangs
    }

    /// The `forward` and `hang-up` requests Vapi delegated to the server, oldest first.
    pub fn phone_controls(&self) -> &[PhoneControl] {
        &self.phone_controls
    }

    /// The transfers, oldest first.
    pub fn transfers(&self) -> &[Transfer] {
        &self.transfers
    }

    /// The tool calls made and their results, oldest first.
    pub fn tool_records(&self) -> &[ToolRecord] {
        &self.tool_records
    }

    /// The tool record of one tool call.
    pub fn tool_record(&self, tool_call_id: &str) -> Option<&ToolRecord> {
        self.tool_records.iter().find(|record| record.id == tool_call_id)
    }

    /// The call's key/value memory, written by tools.
    pub fn memory(&self) -> &BTreeMap<String, Value> {
        &self.memory
    }

    /// The end-of-call report's summary, cost and duration, once it arrived.
    pub fn report(&self) -> Option<&EndReport> {
        self.report.as_deref()
    }

    /// What the caps trimmed or refused.
    pub fn trimmed(&self) -> &Trimmed {
        &self.trimmed
    }

    /// How many event ids are remembered for recognising replays (at most [`Limits::max_seen_events`]).
    pub fn remembered_events(&self) -> usize {
        self.seen.len()
    }

    /// How many distinct events were applied (replays not counted).
    pub fn events_applied(&self) -> u64 {
        self.events_applied
    }

    /// The end-of-turn history: the endpointing decisions made for the call (with their reasons), and how the
    /// turns the assistant took after them went.
    pub fn endpointing(&self) -> &Endpointing {
        &self.endpointing
    }

    /// An estimate of the memory this state uses, by capacity.
    pub fn footprint(&self) -> Footprint {
        let string = |s: &String| s.capacity();
        let opt = |s: &Option<String>| s.as_ref().map_or(0, String::capacity);
        let meta = &self.meta;
        let mut heap = string(&self.call_id)
            + [
                &meta.call_type,
                &meta.customer_number,
                &meta.customer_name,
                &meta.phone_number,
                &meta.phone_number_id,
                &meta.assistant_id,
                &meta.assistant_name,
                &self.status,
                &self.ended_reason,
                &self.language,
                &self.partial_user,
                &self.partial_assistant,
            ]
            .into_iter()
            .map(opt)
            .sum::<usize>();
        let text = self.turns.iter().map(|t| t.text.capacity()).sum::<usize>()
            + opt(&self.partial_user)
            + opt(&self.partial_assistant);
        heap += self.turns.capacity() * size_of::<Turn>() + self.turns.iter().map(|t| t.text.capacity()).sum::<usize>();
        heap += self.transfers.capacity() * size_of::<Transfer>()
            + self
                .transfers
                .iter()
                .map(|t| opt(&t.kind) + opt(&t.target) + opt(&t.to_assistant) + opt(&t.from_assistant))
                .sum::<usize>();
        heap += self.phone_controls.capacity() * size_of::<PhoneControl>()
            + self
                .phone_controls
                .iter()
                .map(|c| string(&c.request) + opt(&c.kind) + opt(&c.target))
                .sum::<usize>();
        heap += self.tool_records.capacity() * size_of::<ToolRecord>()
            + self
                .tool_records
                .iter()
                .map(|r| string(&r.id) + string(&r.name) + value_heap(&r.arguments) + opt(&r.result) + opt(&r.error))
                .sum::<usize>();
        // A B-tree node holds up to 11 entries; assume nodes are two-thirds full.
        heap += self
            .memory
            .iter()
            .map(|(k, v)| (size_of::<String>() + size_of::<Value>()) * 3 / 2 + k.capacity() + value_heap(v))
            .sum::<usize>();
        heap += self
            .report
            .as_ref()
            .map_or(0, |r| size_of::<EndReport>() + opt(&r.summary));
        heap += self.seen.capacity() * size_of::<EventId>();
        heap += self.endpointing.heap();
        Footprint {
            inline: size_of::<Self>(),
            heap,
            text,
        }
    }
}

/// Makes room for `additional` more items, growing by a quarter rather than doubling: the turns are a large
/// part of a live call's overhead, and a conversation grows by a turn or two per update.
fn reserve_lean<T>(items: &mut Vec<T>, additional: usize) {
    let free = items.capacity() - items.len();
    if additional > free {
        items.reserve_exact(additional.max(items.len() / 4).max(4));
    }
}

/// The serde form of a part shared between a state and its clones: the part itself, so sharing leaves the
/// snapshot format as it was.
mod shared {
    use std::sync::Arc;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub(super) fn serialize<S: Serializer, T: Serialize>(value: &Arc<T>, serializer: S) -> Result<S::Ok, S::Error> {
        T::serialize(value, serializer)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
        deserializer: D,
    ) -> Result<Arc<T>, D::Error> {
        T::deserialize(deserializer).map(Arc::new)
    }
}

/// A status's place in a call's life, to order two statuses of the same millisecond. Unknown statuses rank with
/// `in-progress`.
fn status_rank(status: &str) -> u8 {
    match status {
        "scheduled" => 0,
        "queued" => 1,
        "ringing" => 2,
        "forwarding" => 4,
        "ended" => 5,
        _ => 3,
    }
}

/// Sets `slot` to `value` unless it already is; whether it changed.
fn set_if_different(slot: &mut Option<String>, value: &str) -> bool {
    if slot.as_deref() == Some(value) {
        return false;
    }
    *slot = Some(value.to_owned());
    true
}

/// Whether `ids` holds `id`. Written as a branch-free fold over chunks so the compiler vectorises it: this
/// scan runs once per event over up to `max_seen_events` ids.
fn contains(ids: &[EventId], id: EventId) -> bool {
    let mut chunks = ids.chunks_exact(8);
    for chunk in &mut chunks {
        if chunk.iter().fold(false, |found, seen| found | (seen.0 == id.0)) {
            return true;
        }
    }
    chunks.remainder().contains(&id)
}

/// Saturating `usize` to `u32`: counts in a state never reach 2^32 under any cap, but must not wrap if they did.
fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// A rough estimate of the heap a JSON value owns.
fn value_heap(value: &Value) -> usize {
    match value {
        Value::String(s) => s.capacity(),
        Value::Array(items) => items.capacity() * size_of::<Value>() + items.iter().map(value_heap).sum::<usize>(),
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| (size_of::<String>() + size_of::<Value>()) * 3 / 2 + k.capacity() + value_heap(v))
            .sum(),
        Value::Null | Value::Bool(_) | Value::Number(_) => 0,
    }
}
