//! The results layer and everything that reads it: machine metadata (`env.json`), the
//! artefacts and their provenance ([`results`]), the HTML report, the findings, baseline
//! comparison and the benches' derived summaries.

pub mod bench_ref;
pub mod compare;
pub mod env;
pub mod findings;
pub mod history;
pub mod html;
pub mod results;
pub mod server_results;
pub mod summaries;
pub mod twins;
