//! A safe `fd_set` for `select(2)`.
//!
//! `FD_SET` on a descriptor ≥ `FD_SETSIZE` (1024 on Linux) writes past the end of the
//! 128-byte bitmap: in C it is silent memory corruption, in nix it is a panic. [`FdSet::insert`]
//! instead returns [`FdSetError`] so a caller can skip `select` and say why.

use nix::fcntl::{fcntl, FcntlArg};
use nix::sys::select::{select, FdSet as NixFdSet};
use std::fmt;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

/// The size of the `select` bitmap: descriptors must be below it.
pub const FD_SETSIZE: usize = libc::FD_SETSIZE;

/// A descriptor that does not fit in an `fd_set`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FdSetError {
    pub fd: i32,
}

impl fmt::Display for FdSetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "descriptor {} does not fit in select's fd_set (FD_SETSIZE = {FD_SETSIZE})",
            self.fd
        )
    }
}

impl std::error::Error for FdSetError {}

impl From<FdSetError> for io::Error {
    fn from(e: FdSetError) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidInput, e)
    }
}

/// A set of descriptors below `FD_SETSIZE`, borrowed for `'fd`.
#[derive(Default)]
pub struct FdSet<'fd> {
    inner: NixFdSet<'fd>,
    /// Highest descriptor inserted, for `select`'s `nfds`.
    highest: Option<i32>,
}

/// A duplicate of `fd` numbered at least `min` (`F_DUPFD_CLOEXEC`): places a descriptor
/// above `FD_SETSIZE` on purpose, for tests.
pub fn dup_at_least(fd: BorrowedFd<'_>, min: i32) -> io::Result<OwnedFd> {
    let raw = fcntl(fd, FcntlArg::F_DUPFD_CLOEXEC(min))?;
    // SAFETY: fcntl just returned `raw` as a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

/// `fd` fits in an `fd_set`.
pub fn fits(fd: i32) -> bool {
    usize::try_from(fd).is_ok_and(|fd| fd < FD_SETSIZE)
}

impl<'fd> FdSet<'fd> {
    pub fn new() -> FdSet<'fd> {
        FdSet::default()
    }

    /// Adds `fd`; an error (nothing written) for a descriptor ≥ `FD_SETSIZE`.
    pub fn insert(&mut self, fd: BorrowedFd<'fd>) -> Result<(), FdSetError> {
        let raw = fd.as_raw_fd();
        if !fits(raw) {
            return Err(FdSetError { fd: raw });
        }
        self.inner.insert(fd);
        self.highest = Some(self.highest.map_or(raw, |h| h.max(raw)));
        Ok(())
    }

    /// Whether `fd` is in the set (false for a descriptor that cannot be in it).
    pub fn contains(&self, fd: BorrowedFd<'fd>) -> bool {
        fits(fd.as_raw_fd()) && self.inner.contains(fd)
    }

    /// Empties the set (`FD_ZERO`).
    pub fn clear(&mut self) {
        self.inner.clear();
        self.highest = None;
    }

    /// Blocks in `select(2)` until a descriptor of the set is readable (no timeout) and leaves
    /// only the readable ones in the set. Returns how many are readable.
    pub fn select_readable(&mut self) -> io::Result<usize> {
        let nfds = self.highest.map_or(0, |h| h + 1);
        let n = select(nfds, &mut self.inner, None, None, None)?;
        Ok(n as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::eventfd::{EfdFlags, EventFd};
    use std::os::fd::AsFd;

    #[test]
    fn rejects_fd_setsize_and_above() {
        assert!(fits(1023) && !fits(1024) && !fits(-1));
        let efd = EventFd::from_value_and_flags(0, EfdFlags::EFD_CLOEXEC).expect("eventfd");
        // The lowest free descriptor >= 1024: exactly 1024 unless a parallel test holds it.
        let high = dup_at_least(efd.as_fd(), 1024).expect("dup to a descriptor >= 1024");
        let mut set = FdSet::new();
        assert!(set.insert(efd.as_fd()).is_ok());
        let err = set.insert(high.as_fd()).unwrap_err();
        assert!(err.fd >= 1024 && err.fd == high.as_raw_fd(), "{err:?}");
        assert!(err.to_string().contains("FD_SETSIZE"));
        assert!(!set.contains(high.as_fd()));
    }

    #[test]
    fn select_finds_the_readable_one() {
        let idle = EventFd::from_value_and_flags(0, EfdFlags::EFD_CLOEXEC).expect("eventfd");
        let ready = EventFd::from_value_and_flags(1, EfdFlags::EFD_CLOEXEC).expect("eventfd");
        let mut set = FdSet::new();
        set.insert(idle.as_fd()).unwrap();
        set.insert(ready.as_fd()).unwrap();
        assert_eq!(set.select_readable().unwrap(), 1);
        assert!(set.contains(ready.as_fd()));
        assert!(!set.contains(idle.as_fd()));
    }
}
