//! The registry of live calls, its supervisor, and the handle the edge uses.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use call_state::{Applied, CallEvent, CallState, Limits, TooLarge, Trimmed};
use dashmap::DashMap;
use ractor::{Actor, ActorCell, ActorId, ActorProcessingErr, ActorRef, ActorStatus, SupervisionEvent};
use serde::{Deserialize, Serialize};
use tokio::sync::OnceCell;

use crate::actor::{CallActor, CallArgs, CallMsg};
use crate::store::{Store, StoreError, StoredReport};

/// How the runtime treats calls. Read once at the edge.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RuntimeConfig {
    /// Caps on each call's state.
    pub limits: Limits,
    /// A call with no event for this long retires (its snapshot is kept).
    pub idle_timeout_seconds: f64,
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

    /// Checks ranges.
    pub fn validate(&self) -> Result<(), String> {
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

/// Why the runtime could not take an event or answer a query.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RuntimeError {
    /// Too many live calls; the event was not acknowledged.
    #[error("too many live calls (limit {0}); retry later")]
    TooManyCalls(usize),
    /// The store failed; the event was not acknowledged.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The event is too large to journal, even with its texts cut; it was not acknowledged.
    #[error(transparent)]
    EventTooLarge(#[from] TooLarge),
    /// The call's actor could not be started or did not answer in time.
    #[error("call {call_id} is unavailable: {reason}")]
    Unavailable {
        /// The call.
        call_id: String,
        /// What went wrong.
        reason: String,
    },
}

/// A call's state as a query found it.
#[derive(Debug, Clone)]
pub struct Queried {
    /// The state: the actor's own, shared rather than copied, so a query costs the same however long the
    /// conversation. It does not change; later events are folded into a new version.
    pub state: Arc<CallState>,
    /// Why the state may lack events other instances acknowledged: the store could not be read, so this is
    /// what this instance knows. `None` when the state is current.
    pub stale: Option<StoreError>,
}

impl Queried {
    /// Whether the state may lack events (see [`Queried::stale`]).
    pub fn is_stale(&self) -> bool {
        self.stale.is_some()
    }
}

/// A live call in the admin listing.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CallSummary {
    /// The call id.
    pub id: String,
    /// The call status.
    pub status: Option<String>,
    /// The customer's number.
    pub customer: Option<String>,
    /// When the call started, epoch milliseconds.
    pub started_at_ms: Option<i64>,
    /// Conversation turns so far.
    pub turns: usize,
}

impl CallSummary {
    pub(crate) fn of(state: &CallState) -> CallSummary {
        CallSummary {
            id: state.call_id().to_string(),
            status: state.status().map(str::to_string),
            customer: state.customer_number().map(str::to_string),
            started_at_ms: state.started_at_ms(),
            turns: state.conversation().len(),
        }
    }
}

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
    /// Actors retired because their call ended and reported.
    pub retired_ended: AtomicU64,
    /// Reads of the store's journal past an actor's position (with a shared store: one per query and per
    /// hole; with the memory store only when two ingests of a call raced).
    pub catch_ups: AtomicU64,
    /// Queries answered from an actor's local state because the store could not be read.
    pub stale_answers: AtomicU64,
    /// What the caps trimmed, by kind, in the order of [`RuntimeStats::TRIMMED_KINDS`].
    pub trimmed: [AtomicU64; 9],
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
    pub(crate) stats: RuntimeStats,
    calls: DashMap<String, Arc<Slot>>,
}

/// A registry entry: set once by whoever spawns the call's actor first.
#[derive(Debug, Default)]
struct Slot {
    actor: OnceCell<ActorRef<CallMsg>>,
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
}

/// The handle to every call: ingest events, query state, list and stop. Cloning is cheap; clones share
/// one runtime, whose actors live until [`CallRuntime::shutdown`] or their retirement.
#[derive(Debug, Clone)]
pub struct CallRuntime {
    shared: Arc<Shared>,
    supervisor: ActorRef<SupervisorMsg>,
}

