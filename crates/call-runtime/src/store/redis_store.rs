//! The Redis store: one truth about each call shared by every Switchboard instance that points at the same
//! Redis.
//!
//! Each call's keys carry the call id as a hash tag (`{call-id}`), so a Redis Cluster keeps them on one slot
//! and the Lua scripts below may touch them together:
//!
//! | key | type | holds |
//! |---|---|---|
//! | `<prefix>call:{<call>}:seq` | string | the last journal sequence number handed out |
//! | `<prefix>call:{<call>}:journal` | sorted set | each journaled event as JSON, scored by its seq |
//! | `<prefix>call:{<call>}:ids` | hash | event id (hex) → seq: what makes appends idempotent |
//! | `<prefix>call:{<call>}:snapshot` | hash | `through` (a seq) and `state` (the `CallState` JSON) |
//! | `<prefix>call:{<call>}:gen` | hash | `id` (the record's generation) and `origin` (JSON: what it was re-seeded from) |
//! | `<prefix>call:{<call>}:report` | string | the stored end-of-call report (JSON) |
//! | `<prefix>call:{<call>}:conversation` | string | the conversation the call belongs to |
//! | `<prefix>call:{<call>}:tools` | hash | tool call id → its recorded answer ([`super::tool_ledger`]) |
//! | `<prefix>call:{<call>}:tool-claim:<tool call id>` | string | the owner of a running tool call (expires) |
//! | `<prefix>conversation:{<id>}:memory` | hash | memory key → JSON value |
//!
//! The keys that say which instance serves which calls are described in [`super::instances`].
//!
//! Appends and snapshots are Lua scripts, so the check-then-write steps (is this event id known? is this
//! snapshot newer? is this still the generation the actor folded?) are atomic across instances. Every write
//! refreshes the TTL of what it touches, from `[retention]`.
//!
//! Every script and every multi-command step touches the keys of one hash slot only (one call's, or one
//! conversation's), so the same code runs against one Redis and against a Redis Cluster
//! ([`RedisConfig::cluster_urls`]). With a cluster, the client follows `MOVED` and `ASK` redirections and
//! refreshes its slot map after a failover by itself, retrying within the response timeout; every write is
//! idempotent (an event id is journaled once, a snapshot never goes back, a tool answer is recorded once), so
//! a retry after a lost reply does no harm. [`RedisConfig::wait_replicas`] makes every write wait until that
//! many replicas have it before it is acknowledged, so a replica promoted after its primary died holds
//! everything acknowledged.
//!
//! This module does not decide what to do when Redis is down: every failure is a [`StoreError`] and the
//! runtime chooses (refuse the event, or answer from the actor's local state).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use call_state::CallEvent;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{Route, RoutingInfo, SingleNodeRoutingInfo, SlotAddr};
use redis::{Cmd, FromRedisValue, Pipeline, RedisError, RedisFuture, Script, Value};
use serde::Deserialize;

use super::{Appended, Expect, Generation, Loaded, Reseed, Saved, Snapshot, StoreError, StoreStats, StoredReport};
use crate::config::RetentionConfig;

/// How to reach Redis. Read once at the edge (`--redis-url`, `[redis]`); how long its data lives is `[retention]`.
#[derive(Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RedisConfig {
    /// `redis://[user:password@]host:port/db`, `rediss://...` for TLS, or `unix:///path`. May hold a password:
    /// it is never logged ([`RedisConfig::redacted_url`], and `Debug` redacts it). Empty with `cluster_urls`.
    pub url: String,
    /// The seed nodes of a Redis Cluster (`redis://host:port` each, any subset of its primaries and
    /// replicas): set instead of `url` to speak the cluster protocol. The client discovers the rest.
    pub cluster_urls: Vec<String>,
    /// Replicas every write must reach before it is acknowledged (`WAIT`); 0 acknowledges once the primary
    /// has it. With 1 and a replica per primary, a failover loses nothing acknowledged.
    pub wait_replicas: usize,
    /// How long a write waits for `wait_replicas` replicas before it is refused (and retried by the sender).
    pub wait_timeout_ms: u64,
    /// Prefix of every key, so several deployments can share one Redis.
    pub key_prefix: String,
    /// How long one connection attempt may take.
    pub connect_timeout_ms: u64,
    /// How long one operation may take, reconnecting included; past it the operation fails.
    pub response_timeout_ms: u64,
    /// Multiplexed connections to spread operations over (each pipelines concurrent requests).
    pub pool_size: usize,
    /// Reconnection attempts per failed connection before the operation waiting on it fails. Every later
    /// operation starts a new round, so recovery needs no restart.
    pub reconnect_retries: usize,
    /// The longest pause between reconnection attempts.
    pub reconnect_max_delay_ms: u64,
}

