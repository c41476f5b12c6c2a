//! The store boundary: what outlives a call's actor. Call snapshots and the journal of events since, stored
//! end-of-call reports, and per-conversation memory.
//!
//! [`Store`] is an enum over the implementations rather than a trait object, so calls are static and
//! `async fn` needs no boxing. The in-memory [`MemoryStore`] is the embedded default; the [`RedisStore`] is
//! shared by every instance pointed at the same Redis ([`Store::is_shared`]), which is what makes the
//! runtime's actors catch up on events other instances journaled.

mod redis_store;
mod tool_ledger;

pub use redis_store::{RedisConfig, RedisStore};
pub(crate) use tool_ledger::owner_token;
pub use tool_ledger::{LedgerLimits, MemoryToolLedger, ToolClaim};

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use call_state::{CallEvent, CallState};
use dashmap::DashMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A store failure. The memory store never fails; remote stores do.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The store cannot be reached or refused the operation.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// Stored data could not be decoded.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

/// A call's state as of a journal position: everything up to and including `through` is folded in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// The state.
    pub state: CallState,
    /// The last journal sequence number folded into `state` (0: none).
    pub through: u64,
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

/// Where call data lives beyond an actor's lifetime. Cloning is cheap: clones share one store.
#[derive(Debug, Clone)]
pub enum Store {
    /// In this process only (the default).
    Memory(MemoryStore),
    /// In Redis, shared with every instance that uses the same Redis and key prefix.
    Redis(RedisStore),
}

impl Default for Store {
    fn default() -> Self {
        Store::Memory(MemoryStore::default())
    }
}

impl Store {
    /// A Redis store for `config` (validated first). An unreachable Redis is not an error here: the store
    /// starts unready ([`Store::ping`] fails, and so does every operation) and recovers by itself.
    pub async fn connect(config: &RedisConfig) -> Result<Store, StoreError> {
        RedisStore::connect(config).await.map(Store::Redis)
    }

    /// Whether other processes may write to this store, so an actor must catch up on the journal before it
    /// answers. `false` for the memory store, whose actors skip that work.
    pub fn is_shared(&self) -> bool {
        match self {
            Store::Memory(_) => false,
            Store::Redis(_) => true,
        }
    }

    /// Appends `event` to the call's journal and returns its sequence number (1, 2, ...).
    ///
    /// The Redis store is idempotent: an event whose id is already journaled (a replay, delivered to any
    /// instance) is not appended again, and the seq of its first delivery is returned.
    pub async fn append(&self, event: Arc<CallEvent>) -> Result<u64, StoreError> {
        match self {
            Store::Memory(store) => Ok(store.append(event)),
            Store::Redis(store) => store.append(&event).await,
        }
    }

    /// The call's snapshot (if any) and the journal after it, in order.
    pub async fn load(&self, call_id: &str) -> Result<(Option<Snapshot>, Vec<(u64, Arc<CallEvent>)>), StoreError> {
        self.load_since(call_id, 0).await
    }

    /// What a reader that has folded the journal through `after` lacks: the snapshot when it is past `after`
    /// (else `None`), and the journal entries past both, in order. Read atomically.
    pub async fn load_since(
        &self,
        call_id: &str,
        after: u64,
    ) -> Result<(Option<Snapshot>, Vec<(u64, Arc<CallEvent>)>), StoreError> {
        match self {
            Store::Memory(store) => Ok(store.load_since(call_id, after)),
            Store::Redis(store) => store.load_since(call_id, after).await,
        }
    }

    /// Saves a snapshot and drops the journal entries it covers. A snapshot older than the stored one (a
    /// lower `through`) is ignored.
    pub async fn save_snapshot(&self, snapshot: Snapshot) -> Result<(), StoreError> {
        match self {
            Store::Memory(store) => {
                store.save_snapshot(snapshot);
                Ok(())
            }
            Store::Redis(store) => store.save_snapshot(&snapshot).await.map(|_| ()),
        }
    }

    /// Stores an end-of-call report, replacing an earlier delivery of the same call's report.
    pub async fn save_report(&self, report: StoredReport) -> Result<(), StoreError> {
        match self {
            Store::Memory(store) => {
                store.reports.insert(report.call_id.clone(), Arc::new(report));
                Ok(())
            }
            Store::Redis(store) => store.save_report(&report).await,
        }
    }

    /// The call's stored report.
    pub async fn report(&self, call_id: &str) -> Result<Option<Arc<StoredReport>>, StoreError> {
        match self {
            Store::Memory(store) => Ok(store.reports.get(call_id).map(|r| Arc::clone(&r))),
            Store::Redis(store) => store.report(call_id).await,
        }
    }

    /// The memory shared by every call of a conversation.
    pub async fn conversation_memory(&self, conversation_id: &str) -> Result<BTreeMap<String, Value>, StoreError> {
        match self {
            Store::Memory(store) => Ok(store
                .conversations
                .get(conversation_id)
                .map(|m| m.clone())
                .unwrap_or_default()),
            Store::Redis(store) => store.conversation_memory(conversation_id).await,
        }
    }

