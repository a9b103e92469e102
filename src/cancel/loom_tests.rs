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
