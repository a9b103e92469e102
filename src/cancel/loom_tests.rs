//! loom models of the cancel tree (`RUSTFLAGS="--cfg tether_loom" cargo test --release --lib loom`).
//!
//! The node's own state (the `cancelled` flag, the `state` lock with the child list, the
//! once-set parent link and the `AtomicWaker`) is loom's under `cfg(tether_loom)` (see `crate::loom`),
//! so every interleaving of these operations is explored, up to the preemption bound.

use std::task::Waker;

use loom::sync::atomic::Ordering;
use loom::thread;

use super::{CancelReason, CancelSource, Node};
use crate::loom::sync::Arc;
use crate::loom_support::{flag, model, model_bounded};

fn reason(message: &str) -> CancelReason {
    CancelReason::with_message(CancelSource::Explicit, message)
}

/// The protocol of a scope's first `Pending` (`Run::poll`, `Child::poll`): register the waker,
/// register in the parent, then look at the flags once more.
fn first_pending(node: &Arc<Node>, waker: &Waker) -> bool {
    node.register_waker(waker);
    node.register_in_parent();
    node.must_drop_body()
}

#[test]
fn registering_in_the_parent_never_loses_a_racing_cancel() {
    model("register_in_parent vs cancel(parent)", || {
        let parent = Node::new(false, None);
        let child = Node::new(false, None);
        assert!(child.enter(Some(parent.clone())));
        let (woken, waker) = flag();

        let canceller = {
            let parent = parent.clone();
            thread::spawn(move || parent.cancel(reason("stop")))
        };
        let saw_it = first_pending(&child, &waker);
        assert!(canceller.join().unwrap());

        // Either the child saw the cancellation when it looked, or it was woken to look again.
        assert!(
            saw_it || woken.0.load(Ordering::SeqCst),
            "cancellation lost"
        );
        assert!(child.is_effectively_cancelled());
        assert_eq!(
            child.effective_reason().unwrap().source(),
            CancelSource::ParentScope
        );
    });
}

#[test]
fn a_grandchild_registering_under_a_cancelled_grandparent_is_woken() {
    model("grandchild register vs cancel(grandparent)", || {
        let top = Node::new(false, None);
        let middle = Node::new(false, None);
        middle.enter(Some(top.clone()));
        middle.register_in_parent();
        let leaf = Node::new(false, None);
        leaf.enter(Some(middle.clone()));
        let (woken, waker) = flag();

        let canceller = {
            let top = top.clone();
            thread::spawn(move || {
                top.cancel(reason("stop"));
            })
        };
        let saw_it = first_pending(&leaf, &waker);
        canceller.join().unwrap();
        assert!(
            saw_it || woken.0.load(Ordering::SeqCst),
            "cancellation lost"
        );
    });
}

#[test]
fn a_middle_and_a_leaf_registering_while_the_top_is_cancelled_both_see_it() {
    // Three threads: exhaustive is ~2.3M interleavings (~2.5 min); 5 preemptions (~40k) by default.
    model_bounded("middle + leaf register vs cancel(top)", Some(5), || {
        let top = Node::new(false, None);
        let middle = Node::new(false, None);
        middle.enter(Some(top.clone()));
        let leaf = Node::new(false, None);
        leaf.enter(Some(middle.clone()));
        let (leaf_woken, leaf_waker) = flag();
        let canceller = {
            let top = top.clone();
            thread::spawn(move || {
                top.cancel(reason("stop"));
            })
        };
        let leaf_thread = {
            let leaf = leaf.clone();
            thread::spawn(move || first_pending(&leaf, &leaf_waker))
        };
        let (middle_woken, middle_waker) = flag();
        let middle_saw = first_pending(&middle, &middle_waker);
        canceller.join().unwrap();
        let leaf_saw = leaf_thread.join().unwrap();
        assert!(
            middle_saw || middle_woken.0.load(Ordering::SeqCst),
            "lost at middle"
        );
        assert!(
            leaf_saw || leaf_woken.0.load(Ordering::SeqCst),
            "lost at leaf"
        );
    });
}

#[test]
fn a_shielded_child_is_not_woken_by_its_parents_cancel() {
    model("shielded child vs cancel(parent)", || {
        let parent = Node::new(false, None);
        let child = Node::new(true, None);
        child.enter(Some(parent.clone()));
        let (woken, waker) = flag();
        let canceller = {
            let parent = parent.clone();
            thread::spawn(move || parent.cancel(reason("stop")))
        };
        let saw_it = first_pending(&child, &waker);
        canceller.join().unwrap();
        assert!(!saw_it);
        assert!(!woken.0.load(Ordering::SeqCst));
        assert!(!child.is_effectively_cancelled());
    });
}

