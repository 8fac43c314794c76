//! The `uring` server model's io_uring, behind a safe interface: multishot accept, recv into a
//! growing buffer, writev of two byte slices, read from a file — each op tagged with the
//! caller's number — and one `io_uring_enter` per loop turn that submits everything queued and
//! waits for a completion or a timeout.
//!
//! Ownership, the one thing that makes this safe: a buffer the kernel reads or writes is
//! **moved into the ring** with its op and handed back only with the op's completion
//! ([`Done`]). The caller cannot touch, move or free it meanwhile, whatever happens to the
//! connection it belongs to (closed by a timeout, a reset, the shutdown). Outstanding ops at
//! drop have their buffers leaked rather than freed under the kernel. Descriptors are looked
//! up by number when an op is submitted and held by the kernel until it completes: closing
//! the caller's descriptor early is safe (the op then completes on the old file).
//!
//! [`probe`] says whether this kernel can run the model at all, and why not in one line.

use io_uring::{cqueue, opcode, types, IoUring, Probe};
use std::fs::File;
use std::io;
use std::net::TcpStream;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::sync::Arc;
use std::time::Duration;

/// Set (to anything but `0` or empty) to make [`probe`] fail as if the kernel refused
/// io_uring: how the skip paths are exercised on a machine that has it.
pub const DISABLE_ENV: &str = "THREADBENCH_URING_DISABLE";

const SYSCTL: &str = "/proc/sys/kernel/io_uring_disabled";

/// Why io_uring_setup failed, in one line, from its errno and
/// `/proc/sys/kernel/io_uring_disabled` (`None`: not readable, e.g. a kernel before 6.6).
pub fn explain_setup_error(errno: Option<i32>, disabled: Option<u32>) -> String {
    match (errno, disabled) {
        (Some(libc::ENOSYS), _) => {
            "this kernel has no io_uring (io_uring_setup: ENOSYS)".to_string()
        }
        (Some(libc::EPERM), Some(2)) => {
            format!("io_uring is disabled on this machine ({SYSCTL} = 2)")
        }
        (Some(libc::EPERM), Some(1)) => format!(
            "io_uring is disabled for processes without CAP_SYS_ADMIN outside \
             kernel.io_uring_group ({SYSCTL} = 1)"
        ),
        (Some(libc::EPERM), _) => "io_uring_setup was refused (EPERM): a seccomp filter or \
                                   container policy forbids io_uring"
            .to_string(),
        (Some(e), _) => format!("io_uring_setup failed: {}", io::Error::from_raw_os_error(e)),
        (None, _) => "io_uring_setup failed".to_string(),
    }
}

fn sysctl_disabled() -> Option<u32> {
    std::fs::read_to_string(SYSCTL).ok()?.trim().parse().ok()
}

/// Ok when this process can run the `uring` model: a ring can be set up, it takes a wait
/// timeout in `io_uring_enter` (IORING_FEAT_EXT_ARG, 5.11) and knows every op the model
/// submits. Err: one line saying why not.
pub fn probe() -> Result<(), String> {
    if std::env::var(DISABLE_ENV).is_ok_and(|v| !v.is_empty() && v != "0") {
        return Err(format!("io_uring disabled by {DISABLE_ENV}"));
    }
    let ring =
        IoUring::new(8).map_err(|e| explain_setup_error(e.raw_os_error(), sysctl_disabled()))?;
    if !ring.params().is_feature_ext_arg() {
        return Err(
            "this kernel's io_uring lacks IORING_FEAT_EXT_ARG (a wait timeout; 5.11)".into(),
        );
    }
    let mut p = Probe::new();
    ring.submitter()
        .register_probe(&mut p)
        .map_err(|e| format!("io_uring: IORING_REGISTER_PROBE failed: {e}"))?;
    for (code, name) in [
        (opcode::Accept::CODE, "ACCEPT"),
        (opcode::Recv::CODE, "RECV"),
        (opcode::Writev::CODE, "WRITEV"),
        (opcode::Read::CODE, "READ"),
    ] {
        if !p.is_supported(code) {
            return Err(format!("this kernel's io_uring lacks IORING_OP_{name}"));
        }
    }
    Ok(())
}