impl Default for RedisConfig {
    fn default() -> Self {
        RedisConfig {
            url: String::new(),
            cluster_urls: Vec::new(),
            wait_replicas: 0,
            wait_timeout_ms: 500,
            key_prefix: "switchboard:".into(),
            connect_timeout_ms: 1_000,
            response_timeout_ms: 1_000,
            pool_size: 4,
            reconnect_retries: 2,
            reconnect_max_delay_ms: 500,
        }
    }
}

impl fmt::Debug for RedisConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisConfig")
            .field("url", &self.redacted_url())
            .field("wait_replicas", &self.wait_replicas)
            .field("wait_timeout_ms", &self.wait_timeout_ms)
            .field("key_prefix", &self.key_prefix)
            .field("connect_timeout_ms", &self.connect_timeout_ms)
            .field("response_timeout_ms", &self.response_timeout_ms)
            .field("pool_size", &self.pool_size)
            .field("reconnect_retries", &self.reconnect_retries)
            .field("reconnect_max_delay_ms", &self.reconnect_max_delay_ms)
            .finish()
    }
}

impl RedisConfig {
    /// The config for `url` with every other setting at its default.
    pub fn new(url: impl Into<String>) -> RedisConfig {
        RedisConfig {
            url: url.into(),
            ..RedisConfig::default()
        }
    }

    /// The config for a Redis Cluster reached through `urls` with every other setting at its default.
    pub fn cluster<S: Into<String>>(urls: impl IntoIterator<Item = S>) -> RedisConfig {
        RedisConfig {
            cluster_urls: urls.into_iter().map(Into::into).collect(),
            ..RedisConfig::default()
        }
    }

    /// Whether this is a Redis Cluster.
    pub fn is_cluster(&self) -> bool {
        !self.cluster_urls.is_empty()
    }

    /// The URL (or the cluster's seed URLs, comma-separated) with user and password (and any query, which
    /// may carry credentials) replaced by `***`: the only form of the URLs fit for logs.
    pub fn redacted_url(&self) -> String {
        if self.is_cluster() {
            return self
                .cluster_urls
                .iter()
                .map(|url| redact(url))
                .collect::<Vec<_>>()
                .join(",");
        }
        redact(&self.url)
    }

    /// Checks that the URLs parse and the numbers are usable. Messages never contain the password.
    pub fn validate(&self) -> Result<(), String> {
        if self.is_cluster() {
            if !self.url.trim().is_empty() {
                return Err("set either redis.url or redis.cluster_urls, not both".into());
            }
            for url in &self.cluster_urls {
                if let Err(error) = redis::Client::open(url.as_str()) {
                    return Err(format!(
                        "redis.cluster_urls: {} is not a Redis URL: {}",
                        redact(url),
                        error
                    ));
                }
            }
        } else if self.url.trim().is_empty() {
            return Err("redis.url is empty; expected redis://host:port (or set redis.cluster_urls)".into());
        } else if let Err(error) = redis::Client::open(self.url.as_str()) {
            return Err(format!(
                "redis.url {} is not a Redis URL: {}",
                self.redacted_url(),
                error
            ));
        }
        if self.wait_replicas > 0 && self.wait_timeout_ms == 0 {
            return Err("redis.wait_timeout_ms must be at least 1 when redis.wait_replicas is set".into());
        }
        let positive = [
            ("connect_timeout_ms", self.connect_timeout_ms),
            ("response_timeout_ms", self.response_timeout_ms),
            ("pool_size", self.pool_size as u64),
        ];
        for (name, value) in positive {
            if value == 0 {
                return Err(format!("redis.{name} must be at least 1"));
            }
        }
        if self.pool_size > 64 {
            return Err(format!("redis.pool_size must be at most 64, got {}", self.pool_size));
        }
        Ok(())
    }
}

/// Replaces the userinfo and query of a URL with `***`.
fn redact(url: &str) -> String {
    let (scheme, rest) = match url.find("://") {
        Some(at) => url.split_at(at + 3),
        None => ("", url),
    };
    let rest = match rest.rfind('@') {
        Some(at) => format!("***@{}", &rest[at + 1..]),
        None => rest.to_string(),
    };
    let rest = match rest.find('?') {
        Some(at) => format!("{}?***", &rest[..at]),
        None => rest,
    };
    format!("{scheme}{rest}")
}

/// Appends an event unless its id is already journaled. KEYS: seq, journal, ids, snapshot, gen. ARGV: event id,
/// event JSON, TTL seconds, the generation the caller expects ('' for any), the id for a new generation, the
/// seq the caller's actor folded through. Returns `{seq, generation}`: the new seq, or the one the first
/// delivery got. With an expected generation that is not the record's, or a record whose seq is gone or behind
/// the caller (a stale replica), writes nothing and returns `{-1}`.
const APPEND: &str = r"
local gen = redis.call('HGET', KEYS[5], 'id')
if ARGV[4] ~= '' and (gen ~= ARGV[4] or tonumber(redis.call('GET', KEYS[1]) or '-1') < tonumber(ARGV[6])) then
  return {-1}
