//! The programs the torture suite runs: a tree of leaves, sequences, scopes and groups.

use super::*;

// ----- programs ---------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LeafKind {
    Sleep,
    Fail,
    Panic,
}

/// What a leaf does on the program's memory stream, without changing its timing: receives
/// (cancelling the pending `recv` when its sleep ends or it is dropped), or when its sleep ends
/// `try_send`s items, or closes its own clone of one end first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Io {
    None,
    Recv,
    Send(u8),
    CloseSender,
    CloseReceiver,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// `before`, `status.started(..)`, `after`.
    Started,
    /// `before`, then return holding the status (it is dropped as the child returns).
    NoStarted,
    /// `before`, `drop(status)`, `after`.
    DropStatus,
}

/// A program node. Durations hold a generated rank until [`number`] replaces them.
#[derive(Clone, Debug)]
pub(crate) enum N {
    Leaf {
        id: u32,
        kind: LeafKind,
        d: T,
        /// Stream traffic on the program's stream; it never changes the leaf's timing.
        io: Io,
    },
    Seq(Vec<N>),
    Scope {
        id: u32,
        /// Relative to entry.
        deadline: Option<T>,
        /// Absolute (from program start), by a task outside the tree.
        cancel: Option<T>,
        shield: bool,
        body: Box<N>,
    },
    Group {
        id: u32,
        children: Vec<C>,
        body: Vec<S>,
    },
}

#[derive(Clone, Debug)]
pub(crate) enum C {
    Spawn {
        id: u32,
        prog: N,
    },
    /// Sleeps `d`, then cancels its own group's scope.
    CancelGroup {
        id: u32,
        d: T,
    },
}

#[derive(Clone, Debug)]
pub(crate) enum S {
    Do(N),
    Start {
        id: u32,
        child: u32,
        before: N,
        mode: Mode,
        after: N,
    },
}

/// Gives every node an id and every timed event a distinct power-of-two duration (ordered by
/// the generated rank, ties by position).
pub(crate) fn number(root: &mut N) -> usize {
    fn walk<'a>(n: &'a mut N, ids: &mut u32, evs: &mut Vec<&'a mut T>) {
        match n {
            N::Leaf { id, d, .. } => {
                *id = next(ids);
                evs.push(d);
            }
            N::Seq(items) => items.iter_mut().for_each(|i| walk(i, ids, evs)),
            N::Scope {
                id,
                deadline,
                cancel,
                body,
                ..
            } => {
                *id = next(ids);
                if let Some(d) = deadline {
                    evs.push(d);
                }
                if let Some(c) = cancel {
                    evs.push(c);
                }
                walk(body, ids, evs);
            }
            N::Group { id, children, body } => {
                *id = next(ids);
                for c in children {
                    match c {
                        C::Spawn { id, prog } => {
                            *id = next(ids);
                            walk(prog, ids, evs);
                        }
                        C::CancelGroup { id, d } => {
                            *id = next(ids);
                            evs.push(d);
                        }
                    }
                }
                for s in body {
                    match s {
                        S::Do(n) => walk(n, ids, evs),
                        S::Start {
                            id,
                            child,
                            before,
                            after,
                            ..
                        } => {
                            *id = next(ids);
                            *child = next(ids);
                            walk(before, ids, evs);
                            walk(after, ids, evs);
                        }
                    }
                }
            }
        }
    }
    fn next(ids: &mut u32) -> u32 {
        *ids += 1;
        *ids
    }
    let mut ids = 0;
    let mut evs = Vec::new();
    walk(root, &mut ids, &mut evs);
    let n = evs.len();
    let mut order: Vec<(T, usize)> = evs.iter().enumerate().map(|(i, r)| (**r, i)).collect();
    order.sort();
    for (k, (_, i)) in order.into_iter().enumerate() {
        *evs[i] = 1 << k;
    }
    n
}

pub(crate) fn count_events(n: &N) -> usize {
    match n {
        N::Leaf { .. } => 1,
        N::Seq(items) => items.iter().map(count_events).sum(),
        N::Scope {
            deadline,
            cancel,
            body,
            ..
        } => deadline.is_some() as usize + cancel.is_some() as usize + count_events(body),
        N::Group { children, body, .. } => {
            children
                .iter()
                .map(|c| match c {
                    C::Spawn { prog, .. } => count_events(prog),
                    C::CancelGroup { .. } => 1,
                })
                .sum::<usize>()
                + body
                    .iter()
                    .map(|s| match s {
                        S::Do(n) => count_events(n),
                        S::Start { before, after, .. } => {
                            count_events(before) + count_events(after)
                        }
                    })
                    .sum::<usize>()
        }
    }
}
