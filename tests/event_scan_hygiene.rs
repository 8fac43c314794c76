//! Event-scan hygiene, in its own process so no other test opens descriptors meanwhile:
//! no descriptor survives a scan or register run, and a size over RLIMIT_NOFILE is skipped.

use threadbench::blocks::event_scan::{register, FdPool, Scan, SetupError, Waiter};
use threadbench::procfs::open_fd_count;

#[test]
fn no_descriptor_leaks_and_over_limit_is_skipped() {
    let soft = threadbench::sys::limits::raise_nofile()
        .expect("raise RLIMIT_NOFILE")
        .soft;
    let before = open_fd_count().expect("count /proc/self/fd");
    for waiter in Waiter::ALL {
        let pool = FdPool::new(500, 3).expect("eventfds");
        match Scan::new(waiter, pool) {
            Ok(mut scan) => scan.run(3).expect("scan").checked(3),
            // io_uring may be refused by the kernel: the skip must not leak either.
            Err(SetupError::Skip(why)) if waiter == Waiter::IoUring => {
                eprintln!("io_uring {why}");
                continue;
            }
            Err(e) => panic!("{}: {e}", waiter.name()),
        };
        if waiter == Waiter::IoUring {
            continue; // register() does not measure io_uring
        }
        let pool = FdPool::new(50, 0).expect("eventfds");
        register(waiter, &pool, 2).expect("register").checked(2);
    }
    assert_eq!(open_fd_count().expect("count /proc/self/fd"), before);

    // One more than the limit allows: a skip naming the limit, not a crash, and no leak.
    match FdPool::new(soft as usize + 1, 1) {
        Err(SetupError::Skip(why)) => assert!(why.contains("RLIMIT_NOFILE"), "{why}"),
        Err(SetupError::Io(e)) => panic!("expected a skip, got {e}"),
        Ok(_) => panic!("{} fds cannot fit under RLIMIT_NOFILE {soft}", soft + 1),
    }
    // Under the budget check but over what is actually free: the EMFILE path also skips.
    let free = soft as usize - before - threadbench::blocks::event_scan::FD_HEADROOM as usize;
    let _hog = FdPool::new(free, 0).expect("eventfds up to the budget");
    match FdPool::new(threadbench::blocks::event_scan::FD_HEADROOM as usize * 2, 0) {
        Err(SetupError::Skip(why)) => assert!(why.contains("RLIMIT_NOFILE"), "{why}"),
        Err(SetupError::Io(e)) => panic!("expected a skip, got {e}"),
        Ok(_) => panic!("the descriptor table should be full"),
    }
    drop(_hog);
    assert_eq!(open_fd_count().expect("count /proc/self/fd"), before);
}