end
if not gen then
  gen = ARGV[5]
  redis.call('HSET', KEYS[5], 'id', gen, 'origin', '{}')
end
local known = redis.call('HGET', KEYS[3], ARGV[1])
if known then
  return {tonumber(known), gen}
end
local seq = redis.call('INCR', KEYS[1])
redis.call('ZADD', KEYS[2], seq, ARGV[2])
redis.call('HSET', KEYS[3], ARGV[1], seq)
for i = 1, 5 do
  redis.call('EXPIRE', KEYS[i], ARGV[3])
end
return {seq, gen}
";

/// Saves a snapshot unless a newer one is stored, then drops the journal entries it covers. KEYS: snapshot,
/// journal, seq, ids, gen. ARGV: through, state JSON, TTL seconds, expected generation. Returns 1 when saved,
/// 0 when a newer one won, -1 when the record is not the expected generation.
const SAVE_SNAPSHOT: &str = r"
if redis.call('HGET', KEYS[5], 'id') ~= ARGV[4] then
  return -1
end
local stored = tonumber(redis.call('HGET', KEYS[1], 'through') or '0')
local through = tonumber(ARGV[1])
if stored >= through then
  return 0
end
redis.call('HSET', KEYS[1], 'through', ARGV[1], 'state', ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', through)
for i = 1, 5 do
  redis.call('EXPIRE', KEYS[i], ARGV[3])
end
return 1
";

/// Replaces a call's record with a state, if the record is still what the caller read. KEYS: seq, journal, ids,
/// snapshot, gen. ARGV: expected generation ('' for none), expected seq, new generation, its origin JSON,
/// through, state JSON, TTL seconds. Returns 1 when written, 0 when the record changed meanwhile.
const RESEED: &str = r"
local gen = redis.call('HGET', KEYS[5], 'id') or ''
local seq = tonumber(redis.call('GET', KEYS[1]) or '0')
if gen ~= ARGV[1] or seq ~= tonumber(ARGV[2]) then
  return 0
end
redis.call('DEL', KEYS[4], KEYS[5])
redis.call('HSET', KEYS[5], 'id', ARGV[3], 'origin', ARGV[4])
redis.call('SET', KEYS[1], ARGV[5])
redis.call('HSET', KEYS[4], 'through', ARGV[5], 'state', ARGV[6])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[5])
for i = 1, 5 do
  redis.call('EXPIRE', KEYS[i], ARGV[7])
end
return 1
";

/// Reads what a reader at `after` lacks, atomically (a snapshot saved between two reads could otherwise trim
/// entries in between). KEYS: snapshot, journal, seq, gen. ARGV: after. Returns `{state or nil, through,
/// last seq, generation or nil, origin or nil, seq1, json1, seq2, json2, ...}`, the state only when the
/// snapshot is past `after`, the entries past both.
const LOAD_SINCE: &str = r"
local through = tonumber(redis.call('HGET', KEYS[1], 'through') or '0')
local from = tonumber(ARGV[1])
local gen = redis.call('HMGET', KEYS[4], 'id', 'origin')
local reply = {false, through, tonumber(redis.call('GET', KEYS[3]) or '0'), gen[1], gen[2]}
if through > from then
  reply[1] = redis.call('HGET', KEYS[1], 'state')
  from = through
end
local entries = redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. from, '+inf', 'WITHSCORES')
for i = 1, #entries, 2 do
  reply[#reply + 1] = tonumber(entries[i + 1])
  reply[#reply + 1] = entries[i]
end
return reply
";

/// Sets one conversation memory entry within the bounds. KEYS: memory hash. ARGV: key, value JSON, TTL
/// seconds, max entries, max total bytes. Returns 1 when written, -1 past the entry count, -2 past the bytes.
const SET_MEMORY: &str = r"
local old = redis.call('HGET', KEYS[1], ARGV[1])
if not old and redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[4]) then
  return -1
end
local total = 0
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  total = total + #all[i] + #all[i + 1]
end
if old then
  total = total - #ARGV[1] - #old
end
if total + #ARGV[1] + #ARGV[2] > tonumber(ARGV[5]) then
  return -2
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1
";

/// The Redis store. Cloning is cheap: clones share the connections and the scripts.
#[derive(Clone)]
pub(crate) struct RedisStore {
    inner: Arc<Inner>,
}

struct Inner {
    config: RedisConfig,
    retention: RetentionConfig,
    stats: StoreStats,
    connections: Vec<Connection>,
    next: AtomicUsize,
    /// Whether the last operation reached Redis; flips are logged once each, not on every failure.
    reachable: AtomicBool,
    append: Script,
    save_snapshot: Script,
    load_since: Script,
    reseed: Script,
    set_memory: Script,
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("url", &self.inner.config.redacted_url())
            .field("key_prefix", &self.inner.config.key_prefix)
            .field("connections", &self.inner.connections.len())
            .finish()
    }
}

/// The keys of one call.
struct CallKeys {
    seq: String,
    journal: String,
    ids: String,
    snapshot: String,
    generation: String,
}

