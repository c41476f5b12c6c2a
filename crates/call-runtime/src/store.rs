//! The store boundary: what outlives a call's actor. Call snapshots and the journal of events since, stored
//! end-of-call reports, and per-conversation memory. Everything stored expires ([`RetentionConfig`]).
//!
//! [`Store`] is an enum over the implementations rather than a trait object, so calls are static and
//! `async fn` needs no boxing. The in-memory store is the embedded default; the Redis store is shared by every
//! instance pointed at the same Redis ([`Store::is_shared`]), which is what makes the runtime's actors catch up
//! on events other instances journaled. Only the runtime reads or writes a store: the edge builds one and hands
//! it to [`crate::CallRuntime::start`].
//!
//! Every call's record carries a [`Generation`]: a random id given when the record is created, so an actor
//! can tell that the record it has been folding is gone (Redis restarted empty, `FLUSHALL`, eviction) even
//! when a new record with the same call id took its place. Appends, snapshots and loads name the generation
//! the actor expects; a mismatch is reported, never papered over, and the actor re-seeds the store from its
//! own state ([`Store::reseed`]) before anything new is acknowledged.

mod instances;
mod memory;
mod redis_store;
mod tool_ledger;

pub(crate) use memory::MemoryStore;
pub(crate) use redis_store::RedisStore;
pub use redis_store::{ClusterState, RedisConfig};
pub(crate) use tool_ledger::{LedgerLimits, MemoryToolLedger, ToolClaim, owner_token};

use std::collections::BTreeMap;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use call_state::{CallEvent, CallState};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::RetentionConfig;

/// A store failure.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The store cannot be reached or refused the operation.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// Stored data could not be decoded.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// The write would pass a configured bound ([`RetentionConfig`]); nothing was written.
    #[error("refused: {0}")]
    Refused(String),
}

/// A call's state as of a journal position: everything up to and including `through` is folded in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Snapshot {
    /// The state.
    pub(crate) state: CallState,
    /// The last journal sequence number folded into `state` (0: none).
    pub(crate) through: u64,
}

/// Which incarnation of a call's record this is, and what earlier incarnations it carries.
///
/// `lineage` maps the id of each generation this record was re-seeded from to the journal position the
/// re-seeding state had reached in it: an actor of generation `g` at position `t` may adopt this record
/// without losing anything exactly when `lineage[g] >= t`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Generation {
    /// A random, nonzero id.
    pub(crate) id: u64,
    /// Earlier generations folded into this one, with their positions. Bounded to the latest few.
    #[serde(default)]
    pub(crate) lineage: BTreeMap<u64, u64>,
    /// The seq this generation was re-seeded at (0 for a record started by an append): while the stored
    /// snapshot is still at `base`, it is exactly the re-seeding state.
    #[serde(default)]
    pub(crate) base: u64,
}

impl Generation {
    /// Lineage entries kept: a call re-seeded more often than this has long lost older ancestors anyway.
    const MAX_LINEAGE: usize = 16;

    /// A new generation with a fresh id, re-seeded at `base`.
    pub(crate) fn fresh(lineage: BTreeMap<u64, u64>, base: u64) -> Generation {
        let mut generation = Generation {
            id: fresh_id(),
            lineage,
            base,
        };
        while generation.lineage.len() > Generation::MAX_LINEAGE {
            // Ids are random, so dropping the smallest drops an arbitrary old entry: acceptable for a bound
            // that real calls never reach.
            generation.lineage.pop_first();
        }
        generation
    }

    /// Whether this record already holds everything an actor of generation `id` has folded through `through`.
    pub(crate) fn covers(&self, id: u64, through: u64) -> bool {
        self.lineage.get(&id).is_some_and(|at| *at >= through)
    }
}

/// A random nonzero id, without a dependency on a random number crate: the standard library's hasher keys
/// are random per process, and a counter makes ids within a process distinct.
pub(crate) fn fresh_id() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    if let Ok(now) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        hasher.write_u128(now.as_nanos());
    }
    hasher.finish().max(1)
}

/// What a read of a call's record found.
#[derive(Debug, Clone, Default)]
pub(crate) struct Loaded {
    /// The record's generation; `None` when the store holds no record of the call.
    pub(crate) generation: Option<Generation>,
    /// The last sequence number handed out (0: none).
    pub(crate) last_seq: u64,
    /// The snapshot, when it is past the reader's position.
    pub(crate) snapshot: Option<Snapshot>,
    /// The journal entries past both the reader and the snapshot, in order.
    pub(crate) journal: Vec<(u64, Arc<CallEvent>)>,
}

