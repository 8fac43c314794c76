//! The binary and the bench harness as a user meets them: env.json, profile errors.

use std::process::Command;

fn threadbench() -> Command {
    Command::new(env!("CARGO_BIN_EXE_threadbench"))
}

/// `threadbench env` prints every field and writes nothing: env.json belongs to the runs that
/// measured (a later report must not take env's profile for theirs, issue 13 point 3).
#[test]
fn env_prints_every_field_and_leaves_env_json_alone() {
    let dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    let path = dir.join("threadbench/env.json");
    let snapshot = |p: &std::path::Path| {
        std::fs::metadata(p)
            .ok()
            .map(|m| (m.modified().ok(), std::fs::read(p).ok()))
    };
    let before = snapshot(&path);
    let out = threadbench()
        .args(["env", "--json", "--profile", "ci"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for key in [
        "kernel_release",
        "cpu_model",
        "online_cpus",
        "allowed_cpus",
        "smt_siblings",
        "cpufreq_governor",
        "virtualized",
        "rustc_version",
        "profile_name",
        "profile_path",
        "core_plan",
        "network",
        "nofile_limit",
        "git_commit",
    ] {
        assert!(v.get(key).is_some(), "env --json lacks {key}: {v}");
    }
    assert_eq!(v["profile_name"], "ci");
    assert!(!v["core_plan"]["server"].as_array().unwrap().is_empty());
    assert!(v["rustc_version"].as_str().unwrap().starts_with("rustc "));
    let out = threadbench()
        .args(["env", "--profile", "ci"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(!String::from_utf8_lossy(&out.stdout).contains("written to"));
    // Bytes and mtime unchanged, or still absent.
    assert!(
        snapshot(&path) == before,
        "threadbench env changed {}",
        path.display()
    );
}

#[test]
fn unknown_profile_is_a_clear_error() {
    let out = threadbench()
        .args(["env", "--profile", "nope"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("\"nope\"") && err.contains("ci, default"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn bad_profile_file_names_file_and_key() {
    let dir = std::env::temp_dir().join(format!("threadbench-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bad.toml");
    for (text, needle) in [
        ("[cores]\nserver = [9999]\n", "CPU 9999"),
        ("[groups.spawn_rss]\nsweep = []\n", "groups.spawn_rss.sweep"),
        ("[groups.spawn_rss]\nsweep = [\"x\"]\n", "sweep"),
        ("bogus_key = 1\n", "bogus_key"),
    ] {
        std::fs::write(&path, text).unwrap();
        let out = threadbench()
            .args(["env", "--profile"])
            .arg(&path)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{text}: {err}");
        assert!(
            err.contains("bad.toml") && err.contains(needle),
            "{text}: {err}"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The 1-CPU path as `taskset -c 0` makes it on any machine: the plan shares CPU 0 between
/// server and load with a warning, and a server and a load pinned by that plan still run.
#[test]
fn one_allowed_cpu_warns_and_still_runs() {
    if Command::new("taskset").arg("--version").output().is_err() {
        eprintln!("skipped: no taskset (util-linux)");
        return;
    }
    let on_cpu0 = |args: &[&str]| {
        let mut c = Command::new("taskset");
        c.args(["-c", "0", env!("CARGO_BIN_EXE_threadbench")])
            .args(args)
            .args(["--profile", "ci"]);
        c
    };
    let out = on_cpu0(&["env"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("server cores  0\nclient cores  0\n")
            && text.contains(
                "WARNING       only CPU 0 is available: server and load generator share it"
            ),
        "{text}"
    );
    let dir = std::env::temp_dir().join(format!("one-cpu-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("f"), [7u8; 512]).unwrap();
    let mut serve = on_cpu0(&["serve", "--model", "mt", "--docroot", dir.to_str().unwrap()]);
    let mut server = serve
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("serve on CPU 0");
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(server.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .expect("listening")
        .to_owned();
    let out = on_cpu0(&[
        "load",
        "--target",
        &addr,
        "--path",
        "/f",
        "--requests",
        "300",
        "--cores",
        "0",
        "--json",
    ])
    .output()
    .unwrap();
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(server.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    );
    let _ = server.wait();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (j["requests"].as_u64(), j["errors"].as_u64()),
        (Some(300), Some(0))
    );
}