impl RedisStore {
    /// Validates `config` and sets up its connections. Connecting is lazy: an unreachable Redis is not an
    /// error here (the store reports it through [`RedisStore::ping`] and every operation until it returns), so
    /// a server started before its Redis becomes ready by itself.
    pub(crate) async fn connect(config: &RedisConfig, retention: RetentionConfig) -> Result<RedisStore, StoreError> {
        config.validate().map_err(StoreError::Unavailable)?;
        let connections = if config.is_cluster() {
            cluster_connections(config)?
        } else {
            single_connections(config)?
        };
        let store = RedisStore {
            inner: Arc::new(Inner {
                config: config.clone(),
                retention,
                stats: StoreStats::default(),
                connections,
                next: AtomicUsize::new(0),
                reachable: AtomicBool::new(true),
                append: Script::new(APPEND),
                save_snapshot: Script::new(SAVE_SNAPSHOT),
                load_since: Script::new(LOAD_SINCE),
                reseed: Script::new(RESEED),
                set_memory: Script::new(SET_MEMORY),
            }),
        };
        // A failed ping is logged by `run`; the store starts unready and recovers by itself.
        if store.ping().await.is_ok() {
            tracing::info!(url = %config.redacted_url(), cluster = config.is_cluster(), "redis store connected");
        }
        Ok(store)
    }

    pub(crate) fn retention(&self) -> &RetentionConfig {
        &self.inner.retention
    }

    pub(crate) fn stats(&self) -> &StoreStats {
        &self.inner.stats
    }

    /// The prefix of every key.
    pub(crate) fn prefix(&self) -> &str {
        &self.inner.config.key_prefix
    }

    /// The full name of one of a call's keys, such as `switchboard:call:{c-1}:journal`.
    pub(crate) fn call_key(&self, call_id: &str, part: &str) -> String {
        format!("{}call:{{{call_id}}}:{part}", self.inner.config.key_prefix)
    }

    /// The full name of a conversation's memory hash.
    pub(crate) fn conversation_key(&self, conversation_id: &str) -> String {
        format!(
            "{}conversation:{{{conversation_id}}}:memory",
            self.inner.config.key_prefix
        )
    }

    fn call_keys(&self, call_id: &str) -> CallKeys {
        CallKeys {
            seq: self.call_key(call_id, "seq"),
            journal: self.call_key(call_id, "journal"),
            ids: self.call_key(call_id, "ids"),
            snapshot: self.call_key(call_id, "snapshot"),
            generation: self.call_key(call_id, "gen"),
        }
    }

    /// Whether the store speaks to a Redis Cluster.
    pub(crate) fn is_cluster(&self) -> bool {
        self.inner.config.is_cluster()
    }

    pub(super) fn connection(&self) -> Connection {
        let at = self.inner.next.fetch_add(1, Ordering::Relaxed) % self.inner.connections.len();
        self.inner.connections[at].clone()
    }

