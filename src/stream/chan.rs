//! The state every handle of one memory stream shares, and the rules that move items through it.
//!
//! One [`Chan`] per stream holds a single `parking_lot` mutex around [`State`]. Every operation
//! takes that lock once, briefly, and never calls out while holding it: wakers are collected in
//! a [`WakeList`] and woken after the guard is dropped, and items the stream discards (the
//! buffer when the last receiver goes, the item of a cancelled send) are dropped after unlocking
//! too, so an item's own `Drop` may use the stream without deadlocking.
//!
//! # Lock order
//!
//! There is one lock per stream and no code path holds it while taking another lock: the group
//! binding's `on_end` callback is registered and run without it held. Nothing here can deadlock.
//!
//! # How an item travels
//!
//! - A sender offers its item to the oldest *waiting receiver* (a direct hand-off into that
//!   receiver's slot), else to the buffer if there is room; in both cases only if no sender is
//!   queued ahead of it (FIFO). Otherwise it queues in `send_waiters` **with its item in its
//!   waiter slot** (`SendSlot::Item`), as Trio's `send_tasks` holds a blocked sender's value.
//! - When room appears (a receive frees a slot, a permit is given back) or, on a rendezvous
//!   stream, a receiver starts waiting, the oldest queued sender is served: a send's item moves
//!   into that room (to a waiting receiver, else into the buffer), its slot becomes `Sent` and
//!   it is woken to complete with `Ok`; a `reserve` is *granted* the room (`reserved += 1`).
//! - A receiver pops the buffer (which frees room: the next queued send's item moves in), else,
//!   with no receiver queued ahead, takes the oldest queued send's item directly (AnyIO's
//!   `receive_nowait`); else it queues in `recv_waiters` and is handed an item directly.
//!
//! A send that gives up (its future dropped, or polled inside a cancelled scope) removes its
//! waiter under the lock and gets its item back if it is still there: that send never
//! happened, and no receive can take the item afterwards. If a receive took it first, the send
//! happened; the future learns it (`Withdrawn::Sent`). Room granted to a dropped reservation is
//! passed on to the next one. Because hand-offs to receivers are direct, a woken receiver never
//! races a newcomer for its item (no barging), and an item handed to a receiver that is then
//! cancelled goes to the next receiver or back to the head of the buffer.
//!
//! # Invariants (hold whenever the lock is released)
//!
//! 1. If a receiver is queued (`recv_waiters.waiting > 0`), the buffer is empty: an item never
//!    waits while a receiver waits for it.
//! 2. Room is never promised twice: `buffer.len() + reserved <= capacity` on a bounded stream,
//!    except for an item given back by a cancelled receiver (at most one per such receiver). On
//!    a rendezvous stream, `reserved` counts granted reservations and permits, each standing
//!    for a waiting receiver; an item sent through a permit whose receiver left waits in the
//!    buffer for the next receiver. No item is ever dropped to keep this.
//! 3. `send_shut` is set once, by whichever comes first: the last receiver closing
//!    (`PeerGone`) or the owning group ending (`OwnerEnded`); `recv_shut` likewise with the last
//!    sender. The first cause is the one reported, and never changes. The per-item paths test
//!    one `Option` each, so an unbound stream and a bound one cost the same per item.
//! 4. An entry in a waiter slab is owned by exactly one future (or the receiver's `Stream`
//!    state), which removes it when it completes or is dropped; the shared state only changes
//!    its slot. A queued entry is `Item` (a send) or `Reserve`; a served one is `Sent` or
//!    `Granted`, has been woken, and is no longer queued.
//! 5. After every operation, either no sender is queued, or no room can be granted, or the
//!    stream is shut (the queue is served as soon as room appears).
//! 6. `granted` is the number of waiter entries whose slot is `Granted`; statistics count them
//!    as waiting senders, since their futures have not completed. `Sent` entries are counted
//!    nowhere: their items are in the buffer or were received.
//! 7. An unbounded stream's buffer allocation is at most four times its length, or
//!    [`MIN_KEPT`] slots (plus what `VecDeque` rounds up to): memory taken by a burst is given
//!    back as the burst drains.
//! 8. A queued send's item is taken only while no receiver is queued (those are served first,
//!    FIFO) and the stream is open both ways (a send on a shut stream gets its item back in its
//!    error).

use std::collections::VecDeque;
use std::task::{Context, Poll, Waker};

use slab::Slab;

use crate::loom::sync::{Mutex, MutexGuard};
use crate::task::TaskId;

/// How many polls a cancellation point takes, while its scope should already have dropped it,
/// before it concludes it runs under a nested executor and stops cutting off (as
/// [`Checkpoint`](crate::Checkpoint) and the scope driver do).
const ESCAPE_AFTER: u8 = 3;

