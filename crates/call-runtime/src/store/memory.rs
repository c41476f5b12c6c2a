//! The in-memory store: dashmaps keyed by call and conversation id, every entry stamped with its last write.
//!
//! Retention works on [`tokio::time::Instant`], so tests drive it with tokio's paused clock. Expired entries
//! are invisible at once (every read checks the stamp) and dropped by [`MemoryStore::sweep`], which the
//! runtime runs periodically; each map holds at most `max_stored_calls` entries, past which the least
//! recently written go first. Both are counted in [`StoreStats`].

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use call_state::{CallEvent, EventId};
use dashmap::DashMap;
use dashmap::mapref::entry::Entry;
use serde_json::Value;
use tokio::time::Instant;

use super::{
    Appended, Expect, Generation, LedgerLimits, Loaded, MemoryToolLedger, Reseed, Saved, Snapshot, StoreError,
    StoreStats, StoredReport,
};
use crate::config::RetentionConfig;

/// The in-memory store. Cloning shares the maps.
#[derive(Debug, Clone)]
pub(crate) struct MemoryStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    retention: RetentionConfig,
    stats: StoreStats,
    calls: DashMap<String, CallRecord>,
    reports: DashMap<String, Stamped<Arc<StoredReport>>>,
    conversations: DashMap<String, Stamped<Conversation>>,
    links: DashMap<String, Stamped<String>>,
    /// Tool calls run and their answers, kept as long as calls.
    tools: MemoryToolLedger,
    /// Set while a capacity eviction pass runs, so concurrent writers do not all scan at once.
    evicting: AtomicBool,
}

/// A value and when it was last written.
#[derive(Debug)]
struct Stamped<T> {
    value: T,
    written: Instant,
}

impl<T> Stamped<T> {
    fn new(value: T) -> Stamped<T> {
        Stamped {
            value,
            written: Instant::now(),
        }
    }
}

/// Something with a last-write stamp, so one expiry and eviction routine serves every map.
trait Written {
    fn written(&self) -> Instant;
}

impl<T> Written for Stamped<T> {
    fn written(&self) -> Instant {
        self.written
    }
}

impl Written for CallRecord {
    fn written(&self) -> Instant {
        self.written
    }
}

fn expired(item: &impl Written, ttl: Duration, now: Instant) -> bool {
    now.saturating_duration_since(item.written()) >= ttl
}

/// Removes the entries of `map` whose TTL has passed; returns how many went.
fn drop_expired<V: Written>(map: &DashMap<String, V>, ttl: Duration, now: Instant) -> usize {
    let mut dropped = 0;
    map.retain(|_, item| {
        let keep = !expired(item, ttl, now);
        dropped += usize::from(!keep);
        keep
    });
    dropped
}

/// Event ids remembered per call for idempotent appends: twice the call state's default `max_seen_events`.
const MAX_IDS: usize = 8192;

#[derive(Debug)]
struct CallRecord {
    generation: Generation,
    snapshot: Option<Snapshot>,
    journal: VecDeque<(u64, Arc<CallEvent>)>,
    last_seq: u64,
    /// Event id → seq: what makes appends idempotent. Lives with the record, and keeps the latest
    /// [`MAX_IDS`] ids (a replay older than that is journaled again, and the call state still skips it if it
    /// remembers the id).
    ids: HashMap<EventId, u64>,
    /// The ids in `ids`, oldest first.
    id_order: VecDeque<EventId>,
    written: Instant,
}

impl CallRecord {
    fn new(generation: Generation) -> CallRecord {
        CallRecord {
            generation,
            snapshot: None,
            journal: VecDeque::new(),
            last_seq: 0,
            ids: HashMap::new(),
            id_order: VecDeque::new(),
            written: Instant::now(),
        }
    }
}

#[derive(Debug, Default)]
struct Conversation {
    entries: BTreeMap<String, (Value, usize)>,
    /// Keys plus JSON texts of every entry.
    bytes: usize,
}

