//! The completion cache: a bounded least-recently-used map from a request's
//! digest (endpoint, model, prompt version and every input) to the
//! completion. Per process, in memory; losing it costs only upstream calls.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

type Digest = [u8; 32];

#[derive(Debug, Default)]
struct Entries {
    /// digest → (completion, last use)
    values: HashMap<Digest, (String, u64)>,
    /// last use → digest, oldest first
    order: BTreeMap<u64, Digest>,
    clock: u64,
}

#[derive(Debug)]
pub(crate) struct CompletionCache {
    capacity: usize,
    entries: Mutex<Entries>,
}

impl CompletionCache {
    /// `capacity == 0` caches nothing.
    pub(crate) fn new(capacity: usize) -> Self {
        Self { capacity, entries: Mutex::new(Entries::default()) }
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, Entries> {
        self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn get(&self, key: &Digest) -> Option<String> {
        let mut entries = self.entries();
        entries.clock += 1;
        let now = entries.clock;
        let (value, used) = entries.values.get_mut(key)?;
        let previous = std::mem::replace(used, now);
        let value = value.clone();
        entries.order.remove(&previous);
        entries.order.insert(now, *key);
        Some(value)
    }

    pub(crate) fn insert(&self, key: Digest, value: String) {
        if self.capacity == 0 {
            return;
        }
        let mut entries = self.entries();
        entries.clock += 1;
        let now = entries.clock;
        if let Some((_, previous)) = entries.values.insert(key, (value, now)) {
            entries.order.remove(&previous);
        }
        entries.order.insert(now, key);
        while entries.values.len() > self.capacity {
            let Some((_, oldest)) = entries.order.pop_first() else { break };
            entries.values.remove(&oldest);
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries().values.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> Digest {
        [n; 32]
    }

    #[test]
    fn the_least_recently_used_entry_goes_first() {
        let cache = CompletionCache::new(2);
        cache.insert(key(1), "one".into());
        cache.insert(key(2), "two".into());
        assert_eq!(cache.get(&key(1)).as_deref(), Some("one"));
        cache.insert(key(3), "three".into());
        assert_eq!(cache.get(&key(2)), None, "2 was the least recently used");
        assert_eq!(cache.get(&key(1)).as_deref(), Some("one"));
        assert_eq!(cache.get(&key(3)).as_deref(), Some("three"));
        cache.insert(key(3), "three again".into());
        assert_eq!(cache.len(), 2);
        assert_eq!(cache.get(&key(3)).as_deref(), Some("three again"));
    }

    #[test]
    fn zero_capacity_caches_nothing() {
        let cache = CompletionCache::new(0);
        cache.insert(key(1), "one".into());
        assert_eq!(cache.get(&key(1)), None);
    }
}
