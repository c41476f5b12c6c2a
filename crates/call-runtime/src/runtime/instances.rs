//! The instance this runtime is, and what `/calls` and `/readyz` show of every instance sharing its store:
//! each instance's live calls (published by a heartbeat), the calls that ended recently with their reports,
//! and the store's (and a cluster's) state.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use serde::Serialize;

use super::{CallRuntime, RuntimeError};
use crate::registry::Shared;
use crate::store::{Backend, ClusterState, StoreError, StoredReport};

/// Calls one instance publishes at most per heartbeat: the listing is for people, and the set is rewritten on
/// every heartbeat.
const MAX_PUBLISHED: usize = 10_000;

/// Heartbeats an instance may miss before its calls leave the listing.
const MISSED_HEARTBEATS: u32 = 3;

/// A call that ended recently, with its stored report.
#[derive(Debug, Clone)]
pub struct EndedCall {
    /// The instance that stored the report.
    pub instance: String,
    /// The report.
    pub report: Arc<StoredReport>,
}

/// The live calls of one instance, as its last heartbeat published them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InstanceCalls {
    /// The instance id.
    pub instance: String,
    /// Its last heartbeat, epoch milliseconds.
    pub last_seen_ms: i64,
    /// Its live calls, sorted, at most the listing's limit.
    pub calls: Vec<String>,
}

/// The store as this instance sees it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StoreState {
    /// `memory`, `redis` or `redis-cluster`.
    pub kind: &'static str,
    /// Whether the store answers.
    pub reachable: bool,
    /// A Redis Cluster's own account of its health, when the store is one and answered.
    pub cluster: Option<ClusterState>,
}

/// The current time in epoch milliseconds.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_millis() as i64)
        .unwrap_or(0)
}

impl Shared {
    /// How long an instance stays listed after its last heartbeat: as long as the reports it stored live.
    fn forget_after_ms(&self) -> i64 {
        (self.store.retention().report_ttl_seconds as i64).saturating_mul(1000)
    }

    /// Publishes this instance's live calls once (an empty set at shutdown).
    pub(crate) async fn heartbeat(&self, live: bool) -> Result<(), StoreError> {
        let Backend::Redis(redis) = &self.store.backend else {
            return Ok(());
        };
        let calls: Vec<String> = if live {
            self.calls
                .iter()
                .take(MAX_PUBLISHED)
                .map(|entry| entry.key().clone())
                .collect()
        } else {
            Vec::new()
        };
        let ttl = self.instance.heartbeat * MISSED_HEARTBEATS;
        redis
            .heartbeat(
                &self.instance.id,
                &calls,
                now_ms(),
                ttl.as_millis() as u64,
                self.forget_after_ms(),
            )
            .await
    }
}

/// Publishes the instance's live calls every heartbeat, for as long as the runtime runs.
pub(crate) fn spawn_heartbeat(shared: Arc<Shared>) -> Option<tokio::task::JoinHandle<()>> {
    if !matches!(shared.store.backend, Backend::Redis(_)) {
        return None;
    }
    Some(tokio::spawn(async move {
        let mut tick = tokio::time::interval(shared.instance.heartbeat);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut failing = false;
        loop {
            tick.tick().await;
            match shared.heartbeat(true).await {
                Ok(()) => failing = false,
                // The store logs its own unreachability; one line here says what it costs.
                Err(error) if !failing => {
                    failing = true;
                    tracing::warn!(instance = shared.instance.id, %error, "heartbeat failed: other instances may not list this one's calls");
                }
                Err(_) => {}
            }
        }
    }))
}

impl CallRuntime {
    /// This instance's id.
    pub fn instance_id(&self) -> &str {
        &self.shared.instance.id
    }

