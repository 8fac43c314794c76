//! Sync worker pools stop all their threads on drop (own process: nothing else starts threads).

use threadbench::blocks::sync::{shared_counter, SyncFn, WorkerPool};

fn thread_count() -> usize {
    std::fs::read_dir("/proc/self/task")
        .expect("read /proc/self/task")
        .count()
}

#[test]
fn pool_threads_end_on_drop() {
    let before = thread_count();
    let pool = WorkerPool::start(5, &[]).expect("start workers");
    assert_eq!(thread_count(), before + 5);
    let out = shared_counter(&pool, SyncFn::SpinlockTtas, 1000, 0).expect("increments");
    assert_eq!(out.completed, 1000);
    drop(pool);
    assert_eq!(thread_count(), before);
}
