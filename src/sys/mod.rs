//! The only place with `unsafe` and raw `libc`: small, safe wrappers over the system calls the
//! suite needs. Callers read like ordinary safe Rust.
//!
//! Each `unsafe` block carries a `// SAFETY:` line. `nix` is used wherever it has the call;
//! `libc` only for what `nix` lacks (futex, mincore, `_exit`, ...).

#![deny(clippy::undocumented_unsafe_blocks)]

pub mod connect;
pub mod cpu;
pub mod fdset;
pub mod futex;
pub mod limits;
pub mod mmap;
pub mod net;
pub mod pagecache;
pub mod process;
pub mod shm;
pub mod signals;
pub mod spawn;
pub mod uring;
pub mod uring_io;
