//! The actor that owns one call's state.
//!
//! The actor folds the call's journal in seq order. Events reach it as `Apply { seq, .. }` casts from
//! whichever `ingest` journaled them, so they may arrive out of order (two concurrent ingests) or with holes
//! (with a shared store, other instances journal the seqs in between). A hole is filled from the store before
//! folding on; with a shared store, queries also catch up on the journal first, so an answer reflects every
//! event any instance acknowledged before the query.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use call_state::{CallEvent, CallState};
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::runtime::{CallSummary, Queried, Shared};
use crate::store::{Snapshot, StoreError};

/// The messages a [`CallActor`] handles, one at a time, in arrival order.
#[derive(Debug)]
pub enum CallMsg {
    /// Fold the event with journal sequence number `seq` into the state.
    Apply {
        /// The event's position in the call's journal.
        seq: u64,
        /// The event.
        event: Arc<CallEvent>,
    },
    /// Reply with the state, after every event sent before (and, with a shared store, every event
    /// journaled before; when the store cannot be read, the local state, with a warning logged).
    Get(RpcReplyPort<CallState>),
    /// As [`CallMsg::Get`], and say whether the state may lack events because the store could not be read.
    Query(RpcReplyPort<Queried>),
    /// Reply with the listing summary.
    Summary(RpcReplyPort<CallSummary>),
    /// Retire if nothing happened for the configured idle time (sent by the actor's own timer).
    CheckIdle,
    /// Fail as a bug would (a panic inside the actor). The supervisor restarts the call from its snapshot;
    /// operators and tests use it to check that recovery works.
    Fail(String),
}

/// One call's actor. The struct is empty: everything lives in [`CallActorState`], built in `pre_start` from
/// the store's snapshot and journal.
#[derive(Debug, Default)]
pub struct CallActor;

/// What a call's actor holds while it lives.
#[derive(Debug)]
pub struct CallActorState {
    shared: Arc<Shared>,
    /// The state, shared with every query answered since it last changed: a query takes a reference, not a
    /// copy, and the next event copies on write only what it changes of a state a query still holds.
    state: Arc<CallState>,
    /// The last journal sequence number folded in.
    through: u64,
    /// Events folded since the last snapshot was saved.
    since_snapshot: u32,
    /// Events that arrived ahead of a hole the store could not fill yet, by seq.
    pending: BTreeMap<u64, Arc<CallEvent>>,
    last_activity: Instant,
    idle_timer: Option<JoinHandle<()>>,
}

/// Events held ahead of a hole in the journal, at most. Past it they are not held: they are journaled, so the
/// catch-up that fills the hole reads them back.
const MAX_PENDING: usize = 256;

/// What a call's actor starts from.
#[derive(Debug)]
pub struct CallArgs {
    pub(crate) call_id: String,
    pub(crate) shared: Arc<Shared>,
}

impl Actor for CallActor {
    type Msg = CallMsg;
    type State = CallActorState;
    type Arguments = CallArgs;

    async fn pre_start(&self, myself: ActorRef<CallMsg>, args: CallArgs) -> Result<CallActorState, ActorProcessingErr> {
        let shared = args.shared;
        shared
            .stats
            .actors_started
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (snapshot, journal) = shared.store.load(&args.call_id).await?;
        let (mut state, mut through) = match snapshot {
            Some(snapshot) => (snapshot.state, snapshot.through),
            None => (CallState::new(&args.call_id), 0),
        };
        let mut since_snapshot = 0;
        let snapshot_through = through;
        for (seq, event) in journal.into_iter().filter(|(seq, _)| *seq > snapshot_through) {
            // A replayed event that makes `apply` panic (a bug) is skipped so the call can recover; it was
            // logged when it first failed.
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                shared.apply(&mut state, &event);
            }));
            if outcome.is_err() {
                tracing::error!(call_id = %args.call_id, seq, "skipping an event that fails to apply");
            }
            through = seq;
            since_snapshot += 1;
        }
        let idle = shared.config.idle_timeout();
        let idle_timer = Some(
            myself.send_interval(idle.max(std::time::Duration::from_millis(10)) / 2, || {
                CallMsg::CheckIdle
            }),
        );
        Ok(CallActorState {
            shared,
            state: Arc::new(state),
            through,
            since_snapshot,
            pending: BTreeMap::new(),
            last_activity: Instant::now(),
            idle_timer,
        })
    }

    async fn post_start(
        &self,
        myself: ActorRef<CallMsg>,
        actor: &mut CallActorState,
    ) -> Result<(), ActorProcessingErr> {
        actor.retire_if_done(&myself);
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<CallMsg>,
        message: CallMsg,
        actor: &mut CallActorState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            CallMsg::Apply { seq, event } => {
                actor.last_activity = Instant::now();
                actor.receive(seq, event).await;
                if actor.since_snapshot >= actor.shared.config.snapshot_every.max(1) {
                    actor.checkpoint().await;
                }
                actor.retire_if_done(&myself);
            }
            CallMsg::Get(reply) => {
                actor.last_activity = Instant::now();
                let _ = actor.refresh().await;
                let _ = reply.send(CallState::clone(&actor.state));
                actor.retire_if_done(&myself);
            }
            CallMsg::Query(reply) => {
                actor.last_activity = Instant::now();
                let stale = actor.refresh().await.err();
                let _ = reply.send(Queried {
                    state: Arc::clone(&actor.state),
                    stale,
                });
                actor.retire_if_done(&myself);
            }
            CallMsg::Summary(reply) => {
                let _ = actor.refresh().await;
                let _ = reply.send(CallSummary::of(&actor.state));
            }
            CallMsg::CheckIdle => {
                if actor.last_activity.elapsed() >= actor.shared.config.idle_timeout() {
                    tracing::debug!(call_id = actor.state.call_id(), "retiring idle call");
                    actor
                        .shared
                        .stats
                        .retired_idle
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    myself.stop(Some("idle".into()));
                }
            }
            CallMsg::Fail(reason) => panic!("call actor failed on request: {reason}"),
        }
        Ok(())
    }

    async fn post_stop(&self, myself: ActorRef<CallMsg>, actor: &mut CallActorState) -> Result<(), ActorProcessingErr> {
        if let Some(timer) = actor.idle_timer.take() {
            timer.abort();
        }
        actor.checkpoint().await;
        actor.shared.forget(actor.state.call_id(), myself.get_id());
        Ok(())
    }
}