/// What makes a stream operation a cancellation point: inside a cancelled scope it does not
/// complete, so the scope drops it there.
///
/// Under a nested executor (a `block_on` in a cancelled scope's body) the scope cannot drop the
/// operation, which would then wait forever for a wake-up nobody sends. So, like
/// [`Checkpoint`](crate::Checkpoint): while the scope should drop it, each cut-off poll wakes
/// the task again, and after [`ESCAPE_AFTER`] such polls the operation escapes and runs as
/// plain code would (it completes if it can, or waits as usual). While something holds the
/// scope (a shielded sibling still runs), the operation just waits, without waking itself.
#[derive(Debug, Default)]
pub(crate) struct CancelPoint {
    /// Polls while cut off although the scope above should have dropped us.
    stranded_polls: u8,
}

impl CancelPoint {
    /// Starts over: the next operation through this point has not escaped (a handle's
    /// `poll_next` calls it when one item's wait is over).
    #[inline]
    pub(crate) fn reset(&mut self) {
        self.stranded_polls = 0;
    }

    /// Whether the operation must return `Pending` now because its scope is cancelled.
    #[inline]
    pub(crate) fn cut_off(&mut self, cx: &mut Context<'_>) -> bool {
        // Outside every scope and child (a plain `tokio::spawn`): one thread-local load, inline.
        if crate::cancel::outside_every_position() {
            self.stranded_polls = 0;
            return false;
        }
        self.cut_off_in_position(cx)
    }

    /// [`cut_off`](Self::cut_off) inside some scope or child: reads the current node.
    #[inline(never)]
    fn cut_off_in_position(&mut self, cx: &mut Context<'_>) -> bool {
        if !crate::cancel::current_is_cancelled() {
            // Outside a cancelled scope: a handle's `poll_next` that escaped once under a
            // nested executor is a cancellation point again in the next cancelled scope.
            self.stranded_polls = 0;
            return false;
        }
        if crate::cancel::current_must_drop() {
            if self.stranded_polls >= ESCAPE_AFTER {
                return false;
            }
            self.stranded_polls += 1;
            if self.stranded_polls >= ESCAPE_AFTER {
                return false;
            }
            cx.waker().wake_by_ref();
        } else {
            self.stranded_polls = 0;
        }
        true
    }
}

/// The allocation an unbounded stream starts with and never shrinks below, in items.
pub(crate) const MIN_KEPT: usize = 1024;

/// The shared state of one stream, behind its one lock.
pub(crate) struct Chan<T> {
    state: Mutex<State<T>>,
    /// Where the stream was made (the task tree names streams by it).
    site: &'static std::panic::Location<'static>,
    /// The group it is bound to, as the task tree names it (set by `bind`).
    bound_to: parking_lot::Mutex<Option<String>>,
    /// The stream's id in the task tree, drawn on the first wait recorded on it.
    diag_id: std::sync::OnceLock<u64>,
    /// Who holds the send ends, for the task tree: made on the first use of a send end while
    /// the tree is on.
    sender_holders:
        std::sync::OnceLock<std::sync::Arc<crate::diagnostics::registry::SenderHolders>>,
}

/// Why an operation cannot go on: the crate-internal form of the public errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shut {
    /// Every handle on the other side is closed or dropped.
    PeerGone,
    /// The task group the stream was bound to ended; the task hosted that group.
    OwnerEnded(TaskId),
}

/// A waiter's place in a queue: slab index plus a sequence number, so a stale key (its entry
/// removed and the index reused) is recognised and skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Key {
    index: usize,
    seq: u64,
}

/// Where a waiting sender (a `send` or a `reserve`) stands.
enum SendSlot<T> {
    /// A queued send, with its item: it waits here, where a receive can take it (which
    /// completes the send). The future takes it back if it is cancelled (dropped, or polled
    /// inside a cancelled scope) first.
    Item(T),
    /// A queued reservation, waiting for room (or, on a rendezvous stream, for a receiver).
    Reserve,
    /// A reservation granted one unit of `reserved`; the future takes it when polled, or gives
    /// it back.
    Granted,
    /// A send whose item a receive took (into the buffer, or into a receiver's hands): the send
    /// has happened, and the future completes with `Ok` when next polled.
    Sent,
}

/// What a waiting send or reserve leaves with when it gives up ([`Chan::cancel_send`]).
#[derive(Debug)]
pub(crate) enum Withdrawn<T> {
    /// The send's item was still waiting: the send did not happen, and the item is back.
    Item(T),
    /// A receive had already taken the send's item: the send happened.
    Sent,
    /// A reservation (no item): room granted to it, if any, was passed on.
    Reservation,
}

/// What a queued receiver holds.
enum RecvSlot<T> {
    /// Waiting for an item.
    Waiting,
    /// An item was handed to it; the future takes it out.
    Item(T),
}

/// One waiting future.
struct Entry<S> {
    /// Matches the `seq` of the keys that name this entry.
    seq: u64,
    /// Woken when `slot` changes or the stream closes.
    waker: Waker,
    /// What the waiter holds or was handed.
    slot: S,
    /// Whether the entry is still in `queue` (waiting its turn), as opposed to served.
    queued: bool,
}