impl MemoryStore {
    /// An empty store keeping data for `retention`.
    pub(crate) fn new(retention: RetentionConfig) -> MemoryStore {
        let tools = MemoryToolLedger::new(LedgerLimits {
            ttl: Duration::from_secs(retention.call_ttl_seconds),
            ..LedgerLimits::default()
        });
        MemoryStore {
            inner: Arc::new(Inner {
                retention,
                stats: StoreStats::default(),
                calls: DashMap::new(),
                reports: DashMap::new(),
                conversations: DashMap::new(),
                links: DashMap::new(),
                tools,
                evicting: AtomicBool::new(false),
            }),
        }
    }

    /// The ledger of tool calls run and their answers.
    pub(crate) fn tool_ledger(&self) -> &MemoryToolLedger {
        &self.inner.tools
    }

    pub(crate) fn retention(&self) -> &RetentionConfig {
        &self.inner.retention
    }

    pub(crate) fn stats(&self) -> &StoreStats {
        &self.inner.stats
    }

    /// Starts the periodic sweep. It holds the store weakly, so it ends when the store is dropped.
    pub(crate) fn spawn_sweeper(&self) -> tokio::task::JoinHandle<()> {
        let store: Weak<Inner> = Arc::downgrade(&self.inner);
        let every = self.inner.retention.sweep_interval();
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                let Some(inner) = store.upgrade() else { return };
                MemoryStore { inner }.sweep();
            }
        })
    }

    /// Drops everything whose TTL has passed. Returns how many items went.
    pub(crate) fn sweep(&self) -> usize {
        let inner = &self.inner;
        let now = Instant::now();
        let retention = &inner.retention;
        // Counted inside `retain`: the maps change concurrently, so lengths before and after say nothing.
        let dropped = drop_expired(&inner.calls, retention.call_ttl(), now)
            + drop_expired(&inner.links, retention.call_ttl(), now)
            + drop_expired(&inner.reports, retention.report_ttl(), now)
            + drop_expired(&inner.conversations, retention.conversation_ttl(), now);
        inner.stats.expired.fetch_add(dropped as u64, Ordering::Relaxed);
        dropped
    }

    /// Keeps `map` within `max_stored_calls`, dropping the least recently written entries.
    fn enforce_cap<V: Written>(&self, map: &DashMap<String, V>) {
        let max = self.inner.retention.max_stored_calls;
        if map.len() <= max || self.inner.evicting.swap(true, Ordering::Acquire) {
            return;
        }
        // Evict a little below the cap, so a full store scans once per many inserts, not on every one.
        let target = max - max / 64;
        let mut stamps: Vec<(Instant, String)> = map
            .iter()
            .map(|entry| (entry.value().written(), entry.key().clone()))
            .collect();
        let excess = stamps.len().saturating_sub(target);
        if excess > 0 {
            stamps.select_nth_unstable_by_key(excess - 1, |(written, _)| *written);
            let mut evicted = 0;
            for (written, key) in stamps.into_iter().take(excess) {
                // An entry written since the scan is no longer among the oldest.
                if map.remove_if(&key, |_, value| value.written() == written).is_some() {
                    evicted += 1;
                }
            }
            self.inner.stats.evicted.fetch_add(evicted, Ordering::Relaxed);
        }
        self.inner.evicting.store(false, Ordering::Release);
    }

    pub(crate) fn append(&self, event: Arc<CallEvent>, expect: Option<Expect>) -> Appended {
        let inner = &self.inner;
        let now = Instant::now();
        let ttl = inner.retention.call_ttl();
        let mut created = false;
        let mut record = match inner.calls.entry(event.call_id.clone()) {
            Entry::Occupied(mut occupied) => {
                if expired(occupied.get(), ttl, now) {
                    inner.stats.expired.fetch_add(1, Ordering::Relaxed);
                    if expect.is_some() {
                        occupied.remove();
                        return Appended::Diverged;
                    }
                    *occupied.get_mut() = CallRecord::new(Generation::fresh(BTreeMap::new(), 0));
                }
                occupied.into_ref()
            }
            Entry::Vacant(vacant) => {
                if expect.is_some() {
                    return Appended::Diverged;
                }
                created = true;
                vacant.insert(CallRecord::new(Generation::fresh(BTreeMap::new(), 0)))
            }
        };
        if expect.is_some_and(|expect| expect.generation != record.generation.id || record.last_seq < expect.through) {
            return Appended::Diverged;
        }
        let generation = record.generation.id;
        record.written = now;
        if let Some(seq) = record.ids.get(&event.id) {
            return Appended::Journaled { seq: *seq, generation };
        }
        record.last_seq += 1;
        let seq = record.last_seq;
        record.ids.insert(event.id, seq);
        record.id_order.push_back(event.id);
        if record.id_order.len() > MAX_IDS
            && let Some(oldest) = record.id_order.pop_front()
        {
            record.ids.remove(&oldest);
        }
        record.journal.push_back((seq, event));
        drop(record);
        if created {
            self.enforce_cap(&inner.calls);
        }
        Appended::Journaled { seq, generation }
    }

    pub(crate) fn load_since(&self, call_id: &str, after: u64) -> Loaded {
        let now = Instant::now();
        let Some(record) = self.inner.calls.get(call_id) else {
            return Loaded::default();
        };
        if expired(&*record, self.inner.retention.call_ttl(), now) {
            return Loaded::default();
        }
        let snapshot = record
            .snapshot
            .as_ref()
            .filter(|snapshot| snapshot.through > after)
            .cloned();
        let from = snapshot.as_ref().map_or(after, |snapshot| snapshot.through);
        // The journal is in seq order: skip what the reader (or the snapshot) already covers.
        let start = record.journal.partition_point(|(seq, _)| *seq <= from);
        Loaded {
            generation: Some(record.generation.clone()),
            last_seq: record.last_seq,
            snapshot,
            journal: record.journal.range(start..).cloned().collect(),
        }
    }

    pub(crate) fn save_snapshot(&self, snapshot: Snapshot, generation: Option<u64>) -> Saved {
        let now = Instant::now();
        let Some(mut record) = self.inner.calls.get_mut(snapshot.state.call_id()) else {
            return Saved::Diverged;
        };
        if expired(&*record, self.inner.retention.call_ttl(), now) || Some(record.generation.id) != generation {
            return Saved::Diverged;
        }
        if record
            .snapshot
            .as_ref()
            .is_some_and(|old| old.through >= snapshot.through)
        {
            return Saved::Older; // An older actor's late snapshot never replaces a newer one.
        }
        while record.journal.front().is_some_and(|(seq, _)| *seq <= snapshot.through) {
            record.journal.pop_front();
        }
        record.snapshot = Some(snapshot);
        record.written = now;
        Saved::Written
    }

    pub(crate) fn reseed(&self, reseed: Reseed) -> bool {
        let now = Instant::now();
        let ttl = self.inner.retention.call_ttl();
        let call_id = reseed.snapshot.state.call_id().to_string();
        let mut created = false;
        let mut record = match self.inner.calls.entry(call_id) {
            Entry::Occupied(occupied) => {
                let current = occupied.get();
                let (generation, last_seq) = if expired(current, ttl, now) {
                    (None, 0)
                } else {
                    (Some(current.generation.id), current.last_seq)
                };
                if generation != reseed.expect_generation || last_seq != reseed.expect_seq {
                    return false;
                }
                occupied.into_ref()
            }
            Entry::Vacant(vacant) => {
                if reseed.expect_generation.is_some() || reseed.expect_seq != 0 {
                    return false;
                }
                created = true;
                vacant.insert(CallRecord::new(reseed.generation.clone()))
            }
        };
        let through = reseed.snapshot.through;
        record.generation = reseed.generation;
        record.last_seq = through;
        record.journal.clear();
        record.snapshot = Some(reseed.snapshot);
        record.written = now;
        drop(record);
        if created {
            self.enforce_cap(&self.inner.calls);
        }
        true
    }

    pub(crate) fn save_report(&self, report: StoredReport) {
        self.inner
            .reports
            .insert(report.call_id.clone(), Stamped::new(Arc::new(report)));
        self.enforce_cap(&self.inner.reports);
    }

    /// The stored reports not yet expired, latest first, at most `limit`.
    pub(crate) fn recent_reports(&self, limit: usize) -> Vec<Arc<StoredReport>> {
        let now = Instant::now();
        let ttl = self.inner.retention.report_ttl();
        let mut reports: Vec<(Instant, Arc<StoredReport>)> = self
            .inner
            .reports
            .iter()
            .filter(|report| !expired(&**report, ttl, now))
            .map(|report| (report.written, Arc::clone(&report.value)))
            .collect();
        reports.sort_unstable_by_key(|(written, _)| std::cmp::Reverse(*written));
        reports.into_iter().take(limit).map(|(_, report)| report).collect()
    }

    pub(crate) fn report(&self, call_id: &str) -> Option<Arc<StoredReport>> {
        let report = self.inner.reports.get(call_id)?;
        (!expired(&*report, self.inner.retention.report_ttl(), Instant::now())).then(|| Arc::clone(&report.value))
    }

    pub(crate) fn conversation_memory(&self, conversation_id: &str) -> BTreeMap<String, Value> {
        match self.inner.conversations.get(conversation_id) {
            Some(memory) if !expired(&*memory, self.inner.retention.conversation_ttl(), Instant::now()) => memory
                .value
                .entries
                .iter()
                .map(|(key, (value, _))| (key.clone(), value.clone()))
                .collect(),
            _ => BTreeMap::new(),
        }
    }

    /// `json` is the value's JSON text, already checked against the per-entry bound.
    pub(crate) fn set_conversation_memory(
        &self,
        conversation_id: &str,
        key: &str,
        value: Option<Value>,
        json: Option<String>,
    ) -> Result<(), StoreError> {
        let retention = &self.inner.retention;
        let now = Instant::now();
        let mut created = false;
        let mut memory = self
            .inner
            .conversations
            .entry(conversation_id.to_string())
            .or_insert_with(|| {
                created = true;
                Stamped::new(Conversation::default())
            });
        if expired(&*memory, retention.conversation_ttl(), now) {
            memory.value = Conversation::default();
        }
        let conversation = &mut memory.value;
        match (value, json) {
            (Some(value), Some(json)) => {
                let size = key.len() + json.len();
                let old = conversation.entries.get(key).map(|(_, size)| *size);
                if old.is_none() && conversation.entries.len() >= retention.conversation_max_entries {
                    return Err(retention.too_many_entries());
                }
                if conversation.bytes - old.unwrap_or(0) + size > retention.conversation_max_bytes {
                    return Err(retention.too_many_bytes());
                }
                conversation.bytes = conversation.bytes - old.unwrap_or(0) + size;
                conversation.entries.insert(key.to_string(), (value, size));
            }
            _ => {
                if let Some((_, size)) = conversation.entries.remove(key) {
                    conversation.bytes -= size;
                }
            }
        }
        memory.written = now;
        drop(memory);
        if created {
            self.enforce_cap(&self.inner.conversations);
        }
        Ok(())
    }

    pub(crate) fn link_conversation(&self, call_id: &str, conversation_id: &str) {
        let mut link = self
            .inner
            .links
            .entry(call_id.to_string())
            .or_insert_with(|| Stamped::new(String::new()));
        if link.value != conversation_id {
            link.value = conversation_id.to_string();
        }
        link.written = Instant::now();
        drop(link);
        self.enforce_cap(&self.inner.links);
    }

    pub(crate) fn conversation_of(&self, call_id: &str) -> Option<String> {
        let link = self.inner.links.get(call_id)?;
        (!expired(&*link, self.inner.retention.call_ttl(), Instant::now())).then(|| link.value.clone())
    }

    /// How many calls the store holds a record of (expired ones included until the next sweep).
    #[cfg(test)]
    pub(crate) fn calls(&self) -> usize {
        self.inner.calls.len()
    }

    /// How many reports, conversation links and conversations the store holds.
    #[cfg(test)]
    pub(crate) fn others(&self) -> (usize, usize, usize) {
        (
            self.inner.reports.len(),
            self.inner.links.len(),
            self.inner.conversations.len(),
        )
    }

    /// Loses everything, as a store restarted without persistence does.
    #[cfg(test)]
    pub(crate) fn clear(&self) {
        self.inner.calls.clear();
        self.inner.reports.clear();
        self.inner.conversations.clear();
        self.inner.links.clear();
    }

    /// How many journal entries the store holds for a call (events not yet covered by a snapshot).
    #[cfg(test)]
    pub(crate) fn journal_len(&self, call_id: &str) -> usize {
        self.inner.calls.get(call_id).map_or(0, |record| record.journal.len())
    }
}
