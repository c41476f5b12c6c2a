//! Admission to a local engine: at most `slots` requests synthesize at once, at most `queue` more
//! wait for a slot, and one more is refused at once ([`VoiceError::Busy`], a `503`), so a burst
//! cannot pile up processes or memory. Each pool counts what it did, for `/metrics`.
//!
//! The queue is first come, first served (tokio's semaphore is fair). A waiting request whose
//! client goes away leaves the queue when its future is dropped.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::VoiceError;

/// The counters of one engine's pool, read at scrape time.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) served: AtomicU64,
    pub(crate) rejected: AtomicU64,
    pub(crate) cancelled: AtomicU64,
    pub(crate) failed: AtomicU64,
}

/// A snapshot of one engine pool, for metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolStats {
    /// The engine (`espeak`, `piper`, `command`).
    pub engine: &'static str,
    /// Requests it synthesizes at once.
    pub slots: usize,
    /// Slots in use now.
    pub busy: usize,
    /// Requests waiting for a slot now.
    pub queued: usize,
    /// Requests that got a slot, since start.
    pub served: u64,
    /// Requests refused with `503` because the queue was full, since start.
    pub rejected: u64,
    /// Requests whose client went away before the audio was complete, since start.
    pub cancelled: u64,
    /// Requests whose engine failed, since start.
    pub failed: u64,
}

/// One engine's slots and queue.
#[derive(Debug)]
pub(crate) struct Admission {
    engine: &'static str,
    slots: usize,
    queue: usize,
    permits: Arc<Semaphore>,
    waiting: AtomicUsize,
    pub(crate) counters: Counters,
}

/// A slot, held until the request's engine work is over (finished, failed or cancelled).
pub(crate) type Slot = OwnedSemaphorePermit;

/// Lowers the waiting count when a queued request gets its slot or is dropped.
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Admission {
    /// A pool of `slots` (at least one) with room for `queue` waiting requests.
    pub(crate) fn new(engine: &'static str, slots: usize, queue: usize) -> Self {
        let slots = slots.max(1);
        Admission {
            engine,
            slots,
            queue,
            permits: Arc::new(Semaphore::new(slots)),
            waiting: AtomicUsize::new(0),
            counters: Counters::default(),
        }
    }

    /// A free slot now, or a place in the queue and then a slot, or `Busy` when the queue is full.
    pub(crate) async fn enter(&self) -> Result<Slot, VoiceError> {
        if let Ok(slot) = self.permits.clone().try_acquire_owned() {
            self.counters.served.fetch_add(1, Ordering::Relaxed);
            return Ok(slot);
        }
        let ahead = self.waiting.fetch_add(1, Ordering::Relaxed);
        let waiting = Waiting(&self.waiting);
        if ahead >= self.queue {
            drop(waiting);
            self.counters.rejected.fetch_add(1, Ordering::Relaxed);
            return Err(VoiceError::Busy {
                engine: self.engine,
                slots: self.slots,
                queue: self.queue,
            });
        }
        // The semaphore is never closed, so acquiring only waits.
        let slot = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| VoiceError::EngineUnavailable {
                engine: self.engine,
                reason: "the engine pool was shut down".into(),
            })?;
        drop(waiting);
        self.counters.served.fetch_add(1, Ordering::Relaxed);
        Ok(slot)
    }

    /// The pool's state and counters now.
    pub(crate) fn stats(&self) -> PoolStats {
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        PoolStats {
            engine: self.engine,
            slots: self.slots,
            busy: self.slots - self.permits.available_permits().min(self.slots),
            queued: self.waiting.load(Ordering::Relaxed).min(self.queue),
            served: load(&self.counters.served),
            rejected: load(&self.counters.rejected),
            cancelled: load(&self.counters.cancelled),
            failed: load(&self.counters.failed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_full_queue_refuses_and_a_freed_slot_serves_the_next_in_line() {
        let pool = Arc::new(Admission::new("espeak", 1, 1));
        let first = pool.enter().await.unwrap();
        let waiter = tokio::spawn({
            let pool = pool.clone();
            async move { pool.enter().await.map(drop) }
        });
        while pool.stats().queued == 0 {
            tokio::task::yield_now().await;
        }
        let refused = pool.enter().await.unwrap_err();
        assert!(matches!(refused, VoiceError::Busy { .. }), "{refused}");
        assert_eq!(refused.status(), axum::http::StatusCode::SERVICE_UNAVAILABLE);
        drop(first);
        waiter.await.unwrap().unwrap();
        let stats = pool.stats();
        assert_eq!((stats.served, stats.rejected, stats.queued, stats.busy), (2, 1, 0, 0));
    }

    #[tokio::test]
    async fn a_dropped_waiter_leaves_the_queue() {
        let pool = Arc::new(Admission::new("piper", 1, 1));
        let held = pool.enter().await.unwrap();
        let waiter = tokio::spawn({
            let pool = pool.clone();
            async move { pool.enter().await.map(drop) }
        });
        while pool.stats().queued == 0 {
            tokio::task::yield_now().await;
        }
        waiter.abort();
        let _ = waiter.await;
        assert_eq!(pool.stats().queued, 0);
        // The place is free again: the next request queues instead of being refused.
        let next = tokio::spawn({
            let pool = pool.clone();
            async move { pool.enter().await.map(drop) }
        });
        drop(held);
        next.await.unwrap().unwrap();
        assert_eq!(pool.stats().rejected, 0);
    }
}