    /// Runs one operation under the configured timeout and records whether Redis answered.
    pub(super) async fn run<T>(&self, operation: impl Future<Output = Result<T, RedisError>>) -> Result<T, StoreError> {
        let limit = Duration::from_millis(self.inner.config.response_timeout_ms);
        let outcome = match tokio::time::timeout(limit, operation).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) if is_unreachable(&error) => Err(StoreError::Unavailable(describe(&error))),
            // Redis answered, with an error: it is reachable, the request was wrong.
            Ok(Err(error)) => {
                self.mark(true, "");
                return Err(StoreError::Unavailable(describe(&error)));
            }
            Err(_) => Err(StoreError::Unavailable(format!(
                "redis did not answer within {} ms",
                limit.as_millis()
            ))),
        };
        match &outcome {
            Ok(_) => self.mark(true, ""),
            Err(error) => self.mark(false, &error.to_string()),
        }
        outcome
    }

    /// With [`RedisConfig::wait_replicas`], waits until that many replicas of the primary holding `key` have
    /// every write made so far on `connection`; a write they do not all have in time is refused, so it is not
    /// acknowledged (its sender retries, and every write here is idempotent).
    pub(super) async fn replicated(&self, connection: &mut Connection, key: &str) -> Result<(), StoreError> {
        let wanted = self.inner.config.wait_replicas;
        if wanted == 0 {
            return Ok(());
        }
        let mut command = redis::cmd("WAIT");
        command.arg(wanted).arg(self.inner.config.wait_timeout_ms);
        let reached: i64 = self.run(connection.query_at(command, key)).await?;
        if reached < wanted as i64 {
            return Err(StoreError::Unavailable(format!(
                "redis: a write reached {reached} of {wanted} replicas within {} ms",
                self.inner.config.wait_timeout_ms
            )));
        }
        Ok(())
    }

    fn mark(&self, reachable: bool, reason: &str) {
        let was = self.inner.reachable.swap(reachable, Ordering::Relaxed);
        match (was, reachable) {
            (true, false) => tracing::error!(
                url = %self.inner.config.redacted_url(),
                reason,
                "redis unreachable: events are refused (503) and queries answer from local state until it returns"
            ),
            (false, true) => tracing::info!(url = %self.inner.config.redacted_url(), "redis reachable again"),
            _ => {}
        }
    }

    pub(crate) async fn append(&self, event: &CallEvent, expect: Option<Expect>) -> Result<Appended, StoreError> {
        let json = serde_json::to_string(event).map_err(|error| StoreError::Corrupt(error.to_string()))?;
        let keys = self.call_keys(&event.call_id);
        let mut connection = self.connection();
        let mut invocation = self.inner.append.prepare_invoke();
        invocation
            .key(&keys.seq)
            .key(&keys.journal)
            .key(&keys.ids)
            .key(&keys.snapshot)
            .key(&keys.generation)
            .arg(event.id.to_string())
            .arg(json)
            .arg(self.inner.retention.call_ttl_seconds)
            .arg(expect.map(|expect| expect.generation.to_string()).unwrap_or_default())
            .arg(super::fresh_id().to_string())
            .arg(expect.map_or(0, |expect| expect.through));
        let reply: Vec<Value> = self.run(invocation.invoke_async(&mut connection)).await?;
        self.replicated(&mut connection, &keys.seq).await?;
        match reply.as_slice() {
            [Value::Int(-1)] => Ok(Appended::Diverged),
            [Value::Int(seq), generation] => Ok(Appended::Journaled {
                seq: u64::try_from(*seq).map_err(|_| StoreError::Corrupt("negative seq".into()))?,
                generation: generation_id(generation)?
                    .ok_or_else(|| StoreError::Corrupt("append reply without a generation".into()))?,
            }),
            _ => Err(StoreError::Corrupt("redis append reply".into())),
        }
    }

    pub(crate) async fn load_since(&self, call_id: &str, after: u64) -> Result<Loaded, StoreError> {
        let keys = self.call_keys(call_id);
        let mut connection = self.connection();
        let mut invocation = self.inner.load_since.prepare_invoke();
        invocation
            .key(&keys.snapshot)
            .key(&keys.journal)
            .key(&keys.seq)
            .key(&keys.generation)
            .arg(after);
        let reply: Vec<Value> = self.run(invocation.invoke_async(&mut connection)).await?;
        decode_load(reply)
    }

    pub(crate) async fn save_snapshot(
        &self,
        snapshot: &Snapshot,
        generation: Option<u64>,
    ) -> Result<Saved, StoreError> {
        let call_id = snapshot.state.call_id();
        let keys = self.call_keys(call_id);
        let state = serde_json::to_string(&snapshot.state).map_err(|error| StoreError::Corrupt(error.to_string()))?;
        let mut connection = self.connection();
        let mut invocation = self.inner.save_snapshot.prepare_invoke();
        invocation
            .key(&keys.snapshot)
            .key(&keys.journal)
            .key(&keys.seq)
            .key(&keys.ids)
            .key(&keys.generation)
            .arg(snapshot.through)
            .arg(state)
            .arg(self.inner.retention.call_ttl_seconds)
            .arg(generation.map(|id| id.to_string()).unwrap_or_default());
        let saved: i64 = self.run(invocation.invoke_async(&mut connection)).await?;
        self.replicated(&mut connection, &keys.seq).await?;
        Ok(match saved {
            1 => Saved::Written,
            0 => Saved::Older,
            _ => Saved::Diverged,
        })
    }

    pub(crate) async fn reseed(&self, reseed: &Reseed) -> Result<bool, StoreError> {
        let call_id = reseed.snapshot.state.call_id();
        let keys = self.call_keys(call_id);
        let state =
            serde_json::to_string(&reseed.snapshot.state).map_err(|error| StoreError::Corrupt(error.to_string()))?;
        let origin = serde_json::to_string(&Origin {
            lineage: reseed.generation.lineage.clone(),
            base: reseed.generation.base,
        })
        .map_err(|error| StoreError::Corrupt(error.to_string()))?;
        let mut connection = self.connection();
        let mut invocation = self.inner.reseed.prepare_invoke();
        invocation
            .key(&keys.seq)
            .key(&keys.journal)
            .key(&keys.ids)
            .key(&keys.snapshot)
            .key(&keys.generation)
            .arg(reseed.expect_generation.map(|id| id.to_string()).unwrap_or_default())
            .arg(reseed.expect_seq)
            .arg(reseed.generation.id.to_string())
            .arg(origin)
            .arg(reseed.snapshot.through)
            .arg(state)
            .arg(self.inner.retention.call_ttl_seconds);
        let written: i64 = self.run(invocation.invoke_async(&mut connection)).await?;
        self.replicated(&mut connection, &keys.seq).await?;
        Ok(written == 1)
    }

    pub(crate) async fn save_report(&self, report: &StoredReport) -> Result<(), StoreError> {
        let json = serde_json::to_string(report).map_err(|error| StoreError::Corrupt(error.to_string()))?;
        let key = self.call_key(&report.call_id, "report");
        let mut connection = self.connection();
        let mut command = redis::cmd("SET");
        command
            .arg(&key)
            .arg(json)
            .arg("EX")
            .arg(self.inner.retention.report_ttl_seconds);
        self.run(command.query_async::<()>(&mut connection)).await?;
        self.replicated(&mut connection, &key).await
    }

    pub(crate) async fn report(&self, call_id: &str) -> Result<Option<Arc<StoredReport>>, StoreError> {
        let mut connection = self.connection();
        let mut command = redis::cmd("GET");
        command.arg(self.call_key(call_id, "report"));
        let json: Option<String> = self.run(command.query_async(&mut connection)).await?;
        json.map(|json| {
            serde_json::from_str(&json)
                .map(Arc::new)
                .map_err(|error| StoreError::Corrupt(format!("report of {call_id}: {error}")))
        })
        .transpose()
    }

    pub(crate) async fn conversation_memory(
        &self,
        conversation_id: &str,
    ) -> Result<BTreeMap<String, serde_json::Value>, StoreError> {
        let mut connection = self.connection();
        let mut command = redis::cmd("HGETALL");
        command.arg(self.conversation_key(conversation_id));
        let fields: Vec<(String, String)> = self.run(command.query_async(&mut connection)).await?;
        fields
            .into_iter()
            .map(|(key, json)| {
                serde_json::from_str(&json)
                    .map(|value| (key, value))
                    .map_err(|error| StoreError::Corrupt(format!("memory of {conversation_id}: {error}")))
            })
            .collect()
    }

    /// `json` is the value's JSON text (already checked against the per-entry bound), `None` to delete.
    pub(crate) async fn set_conversation_memory(
        &self,
        conversation_id: &str,
        key: &str,
        json: Option<String>,
    ) -> Result<(), StoreError> {
        let hash = self.conversation_key(conversation_id);
        let retention = &self.inner.retention;
        let mut connection = self.connection();
        let Some(json) = json else {
            let mut pipeline = redis::pipe();
            pipeline.atomic();
            pipeline.cmd("HDEL").arg(&hash).arg(key).ignore();
            pipeline
                .cmd("EXPIRE")
                .arg(&hash)
                .arg(retention.conversation_ttl_seconds)
                .ignore();
            self.run(pipeline.query_async::<()>(&mut connection)).await?;
            return self.replicated(&mut connection, &hash).await;
        };
        let mut invocation = self.inner.set_memory.prepare_invoke();
        invocation
            .key(&hash)
            .arg(key)
            .arg(json)
            .arg(retention.conversation_ttl_seconds)
            .arg(retention.conversation_max_entries)
            .arg(retention.conversation_max_bytes);
        match self.run(invocation.invoke_async::<i64>(&mut connection)).await? {
            1 => self.replicated(&mut connection, &hash).await,
            -1 => Err(retention.too_many_entries()),
            _ => Err(retention.too_many_bytes()),
        }
    }

    pub(crate) async fn link_conversation(&self, call_id: &str, conversation_id: &str) -> Result<(), StoreError> {
        let mut connection = self.connection();
        let key = self.call_key(call_id, "conversation");
        let mut command = redis::cmd("SET");
        command
            .arg(&key)
            .arg(conversation_id)
            .arg("EX")
            .arg(self.inner.retention.call_ttl_seconds);
        self.run(command.query_async::<()>(&mut connection)).await?;
        self.replicated(&mut connection, &key).await
    }

    pub(crate) async fn conversation_of(&self, call_id: &str) -> Result<Option<String>, StoreError> {
        let mut connection = self.connection();
        let mut command = redis::cmd("GET");
        command.arg(self.call_key(call_id, "conversation"));
        self.run(command.query_async(&mut connection)).await
    }

    /// Sends `PING` (to every primary of a cluster): `Ok` when Redis answers within the response timeout.
    pub(crate) async fn ping(&self) -> Result<(), StoreError> {
        let mut connection = self.connection();
        let command = redis::cmd("PING");
        self.run(command.query_async::<Value>(&mut connection))
            .await
            .map(|_| ())
    }

    /// What a Redis Cluster says of itself (`CLUSTER INFO` from one of its nodes): the fields `/readyz` shows.
    /// `None` for one Redis.
    pub(crate) async fn cluster_state(&self) -> Result<Option<ClusterState>, StoreError> {
        if !self.is_cluster() {
            return Ok(None);
        }
        let mut connection = self.connection();
        let mut command = redis::cmd("CLUSTER");
        command.arg("INFO");
        let info: String = self.run(command.query_async(&mut connection)).await?;
        Ok(Some(ClusterState::parse(&info)))
    }
}