/// A FIFO of waiting futures with O(1) removal from the middle.
struct Waiters<S> {
    /// The entries, owned by their futures (invariant 4).
    entries: Slab<Entry<S>>,
    /// The order of service. May hold stale keys of removed entries; they are skipped when
    /// reached and compacted away when they outnumber the live ones.
    queue: VecDeque<Key>,
    /// How many entries are queued (live keys in `queue`).
    waiting: usize,
    /// The next sequence number to hand out.
    next_seq: u64,
}

/// The state behind the lock.
struct State<T> {
    /// Items accepted and not yet received, oldest first.
    buffer: VecDeque<T>,
    /// The bound on `buffer.len() + reserved`; `usize::MAX` for an unbounded stream.
    capacity: usize,
    /// Room promised to permits (and to granted reserve futures) and not yet used.
    reserved: usize,
    /// Reserve futures granted room (or, on a rendezvous stream, a receiver) that have not
    /// taken it yet. `statistics()` counts them as waiting senders, since their futures have
    /// not completed. (A send is never granted room: a receive moves its item instead.)
    granted: usize,
    /// Open send handles.
    senders: usize,
    /// Open receive handles.
    receivers: usize,
    /// Why sends fail, once they do (invariant 3).
    send_shut: Option<Shut>,
    /// Why nothing more will arrive once the buffer is drained, once that is so (invariant 3).
    recv_shut: Option<Shut>,
    /// Senders (with their items) and reservations waiting for room or for a receiver, FIFO.
    send_waiters: Waiters<SendSlot<T>>,
    /// Receivers waiting for an item, FIFO.
    recv_waiters: Waiters<RecvSlot<T>>,
}

/// Wakers collected under the lock and woken after it is released. The common case wakes one
/// waiter and does not allocate.
#[derive(Default)]
pub(crate) struct WakeList {
    first: Option<Waker>,
    rest: Vec<Waker>,
}

impl WakeList {
    fn push(&mut self, waker: Waker) {
        if self.first.is_none() {
            self.first = Some(waker);
        } else {
            self.rest.push(waker);
        }
    }

    /// Wakes everything collected. The common case, nothing to wake, is inlined into every
    /// operation and costs one check (and the drop of the empty `rest`); only a list with a
    /// waker in it calls out.
    #[inline(always)]
    fn wake(self) {
        // `rest` is empty while `first` is (pushes fill `first` first), and has never
        // allocated: forgetting it drops nothing, and spares the inlined loop over it.
        if self.first.is_some() {
            self.wake_some();
        } else {
            debug_assert!(self.rest.capacity() == 0);
            std::mem::forget(self.rest);
        }
    }

    #[inline(never)]
    fn wake_some(self) {
        let Some(first) = self.first else {
            return;
        };
        first.wake();
        for w in self.rest {
            w.wake();
        }
    }
}

impl<S> Waiters<S> {
    fn new() -> Self {
        Self {
            entries: Slab::new(),
            queue: VecDeque::new(),
            waiting: 0,
            next_seq: 0,
        }
    }

    fn push(&mut self, slot: S, waker: Waker) -> Key {
        let seq = self.next_seq;
        self.next_seq += 1;
        let index = self.entries.insert(Entry {
            seq,
            waker,
            slot,
            queued: true,
        });
        let key = Key { index, seq };
        self.queue.push_back(key);
        self.waiting += 1;
        key
    }

    fn get_mut(&mut self, key: Key) -> Option<&mut Entry<S>> {
        self.entries.get_mut(key.index).filter(|e| e.seq == key.seq)
    }

    fn is_live(&self, key: Key) -> bool {
        self.entries
            .get(key.index)
            .is_some_and(|e| e.seq == key.seq && e.queued)
    }

    /// The first queued entry, dropping stale keys in front of it.
    fn front(&mut self) -> Option<Key> {
        while let Some(&key) = self.queue.front() {
            if self.is_live(key) {
                return Some(key);
            }
            self.queue.pop_front();
        }
        None
    }

    /// Takes the first queued entry out of the queue (it stays in the slab, served).
    fn pop_front(&mut self) -> Option<(Key, &mut Entry<S>)> {
        let key = self.front()?;
        self.queue.pop_front();
        self.waiting -= 1;
        let entry = &mut self.entries[key.index];
        entry.queued = false;
        Some((key, entry))
    }

    /// Removes the entry for good and returns its slot.
    fn remove(&mut self, key: Key) -> Option<S> {
        self.get_mut(key)?;
        let entry = self.entries.remove(key.index);
        if entry.queued {
            self.waiting -= 1;
            // Stale keys are skipped lazily; compact when they dominate, so a stream whose
            // waiters keep timing out does not grow its queue without bound.
            if self.queue.len() > 32 && self.queue.len() > 2 * self.waiting {
                let entries = &self.entries;
                self.queue.retain(|k| {
                    entries
                        .get(k.index)
                        .is_some_and(|e| e.seq == k.seq && e.queued)
                });
            }
        }
        Some(entry.slot)
    }

