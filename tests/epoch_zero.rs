//! One test in a process of its own: what a cancel scope sees before anything in the process
//! has moved the cancel epoch (no cancellation, no deadline set after a scope's creation).
//!
//! A scope caches "a deadline is set above me" per epoch; the first epoch is 0, so a cache
//! entry stored wrongly as zero would be trusted only here, before the first cancellation
//! anywhere in the process. A test binary shared with other tests cannot hold the epoch at 0.

use std::time::Duration;

#[test]
fn a_group_ending_after_a_deadline_above_passed_unnoticed_is_cut_off_by_it() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let out = rt.block_on(async {
        // A: a deadline set at creation (no epoch change); B: a plain scope inside it; the
        // group in B blocks its thread past A's deadline (real time, in one poll: the timer
        // cannot fire before the group ends, and 20 ms of sleep always pass a 1 ms deadline),
        // so the group must find the passed deadline above B itself and let A catch.
        tokio::time::timeout(
            Duration::from_secs(60),
            tether::move_on_after(Duration::from_millis(1), async {
                tether::CancelScope::new()
                    .run(async {
                        tether::task_group(async |_tg| {
                            std::thread::sleep(Duration::from_millis(20));
                            Ok::<_, std::convert::Infallible>(5)
                        })
                        .await
                    })
                    .await
            }),
        )
        .await
        .expect("bounded")
    });
    assert!(
        out.is_none(),
        "the deadline above had passed when the group ended: {out:?}"
    );
}
