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

/// The fields of `/proc/<pid>/stat` after the command name: field 3 (state) is index 0.
pub fn stat_fields(pid: i32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    Some(
        stat.rsplit_once(')')?
            .1
            .split_whitespace()
            .map(str::to_owned)
            .collect(),
    )
}

/// The parent pid of `pid` (field 4).
pub fn parent_of(pid: i32) -> Option<i32> {
    stat_fields(pid)?.get(1)?.parse().ok()
}

/// The processes whose process group is `pgid` (field 5), zombies included: what is left of
/// a server's group after its leader was reaped (a child the leader did not wait for).
pub fn group_members(pgid: i32) -> Vec<i32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut out: Vec<i32> = dir
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| {
            stat_fields(pid)
                .and_then(|f| f.get(2)?.parse::<i32>().ok())
                .is_some_and(|g| g == pgid)
        })
        .collect();
    out.sort_unstable();
    out
}

/// When `pid` started: field 22 (clock ticks after boot) plus `btime` of `/proc/stat`.
pub fn start_time(pid: i32) -> Option<std::time::SystemTime> {
    let ticks: u64 = stat_fields(pid)?.get(19)?.parse().ok()?;
    let hz = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .filter(|&h| h > 0)? as u64;
    let btime: u64 = std::fs::read_to_string("/proc/stat")
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()?;
    Some(
        std::time::SystemTime::UNIX_EPOCH
            + std::time::Duration::from_millis(btime * 1000 + ticks * 1000 / hz),
    )
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
        let me = start_time(std::process::id() as i32).expect("own start time");
        assert_eq!(
            parent_of(std::process::id() as i32),
            Some(nix::unistd::getppid().as_raw())
        );
        let age = std::time::SystemTime::now()
            .duration_since(me)
            .unwrap_or_default();
        assert!(age < std::time::Duration::from_secs(24 * 3600), "{age:?}");
    }
}
