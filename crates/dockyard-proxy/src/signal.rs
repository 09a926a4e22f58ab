//! What a worker's sweeps use to reach the tasks they watch: [`Flags`], raised
//! from one task and waking the task that polls them, and [`Watched`], the
//! weak list a sweep walks. Client connections (`conn`) and pooled upstream
//! connections (`upstream`) both use them, so neither needs a timer or a
//! channel per request.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::task::Context;

use atomic_waker::AtomicWaker;

/// Bit flags raised from anywhere; raising one wakes the task polling them.
#[derive(Default)]
pub(crate) struct Flags {
    bits: AtomicU8,
    waker: AtomicWaker,
}

impl Flags {
    /// The flags raised so far, registering the polling task's waker for the
    /// next ones (registered before the load: a flag raised meanwhile still
    /// wakes the task).
    pub(crate) fn poll(&self, cx: &Context<'_>) -> u8 {
        self.waker.register(cx.waker());
        self.raised()
    }

    /// The flags raised so far, without waiting for more.
    pub(crate) fn raised(&self) -> u8 {
        self.bits.load(Ordering::Acquire)
    }

    pub(crate) fn raise(&self, flag: u8) {
        self.bits.fetch_or(flag, Ordering::AcqRel);
        self.waker.wake();
    }
}

/// Weak handles on what a sweep watches; dropped ones are forgotten as it walks.
pub(crate) struct Watched<T> {
    list: Mutex<Vec<Weak<T>>>,
}

impl<T> Default for Watched<T> {
    fn default() -> Self {
        Self { list: Mutex::new(Vec::new()) }
    }
}

impl<T> Watched<T> {
    fn list(&self) -> MutexGuard<'_, Vec<Weak<T>>> {
        self.list.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn watch(&self, item: &Arc<T>) {
        self.list().push(Arc::downgrade(item));
    }

    /// The live items (dropped ones stay listed until the next [`Self::select`]).
    pub(crate) fn live(&self) -> Vec<Arc<T>> {
        self.list().iter().filter_map(Weak::upgrade).collect()
    }

    /// The live items `pick` chooses (it sees every live one), forgetting the
    /// dropped ones. The caller acts on them after the lock is released.
    pub(crate) fn select(&self, mut pick: impl FnMut(&T) -> bool) -> Vec<Arc<T>> {
        let mut picked = Vec::new();
        self.list().retain(|weak| {
            let Some(item) = weak.upgrade() else { return false };
            if pick(&item) {
                picked.push(item);
            }
            true
        });
        picked
    }

    /// Items still listed, dropped ones included until the next walk (for tests).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.list().len()
    }
}

#[cfg(test)]
mod tests {
    use std::task::Waker;

    use super::*;

    #[test]
    fn a_walk_picks_live_items_and_forgets_dropped_ones() {
        let watched = Watched::default();
        let (one, two) = (Arc::new(1), Arc::new(2));
        watched.watch(&one);
        watched.watch(&two);
        drop(two);
        assert_eq!(watched.live(), vec![Arc::clone(&one)]);
        assert_eq!(watched.len(), 2);
        assert_eq!(watched.select(|_| true), vec![Arc::clone(&one)]);
        assert_eq!(watched.len(), 1);
        assert!(watched.select(|item| *item == 2).is_empty());
    }

    #[test]
    fn raised_flags_add_up() {
        let flags = Flags::default();
        assert_eq!(flags.poll(&Context::from_waker(Waker::noop())), 0);
        flags.raise(1);
        flags.raise(4);
        assert_eq!(flags.raised(), 5);
    }
}