/// An op in flight and what it owns until its completion.
enum Op<K> {
    Accept {
        tag: u64,
        multishot: bool,
    },
    Recv {
        tag: u64,
        buf: Vec<u8>,
    },
    /// `iov` points into `keep` (boxed: it does not move when the slab grows).
    Writev {
        tag: u64,
        keep: Box<K>,
        _iov: Box<[libc::iovec; 2]>,
    },
    Read {
        tag: u64,
        buf: Vec<u8>,
        _file: Arc<File>,
    },
}

/// A completed op, with what the caller moved into it.
pub enum Done<K> {
    /// A connection (or the error that ended the accept); `more`: the multishot accept goes
    /// on, else the caller re-arms it.
    Accepted {
        tag: u64,
        result: io::Result<TcpStream>,
        more: bool,
    },
    /// `buf` grew by the bytes received (`Ok(0)`: end of stream).
    Received {
        tag: u64,
        result: io::Result<usize>,
        buf: Vec<u8>,
    },
    /// Bytes written from the two slices (a short write is possible).
    Written {
        tag: u64,
        result: io::Result<usize>,
        keep: Box<K>,
    },
    /// `buf` holds the bytes read (`Ok(n)`, `buf.len() == n`).
    Read {
        tag: u64,
        result: io::Result<usize>,
        buf: Vec<u8>,
    },
}

impl<K> Done<K> {
    /// The caller's tag of the op.
    pub fn tag(&self) -> u64 {
        match self {
            Done::Accepted { tag, .. }
            | Done::Received { tag, .. }
            | Done::Written { tag, .. }
            | Done::Read { tag, .. } => *tag,
        }
    }
}

fn result(res: i32) -> io::Result<usize> {
    if res < 0 {
        Err(io::Error::from_raw_os_error(-res))
    } else {
        Ok(res as usize)
    }
}

/// One io_uring and the ops it has in flight. `K` is what a write keeps alive (the caller's
/// response: its head and mapped body).
pub struct ConnRing<K> {
    ring: IoUring,
    ops: Vec<Option<Op<K>>>,
    free: Vec<usize>,
    in_flight: usize,
}

impl<K> ConnRing<K> {
    /// A ring with room for `sq_entries` submissions per enter (completions: 4×). Tries
    /// `SINGLE_ISSUER | DEFER_TASKRUN` (6.1: completion work runs only in our enter, batched,
    /// never interrupting the loop), then `COOP_TASKRUN` (5.19), then no flags. Must be used by
    /// the thread that creates it.
    pub fn new(sq_entries: u32) -> io::Result<ConnRing<K>> {
        let sq = sq_entries.clamp(64, 4096).next_power_of_two();
        let build = |flags: u8| {
            let mut b = IoUring::builder();
            b.setup_cqsize(4 * sq);
            match flags {
                2 => {
                    b.setup_single_issuer().setup_defer_taskrun();
                }
                1 => {
                    b.setup_coop_taskrun();
                }
                _ => {}
            }
            b.build(sq)
        };
        let ring = build(2).or_else(|_| build(1)).or_else(|_| build(0))?;
        Ok(ConnRing {
            ring,
            ops: Vec::new(),
            free: Vec::new(),
            in_flight: 0,
        })
    }

    /// Ops submitted (or queued) and not yet completed.
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    fn slot(&mut self, op: Op<K>) -> usize {
        self.in_flight += 1;
        match self.free.pop() {
            Some(i) => {
                self.ops[i] = Some(op);
                i
            }
            None => {
                self.ops.push(Some(op));
                self.ops.len() - 1
            }
        }
    }