impl CallRuntime {
    /// Starts a runtime over `store`.
    pub async fn start(store: Store, config: RuntimeConfig) -> Result<CallRuntime, RuntimeError> {
        let shared = Arc::new(Shared {
            store,
            config,
            stats: RuntimeStats::default(),
            calls: DashMap::new(),
        });
        let (supervisor, _) = Actor::spawn(None, CallSupervisor, Arc::clone(&shared))
            .await
            .map_err(|error| RuntimeError::Unavailable {
                call_id: String::new(),
                reason: format!("supervisor did not start: {error}"),
            })?;
        Ok(CallRuntime { shared, supervisor })
    }

    /// The store the runtime keeps calls in.
    pub fn store(&self) -> &Store {
        &self.shared.store
    }

    /// The configuration in force.
    pub fn config(&self) -> &RuntimeConfig {
        &self.shared.config
    }

    /// Counters for metrics.
    pub fn stats(&self) -> &RuntimeStats {
        &self.shared.stats
    }

    /// How many calls have a live actor.
    pub fn live_calls(&self) -> usize {
        self.shared.calls.len()
    }

    /// Acknowledges one event: it is in the call's journal and on its way to the call's actor when this
    /// returns `Ok`. The caller need not wait for it to be applied; later queries see it.
    ///
    /// An event whose JSON is over [`RuntimeConfig::max_event_bytes`] has its texts cut to fit (counted in
    /// `event_bytes`), or is refused with [`RuntimeError::EventTooLarge`] (counted in `events_refused`), so
    /// that everything journaled stays bounded and readable.
    pub async fn ingest(&self, mut event: CallEvent) -> Result<(), RuntimeError> {
        let config = &self.shared.config;
        match event.bound(config.limits.max_turn_bytes, config.max_event_bytes) {
            Ok(0) => {}
            Ok(cut) => {
                self.shared.stats.trimmed[7].fetch_add(cut, Ordering::Relaxed);
                tracing::debug!(call_id = event.call_id, cut, "oversized event cut before journaling");
            }
            Err(error) => {
                self.shared.stats.trimmed[8].fetch_add(1, Ordering::Relaxed);
                tracing::warn!(call_id = event.call_id, kind = event.kind.name(), %error, "event refused");
                return Err(error.into());
            }
        }
        let call_id = event.call_id.clone();
        let event = Arc::new(event);
        // Admission first, so a refused event is not journaled either.
        if !self.shared.calls.contains_key(&call_id) && self.shared.calls.len() >= self.shared.config.max_live_calls {
            return Err(RuntimeError::TooManyCalls(self.shared.config.max_live_calls));
        }
        let seq = self.shared.store.append(Arc::clone(&event)).await?;
        // The event is journaled: from here on it cannot be lost. Delivery to a live actor only makes it
        // visible sooner; an actor started later replays it from the journal.
        let mut message = CallMsg::Apply { seq, event };
        for _ in 0..3 {
            let actor = match self.actor(&call_id).await {
                Ok(actor) => actor,
                // An ended, reported call's actor retires as soon as it starts, and a failing store can keep
                // one from starting: the event is journaled all the same, so it is acknowledged.
                Err(error) => {
                    tracing::debug!(call_id, %error, "event journaled; no live actor for it");
                    return Ok(());
                }
            };
            match actor.cast(message) {
                Ok(()) => return Ok(()),
                Err(ractor::MessagingErr::SendErr(returned)) => {
                    // The actor stopped between lookup and send (it retired); start a fresh one.
                    self.shared.forget(&call_id, actor.get_id());
                    message = returned;
                }
                Err(error) => {
                    return Err(RuntimeError::Unavailable {
                        call_id,
                        reason: error.to_string(),
                    });
                }
            }
        }
        // Still journaled: the next touch of the call folds it in.
        tracing::warn!(call_id, "event journaled but no live actor took it");
        Ok(())
    }

    /// The call's state after every event acknowledged before this call, or `None` for a call never seen.
    /// A retired call is rebuilt from the store without starting an actor.
    ///
    /// With a shared store that cannot be read, a live call's state is what this instance knows (a warning
    /// is logged); [`CallRuntime::query`] says so to the caller.
    pub async fn state(&self, call_id: &str) -> Result<Option<CallState>, RuntimeError> {
        Ok(self
            .query(call_id)
            .await?
            .map(|queried| Arc::unwrap_or_clone(queried.state)))
    }