    fn update_waker(&mut self, key: Key, waker: &Waker) {
        if let Some(entry) = self.get_mut(key)
            && !entry.waker.will_wake(waker)
        {
            entry.waker.clone_from(waker);
        }
    }

    /// Wakes every entry still queued so it re-checks the stream (slow path: closes).
    fn wake_all(&mut self, wakers: &mut WakeList) {
        for (_, entry) in self.entries.iter() {
            if entry.queued {
                wakers.push(entry.waker.clone());
            }
        }
    }
}

impl<T> State<T> {
    #[inline]
    fn recv_closed(&self) -> bool {
        self.recv_shut.is_some()
    }

    /// Room in the buffer for one more item, not counting waiting receivers.
    #[inline]
    fn has_room(&self) -> bool {
        self.buffer.len() + self.reserved < self.capacity
    }

    /// Whether the front queued sender may be granted room now.
    fn can_grant(&self) -> bool {
        if self.capacity == 0 {
            self.recv_waiters.waiting > self.reserved
        } else {
            self.has_room()
        }
    }

    /// Whether a newcomer may hand an item to a waiting receiver: one is waiting that no grant
    /// stands for (on a rendezvous stream, each grant stands for one waiting receiver).
    #[inline]
    fn free_receiver(&self) -> bool {
        let claimed = if self.capacity == 0 { self.reserved } else { 0 };
        self.recv_waiters.waiting > claimed
    }

    /// Hands `item` to the oldest waiting receiver and takes its waker.
    #[inline]
    fn hand_to_receiver(&mut self, item: T, wakers: &mut WakeList) -> Result<(), T> {
        match self.recv_waiters.pop_front() {
            Some((_, entry)) => {
                entry.slot = RecvSlot::Item(item);
                wakers.push(std::mem::replace(&mut entry.waker, Waker::noop().clone()));
                Ok(())
            }
            None => Err(item),
        }
    }

    /// A newcomer's item, delivered at once if it can be: to a waiting receiver, else into the
    /// buffer if there is room; only if no sender is queued ahead (FIFO). Handed back otherwise.
    #[inline]
    fn offer(&mut self, item: T, wakers: &mut WakeList) -> Result<(), T> {
        if self.send_waiters.waiting > 0 {
            return Err(item);
        }
        if self.free_receiver() {
            return self.hand_to_receiver(item, wakers);
        }
        if self.has_room() {
            self.buffer.push_back(item);
            return Ok(());
        }
        Err(item)
    }

    /// Spends one unit of `reserved` (a permit) on `item`: to a waiting receiver, else into the
    /// buffer. On a rendezvous stream whose receiver left meanwhile the item waits in the
    /// buffer for the next receiver (a permit promised not to wait).
    fn spend_reserved(&mut self, item: T, wakers: &mut WakeList) {
        self.reserved -= 1;
        if let Err(item) = self.hand_to_receiver(item, wakers) {
            self.buffer.push_back(item);
        }
        self.refill(wakers);
    }

    /// Puts a queued send's item where the room granted to it is: to a waiting receiver no
    /// grant stands for, else into the buffer.
    #[inline]
    fn deliver(&mut self, item: T, wakers: &mut WakeList) {
        let item = if self.free_receiver() {
            match self.hand_to_receiver(item, wakers) {
                Ok(()) => return,
                Err(item) => item,
            }
        } else {
            item
        };
        self.buffer.push_back(item);
    }

    /// Serves queued senders, oldest first, while there is room (invariant 5): a send's item
    /// moves into that room (the send has then happened, and its future is woken to complete
    /// with `Ok`); a reservation is granted the room.
    ///
    /// The common case, no sender queued, is inlined into every receive and costs one check.
    #[inline]
    fn refill(&mut self, wakers: &mut WakeList) {
        if self.send_waiters.waiting == 0 || self.send_shut.is_some() || self.recv_shut.is_some() {
            return;
        }
        self.serve_queued_senders(wakers);
    }

    /// [`refill`](Self::refill) with senders queued on an open stream.
    #[inline(never)]
    fn serve_queued_senders(&mut self, wakers: &mut WakeList) {
        while self.can_grant() {
            let Some((_, entry)) = self.send_waiters.pop_front() else {
                return;
            };
            wakers.push(std::mem::replace(&mut entry.waker, Waker::noop().clone()));
            match std::mem::replace(&mut entry.slot, SendSlot::Granted) {
                SendSlot::Item(item) => {
                    entry.slot = SendSlot::Sent;
                    self.deliver(item, wakers);
                }
                SendSlot::Reserve => {
                    self.reserved += 1;
                    self.granted += 1;
                }
                SendSlot::Granted | SendSlot::Sent => {
                    unreachable!("a queued sender has neither been granted room nor sent")
                }
            }
        }
    }

    /// Takes the buffer's head and moves the oldest queued send's item into the room it frees
    /// (AnyIO's `receive_nowait`); with nothing buffered, takes the oldest queued send's item
    /// directly (a rendezvous stream, or room all promised to permits).
    #[inline]
    fn take(&mut self, wakers: &mut WakeList) -> Option<T> {
        let Some(item) = self.buffer.pop_front() else {
            return self.take_from_sender(wakers);
        };
        self.refill(wakers);
        self.shrink_if_drained();
        Some(item)
    }

