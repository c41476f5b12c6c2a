//! The tool ledger: one run per (call, tool call id), whichever instance a retry reaches.
//!
//! A tool call is *claimed* before it runs and *completed* with its answer after. A claim finds one of three
//! things ([`ToolClaim`]): nobody ran the call yet (the claimant runs it), it ran (its recorded answer), or
//! someone else is running it now (how long that claim still holds). A claim expires on its own, so a call
//! whose owner died is run by a later retry; a completed answer lives as long as its call.
//!
//! The ledger knows nothing of what an answer means: it stores the text the edge hands it and gives the same
//! text back. The first completed answer wins: a late second completion (an owner whose claim had expired)
//! gets the first one back, so every delivery of a tool call sees one answer.
//!
//! - [`MemoryToolLedger`] keeps answers in a map with an expiry per entry and bounds on entries and bytes,
//!   sweeping expired entries every so many claims and the oldest answers when a bound is reached.
//! - The Redis ledger keeps the answers of a call in `<prefix>call:{<call>}:tools` (a hash: tool call id →
//!   answer) and each claim in `<prefix>call:{<call>}:tool-claim:<tool call id>` (`SET NX PX`), both on the
//!   call's hash slot, claimed and completed by Lua scripts so that check and write are atomic.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use dashmap::DashMap;
use dashmap::mapref::entry::Entry;
use redis::{Script, Value};
use tokio::time::Instant;

use super::{RedisStore, StoreError};

/// What a claim on a tool call found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ToolClaim {
    /// Nobody has run the call: the claimant runs it, then completes it.
    Claimed,
    /// The call ran: its recorded answer.
    Completed(Arc<str>),
    /// Someone else is running the call; their claim holds for this long yet.
    Running(Duration),
}

/// How long answers live and how many the memory ledger holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LedgerLimits {
    /// How long a completed answer is kept (the call's time to live).
    pub(crate) ttl: Duration,
    /// Completed answers and claims held at most.
    pub(crate) max_entries: usize,
    /// Bytes of answers and their ids held at most.
    pub(crate) max_bytes: usize,
}

impl Default for LedgerLimits {
    fn default() -> Self {
        LedgerLimits {
            ttl: Duration::from_secs(24 * 3600),
            max_entries: 100_000,
            max_bytes: 64 * 1024 * 1024,
        }
    }
}

fn key_len(key: &(String, String)) -> usize {
    key.0.len() + key.1.len()
}

fn answer_len(entry: &LedgerEntry) -> usize {
    entry.answer.as_ref().map_or(0, |answer| answer.len())
}

/// Claims between two sweeps of expired entries.
const SWEEP_EVERY: u64 = 1024;

/// The in-memory ledger. Cloning is cheap: clones share the map.
#[derive(Debug, Clone, Default)]
pub(crate) struct MemoryToolLedger {
    inner: Arc<MemoryInner>,
}

#[derive(Debug, Default)]
struct MemoryInner {
    entries: DashMap<(String, String), LedgerEntry>,
    limits: LedgerLimits,
    bytes: AtomicUsize,
    claims: AtomicU64,
}

#[derive(Debug)]
struct LedgerEntry {
    /// `None` while claimed and running.
    answer: Option<Arc<str>>,
    /// When a claim lapses or an answer is forgotten.
    expires_at: Instant,
}

impl MemoryToolLedger {
    /// A ledger with these limits.
    pub(crate) fn new(limits: LedgerLimits) -> MemoryToolLedger {
        MemoryToolLedger {
            inner: Arc::new(MemoryInner {
                limits,
                ..MemoryInner::default()
            }),
        }
    }