    /// As [`CallRuntime::state`], and whether the state may lack events other instances acknowledged because
    /// the store could not be read ([`Queried::stale`]). A call that is not live here needs the store: when it
    /// cannot be read, this is an error.
    pub async fn query(&self, call_id: &str) -> Result<Option<Queried>, RuntimeError> {
        if let Some(actor) = self.live(call_id) {
            let timeout = Duration::from_millis(self.shared.config.ask_timeout_ms);
            match actor.call(CallMsg::Query, Some(timeout)).await {
                Ok(ractor::rpc::CallResult::Success(queried)) => return Ok(Some(queried)),
                // The actor retired while we asked: fall through to the store.
                Ok(_) | Err(_) if !is_running(&actor) => {}
                Ok(_) | Err(_) => {
                    return Err(RuntimeError::Unavailable {
                        call_id: call_id.to_string(),
                        reason: "the call's actor did not answer in time".into(),
                    });
                }
            }
        }
        Ok(self.stored_state(call_id).await?.map(|state| Queried {
            state: Arc::new(state),
            stale: None,
        }))
    }

    /// The call's state rebuilt from its snapshot and journal.
    async fn stored_state(&self, call_id: &str) -> Result<Option<CallState>, RuntimeError> {
        let (snapshot, journal) = self.shared.store.load(call_id).await?;
        if snapshot.is_none() && journal.is_empty() {
            return Ok(None);
        }
        let (mut state, through) = match snapshot {
            Some(snapshot) => (snapshot.state, snapshot.through),
            None => (CallState::new(call_id), 0),
        };
        for (_, event) in journal.iter().filter(|(seq, _)| *seq > through) {
            state.apply(event, &self.shared.config.limits);
        }
        Ok(Some(state))
    }

    /// The stored end-of-call report of a call.
    pub async fn report(&self, call_id: &str) -> Result<Option<Arc<StoredReport>>, RuntimeError> {
        Ok(self.shared.store.report(call_id).await?)
    }

    /// Stores an end-of-call report (the body verbatim plus summary fields).
    pub async fn save_report(&self, report: StoredReport) -> Result<(), RuntimeError> {
        Ok(self.shared.store.save_report(report).await?)
    }

    /// Summaries of the live calls, at most `limit`.
    pub async fn list(&self, limit: usize) -> Vec<CallSummary> {
        let actors: Vec<ActorRef<CallMsg>> = self
            .shared
            .calls
            .iter()
            .filter_map(|entry| entry.value().actor.get().cloned())
            .take(limit)
            .collect();
        let timeout = Some(Duration::from_millis(self.shared.config.ask_timeout_ms));
        let mut summaries = Vec::with_capacity(actors.len());
        for actor in actors {
            // An actor that retires meanwhile is simply not listed.
            if let Ok(ractor::rpc::CallResult::Success(summary)) = actor.call(CallMsg::Summary, timeout).await {
                summaries.push(summary);
            }
        }
        summaries.sort_by(|a, b| a.id.cmp(&b.id));
        summaries
    }

    /// Makes a live call's actor fail, as a bug would; the supervisor restarts it from its snapshot.
    /// Returns whether the call was live.
    pub fn fail(&self, call_id: &str, reason: &str) -> bool {
        self.live(call_id)
            .is_some_and(|actor| actor.cast(CallMsg::Fail(reason.to_string())).is_ok())
    }

    /// Stops every actor, each saving its snapshot, then the supervisor.
    pub async fn shutdown(&self) {
        let actors: Vec<ActorRef<CallMsg>> = self
            .shared
            .calls
            .iter()
            .filter_map(|entry| entry.value().actor.get().cloned())
            .collect();
        let timeout = Some(Duration::from_millis(self.shared.config.ask_timeout_ms));
        for actor in &actors {
            // Drain what was sent before the stop: a final `Get` waits for every earlier `Apply`.
            let _ = actor.call(CallMsg::Get, timeout).await;
            let _ = actor.stop_and_wait(Some("shutdown".into()), timeout).await;
        }
        let _ = self.supervisor.stop_and_wait(Some("shutdown".into()), timeout).await;
    }