    /// Queues `sqe` (its user data is the op's slot), submitting first if the queue is full.
    /// On error the op is taken back out and returned to the caller.
    fn push(&mut self, sqe: io_uring::squeue::Entry, op: Op<K>) -> Result<(), (io::Error, Op<K>)> {
        if self.ring.submission().is_full() {
            if let Err(e) = self.ring.submit() {
                return Err((e, op));
            }
        }
        let i = self.slot(op);
        let sqe = sqe.user_data(i as u64);
        // SAFETY: every pointer in `sqe` points into memory owned by `self.ops[i]` (a Vec's
        // heap buffer, a boxed iovec array into a boxed `K`, whose borrows were taken from the
        // box: neither moves while the slot holds it) or is none; the slot is released only
        // when the op's completion arrives (or leaked on drop), so the memory outlives the op.
        let pushed = unsafe { self.ring.submission().push(&sqe) };
        if pushed.is_err() {
            let op = self.release(i).expect("the op just queued");
            return Err((io::Error::other("io_uring submission queue full"), op));
        }
        Ok(())
    }

    fn release(&mut self, i: usize) -> Option<Op<K>> {
        let op = self.ops.get_mut(i)?.take()?;
        self.free.push(i);
        self.in_flight -= 1;
        Some(op)
    }

    /// Accepts connections on `listener` (CLOEXEC, non-blocking), many completions for one
    /// submission when `multishot` (5.19), else one.
    pub fn accept(
        &mut self,
        listener: BorrowedFd<'_>,
        tag: u64,
        multishot: bool,
    ) -> io::Result<()> {
        let fd = types::Fd(listener.as_raw_fd());
        let flags = libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK;
        let sqe = if multishot {
            opcode::AcceptMulti::new(fd).flags(flags).build()
        } else {
            opcode::Accept::new(fd, std::ptr::null_mut(), std::ptr::null_mut())
                .flags(flags)
                .build()
        };
        self.push(sqe, Op::Accept { tag, multishot })
            .map_err(|(e, _)| e)
    }

    /// Receives at most `max` bytes from `sock`, appended to `buf` (which the ring keeps until
    /// the completion gives it back). Err: not queued, `buf` returned.
    pub fn recv(
        &mut self,
        sock: BorrowedFd<'_>,
        mut buf: Vec<u8>,
        max: usize,
        tag: u64,
    ) -> Result<(), (io::Error, Vec<u8>)> {
        buf.reserve(max);
        let spare = buf.spare_capacity_mut();
        let len = spare.len().min(max).min(u32::MAX as usize) as u32;
        let ptr = spare.as_mut_ptr() as *mut u8;
        let sqe = opcode::Recv::new(types::Fd(sock.as_raw_fd()), ptr, len).build();
        self.push(sqe, Op::Recv { tag, buf })
            .map_err(|(e, op)| match op {
                Op::Recv { buf, .. } => (e, buf),
                _ => unreachable!("a recv op"),
            })
    }

    /// Writes the (up to) two slices `slices(&keep)` returns to `sock` with one writev;
    /// `keep` stays in the ring until the completion gives it back. Err: not queued.
    pub fn writev(
        &mut self,
        sock: BorrowedFd<'_>,
        keep: Box<K>,
        slices: impl for<'a> Fn(&'a K) -> [&'a [u8]; 2],
        tag: u64,
    ) -> Result<(), (io::Error, Box<K>)> {
        let [a, b] = slices(&keep);
        let iov = Box::new([a, b].map(|s| libc::iovec {
            iov_base: s.as_ptr() as *mut libc::c_void,
            iov_len: s.len(),
        }));
        let n = if b.is_empty() { 1 } else { 2 };
        let sqe = opcode::Writev::new(types::Fd(sock.as_raw_fd()), iov.as_ptr(), n).build();
        self.push(
            sqe,
            Op::Writev {
                tag,
                keep,
                _iov: iov,
            },
        )
        .map_err(|(e, op)| match op {
            Op::Writev { keep, .. } => (e, keep),
            _ => unreachable!("a writev op"),
        })
    }

