//! io_uring readiness polls (`IORING_OP_POLL_ADD`) for the event-scan bench, behind a safe
//! interface. The kernel may refuse io_uring (old kernel, seccomp, `io_uring_disabled`):
//! [`PollRing::new`] then returns the error and callers skip with its message.

use io_uring::{opcode, types, IoUring};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

/// A ring used only for one-shot POLLIN polls, each tagged with a caller's number.
pub struct PollRing {
    ring: IoUring,
}

impl PollRing {
    /// A ring whose completion queue holds at least `cq_entries` completions.
    pub fn new(cq_entries: u32) -> io::Result<PollRing> {
        let sq = cq_entries.clamp(64, 4096).next_power_of_two();
        let ring = IoUring::builder()
            .setup_cqsize((2 * sq).max(cq_entries.next_power_of_two()))
            .build(sq)?;
        Ok(PollRing { ring })
    }

    /// Queues a one-shot POLLIN poll of `fd` tagged `tag`; submits first when the
    /// submission queue is full.
    pub fn poll_add(&mut self, fd: BorrowedFd<'_>, tag: u64) -> io::Result<()> {
        let sqe = opcode::PollAdd::new(types::Fd(fd.as_raw_fd()), libc::POLLIN as u32)
            .build()
            .user_data(tag);
        if self.ring.submission().is_full() {
            self.ring.submit()?;
        }
        // SAFETY: a poll request carries no buffer or pointer the kernel could write
        // through later; the descriptor is resolved by number when the entry is submitted.
        unsafe { self.ring.submission().push(&sqe) }
            .map_err(|_| io::Error::other("io_uring submission queue full"))
    }

    /// Submits queued entries and waits until at least `want` completions are ready.
    pub fn submit_and_wait(&mut self, want: usize) -> io::Result<usize> {
        self.ring.submit_and_wait(want)
    }

    /// Takes every ready completion as (tag, result: revents or -errno) into `out`.
    pub fn drain(&mut self, out: &mut Vec<(u64, i32)>) {
        out.extend(self.ring.completion().map(|c| (c.user_data(), c.result())));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::eventfd::{EfdFlags, EventFd};
    use std::os::fd::AsFd;

    #[test]
    fn poll_reports_the_readable_fd() {
        let mut ring = match PollRing::new(64) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("skipping: io_uring unavailable: {e}");
                return;
            }
        };
        let idle = EventFd::from_value_and_flags(0, EfdFlags::EFD_CLOEXEC).expect("eventfd");
        let ready = EventFd::from_value_and_flags(1, EfdFlags::EFD_CLOEXEC).expect("eventfd");
        ring.poll_add(idle.as_fd(), 7).unwrap();
        ring.poll_add(ready.as_fd(), 9).unwrap();
        ring.submit_and_wait(1).unwrap();
        let mut got = Vec::new();
        ring.drain(&mut got);
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!(got[0].0, 9);
        assert!(got[0].1 & libc::POLLIN as i32 != 0, "{got:?}");
    }
}
