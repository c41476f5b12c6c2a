//! The in-process event bus: every published [`MonitorEvent`] gets the next id, goes into a bounded ring kept
//! for clients that reconnect, and is offered to each subscriber's own bounded buffer.
//!
//! Publishing never waits: it takes one short lock and `try_send`s to each subscriber. A subscriber whose
//! buffer is full is marked lagged and offered nothing more until it has drained what it holds; it is then
//! told to resync (reload state) and resumes with the events published after that. So a slow or abandoned
//! browser costs the webhook one failed `try_send`, never a wait, and its memory is bounded by its buffer.
//!
//! Ids start at the process's start time in microseconds (epoch milliseconds × 1000), so they also increase
//! across a restart: a client that reconnects to a restarted process with an id of the old one is told to
//! resync instead of being handed the new process's events as if nothing was missed.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use prometheus_client::metrics::counter::Counter;
use serde::Deserialize;
use tokio::sync::mpsc;

use super::event::MonitorEvent;

/// The bus's bounds (`[monitor]` in the config file).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MonitorConfig {
    /// Events kept for clients that reconnect with `Last-Event-ID` (default 4096).
    pub replay_events: usize,
    /// Events a subscriber may hold unread before it is dropped behind and told to resync (default 256).
    pub subscriber_buffer: usize,
    /// Subscribers at once (default 32); further `GET /monitor/events` get `503`.
    pub max_subscribers: usize,
}

impl Default for MonitorConfig {
    fn default() -> Self {
        MonitorConfig {
            replay_events: 4096,
            subscriber_buffer: 256,
            max_subscribers: 32,
        }
    }
}

impl MonitorConfig {
    /// Every bound is at least 1 and at most a million.
    pub fn validate(&self) -> Result<(), String> {
        for (name, value) in [
            ("replay_events", self.replay_events),
            ("subscriber_buffer", self.subscriber_buffer),
            ("max_subscribers", self.max_subscribers),
        ] {
            if !(1..=1_000_000).contains(&value) {
                return Err(format!("monitor: `{name}` must be between 1 and 1000000, got {value}"));
            }
        }
        Ok(())
    }
}

/// The bus. Cloning is cheap; every clone publishes to the same subscribers. It lives as long as its last clone.
#[derive(Clone)]
pub struct Bus {
    inner: Arc<Inner>,
}

struct Inner {
    config: MonitorConfig,
    instance: Option<String>,
    resyncs: Counter,
    state: Mutex<State>,
}

struct State {
    /// The id the next event gets.
    next_id: u64,
    ring: VecDeque<Arc<MonitorEvent>>,
    subscribers: Vec<Slot>,
    /// Set by [`Bus::close`].
    closed: bool,
}

struct Slot {
    sender: mpsc::Sender<Arc<MonitorEvent>>,
    lagged: Arc<AtomicBool>,
}

/// Why a subscription was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubscribeError {
    /// `max_subscribers` are already subscribed.
    #[error("the monitor has {0} subscribers already")]
    Full(usize),
    /// The server is shutting down.
    #[error("the server is shutting down")]
    Closed,
}

/// Where a new subscriber starts.
#[derive(Debug)]
pub enum Start {
    /// With these events it missed (none for a fresh subscriber), then live ones.
    Replay(Vec<Arc<MonitorEvent>>),
    /// Events it missed are gone from the ring (or it saw another process's ids): it must reload state first.
    Resync,
}

/// One subscriber's view of the bus. Dropping it unsubscribes.
#[derive(Debug)]
pub struct Subscription {
    /// Where it starts.
    pub start: Start,
    /// The id of the last event published before it subscribed.
    pub last_id: u64,
    receiver: mpsc::Receiver<Arc<MonitorEvent>>,
    lagged: Arc<AtomicBool>,
}

/// What a subscriber receives next.
#[derive(Debug, Clone, PartialEq)]
pub enum Delivery {
    /// The next event.
    Event(Arc<MonitorEvent>),
    /// Its buffer overflowed and events were dropped: reload state; live events follow.
    Resync,
}

