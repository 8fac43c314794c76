//! Creating processes without `fork`'s page-table copy, and `exec` from a forked child of a
//! multi-threaded parent: `posix_spawn`, a vfork-style `clone(CLONE_VM | CLONE_VFORK)`, and
//! `fork` + `execve` with every pointer prepared before the fork (the child must not allocate).

use super::process::{exit_now, expect_clean_exit};
use nix::sched::CloneFlags;
use nix::sys::signal::{pthread_sigmask, SigSet, SigmaskHow};
use nix::unistd::ForkResult;
use std::ffi::{CString, OsStr};
use std::io;
use std::os::fd::RawFd;
use std::os::unix::ffi::OsStrExt;

/// A program with its argument vector and environment, ready for `execve`/`posix_spawn`
/// without any allocation at spawn time.
pub struct ExecImage {
    path: CString,
    argv: Vec<CString>,
    envp: Vec<CString>,
    argv_ptrs: Vec<*const libc::c_char>,
    envp_ptrs: Vec<*const libc::c_char>,
    attr: nix::spawn::PosixSpawnAttr,
    actions: nix::spawn::PosixSpawnFileActions,
}

fn cstring(s: &OsStr) -> io::Result<CString> {
    CString::new(s.as_bytes()).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))
}

fn null_terminated(strings: &[CString]) -> Vec<*const libc::c_char> {
    strings
        .iter()
        .map(|s| s.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect()
}

impl ExecImage {
    /// `path` run with `args` (`argv[0]` = path) and this process's environment.
    pub fn new(path: &str, args: &[&str]) -> io::Result<ExecImage> {
        let path_c = cstring(OsStr::new(path))?;
        let mut argv = vec![path_c.clone()];
        for a in args {
            argv.push(cstring(OsStr::new(a))?);
        }
        let envp = std::env::vars_os()
            .map(|(k, v)| {
                let mut kv = k;
                kv.push("=");
                kv.push(v);
                cstring(&kv)
            })
            .collect::<io::Result<Vec<_>>>()?;
        let argv_ptrs = null_terminated(&argv);
        let envp_ptrs = null_terminated(&envp);
        Ok(ExecImage {
            path: path_c,
            argv,
            envp,
            argv_ptrs,
            envp_ptrs,
            attr: nix::spawn::PosixSpawnAttr::init()?,
            actions: nix::spawn::PosixSpawnFileActions::init()?,
        })
    }

    /// One fork + `execve(path)` in the child + `waitpid`; errors unless the program exits 0.
    pub fn fork_exec_wait(&self) -> io::Result<()> {
        // SAFETY: the child calls only `execve` (async-signal-safe) with pointers prepared
        // before the fork, which stay valid because `self` is borrowed, then `_exit`.
        match unsafe { nix::unistd::fork() }? {
            ForkResult::Child => {
                // SAFETY: both arrays are NULL-terminated arrays of valid C strings owned by self.
                unsafe {
                    libc::execve(
                        self.path.as_ptr(),
                        self.argv_ptrs.as_ptr(),
                        self.envp_ptrs.as_ptr(),
                    );
                }
                exit_now(127)
            }
            ForkResult::Parent { child } => expect_clean_exit(child),
        }
    }

    /// One `posix_spawn(path)` + `waitpid`; errors unless the program exits 0.
    pub fn posix_spawn_wait(&self) -> io::Result<()> {
        let pid = nix::spawn::posix_spawn(
            self.path.as_c_str(),
            &self.actions,
            &self.attr,
            &self.argv,
            &self.envp,
        )?;
        expect_clean_exit(pid)
    }
}

extern "C" fn empty_thread(arg: *mut libc::c_void) -> *mut libc::c_void {
    arg
}

/// One raw `pthread_create` (default attributes) of an empty function + `pthread_join`: what
/// the C reference loop does, without std::thread's extra per-thread work (an alternate signal
/// stack with a guard page, thread handle and name bookkeeping).
pub fn pthread_create_join() -> io::Result<()> {
    let mut thread: libc::pthread_t = 0;
    // SAFETY: a zeroed pthread_t is a valid out-parameter; the thread runs an `extern "C"` fn
    // that only returns its (null) argument, so nothing it touches can dangle.
    let rc = unsafe {
        libc::pthread_create(
            &mut thread,
            std::ptr::null(),
            empty_thread,
            std::ptr::null_mut(),
        )
    };
    if rc != 0 {
        return Err(io::Error::from_raw_os_error(rc));
    }
    // SAFETY: `thread` was created above, joinable, and is joined exactly once.
    let rc = unsafe { libc::pthread_join(thread, std::ptr::null_mut()) };
    if rc != 0 {
        return Err(io::Error::from_raw_os_error(rc));
    }
    Ok(())
}

/// A child stack for [`vfork_exit_wait`]; allocated once, reused.
pub struct CloneStack(Vec<u8>);

impl Default for CloneStack {
    fn default() -> Self {
        // The child only calls `_exit`: a few hundred bytes would do; 64 KiB is generous.
        CloneStack(vec![0u8; 64 * 1024])
    }
}

/// One vfork-style `clone(CLONE_VM | CLONE_VFORK, SIGCHLD)`: the child shares our memory
/// (no page tables copied) and runs on `stack`; we are suspended until it `_exit`s(0), then
/// reap it. All signals are blocked around the clone (as glibc's posix_spawn does) so no
/// handler can run in the child on our memory.
pub fn vfork_exit_wait(stack: &mut CloneStack) -> io::Result<()> {
    let mut old = SigSet::empty();
    pthread_sigmask(
        SigmaskHow::SIG_SETMASK,
        Some(&SigSet::all()),
        Some(&mut old),
    )?;
    // SAFETY: the child runs on its own stack (`stack`, which outlives the call because
    // CLONE_VFORK suspends us until the child exits) and calls only `_exit`, which touches
    // no shared state; signals are blocked so no handler runs in it.
    let result = unsafe {
        nix::sched::clone(
            Box::new(|| exit_now(0)),
            &mut stack.0,
            CloneFlags::CLONE_VM | CloneFlags::CLONE_VFORK,
            Some(libc::SIGCHLD),
        )
    };
    pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&old), None)?;
    expect_clean_exit(result?)
}

