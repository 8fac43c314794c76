//! Descriptor hygiene of the event-scan workloads, in a process of its own so no other test
//! opens descriptors while /proc/self/fd is counted.

use threadbench::blocks::event_scan::{register, scan, Fds, Register, Scan};
use threadbench::procfs::open_fd_count;

#[test]
fn no_descriptor_leaks_across_a_scan_run() {
    // Settle anything opened lazily on first use.
    drop(Fds::open(4, 1).expect("open eventfds"));
    let before = open_fd_count().expect("count fds");
    {
        let fds = Fds::open(300, 3).expect("open eventfds");
        assert!(open_fd_count().expect("count fds") >= before + 300);
        for s in Scan::ALL {
            assert_eq!(
                scan(s, &fds, 10).expect("scan").completed,
                10,
                "{}",
                s.name()
            );
        }
        for r in Register::ALL {
            assert_eq!(register(r, &fds, 2).expect("register").completed, 2);
        }
    }
    assert_eq!(open_fd_count().expect("count fds"), before);
}