impl Loaded {
    /// Whether the store holds nothing for the call.
    pub(crate) fn is_empty(&self) -> bool {
        self.snapshot.is_none() && self.journal.is_empty()
    }
}

/// What an append requires of the call's record: that it is generation `generation` and has handed out at
/// least `through` seqs (the writer's actor folded that far). A record that went back (lost, replaced, or a
/// stale replica) answers [`Appended::Diverged`] instead of handing out a seq the actor already folded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Expect {
    /// The generation the actor folds.
    pub(crate) generation: u64,
    /// How far the actor folded.
    pub(crate) through: u64,
}

/// The outcome of an append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Appended {
    /// The event is journaled (now, or by an earlier delivery) as `seq` in generation `generation`.
    Journaled {
        /// Its sequence number.
        seq: u64,
        /// The generation of the record it is in.
        generation: u64,
    },
    /// The record is not the generation the caller expected (it was lost, or replaced): nothing was written.
    Diverged,
}

/// The outcome of a snapshot save.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Saved {
    /// Saved, and the journal it covers dropped.
    Written,
    /// A newer snapshot is stored; this one was ignored.
    Older,
    /// The record is not the expected generation: nothing was written.
    Diverged,
}

/// A re-seeding of a call's record from an actor's state: the record must still be what the actor read
/// (`expect_generation`, `expect_seq`), else nothing is written.
#[derive(Debug, Clone)]
pub(crate) struct Reseed {
    /// The generation the actor read, `None` when there was no record.
    pub(crate) expect_generation: Option<u64>,
    /// The last seq the actor read.
    pub(crate) expect_seq: u64,
    /// The record's new generation.
    pub(crate) generation: Generation,
    /// The state to store; `through` becomes the record's last seq.
    pub(crate) snapshot: Snapshot,
}

/// An end-of-call report as stored: the body verbatim plus the fields worth listing without parsing it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredReport {
    /// The call.
    pub call_id: String,
    /// Why the call ended.
    pub ended_reason: Option<String>,
    /// The analysis summary.
    pub summary: Option<String>,
    /// Total cost in USD.
    pub cost: Option<f64>,
    /// Call length in seconds.
    pub duration_seconds: Option<f64>,
    /// When Switchboard received it, epoch milliseconds.
    pub received_at_ms: i64,
    /// The webhook body exactly as received.
    pub body: String,
}

/// Counters of what a store dropped or refused, read by `/metrics`.
#[derive(Debug, Default)]
pub struct StoreStats {
    /// Items (calls, reports, links, conversations) the memory store dropped because their TTL passed.
    pub expired: AtomicU64,
    /// Items the memory store dropped to stay within `max_stored_calls` (least recently written first).
    pub evicted: AtomicU64,
    /// Conversation memory writes refused by the conversation bounds.
    pub memory_refused: AtomicU64,
}

/// Where call data lives beyond an actor's lifetime. Cloning is cheap: clones share one store. Only the
/// runtime reads or writes it.
#[derive(Debug, Clone)]
pub struct Store {
    pub(crate) backend: Backend,
}

/// The implementations.
#[derive(Debug, Clone)]
pub(crate) enum Backend {
    /// In this process only (the default).
    Memory(MemoryStore),
    /// In Redis, shared with every instance that uses the same Redis and key prefix.
    Redis(RedisStore),
}

impl Default for Store {
    fn default() -> Self {
        Store::memory(RetentionConfig::default())
    }
}

impl Store {
    /// An in-memory store that keeps data for `retention`.
    pub fn memory(retention: RetentionConfig) -> Store {
        Store {
            backend: Backend::Memory(MemoryStore::new(retention)),
        }
    }

    /// A Redis store for `config` (validated first) with the default retention.
    pub async fn connect(config: &RedisConfig) -> Result<Store, StoreError> {
        Store::connect_with(config, RetentionConfig::default()).await
    }

    /// A Redis store for `config` (validated first) whose keys live for `retention`. An unreachable Redis is
    /// not an error here: the store starts unready (every operation fails) and recovers by itself.
    pub async fn connect_with(config: &RedisConfig, retention: RetentionConfig) -> Result<Store, StoreError> {
        RedisStore::connect(config, retention).await.map(|store| Store {
            backend: Backend::Redis(store),
        })
    }