/// Connections to one Redis: each a [`ConnectionManager`] that reconnects by itself.
fn single_connections(config: &RedisConfig) -> Result<Vec<Connection>, StoreError> {
    let client = redis::Client::open(config.url.as_str())
        .map_err(|error| StoreError::Unavailable(format!("redis url: {}", error)))?;
    let manager_config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(Duration::from_millis(config.connect_timeout_ms)))
        .set_response_timeout(Some(Duration::from_millis(config.response_timeout_ms)))
        .set_number_of_retries(config.reconnect_retries)
        .set_min_delay(Duration::from_millis(50))
        .set_max_delay(Duration::from_millis(config.reconnect_max_delay_ms.max(50)));
    (0..config.pool_size)
        .map(|_| {
            ConnectionManager::new_lazy_with_config(client.clone(), manager_config.clone())
                .map(Connection::Single)
                .map_err(|error| StoreError::Unavailable(describe(&error)))
        })
        .collect()
}

/// Connections to a Redis Cluster: each keeps one multiplexed connection per node, follows redirections and
/// refreshes its slot map on its own. Connecting is lazy, as for one Redis.
fn cluster_connections(config: &RedisConfig) -> Result<Vec<Connection>, StoreError> {
    let client = redis::cluster::ClusterClientBuilder::new(config.cluster_urls.iter().map(String::as_str))
        .retries(config.reconnect_retries.max(1) as u32 * 4)
        .min_retry_wait(20)
        .max_retry_wait(config.reconnect_max_delay_ms.max(50))
        .build()
        .map_err(|error| StoreError::Unavailable(format!("redis cluster urls: {}", error)))?;
    let cluster_config = redis::cluster::ClusterConfig::new()
        .set_connection_timeout(Duration::from_millis(config.connect_timeout_ms))
        .set_response_timeout(Duration::from_millis(config.response_timeout_ms));
    Ok((0..config.pool_size)
        .map(|_| Connection::Cluster(client.get_pending_async_connection_with_config(cluster_config.clone())))
        .collect())
}

