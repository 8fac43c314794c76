//! # threadbench
//!
//! Multi-process vs multi-threaded vs event-driven, measured on the machine it runs on.
//!
//! Module map:
//! - [`sys`]: the only module with `unsafe`/libc (fork helpers, child guard, limits, CPUs).
//! - [`ids`]: the registry of benchmark groups ([`ids::Group`]); [`stats`]: median, slope.
//! - [`pin`]: [`pin::CorePlan`], which cores the server/peers and the load generator use.
//! - [`profile`]: `target-profiles/*.toml` → [`profile::Profile`].
//! - [`harness`]: what every bench binary does around criterion (and the per-group clock).
//! - [`regress`]: paired base/head rounds until every benchmark is decided (`threadbench regress`).
//! - [`blocks`]: workloads the focused benches time.
//! - [`load`]: the HTTP load generator, workloads (file sets), end-to-end server bench machinery.
//! - [`report`]: machine metadata and the suite's own output under `target/threadbench/`.
//! - [`procfs`]: reading `/proc` (children, descriptors, process states).
//! - [`server`]: the static-file HTTP server, its ten concurrency models and tree stats.
//! - [`reference`]: real servers (Apache prefork/worker/event, nginx, lighttpd) as lanes of the
//!   server groups beside our models: their configuration from the profile, and [`reference::Lane`].
//!
//! Invariants: `unsafe` only in `sys`; everything started is stopped (see
//! [`sys::process::ChildGuard`]); in pinned runs server and load generator never share a core.

#![deny(unsafe_code)]

pub mod blocks;
pub mod e2e;
pub mod harness;
pub mod ids;
pub mod load;
pub mod pin;
pub mod procfs;
pub mod profile;
pub mod reference;
pub mod regress;
pub mod report;
pub mod rng;
pub mod server;
pub mod stats;
#[allow(unsafe_code)]
pub mod sys;
