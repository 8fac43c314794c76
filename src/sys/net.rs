//! `listen(2)` again on a bound std listener to set the configured backlog (std picks its own).

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