/// Returns the allocator's free memory to the kernel (`malloc_trim(0)`). fork copies the page
/// tables of every resident anonymous page, so heap left over from criterion's analysis of a
/// previous benchmark (a few MiB) would otherwise be charged to the next fork benchmark.
pub fn release_free_heap() {
    // SAFETY: malloc_trim only walks glibc's own heap under its own locks; no pointers passed.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Closes every descriptor of the calling process except 0, 1, 2 and `keep`. For a forked
/// child of a multi-threaded parent: descriptors other threads opened (another test's pipes)
/// must not be held open by a long-lived child, or their owners would never see EOF.
/// Only `close_range` system calls: async-signal-safe, no allocation.
pub fn close_fds_except(keep: &[RawFd]) -> io::Result<()> {
    let mut sorted = [0 as RawFd; 8];
    let n = keep.len().min(sorted.len());
    sorted[..n].copy_from_slice(&keep[..n]);
    sorted[..n].sort_unstable();
    let mut from: u32 = 3;
    for &fd in &sorted[..n] {
        let fd = fd as u32;
        if fd > from {
            close_range(from, fd - 1)?;
        }
        if fd + 1 > from {
            from = fd + 1;
        }
    }
    close_range(from, u32::MAX)
}

fn close_range(first: u32, last: u32) -> io::Result<()> {
    // SAFETY: close_range takes plain integers; closing descriptors this child owns (its
    // copies after fork) cannot invalidate memory.
    let rc = unsafe { libc::syscall(libc::SYS_close_range, first, last, 0u32) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spawn_variants_run_true_and_report_false() {
        let t = ExecImage::new("/bin/true", &[]).unwrap();
        t.fork_exec_wait().unwrap();
        t.posix_spawn_wait().unwrap();
        let f = ExecImage::new("/bin/false", &[]).unwrap();
        assert!(f.fork_exec_wait().is_err());
        assert!(f.posix_spawn_wait().is_err());
        let missing = ExecImage::new("/nonexistent/threadbench", &[]).unwrap();
        assert!(missing.fork_exec_wait().is_err());
        assert!(missing.posix_spawn_wait().is_err());
        let mut stack = CloneStack::default();
        vfork_exit_wait(&mut stack).unwrap();
        pthread_create_join().unwrap();
    }
}
