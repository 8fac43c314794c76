//! `amped` (helper processes) and `amted` (helper threads): the `sped` event loop plus
//! [`Helpers`] that run the handler's two blocking steps for it — the lookup of a
//! pathname-translation-cache miss and the paging of non-resident body chunks — so the loop
//! never waits on the disk (Flash's AMPED design; AMTED is its threaded variant).
//!
//! ```text
//!  sped loop ──translate miss / page chunk──▶ helper × H (processes | threads)
//!      ▲                                           │
//!      └──────────── file metadata / paged ◀───────┘
//! ```
//!
//! The number of jobs is printed on shutdown (`helper_jobs=N translate_jobs=M` on stderr).

use super::handler::Handler;
use super::helpers::{HelperKind, Helpers};
use super::{sped, Model, ServeConfig};
use std::io;
use std::net::TcpListener;

pub fn run(
    cfg: &ServeConfig,
    l: TcpListener,
    h: Handler,
    announce: impl FnOnce() -> io::Result<()>,
) -> io::Result<()> {
    let kind = match cfg.model {
        Model::Amped => HelperKind::Processes,
        _ => HelperKind::Threads,
    };
    let helpers = Helpers::start(cfg.helpers, kind, &cfg.cores, h.docroot())?;
    sped::run(cfg, l, h, Some(helpers), announce)
}