    /// The item of the oldest queued send, if that is where the next item is: only while no
    /// receiver is queued ahead of the caller (FIFO among receivers) and the stream is open
    /// both ways (a send on a shut stream fails and gets its item back). Completes that send.
    fn take_from_sender(&mut self, wakers: &mut WakeList) -> Option<T> {
        if self.recv_waiters.waiting > 0 || self.send_shut.is_some() || self.recv_shut.is_some() {
            return None;
        }
        let key = self.send_waiters.front()?;
        if !matches!(self.send_waiters.entries[key.index].slot, SendSlot::Item(_)) {
            return None; // a reservation is first: its item is not sent yet
        }
        let (_, entry) = self.send_waiters.pop_front()?;
        wakers.push(std::mem::replace(&mut entry.waker, Waker::noop().clone()));
        match std::mem::replace(&mut entry.slot, SendSlot::Sent) {
            SendSlot::Item(item) => Some(item),
            _ => unreachable!("checked above"),
        }
    }

    /// An unbounded stream gives back the memory of a burst: once the buffer has drained to a
    /// quarter of its allocation, the allocation halves (never below [`MIN_KEPT`] slots). The
    /// cost stays amortised O(1) per item: a halving moves at most a quarter of the slots
    /// received since the allocation last changed. A bounded stream keeps its allocation, which
    /// its capacity caps.
    #[inline]
    fn shrink_if_drained(&mut self) {
        if self.capacity == usize::MAX {
            let allocated = self.buffer.capacity();
            if allocated > MIN_KEPT && self.buffer.len() <= allocated / 4 {
                self.buffer.shrink_to((allocated / 2).max(MIN_KEPT));
            }
        }
    }

    /// Puts back an item a cancelled receiver had been handed: to the next waiting receiver,
    /// else at the head of the buffer. Returns it if no receiver is left to ever take it.
    fn redeliver(&mut self, item: T, wakers: &mut WakeList) -> Option<T> {
        if self.receivers == 0 {
            return Some(item);
        }
        if let Err(item) = self.hand_to_receiver(item, wakers) {
            self.buffer.push_front(item);
        }
        None
    }
}

/// A snapshot of a stream's counters (the public statistics are built from it).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Counters {
    pub(crate) buffer_used: usize,
    pub(crate) capacity: Option<usize>,
    pub(crate) senders: usize,
    pub(crate) receivers: usize,
    pub(crate) waiting_send: usize,
    pub(crate) waiting_recv: usize,
}

