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
//! - A sender first offers the item to the oldest *waiting receiver* (a direct hand-off into
//!   that receiver's slot), else to the buffer if there is room and no sender is queued ahead
//!   of it, else it queues *with its item* in `send_waiters`.
//! - A receiver first pops the buffer (and then moves the oldest queued sender's item into the
//!   freed room, completing that send), else takes the item straight out of the oldest queued
//!   sender (this is how a rendezvous completes), else queues in `recv_waiters`.
//!
//! Because hand-offs are direct, a woken waiter never has to race a newcomer for its item
//! (no barging), which is what makes both queues FIFO. Because a queued sender's item sits in
//! the shared state, a send completes exactly when its item is accepted, whether or not the
//! send future is polled again.
//!
//! # Invariants (hold whenever the lock is released)
//!
//! 1. If a receiver is queued (`recv_waiters.waiting > 0`), the buffer is empty and no queued
//!    sender holds an item: an item never waits while a receiver waits for it.
//! 2. `buffer.len() + reserved <= capacity`, except on a rendezvous stream, where an item sent
//!    through a permit, or returned by a receiver that was cancelled after it was handed the
//!    item, may wait in the buffer for the next receiver; and except for such a returned item on
//!    a bounded stream (at most one per cancelled receiver). No item is ever dropped to keep this.
//! 3. `send_shut` is set once, by whichever comes first: the last receiver closing
//!    (`PeerGone`) or the owning group ending (`OwnerEnded`); `recv_shut` likewise with the last
//!    sender. The first cause is the one reported, and never changes. The per-item paths test
//!    one `Option` each, so an unbound stream and a bound one cost the same per item.
//! 4. An entry in a waiter slab is owned by exactly one future (or the receiver's `Stream` state),
//!    which removes it when it completes or is dropped; the shared state only changes its slot.

use std::collections::VecDeque;
use std::task::{Context, Poll, Waker};

use slab::Slab;

use crate::loom::sync::{Mutex, MutexGuard};
use crate::task::TaskId;

/// The shared state of one stream, behind its one lock.
pub(crate) struct Chan<T> {
    state: Mutex<State<T>>,
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

/// What a queued sender holds.
enum SendSlot<T> {
    /// Waiting to deliver this item.
    Item(T),
    /// The item was accepted (moved to the buffer or taken by a receiver): the send completed.
    Sent,
    /// Waiting for room, without an item (`reserve`).
    Reserve,
    /// Room was reserved for it (`reserved` counts it); the future turns it into a permit.
    Granted,
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
    /// Open send handles.
    senders: usize,
    /// Open receive handles.
    receivers: usize,
    /// Why sends fail, once they do (invariant 3).
    send_shut: Option<Shut>,
    /// Why nothing more will arrive once the buffer is drained, once that is so (invariant 3).
    recv_shut: Option<Shut>,
    /// Senders waiting for room or for a receiver, FIFO.
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