#[test]
fn the_first_of_two_concurrent_cancels_wins() {
    model("cancel vs cancel", || {
        let node = Node::new(false, None);
        let (woken, waker) = flag();
        node.register_waker(&waker);
        let other = {
            let node = node.clone();
            thread::spawn(move || node.cancel(reason("b")))
        };
        let a_first = node.cancel(reason("a"));
        let b_first = other.join().unwrap();
        assert!(a_first ^ b_first, "exactly one cancel is the first");
        let winner = if a_first { "a" } else { "b" };
        assert_eq!(node.own_reason().unwrap().message(), Some(winner));
        assert!(node.is_cancel_called());
        assert!(woken.0.load(Ordering::SeqCst));
    });
}

#[test]
fn deregistering_while_the_parent_is_cancelled_is_safe() {
    model("deregister vs cancel(parent)", || {
        let parent = Node::new(false, None);
        let child = Node::new(false, None);
        child.enter(Some(parent.clone()));
        child.register_in_parent();
        let canceller = {
            let parent = parent.clone();
            thread::spawn(move || parent.cancel(reason("stop")))
        };
        child.deregister_from_parent();
        canceller.join().unwrap();
        assert!(child.is_effectively_cancelled());
        // The parent's child list is empty again: a later registration takes a fresh slot.
        child.register_in_parent();
        child.deregister_from_parent();
    });
}

/// The driver's cut path (`ScopeDriver::begin`/`poll_body`, then `settle`): look, and if the
/// body must be dropped for a cancellation from above, mark the way to the origin.
fn cut_and_park(node: &Arc<Node>) -> bool {
    if !node.must_drop_body() {
        return false;
    }
    if node.outer_cancel_visible() || node.own_reason().is_none() {
        node.mark_unwinding_to_origin();
    }
    true
}

#[test]
fn a_shield_raised_while_a_hold_is_in_place_never_strands_a_parked_scope() {
    model(
        "shield raised on a middle scope vs cancel + park below it",
        || {
            // o -> s -> x, and a shielded section `sh` under s holding s and o.
            let o = Node::new(false, None);
            let s = Node::new(false, None);
            let x = Node::new(false, None);
            let sh = Node::new(true, None);
            assert!(s.enter(Some(o.clone())));
            assert!(x.enter(Some(s.clone())));
            assert!(sh.enter(Some(s.clone())));
            sh.hold_ancestors(true);

            let shielder = {
                let s = s.clone();
                thread::spawn(move || s.set_shield(true))
            };
            o.cancel(reason("stop"));
            let parked = cut_and_park(&x);
            shielder.join().unwrap();

            // The shielded section ends: its hold goes away.
            sh.hold_ancestors(false);
            if parked {
                // x's body is gone and x waits to be dropped: s must drop it (then o drops s).
                assert!(
                    s.must_drop_body(),
                    "a parked scope was stranded by a shield"
                );
            }
        },
    );
}

#[test]
fn a_cancel_racing_a_finished_run_reaches_a_watcher_of_it() {
    model("finished run + new watcher vs cancel(parent)", || {
        let p = Node::new(false, None);
        let i = Node::new(false, None);
        assert!(i.enter(Some(p.clone())));
        i.register_in_parent(); // pending once
        let (woken, waker) = flag();

        let finisher = {
            let i = i.clone();
            thread::spawn(move || i.deregister_from_parent()) // the run ends
        };
        let watcher = {
            let i = i.clone();
            thread::spawn(move || {
                // `WaitCancelled::poll`: register, then look.
                let _key = i.update_observer(None, &waker);
                i.is_effectively_cancelled()
            })
        };
        p.cancel(reason("stop"));
        finisher.join().unwrap();
        let saw_it = watcher.join().unwrap();
        assert!(
            saw_it || woken.0.load(Ordering::SeqCst),
            "the watcher of a finished scope missed the cancellation"
        );
    });
}

#[test]
fn a_hold_released_from_another_thread_wakes_the_cancelled_scope() {
    model("hold release vs the held scope's poll", || {
        let o = Node::new(false, None);
        let sh = Node::new(true, None);
        assert!(sh.enter(Some(o.clone())));
        sh.hold_ancestors(true);
        o.cancel(reason("stop"));
        let (woken, waker) = flag();

        let releaser = {
            let sh = sh.clone();
            thread::spawn(move || sh.release_holds_from_elsewhere()) // the holder is dropped elsewhere
        };
        // The held scope's poll: register the waker, then look.
        o.register_waker(&waker);
        let saw_it = o.must_drop_body();
        releaser.join().unwrap();
        assert!(
            saw_it || woken.0.load(Ordering::SeqCst),
            "a released hold left the cancelled scope waiting"
        );
    });
}

