//! Exactly-once tool calls: [`CallRuntime::run_tool_once`].
//!
//! Vapi retries a tool call it got no answer for, and a retry may reach this instance while the first run is
//! still going, after it finished, or on another instance. Each (call, tool call id) runs once: deliveries on
//! this instance wait on the same run through a shared `watch` channel; deliveries on other instances find
//! the store's claim and poll the store for the answer; deliveries after the run get the recorded answer. A
//! run is its own task, so a delivery that goes away (Vapi gave up waiting) does not cancel it, and its answer
//! is recorded for the retry that follows.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use dashmap::mapref::entry::Entry;
use tokio::sync::watch;
use tokio::time::Instant;

use super::{CallRuntime, RuntimeError};
use crate::registry::Shared;
use crate::store::{ToolClaim, owner_token};

/// How much longer than the tool's deadline a claim holds: room to record the answer. A claim whose owner
/// died lapses after this, and a later delivery runs the call.
pub const CLAIM_MARGIN: Duration = Duration::from_secs(2);

/// How much longer than the tool's deadline a delivery waits for another delivery's run: the run began
/// earlier, so its deadline passes first, and this covers recording its answer. Kept small, since Vapi's wait
/// (20 s) bounds the deadline plus this.
const WAIT_MARGIN: Duration = Duration::from_millis(250);

/// The longest pause between two looks at another instance's run.
const POLL_EVERY: Duration = Duration::from_millis(50);

/// A tool call's answer, and whether an earlier delivery's run gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolRun {
    /// The answer, exactly as the run that answered returned it.
    pub answer: Arc<str>,
    /// `None` when this delivery ran the call.
    pub replay: Option<Replay>,
}

/// How a repeated delivery of a tool call got its answer without running it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replay {
    /// The call had run: its recorded answer.
    Completed,
    /// The call was running: this delivery waited for that run.
    InFlight,
}

/// What to do with a tool call when the store cannot record a claim on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unclaimable {
    /// Do not run it: the answer is an error, and a retry may find the store back. For tools with effects
    /// outside the call, which must not run twice.
    Refuse,
    /// Run it on this instance (still once among this instance's deliveries), unrecorded. For tools that only
    /// read the call or write its own memory, where a second run elsewhere does no harm.
    Run,
}

/// The in-flight runs of this instance, by (call, tool call id): a receiver for each run's answer.
pub(crate) type LocalRuns = dashmap::DashMap<(String, String), watch::Receiver<Option<Arc<str>>>>;

impl CallRuntime {
    /// Runs a tool call at most once per (`call_id`, `tool_call_id`), across retries and instances sharing
    /// the store, and returns its answer: `run`'s output when this delivery runs it, otherwise the answer of
    /// the run that did ([`ToolRun::replay`]). `deadline` bounds `run` (the caller enforces it): a claim holds
    /// for `deadline` plus [`CLAIM_MARGIN`], and a delivery waits for another's run at most about `deadline`.
    ///
    /// `run` is started only when this delivery claims the call, on its own task, and its answer is recorded
    /// for the call's lifetime. An error means the call was not run by this delivery and has no answer yet:
    /// the store cannot record a claim (and `unclaimable` says to refuse), or another delivery's run outlasted
    /// the wait.
    pub async fn run_tool_once<F>(
        &self,
        call_id: &str,
        tool_call_id: &str,
        deadline: Duration,
        unclaimable: Unclaimable,
        run: F,
    ) -> Result<ToolRun, RuntimeError>
    where
        F: Future<Output = String> + Send + 'static,
    {
        let key = (call_id.to_string(), tool_call_id.to_string());
        let give_up = Instant::now() + deadline + WAIT_MARGIN;
        let still_running = || RuntimeError::Unavailable {
            call_id: call_id.to_string(),
            reason: format!("tool call {tool_call_id} is still running for an earlier delivery"),
        };
        loop {
            // The map guard is dropped at the end of this statement, before any await.
            let joined = match self.shared.tool_runs.entry(key.clone()) {
                Entry::Occupied(entry) => Err(entry.get().clone()),
                Entry::Vacant(entry) => {
                    let (sender, receiver) = watch::channel(None);
                    entry.insert(receiver.clone());
                    Ok(LocalRun {
                        shared: Arc::clone(&self.shared),
                        key: key.clone(),
                        sender,
                        receiver,
                    })
                }
            };
            match joined {
                Ok(local) => return self.claim_and_run(local, deadline, give_up, unclaimable, run).await,
                Err(mut receiver) => {
                    let answer = tokio::time::timeout_at(give_up, async {
                        receiver.wait_for(Option::is_some).await.map(|answer| answer.clone())
                    })
                    .await;
                    match answer {
                        Ok(Ok(Some(answer))) => return Ok(self.replayed(answer, Replay::InFlight)),
                        // That delivery went away before it ran the call: try to run it here.
                        Ok(_) => continue,
                        Err(_) => return Err(still_running()),
                    }
                }
            }
        }
    }