    /// Claims a tool call for `hold` (see [`ToolClaim`]).
    pub(crate) fn claim(&self, call_id: &str, tool_call_id: &str, hold: Duration) -> ToolClaim {
        let now = Instant::now();
        let claim = match self
            .inner
            .entries
            .entry((call_id.to_string(), tool_call_id.to_string()))
        {
            Entry::Occupied(entry) if entry.get().expires_at > now => match &entry.get().answer {
                Some(answer) => ToolClaim::Completed(Arc::clone(answer)),
                None => ToolClaim::Running(entry.get().expires_at - now),
            },
            Entry::Occupied(mut entry) => {
                // Expired: a lapsed claim or a forgotten answer. The call may run again.
                let old = entry.insert(LedgerEntry {
                    answer: None,
                    expires_at: now + hold,
                });
                self.inner.bytes.fetch_sub(answer_len(&old), Ordering::Relaxed);
                ToolClaim::Claimed
            }
            Entry::Vacant(entry) => {
                self.inner.bytes.fetch_add(key_len(entry.key()), Ordering::Relaxed);
                entry.insert(LedgerEntry {
                    answer: None,
                    expires_at: now + hold,
                });
                ToolClaim::Claimed
            }
        };
        // The entry guard is gone: sweeping may lock every shard.
        let claims = self.inner.claims.fetch_add(1, Ordering::Relaxed) + 1;
        if claims.is_multiple_of(SWEEP_EVERY) || self.over_limits() {
            self.sweep();
        }
        claim
    }

    /// Records a claimed call's answer and returns the recorded one: `answer`, or the one completed first.
    pub(crate) fn complete(&self, call_id: &str, tool_call_id: &str, answer: Arc<str>) -> Arc<str> {
        let now = Instant::now();
        let expires_at = now + self.inner.limits.ttl;
        let recorded = match self
            .inner
            .entries
            .entry((call_id.to_string(), tool_call_id.to_string()))
        {
            Entry::Occupied(entry) if entry.get().expires_at > now && entry.get().answer.is_some() => {
                entry.get().answer.clone().unwrap_or(answer)
            }
            Entry::Occupied(mut entry) => {
                self.inner.bytes.fetch_add(answer.len(), Ordering::Relaxed);
                let old = entry.insert(LedgerEntry {
                    answer: Some(Arc::clone(&answer)),
                    expires_at,
                });
                self.inner.bytes.fetch_sub(answer_len(&old), Ordering::Relaxed);
                answer
            }
            Entry::Vacant(entry) => {
                self.inner
                    .bytes
                    .fetch_add(key_len(entry.key()) + answer.len(), Ordering::Relaxed);
                entry.insert(LedgerEntry {
                    answer: Some(Arc::clone(&answer)),
                    expires_at,
                });
                answer
            }
        };
        if self.over_limits() {
            self.sweep();
        }
        recorded
    }

    /// How many answers and claims the ledger holds.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.inner.entries.len()
    }

    /// Bytes held: answers and the ids they are filed under.
    pub(crate) fn bytes(&self) -> usize {
        self.inner.bytes.load(Ordering::Relaxed)
    }

    fn over_limits(&self) -> bool {
        self.inner.entries.len() > self.inner.limits.max_entries || self.bytes() > self.inner.limits.max_bytes
    }

    fn release(&self, key: &(String, String), entry: &LedgerEntry) {
        self.inner
            .bytes
            .fetch_sub(key_len(key) + answer_len(entry), Ordering::Relaxed);
    }

    /// Drops expired entries; then, while a bound is still exceeded, the answers that expire soonest (the
    /// oldest), down to nine tenths of the bound so the next sweep is not on the next claim.
    fn sweep(&self) {
        let now = Instant::now();
        self.inner.entries.retain(|key, entry| {
            let keep = entry.expires_at > now;
            if !keep {
                self.release(key, entry);
            }
            keep
        });
        if !self.over_limits() {
            return;
        }
        let limits = &self.inner.limits;
        let mut answered: Vec<(Instant, (String, String))> = self
            .inner
            .entries
            .iter()
            .filter(|entry| entry.answer.is_some())
            .map(|entry| (entry.expires_at, entry.key().clone()))
            .collect();
        answered.sort_unstable_by_key(|(expires_at, _)| *expires_at);
        let (entries_goal, bytes_goal) = (limits.max_entries / 10 * 9, limits.max_bytes / 10 * 9);
        for (_, key) in answered {
            if self.inner.entries.len() <= entries_goal && self.bytes() <= bytes_goal {
                break;
            }
            if let Some((key, entry)) = self.inner.entries.remove(&key) {
                self.release(&key, &entry);
            }
        }
        tracing::warn!(
            entries = self.inner.entries.len(),
            bytes = self.bytes(),
            "tool ledger full: the oldest recorded answers were forgotten before their time"
        );
    }
}