#[test]
fn a_watcher_of_a_scope_whose_parent_also_finished_is_reached_by_a_grandparent_cancel() {
    model(
        "watcher re-registers two finished levels vs cancel(grandparent)",
        || {
            let gp = Node::new(false, None);
            let p = Node::new(false, None);
            let i = Node::new(false, None);
            assert!(p.enter(Some(gp.clone())));
            assert!(i.enter(Some(p.clone())));
            // Both ran, went pending once, and finished: neither is in the tree any more.
            p.register_in_parent();
            i.register_in_parent();
            i.deregister_from_parent();
            p.deregister_from_parent();
            let (woken, waker) = flag();

            let canceller = {
                let gp = gp.clone();
                thread::spawn(move || gp.cancel(reason("stop")))
            };
            // `WaitCancelled::poll` on the inner scope: register (which makes both levels
            // reachable again), then look.
            let _key = i.update_observer(None, &waker);
            let saw_it = i.is_effectively_cancelled();
            canceller.join().unwrap();
            assert!(
                saw_it || woken.0.load(Ordering::SeqCst),
                "a watcher two finished levels down missed the cancellation"
            );
        },
    );
}

#[test]
fn a_watcher_that_arrived_before_the_scope_was_entered_is_reached_by_a_parent_cancel() {
    model("watcher before entry vs enter vs cancel(parent)", || {
        let p = Node::new(false, None);
        let i = Node::new(false, None);
        let (woken, waker) = flag();

        let watcher = {
            let i = i.clone();
            thread::spawn(move || {
                let _key = i.update_observer(None, &waker);
                i.is_effectively_cancelled()
            })
        };
        // The scope is entered under `p` and finishes at once (never registered itself).
        assert!(i.enter(Some(p.clone())));
        let saw_it = watcher.join().unwrap();
        p.cancel(reason("stop"));
        assert!(
            saw_it || woken.0.load(Ordering::SeqCst),
            "a watcher that came before the entry missed the cancellation"
        );
    });
}

#[test]
fn a_warm_status_cache_never_hides_a_racing_cancel() {
    model("cached 'not cancelled' vs cancel(top)", || {
        let top = Node::new(false, None);
        let middle = Node::new(false, None);
        let leaf = Node::new(false, None);
        assert!(middle.enter(Some(top.clone())));
        assert!(leaf.enter(Some(middle.clone())));
        // Warm both caches: "not cancelled" in the current epoch.
        assert!(!middle.is_effectively_cancelled());
        assert!(!leaf.is_effectively_cancelled());
        let (woken, waker) = flag();

        let canceller = {
            let top = top.clone();
            thread::spawn(move || top.cancel(reason("stop")))
        };
        middle.register_in_parent();
        let saw_it = first_pending(&leaf, &waker);
        canceller.join().unwrap();
        assert!(
            saw_it || woken.0.load(Ordering::SeqCst),
            "a cached answer hid the cancellation"
        );
        // After the cancel, every cached answer below it is stale.
        assert!(leaf.is_effectively_cancelled());
        assert!(middle.is_effectively_cancelled());
    });
}

#[test]
fn lowering_a_shield_makes_cached_answers_below_it_stale() {
    model("cached 'shielded' vs set_shield(false)", || {
        let top = Node::new(false, None);
        let middle = Node::new(true, None);
        let leaf = Node::new(false, None);
        assert!(middle.enter(Some(top.clone())));
        assert!(leaf.enter(Some(middle.clone())));
        top.cancel(reason("stop"));
        middle.register_in_parent();
        let (woken, waker) = flag();
        // The leaf is pending behind the shield, its "not cancelled" cached.
        assert!(!first_pending(&leaf, &waker));

        let lowerer = {
            let middle = middle.clone();
            thread::spawn(move || middle.set_shield(false))
        };
        // The leaf's next poll looks again.
        leaf.register_waker(&waker);
        let saw_it = leaf.must_drop_body();
        lowerer.join().unwrap();
        assert!(
            saw_it || woken.0.load(Ordering::SeqCst),
            "the lowered shield's cancellation was lost"
        );
        assert!(leaf.is_effectively_cancelled());
        // Raising it again hides the cancellation once more (also a bump).
        middle.set_shield(true);
        assert!(!leaf.is_effectively_cancelled());
    });
}
