//! What every hand-off shares: the working set a side sums between hand-offs, starting a
//! pinned thread peer, the "dead" mark a thread peer leaves on every exit, and the two errors
//! a round trip can end with (the peer is gone; it answered the wrong token).

use std::io;
use std::thread::JoinHandle;

/// Memory a side sums between hand-offs (`ctx_switch_ws`).
#[derive(Clone)]
pub(super) struct WorkingSet(Vec<u64>);

impl WorkingSet {
    pub(super) fn new(kib: u64) -> WorkingSet {
        // Non-zero contents: every page is written, so it is really resident.
        WorkingSet(vec![1u64; (kib as usize * 1024) / 8])
    }

    /// Reads every word; the result is kept alive so the loop is not optimised away.
    #[inline]
    pub(super) fn sum(&self) {
        if !self.0.is_empty() {
            let s = self.0.iter().fold(0u64, |a, &x| a.wrapping_add(x));
            std::hint::black_box(s);
        }
    }

    /// Writes every word: after fork the child gets its own copies of the pages.
    pub(super) fn own(&mut self) {
        for w in self.0.iter_mut() {
            *w = w.wrapping_add(1);
        }
    }
}

pub(super) fn gone(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::BrokenPipe, format!("peer is gone ({what})"))
}

pub(super) fn mismatch(sent: u64, got: u64) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("sent token {sent}, peer answered {got}"),
    )
}

/// Pins the calling thread (peer side) if asked, checking the kernel honoured it.
fn pin_peer(cpu: Option<usize>) -> io::Result<()> {
    match cpu {
        Some(cpu) => crate::pin::pin_current_thread(cpu),
        None => Ok(()),
    }
}

/// Starts a thread peer; a failure to pin it surfaces as an error of `start`.
pub(super) fn spawn_peer(
    name: &str,
    cpu: Option<usize>,
    body: impl FnOnce() -> io::Result<()> + Send + 'static,
) -> io::Result<JoinHandle<io::Result<()>>> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            pin_peer(cpu)?;
            body()
        })
}

/// Runs `f` when dropped: thread peers use it to leave a "dead" mark on every exit path.
pub(super) struct OnExit<F: FnMut()>(pub(super) F);

impl<F: FnMut()> Drop for OnExit<F> {
    fn drop(&mut self) {
        (self.0)()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn on_exit_runs_on_a_panic_too() {
        let marked = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let m = std::sync::Arc::clone(&marked);
        let t = std::thread::spawn(move || {
            let _dead = OnExit(|| m.store(true, std::sync::atomic::Ordering::Release));
            panic!("peer body failed");
        });
        assert!(t.join().is_err());
        assert!(marked.load(std::sync::atomic::Ordering::Acquire));
    }

    #[test]
    fn errors_say_which_kind() {
        assert_eq!(gone("x").kind(), io::ErrorKind::BrokenPipe);
        assert_eq!(mismatch(1, 2).kind(), io::ErrorKind::InvalidData);
    }
}