impl<T> Chan<T> {
    /// A stream holding at most `capacity` items (`usize::MAX`: unbounded), with one open
    /// handle on each side.
    #[track_caller]
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            site: std::panic::Location::caller(),
            bound_to: parking_lot::Mutex::new(None),
            diag_id: std::sync::OnceLock::new(),
            sender_holders: std::sync::OnceLock::new(),
            state: Mutex::new(State {
                buffer: VecDeque::with_capacity(capacity.min(MIN_KEPT)),
                capacity,
                reserved: 0,
                granted: 0,
                senders: 1,
                receivers: 1,
                send_shut: None,
                recv_shut: None,
                send_waiters: Waiters::new(),
                recv_waiters: Waiters::new(),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock()
    }

    /// Records the group this stream is bound to, for the task tree.
    pub(crate) fn set_bound_to(&self, group: String) {
        *self.bound_to.lock() = Some(group);
    }

    /// The stream as the task tree shows a wait on it.
    pub(crate) fn diag_state(&self) -> crate::diagnostics::registry::StreamState {
        let c = self.counters();
        crate::diagnostics::registry::StreamState {
            id: *self
                .diag_id
                .get_or_init(crate::diagnostics::registry::next_id),
            site: self.site,
            buffered: c.buffer_used,
            capacity: c.capacity,
            senders: c.senders,
            receivers: c.receivers,
            bound_to: self.bound_to.lock().clone(),
            sender_holders: self.sender_holders.get().cloned(),
        }
    }

    /// Who holds the send ends (made on first use; only while the tree is on).
    pub(crate) fn sender_holders(&self) -> &crate::diagnostics::registry::SenderHolders {
        self.sender_holders.get_or_init(Default::default)
    }

    /// Who holds the send ends, if a send end was ever used while the tree was on.
    pub(crate) fn sender_holders_if_made(
        &self,
    ) -> Option<&crate::diagnostics::registry::SenderHolders> {
        self.sender_holders.get().map(|h| &**h)
    }

    pub(crate) fn counters(&self) -> Counters {
        let s = self.lock();
        Counters {
            buffer_used: s.buffer.len(),
            capacity: (s.capacity != usize::MAX).then_some(s.capacity),
            senders: s.senders,
            receivers: s.receivers,
            waiting_send: s.send_waiters.waiting + s.granted,
            waiting_recv: s.recv_waiters.waiting,
        }
    }

    /// Whether a receive now would end the stream (for `FusedStream`).
    pub(crate) fn is_drained_and_shut(&self) -> bool {
        let s = self.lock();
        s.recv_closed() && s.buffer.is_empty()
    }

    // ---- handle counts -------------------------------------------------------------------

    /// Counts a new send handle, unless the receivers were already told the stream ended
    /// (then the new handle must start closed: items sent now would arrive after the end).
    pub(crate) fn add_sender(&self) -> bool {
        let mut s = self.lock();
        if s.recv_shut.is_some() {
            return false;
        }
        s.senders += 1;
        true
    }

    /// Counts a new receive handle, unless every receive end is already closed (the buffer was
    /// discarded and senders were told). After the owning group ended it may still drain.
    pub(crate) fn add_receiver(&self) -> bool {
        let mut s = self.lock();
        if s.receivers == 0 {
            return false;
        }
        s.receivers += 1;
        true
    }

    /// One send handle closed. The last one ends the stream for receivers once it is drained;
    /// any other wakes queued senders so the ones on the closed handle see it.
    pub(crate) fn close_sender(&self) {
        let mut wakers = WakeList::default();
        {
            let mut s = self.lock();
            s.senders -= 1;
            if s.senders == 0 {
                s.recv_shut.get_or_insert(Shut::PeerGone);
                s.recv_waiters.wake_all(&mut wakers);
            }
            s.send_waiters.wake_all(&mut wakers);
        }
        wakers.wake();
    }

    /// One receive handle closed. The last one breaks the stream for senders and discards the
    /// buffer (nobody can receive it any more); the items are dropped after unlocking.
    pub(crate) fn close_receiver(&self) {
        let mut wakers = WakeList::default();
        let discarded;
        {
            let mut s = self.lock();
            s.receivers -= 1;
            if s.receivers == 0 {
                s.send_shut.get_or_insert(Shut::PeerGone);
                s.send_waiters.wake_all(&mut wakers);
                discarded = std::mem::take(&mut s.buffer);
            } else {
                discarded = VecDeque::new();
            }
            s.recv_waiters.wake_all(&mut wakers);
        }
        wakers.wake();
        drop(discarded);
    }

    /// The owning task group ended: shut the stream for everyone, keep the buffer to drain.
    /// Idempotent: a second call (a second bound group) changes nothing already shut.
    pub(crate) fn owner_ended(&self, host: TaskId) {
        let mut wakers = WakeList::default();
        {
            let mut s = self.lock();
            // A side already shut keeps its first reason (a stream that ended normally still
            // reports end-of-stream).
            s.send_shut.get_or_insert(Shut::OwnerEnded(host));
            s.recv_shut.get_or_insert(Shut::OwnerEnded(host));
            s.send_waiters.wake_all(&mut wakers);
            s.recv_waiters.wake_all(&mut wakers);
        }
        wakers.wake();
    }

    // ---- sending -------------------------------------------------------------------------

    /// Sends without waiting: `Err((item, None))` is would-block.
    pub(crate) fn try_send(&self, item: T) -> Result<(), (T, Option<Shut>)> {
        let mut wakers = WakeList::default();
        let result = {
            let mut s = self.lock();
            if let Some(why) = s.send_shut {
                return Err((item, Some(why)));
            }
            s.offer(item, &mut wakers).map_err(|item| (item, None))
        };
        wakers.wake();
        result
    }

    /// Polls a send: first poll with the item in `item` and `key == None`; if the send
    /// queues, its item moves into its waiter (where a receive can take it, completing the
    /// send) and `key` names the waiter. `Err` hands the item back with the reason.
    pub(crate) fn poll_send(
        &self,
        item: &mut Option<T>,
        key: &mut Option<Key>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), (T, Shut)>> {
        let mut wakers = WakeList::default();
        let result = {
            let mut guard = self.lock();
            let s = &mut *guard;
            match *key {
                None => {
                    let it = item.take().expect("a send not queued holds its item");
                    if let Some(why) = s.send_shut {
                        return Poll::Ready(Err((it, why)));
                    }
                    match s.offer(it, &mut wakers) {
                        Ok(()) => Poll::Ready(Ok(())),
                        Err(it) => {
                            *key =
                                Some(s.send_waiters.push(SendSlot::Item(it), cx.waker().clone()));
                            Poll::Pending
                        }
                    }
                }
                Some(k) => {
                    let entry = s
                        .send_waiters
                        .get_mut(k)
                        .expect("send waiter entry is owned");
                    if let SendSlot::Sent = entry.slot {
                        s.send_waiters.remove(k);
                        *key = None;
                        Poll::Ready(Ok(()))
                    } else if let Some(why) = s.send_shut {
                        let Some(SendSlot::Item(it)) = s.send_waiters.remove(k) else {
                            unreachable!("a queued send holds its item")
                        };
                        *key = None;
                        Poll::Ready(Err((it, why)))
                    } else {
                        s.send_waiters.update_waker(k, cx.waker());
                        Poll::Pending
                    }
                }
            }
        };
        wakers.wake();
        result
    }

    /// A waiting send or reserve gives up (dropped, cancelled, or its handle closed): removes
    /// its waiter and passes on room granted to it. A send's item comes back unless a receive
    /// already took it; the caller drops it after the lock is released.
    pub(crate) fn cancel_send(&self, key: Key) -> Withdrawn<T> {
        let mut wakers = WakeList::default();
        let withdrawn = {
            let mut s = self.lock();
            match s.send_waiters.remove(key) {
                Some(SendSlot::Item(item)) => Withdrawn::Item(item),
                Some(SendSlot::Sent) => Withdrawn::Sent,
                Some(SendSlot::Granted) => {
                    s.reserved -= 1;
                    s.granted -= 1;
                    s.refill(&mut wakers);
                    Withdrawn::Reservation
                }
                Some(SendSlot::Reserve) | None => Withdrawn::Reservation,
            }
        };
        wakers.wake();
        withdrawn
    }

    /// Polls a reservation. `Ready(Ok(()))` means one unit of `reserved` now belongs to the
    /// caller.
    pub(crate) fn poll_reserve(
        &self,
        key: &mut Option<Key>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), Shut>> {
        let mut guard = self.lock();
        let s = &mut *guard;
        match *key {
            None => {
                if let Some(why) = s.send_shut {
                    return Poll::Ready(Err(why));
                }
                if s.send_waiters.waiting == 0 && s.can_grant() {
                    s.reserved += 1;
                    return Poll::Ready(Ok(()));
                }
                *key = Some(s.send_waiters.push(SendSlot::Reserve, cx.waker().clone()));
                Poll::Pending
            }
            Some(k) => {
                let granted = matches!(
                    s.send_waiters
                        .get_mut(k)
                        .expect("reserve waiter entry is owned")
                        .slot,
                    SendSlot::Granted
                );
                if granted {
                    s.send_waiters.remove(k);
                    s.granted -= 1;
                    *key = None;
                    Poll::Ready(Ok(()))
                } else if let Some(why) = s.send_shut {
                    s.send_waiters.remove(k);
                    *key = None;
                    Poll::Ready(Err(why))
                } else {
                    s.send_waiters.update_waker(k, cx.waker());
                    Poll::Pending
                }
            }
        }
    }

    /// Uses one unit of reserved room (a permit) to deliver `item`, without waiting.
    pub(crate) fn send_reserved(&self, item: T) -> Result<(), (T, Shut)> {
        let mut wakers = WakeList::default();
        let result = {
            let mut s = self.lock();
            if let Some(why) = s.send_shut {
                s.reserved -= 1;
                Err((item, why))
            } else {
                s.spend_reserved(item, &mut wakers);
                Ok(())
            }
        };
        wakers.wake();
        result
    }

    /// Gives back one unit of reserved room unused.
    pub(crate) fn release_reserved(&self) {
        let mut wakers = WakeList::default();
        {
            let mut s = self.lock();
            s.reserved -= 1;
            s.refill(&mut wakers);
        }
        wakers.wake();
    }

    // ---- receiving -----------------------------------------------------------------------

    /// Receives without waiting: `Err(None)` is would-block.
    pub(crate) fn try_recv(&self) -> Result<T, Option<Shut>> {
        let mut wakers = WakeList::default();
        let result = {
            let mut s = self.lock();
            match s.take(&mut wakers) {
                Some(item) => Ok(item),
                None => Err(s.recv_shut),
            }
        };
        wakers.wake();
        result
    }

    /// Polls a receive: first poll with `key == None`, later polls with its waiter.
    pub(crate) fn poll_recv(
        &self,
        key: &mut Option<Key>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<T, Shut>> {
        let mut wakers = WakeList::default();
        let result = {
            let mut s = self.lock();
            if let Some(k) = *key {
                let entry = s
                    .recv_waiters
                    .get_mut(k)
                    .expect("recv waiter entry is owned");
                if let RecvSlot::Item(_) = entry.slot {
                    let Some(RecvSlot::Item(item)) = s.recv_waiters.remove(k) else {
                        unreachable!("matched above")
                    };
                    *key = None;
                    return Poll::Ready(Ok(item));
                }
                if !s.recv_closed() {
                    s.recv_waiters.update_waker(k, cx.waker());
                    return Poll::Pending;
                }
                // Closed while waiting: leave the queue and fall through to drain or end.
                s.recv_waiters.remove(k);
                *key = None;
            }
            match s.take(&mut wakers) {
                Some(item) => Poll::Ready(Ok(item)),
                None if let Some(why) = s.recv_shut => Poll::Ready(Err(why)),
                None => {
                    *key = Some(s.recv_waiters.push(RecvSlot::Waiting, cx.waker().clone()));
                    // On a rendezvous stream a waiting receiver is room for a queued sender.
                    s.refill(&mut wakers);
                    Poll::Pending
                }
            }
        };
        wakers.wake();
        result
    }

    /// A queued receive was cancelled: remove its waiter; an item it had been handed goes to
    /// the next receiver (or the head of the buffer), never lost.
    pub(crate) fn cancel_recv(&self, key: Key) {
        let mut wakers = WakeList::default();
        let orphan = {
            let mut s = self.lock();
            match s.recv_waiters.remove(key) {
                Some(RecvSlot::Item(item)) => s.redeliver(item, &mut wakers),
                _ => None,
            }
        };
        wakers.wake();
        drop(orphan);
    }
}

impl<T> std::fmt::Debug for Chan<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let c = self.counters();
        f.debug_struct("Chan")
            .field("buffer_used", &c.buffer_used)
            .field("capacity", &c.capacity)
            .field("senders", &c.senders)
            .field("receivers", &c.receivers)
            .finish_non_exhaustive()
    }
}

