//! Read-only file mappings for the servers' mapped-file cache, and `sendfile`.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;

/// A read-only, private mapping of a whole file; unmapped on drop. An empty file maps to an
/// empty slice without a system call (mmap rejects length 0).
#[derive(Debug)]
pub struct Mapping {
    ptr: *const u8,
    len: usize,
}

// SAFETY: the mapping is read-only and owned; sharing `&[u8]` views across threads is sound.
unsafe impl Send for Mapping {}
// SAFETY: as above, no interior mutability.
unsafe impl Sync for Mapping {}

impl Mapping {
    /// Maps `len` bytes of `file` from offset 0.
    pub fn map(file: &File, len: usize) -> io::Result<Mapping> {
        if len == 0 {
            return Ok(Mapping {
                ptr: std::ptr::NonNull::<u8>::dangling().as_ptr(),
                len: 0,
            });
        }
        // SAFETY: a fresh PROT_READ/MAP_PRIVATE mapping at an address the kernel picks; the
        // fd is valid for the call; the result is checked against MAP_FAILED.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_PRIVATE,
                file.as_raw_fd(),
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(Mapping {
            ptr: p as *const u8,
            len,
        })
    }

    /// The mapped bytes.
    pub fn bytes(&self) -> &[u8] {
        // SAFETY: ptr/len describe a live read-only mapping (or a dangling ptr with len 0).
        // A file truncated under us would SIGBUS: the docroot is static by contract.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }

    /// Whether every page of `bytes()[off..off+len]` is resident in memory (mincore).
    pub fn resident(&self, off: usize, len: usize) -> io::Result<bool> {
        if len == 0 {
            return Ok(true);
        }
        let page = 4096usize;
        let start = off / page * page;
        let end = (off + len).min(self.len);
        let pages = (end - start).div_ceil(page);
        let mut vec = vec![0u8; pages];
        // SAFETY: [ptr+start, ptr+end) lies inside our mapping, start is page-aligned, and
        // `vec` has one byte per page of that range.
        let rc = unsafe {
            libc::mincore(
                self.ptr.add(start) as *mut libc::c_void,
                end - start,
                vec.as_mut_ptr(),
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(vec.iter().all(|b| b & 1 == 1))
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        if self.len > 0 {
            // SAFETY: unmapping exactly the region mmap returned; no view outlives `self`.
            unsafe {
                libc::munmap(self.ptr as *mut libc::c_void, self.len);
            }
        }
    }
}

/// `sendfile(out, file, &mut offset, count)`: bytes sent (the offset advances).
pub fn sendfile(
    out: &impl AsRawFd,
    file: &File,
    offset: &mut u64,
    count: usize,
) -> io::Result<usize> {
    let mut off = *offset as libc::off_t;
    // SAFETY: both fds are valid for the call and `off` is a live local.
    let n = unsafe { libc::sendfile(out.as_raw_fd(), file.as_raw_fd(), &mut off, count) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    *offset = off as u64;
    Ok(n as usize)
}

/// `posix_fadvise(POSIX_FADV_DONTNEED)` over the whole file: drop its clean pages.
pub fn fadvise_dontneed(file: &File) -> io::Result<()> {
    // SAFETY: plain advisory call on a valid fd.
    let rc = unsafe { libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
    if rc != 0 {
        return Err(io::Error::from_raw_os_error(rc));
    }
    Ok(())
}