    /// Reads `len` bytes of `file` at `offset` into a new buffer (buffered reads that miss
    /// the page cache complete asynchronously: the kernel's async buffered read or its io-wq
    /// workers, never this thread).
    pub fn read(&mut self, file: &Arc<File>, offset: u64, len: usize, tag: u64) -> io::Result<()> {
        let mut buf = Vec::with_capacity(len);
        let ptr = buf.spare_capacity_mut().as_mut_ptr() as *mut u8;
        let sqe = opcode::Read::new(types::Fd(file.as_raw_fd()), ptr, len as u32)
            .offset(offset)
            .build();
        self.push(
            sqe,
            Op::Read {
                tag,
                buf,
                _file: file.clone(),
            },
        )
        .map_err(|(e, _)| e)
    }

    /// One `io_uring_enter`: submits everything queued and waits until a completion is ready
    /// or `timeout` passed (or a signal came), then moves every ready completion to `out`.
    pub fn submit_and_wait(&mut self, timeout: Duration, out: &mut Vec<Done<K>>) -> io::Result<()> {
        let ts = types::Timespec::from(timeout);
        let args = types::SubmitArgs::new().timespec(&ts);
        match self.ring.submitter().submit_with_args(1, &args) {
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::ETIME | libc::EINTR | libc::EBUSY)
                ) => {}
            Err(e) => return Err(e),
        }
        let cqes: Vec<(u64, i32, u32)> = self
            .ring
            .completion()
            .map(|c| (c.user_data(), c.result(), c.flags()))
            .collect();
        for (ud, res, flags) in cqes {
            if let Some(d) = self.complete(ud as usize, res, flags) {
                out.push(d);
            }
        }
        Ok(())
    }

    fn complete(&mut self, i: usize, res: i32, flags: u32) -> Option<Done<K>> {
        if let Some(Some(Op::Accept {
            tag,
            multishot: true,
        })) = self.ops.get(i)
        {
            let tag = *tag;
            let more = cqueue::more(flags);
            if !more {
                self.release(i);
            }
            return Some(Done::Accepted {
                tag,
                result: accepted(res),
                more,
            });
        }
        Some(match self.release(i)? {
            Op::Accept { tag, .. } => Done::Accepted {
                tag,
                result: accepted(res),
                more: false,
            },
            Op::Recv { tag, mut buf } => {
                let result = result(res);
                if let Ok(n) = result {
                    let len = buf.len() + n;
                    debug_assert!(len <= buf.capacity());
                    // SAFETY: the kernel wrote `n` bytes into the spare capacity that began at
                    // `buf.len()` and had room for at least `n` (the recv's length), so the
                    // first `len` bytes are initialised.
                    unsafe { buf.set_len(len.min(buf.capacity())) };
                }
                Done::Received { tag, result, buf }
            }
            Op::Writev { tag, keep, .. } => Done::Written {
                tag,
                result: result(res),
                keep,
            },
            Op::Read { tag, mut buf, .. } => {
                let result = result(res);
                if let Ok(n) = result {
                    // SAFETY: as for recv: the kernel wrote `n` ≤ capacity bytes from the start.
                    unsafe { buf.set_len(n.min(buf.capacity())) };
                }
                Done::Read { tag, result, buf }
            }
        })
    }
}

fn accepted(res: i32) -> io::Result<TcpStream> {
    if res < 0 {
        return Err(io::Error::from_raw_os_error(-res));
    }
    // SAFETY: a successful accept's result is a new descriptor that nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(res as RawFd) };
    Ok(TcpStream::from(fd))
}

