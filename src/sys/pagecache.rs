//! Page-cache control for the disk-bound workload: evict a file's pages
//! (`posix_fadvise(DONTNEED)`) and measure how much of it is resident (`mincore`).

use nix::fcntl::{posix_fadvise, PosixFadviseAdvice};
use nix::sys::mman::{mmap, munmap, MapFlags, ProtFlags};
use std::fs::File;
use std::io;
use std::num::NonZeroUsize;

/// Drops `file`'s clean pages from the page cache (the file must have been synced).
pub fn evict(file: &File) -> io::Result<()> {
    posix_fadvise(file, 0, 0, PosixFadviseAdvice::POSIX_FADV_DONTNEED)?;
    Ok(())
}

/// (resident pages, total pages) of `file`, from `mincore` over a read-only shared mapping.
/// Mapping does not fault pages in; only `mincore` looks at them.
pub fn resident_pages(file: &File) -> io::Result<(usize, usize)> {
    let len = file.metadata()?.len() as usize;
    let Some(len_nz) = NonZeroUsize::new(len) else {
        return Ok((0, 0));
    };
    let page = nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
        .ok()
        .flatten()
        .map_or(4096, |p| p as usize);
    let pages = len.div_ceil(page);
    // SAFETY: a fresh read-only shared mapping of a file we hold open; we never dereference
    // it, only pass it to mincore and unmap it below.
    let addr = unsafe {
        mmap(
            None,
            len_nz,
            ProtFlags::PROT_READ,
            MapFlags::MAP_SHARED,
            file,
            0,
        )?
    };
    let mut vec = vec![0u8; pages];
    // SAFETY: `addr` is a live mapping of `len` bytes (page-aligned by mmap) and `vec` holds
    // one byte per page of it, as mincore(2) requires.
    let rc = unsafe { libc::mincore(addr.as_ptr(), len, vec.as_mut_ptr()) };
    let err = io::Error::last_os_error();
    // SAFETY: unmapping exactly the mapping created above, which nothing else references.
    unsafe { munmap(addr, len)? };
    if rc != 0 {
        return Err(err);
    }
    Ok((vec.iter().filter(|&&b| b & 1 == 1).count(), pages))
}
