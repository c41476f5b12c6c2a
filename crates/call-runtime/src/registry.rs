//! The registry of live calls and what every actor of a runtime shares: the store, the configuration, the
//! counters, and the map from call id to its actor. Both the actor and the runtime depend on this module;
//! it depends on neither (it holds actors as untyped [`ActorCell`]s).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use call_state::{Applied, CallEvent, CallState, Trimmed};
use dashmap::DashMap;
use ractor::{ActorCell, ActorId};
use tokio::sync::OnceCell;

use crate::config::{InstanceConfig, RuntimeConfig};
use crate::store::{Expect, Store};

/// Counters of what the runtime did, read by `/metrics`.
#[derive(Debug, Default)]
pub struct RuntimeStats {
    /// Events folded that changed state.
    pub events_changed: AtomicU64,
    /// Replayed deliveries recognised and skipped.
    pub events_duplicate: AtomicU64,
    /// Events that changed nothing.
    pub events_ignored: AtomicU64,
    /// Actors started (first events, restarts, and calls revived after retirement).
    pub actors_started: AtomicU64,
    /// Actors restarted after a failure.
    pub restarts: AtomicU64,
    /// Actors retired for idleness.
    pub retired_idle: AtomicU64,
    /// Actors retired sooner because this instance does not serve their call
    /// ([`RuntimeConfig::unserved_idle_timeout_seconds`]).
    pub retired_unserved: AtomicU64,
    /// Actors retired because their call ended and reported.
    pub retired_ended: AtomicU64,
    /// Reads of the store's journal past an actor's position (with a shared store: one per query and per
    /// hole; with the memory store only when two ingests of a call raced).
    pub catch_ups: AtomicU64,
    /// Queries answered from an actor's local state because the store could not be read.
    pub stale_answers: AtomicU64,
    /// Calls whose stored record was lost (store restarted empty, flushed, evicted) and re-seeded from a live
    /// actor's state.
    pub store_heals: AtomicU64,
    /// What the caps trimmed, by kind, in the order of [`RuntimeStats::TRIMMED_KINDS`].
    pub trimmed: [AtomicU64; 9],
    /// Repeated tool call deliveries answered with the recorded answer of a finished run.
    pub tool_replays_completed: AtomicU64,
    /// Repeated tool call deliveries that waited for a run in progress and got its answer.
    pub tool_replays_in_flight: AtomicU64,
}

impl RuntimeStats {
    /// The names of the trimmed counters.
    /// `event_bytes` counts the bytes cut from events over `max_event_bytes` before they were journaled, and
    /// `events_refused` the events refused because cutting did not bring them under it.
    pub const TRIMMED_KINDS: [&'static str; 9] = [
        "turns",
        "bytes",
        "tool_records",
        "transfers",
        "memory_entries",
        "memory_values",
        "seen_events",
        "event_bytes",
        "events_refused",
    ];

    fn record_trimmed(&self, before: &Trimmed, after: &Trimmed) {
        let pairs = [
            (before.turns, after.turns),
            (before.bytes, after.bytes),
            (before.tool_records, after.tool_records),
            (before.transfers, after.transfers),
            (before.memory_entries, after.memory_entries),
            (before.memory_values, after.memory_values),
            (before.seen_events, after.seen_events),
        ];
        for (counter, (before, after)) in self.trimmed.iter().zip(pairs) {
            if after > before {
                counter.fetch_add(after - before, Ordering::Relaxed);
            }
        }
    }
}

/// What every actor of the runtime shares.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) store: Store,
    pub(crate) config: RuntimeConfig,
    pub(crate) instance: InstanceConfig,
    pub(crate) stats: RuntimeStats,
    pub(crate) calls: DashMap<String, Arc<Slot>>,
    /// Tool calls running in this process, so a retry waits for the run in progress.
    pub(crate) tool_runs: crate::runtime::LocalRuns,
}

/// A registry entry: the actor, set once by whoever spawns it first, and the generation of the stored record
/// its state derives from (0 until known) with how far it folded, which `ingest` passes to the store so a
/// lost, replaced or stale record is noticed.
#[derive(Debug, Default)]
pub(crate) struct Slot {
    pub(crate) actor: OnceCell<ActorCell>,
    pub(crate) generation: AtomicU64,
    /// How far the actor folded, published after each message: the store must have handed out at least this.
    pub(crate) through: AtomicU64,
}

impl Slot {
    /// What an append must find in the store, if the actor knows its generation.
    pub(crate) fn expect(&self) -> Option<Expect> {
        let generation = self.generation.load(Ordering::Acquire);
        (generation != 0).then(|| Expect {
            generation,
            through: self.through.load(Ordering::Acquire),
        })
    }
}

impl Shared {
    /// Folds one event into a state, counting the outcome and what the caps trimmed.
    pub(crate) fn apply(&self, state: &mut CallState, event: &CallEvent) {
        let before = *state.trimmed();
        let outcome = state.apply(event, &self.config.limits);
        let counter = match outcome {
            Applied::Changed => &self.stats.events_changed,
            Applied::Duplicate => &self.stats.events_duplicate,
            Applied::Ignored => &self.stats.events_ignored,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        self.stats.record_trimmed(&before, state.trimmed());
    }

    /// Removes the registry entry of `call_id` if it still belongs to actor `id`.
    pub(crate) fn forget(&self, call_id: &str, id: ActorId) {
        self.calls.remove_if(call_id, |_, slot| {
            slot.actor.get().is_some_and(|actor| actor.get_id() == id)
        });
    }

    /// The call whose actor is `id`, if it is registered.
    pub(crate) fn call_of(&self, id: ActorId) -> Option<String> {
        self.calls
            .iter()
            .find(|entry| entry.value().actor.get().is_some_and(|actor| actor.get_id() == id))
            .map(|entry| entry.key().clone())
    }
}
