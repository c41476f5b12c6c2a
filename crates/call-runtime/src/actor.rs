//! The actor that owns one call's state.

use std::sync::Arc;

use call_state::{CallEvent, CallState};
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::runtime::{CallSummary, Shared};
use crate::store::Snapshot;

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
    /// Reply with a copy of the state, after every event sent before.
    Get(RpcReplyPort<CallState>),
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
    state: CallState,
    /// The last journal sequence number folded in.
    through: u64,
    /// Events folded since the last snapshot was saved.
    since_snapshot: u32,
    last_activity: Instant,
    idle_timer: Option<JoinHandle<()>>,
}

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
            state,
            through,
            since_snapshot,
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
                if seq <= actor.through {
                    return Ok(()); // Already folded in during the journal replay at start.
                }
                actor.shared.apply(&mut actor.state, &event);
                actor.through = seq;
                actor.since_snapshot += 1;
                if actor.since_snapshot >= actor.shared.config.snapshot_every.max(1) {
                    actor.checkpoint().await;
                }
                actor.retire_if_done(&myself);
            }
            CallMsg::Get(reply) => {
                actor.last_activity = Instant::now();
                let _ = reply.send(actor.state.clone());
            }
            CallMsg::Summary(reply) => {
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
    /// Saves a snapshot when there is anything new since the last one.
    async fn checkpoint(&mut self) {
        if self.since_snapshot == 0 {
            return;
        }
        let snapshot = Snapshot {
            state: self.state.clone(),
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
