//! Memory shared between a parent and its forked children: one `MAP_SHARED | MAP_ANONYMOUS`
//! mapping of `f64`s (the matmul processes' "shared memory"), and the fork-per-worker helper
//! that hands each child the mapping while the parent holds no reference into it.

use super::process::ChildGuard;
use nix::sys::mman::{mmap_anonymous, munmap, MapFlags, ProtFlags};
use std::ffi::c_void;
use std::io;
use std::num::NonZeroUsize;
use std::ptr::NonNull;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

/// `len` f64s in a shared anonymous mapping, zero-filled by the kernel, unmapped on drop.
/// Forked children see (and write) the same physical pages.
#[derive(Debug)]
pub struct SharedF64s {
    ptr: NonNull<f64>,
    len: usize,
}

impl SharedF64s {
    /// Maps `len` zeroed f64s shared with future children.
    pub fn new(len: usize) -> io::Result<SharedF64s> {
        let bytes = NonZeroUsize::new(len.max(1) * std::mem::size_of::<f64>())
            .ok_or_else(|| io::Error::other("empty mapping"))?;
        // SAFETY: a fresh anonymous mapping at a kernel-chosen address aliases no existing
        // Rust object; the pointer is owned by the returned value and unmapped exactly once.
        let raw = unsafe {
            mmap_anonymous(
                None,
                bytes,
                ProtFlags::PROT_READ | ProtFlags::PROT_WRITE,
                MapFlags::MAP_SHARED,
            )
        }?;
        Ok(SharedF64s {
            ptr: raw.cast(),
            len,
        })
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn as_slice(&self) -> &[f64] {
        // SAFETY: ptr is a live, page-aligned (so f64-aligned) mapping of len f64s, zero
        // initialised (a valid f64); no child runs while the parent borrows it (fork_workers
        // takes &mut self and reaps every child before returning).
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }

    pub fn as_mut_slice(&mut self) -> &mut [f64] {
        // SAFETY: as in `as_slice`; `&mut self` makes this the only reference in this process.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }

    /// Forks `n_workers` guarded children; child `i` runs `work(i, whole mapping)` and exits
    /// with its return value (0 = success). The parent waits (at most `timeout`) for all of
    /// them and errors if any failed. The parent holds `&mut self` throughout, so nothing in
    /// the parent reads or writes the mapping while children do; each child must write only
    /// its own part. `work` runs in a forked child of a possibly multi-threaded parent: it
    /// must not allocate or take locks (plain arithmetic on the slice is fine).
    pub fn fork_workers(
        &mut self,
        n_workers: usize,
        timeout: Duration,
        work: impl Fn(usize, &mut [f64]) -> i32,
    ) -> io::Result<()> {
        let mut children = Vec::with_capacity(n_workers);
        let (ptr, len) = (self.ptr, self.len);
        for worker_idx in 0..n_workers {
            let work = &work;
            children.push(ChildGuard::fork(move || {
                // SAFETY: in the child this is the only reference to the mapping (the parent's
                // borrow lives in the parent's address space); ptr/len describe a live mapping
                // inherited across fork.
                let slice = unsafe { std::slice::from_raw_parts_mut(ptr.as_ptr(), len) };
                work(worker_idx, slice)
            })?);
        }
        // Poll with a short sleep rather than ChildGuard::wait_timeout's 1 ms step: the end of
        // a multiply is timed, and 1 ms would be a visible part of it.
        let deadline = std::time::Instant::now() + timeout;
        for child in &mut children {
            loop {
                match child.try_wait()? {
                    Some(nix::sys::wait::WaitStatus::Exited(_, 0)) => break,
                    Some(status) => {
                        return Err(io::Error::other(format!(
                            "worker child ended with {status:?}"
                        )))
                    }
                    None if std::time::Instant::now() >= deadline => {
                        return Err(io::Error::other("worker child timed out"))
                    }
                    None => std::thread::sleep(Duration::from_micros(20)),
                }
            }
        }
        Ok(())
    }
}

/// One `AtomicU64` in a shared anonymous mapping: a work counter that forked children and
/// the parent update together (lock-free atomics work across processes on shared pages).
#[derive(Debug)]
pub struct SharedCounter {
    ptr: NonNull<AtomicU64>,
}

impl SharedCounter {
    /// A counter starting at 0, shared with future children.
    pub fn new() -> io::Result<SharedCounter> {
        let bytes = NonZeroUsize::new(std::mem::size_of::<AtomicU64>()).expect("nonzero size");
        // SAFETY: a fresh anonymous mapping aliases nothing; owned here, unmapped once in Drop.
        let raw = unsafe {
            mmap_anonymous(
                None,
                bytes,
                ProtFlags::PROT_READ | ProtFlags::PROT_WRITE,
                MapFlags::MAP_SHARED,
            )
        }?;
        Ok(SharedCounter { ptr: raw.cast() })
    }

    pub fn get(&self) -> &AtomicU64 {
        // SAFETY: the mapping is page-aligned (so aligned for AtomicU64), zero-filled (a valid
        // AtomicU64 holding 0) and lives as long as `self`; all access goes through atomics.
        unsafe { self.ptr.as_ref() }
    }
}

impl Drop for SharedCounter {
    fn drop(&mut self) {
        // SAFETY: ptr came from mmap_anonymous in `new` and is unmapped only here.
        let _ = unsafe { munmap(self.ptr.cast::<c_void>(), std::mem::size_of::<AtomicU64>()) };
    }
}

impl Drop for SharedF64s {
    fn drop(&mut self) {
        // SAFETY: ptr/len came from mmap_anonymous in `new` and are unmapped only here.
        let _ = unsafe {
            munmap(
                self.ptr.cast::<c_void>(),
                self.len.max(1) * std::mem::size_of::<f64>(),
            )
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn children_write_through_the_shared_mapping() {
        let mut shm = SharedF64s::new(4).expect("map shared memory");
        shm.fork_workers(4, Duration::from_secs(10), |i, s| {
            s[i] = (i + 1) as f64;
            0
        })
        .expect("fork workers");
        assert_eq!(shm.as_slice(), &[1.0, 2.0, 3.0, 4.0]);
    }

    #[test]
    fn children_share_the_counter() {
        use std::sync::atomic::Ordering;
        let counter = SharedCounter::new().expect("map counter");
        let mut shm = SharedF64s::new(1).expect("map shared memory");
        shm.fork_workers(3, Duration::from_secs(10), |_, _| {
            counter.get().fetch_add(1, Ordering::Relaxed);
            0
        })
        .expect("fork workers");
        assert_eq!(counter.get().load(Ordering::Relaxed), 3);
    }

    #[test]
    fn a_failing_child_is_an_error() {
        let mut shm = SharedF64s::new(1).expect("map shared memory");
        assert!(shm
            .fork_workers(1, Duration::from_secs(10), |_, _| 3)
            .is_err());
    }
}