    /// Whether other processes may write to this store, so an actor must catch up on the journal before it
    /// answers. `false` for the memory store, whose actors skip that work.
    pub fn is_shared(&self) -> bool {
        match &self.backend {
            Backend::Memory(_) => false,
            Backend::Redis(_) => true,
        }
    }

    /// A short name for logs, metrics and `/readyz`: `memory`, `redis` or `redis-cluster`.
    pub fn name(&self) -> &'static str {
        match &self.backend {
            Backend::Memory(_) => "memory",
            Backend::Redis(redis) if redis.is_cluster() => "redis-cluster",
            Backend::Redis(_) => "redis",
        }
    }

    /// What the store dropped or refused.
    pub fn stats(&self) -> &StoreStats {
        match &self.backend {
            Backend::Memory(store) => store.stats(),
            Backend::Redis(store) => store.stats(),
        }
    }

    /// The retention in force.
    pub(crate) fn retention(&self) -> &RetentionConfig {
        match &self.backend {
            Backend::Memory(store) => store.retention(),
            Backend::Redis(store) => store.retention(),
        }
    }

    /// Appends `event` to the call's journal unless its id is already journaled (a replay, delivered to any
    /// instance), in which case the seq of its first delivery is returned. With `expect`, only into a record
    /// that meets it: a lost, replaced or stale record answers [`Appended::Diverged`] and is not written.
    pub(crate) async fn append(&self, event: Arc<CallEvent>, expect: Option<Expect>) -> Result<Appended, StoreError> {
        match &self.backend {
            Backend::Memory(store) => Ok(store.append(event, expect)),
            Backend::Redis(store) => store.append(&event, expect).await,
        }
    }

    /// The call's whole record: generation, snapshot and the journal after it.
    pub(crate) async fn load(&self, call_id: &str) -> Result<Loaded, StoreError> {
        self.load_since(call_id, 0).await
    }

    /// What a reader that has folded the journal through `after` lacks: the snapshot when it is past `after`
    /// (else `None`), and the journal entries past both, in order, with the record's generation. Read
    /// atomically.
    pub(crate) async fn load_since(&self, call_id: &str, after: u64) -> Result<Loaded, StoreError> {
        match &self.backend {
            Backend::Memory(store) => Ok(store.load_since(call_id, after)),
            Backend::Redis(store) => store.load_since(call_id, after).await,
        }
    }

    /// Saves a snapshot into the record of generation `generation` and drops the journal entries it covers.
    /// A snapshot older than the stored one (a lower `through`) is ignored.
    pub(crate) async fn save_snapshot(&self, snapshot: Snapshot, generation: Option<u64>) -> Result<Saved, StoreError> {
        match &self.backend {
            Backend::Memory(store) => Ok(store.save_snapshot(snapshot, generation)),
            Backend::Redis(store) => store.save_snapshot(&snapshot, generation).await,
        }
    }

    /// Replaces the call's record with `reseed`'s snapshot and generation, if the record is still as the
    /// caller read it. Returns whether it was written.
    pub(crate) async fn reseed(&self, reseed: Reseed) -> Result<bool, StoreError> {
        match &self.backend {
            Backend::Memory(store) => Ok(store.reseed(reseed)),
            Backend::Redis(store) => store.reseed(&reseed).await,
        }
    }

    /// Stores an end-of-call report, replacing an earlier delivery of the same call's report.
    pub(crate) async fn save_report(&self, report: StoredReport) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Memory(store) => {
                store.save_report(report);
                Ok(())
            }
            Backend::Redis(store) => store.save_report(&report).await,
        }
    }

    /// The call's stored report.
    pub(crate) async fn report(&self, call_id: &str) -> Result<Option<Arc<StoredReport>>, StoreError> {
        match &self.backend {
            Backend::Memory(store) => Ok(store.report(call_id)),
            Backend::Redis(store) => store.report(call_id).await,
        }
    }

    /// The memory shared by every call of a conversation.
    pub(crate) async fn conversation_memory(
        &self,
        conversation_id: &str,
    ) -> Result<BTreeMap<String, Value>, StoreError> {
        match &self.backend {
            Backend::Memory(store) => Ok(store.conversation_memory(conversation_id)),
            Backend::Redis(store) => store.conversation_memory(conversation_id).await,
        }
    }

    /// Sets (or, with `None`, deletes) a key of a conversation's memory. A write past the conversation
    /// bounds is refused ([`StoreError::Refused`]) and counted.
    pub(crate) async fn set_conversation_memory(
        &self,
        conversation_id: &str,
        key: &str,
        value: Option<Value>,
    ) -> Result<(), StoreError> {
        let outcome = match &value {
            Some(value) => self.retention().check_memory_entry(key, value).map(Some),
            None => Ok(None),
        };
        let outcome = match outcome {
            Err(error) => Err(error),
            Ok(json) => match &self.backend {
                Backend::Memory(store) => store.set_conversation_memory(conversation_id, key, value, json),
                Backend::Redis(store) => store.set_conversation_memory(conversation_id, key, json).await,
            },
        };
        if let Err(StoreError::Refused(reason)) = &outcome {
            self.stats().memory_refused.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(conversation_id, key, reason, "conversation memory write refused");
        }
        outcome
    }

    /// Records that `call_id` belongs to conversation `conversation_id` (the `/api/webhook/{id}` form).
    pub(crate) async fn link_conversation(&self, call_id: &str, conversation_id: &str) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Memory(store) => {
                store.link_conversation(call_id, conversation_id);
                Ok(())
            }
            Backend::Redis(store) => store.link_conversation(call_id, conversation_id).await,
        }
    }

    /// The conversation a call belongs to, if it was linked to one.
    pub(crate) async fn conversation_of(&self, call_id: &str) -> Result<Option<String>, StoreError> {
        match &self.backend {
            Backend::Memory(store) => Ok(store.conversation_of(call_id)),
            Backend::Redis(store) => store.conversation_of(call_id).await,
        }
    }

    /// Claims a tool call for `hold` on behalf of `owner` (a token from [`owner_token`]): see [`ToolClaim`].
    pub(crate) async fn claim_tool(
        &self,
        call_id: &str,
        tool_call_id: &str,
        owner: &str,
        hold: std::time::Duration,
    ) -> Result<ToolClaim, StoreError> {
        match &self.backend {
            Backend::Memory(store) => Ok(store.tool_ledger().claim(call_id, tool_call_id, hold)),
            Backend::Redis(store) => store.claim_tool(call_id, tool_call_id, owner, hold).await,
        }
    }

    /// Records a claimed tool call's answer, dropping `owner`'s claim; returns the answer recorded first.
    pub(crate) async fn complete_tool(
        &self,
        call_id: &str,
        tool_call_id: &str,
        owner: &str,
        answer: Arc<str>,
    ) -> Result<Arc<str>, StoreError> {
        match &self.backend {
            Backend::Memory(store) => Ok(store.tool_ledger().complete(call_id, tool_call_id, answer)),
            Backend::Redis(store) => store.complete_tool(call_id, tool_call_id, owner, &answer).await,
        }
    }

    /// Whether the store can take traffic.
    pub(crate) async fn ping(&self) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Memory(_) => Ok(()),
            Backend::Redis(store) => store.ping().await,
        }
    }
}