    fn live(&self, call_id: &str) -> Option<ActorRef<CallMsg>> {
        self.shared
            .calls
            .get(call_id)
            .and_then(|slot| slot.actor.get().cloned())
            .filter(is_running)
    }

    /// The call's live actor, started (from the store) if there is none. Two concurrent first events of a
    /// call start one actor: the registry entry is created atomically and the spawn runs once per entry.
    async fn actor(&self, call_id: &str) -> Result<ActorRef<CallMsg>, RuntimeError> {
        for _ in 0..3 {
            // The map guard is dropped at the end of this statement, before any await.
            let slot = Arc::clone(&self.shared.calls.entry(call_id.to_string()).or_default());
            let actor = slot
                .actor
                .get_or_try_init(|| async {
                    let args = CallArgs {
                        call_id: call_id.to_string(),
                        shared: Arc::clone(&self.shared),
                    };
                    Actor::spawn_linked(None, CallActor, args, self.supervisor.get_cell())
                        .await
                        .map(|(actor, _)| actor)
                        .map_err(|error| error.to_string())
                })
                .await;
            match actor {
                Ok(actor) if is_running(actor) => return Ok(actor.clone()),
                Ok(actor) => self.shared.forget(call_id, actor.get_id()),
                Err(reason) => {
                    self.shared
                        .calls
                        .remove_if(call_id, |_, entry| Arc::ptr_eq(entry, &slot));
                    return Err(RuntimeError::Unavailable {
                        call_id: call_id.to_string(),
                        reason,
                    });
                }
            }
        }
        Err(RuntimeError::Unavailable {
            call_id: call_id.to_string(),
            reason: "the call's actor keeps stopping".into(),
        })
    }
}

fn is_running(actor: &ActorRef<CallMsg>) -> bool {
    matches!(
        actor.get_status(),
        ActorStatus::Starting | ActorStatus::Running | ActorStatus::Upgrading
    )
}

/// The supervisor of every call actor: a failed actor's call is restarted from its snapshot and journal.
#[derive(Debug)]
struct CallSupervisor;

/// The supervisor takes no messages of its own; it only handles supervision events.
#[derive(Debug)]
enum SupervisorMsg {}

impl Actor for CallSupervisor {
    type Msg = SupervisorMsg;
    type State = Arc<Shared>;
    type Arguments = Arc<Shared>;

    async fn pre_start(
        &self,
        _: ActorRef<SupervisorMsg>,
        shared: Arc<Shared>,
    ) -> Result<Arc<Shared>, ActorProcessingErr> {
        Ok(shared)
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<SupervisorMsg>,
        event: SupervisionEvent,
        shared: &mut Arc<Shared>,
    ) -> Result<(), ActorProcessingErr> {
        if let SupervisionEvent::ActorFailed(cell, error) = event {
            let Some(call_id) = call_of(shared, &cell) else {
                return Ok(());
            };
            tracing::error!(call_id, %error, "call actor failed; restarting from its snapshot");
            shared.stats.restarts.fetch_add(1, Ordering::Relaxed);
            shared.forget(&call_id, cell.get_id());
            let runtime = CallRuntime {
                shared: Arc::clone(shared),
                supervisor: myself,
            };
            // Restart eagerly, so the call is live again even if no further event comes.
            tokio::spawn(async move {
                if let Err(error) = runtime.actor(&call_id).await {
                    tracing::error!(call_id, %error, "call actor could not be restarted");
                }
            });
        }
        Ok(())
    }
}

fn call_of(shared: &Shared, cell: &ActorCell) -> Option<String> {
    let id = cell.get_id();
    shared
        .calls
        .iter()
        .find(|entry| entry.value().actor.get().is_some_and(|actor| actor.get_id() == id))
        .map(|entry| entry.key().clone())
}