impl Subscription {
    /// The next delivery, waiting for one; `None` when the bus is gone.
    pub async fn next(&mut self) -> Option<Delivery> {
        match self.receiver.try_recv() {
            Ok(event) => return Some(Delivery::Event(event)),
            Err(mpsc::error::TryRecvError::Disconnected) => return None,
            Err(mpsc::error::TryRecvError::Empty) => {}
        }
        // Drained: if events were dropped meanwhile, say so once; the bus offers new ones again from now.
        if self.lagged.swap(false, Ordering::AcqRel) {
            return Some(Delivery::Resync);
        }
        self.receiver.recv().await.map(Delivery::Event)
    }
}

impl Bus {
    /// A bus with `config`'s bounds, stamping events with `instance`, counting resyncs in `resyncs`.
    pub fn new(config: MonitorConfig, instance: Option<String>, resyncs: Counter) -> Bus {
        let start_us = (crate::http::now_ms().max(0) as u64).saturating_mul(1000);
        Bus {
            inner: Arc::new(Inner {
                state: Mutex::new(State {
                    next_id: start_us.max(1),
                    ring: VecDeque::with_capacity(config.replay_events.min(4096)),
                    subscribers: Vec::new(),
                    closed: false,
                }),
                config,
                instance,
                resyncs,
            }),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere while holding the lock leaves the state consistent (every update is one push or
        // one retain), so a poisoned lock is used as is.
        self.inner.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Gives `event` the next id, keeps it for replay and offers it to every subscriber. Never waits.
    /// Returns the id.
    pub fn publish(&self, mut event: MonitorEvent) -> u64 {
        if event.instance.is_none() {
            event.instance.clone_from(&self.inner.instance);
        }
        let mut state = self.state();
        let id = state.next_id;
        state.next_id += 1;
        event.id = id;
        let event = Arc::new(event);
        if state.ring.len() >= self.inner.config.replay_events {
            state.ring.pop_front();
        }
        state.ring.push_back(Arc::clone(&event));
        let resyncs = &self.inner.resyncs;
        state.subscribers.retain(|slot| {
            if slot.lagged.load(Ordering::Acquire) {
                return !slot.sender.is_closed();
            }
            match slot.sender.try_send(Arc::clone(&event)) {
                Ok(()) => true,
                Err(mpsc::error::TrySendError::Full(_)) => {
                    slot.lagged.store(true, Ordering::Release);
                    resyncs.inc();
                    true
                }
                Err(mpsc::error::TrySendError::Closed(_)) => false,
            }
        });
        id
    }

    /// Subscribes. With `last_seen` (a reconnecting client's `Last-Event-ID`), the events after it come first,
    /// or [`Start::Resync`] when some of them are no longer kept. Taken under the publishing lock, so nothing
    /// is missed or repeated between the replay and the live events.
    pub fn subscribe(&self, last_seen: Option<u64>) -> Result<Subscription, SubscribeError> {
        let mut state = self.state();
        if state.closed {
            return Err(SubscribeError::Closed);
        }
        state.subscribers.retain(|slot| !slot.sender.is_closed());
        if state.subscribers.len() >= self.inner.config.max_subscribers {
            return Err(SubscribeError::Full(state.subscribers.len()));
        }
        let start = match last_seen {
            None => Start::Replay(Vec::new()),
            Some(last) => {
                let oldest = state.ring.front().map_or(state.next_id, |event| event.id);
                if last >= state.next_id || last.saturating_add(1) < oldest {
                    Start::Resync
                } else {
                    Start::Replay(state.ring.iter().filter(|e| e.id > last).cloned().collect())
                }
            }
        };
        let (sender, receiver) = mpsc::channel(self.inner.config.subscriber_buffer);
        let lagged = Arc::new(AtomicBool::new(false));
        state.subscribers.push(Slot {
            sender,
            lagged: Arc::clone(&lagged),
        });
        Ok(Subscription {
            start,
            last_id: state.next_id - 1,
            receiver,
            lagged,
        })
    }

    /// Ends every subscription (each stream ends after what it holds) and refuses new ones: called when the
    /// server shuts down, whose graceful drain would otherwise wait for streams that never end.
    pub fn close(&self) {
        let mut state = self.state();
        state.closed = true;
        state.subscribers.clear();
    }

    /// The id of the last event published (one below the first id when none was).
    pub fn last_id(&self) -> u64 {
        self.state().next_id - 1
    }

    /// Subscribers now.
    pub fn subscribers(&self) -> usize {
        let mut state = self.state();
        state.subscribers.retain(|slot| !slot.sender.is_closed());
        state.subscribers.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::monitor::event::Payload;

    fn bus(replay: usize, buffer: usize) -> Bus {
        let config = MonitorConfig {
            replay_events: replay,
            subscriber_buffer: buffer,
            max_subscribers: 2,
        };
        Bus::new(config, Some("i-1".into()), Counter::default())
    }

    fn hang(call: &str) -> MonitorEvent {
        MonitorEvent::new(call, 1, Payload::Hang {})
    }

    fn replayed(start: &Start) -> Vec<String> {
        match start {
            Start::Replay(events) => events.iter().map(|e| e.call_id.clone()).collect(),
            Start::Resync => vec!["resync".into()],
        }
    }

    #[tokio::test]
    async fn ids_increase_and_events_carry_the_instance() {
        let bus = bus(8, 8);
        let mut sub = bus.subscribe(None).unwrap();
        let first = bus.publish(hang("a"));
        let second = bus.publish(hang("b"));
        assert_eq!(second, first + 1);
        let Some(Delivery::Event(event)) = sub.next().await else {
            panic!("no event")
        };
        assert_eq!((event.id, event.instance.as_deref()), (first, Some("i-1")));
    }

    #[tokio::test]
    async fn reconnect_replays_what_was_missed_or_asks_for_a_resync() {
        let bus = bus(3, 8);
        let ids: Vec<u64> = ["a", "b", "c", "d"].iter().map(|c| bus.publish(hang(c))).collect();
        // The ring keeps b, c, d.
        assert_eq!(replayed(&bus.subscribe(Some(ids[1])).unwrap().start), ["c", "d"]);
        assert_eq!(replayed(&bus.subscribe(Some(ids[0])).unwrap().start), ["b", "c", "d"]);
        assert_eq!(
            replayed(&bus.subscribe(Some(ids[3])).unwrap().start),
            Vec::<String>::new()
        );
        // a was dropped from the ring; an id from before it, or from a later (other) process, resyncs.
        assert_eq!(replayed(&bus.subscribe(Some(ids[0] - 1)).unwrap().start), ["resync"]);
        assert_eq!(replayed(&bus.subscribe(Some(ids[3] + 5)).unwrap().start), ["resync"]);
    }

    #[tokio::test]
    async fn a_subscriber_that_never_reads_is_dropped_behind_then_resyncs() {
        let bus = bus(4, 2);
        let mut slow = bus.subscribe(None).unwrap();
        for n in 0..100 {
            bus.publish(hang(&format!("c{n}")));
        }
        // It holds its two buffered events, then a resync, then what comes after.
        let mut got = Vec::new();
        for _ in 0..3 {
            got.push(match slow.next().await.unwrap() {
                Delivery::Event(e) => e.call_id.clone(),
                Delivery::Resync => "resync".into(),
            });
        }
        assert_eq!(got, ["c0", "c1", "resync"]);
        assert_eq!(bus.inner.resyncs.get(), 1);
        bus.publish(hang("after"));
        let Some(Delivery::Event(event)) = slow.next().await else {
            panic!("no live event after the resync")
        };
        assert_eq!(event.call_id, "after");
    }

    #[tokio::test]
    async fn subscribers_are_bounded_and_a_dropped_one_frees_its_place() {
        let bus = bus(4, 2);
        let first = bus.subscribe(None).unwrap();
        let _second = bus.subscribe(None).unwrap();
        assert_eq!(bus.subscribe(None).unwrap_err(), SubscribeError::Full(2));
        drop(first);
        assert!(bus.subscribe(None).is_ok());
    }

    #[tokio::test]
    async fn closing_ends_every_subscription_after_what_it_holds() {
        let bus = bus(4, 4);
        let mut sub = bus.subscribe(None).unwrap();
        bus.publish(hang("held"));
        bus.close();
        assert!(matches!(sub.next().await, Some(Delivery::Event(_))));
        assert_eq!(sub.next().await, None);
        assert_eq!(bus.subscribe(None).unwrap_err(), SubscribeError::Closed);
        // Publishing after the close still works (late webhooks during the drain) and offers to no one.
        bus.publish(hang("late"));
    }
}
