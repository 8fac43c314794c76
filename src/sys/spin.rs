//! A spinlock over an `UnsafeCell`: the one piece of the sync benches that needs `unsafe`.
//! Two acquire strategies share one lock word so the benches compare only the waiting policy:
//! test-and-test-and-set with the `spin_loop` hint, and the same with `crossbeam_utils::Backoff`.

use crossbeam_utils::Backoff;
use std::cell::UnsafeCell;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicBool, Ordering};

/// A value guarded by a spinning lock (no sleeping, no fairness).
pub struct SpinLock<T> {
    locked: AtomicBool,
    value: UnsafeCell<T>,
}

// SAFETY: access to `value` is serialised by `locked` (acquire on lock, release on unlock),
// exactly like `std::sync::Mutex`, so sharing the lock is sound whenever `T: Send`.
unsafe impl<T: Send> Sync for SpinLock<T> {}
// SAFETY: moving the lock moves the value; no thread-bound state.
unsafe impl<T: Send> Send for SpinLock<T> {}

/// Holds the lock; releases it on drop.
pub struct SpinGuard<'a, T> {
    lock: &'a SpinLock<T>,
}

impl<T> SpinLock<T> {
    pub const fn new(value: T) -> Self {
        SpinLock {
            locked: AtomicBool::new(false),
            value: UnsafeCell::new(value),
        }
    }

    /// Test-and-test-and-set: spin on a plain load (the line stays shared in every waiter's
    /// cache) and only try the swap when the lock looks free.
    pub fn lock_ttas(&self) -> SpinGuard<'_, T> {
        loop {
            if !self.locked.swap(true, Ordering::Acquire) {
                return SpinGuard { lock: self };
            }
            while self.locked.load(Ordering::Relaxed) {
                std::hint::spin_loop();
            }
        }
    }

    /// Like [`Self::lock_ttas`] but waits with exponential backoff, yielding the CPU once
    /// the backoff is exhausted.
    pub fn lock_backoff(&self) -> SpinGuard<'_, T> {
        let backoff = Backoff::new();
        loop {
            if !self.locked.swap(true, Ordering::Acquire) {
                return SpinGuard { lock: self };
            }
            while self.locked.load(Ordering::Relaxed) {
                backoff.snooze();
            }
        }
    }

    /// The value, through exclusive access (no locking needed).
    pub fn get_mut(&mut self) -> &mut T {
        self.value.get_mut()
    }
}

impl<T> Deref for SpinGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard exists only while `locked` is held by this thread.
        unsafe { &*self.lock.value.get() }
    }
}

impl<T> DerefMut for SpinGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard exists only while `locked` is held by this thread, and `&mut self`
        // makes this the only reference derived from it.
        unsafe { &mut *self.lock.value.get() }
    }
}

impl<T> Drop for SpinGuard<'_, T> {
    fn drop(&mut self) {
        self.lock.locked.store(false, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_strategies_exclude() {
        let lock = SpinLock::new(0u64);
        std::thread::scope(|s| {
            for t in 0..4 {
                let lock = &lock;
                s.spawn(move || {
                    for _ in 0..10_000 {
                        if t % 2 == 0 {
                            *lock.lock_ttas() += 1;
                        } else {
                            *lock.lock_backoff() += 1;
                        }
                    }
                });
            }
        });
        assert_eq!(*lock.lock_ttas(), 40_000);
    }
}