/// Claims a tool call unless it is completed or claimed. KEYS: the call's answers hash, the claim key.
/// ARGV: tool call id, owner token, claim milliseconds. Returns `{0}` when claimed, `{1, answer}` when
/// completed, `{2, milliseconds left}` when someone else holds the claim.
static CLAIM: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local done = redis.call('HGET', KEYS[1], ARGV[1])
if done then
  return {1, done}
end
if redis.call('SET', KEYS[2], ARGV[2], 'NX', 'PX', ARGV[3]) then
  return {0}
end
return {2, redis.call('PTTL', KEYS[2])}
",
    )
});

/// Records an answer unless one is recorded, and drops the caller's claim. KEYS: the call's answers hash,
/// the claim key. ARGV: tool call id, answer, TTL seconds, owner token. Returns the recorded answer.
static COMPLETE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local recorded = redis.call('HGET', KEYS[1], ARGV[1])
if not recorded then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
  recorded = ARGV[2]
end
redis.call('EXPIRE', KEYS[1], ARGV[3])
if redis.call('GET', KEYS[2]) == ARGV[4] then
  redis.call('DEL', KEYS[2])
end
return recorded
",
    )
});

/// A token naming one claim's owner, so an owner only ever drops its own claim.
pub(crate) fn owner_token() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(NEXT.fetch_add(1, Ordering::Relaxed));
    hasher.write_u32(std::process::id());
    format!("{:016x}", hasher.finish())
}

impl RedisStore {
    /// The key of one tool call's claim: on the call's slot.
    pub(crate) fn tool_claim_key(&self, call_id: &str, tool_call_id: &str) -> String {
        self.call_key(call_id, &format!("tool-claim:{tool_call_id}"))
    }

    pub(crate) async fn claim_tool(
        &self,
        call_id: &str,
        tool_call_id: &str,
        owner: &str,
        hold: Duration,
    ) -> Result<ToolClaim, StoreError> {
        let mut connection = self.connection();
        let answers = self.call_key(call_id, "tools");
        let mut invocation = CLAIM.prepare_invoke();
        invocation
            .key(&answers)
            .key(self.tool_claim_key(call_id, tool_call_id))
            .arg(tool_call_id)
            .arg(owner)
            .arg(hold.as_millis().max(1) as u64);
        let reply: Vec<Value> = self.run(invocation.invoke_async(&mut connection)).await?;
        // A claim a failover could lose would let a retry run the call a second time.
        self.replicated(&mut connection, &answers).await?;
        let corrupt = || StoreError::Corrupt(format!("tool claim reply for {call_id}/{tool_call_id}"));
        match reply.as_slice() {
            [Value::Int(0)] => Ok(ToolClaim::Claimed),
            [Value::Int(1), Value::BulkString(answer)] => Ok(ToolClaim::Completed(
                String::from_utf8_lossy(answer).into_owned().into(),
            )),
            [Value::Int(2), Value::Int(left)] => Ok(ToolClaim::Running(Duration::from_millis(
                u64::try_from(*left).unwrap_or(0),
            ))),
            _ => Err(corrupt()),
        }
    }

