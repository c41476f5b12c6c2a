//! The actor that owns one call's state.
//!
//! The actor folds the call's journal in seq order. Events reach it as `Apply { seq, .. }` casts from
//! whichever `ingest` journaled them, so they may arrive out of order (two concurrent ingests) or with holes
//! (with a shared store, other instances journal the seqs in between). A hole is filled from the store before
//! folding on; with a shared store, queries also catch up on the journal first, so an answer reflects every
//! event any instance acknowledged before the query.
//!
//! The actor also guards what it folded against a store that lost it: every store call names the record
//! generation the actor folds, and when the record is gone or replaced the actor re-seeds the store from its
//! own state ([`CallActorState::heal`]) before the runtime acknowledges anything new.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use call_state::{CallEvent, CallState};
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use serde::Serialize;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::registry::{Shared, Slot};
use crate::store::{Appended, Expect, Generation, Loaded, Reseed, Saved, Snapshot, StoreError};

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

/// The messages a [`CallActor`] handles, one at a time, in arrival order.
#[derive(Debug)]
pub(crate) enum CallMsg {
    /// Fold the event with journal sequence number `seq` into the state.
    Apply {
        /// The event's position in the call's journal.
        seq: u64,
        /// The generation of the record it was journaled in.
        generation: u64,
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
    /// The store's record is not the one this actor folds (an append was refused): re-seed it from the
    /// actor's state, and reply with what the next append must find.
    Heal(RpcReplyPort<Result<Option<Expect>, StoreError>>),
    /// Retire if nothing happened for the configured idle time (sent by the actor's own timer).
    CheckIdle,
    /// Fail as a bug would (a panic inside the actor). The supervisor restarts the call from its snapshot;
    /// operators and tests use it to check that recovery works.
    Fail(String),
}

/// One call's actor. The struct is empty: everything lives in [`CallActorState`], built in `pre_start` from
/// the store's snapshot and journal.
#[derive(Debug, Default)]
pub(crate) struct CallActor;

/// What a call's actor holds while it lives.
#[derive(Debug)]
pub(crate) struct CallActorState {
    shared: Arc<Shared>,
    /// This call's registry entry, where the actor publishes the generation it folds.
    slot: Arc<Slot>,
    /// The generation of the stored record `state` derives from; `None` before the record exists.
    generation: Option<Generation>,
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
    /// The highest seq this instance journaled and handed to the actor (0: none since it started). The call is
    /// served here while nothing folded is newer: otherwise its newest event went to another instance.
    last_local_seq: u64,
    /// When the quiet actor last looked whether another instance took the call's newer events.
    checked_at: Option<Instant>,
    idle_timer: Option<JoinHandle<()>>,
}

/// Events held ahead of a hole in the journal, at most. Past it they are not held: they are journaled, so the
/// catch-up that fills the hole reads them back.
const MAX_PENDING: usize = 256;

/// What a call's actor starts from.
#[derive(Debug)]
pub(crate) struct CallArgs {
    pub(crate) call_id: String,
    pub(crate) shared: Arc<Shared>,
    pub(crate) slot: Arc<Slot>,
}

impl Actor for CallActor {
    type Msg = CallMsg;
    type State = CallActorState;
    type Arguments = CallArgs;

