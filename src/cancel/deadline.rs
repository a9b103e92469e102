//! The timer a running scope (or scoped task group) owns to enforce its node's deadline.

use std::pin::Pin;
use std::task::Context;

use pin_project_lite::pin_project;
use tokio::time::Sleep;

use super::node::Node;

pin_project! {
    /// Arms a `Sleep` for the node's deadline, re-arms it when the deadline moves (a generation
    /// counter on the node says so without taking its lock), and cancels the node when it fires.
    /// A node without a deadline never allocates a timer.
    pub(crate) struct DeadlineTimer {
        #[pin]
        sleep: Option<Sleep>,
        // The node's `deadline_gen` when the timer was last armed.
        armed_gen: u64,
    }
}

impl DeadlineTimer {
    pub(crate) fn new() -> DeadlineTimer {
        DeadlineTimer {
            sleep: None,
            // Generation 0 means "no deadline ever set": nothing to arm, no lock to take.
            armed_gen: 0,
        }
    }

    /// Follows deadline changes and fires the deadline; registers the timer's wake-up.
    ///
    /// # Panics
    ///
    /// Arming a deadline outside a tokio runtime with the time driver panics (tokio's rule).
    pub(crate) fn poll_deadline(self: Pin<&mut Self>, node: &Node, cx: &mut Context<'_>) -> bool {
        let mut this = self.project();
        let generation = node.deadline_gen();
        if generation != *this.armed_gen {
            *this.armed_gen = generation;
            match node.deadline() {
                Some(deadline) => match this.sleep.as_mut().as_pin_mut() {
                    Some(sleep) => sleep.reset(deadline),
                    None => this.sleep.set(Some(tokio::time::sleep_until(deadline))),
                },
                None => this.sleep.set(None),
            }
        }
        let fired = this
            .sleep
            .as_mut()
            .as_pin_mut()
            .is_some_and(|sleep| sleep.poll(cx).is_ready());
        if fired {
            this.sleep.set(None);
        }
        fired
    }

    /// No timer armed.
    #[inline]
    pub(crate) fn is_disarmed(&self) -> bool {
        self.sleep.is_none()
    }

    /// Drops the timer (the scope is done).
    #[inline]
    pub(crate) fn disarm(self: Pin<&mut Self>) {
        let mut sleep = self.project().sleep;
        // Most scopes never armed one (a body that completed on its first poll).
        if sleep.is_some() {
            sleep.set(None);
        }
    }
}
