//! Which instance serves which calls, as every instance sharing a Redis sees it: `/calls` across instances.
//!
//! | key | type | holds |
//! |---|---|---|
//! | `<prefix>instances` | sorted set | instance id, scored by its last heartbeat (epoch ms) |
//! | `<prefix>instance:{<id>}:calls` | set | the calls with a live actor on that instance at its last heartbeat |
//! | `<prefix>instance:{<id>}:ended` | sorted set | calls whose report that instance stored, scored by when |
//!
//! Each command touches one key, so each runs on one slot of a cluster. `instances` is the one key every
//! instance writes; it takes one small write per instance per heartbeat. An instance's call set is replaced
//! whole by each heartbeat and expires after three heartbeats missed; its ended set is capped and its entries
//! leave with the reports they point to (`report_ttl_seconds`).

use redis::Script;
use std::sync::LazyLock;

use super::{RedisStore, StoreError};

/// Replaces an instance's call set. KEYS: the set. ARGV: TTL milliseconds, call ids...
static REPLACE_CALLS: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
redis.call('DEL', KEYS[1])
for i = 2, #ARGV, 500 do
  redis.call('SADD', KEYS[1], unpack(ARGV, i, math.min(i + 499, #ARGV)))
end
if #ARGV > 1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
return 1
",
    )
});

/// Records an ended call. KEYS: the ended set. ARGV: call id, now (ms), TTL seconds, entries kept.
static RECORD_ENDED: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', tonumber(ARGV[2]) - 1000 * tonumber(ARGV[3]))
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -1 - tonumber(ARGV[4]))
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1
",
    )
});

impl RedisStore {
    fn instances_key(&self) -> String {
        format!("{}instances", self.prefix())
    }

    fn instance_key(&self, instance: &str, part: &str) -> String {
        format!("{}instance:{{{instance}}}:{part}", self.prefix())
    }

    /// Publishes this instance's live calls (replacing the last heartbeat's) and its heartbeat time.
    /// `ttl_ms` is how long the set outlives a missed heartbeat; `forget_after_ms` is how long an instance
    /// stays listed after its last heartbeat (so its ended calls are found while their reports live).
    pub(crate) async fn heartbeat(
        &self,
        instance: &str,
        calls: &[String],
        now_ms: i64,
        ttl_ms: u64,
        forget_after_ms: i64,
    ) -> Result<(), StoreError> {
        let mut connection = self.connection();
        let mut invocation = REPLACE_CALLS.prepare_invoke();
        invocation.key(self.instance_key(instance, "calls")).arg(ttl_ms);
        for call in calls {
            invocation.arg(call);
        }
        self.run(invocation.invoke_async::<i64>(&mut connection)).await?;
        let key = self.instances_key();
        let mut pipeline = redis::pipe();
        pipeline.atomic();
        pipeline.cmd("ZADD").arg(&key).arg(now_ms).arg(instance).ignore();
        pipeline
            .cmd("ZREMRANGEBYSCORE")
            .arg(&key)
            .arg("-inf")
            .arg(now_ms - forget_after_ms)
            .ignore();
        pipeline.cmd("PEXPIRE").arg(&key).arg(forget_after_ms.max(1)).ignore();
        self.run(pipeline.query_async::<()>(&mut connection)).await
    }

    /// Records that `instance` stored the report of `call_id` at `now_ms`, keeping the latest `keep`.
    pub(crate) async fn record_ended(
        &self,
        instance: &str,
        call_id: &str,
        now_ms: i64,
        keep: usize,
    ) -> Result<(), StoreError> {
        let mut connection = self.connection();
        let mut invocation = RECORD_ENDED.prepare_invoke();
        invocation
            .key(self.instance_key(instance, "ended"))
            .arg(call_id)
            .arg(now_ms)
            .arg(self.retention().report_ttl_seconds)
            .arg(keep);
        self.run(invocation.invoke_async::<i64>(&mut connection))
            .await
            .map(|_| ())
    }

    /// The instances with a heartbeat since `since_ms`, with its time, latest first.
    pub(crate) async fn instances(&self, since_ms: i64) -> Result<Vec<(String, i64)>, StoreError> {
        let mut connection = self.connection();
        let mut command = redis::cmd("ZRANGEBYSCORE");
        command
            .arg(self.instances_key())
            .arg(since_ms)
            .arg("+inf")
            .arg("WITHSCORES");
        let mut found: Vec<(String, i64)> = self.run(command.query_async(&mut connection)).await?;
        found.reverse();
        Ok(found)
    }

    /// The calls `instance` had live at its last heartbeat, at most `limit`, sorted.
    pub(crate) async fn instance_calls(&self, instance: &str, limit: usize) -> Result<Vec<String>, StoreError> {
        let mut connection = self.connection();
        let mut command = redis::cmd("SMEMBERS");
        command.arg(self.instance_key(instance, "calls"));
        let mut calls: Vec<String> = self.run(command.query_async(&mut connection)).await?;
        calls.sort_unstable();
        calls.truncate(limit);
        Ok(calls)
    }

    /// The calls whose reports `instance` stored, latest first, at most `limit`, with when (epoch ms).
    pub(crate) async fn ended_calls(&self, instance: &str, limit: usize) -> Result<Vec<(String, i64)>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let mut connection = self.connection();
        let mut command = redis::cmd("ZREVRANGE");
        command
            .arg(self.instance_key(instance, "ended"))
            .arg(0)
            .arg(limit - 1)
            .arg("WITHSCORES");
        self.run(command.query_async(&mut connection)).await
    }
}