impl RetentionConfig {
    /// Checks one conversation memory entry against the per-entry bound; returns the value's JSON text.
    pub(crate) fn check_memory_entry(&self, key: &str, value: &Value) -> Result<String, StoreError> {
        let json = serde_json::to_string(value).map_err(|error| StoreError::Corrupt(error.to_string()))?;
        let bytes = key.len() + json.len();
        if bytes > self.conversation_max_value_bytes {
            return Err(StoreError::Refused(format!(
                "conversation memory entry `{}` is {bytes} bytes, over retention.conversation_max_value_bytes ({})",
                truncate(key, 64),
                self.conversation_max_value_bytes
            )));
        }
        Ok(json)
    }

    /// The refusal for a write that would pass the entry-count bound.
    pub(crate) fn too_many_entries(&self) -> StoreError {
        StoreError::Refused(format!(
            "conversation memory holds retention.conversation_max_entries ({}) keys already",
            self.conversation_max_entries
        ))
    }

    /// The refusal for a write that would pass the total-bytes bound.
    pub(crate) fn too_many_bytes(&self) -> StoreError {
        StoreError::Refused(format!(
            "conversation memory would pass retention.conversation_max_bytes ({})",
            self.conversation_max_bytes
        ))
    }
}

/// At most `max` bytes of `text`, cut at a char boundary (for messages naming user-supplied keys).
fn truncate(text: &str, max: usize) -> &str {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod contract;