/// A connection to one Redis or to a Redis Cluster; scripts and commands run on either alike.
#[derive(Clone)]
pub(crate) enum Connection {
    /// One Redis.
    Single(ConnectionManager),
    /// A Redis Cluster.
    Cluster(ClusterConnection),
}

impl redis::aio::ConnectionLike for Connection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Connection::Single(connection) => connection.req_packed_command(cmd),
            Connection::Cluster(connection) => connection.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Connection::Single(connection) => connection.req_packed_commands(pipeline, offset, count),
            Connection::Cluster(connection) => connection.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Connection::Single(connection) => connection.get_db(),
            Connection::Cluster(connection) => connection.get_db(),
        }
    }
}

impl Connection {
    /// Runs `command` on the primary that holds `key` (for commands such as `WAIT`, which name no key but
    /// must reach the node the preceding write went to).
    pub(crate) async fn query_at<T: FromRedisValue>(&mut self, command: Cmd, key: &str) -> Result<T, RedisError> {
        match self {
            Connection::Single(connection) => command.query_async(connection).await,
            Connection::Cluster(connection) => {
                let route = Route::new(hash_slot(key.as_bytes()), SlotAddr::Master);
                let value = connection
                    .route_command(
                        command,
                        RoutingInfo::SingleNode(SingleNodeRoutingInfo::SpecificNode(route)),
                    )
                    .await?;
                T::from_redis_value(value).map_err(RedisError::from)
            }
        }
    }
}

/// The Redis Cluster hash slot of a key: CRC16 (XMODEM) of its hash tag (the part between the first `{` and
/// the next `}`, when not empty) or of the whole key, modulo 16384.
pub(crate) fn hash_slot(key: &[u8]) -> u16 {
    let tagged = key.iter().position(|&b| b == b'{').and_then(|open| {
        let rest = &key[open + 1..];
        rest.iter()
            .position(|&b| b == b'}')
            .filter(|&close| close > 0)
            .map(|close| &rest[..close])
    });
    crc16_xmodem(tagged.unwrap_or(key)) % 16_384
}

