//! Raw futex wait/wake on a 32-bit word (nix has no futex; glibc has no wrapper).
//!
//! Private futexes (`FUTEX_PRIVATE_FLAG`): the word is shared between threads of this process.
//! Used by `ctx_switch_*/futex_thread`, the cheapest blocking hand-off the kernel offers.

use std::io;
use std::sync::atomic::AtomicU32;

/// Sleeps while `*word == expected`. Returns when woken, when the word no longer holds
/// `expected` (EAGAIN) or on a signal (EINTR): callers re-check the word in a loop.
pub fn wait(word: &AtomicU32, expected: u32) -> io::Result<()> {
    // SAFETY: `word` is a valid, aligned u32 for the duration of the call (borrowed); a null
    // timeout means "no timeout"; the remaining arguments are ignored by FUTEX_WAIT.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT | libc::FUTEX_PRIVATE_FLAG,
            expected,
            std::ptr::null::<libc::timespec>(),
            std::ptr::null::<u32>(),
            0u32,
        )
    };
    if rc == 0 {
        return Ok(());
    }
    let err = io::Error::last_os_error();
    match err.raw_os_error() {
        Some(libc::EAGAIN) | Some(libc::EINTR) => Ok(()),
        _ => Err(err),
    }
}

/// Wakes up to `n` waiters on `word`; returns how many were woken.
pub fn wake(word: &AtomicU32, n: i32) -> io::Result<usize> {
    // SAFETY: `word` is a valid, aligned u32 (borrowed); FUTEX_WAKE reads no other pointer.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG,
            n,
            std::ptr::null::<libc::timespec>(),
            std::ptr::null::<u32>(),
            0u32,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(rc as usize)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::Ordering;
    use std::sync::Arc;

    #[test]
    fn wait_returns_at_once_on_a_changed_word_and_wake_wakes() {
        let word = Arc::new(AtomicU32::new(1));
        // Not equal to `expected`: EAGAIN, returned as Ok without sleeping.
        wait(&word, 0).unwrap();
        let w2 = Arc::clone(&word);
        let waiter = std::thread::spawn(move || {
            while w2.load(Ordering::Acquire) == 1 {
                wait(&w2, 1).unwrap();
            }
        });
        std::thread::sleep(std::time::Duration::from_millis(20));
        word.store(2, Ordering::Release);
        wake(&word, 1).unwrap();
        waiter.join().unwrap();
    }
}
