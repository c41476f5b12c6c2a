//! The handle the edge uses, [`CallRuntime`], and the supervisor that restarts failed call actors.

mod instances;
mod tool_runs;

pub use instances::{EndedCall, InstanceCalls, StoreState};

pub(crate) use tool_runs::LocalRuns;
pub use tool_runs::{CLAIM_MARGIN, Replay, ToolRun, Unclaimable};

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use call_state::{CallEvent, CallState, TooLarge};
use dashmap::DashMap;
use ractor::{Actor, ActorProcessingErr, ActorRef, ActorStatus, SupervisionEvent};
use serde_json::Value;
use tokio::task::JoinHandle;

use crate::actor::{CallActor, CallArgs, CallMsg, CallSummary, Queried};
use crate::config::{InstanceConfig, RuntimeConfig};
use crate::registry::{RuntimeStats, Shared};
use crate::store::{Appended, Backend, Store, StoreError, StoreStats, StoredReport};

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

/// The handle to every call: ingest events, query state, list and stop. Cloning is cheap; clones share
/// one runtime, whose actors live until [`CallRuntime::shutdown`] or their retirement.
#[derive(Debug, Clone)]
pub struct CallRuntime {
    shared: Arc<Shared>,
    supervisor: ActorRef<SupervisorMsg>,
    /// The memory store's periodic sweep of expired data, or a shared store's heartbeat, stopped at shutdown.
    sweeper: Arc<Mutex<Option<JoinHandle<()>>>>,
}

impl CallRuntime {
    /// Starts a runtime over `store` (and, for the memory store, its periodic sweep of expired data) as an
    /// instance with a generated id.
    pub async fn start(store: Store, config: RuntimeConfig) -> Result<CallRuntime, RuntimeError> {
        CallRuntime::start_instance(store, config, InstanceConfig::default()).await
    }

    /// Starts a runtime over `store` as instance `instance`: with a shared store, it publishes its live calls
    /// every heartbeat, so every instance's `/calls` lists them.
    pub async fn start_instance(
        store: Store,
        config: RuntimeConfig,
        instance: InstanceConfig,
    ) -> Result<CallRuntime, RuntimeError> {
        let memory_sweeper = match &store.backend {
            Backend::Memory(memory) => Some(memory.spawn_sweeper()),
            Backend::Redis(_) => None,
        };
        let shared = Arc::new(Shared {
            store,
            config,
            instance,
            stats: RuntimeStats::default(),
            calls: DashMap::new(),
            tool_runs: tool_runs::LocalRuns::default(),
        });
        let sweeper = memory_sweeper.or_else(|| instances::spawn_heartbeat(Arc::clone(&shared)));
        let (supervisor, _) = Actor::spawn(None, CallSupervisor, Arc::clone(&shared))
            .await
            .map_err(|error| RuntimeError::Unavailable {
                call_id: String::new(),
                reason: format!("supervisor did not start: {error}"),
            })?;
        Ok(CallRuntime {
            shared,
            supervisor,
            sweeper: Arc::new(Mutex::new(sweeper)),
        })
    }

    /// The store the runtime keeps calls in, for this crate's tests.
    #[cfg(test)]
    pub(crate) fn store(&self) -> &Store {
        &self.shared.store
    }

    /// `Ok` when the runtime's store can take traffic, or why not (naming the store).
    pub async fn readiness(&self) -> Result<(), String> {
        let store = &self.shared.store;
        store
            .ping()
            .await
            .map_err(|error| format!("{} store: {error}", store.name()))
    }