    /// Claims the call in the store (waiting out another instance's claim) and runs it when claimed.
    async fn claim_and_run<F>(
        &self,
        local: LocalRun,
        deadline: Duration,
        give_up: Instant,
        unclaimable: Unclaimable,
        run: F,
    ) -> Result<ToolRun, RuntimeError>
    where
        F: Future<Output = String> + Send + 'static,
    {
        let (call_id, tool_call_id) = local.key.clone();
        let owner = owner_token();
        let store = self.shared.store.clone();
        let mut waited = false;
        let mut recorded = true;
        loop {
            let claim = match store
                .claim_tool(&call_id, &tool_call_id, &owner, deadline + CLAIM_MARGIN)
                .await
            {
                Ok(claim) => claim,
                Err(error) if unclaimable == Unclaimable::Run => {
                    tracing::warn!(call_id, tool_call_id, %error, "tool run not recorded: the store is unavailable");
                    recorded = false;
                    break;
                }
                Err(error) => return Err(error.into()),
            };
            match claim {
                ToolClaim::Claimed => break,
                ToolClaim::Completed(answer) => {
                    local.finish(Arc::clone(&answer));
                    let replay = if waited { Replay::InFlight } else { Replay::Completed };
                    return Ok(self.replayed(answer, replay));
                }
                ToolClaim::Running(left) => {
                    let now = Instant::now();
                    if now >= give_up {
                        return Err(RuntimeError::Unavailable {
                            call_id,
                            reason: format!("tool call {tool_call_id} is still running for an earlier delivery"),
                        });
                    }
                    waited = true;
                    let pause = left.clamp(Duration::from_millis(5), POLL_EVERY);
                    tokio::time::sleep_until((now + pause).min(give_up)).await;
                }
            }
        }
        let failed = RuntimeError::Unavailable {
            call_id: call_id.clone(),
            reason: format!("the run of tool call {tool_call_id} failed"),
        };
        // Its own task: the run and its record finish even if this delivery goes away.
        let task = tokio::spawn(async move {
            let answer: Arc<str> = run.await.into();
            if !recorded {
                local.finish(Arc::clone(&answer));
                return answer;
            }
            let recorded = match store
                .complete_tool(&call_id, &tool_call_id, &owner, Arc::clone(&answer))
                .await
            {
                Ok(recorded) => recorded,
                Err(error) => {
                    tracing::error!(
                        call_id,
                        tool_call_id,
                        %error,
                        "tool answer not recorded: a retry after the claim lapses runs the tool again"
                    );
                    answer
                }
            };
            local.finish(Arc::clone(&recorded));
            recorded
        });
        match task.await {
            Ok(answer) => Ok(ToolRun { answer, replay: None }),
            Err(error) => {
                tracing::error!(%error, "tool run failed");
                Err(failed)
            }
        }
    }

    fn replayed(&self, answer: Arc<str>, replay: Replay) -> ToolRun {
        let counter = match replay {
            Replay::Completed => &self.shared.stats.tool_replays_completed,
            Replay::InFlight => &self.shared.stats.tool_replays_in_flight,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        ToolRun {
            answer,
            replay: Some(replay),
        }
    }
}

/// This instance's run of one tool call: its answer goes to every local delivery waiting on it, and its
/// entry leaves the map when the run ends (or is abandoned), so later deliveries ask the store.
struct LocalRun {
    shared: Arc<Shared>,
    key: (String, String),
    sender: watch::Sender<Option<Arc<str>>>,
    receiver: watch::Receiver<Option<Arc<str>>>,
}

impl LocalRun {
    fn finish(&self, answer: Arc<str>) {
        self.sender.send_replace(Some(answer));
    }
}

impl Drop for LocalRun {
    fn drop(&mut self) {
        let receiver = &self.receiver;
        self.shared
            .tool_runs
            .remove_if(&self.key, |_, entry| entry.same_channel(receiver));
    }
}