fn crc16_xmodem(bytes: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &byte in bytes {
        crc ^= u16::from(byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// A Redis Cluster's health as `CLUSTER INFO` reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterState {
    /// `ok` when every slot is served, `fail` otherwise.
    pub state: String,
    /// Slots assigned to a node (16384 in a complete cluster).
    pub slots_assigned: u64,
    /// Slots whose node is reachable.
    pub slots_ok: u64,
    /// Slots whose node some node suspects down.
    pub slots_pfail: u64,
    /// Slots whose node the cluster agrees is down.
    pub slots_fail: u64,
    /// Nodes known, replicas included.
    pub known_nodes: u64,
    /// Primaries serving at least one slot.
    pub size: u64,
}

impl ClusterState {
    fn parse(info: &str) -> ClusterState {
        let mut state = ClusterState::default();
        for line in info.lines() {
            let Some((name, value)) = line.trim().split_once(':') else {
                continue;
            };
            let number = || value.parse().unwrap_or(0);
            match name {
                "cluster_state" => state.state = value.to_string(),
                "cluster_slots_assigned" => state.slots_assigned = number(),
                "cluster_slots_ok" => state.slots_ok = number(),
                "cluster_slots_pfail" => state.slots_pfail = number(),
                "cluster_slots_fail" => state.slots_fail = number(),
                "cluster_known_nodes" => state.known_nodes = number(),
                "cluster_size" => state.size = number(),
                _ => {}
            }
        }
        state
    }
}

/// Whether an error means Redis could not be reached (as opposed to Redis refusing a command).
fn is_unreachable(error: &RedisError) -> bool {
    error.is_io_error()
        || error.is_connection_dropped()
        || error.is_connection_refusal()
        || error.is_timeout()
        || error.is_unrecoverable_error()
}

/// A Redis error for logs and `/readyz`. The client's messages do not contain the URL or its password.
fn describe(error: &RedisError) -> String {
    format!("redis: {error}")
}

/// Where a generation came from, as its `origin` field stores it.
#[derive(Debug, Default, serde::Serialize, Deserialize)]
#[serde(default)]
struct Origin {
    lineage: std::collections::BTreeMap<u64, u64>,
    base: u64,
}

/// A generation id as the scripts return it: a decimal string, or nil.
fn generation_id(value: &Value) -> Result<Option<u64>, StoreError> {
    match value {
        Value::Nil => Ok(None),
        Value::BulkString(bytes) => std::str::from_utf8(bytes)
            .ok()
            .and_then(|text| text.parse().ok())
            .map(Some)
            .ok_or_else(|| StoreError::Corrupt("generation id".into())),
        _ => Err(StoreError::Corrupt("generation id".into())),
    }
}

fn decode_load(reply: Vec<Value>) -> Result<Loaded, StoreError> {
    let corrupt = |what: &str| StoreError::Corrupt(format!("redis load reply: {what}"));
    let int = |value: Option<Value>, what: &str| match value {
        Some(Value::Int(n)) => u64::try_from(n).map_err(|_| corrupt(what)),
        _ => Err(corrupt(what)),
    };
    let mut items = reply.into_iter();
    let state = items.next().ok_or_else(|| corrupt("empty"))?;
    let through = int(items.next(), "through")?;
    let last_seq = int(items.next(), "last seq")?;
    let id = generation_id(&items.next().ok_or_else(|| corrupt("generation"))?)?;
    let origin: Origin = match items.next() {
        Some(Value::BulkString(json)) => {
            serde_json::from_slice(&json).map_err(|error| corrupt(&format!("origin: {error}")))?
        }
        _ => Origin::default(),
    };
    let snapshot = match state {
        Value::Nil => None,
        Value::BulkString(json) => Some(Snapshot {
            state: serde_json::from_slice(&json).map_err(|error| corrupt(&format!("snapshot: {error}")))?,
            through,
        }),
        _ => return Err(corrupt("snapshot is not a string")),
    };
    let mut journal = Vec::with_capacity(items.len() / 2);
    while let Some(seq) = items.next() {
        let (Value::Int(seq), Some(Value::BulkString(json))) = (seq, items.next()) else {
            return Err(corrupt("journal entry"));
        };
        let event: CallEvent = serde_json::from_slice(&json).map_err(|error| corrupt(&format!("event: {error}")))?;
        journal.push((
            u64::try_from(seq).map_err(|_| corrupt("negative seq"))?,
            Arc::new(event),
        ));
    }
    Ok(Loaded {
        generation: id.map(|id| Generation {
            id,
            lineage: origin.lineage,
            base: origin.base,
        }),
        last_seq,
        snapshot,
        journal,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_redacted() {
        let check = |url: &str, expected: &str| assert_eq!(redact(url), expected, "{url}");
        check("redis://127.0.0.1:6379", "redis://127.0.0.1:6379");
        check("redis://:hunter2@cache:6379/0", "redis://***@cache:6379/0");
        check(
            "rediss://user:p%40ss@cache.example:6380",
            "rediss://***@cache.example:6380",
        );
        check("redis://cache:6379/0?password=hunter2", "redis://cache:6379/0?***");
        check("unix:///run/redis.sock", "unix:///run/redis.sock");
    }

    #[test]
    fn debug_and_validation_never_show_the_password() {
        let config = RedisConfig::new("redis://:hunter2@cache:6379/0");
        assert!(!format!("{config:?}").contains("hunter2"));
        assert!(config.validate().is_ok());
        let bad = RedisConfig::new("http://:hunter2@cache");
        let error = bad.validate().unwrap_err();
        assert!(!error.contains("hunter2"), "{error}");
        assert!(RedisConfig::default().validate().is_err(), "the url has no default");
        let zero = RedisConfig {
            pool_size: 0,
            ..RedisConfig::new("redis://cache")
        };
        assert!(zero.validate().is_err());
    }
}
