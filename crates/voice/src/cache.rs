//! A bounded, least-recently-used cache of rendered PCM, keyed by
//! (engine, engine voice, text, output rate) and bounded by total bytes.
//!
//! Only complete renders are stored (a cancelled or failed stream never is). It is an
//! in-memory cache of one process; nothing is persisted or shared.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use bytes::Bytes;

/// What a cache entry is rendered from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct CacheKey {
    pub(crate) engine: &'static str,
    pub(crate) voice: String,
    pub(crate) text: String,
    pub(crate) rate: u32,
}

#[derive(Debug, Default)]
struct Inner {
    entries: HashMap<CacheKey, (Bytes, u64)>,
    by_age: BTreeMap<u64, CacheKey>,
    bytes: usize,
    tick: u64,
}

/// The cache; a capacity of 0 stores nothing.
#[derive(Debug)]
pub(crate) struct PcmCache {
    capacity: usize,
    inner: Mutex<Inner>,
}

impl PcmCache {
    pub(crate) fn new(capacity: usize) -> Self {
        PcmCache {
            capacity,
            inner: Mutex::new(Inner::default()),
        }
    }

    /// The largest single entry worth keeping: an eighth of the capacity, so one long text
    /// cannot flush everything else.
    pub(crate) fn entry_limit(&self) -> usize {
        self.capacity / 8
    }

    pub(crate) fn get(&self, key: &CacheKey) -> Option<Bytes> {
        let mut guard = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let inner = &mut *guard;
        inner.tick += 1;
        let tick = inner.tick;
        let (bytes, age) = inner.entries.get_mut(key)?;
        inner.by_age.remove(age);
        *age = tick;
        inner.by_age.insert(tick, key.clone());
        Some(bytes.clone())
    }

    pub(crate) fn insert(&self, key: CacheKey, bytes: Bytes) {
        if bytes.is_empty() || bytes.len() > self.entry_limit() {
            return;
        }
        let mut guard = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let inner = &mut *guard;
        inner.tick += 1;
        let tick = inner.tick;
        if let Some((old, age)) = inner.entries.remove(&key) {
            inner.by_age.remove(&age);
            inner.bytes -= old.len();
        }
        inner.bytes += bytes.len();
        inner.entries.insert(key.clone(), (bytes, tick));
        inner.by_age.insert(tick, key);
        while inner.bytes > self.capacity {
            let Some((_, oldest)) = inner.by_age.pop_first() else {
                break;
            };
            if let Some((old, _)) = inner.entries.remove(&oldest) {
                inner.bytes -= old.len();
            }
        }
    }

    /// Total bytes held.
    #[cfg(test)]
    fn len_bytes(&self) -> usize {
        self.inner.lock().map(|i| i.bytes).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(text: &str) -> CacheKey {
        CacheKey {
            engine: "espeak",
            voice: "en-us".into(),
            text: text.into(),
            rate: 16_000,
        }
    }

    #[test]
    fn evicts_least_recently_used_by_bytes() {
        let cache = PcmCache::new(800); // entry limit 100
        for i in 0..8 {
            cache.insert(key(&i.to_string()), Bytes::from(vec![0u8; 100]));
        }
        assert_eq!(cache.len_bytes(), 800);
        assert!(cache.get(&key("0")).is_some()); // 0 is now the most recent
        cache.insert(key("new"), Bytes::from(vec![0u8; 100]));
        assert!(cache.get(&key("1")).is_none(), "1 was the oldest");
        assert!(cache.get(&key("0")).is_some());
        assert_eq!(cache.len_bytes(), 800);
    }

    #[test]
    fn oversized_and_disabled_store_nothing() {
        let cache = PcmCache::new(800);
        cache.insert(key("big"), Bytes::from(vec![0u8; 101]));
        assert!(cache.get(&key("big")).is_none());
        let off = PcmCache::new(0);
        off.insert(key("x"), Bytes::from(vec![0u8; 2]));
        assert!(off.get(&key("x")).is_none());
    }

    #[test]
    fn keys_differ_by_rate_and_voice() {
        let cache = PcmCache::new(8000);
        cache.insert(key("a"), Bytes::from_static(b"ab"));
        let mut other = key("a");
        other.rate = 8000;
        assert!(cache.get(&other).is_none());
        other = key("a");
        other.voice = "en-gb".into();
        assert!(cache.get(&other).is_none());
        assert!(cache.get(&key("a")).is_some());
    }
}