    /// The store's short name (`memory`, `redis`).
    pub fn store_name(&self) -> &'static str {
        self.shared.store.name()
    }

    /// What the store dropped or refused, for metrics.
    pub fn store_stats(&self) -> &StoreStats {
        self.shared.store.stats()
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
        let (seq, generation) = self.journal(&call_id, &event).await?;
        // The event is journaled: from here on it cannot be lost. Delivery to a live actor only makes it
        // visible sooner; an actor started later replays it from the journal.
        let mut message = CallMsg::Apply { seq, generation, event };
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

    /// Appends `event` to the record the call's live actor folds. When the store lost or replaced that
    /// record, the actor re-seeds it first, so the new event never takes a seq the actor already folded.
    async fn journal(&self, call_id: &str, event: &Arc<CallEvent>) -> Result<(u64, u64), RuntimeError> {
        let mut expect = self.shared.calls.get(call_id).and_then(|slot| slot.expect());
        for _ in 0..4 {
            match self.shared.store.append(Arc::clone(event), expect).await? {
                Appended::Journaled { seq, generation } => return Ok((seq, generation)),
                Appended::Diverged => {}
            }
            let Some(actor) = self.live(call_id) else {
                // The actor retired meanwhile (re-seeding on its way out if it had to): nothing here holds the
                // call any more, so the record is whatever the store has.
                expect = None;
                continue;
            };
            let timeout = Duration::from_millis(self.shared.config.ask_timeout_ms);
            match actor.call(CallMsg::Heal, Some(timeout)).await {
                Ok(ractor::rpc::CallResult::Success(Ok(healed))) => expect = healed,
                Ok(ractor::rpc::CallResult::Success(Err(error))) => return Err(error.into()),
                Ok(_) | Err(_) if !is_running(&actor) => expect = None,
                Ok(_) | Err(_) => {
                    return Err(RuntimeError::Unavailable {
                        call_id: call_id.to_string(),
                        reason: "the call's actor did not re-seed the store in time".into(),
                    });
                }
            }
        }
        Err(RuntimeError::Unavailable {
            call_id: call_id.to_string(),
            reason: "the call's stored record kept changing".into(),
        })
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
        let loaded = self.shared.store.load(call_id).await?;
        if loaded.is_empty() {
            return Ok(None);
        }
        let journal = loaded.journal;
        let (mut state, through) = match loaded.snapshot {
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

    /// Stores an end-of-call report (the body verbatim plus summary fields), and lists the call among the
    /// recently ended ones ([`CallRuntime::ended_calls`]).
    pub async fn save_report(&self, report: StoredReport) -> Result<(), RuntimeError> {
        let call_id = report.call_id.clone();
        self.shared.store.save_report(report).await?;
        self.record_ended(&call_id).await;
        Ok(())
    }

    /// The memory shared by every call of a conversation (empty for an unknown or expired one).
    pub async fn conversation_memory(&self, conversation_id: &str) -> Result<BTreeMap<String, Value>, RuntimeError> {
        Ok(self.shared.store.conversation_memory(conversation_id).await?)
    }

    /// Sets (or, with `None`, deletes) a key of a conversation's memory. A write past the conversation bounds
    /// of `[retention]` is refused ([`StoreError::Refused`]) and counted.
    pub async fn set_conversation_memory(
        &self,
        conversation_id: &str,
        key: &str,
        value: Option<Value>,
    ) -> Result<(), RuntimeError> {
        Ok(self
            .shared
            .store
            .set_conversation_memory(conversation_id, key, value)
            .await?)
    }

    /// Records that `call_id` belongs to conversation `conversation_id` (the `/api/webhook/{id}` form).
    pub async fn link_conversation(&self, call_id: &str, conversation_id: &str) -> Result<(), RuntimeError> {
        Ok(self.shared.store.link_conversation(call_id, conversation_id).await?)
    }

    /// The conversation a call belongs to, if it was linked to one.
    pub async fn conversation_of(&self, call_id: &str) -> Result<Option<String>, RuntimeError> {
        Ok(self.shared.store.conversation_of(call_id).await?)
    }

    /// Summaries of the live calls, at most `limit`.
    pub async fn list(&self, limit: usize) -> Vec<CallSummary> {
        let actors: Vec<ActorRef<CallMsg>> = self
            .shared
            .calls
            .iter()
            .filter_map(|entry| entry.value().actor.get().cloned().map(ActorRef::from))
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

    /// Stops every actor, each saving its snapshot, then the supervisor. Actors drain concurrently, and the
    /// whole drain is bounded (a few ask timeouts), so one stuck call cannot hold up the process's exit.
    pub async fn shutdown(&self) {
        if let Some(sweeper) = self.sweeper.lock().ok().and_then(|mut sweeper| sweeper.take()) {
            sweeper.abort();
        }
        let actors: Vec<ActorRef<CallMsg>> = self
            .shared
            .calls
            .iter()
            .filter_map(|entry| entry.value().actor.get().cloned().map(ActorRef::from))
            .collect();
        let ask = Duration::from_millis(self.shared.config.ask_timeout_ms);
        let mut drains = tokio::task::JoinSet::new();
        for actor in actors {
            drains.spawn(async move {
                // Drain what was sent before the stop: a final `Get` waits for every earlier `Apply`.
                let _ = actor.call(CallMsg::Get, Some(ask)).await;
                let _ = actor.stop_and_wait(Some("shutdown".into()), Some(ask)).await;
            });
        }
        let drained = tokio::time::timeout(ask * 3, async { while drains.join_next().await.is_some() {} }).await;
        if drained.is_err() {
            tracing::warn!(left = drains.len(), "shutdown: some call actors did not stop in time");
            drains.abort_all();
        }
        let _ = self.supervisor.stop_and_wait(Some("shutdown".into()), Some(ask)).await;
        // Other instances stop listing this one's calls now rather than after missed heartbeats.
        if let Err(error) = self.shared.heartbeat(false).await {
            tracing::debug!(%error, "final heartbeat failed");
        }
    }

    fn live(&self, call_id: &str) -> Option<ActorRef<CallMsg>> {
        self.shared
            .calls
            .get(call_id)
            .and_then(|slot| slot.actor.get().cloned().map(ActorRef::from))
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
                        slot: Arc::clone(&slot),
                    };
                    Actor::spawn_linked(None, CallActor, args, self.supervisor.get_cell())
                        .await
                        .map(|(actor, _)| actor.get_cell())
                        .map_err(|error| error.to_string())
                })
                .await
                .map(|cell| ActorRef::<CallMsg>::from(cell.clone()));
            match &actor {
                Ok(actor) if is_running(actor) => return Ok(actor.clone()),
                Ok(actor) => self.shared.forget(call_id, actor.get_id()),
                Err(reason) => {
                    self.shared
                        .calls
                        .remove_if(call_id, |_, entry| Arc::ptr_eq(entry, &slot));
                    return Err(RuntimeError::Unavailable {
                        call_id: call_id.to_string(),
                        reason: reason.clone(),
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
            let Some(call_id) = shared.call_of(cell.get_id()) else {
                return Ok(());
            };
            tracing::error!(call_id, %error, "call actor failed; restarting from its snapshot");
            shared.stats.restarts.fetch_add(1, Ordering::Relaxed);
            shared.forget(&call_id, cell.get_id());
            let runtime = CallRuntime {
                shared: Arc::clone(shared),
                supervisor: myself,
                sweeper: Arc::default(),
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

#[cfg(test)]
mod tests;