    pub(crate) async fn complete_tool(
        &self,
        call_id: &str,
        tool_call_id: &str,
        owner: &str,
        answer: &str,
    ) -> Result<Arc<str>, StoreError> {
        let mut connection = self.connection();
        let answers = self.call_key(call_id, "tools");
        let mut invocation = COMPLETE.prepare_invoke();
        invocation
            .key(&answers)
            .key(self.tool_claim_key(call_id, tool_call_id))
            .arg(tool_call_id)
            .arg(answer)
            .arg(self.retention().call_ttl_seconds)
            .arg(owner);
        let recorded: String = self.run(invocation.invoke_async(&mut connection)).await?;
        self.replicated(&mut connection, &answers).await?;
        Ok(recorded.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(max_entries: usize, max_bytes: usize) -> LedgerLimits {
        LedgerLimits {
            ttl: Duration::from_secs(60),
            max_entries,
            max_bytes,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_claim_runs_once_and_its_answer_is_given_back() {
        let ledger = MemoryToolLedger::new(limits(100, 1 << 20));
        let hold = Duration::from_secs(5);
        assert_eq!(ledger.claim("c", "t", hold), ToolClaim::Claimed);
        assert_eq!(ledger.claim("c", "t", hold), ToolClaim::Running(hold));
        assert_eq!(ledger.claim("c", "other", hold), ToolClaim::Claimed);
        assert_eq!(&*ledger.complete("c", "t", "#1".into()), "#1");
        assert_eq!(ledger.claim("c", "t", hold), ToolClaim::Completed("#1".into()));
        // A late second owner gets the first answer back.
        assert_eq!(&*ledger.complete("c", "t", "#2".into()), "#1");
        // Ids and answers: "c" "t" "#1", and "c" "other" claimed.
        assert_eq!(ledger.bytes(), 4 + 6);
    }

    #[tokio::test(start_paused = true)]
    async fn a_lapsed_claim_may_be_claimed_again_and_answers_expire() {
        let ledger = MemoryToolLedger::new(limits(100, 1 << 20));
        let hold = Duration::from_secs(5);
        assert_eq!(ledger.claim("c", "t", hold), ToolClaim::Claimed);
        tokio::time::advance(Duration::from_secs(3)).await;
        assert_eq!(ledger.claim("c", "t", hold), ToolClaim::Running(Duration::from_secs(2)));
        tokio::time::advance(Duration::from_secs(2)).await;
        assert_eq!(ledger.claim("c", "t", hold), ToolClaim::Claimed, "the owner died");
        ledger.complete("c", "t", "done".into());
        tokio::time::advance(Duration::from_secs(59)).await;
        assert_eq!(ledger.claim("c", "t", hold), ToolClaim::Completed("done".into()));
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(
            ledger.claim("c", "t", hold),
            ToolClaim::Claimed,
            "forgotten with its call"
        );
        assert_eq!(ledger.bytes(), 2, "the claim's ids, no answer");
    }

    #[tokio::test(start_paused = true)]
    async fn expired_entries_are_swept_without_being_asked_for() {
        let ledger = MemoryToolLedger::new(limits(1_000_000, 1 << 30));
        for i in 0..100 {
            ledger.claim("c", &i.to_string(), Duration::from_secs(1));
            ledger.complete("c", &i.to_string(), "x".into());
        }
        assert_eq!(ledger.len(), 100);
        tokio::time::advance(Duration::from_secs(61)).await;
        for i in 0..SWEEP_EVERY {
            ledger.claim("other", &i.to_string(), Duration::from_secs(1));
        }
        // Only the fresh claims are left (the sweep ran at a multiple of SWEEP_EVERY claims).
        assert_eq!(ledger.len(), SWEEP_EVERY as usize);
        let claimed: usize = (0..SWEEP_EVERY).map(|i| "other".len() + i.to_string().len()).sum();
        assert_eq!(ledger.bytes(), claimed);
    }

    #[tokio::test(start_paused = true)]
    async fn entries_and_bytes_are_bounded() {
        let ledger = MemoryToolLedger::new(limits(50, 1 << 20));
        for i in 0..1_000 {
            let id = i.to_string();
            ledger.claim("c", &id, Duration::from_secs(1));
            ledger.complete("c", &id, "answer".into());
            tokio::time::advance(Duration::from_millis(1)).await;
        }
        assert!(ledger.len() <= 51, "{}", ledger.len());
        // The newest answers are the ones kept.
        assert_eq!(
            ledger.claim("c", "999", Duration::from_secs(1)),
            ToolClaim::Completed("answer".into())
        );
        let big = MemoryToolLedger::new(limits(1_000, 10_000));
        let answer: Arc<str> = "x".repeat(1_000).into();
        for i in 0..100 {
            big.claim("c", &i.to_string(), Duration::from_secs(1));
            big.complete("c", &i.to_string(), Arc::clone(&answer));
        }
        assert!(big.bytes() <= 10_000, "{}", big.bytes());
    }
}
