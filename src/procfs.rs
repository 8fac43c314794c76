//! Reading `/proc`: children of a process, open descriptors, zombie checks. Used by hygiene
//! tests and by the server benches' process-tree statistics.

use std::io;

/// Direct children of `pid` (all its threads' children).
pub fn children(pid: i32) -> io::Result<Vec<i32>> {
    let mut kids = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))? {
        let path = task?.path().join("children");
        if let Ok(text) = std::fs::read_to_string(path) {
            kids.extend(
                text.split_whitespace()
                    .filter_map(|s| s.parse::<i32>().ok()),
            );
        }
    }
    kids.sort_unstable();
    kids.dedup();
    Ok(kids)
}

/// All descendants of `pid`, depth first.
pub fn descendants(pid: i32) -> Vec<i32> {
    let mut out = Vec::new();
    let mut stack = children(pid).unwrap_or_default();
    while let Some(p) = stack.pop() {
        out.push(p);
        stack.extend(children(p).unwrap_or_default());
    }
    out
}

/// The process state letter of `pid` (`R`, `S`, `Z`, ...), `None` when it no longer exists.
pub fn state(pid: i32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may contain spaces: the state follows the last ')'.
    stat.rsplit_once(')')?.1.trim_start().chars().next()
}

/// Number of open descriptors of this process.
pub fn open_fd_count() -> io::Result<usize> {
    Ok(std::fs::read_dir("/proc/self/fd")?.count())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_state_and_fds() {
        assert!(matches!(state(std::process::id() as i32), Some('R' | 'S')));
        assert!(open_fd_count().unwrap() >= 3);
        assert_eq!(state(i32::MAX), None);
    }
}