    /// Sets (or, with `None`, deletes) a key of a conversation's memory.
    pub async fn set_conversation_memory(
        &self,
        conversation_id: &str,
        key: &str,
        value: Option<Value>,
    ) -> Result<(), StoreError> {
        match self {
            Store::Memory(store) => {
                let mut memory = store.conversations.entry(conversation_id.to_string()).or_default();
                match value {
                    Some(value) => memory.insert(key.to_string(), value),
                    None => memory.remove(key),
                };
                Ok(())
            }
            Store::Redis(store) => {
                store
                    .set_conversation_memory(conversation_id, key, value.as_ref())
                    .await
            }
        }
    }

    /// Records that `call_id` belongs to conversation `conversation_id` (the `/api/webhook/{id}` form).
    pub async fn link_conversation(&self, call_id: &str, conversation_id: &str) -> Result<(), StoreError> {
        match self {
            Store::Memory(store) => {
                if store
                    .links
                    .get(call_id)
                    .is_none_or(|linked| linked.as_str() != conversation_id)
                {
                    store.links.insert(call_id.to_string(), conversation_id.to_string());
                }
                Ok(())
            }
            Store::Redis(store) => store.link_conversation(call_id, conversation_id).await,
        }
    }

    /// The conversation a call belongs to, if it was linked to one.
    pub async fn conversation_of(&self, call_id: &str) -> Result<Option<String>, StoreError> {
        match self {
            Store::Memory(store) => Ok(store.links.get(call_id).map(|c| c.clone())),
            Store::Redis(store) => store.conversation_of(call_id).await,
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
        match self {
            Store::Memory(store) => Ok(store.tools.claim(call_id, tool_call_id, hold)),
            Store::Redis(store) => store.claim_tool(call_id, tool_call_id, owner, hold).await,
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
        match self {
            Store::Memory(store) => Ok(store.tools.complete(call_id, tool_call_id, answer)),
            Store::Redis(store) => store.complete_tool(call_id, tool_call_id, owner, &answer).await,
        }
    }

    /// Whether the store can take traffic.
    pub async fn ping(&self) -> Result<(), StoreError> {
        match self {
            Store::Memory(_) => Ok(()),
            Store::Redis(store) => store.ping().await,
        }
    }

    /// A short name for logs and `/readyz`.
    pub fn name(&self) -> &'static str {
        match self {
            Store::Memory(_) => "memory",
            Store::Redis(_) => "redis",
        }
    }
}

/// The in-memory store: dashmaps keyed by call and conversation id. Cloning shares the maps.
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    calls: Arc<DashMap<String, CallRecord>>,
    reports: Arc<DashMap<String, Arc<StoredReport>>>,
    conversations: Arc<DashMap<String, BTreeMap<String, Value>>>,
    links: Arc<DashMap<String, String>>,
    tools: MemoryToolLedger,
}

#[derive(Debug, Default)]
struct CallRecord {
    snapshot: Option<Snapshot>,
    journal: VecDeque<(u64, Arc<CallEvent>)>,
    last_seq: u64,
}

impl MemoryStore {
    fn append(&self, event: Arc<CallEvent>) -> u64 {
        let mut record = self.calls.entry(event.call_id.clone()).or_default();
        record.last_seq += 1;
        let seq = record.last_seq;
        record.journal.push_back((seq, event));
        seq
    }

    fn load_since(&self, call_id: &str, after: u64) -> (Option<Snapshot>, Vec<(u64, Arc<CallEvent>)>) {
        let Some(record) = self.calls.get(call_id) else {
            return (None, Vec::new());
        };
        let snapshot = record
            .snapshot
            .as_ref()
            .filter(|snapshot| snapshot.through > after)
            .cloned();
        let from = snapshot.as_ref().map_or(after, |snapshot| snapshot.through);
        // The journal is in seq order: skip what the reader (or the snapshot) already covers.
        let start = record.journal.partition_point(|(seq, _)| *seq <= from);
        (snapshot, record.journal.range(start..).cloned().collect())
    }

    fn save_snapshot(&self, snapshot: Snapshot) {
        let mut record = self.calls.entry(snapshot.state.call_id().to_string()).or_default();
        if record
            .snapshot
            .as_ref()
            .is_some_and(|old| old.through > snapshot.through)
        {
            return; // An older actor's late snapshot never replaces a newer one.
        }
        while record.journal.front().is_some_and(|(seq, _)| *seq <= snapshot.through) {
            record.journal.pop_front();
        }
        record.snapshot = Some(snapshot);
    }

    /// An empty store whose tool ledger keeps answers under `limits` (the default: a day, 100,000 answers,
    /// 64 MiB).
    pub fn with_ledger_limits(limits: LedgerLimits) -> MemoryStore {
        MemoryStore {
            tools: MemoryToolLedger::new(limits),
            ..MemoryStore::default()
        }
    }

    /// The ledger of tool calls run and their answers.
    pub fn tool_ledger(&self) -> &MemoryToolLedger {
        &self.tools
    }

    /// How many calls the store holds a record of.
    pub fn calls(&self) -> usize {
        self.calls.len()
    }

    /// How many journal entries the store holds for a call (events not yet covered by a snapshot).
    pub fn journal_len(&self, call_id: &str) -> usize {
        self.calls.get(call_id).map_or(0, |record| record.journal.len())
    }
}
