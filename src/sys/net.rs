//! `listen(2)` again on a bound std listener to set the configured backlog (std picks its own);
//! socket timeouts; entering a network namespace (the two-host mode).

use std::io;
use std::net::TcpListener;
use std::os::fd::AsRawFd;

/// Sets the listen backlog of an already listening socket.
pub fn set_backlog(l: &TcpListener, backlog: i32) -> io::Result<()> {
    // SAFETY: plain system call on a valid, owned listening socket.
    let rc = unsafe { libc::listen(l.as_raw_fd(), backlog) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Makes a blocking `accept` on `l` return EAGAIN after `ms` (SO_RCVTIMEO applies to accept
/// on Linux): pool members block in accept — one woken per connection, no thundering herd —
/// yet still notice a stop request.
pub fn set_accept_timeout(l: &TcpListener, ms: u64) -> io::Result<()> {
    let tv = libc::timeval {
        tv_sec: (ms / 1000) as libc::time_t,
        tv_usec: ((ms % 1000) * 1000) as libc::suseconds_t,
    };
    // SAFETY: valid socket, pointer and length describe a live `timeval`.
    let rc = unsafe {
        libc::setsockopt(
            l.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            &tv as *const libc::timeval as *const libc::c_void,
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Moves the calling thread (only it: `setns` changes the caller's namespaces) into the
/// network namespace at `path` (`/run/netns/<name>`, as `ip netns add` makes it); sockets it
/// opens afterwards belong to that namespace's TCP stack.
pub fn enter_netns(path: &std::path::Path) -> io::Result<()> {
    let ns = std::fs::File::open(path)
        .map_err(|e| io::Error::new(e.kind(), format!("opening {}: {e}", path.display())))?;
    nix::sched::setns(ns, nix::sched::CloneFlags::CLONE_NEWNET).map_err(|e| {
        io::Error::new(
            io::Error::from(e).kind(),
            format!("entering network namespace {}: {e}", path.display()),
        )
    })
}
