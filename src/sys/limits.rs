//! Resource limits: the descriptor limit the event-scan and server benches need.

use nix::sys::resource::{getrlimit, setrlimit, Resource};
use std::io;

/// RLIMIT_NOFILE after [`raise_nofile`]: the soft limit now in force and the hard cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NofileLimit {
    pub soft: u64,
    pub hard: u64,
}

/// The current RLIMIT_NOFILE.
pub fn nofile() -> io::Result<NofileLimit> {
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE)?;
    Ok(NofileLimit { soft, hard })
}

/// Raises RLIMIT_NOFILE's soft limit to the hard limit (an unprivileged process cannot go
/// higher; some machines cap the hard limit low, e.g. 20 000) and returns what is in force.
pub fn raise_nofile() -> io::Result<NofileLimit> {
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE)?;
    if soft < hard {
        setrlimit(Resource::RLIMIT_NOFILE, hard, hard)?;
    }
    nofile()
}

/// Sets RLIMIT_NOFILE (soft and hard) of another process (`prlimit`); tests use it to drive
/// a server into EMFILE.
pub fn set_nofile_of(pid: i32, limit: u64) -> io::Result<()> {
    let new = libc::rlimit {
        rlim_cur: limit as libc::rlim_t,
        rlim_max: limit as libc::rlim_t,
    };
    // SAFETY: `new` is a live rlimit; the old-limit pointer may be null.
    let rc = unsafe { libc::prlimit(pid, libc::RLIMIT_NOFILE, &new, std::ptr::null_mut()) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