/// Unit tests of what the public API cannot see: the buffer's allocation (invariant 7).
#[cfg(all(test, not(tether_loom)))]
mod tests {
    use super::*;

    fn allocated<T>(chan: &Chan<T>) -> usize {
        chan.lock().buffer.capacity()
    }

    #[test]
    fn an_unbounded_stream_gives_back_the_memory_of_a_burst() {
        let chan = Chan::new(usize::MAX);
        let burst = 200_000;
        for i in 0..burst {
            chan.try_send(i).unwrap();
        }
        assert!(allocated(&chan) >= burst);
        // Draining shrinks as it goes: at every point the allocation is within 4x the length.
        for i in 0..burst {
            assert_eq!(chan.try_recv(), Ok(i));
            let len = burst - i - 1;
            let cap = allocated(&chan);
            assert!(
                cap <= (4 * len).max(2 * MIN_KEPT) + 1,
                "{cap} slots kept for {len} items"
            );
        }
        assert!(allocated(&chan) <= 2 * MIN_KEPT);
        // And it still works afterwards.
        chan.try_send(7).unwrap();
        assert_eq!(chan.try_recv(), Ok(7));
    }

    #[test]
    fn draining_a_burst_changes_the_allocation_a_logarithmic_number_of_times() {
        // The shrinking is amortised: each change halves the allocation (no more, so the room
        // kept takes the next burst without growing again) once a quarter of it is used, not a
        // reallocation per item received.
        let chan = Chan::new(usize::MAX);
        let burst = 200_000;
        for i in 0..burst {
            chan.try_send(i).unwrap();
        }
        let start = allocated(&chan);
        let (mut changes, mut last) = (0, start);
        for _ in 0..burst {
            chan.try_recv().unwrap();
            let now = allocated(&chan);
            if now != last {
                assert_eq!(now, last / 2, "{last} slots became {now}: not a halving");
                (changes, last) = (changes + 1, now);
            }
        }
        let halvings = (start / MIN_KEPT).ilog2() + 1;
        assert!(
            (1..=halvings).contains(&changes),
            "{changes} changes of the allocation while draining {burst} items from {start} slots"
        );
    }