    async fn pre_start(&self, myself: ActorRef<CallMsg>, args: CallArgs) -> Result<CallActorState, ActorProcessingErr> {
        let shared = args.shared;
        shared.stats.actors_started.fetch_add(1, Ordering::Relaxed);
        let Loaded {
            generation,
            snapshot,
            journal,
            ..
        } = shared.store.load(&args.call_id).await?;
        if let Some(generation) = &generation {
            args.slot.generation.store(generation.id, Ordering::Release);
        }
        let slot = args.slot;
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
        let idle = shared.config.unserved_idle_timeout();
        let idle_timer = Some(
            myself.send_interval(idle.max(std::time::Duration::from_millis(10)) / 2, || {
                CallMsg::CheckIdle
            }),
        );
        slot.through.store(through, Ordering::Release);
        Ok(CallActorState {
            shared,
            slot,
            generation,
            state: Arc::new(state),
            through,
            since_snapshot,
            pending: BTreeMap::new(),
            last_activity: Instant::now(),
            last_local_seq: 0,
            checked_at: None,
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
            CallMsg::Apply { seq, generation, event } => {
                actor.last_activity = Instant::now();
                actor.last_local_seq = actor.last_local_seq.max(seq);
                if actor.generation.as_ref().is_some_and(|ours| ours.id != generation) {
                    // Journaled in a record this actor no longer folds (it re-seeded meanwhile): journal it again.
                    actor.journal_again(event).await;
                } else {
                    actor.adopt_generation(generation);
                    actor.receive(seq, event).await;
                }
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
            CallMsg::Heal(reply) => {
                let outcome = actor.heal().await;
                actor.publish();
                let _ = reply.send(outcome.map(|()| actor.expect()));
            }
            CallMsg::CheckIdle => {
                let idle = actor.last_activity.elapsed();
                let config = &actor.shared.config;
                if idle >= config.idle_timeout() {
                    tracing::debug!(call_id = actor.state.call_id(), "retiring idle call");
                    actor.shared.stats.retired_idle.fetch_add(1, Ordering::Relaxed);
                    myself.stop(Some("idle".into()));
                } else if idle >= config.unserved_idle_timeout() {
                    // Quiet here: at most once per unserved timeout, look whether the call's newer events went
                    // to another instance (a shared store's journal moved past this actor).
                    let unserved = config.unserved_idle_timeout();
                    if actor.served_here() && actor.checked_at.is_none_or(|at| at.elapsed() >= unserved) {
                        actor.checked_at = Some(Instant::now());
                        if actor.shared.store.is_shared() {
                            let _ = actor.catch_up().await;
                        }
                    }
                    if !actor.served_here() {
                        tracing::debug!(
                            call_id = actor.state.call_id(),
                            "retiring a call this instance does not serve"
                        );
                        actor.shared.stats.retired_unserved.fetch_add(1, Ordering::Relaxed);
                        myself.stop(Some("unserved".into()));
                    }
                }
            }
            CallMsg::Fail(reason) => panic!("call actor failed on request: {reason}"),
        }
        actor.publish();
        Ok(())
    }

    async fn post_stop(&self, myself: ActorRef<CallMsg>, actor: &mut CallActorState) -> Result<(), ActorProcessingErr> {
        if let Some(timer) = actor.idle_timer.take() {
            timer.abort();
        }
        // After this, no instance may hold the call: make sure the store still has what this actor folded, even
        // when there is nothing new to checkpoint.
        if actor.since_snapshot == 0 {
            actor.verify().await;
        }
        actor.checkpoint().await;
        actor.shared.forget(actor.state.call_id(), myself.get_id());
        Ok(())
    }
}

impl CallActorState {
    /// Whether this instance serves the call: it journaled the newest event the actor folded (an actor
    /// started for a query, or one whose call's newest events went to other instances, does not).
    fn served_here(&self) -> bool {
        self.last_local_seq > 0 && self.last_local_seq >= self.through
    }

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
    /// further, trimming the journal) replaces the state, then the journal entries after it are folded. A record
    /// that is not the generation this actor folds is healed instead.
    async fn catch_up(&mut self) -> Result<(), StoreError> {
        self.shared.stats.catch_ups.fetch_add(1, Ordering::Relaxed);
        let loaded = self.shared.store.load_since(self.state.call_id(), self.through).await?;
        if self.diverged(&loaded) {
            return self.heal().await;
        }
        if let Some(generation) = &loaded.generation {
            self.adopt_generation(generation.id);
        }
        self.fold_loaded(loaded);
        Ok(())
    }

    /// Whether the store lost or replaced what this actor folded: its record is another generation, or is
    /// gone, or hands out seqs this actor already folded.
    fn diverged(&self, loaded: &Loaded) -> bool {
        match (&self.generation, &loaded.generation) {
            (Some(ours), Some(stored)) => ours.id != stored.id || loaded.last_seq < self.through,
            (Some(_), None) => true,
            (None, _) => false,
        }
    }

    /// Re-seeds the store if it lost or replaced the record this actor folds (one read when it did not).
    async fn verify(&mut self) {
        let outcome = match self.shared.store.load_since(self.state.call_id(), self.through).await {
            Ok(loaded) if self.diverged(&loaded) => self.heal().await,
            Ok(_) => Ok(()),
            Err(error) => Err(error),
        };
        if let Err(error) = outcome {
            tracing::warn!(call_id = self.state.call_id(), %error, "could not check the call's stored record");
        }
    }

    /// Takes `id` as the generation folded, when none is known yet (the call's first append made it).
    fn adopt_generation(&mut self, id: u64) {
        if self.generation.is_none() {
            self.generation = Some(Generation {
                id,
                lineage: BTreeMap::new(),
                base: 0,
            });
            self.slot.generation.store(id, Ordering::Release);
        }
    }

    /// What an append for this call must find in the store.
    fn expect(&self) -> Option<Expect> {
        self.generation.as_ref().map(|generation| Expect {
            generation: generation.id,
            through: self.through,
        })
    }

    /// Publishes how far this actor folded, for `ingest`'s appends.
    fn publish(&self) {
        self.slot.through.store(self.through, Ordering::Release);
    }

    fn set_generation(&mut self, generation: Generation) {
        self.slot.generation.store(generation.id, Ordering::Release);
        self.generation = Some(generation);
    }

    /// Folds a snapshot (if it is ahead) and the journal entries after it.
    fn fold_loaded(&mut self, loaded: Loaded) {
        if let Some(snapshot) = loaded.snapshot.filter(|snapshot| snapshot.through > self.through) {
            // Folding is deterministic, so the snapshot is exactly the state this actor would reach.
            self.state = Arc::new(snapshot.state);
            self.through = snapshot.through;
            self.since_snapshot = 0;
        }
        for (seq, event) in loaded.journal {
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
    }

    /// Re-seeds the store from this actor's state when the store lost or replaced the call's record, so
    /// nothing this actor folded (everything acknowledged through it) is lost. When another instance already
    /// re-seeded from a state holding everything this one has, that record is adopted instead. Events the
    /// store's record holds that this actor lacks (taken by another instance after the loss) are merged in.
    pub(crate) async fn heal(&mut self) -> Result<(), StoreError> {
        let call_id = self.state.call_id().to_string();
        for _ in 0..4 {
            let loaded = self.shared.store.load(&call_id).await?;
            if !self.diverged(&loaded) {
                if let Some(generation) = &loaded.generation {
                    self.adopt_generation(generation.id);
                }
                self.fold_loaded(loaded);
                return Ok(());
            }
            let ours = self.generation.clone().unwrap_or_default();
            if let Some(stored) = loaded
                .generation
                .clone()
                .filter(|stored| stored.covers(ours.id, self.through))
            {
                // Another instance re-seeded from a state at least as far along as ours.
                tracing::info!(call_id, "adopting the call's record another instance re-seeded");
                let pending = std::mem::take(&mut self.pending);
                self.through = 0;
                self.set_generation(stored);
                self.fold_loaded(loaded);
                // Events that waited here were journaled in the lost record: keep them in this state (`apply`
                // skips those the adopted one has); the next checkpoint stores them.
                for event in pending.into_values() {
                    self.shared.apply(Arc::make_mut(&mut self.state), &event);
                    self.since_snapshot += 1;
                }
                return Ok(());
            }
            let mut state = CallState::clone(&self.state);
            // A snapshot that is exactly an earlier re-seeding from this actor's own generation holds nothing
            // this state lacks; any other cannot be merged event by event.
            // A stale copy of this actor's own generation (a failover to a lagging replica) is a prefix of it.
            let same_generation = loaded.generation.as_ref().is_some_and(|stored| stored.id == ours.id);
            let own_reseed = same_generation
                || loaded.generation.as_ref().is_some_and(|stored| {
                    stored.lineage.contains_key(&ours.id)
                        && loaded
                            .snapshot
                            .as_ref()
                            .is_some_and(|snapshot| snapshot.through == stored.base)
                });
            if loaded.snapshot.is_some() && !own_reseed {
                tracing::error!(
                    call_id,
                    "the store holds a snapshot of this call that does not derive from this instance's state; \
                     events only in that snapshot are dropped in favour of this instance's"
                );
            }
            // The store's events (another instance's, after the loss) and those waiting here: `apply` skips
            // any this state already has, by event id.
            for (seq, event) in &loaded.journal {
                if !(same_generation && *seq <= self.through) {
                    self.shared.apply(&mut state, event);
                }
            }
            for event in self.pending.values() {
                self.shared.apply(&mut state, event);
            }
            let through = self.through.max(loaded.last_seq) + 1;
            let mut lineage = ours.lineage.clone();
            if let Some(stored) = &loaded.generation {
                for (id, at) in stored.lineage.iter().chain([(&stored.id, &loaded.last_seq)]) {
                    let entry = lineage.entry(*id).or_insert(0);
                    *entry = (*entry).max(*at);
                }
            }
            if ours.id != 0 {
                lineage.insert(ours.id, self.through);
            }
            let generation = Generation::fresh(lineage, through);
            let reseed = Reseed {
                expect_generation: loaded.generation.as_ref().map(|stored| stored.id),
                expect_seq: loaded.last_seq,
                generation: generation.clone(),
                snapshot: Snapshot {
                    state: state.clone(),
                    through,
                },
            };
            if self.shared.store.reseed(reseed).await? {
                tracing::warn!(
                    call_id,
                    through = self.through,
                    merged = loaded.journal.len(),
                    "the store lost this call's record (restarted empty, flushed or evicted); re-seeded it from \
                     this instance's state"
                );
                self.shared.stats.store_heals.fetch_add(1, Ordering::Relaxed);
                self.state = Arc::new(state);
                self.through = through;
                self.since_snapshot = 0;
                self.pending.clear();
                self.set_generation(generation);
                return Ok(());
            }
            // The record changed between the read and the write: read again.
        }
        Err(StoreError::Unavailable(format!(
            "the record of call {call_id} kept changing while it was re-seeded"
        )))
    }

    /// Journals an event again into the record this actor folds (its first append went to a record since
    /// replaced), then folds it.
    async fn journal_again(&mut self, event: Arc<CallEvent>) {
        for _ in 0..3 {
            let expect = self.expect();
            match self.shared.store.append(Arc::clone(&event), expect).await {
                Ok(Appended::Journaled { seq, generation }) => {
                    self.adopt_generation(generation);
                    self.receive(seq, event).await;
                    return;
                }
                Ok(Appended::Diverged) => {
                    if let Err(error) = self.heal().await {
                        tracing::warn!(call_id = self.state.call_id(), %error, "call record not re-seeded");
                    }
                }
                Err(error) => {
                    tracing::warn!(call_id = self.state.call_id(), %error, "event not journaled again");
                    break;
                }
            }
        }
        // Kept in this actor's state at least; the next checkpoint stores it.
        self.shared.apply(Arc::make_mut(&mut self.state), &event);
        self.since_snapshot += 1;
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
        let generation = self.generation.as_ref().map(|generation| generation.id);
        match self.shared.store.save_snapshot(snapshot, generation).await {
            Ok(Saved::Written | Saved::Older) => self.since_snapshot = 0,
            Ok(Saved::Diverged) => {
                if let Err(error) = self.heal().await {
                    tracing::warn!(call_id = self.state.call_id(), %error, "call record not re-seeded");
                }
            }
            // The journal still holds every event since the last snapshot, so nothing is lost; the next
            // checkpoint tries again.
            Err(error) => tracing::warn!(call_id = self.state.call_id(), %error, "snapshot not saved"),
        }
    }

    /// A call that has ended and delivered its report has nothing more to wait for.
    fn retire_if_done(&self, myself: &ActorRef<CallMsg>) {
        if self.state.is_ended() && self.state.report().is_some() {
            tracing::debug!(call_id = self.state.call_id(), "retiring ended call");
            self.shared.stats.retired_ended.fetch_add(1, Ordering::Relaxed);
            myself.stop(Some("ended".into()));
        }
    }
}
