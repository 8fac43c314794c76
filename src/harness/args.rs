//! What a bench binary was asked to do, read from the same command line criterion reads
//! (`cargo bench -- <flags> [FILTER]`), so the suite can tell — before it starts a server or
//! writes a file — whether this run measures anything and which benchmark ids it selects.
//! Criterion keeps both private; the rules here mirror criterion 0.8's `configure_from_args`.

use regex::Regex;

/// What criterion will do with the benchmarks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Measure and analyse (`cargo bench`).
    Benchmark,
    /// Run each benchmark once, unmeasured (`cargo test`, `--test`).
    Test,
    /// `--list`: print ids, run nothing.
    List,
    /// `--profile-time`: iterate for a profiler, analyse nothing.
    Profile,
    /// `--help` / `--version`: criterion prints and exits.
    Help,
}

/// Which benchmark ids run.
#[derive(Debug, Clone)]
pub enum Filter {
    All,
    Regex(Regex),
    Exact(String),
    /// `--ignored`: criterion runs none.
    None,
}

impl Filter {
    pub fn matches(&self, id: &str) -> bool {
        match self {
            Filter::All => true,
            Filter::Regex(r) => r.is_match(id),
            Filter::Exact(e) => e == id,
            Filter::None => false,
        }
    }
}

/// The parsed command line.
#[derive(Debug, Clone)]
pub struct RunArgs {
    pub mode: Mode,
    pub filter: Filter,
}

/// Criterion's options that take a value (long name, short letter).
const WITH_VALUE: [(&str, Option<char>); 16] = [
    ("color", Some('c')),
    ("save-baseline", Some('s')),
    ("baseline", Some('b')),
    ("baseline-lenient", None),
    ("format", None),
    ("profile-time", None),
    ("load-baseline", None),
    ("sample-size", None),
    ("warm-up-time", None),
    ("measurement-time", None),
    ("nresamples", None),
    ("noise-threshold", None),
    ("confidence-level", None),
    ("significance-level", None),
    ("plotting-backend", None),
    ("output-format", None),
];

impl RunArgs {
    /// Parses `args` (without the program name). A filter that is not a valid regex is an
    /// error, as in criterion.
    pub fn parse<S: AsRef<str>>(args: &[S]) -> Result<RunArgs, String> {
        let mut flags: Vec<&str> = Vec::new();
        let mut filter_text: Option<&str> = None;
        let mut it = args.iter().map(|a| a.as_ref());
        while let Some(a) = it.next() {
            if let Some(long) = a.strip_prefix("--") {
                if long.is_empty() {
                    // `--`: the rest are positional.
                    filter_text = filter_text.or(it.next());
                    break;
                }
                let name = long.split_once('=').map_or(long, |(n, _)| n);
                let takes_value = WITH_VALUE.iter().any(|(l, _)| *l == name);
                if takes_value && !long.contains('=') {
                    it.next();
                }
                flags.push(name);
            } else if let Some(short) = a.strip_prefix('-').filter(|s| !s.is_empty()) {
                let c = short.chars().next().expect("non-empty");
                if WITH_VALUE.iter().any(|(_, s)| *s == Some(c)) && short.len() == 1 {
                    it.next();
                }
                flags.push(match c {
                    'h' => "help",
                    'V' => "version",
                    _ => "short",
                });
            } else if filter_text.is_none() {
                filter_text = Some(a);
            }
        }
        let has = |f: &str| flags.contains(&f);
        let mode = if has("help") || has("version") {
            Mode::Help
        } else if has("list") {
            Mode::List
        } else if !has("bench") || has("test") {
            Mode::Test
        } else if has("profile-time") {
            Mode::Profile
        } else {
            Mode::Benchmark
        };
        let filter = if has("ignored") {
            Filter::None
        } else {
            match filter_text {
                None => Filter::All,
                Some(f) if has("exact") => Filter::Exact(f.to_owned()),
                Some(f) => Filter::Regex(
                    Regex::new(f).map_err(|e| format!("invalid filter regex {f:?}: {e}"))?,
                ),
            }
        };
        Ok(RunArgs { mode, filter })
    }

    /// Whether criterion will run benchmark `id` at all (measured or in test mode).
    pub fn runs(&self, id: &str) -> bool {
        matches!(self.mode, Mode::Benchmark | Mode::Test | Mode::Profile) && self.filter.matches(id)
    }

    /// Whether benchmark `id` is measured and analysed in this run.
    pub fn measures(&self, id: &str) -> bool {
        self.mode == Mode::Benchmark && self.filter.matches(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> RunArgs {
        RunArgs::parse(args).expect("parses")
    }

    #[test]
    fn modes_follow_criterion() {
        assert_eq!(
            p(&[]).mode,
            Mode::Test,
            "cargo test runs benches without --bench"
        );
        assert_eq!(p(&["--bench"]).mode, Mode::Benchmark);
        assert_eq!(p(&["--bench", "--test"]).mode, Mode::Test);
        assert_eq!(p(&["--bench", "--list"]).mode, Mode::List);
        assert_eq!(p(&["--list", "--format", "terse"]).mode, Mode::List);
        assert_eq!(p(&["--bench", "--help"]).mode, Mode::Help);
        assert_eq!(p(&["--bench", "-h"]).mode, Mode::Help);
        assert_eq!(p(&["--bench", "--profile-time", "5"]).mode, Mode::Profile);
        assert_eq!(
            p(&["--bench", "--save-baseline", "base", "--quick"]).mode,
            Mode::Benchmark
        );
    }

    #[test]
    fn filters_skip_option_values() {
        // `base` is the baseline's name, not a filter.
        let a = p(&["--bench", "--save-baseline", "base", "^spawn/"]);
        assert!(a.measures("spawn/fork_exit_wait"));
        assert!(!a.measures("server_conns/mt_spawn/64"), "anchored");
        assert!(
            !a.measures("spawn_rss/fork_exit_wait/1"),
            "'^spawn/' is one group"
        );
        let a = p(&["--bench", "-b", "base"]);
        assert!(a.measures("anything/at/all"));
        let a = p(&["--bench", "--baseline=base", "spawn/"]);
        assert!(
            a.measures("server_conns/mt_spawn/64"),
            "a substring regex, as criterion's"
        );
        let a = p(&["--bench", "--exact", "spawn/fork_exit_wait"]);
        assert!(a.measures("spawn/fork_exit_wait") && !a.measures("spawn/fork_exit_wait2"));
        let a = p(&["--bench", "--ignored"]);
        assert!(!a.measures("spawn/fork_exit_wait"));
        let a = p(&["--bench", "--list", "spawn"]);
        assert!(!a.runs("spawn/fork_exit_wait"), "--list runs nothing");
        let a = p(&["spawn"]);
        assert!(
            a.runs("spawn/x") && !a.measures("spawn/x"),
            "test mode runs, never measures"
        );
        assert!(RunArgs::parse(&["--bench", "("]).is_err());
    }
}
