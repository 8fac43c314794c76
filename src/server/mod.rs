//! End-to-end static-file HTTP servers: one handler ([`handler`]), ten concurrency models.
//!
//! What it stresses: the whole request path of a real server (accept, read, parse, translate,
//! send) under each concurrency model, so a measured difference is the model alone.
//!
//! ```text
//!   listener ─▶ model (who runs which step when) ─▶ handler steps (shared) ─▶ socket
//!     mp: P processes · mp_fork: fork/conn · mt: T threads · mt_spawn: thread/conn
//!     sped: 1 thread + epoll · amped: sped + helper processes · amted: sped + helper threads
//!     uring: 1 thread + io_uring (completions; non-resident chunks read by the kernel)
//!     sped_n: N sped processes, one per core, SO_REUSEPORT
//!     tokio: work-stealing runtime, a task per connection, spawn_blocking for the disk
//! ```
//!
//! Layers inside, arrows down only: the models (`mp`, `mt` → [`blocking`]; `amped`, `sped_n`
//! → `sped`; `tokio_rt`)
//! → [`helpers`] (the helper pools) and [`accept`] (the accept shell) → [`handler`] (the
//! steps, caches, HTTP) → `crate::sys`. Invariant: every model calls the same handler steps
//! (`parse → translate → header → body`, a [`handler::Session`] per connection) and differs
//! only in who runs them when.
//!
//! Metric (next issue): requests/s and server CPU per request from [`stats`] over the whole
//! process tree. Not measured here: TLS, dynamic content, HTTP/2.

pub mod accept;
pub mod amped;
pub mod blocking;
pub mod handler;
pub mod helpers;
pub mod mp;
pub mod mt;
pub mod sped;
pub mod sped_n;
pub mod stats;
pub mod tokio_rt;
pub mod uring;

pub use accept::bind;

use crate::sys::signals::stop_requested;
use handler::{Handler, HandlerConfig};
use std::io::{self, Write};
use std::net::SocketAddr;

/// The concurrency models; [`Model::name`] is the function part of the server benchmark ids
/// and the value of `serve --model`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, clap::ValueEnum)]
pub enum Model {
    #[value(name = "mp")]
    Mp,
    #[value(name = "mp_fork")]
    MpFork,
    #[value(name = "mt")]
    Mt,
    #[value(name = "mt_spawn")]
    MtSpawn,
    #[value(name = "sped")]
    Sped,
    #[value(name = "amped")]
    Amped,
    #[value(name = "amted")]
    Amted,
    #[value(name = "uring")]
    Uring,
    #[value(name = "sped_n")]
    SpedN,
    #[value(name = "tokio")]
    Tokio,
}

impl Model {
    pub const ALL: [Model; 10] = [
        Model::Mp,
        Model::MpFork,
        Model::Mt,
        Model::MtSpawn,
        Model::Sped,
        Model::Amped,
        Model::Amted,
        Model::Uring,
        Model::SpedN,
        Model::Tokio,
    ];
    pub fn name(self) -> &'static str {
        match self {
            Model::Mp => "mp",
            Model::MpFork => "mp_fork",
            Model::Mt => "mt",
            Model::MtSpawn => "mt_spawn",
            Model::Sped => "sped",
            Model::Amped => "amped",
            Model::Amted => "amted",
            Model::Uring => "uring",
            Model::SpedN => "sped_n",
            Model::Tokio => "tokio",
        }
    }
    pub fn parse(s: &str) -> Option<Model> {
        Model::ALL.into_iter().find(|m| m.name() == s)
    }
    /// Whether this machine can run the model: `Err` says why not in one line (io_uring
    /// missing or disabled); every other model runs everywhere.
    pub fn available(self) -> Result<(), String> {
        match self {
            Model::Uring => uring::available(),
            _ => Ok(()),
        }
    }
}

impl std::fmt::Display for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Everything a model needs.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub model: Model,
    pub bind: SocketAddr,
    pub cores: Vec<usize>,
    pub processes: usize,
    pub threads: usize,
    /// amped/amted: helper processes or threads; tokio: its blocking pool's threads.
    pub helpers: usize,
    /// sped_n: event loops (processes); 0: one per server core.
    pub loops: usize,
    pub backlog: i32,
    pub handler: HandlerConfig,
}

/// Pins the calling thread to the server cores (no-op on an empty list).
pub fn pin(cores: &[usize]) -> io::Result<()> {
    if cores.is_empty() {
        return Ok(());
    }
    crate::pin::pin_current_thread_to_set(cores)
}

/// Runs a server until SIGTERM/SIGINT. Prints `listening on ip:port` once the socket accepts.
/// Must be called before the process creates any thread (the forking models rely on it).
pub fn serve(cfg: ServeConfig) -> io::Result<()> {
    // Before anything else: a model this kernel cannot run fails with its reason alone.
    cfg.model
        .available()
        .map_err(|why| io::Error::new(io::ErrorKind::Unsupported, why))?;
    crate::sys::signals::install_stop_handlers()?;
    pin(&cfg.cores)?;
    let handler = Handler::new(cfg.handler.clone())?;
    let listener = match cfg.model {
        // Its first listener opens the port's SO_REUSEPORT group (the others join it).
        Model::SpedN => sped_n::bind(cfg.bind, cfg.backlog)?,
        _ => bind(cfg.bind, cfg.backlog)?,
    };
    let local = listener.local_addr()?;
    let announce = move || -> io::Result<()> {
        let mut out = io::stdout().lock();
        writeln!(out, "listening on {local}")?;
        out.flush()
    };
    let r = match cfg.model {
        Model::Mp => mp::run_prefork(&cfg, listener, announce),
        Model::MpFork => mp::run_fork_per_conn(&cfg, listener, handler, announce),
        Model::Mt => mt::run_pool(&cfg, listener, handler, announce),
        Model::MtSpawn => mt::run_spawn(&cfg, listener, handler, announce),
        Model::Sped => sped::run(&cfg, listener, handler, None, announce),
        Model::Amped | Model::Amted => amped::run(&cfg, listener, handler, announce),
        Model::Uring => uring::run(&cfg, listener, handler, announce),
        Model::SpedN => sped_n::run(&cfg, listener, announce),
        // The runtime's threads are created in here, after the forking models' dispatch.
        Model::Tokio => tokio_rt::run(&cfg, listener, handler, announce),
    };
    let _ = stop_requested();
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cli_spells_every_model_as_its_id() {
        for m in Model::ALL {
            let v = clap::ValueEnum::to_possible_value(&m).expect("a value");
            assert_eq!(v.get_name(), m.name());
            assert_eq!(Model::parse(m.name()), Some(m));
        }
    }
}