impl CallActorState {
    /// Takes the event journaled as `seq`: folds it when it is next, else fills the hole before it from the
    /// store. An event the store cannot catch up to yet waits in `pending`; it is journaled, so it is not lost.
    async fn receive(&mut self, seq: u64, event: Arc<CallEvent>) {
        if seq <= self.through {
            return; // Already folded in: from the journal replay at start, or by a catch-up.
        }
        if seq == self.through + 1 {
            self.fold(seq, &event);
            self.drain_pending();
            return;
        }
        if self.pending.len() < MAX_PENDING {
            self.pending.insert(seq, event);
        } else {
            // The event is journaled: the catch-up that fills the hole reads it from the store again.
            tracing::warn!(
                call_id = self.state.call_id(),
                seq,
                "too many events wait for the store; this one will be read back from the journal"
            );
        }
        if let Err(error) = self.catch_up().await {
            tracing::warn!(
                call_id = self.state.call_id(),
                seq,
                through = self.through,
                %error,
                "events wait for the store: the journal before them cannot be read"
            );
        }
    }

    /// With a shared store, catches up on what other instances journaled, so the next answer reflects it.
    /// On failure the local state stands, a warning is logged, and the error says why it may be stale.
    async fn refresh(&mut self) -> Result<(), StoreError> {
        if !self.shared.store.is_shared() {
            return Ok(());
        }
        let outcome = self.catch_up().await;
        if let Err(error) = &outcome {
            self.shared.stats.stale_answers.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                call_id = self.state.call_id(),
                through = self.through,
                %error,
                "answering from this instance's state: the store cannot be read, events other instances took may be missing"
            );
        }
        outcome
    }

    /// Folds everything the store holds past `through`: a newer snapshot (another instance checkpointed
    /// further, trimming the journal) replaces the state, then the journal entries after it are folded.
    async fn catch_up(&mut self) -> Result<(), StoreError> {
        self.shared.stats.catch_ups.fetch_add(1, Ordering::Relaxed);
        let (snapshot, journal) = self.shared.store.load_since(self.state.call_id(), self.through).await?;
        if let Some(snapshot) = snapshot.filter(|snapshot| snapshot.through > self.through) {
            // Folding is deterministic, so the snapshot is exactly the state this actor would reach.
            self.state = Arc::new(snapshot.state);
            self.through = snapshot.through;
            self.since_snapshot = 0;
        }
        for (seq, event) in journal {
            if seq > self.through + 1 {
                // The journal has no holes unless entries expired; fold on rather than stall the call.
                tracing::error!(
                    call_id = self.state.call_id(),
                    from = self.through + 1,
                    to = seq - 1,
                    "journal entries are missing (expired?); folding on without them"
                );
            }
            self.fold(seq, &event);
        }
        self.drain_pending();
        Ok(())
    }

    /// Folds one event known to be the next in the journal (or past a hole already reported).
    fn fold(&mut self, seq: u64, event: &CallEvent) {
        if seq <= self.through {
            return;
        }
        self.shared.apply(Arc::make_mut(&mut self.state), event);
        self.through = seq;
        self.since_snapshot += 1;
    }

    /// Folds the pending events that have become next, and drops those already covered.
    fn drain_pending(&mut self) {
        while let Some(entry) = self.pending.first_entry() {
            let seq = *entry.key();
            if seq <= self.through {
                entry.remove();
            } else if seq == self.through + 1 {
                let event = entry.remove();
                self.fold(seq, &event);
            } else {
                break;
            }
        }
    }

    /// Saves a snapshot when there is anything new since the last one.
    async fn checkpoint(&mut self) {
        if self.since_snapshot == 0 {
            return;
        }
        let snapshot = Snapshot {
            // Cheap: the state's large parts are shared with the snapshot until the next change.
            state: CallState::clone(&self.state),
            through: self.through,
        };
        match self.shared.store.save_snapshot(snapshot).await {
            Ok(()) => self.since_snapshot = 0,
            // The journal still holds every event since the last snapshot, so nothing is lost; the next
            // checkpoint tries again.
            Err(error) => tracing::warn!(call_id = self.state.call_id(), %error, "snapshot not saved"),
        }
    }

    /// A call that has ended and delivered its report has nothing more to wait for.
    fn retire_if_done(&self, myself: &ActorRef<CallMsg>) {
        if self.state.is_ended() && self.state.report().is_some() {
            tracing::debug!(call_id = self.state.call_id(), "retiring ended call");
            self.shared
                .stats
                .retired_ended
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            myself.stop(Some("ended".into()));
        }
    }
}