    /// The live calls of every instance sharing the store (this one included, listed first), each at most
    /// `limit`. With the memory store: this instance's.
    pub async fn instances(&self, limit: usize) -> Result<Vec<InstanceCalls>, RuntimeError> {
        let own = || {
            let mut calls: Vec<String> = self.shared.calls.iter().map(|entry| entry.key().clone()).collect();
            calls.sort_unstable();
            calls.truncate(limit);
            InstanceCalls {
                instance: self.shared.instance.id.clone(),
                last_seen_ms: now_ms(),
                calls,
            }
        };
        let Backend::Redis(redis) = &self.shared.store.backend else {
            return Ok(vec![own()]);
        };
        let listed_since = now_ms() - (self.shared.instance.heartbeat * MISSED_HEARTBEATS).as_millis() as i64;
        let mut all = vec![own()];
        for (instance, last_seen_ms) in redis.instances(listed_since).await? {
            if instance == self.shared.instance.id {
                continue;
            }
            let calls = redis.instance_calls(&instance, limit).await?;
            all.push(InstanceCalls {
                instance,
                last_seen_ms,
                calls,
            });
        }
        Ok(all)
    }

    /// The calls that ended recently, latest first, at most `limit`, with their reports: the reports stored
    /// by any instance sharing the store, until they expire (`report_ttl_seconds`).
    pub async fn ended_calls(&self, limit: usize) -> Result<Vec<EndedCall>, RuntimeError> {
        let redis = match &self.shared.store.backend {
            Backend::Memory(memory) => {
                return Ok(memory
                    .recent_reports(limit)
                    .into_iter()
                    .map(|report| EndedCall {
                        instance: self.shared.instance.id.clone(),
                        report,
                    })
                    .collect());
            }
            Backend::Redis(redis) => redis,
        };
        let since = now_ms() - self.shared.forget_after_ms();
        let mut ended: Vec<(i64, String, String)> = Vec::new();
        for (instance, _) in redis.instances(since).await? {
            for (call, at) in redis.ended_calls(&instance, limit).await? {
                ended.push((at, call, instance.clone()));
            }
        }
        ended.sort_unstable_by(|a, b| b.cmp(a));
        ended.dedup_by(|a, b| a.1 == b.1);
        ended.truncate(limit);
        let mut calls = Vec::with_capacity(ended.len());
        for (_, call, instance) in ended {
            // A report that expired meanwhile is not listed.
            if let Some(report) = redis.report(&call).await? {
                calls.push(EndedCall { instance, report });
            }
        }
        Ok(calls)
    }

    /// Notes that this instance stored `call_id`'s report, for [`CallRuntime::ended_calls`] on every instance.
    pub(crate) async fn record_ended(&self, call_id: &str) {
        let Backend::Redis(redis) = &self.shared.store.backend else {
            return;
        };
        let instance = &self.shared.instance;
        if let Err(error) = redis
            .record_ended(&instance.id, call_id, now_ms(), instance.ended_kept)
            .await
        {
            tracing::warn!(call_id, %error, "the ended call is stored but not listed for other instances");
        }
    }

    /// The kind of store this instance uses: `memory`, `redis` or `redis-cluster`.
    pub fn store_kind(&self) -> &'static str {
        match &self.shared.store.backend {
            Backend::Memory(_) => "memory",
            Backend::Redis(redis) if redis.is_cluster() => "redis-cluster",
            Backend::Redis(_) => "redis",
        }
    }

    /// Which store this instance uses and what it sees of it.
    pub async fn store_state(&self) -> StoreState {
        let store = &self.shared.store;
        let reachable = store.ping().await.is_ok();
        let kind = self.store_kind();
        let cluster = match &store.backend {
            Backend::Redis(redis) if redis.is_cluster() => redis.cluster_state().await.ok().flatten(),
            _ => None,
        };
        StoreState {
            kind,
            reachable,
            cluster,
        }
    }

    /// How many actors retired early because this instance does not serve their call.
    pub fn retired_unserved(&self) -> u64 {
        self.shared.stats.retired_unserved.load(Ordering::Relaxed)
    }

    /// The heartbeat interval.
    pub fn heartbeat(&self) -> Duration {
        self.shared.instance.heartbeat
    }
}