    /// Stale keys of removed waiters are compacted away (invariant of `Waiters::remove`): a
    /// stream where some senders stay queued while thousands of others come and go (a send in
    /// a `select!` that keeps timing out) keeps its queue within twice its live waiters (or 33
    /// keys), with one waiter staying and with many.
    #[test]
    fn the_queue_of_a_stream_whose_waiters_keep_leaving_stays_short() {
        for staying in [1u32, 40] {
            let chan = Chan::new(1);
            chan.try_send(0u32).unwrap();
            let waker = Waker::noop();
            let mut cx = Context::from_waker(waker);
            let mut stay: Vec<_> = (1..=staying).map(|i| (Some(i), None)).collect();
            for (item, key) in &mut stay {
                assert!(chan.poll_send(item, key, &mut cx).is_pending());
            }
            let bound = (2 * staying as usize).max(32) + 1;
            for i in 0..10_000 {
                let (mut item, mut key) = (Some(1_000 + i), None);
                assert!(chan.poll_send(&mut item, &mut key, &mut cx).is_pending());
                assert!(
                    matches!(chan.cancel_send(key.unwrap()), Withdrawn::Item(j) if j == 1_000 + i)
                );
                let queued = chan.lock().send_waiters.queue.len();
                assert!(
                    queued <= bound,
                    "{queued} keys queued for {staying} waiters"
                );
            }
            // The staying senders are served in order.
            for want in 0..=staying {
                assert_eq!(chan.try_recv(), Ok(want));
            }
            for (item, key) in &mut stay {
                assert!(chan.poll_send(item, key, &mut cx).is_ready());
            }
        }
    }

    #[test]
    fn a_bounded_stream_keeps_its_allocation() {
        let chan = Chan::new(4096);
        for i in 0..4096 {
            chan.try_send(i).unwrap();
        }
        let before = allocated(&chan);
        while chan.try_recv().is_ok() {}
        assert_eq!(allocated(&chan), before);
    }
}