impl<K> Drop for ConnRing<K> {
    fn drop(&mut self) {
        // The kernel may still write into (or read from) the buffers of ops in flight until
        // its exit work cancels them, after the ring's descriptor is closed: leak them.
        for op in self.ops.drain(..).flatten() {
            std::mem::forget(op);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpListener;
    use std::os::fd::AsFd;

    #[test]
    fn setup_errors_say_why_in_one_line() {
        let cases = [
            (Some(libc::ENOSYS), None, "no io_uring"),
            (Some(libc::EPERM), Some(2), "io_uring_disabled = 2"),
            (Some(libc::EPERM), Some(1), "io_uring_group"),
            (Some(libc::EPERM), Some(0), "seccomp"),
            (Some(libc::EPERM), None, "seccomp"),
            (Some(libc::ENOMEM), Some(0), "failed"),
        ];
        for (errno, sysctl, want) in cases {
            let s = explain_setup_error(errno, sysctl);
            assert!(s.contains(want), "{errno:?} {sysctl:?}: {s}");
            assert!(!s.contains('\n'), "{s}");
        }
    }

    fn ring() -> Option<ConnRing<Vec<u8>>> {
        if let Err(why) = probe() {
            eprintln!("skipping: {why}");
            return None;
        }
        Some(ConnRing::new(64).expect("a ring after a successful probe"))
    }

    /// Accept, recv, writev and read round trip on loopback; buffers come back with the data.
    #[test]
    fn ops_round_trip_their_buffers() {
        let Some(mut r) = ring() else { return };
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        r.accept(l.as_fd(), 1, true).expect("accept");
        let mut c = TcpStream::connect(l.local_addr().unwrap()).expect("connect");
        let mut done = Vec::new();
        let mut server = None;
        while server.is_none() {
            r.submit_and_wait(Duration::from_secs(2), &mut done)
                .unwrap();
            for d in done.drain(..) {
                if let Done::Accepted {
                    tag: 1,
                    result,
                    more,
                } = d
                {
                    assert!(more, "multishot accept ended");
                    server = Some(result.expect("accepted"));
                }
            }
        }
        let s = server.unwrap();
        c.write_all(b"hello").unwrap();
        r.recv(s.as_fd(), b"ab".to_vec(), 100, 2)
            .map_err(|e| e.0)
            .unwrap();
        let keep = Box::new(b"head|body".to_vec());
        r.writev(s.as_fd(), keep, |k| [&k[..5], &k[5..]], 3)
            .map_err(|e| e.0)
            .unwrap();
        let f = Arc::new(File::open("/proc/self/exe").expect("open"));
        let mut head = [0u8; 4];
        (&*f).read_exact(&mut head).unwrap();
        r.read(&f, 0, 4, 4).unwrap();
        let mut seen = 0;
        while seen < 3 {
            r.submit_and_wait(Duration::from_secs(2), &mut done)
                .unwrap();
            for d in done.drain(..) {
                seen += 1;
                match d {
                    Done::Received { tag, result, buf } => {
                        assert_eq!((tag, result.unwrap()), (2, 5));
                        assert_eq!(buf, b"abhello");
                    }
                    Done::Written { tag, result, keep } => {
                        assert_eq!((tag, result.unwrap()), (3, 9));
                        assert_eq!(*keep, b"head|body");
                    }
                    Done::Read { tag, result, buf } => {
                        assert_eq!((tag, result.unwrap()), (4, 4));
                        assert_eq!(buf, head);
                    }
                    Done::Accepted { .. } => panic!("no second connection"),
                }
            }
        }
        let mut got = [0u8; 9];
        c.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"head|body");
        assert_eq!(r.in_flight(), 1, "the multishot accept stays armed");
        // Ops left in flight at drop (the accept, a recv) leak their buffers, never free them.
        r.recv(s.as_fd(), Vec::new(), 16, 5)
            .map_err(|e| e.0)
            .unwrap();
        r.submit_and_wait(Duration::ZERO, &mut done).unwrap();
        drop(r);
    }
}