    fn wake(self) {
        if let Some(w) = self.first {
            w.wake();
        }
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
    fn send_closed(&self) -> bool {
        self.send_shut.is_some()
    }

    #[inline]
    fn recv_closed(&self) -> bool {
        self.recv_shut.is_some()
    }

    /// Room in the buffer for one more item, not counting waiting receivers.
    #[inline]
    fn has_room(&self) -> bool {
        self.buffer.len() + self.reserved < self.capacity
    }

    /// Whether a queued `reserve` may be granted now.
    fn can_grant(&self) -> bool {
        self.has_room() || (self.capacity == 0 && self.recv_waiters.waiting > self.reserved)
    }

    /// Delivers `item` at once if it can: into the oldest waiting receiver, else into the
    /// buffer when there is room and no sender is queued ahead. Hands it back otherwise.
    #[inline]
    fn offer(&mut self, item: T, wakers: &mut WakeList) -> Result<(), T> {
        if let Some((_, entry)) = self.recv_waiters.pop_front() {
            entry.slot = RecvSlot::Item(item);
            wakers.push(std::mem::replace(&mut entry.waker, Waker::noop().clone()));
            return Ok(());
        }
        if self.send_waiters.waiting == 0 && self.has_room() {
            self.buffer.push_back(item);
            return Ok(());
        }
        Err(item)
    }

    /// Serves queued senders with the room there is: hands their items to waiting receivers
    /// or moves them into the buffer, or grants their reservations. Stops at the first one that
    /// cannot be served (FIFO). Keeps invariant 1: an item goes to a waiting receiver first.
    fn refill(&mut self, wakers: &mut WakeList) {
        if self.send_waiters.waiting == 0 || self.send_closed() {
            return;
        }
        while let Some(key) = self.send_waiters.front() {
            let is_item = matches!(self.send_waiters.entries[key.index].slot, SendSlot::Item(_));
            let to_receiver = is_item && self.recv_waiters.waiting > 0;
            if is_item && !to_receiver && !self.has_room() || !is_item && !self.can_grant() {
                return;
            }
            let (_, entry) = self.send_waiters.pop_front().expect("front exists");
            let slot = std::mem::replace(&mut entry.slot, SendSlot::Sent);
            wakers.push(std::mem::replace(&mut entry.waker, Waker::noop().clone()));
            match slot {
                SendSlot::Item(item) if to_receiver => {
                    let (_, rx) = self.recv_waiters.pop_front().expect("a receiver waits");
                    rx.slot = RecvSlot::Item(item);
                    wakers.push(std::mem::replace(&mut rx.waker, Waker::noop().clone()));
                }
                SendSlot::Item(item) => self.buffer.push_back(item),
                _ => {
                    self.send_waiters.entries[key.index].slot = SendSlot::Granted;
                    self.reserved += 1;
                }
            }
        }
    }

    /// Takes the next item: the buffer's head, else the oldest queued sender's item.
    #[inline]
    fn take(&mut self, wakers: &mut WakeList) -> Option<T> {
        if let Some(item) = self.buffer.pop_front() {
            self.refill(wakers);
            return Some(item);
        }
        if self.send_closed() {
            return None;
        }
        let key = self.send_waiters.front()?;
        if !matches!(self.send_waiters.entries[key.index].slot, SendSlot::Item(_)) {
            return None;
        }
        let (_, entry) = self.send_waiters.pop_front().expect("front exists");
        let SendSlot::Item(item) = std::mem::replace(&mut entry.slot, SendSlot::Sent) else {
            unreachable!("checked above")
        };
        wakers.push(std::mem::replace(&mut entry.waker, Waker::noop().clone()));
        Some(item)
    }

    /// Puts back an item a cancelled receiver had been handed: to the next waiting receiver,
    /// else at the head of the buffer. Returns it if no receiver is left to ever take it.
    fn redeliver(&mut self, item: T, wakers: &mut WakeList) -> Option<T> {
        if self.receivers == 0 {
            return Some(item);
        }
        if let Some((_, entry)) = self.recv_waiters.pop_front() {
            entry.slot = RecvSlot::Item(item);
            wakers.push(std::mem::replace(&mut entry.waker, Waker::noop().clone()));
        } else {
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

/// The result of polling a send.
pub(crate) enum SendPoll<T> {
    /// The item was accepted.
    Sent,
    /// Queued (or still queued); `key` names the waiter.
    Pending,
    /// The stream is shut for sending; the item comes back.
    Shut(T, Shut),
}

impl<T> Chan<T> {
    /// A stream holding at most `capacity` items (`usize::MAX`: unbounded), with one open
    /// handle on each side.
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            state: Mutex::new(State {
                buffer: VecDeque::with_capacity(capacity.min(1024)),
                capacity,
                reserved: 0,
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

    pub(crate) fn counters(&self) -> Counters {
        let s = self.lock();
        Counters {
            buffer_used: s.buffer.len(),
            capacity: (s.capacity != usize::MAX).then_some(s.capacity),
            senders: s.senders,
            receivers: s.receivers,
            waiting_send: s.send_waiters.waiting,
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

    /// Polls a send whose item is `item` (first poll) or whose waiter is `key` (later polls).
    pub(crate) fn poll_send(
        &self,
        item: &mut Option<T>,
        key: &mut Option<Key>,
        cx: &mut Context<'_>,
    ) -> SendPoll<T> {
        let mut wakers = WakeList::default();
        let result = {
            let mut guard = self.lock();
            let s = &mut *guard;
            match *key {
                None => {
                    let it = item.take().expect("send polled after completion");
                    if let Some(why) = s.send_shut {
                        return SendPoll::Shut(it, why);
                    }
                    match s.offer(it, &mut wakers) {
                        Ok(()) => SendPoll::Sent,
                        Err(it) => {
                            *key =
                                Some(s.send_waiters.push(SendSlot::Item(it), cx.waker().clone()));
                            SendPoll::Pending
                        }
                    }
                }
                Some(k) => {
                    let entry = s
                        .send_waiters
                        .get_mut(k)
                        .expect("send waiter entry is owned");
                    match entry.slot {
                        SendSlot::Sent => {
                            s.send_waiters.remove(k);
                            *key = None;
                            SendPoll::Sent
                        }
                        SendSlot::Item(_) if s.send_shut.is_some() => {
                            let why = s.send_shut.expect("checked");
                            let Some(SendSlot::Item(it)) = s.send_waiters.remove(k) else {
                                unreachable!("matched above")
                            };
                            *key = None;
                            SendPoll::Shut(it, why)
                        }
                        _ => {
                            s.send_waiters.update_waker(k, cx.waker());
                            SendPoll::Pending
                        }
                    }
                }
            }
        };
        wakers.wake();
        result
    }

    /// A queued send was cancelled (or gave up because its handle was closed): removes its
    /// waiter and returns its item if it was not delivered. A delivered item stays delivered.
    pub(crate) fn cancel_send(&self, key: Key) -> Option<T> {
        let slot = self.lock().send_waiters.remove(key);
        match slot {
            Some(SendSlot::Item(item)) => Some(item),
            _ => None,
        }
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
                let entry = s
                    .send_waiters
                    .get_mut(k)
                    .expect("reserve waiter entry is owned");
                match entry.slot {
                    SendSlot::Granted => {
                        s.send_waiters.remove(k);
                        *key = None;
                        Poll::Ready(Ok(()))
                    }
                    _ if s.send_shut.is_some() => {
                        s.send_waiters.remove(k);
                        *key = None;
                        Poll::Ready(Err(s.send_shut.expect("checked")))
                    }
                    _ => {
                        s.send_waiters.update_waker(k, cx.waker());
                        Poll::Pending
                    }
                }
            }
        }
    }

    /// A queued reservation was cancelled: if room had been granted to it, pass that room on.
    pub(crate) fn cancel_reserve(&self, key: Key) {
        let mut wakers = WakeList::default();
        {
            let mut s = self.lock();
            if let Some(SendSlot::Granted) = s.send_waiters.remove(key) {
                s.reserved -= 1;
                s.refill(&mut wakers);
            }
        }
        wakers.wake();
    }

    /// Uses one unit of reserved room to deliver `item`.
    pub(crate) fn send_reserved(&self, item: T) -> Result<(), (T, Shut)> {
        let mut wakers = WakeList::default();
        {
            let mut s = self.lock();
            s.reserved -= 1;
            if let Some(why) = s.send_shut {
                s.refill(&mut wakers);
                drop(s);
                wakers.wake();
                return Err((item, why));
            }
            if let Err(item) = s.offer(item, &mut wakers) {
                // Room was promised: when a sender is queued ahead, or on a rendezvous stream
                // whose waiting receiver left, the item still goes in (invariant 2).
                s.buffer.push_back(item);
            }
            s.refill(&mut wakers);
        }
        wakers.wake();
        Ok(())
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
                    let k = s.recv_waiters.push(RecvSlot::Waiting, cx.waker().clone());
                    // On a rendezvous stream a waiting receiver is room for a reservation, and
                    // granting one may bring a queued sender's item straight to this receiver.
                    s.refill(&mut wakers);
                    if let Some(RecvSlot::Item(_)) = s.recv_waiters.get_mut(k).map(|e| &e.slot) {
                        let Some(RecvSlot::Item(item)) = s.recv_waiters.remove(k) else {
                            unreachable!("matched above")
                        };
                        Poll::Ready(Ok(item))
                    } else {
                        *key = Some(k);
                        Poll::Pending
                    }
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
