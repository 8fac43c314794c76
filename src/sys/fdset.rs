//! A safe `fd_set` and `select(2)`. `FD_SET` on a descriptor ≥ `FD_SETSIZE` (1024) writes
//! past the end of the bitmap; [`FdSet::insert`] returns an error instead.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};

/// The largest descriptor count an `fd_set` can describe.
pub const FD_SETSIZE: usize = libc::FD_SETSIZE;

/// An `fd_set` that refuses descriptors it cannot hold.
#[derive(Clone)]
pub struct FdSet {
    set: libc::fd_set,
    /// Highest descriptor inserted, or -1.
    max: RawFd,
}

impl Default for FdSet {
    fn default() -> Self {
        Self::new()
    }
}

impl FdSet {
    pub fn new() -> FdSet {
        let mut set = std::mem::MaybeUninit::<libc::fd_set>::uninit();
        // SAFETY: FD_ZERO initialises every byte of the set it is given.
        let set = unsafe {
            libc::FD_ZERO(set.as_mut_ptr());
            set.assume_init()
        };
        FdSet { set, max: -1 }
    }

    fn check(fd: RawFd) -> io::Result<()> {
        if fd < 0 || fd as usize >= FD_SETSIZE {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("descriptor {fd} does not fit an fd_set (FD_SETSIZE {FD_SETSIZE})"),
            ));
        }
        Ok(())
    }

    /// Adds `fd`; an error (not a write out of bounds) when `fd >= FD_SETSIZE`.
    pub fn insert(&mut self, fd: BorrowedFd<'_>) -> io::Result<()> {
        self.insert_raw(fd.as_raw_fd())
    }

    fn insert_raw(&mut self, fd: RawFd) -> io::Result<()> {
        Self::check(fd)?;
        // SAFETY: 0 <= fd < FD_SETSIZE was checked, so the bit is inside the set.
        unsafe { libc::FD_SET(fd, &mut self.set) };
        self.max = self.max.max(fd);
        Ok(())
    }

    /// Whether `fd` is in the set (false for descriptors the set cannot hold).
    pub fn contains(&self, fd: BorrowedFd<'_>) -> bool {
        let fd = fd.as_raw_fd();
        if Self::check(fd).is_err() {
            return false;
        }
        // SAFETY: 0 <= fd < FD_SETSIZE was checked.
        unsafe { libc::FD_ISSET(fd, &self.set) }
    }

    /// The highest descriptor inserted, or -1 when empty.
    pub fn highest(&self) -> RawFd {
        self.max
    }
}

/// `select(2)` for readability with no timeout (blocks until one is ready). `readfds` is
/// overwritten with the ready subset, as the kernel does; returns how many are ready.
pub fn select_read(readfds: &mut FdSet) -> io::Result<usize> {
    let nfds = readfds.max + 1;
    // SAFETY: the set pointer is valid for the call; nfds <= FD_SETSIZE because every
    // inserted descriptor was checked; null write/except sets and a null timeout are allowed.
    let n = unsafe {
        libc::select(
            nfds,
            &mut readfds.set,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
        )
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(n as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_fd_setsize_and_above() {
        let mut set = FdSet::new();
        assert!(set.insert_raw(1024).is_err());
        assert!(set.insert_raw(FD_SETSIZE as RawFd).is_err());
        assert!(set.insert_raw(-1).is_err());
        assert!(set.insert_raw(1023).is_ok());
        assert_eq!(set.highest(), 1023);
    }
}
