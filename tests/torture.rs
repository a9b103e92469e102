//! Torture suite: random programs of nested task groups, cancel scopes (deadlines, shields,
//! external cancels), failing / panicking / sleeping children and `start()` handshakes, run on
//! tokio's paused clock and checked against an exact model of the semantics.
//!
//! # How it works
//!
//! proptest generates a program tree ([`N`]). Every timed event (a leaf's sleep, a deadline, an
//! external cancel, a child that cancels its group) gets a distinct power-of-two duration in
//! milliseconds, so every instant at which something happens is a sum of a distinct set of
//! powers of two: no two unrelated events ever happen at the same virtual instant, and the
//! outcome of a program is a function of the program alone. [`model`] computes that outcome:
//! for every node, when it started, when it ended and how (completed, failed, panicked, dropped,
//! caught its own cancellation), the effective deadline seen inside it, the result of every
//! `start()` call, and the report (every failure, at the group that collects it, in order) or
//! panic that comes out of the top. The program is then run for real and its log must equal the
//! model's exactly. On top of that, when any group returns, every node below it must have ended
//! (nothing runs after its group returned, nothing is detached), and each case is bounded by a
//! `tokio::time::timeout` (a hang fails, with the program printed; proptest prints the seed).
//!
//! `TETHER_TORTURE_CASES` sets the number of cases (default 256); e.g.
//! `TETHER_TORTURE_CASES=20000 cargo test --release --test torture` for a soak run.

use std::collections::BTreeMap;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::time::Duration;

use futures::FutureExt;
use futures::future::BoxFuture;
use proptest::prelude::*;
use tether::{
    CancelScope, CancelSource, MemoryReceiver, MemorySender, StartError, TaskGroup, TaskStatus,
    current_effective_deadline, task_group,
};
use tokio::time::{Instant, sleep, sleep_until};

type T = u64;
const NEVER: T = T::MAX;
const MAX_EVENTS: usize = 30;

// ----- programs ---------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LeafKind {
    Sleep,
    Fail,
    Panic,
}

/// What a leaf does on the program's memory stream, without changing its timing: receives
/// (cancelling the pending `recv` when its sleep ends or it is dropped), or when its sleep ends
/// `try_send`s items, or closes its own clone of one end first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Io {
    None,
    Recv,
    Send(u8),
    CloseSender,
    CloseReceiver,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// `before`, `status.started(..)`, `after`.
    Started,
    /// `before`, then return holding the status (it is dropped as the child returns).
    NoStarted,
    /// `before`, `drop(status)`, `after`.
    DropStatus,
}

/// A program node. Durations hold a generated rank until [`number`] replaces them.
#[derive(Clone, Debug)]
enum N {
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
enum C {
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
enum S {
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
fn number(root: &mut N) -> usize {
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

fn count_events(n: &N) -> usize {
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

// ----- what is observed ---------------------------------------------------------------------------

/// A failure report: a leaf's error, or a nested group's `GroupError` (failures in order).
#[derive(Clone, Debug, PartialEq, Eq)]
enum Rep {
    Leaf(u32),
    Group(u32, Vec<Rep>),
    Unknown(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Kind {
    Ok,
    Err(Rep),
    /// A leaf that panicked.
    Panic,
    /// Dropped before finishing (cancelled from outside, or a panic went through it).
    Dropped,
    /// A scope that stopped its body because of its own cancellation.
    Caught(CancelSource),
    /// A group whose own scope was cancelled before its body finished.
    GroupCancelled,
    StartOk,
    NotStarted,
    StatusDropped,
    StartFailed(Rep),
    StartCancelled,
    StartOther(String),
}

#[derive(Clone, Debug, PartialEq, Eq, Default)]
struct Entry {
    start: T,
    end: Option<(T, Kind)>,
    /// Effective deadline seen at the start of a leaf, or inside a scope's body.
    eff: Option<Option<T>>,
}

#[derive(Debug)]
struct TErr(Rep);

impl fmt::Display for TErr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}
impl std::error::Error for TErr {}

#[derive(Default)]
struct Log {
    entries: Mutex<BTreeMap<u32, Entry>>,
    violations: Mutex<Vec<String>>,
}

/// The program's memory stream and the ledger of every item.
struct StreamCtx {
    tx: MemorySender<u64>,
    rx: MemoryReceiver<u64>,
    next: AtomicU64,
    ledger: Mutex<Ledger>,
}

#[derive(Default, Debug)]
struct Ledger {
    sent: Vec<u64>,
    received: Vec<u64>,
    handed_back: Vec<u64>,
    wrong_hand_back: Vec<(u64, u64)>,
}

#[derive(Clone)]
struct Ctx {
    stream: Arc<StreamCtx>,
    log: Arc<Log>,
    t0: Instant,
    scopes: Arc<BTreeMap<u32, CancelScope>>,
}

impl Ctx {
    fn now(&self) -> T {
        let e = Instant::now() - self.t0;
        let ms = e.as_millis() as T;
        if Duration::from_millis(ms) != e {
            self.log
                .violations
                .lock()
                .unwrap()
                .push(format!("time off the millisecond grid: {e:?}"));
        }
        ms
    }
    fn eff(&self) -> Option<T> {
        current_effective_deadline().map(|d| (d - self.t0).as_millis() as T)
    }
    fn guard(&self, id: u32) -> Guard {
        let start = self.now();
        let prev = self.log.entries.lock().unwrap().insert(
            id,
            Entry {
                start,
                ..Entry::default()
            },
        );
        if prev.is_some() {
            self.violate(format!("node {id} started twice"));
        }
        Guard {
            id,
            ctx: self.clone(),
            done: false,
        }
    }
    fn set_eff(&self, id: u32) {
        let eff = self.eff();
        self.log.entries.lock().unwrap().get_mut(&id).unwrap().eff = Some(eff);
    }
    fn violate(&self, msg: String) {
        self.log.violations.lock().unwrap().push(msg);
    }
}

/// Records when and how a node ended; dropped without `finish` = dropped.
struct Guard {
    id: u32,
    ctx: Ctx,
    done: bool,
}

impl Guard {
    fn finish(mut self, kind: Kind) {
        self.done = true;
        self.end(kind);
    }
    fn end(&self, kind: Kind) {
        let now = self.ctx.now();
        let mut entries = self.ctx.log.entries.lock().unwrap();
        let e = entries.get_mut(&self.id).unwrap();
        if e.end.is_some() {
            drop(entries);
            self.ctx.violate(format!("node {} ended twice", self.id));
            return;
        }
        e.end = Some((now, kind));
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if !self.done {
            self.end(Kind::Dropped);
        }
    }
}

fn kind_of(r: &Result<(), TErr>) -> Kind {
    match r {
        Ok(()) => Kind::Ok,
        Err(e) => Kind::Err(e.0.clone()),
    }
}

fn rep_of(e: &(dyn std::error::Error + 'static)) -> Rep {
    match e.downcast_ref::<TErr>() {
        Some(t) => t.0.clone(),
        None => Rep::Unknown(e.to_string()),
    }
}

fn ms(t: T) -> Duration {
    Duration::from_millis(t)
}

fn subtree_ids(n: &N, out: &mut Vec<u32>) {
    match n {
        N::Leaf { id, .. } => out.push(*id),
        N::Seq(items) => items.iter().for_each(|i| subtree_ids(i, out)),
        N::Scope { id, body, .. } => {
            out.push(*id);
            subtree_ids(body, out);
        }
        N::Group { id, children, body } => {
            out.push(*id);
            for c in children {
                match c {
                    C::Spawn { id, prog } => {
                        out.push(*id);
                        subtree_ids(prog, out);
                    }
                    C::CancelGroup { id, .. } => out.push(*id),
                }
            }
            for s in body {
                match s {
                    S::Do(n) => subtree_ids(n, out),
                    S::Start {
                        id,
                        child,
                        before,
                        after,
                        ..
                    } => {
                        out.push(*id);
                        out.push(*child);
                        subtree_ids(before, out);
                        subtree_ids(after, out);
                    }
                }
            }
        }
    }
}

// ----- the real run -------------------------------------------------------------------------------

fn exec(n: N, ctx: Ctx) -> BoxFuture<'static, Result<(), TErr>> {
    async move {
        match n {
            N::Leaf { id, kind, d, io } => {
                let g = ctx.guard(id);
                ctx.set_eff(id);
                let stream = &ctx.stream;
                let (tx, rx) = (stream.tx.clone(), stream.rx.clone());
                match io {
                    Io::CloseSender => tx.close(),
                    Io::CloseReceiver => rx.close(),
                    _ => {}
                }
                if io == Io::Recv {
                    let receiving = async {
                        while let Ok(item) = rx.recv().await {
                            stream.ledger.lock().unwrap().received.push(item);
                        }
                        std::future::pending::<()>().await
                    };
                    tokio::select! {
                        biased;
                        _ = sleep(ms(d)) => {}
                        _ = receiving => unreachable!(),
                    }
                } else {
                    sleep(ms(d)).await;
                }
                if let Io::Send(n) = io {
                    for _ in 0..n {
                        let item = stream.next.fetch_add(1, Ordering::SeqCst);
                        match tx.try_send(item) {
                            Ok(()) => stream.ledger.lock().unwrap().sent.push(item),
                            Err(e) => {
                                let back = e.into_inner();
                                let mut ledger = stream.ledger.lock().unwrap();
                                if back != item {
                                    ledger.wrong_hand_back.push((item, back));
                                }
                                ledger.handed_back.push(back);
                            }
                        }
                    }
                }
                drop((tx, rx));
                match kind {
                    LeafKind::Sleep => {
                        g.finish(Kind::Ok);
                        Ok(())
                    }
                    LeafKind::Fail => {
                        g.finish(Kind::Err(Rep::Leaf(id)));
                        Err(TErr(Rep::Leaf(id)))
                    }
                    LeafKind::Panic => {
                        g.finish(Kind::Panic);
                        std::panic::panic_any(format!("torture panic {id}"));
                    }
                }
            }
            N::Seq(items) => {
                for item in items {
                    exec(item, ctx.clone()).await?;
                }
                Ok(())
            }
            N::Scope {
                id, deadline, body, ..
            } => {
                let g = ctx.guard(id);
                let scope = ctx.scopes[&id].clone();
                if let Some(d) = deadline {
                    scope.set_deadline(Some(Instant::now() + ms(d)));
                }
                let inner = ctx.clone();
                let r = scope
                    .run(async move {
                        inner.set_eff(id);
                        exec(*body, inner).await
                    })
                    .await;
                match r {
                    Ok(r) => {
                        let k = kind_of(&r);
                        g.finish(k);
                        r
                    }
                    Err(cancelled) => {
                        if !scope.cancelled_caught() || !scope.cancel_called() {
                            ctx.violate(format!("scope {id}: Cancelled but not caught/called"));
                        }
                        g.finish(Kind::Caught(cancelled.reason().source()));
                        Ok(())
                    }
                }
            }
            N::Group { id, children, body } => {
                let g = ctx.guard(id);
                let mut below = Vec::new();
                subtree_ids(
                    &N::Group {
                        id,
                        children: children.clone(),
                        body: body.clone(),
                    },
                    &mut below,
                );
                let inner = ctx.clone();
                let res = AssertUnwindSafe(task_group(
                    async move |tg: &TaskGroup| -> Result<(), TErr> {
                        group_body(tg, children, body, inner).await
                    },
                ))
                .catch_unwind()
                .await;
                // Nothing below the group may still run once it returned.
                {
                    let entries = ctx.log.entries.lock().unwrap();
                    for b in below.iter().filter(|b| **b != id) {
                        if let Some(e) = entries.get(b)
                            && e.end.is_none()
                        {
                            ctx.violate(format!("group {id} returned while node {b} still runs"));
                        }
                    }
                }
                match res {
                    // Several outcomes travel together in a GroupPanic (checked in full by
                    // `a_resumed_panic_does_not_swallow_the_other_panics_and_failures`); the
                    // model follows the first panic, which is what propagates further up here.
                    Err(payload) => match payload.downcast::<tether::task_group::GroupPanic>() {
                        Ok(group) => {
                            let extra =
                                group.panics().len() - 1 + group.failures().map_or(0, |f| f.len());
                            if extra == 0 {
                                ctx.violate(format!(
                                    "group {id} resumed a GroupPanic holding a single panic"
                                ));
                            }
                            let (_, first) = group.into_panics().into_iter().next().unwrap();
                            resume_unwind(first)
                        }
                        Err(payload) => resume_unwind(payload),
                    },
                    Ok(Ok(())) => {
                        g.finish(Kind::Ok);
                        Ok(())
                    }
                    Ok(Err(e)) if e.is_cancelled() => {
                        g.finish(Kind::GroupCancelled);
                        Ok(())
                    }
                    Ok(Err(e)) => {
                        let rep = Rep::Group(id, e.iter().map(|f| rep_of(f.error())).collect());
                        g.finish(Kind::Err(rep.clone()));
                        Err(TErr(rep))
                    }
                }
            }
        }
    }
    .boxed()
}

async fn group_body(tg: &TaskGroup, children: Vec<C>, body: Vec<S>, ctx: Ctx) -> Result<(), TErr> {
    for c in children {
        let ctx = ctx.clone();
        match c {
            C::Spawn { id, prog } => tg.spawn(async move {
                let g = ctx.guard(id);
                let r = exec(prog, ctx.clone()).await;
                g.finish(kind_of(&r));
                r
            }),
            C::CancelGroup { id, d } => {
                let handle = tg.handle();
                tg.spawn(async move {
                    let g = ctx.guard(id);
                    sleep(ms(d)).await;
                    handle.cancel_scope().cancel();
                    g.finish(Kind::Ok);
                })
            }
        }
    }
    for s in body {
        match s {
            S::Do(n) => exec(n, ctx.clone()).await?,
            S::Start {
                id,
                child,
                before,
                mode,
                after,
            } => {
                let g = ctx.guard(id);
                let cctx = ctx.clone();
                let r = tg
                    .start(move |status: TaskStatus<u32>| async move {
                        let cg = cctx.guard(child);
                        if let Err(e) = exec(before, cctx.clone()).await {
                            cg.finish(Kind::Err(e.0.clone()));
                            return Err(e);
                        }
                        match mode {
                            Mode::Started => status.started(child),
                            Mode::NoStarted => {
                                let _held = status; // dropped as the child returns
                                cg.finish(Kind::Ok);
                                return Ok(());
                            }
                            Mode::DropStatus => drop(status),
                        }
                        let r = exec(after, cctx).await;
                        cg.finish(kind_of(&r));
                        r
                    })
                    .await;
                let kind = match r {
                    Ok(v) if v == child => Kind::StartOk,
                    Ok(v) => Kind::StartOther(format!("wrong value {v}")),
                    Err(StartError::NotStarted) => Kind::NotStarted,
                    Err(StartError::StatusDropped) => Kind::StatusDropped,
                    Err(StartError::Failed(e)) => Kind::StartFailed(rep_of(&*e)),
                    Err(StartError::Cancelled(_)) => Kind::StartCancelled,
                    Err(other) => Kind::StartOther(other.to_string()),
                };
                g.finish(kind);
            }
        }
    }
    Ok(())
}

// ----- the model ----------------------------------------------------------------------------------

#[derive(Clone, Debug, PartialEq, Eq)]
enum Out {
    Ok,
    Err(Rep),
    Panic(u32),
    Killed,
}

#[derive(Clone, Debug)]
struct Res {
    out: Out,
    end: T,
}

type Model = BTreeMap<u32, Entry>;

fn start(m: &mut Model, id: u32, s: T) {
    m.insert(
        id,
        Entry {
            start: s,
            ..Entry::default()
        },
    );
}

fn end(m: &mut Model, id: u32, t: T, k: Kind) {
    m.get_mut(&id).unwrap().end = Some((t, k));
}

/// The kind a wrapper node (not a leaf) logs for an outcome.
fn wrapper_kind(out: &Out) -> Kind {
    match out {
        Out::Ok => Kind::Ok,
        Out::Err(r) => Kind::Err(r.clone()),
        Out::Panic(_) | Out::Killed => Kind::Dropped,
    }
}

fn min_opt(a: Option<T>, b: Option<T>) -> Option<T> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, None) => a,
        (None, b) => b,
    }
}

/// Runs `n` from `s`; `k` is when an enclosing cancellation reaches it (up to a shield);
/// `eff` is the effective deadline of the context.
fn eval(n: &N, s: T, k: T, eff: Option<T>, m: &mut Model) -> Res {
    match n {
        N::Leaf { id, kind, d, .. } => {
            start(m, *id, s);
            // Inside a cancelled scope no time is left: the effective deadline is now.
            let eff_here = if k <= s {
                Some(eff.map_or(s, |e| e.min(s)))
            } else {
                eff
            };
            m.get_mut(id).unwrap().eff = Some(eff_here);
            let natural = s + d;
            if k < natural {
                let t = k.max(s);
                end(m, *id, t, Kind::Dropped);
                return Res {
                    out: Out::Killed,
                    end: t,
                };
            }
            let (out, kind) = match kind {
                LeafKind::Sleep => (Out::Ok, Kind::Ok),
                LeafKind::Fail => (Out::Err(Rep::Leaf(*id)), Kind::Err(Rep::Leaf(*id))),
                LeafKind::Panic => (Out::Panic(*id), Kind::Panic),
            };
            end(m, *id, natural, kind);
            Res { out, end: natural }
        }
        N::Seq(items) => {
            let mut t = s;
            for item in items {
                let r = eval(item, t, k, eff, m);
                if r.out != Out::Ok {
                    return r;
                }
                t = r.end;
            }
            Res {
                out: Out::Ok,
                end: t,
            }
        }
        N::Scope {
            id,
            deadline,
            cancel,
            shield,
            body,
        } => {
            start(m, *id, s);
            let own_dl = deadline.map(|d| s + d);
            let c_own = min_opt(own_dl, *cancel);
            let src = if own_dl.is_some() && own_dl == c_own {
                CancelSource::Deadline
            } else {
                CancelSource::Explicit
            };
            let c = c_own.unwrap_or(NEVER);
            let k_in = if *shield { c } else { k.min(c) };
            let eff_in = if *shield {
                own_dl
            } else {
                min_opt(eff, own_dl)
            };
            let r = if k_in <= s {
                // Entered inside a cancelled scope: the body is never polled.
                Res {
                    out: Out::Killed,
                    end: s,
                }
            } else {
                m.get_mut(id).unwrap().eff = Some(eff_in);
                eval(body, s, k_in, eff_in, m)
            };
            let (out, kind) = match r.out {
                // The outermost cancelled scope not behind a shield catches (Trio): this scope
                // catches its own cancellation only if no enclosing one reaches it by then.
                Out::Killed if c <= r.end && (*shield || k > r.end) => (Out::Ok, Kind::Caught(src)),
                out => {
                    let kind = wrapper_kind(&out);
                    (out, kind)
                }
            };
            end(m, *id, r.end, kind);
            Res { out, end: r.end }
        }
        N::Group { id, children, body } => {
            start(m, *id, s);
            if k <= s {
                end(m, *id, s, Kind::Dropped);
                return Res {
                    out: Out::Killed,
                    end: s,
                };
            }
            // Pass 1: when does the group cancel itself, ignoring its own cancellation?
            let mut scratch = m.clone();
            let first = run_group(children, body, s, k, eff, &mut scratch);
            let t_cancel = first.cancels.iter().copied().min().unwrap_or(NEVER);
            // Pass 2: with it.
            let g = run_group(children, body, s, k.min(t_cancel), eff, m);
            let (out, kind) = if let Some((_, p)) = g.panics.iter().min() {
                (Out::Panic(*p), Kind::Dropped)
            } else if !g.failures.is_empty() {
                let mut f = g.failures.clone();
                f.sort_by_key(|(t, _)| *t);
                let rep = Rep::Group(*id, f.into_iter().map(|(_, r)| r).collect());
                (Out::Err(rep.clone()), Kind::Err(rep))
            } else if k <= g.end {
                // An enclosing cancellation reaches the group when it exits: the outermost
                // cancelled scope catches, even if the group cancelled itself too.
                (Out::Killed, Kind::Dropped)
            } else if g.body.out == Out::Ok {
                (Out::Ok, Kind::Ok)
            } else {
                (Out::Ok, Kind::GroupCancelled)
            };
            end(m, *id, g.end, kind);
            Res { out, end: g.end }
        }
    }
}

struct GroupRun {
    end: T,
    body: Res,
    failures: Vec<(T, Rep)>,
    panics: Vec<(T, u32)>,
    cancels: Vec<T>,
}

fn run_group(children: &[C], body: &[S], s: T, k: T, eff: Option<T>, m: &mut Model) -> GroupRun {
    let mut g = GroupRun {
        end: s,
        body: Res {
            out: Out::Ok,
            end: s,
        },
        failures: Vec::new(),
        panics: Vec::new(),
        cancels: Vec::new(),
    };
    // What reaches the group from a child that belongs to it.
    fn to_group(g: &mut GroupRun, r: &Res) {
        match &r.out {
            Out::Err(rep) => {
                g.failures.push((r.end, rep.clone()));
                g.cancels.push(r.end);
            }
            Out::Panic(p) => {
                g.panics.push((r.end, *p));
                g.cancels.push(r.end);
            }
            Out::Ok | Out::Killed => {}
        }
        g.end = g.end.max(r.end);
    }
    for c in children {
        match c {
            C::Spawn { id, prog } => {
                start(m, *id, s);
                let r = eval(prog, s, k, eff, m);
                end(m, *id, r.end, wrapper_kind(&r.out));
                to_group(&mut g, &r);
            }
            C::CancelGroup { id, d } => {
                start(m, *id, s);
                let t = s + d;
                if k < t {
                    end(m, *id, k, Kind::Dropped);
                    g.end = g.end.max(k);
                } else {
                    end(m, *id, t, Kind::Ok);
                    g.cancels.push(t);
                    g.end = g.end.max(t);
                }
            }
        }
    }
    let mut t = s;
    let mut body_out = Out::Ok;
    for step in body {
        match step {
            S::Do(n) => {
                let r = eval(n, t, k, eff, m);
                t = r.end;
                if r.out != Out::Ok {
                    body_out = r.out;
                    break;
                }
            }
            S::Start {
                id,
                child,
                before,
                mode,
                after,
            } => {
                start(m, *id, t);
                if k <= t {
                    // The group is already cancelled (a shield held the body until now): the
                    // child is dropped before its first poll, start() with the body.
                    end(m, *id, t, Kind::Dropped);
                    body_out = Out::Killed;
                    break;
                }
                start(m, *child, t);
                let b = eval(before, t, k, eff, m);
                let e1 = b.end;
                // (host result: Some((time, step kind, host outcome)) or None = host killed at k)
                let mut host: Option<(T, Kind, Out)> = None;
                let child_res: Res;
                let mut child_to_group = false;
                match &b.out {
                    Out::Killed => child_res = b.clone(),
                    Out::Err(rep) => {
                        child_res = b.clone();
                        if e1 < k {
                            host = Some((e1, Kind::StartFailed(rep.clone()), Out::Ok));
                        } else {
                            child_to_group = true;
                        }
                    }
                    Out::Panic(p) => {
                        child_res = b.clone();
                        if e1 < k {
                            host = Some((e1, Kind::Dropped, Out::Panic(*p)));
                        } else {
                            child_to_group = true;
                        }
                    }
                    Out::Ok => {
                        if e1 > k {
                            // start() was dropped at k; the child was cancelled then.
                            child_res = match mode {
                                Mode::NoStarted => b.clone(),
                                _ => eval(after, e1, k, eff, m),
                            };
                            child_to_group = true;
                        } else {
                            match mode {
                                Mode::Started => {
                                    host = Some((e1, Kind::StartOk, Out::Ok));
                                    child_res = eval(after, e1, k, eff, m);
                                    child_to_group = true;
                                }
                                Mode::NoStarted => {
                                    host = Some((e1, Kind::NotStarted, Out::Ok));
                                    child_res = b.clone();
                                }
                                Mode::DropStatus => {
                                    let a = eval(after, e1, e1, eff, m);
                                    if a.end < k {
                                        host = Some(match &a.out {
                                            Out::Ok => (a.end, Kind::NotStarted, Out::Ok),
                                            Out::Err(rep) => {
                                                (a.end, Kind::StartFailed(rep.clone()), Out::Ok)
                                            }
                                            Out::Panic(p) => (a.end, Kind::Dropped, Out::Panic(*p)),
                                            Out::Killed => (a.end, Kind::StatusDropped, Out::Ok),
                                        });
                                    } else {
                                        child_to_group = true;
                                    }
                                    child_res = a;
                                }
                            }
                        }
                    }
                }
                end(m, *child, child_res.end, wrapper_kind(&child_res.out));
                if child_to_group {
                    to_group(&mut g, &child_res);
                } else {
                    g.end = g.end.max(child_res.end);
                }
                match host {
                    Some((te, kind, out)) => {
                        end(m, *id, te, kind);
                        t = te;
                        if out != Out::Ok {
                            body_out = out;
                            break;
                        }
                    }
                    None => {
                        end(m, *id, k, Kind::Dropped);
                        t = k;
                        body_out = Out::Killed;
                        break;
                    }
                }
            }
        }
    }
    g.body = Res {
        out: body_out,
        end: t,
    };
    let body = g.body.clone();
    to_group(&mut g, &body);
    g
}

/// The model's prediction for a whole program (the root is a group, with no enclosing scope).
fn model(root: &N) -> (Model, Out) {
    let mut m = Model::new();
    let r = eval(root, 0, NEVER, None, &mut m);
    (m, r.out)
}

// ----- running a case -----------------------------------------------------------------------------

fn quiet_torture_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let ours = info
                .payload()
                .downcast_ref::<String>()
                .is_some_and(|s| s.starts_with("torture panic"));
            if !ours {
                default(info);
            }
        }));
    });
}

fn scopes_of(n: &N, out: &mut Vec<(u32, Option<T>, bool)>) {
    match n {
        N::Leaf { .. } => {}
        N::Seq(items) => items.iter().for_each(|i| scopes_of(i, out)),
        N::Scope {
            id,
            cancel,
            shield,
            body,
            ..
        } => {
            out.push((*id, *cancel, *shield));
            scopes_of(body, out);
        }
        N::Group { children, body, .. } => {
            for c in children {
                if let C::Spawn { prog, .. } = c {
                    scopes_of(prog, out);
                }
            }
            for s in body {
                match s {
                    S::Do(n) => scopes_of(n, out),
                    S::Start { before, after, .. } => {
                        scopes_of(before, out);
                        scopes_of(after, out);
                    }
                }
            }
        }
    }
}

/// Items sent, received by leaves, drained at the end, handed back (over the whole run).
static TRAFFIC: [AtomicU64; 4] = [const { AtomicU64::new(0) }; 4];

fn run_case(root: &N) -> Result<(), TestCaseError> {
    run_case_with(root, Some(1))
}

fn run_case_with(root: &N, capacity: Option<usize>) -> Result<(), TestCaseError> {
    let stream_out: Arc<Mutex<Option<Arc<StreamCtx>>>> = Arc::default();
    let stream_out2 = stream_out.clone();
    quiet_torture_panics();
    let (expected, expected_out) = model(root);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap();
    let log = Arc::new(Log::default());
    let root2 = root.clone();
    let log2 = log.clone();
    let result = catch_unwind(AssertUnwindSafe(|| {
        let stream_out = stream_out2;
        rt.block_on(async move {
            let t0 = Instant::now();
            let mut specs = Vec::new();
            scopes_of(&root2, &mut specs);
            let mut scopes = BTreeMap::new();
            for (id, cancel, shield) in specs {
                let scope = CancelScope::new().with_shield(shield);
                if let Some(c) = cancel {
                    let handle = scope.clone();
                    tokio::spawn(async move {
                        sleep_until(t0 + ms(c)).await;
                        handle.cancel();
                    });
                }
                scopes.insert(id, scope);
            }
            let (tx, rx) = match capacity {
                Some(c) => tether::memory_stream(c),
                None => tether::unbounded_memory_stream(),
            };
            let stream = Arc::new(StreamCtx {
                tx,
                rx,
                next: AtomicU64::new(0),
                ledger: Mutex::new(Ledger::default()),
            });
            *stream_out.lock().unwrap() = Some(stream.clone());
            let ctx = Ctx {
                stream,
                log: log2,
                t0,
                scopes: Arc::new(scopes),
            };
            // Every event is below 2^MAX_EVENTS ms: a program still running after twice that hangs.
            tokio::time::timeout(ms(2 << MAX_EVENTS), exec(root2, ctx)).await
        })
    }));
    drop(rt);
    let actual_out = match result {
        Ok(Ok(Ok(()))) => Out::Ok,
        Ok(Ok(Err(e))) => Out::Err(e.0),
        Ok(Err(_elapsed)) => {
            return Err(TestCaseError::fail(format!("program hung: {root:#?}")));
        }
        Err(payload) => match payload.downcast_ref::<String>() {
            Some(s) if s.starts_with("torture panic ") => {
                Out::Panic(s["torture panic ".len()..].parse().unwrap())
            }
            _ => resume_unwind(payload),
        },
    };
    // Stream traffic: every item sent was received exactly once or is still buffered; every
    // refused item was handed back to its sender.
    let stream = stream_out.lock().unwrap().take().unwrap();
    let mut drained = Vec::new();
    while let Ok(item) = stream.rx.try_recv() {
        drained.push(item);
    }
    {
        let ledger = stream.ledger.lock().unwrap();
        prop_assert!(ledger.wrong_hand_back.is_empty(), "{ledger:?}");
        let mut sent = ledger.sent.clone();
        let mut got: Vec<u64> = ledger.received.iter().chain(&drained).copied().collect();
        sent.sort_unstable();
        got.sort_unstable();
        prop_assert_eq!(
            &sent,
            &got,
            "items sent vs received + drained ({:?})",
            ledger
        );
        TRAFFIC[0].fetch_add(ledger.sent.len() as u64, Ordering::Relaxed);
        TRAFFIC[1].fetch_add(ledger.received.len() as u64, Ordering::Relaxed);
        TRAFFIC[2].fetch_add(drained.len() as u64, Ordering::Relaxed);
        TRAFFIC[3].fetch_add(ledger.handed_back.len() as u64, Ordering::Relaxed);
        let total = ledger.sent.len() + ledger.handed_back.len();
        prop_assert_eq!(total as u64, stream.next.load(Ordering::SeqCst));
    }
    let violations = log.violations.lock().unwrap().clone();
    prop_assert!(violations.is_empty(), "violations: {violations:?}");
    let actual = log.entries.lock().unwrap().clone();
    for (id, e) in &actual {
        prop_assert!(e.end.is_some(), "node {id} never ended: {e:?}");
    }
    prop_assert_eq!(&actual_out, &expected_out, "outcome of the program");
    if actual != expected {
        let mut diff = String::new();
        for id in expected.keys().chain(actual.keys()) {
            let (a, e) = (actual.get(id), expected.get(id));
            if a != e {
                diff.push_str(&format!(
                    "node {id}: actual {a:?}\n          expected {e:?}\n"
                ));
            }
        }
        return Err(TestCaseError::fail(format!(
            "log differs from the model:\n{diff}"
        )));
    }
    Ok(())
}

// ----- generators ---------------------------------------------------------------------------------

fn rank() -> impl Strategy<Value = T> {
    0..64u64
}

fn leaf() -> impl Strategy<Value = N> {
    let kind = prop_oneof![
        6 => Just(LeafKind::Sleep),
        3 => Just(LeafKind::Fail),
        1 => Just(LeafKind::Panic),
    ];
    let io = prop_oneof![
        6 => Just(Io::None),
        3 => Just(Io::Recv),
        3 => (1..4u8).prop_map(Io::Send),
        1 => Just(Io::CloseSender),
        1 => Just(Io::CloseReceiver),
    ];
    (kind, rank(), io).prop_map(|(kind, d, io)| N::Leaf { id: 0, kind, d, io })
}

fn child(prog: BoxedStrategy<N>) -> impl Strategy<Value = C> {
    prop_oneof![
        4 => prog.prop_map(|prog| C::Spawn { id: 0, prog }),
        1 => rank().prop_map(|d| C::CancelGroup { id: 0, d }),
    ]
}

fn step(prog: BoxedStrategy<N>) -> impl Strategy<Value = S> {
    let mode = prop_oneof![
        Just(Mode::Started),
        Just(Mode::NoStarted),
        Just(Mode::DropStatus)
    ];
    prop_oneof![
        2 => prog.clone().prop_map(S::Do),
        1 => (prog.clone(), mode, prog).prop_map(|(before, mode, after)| S::Start {
            id: 0,
            child: 0,
            before,
            mode,
            after,
        }),
    ]
}

fn group(prog: BoxedStrategy<N>) -> impl Strategy<Value = N> {
    (
        prop::collection::vec(child(prog.clone()), 0..4),
        prop::collection::vec(step(prog), 1..3),
    )
        .prop_map(|(children, body)| N::Group {
            id: 0,
            children,
            body,
        })
}

fn prog() -> BoxedStrategy<N> {
    leaf()
        .prop_recursive(3, 20, 3, |inner| {
            let inner = inner.boxed();
            prop_oneof![
                2 => prop::collection::vec(inner.clone(), 1..4).prop_map(N::Seq),
                3 => (
                    prop::option::weighted(0.5, rank()),
                    prop::option::weighted(0.3, rank()),
                    prop::bool::weighted(0.3),
                    inner.clone(),
                )
                    .prop_map(|(deadline, cancel, shield, body)| N::Scope {
                        id: 0,
                        deadline,
                        cancel,
                        shield,
                        body: Box::new(body),
                    }),
                2 => group(inner),
            ]
        })
        .boxed()
}

fn program() -> impl Strategy<Value = N> {
    group(prog())
        .prop_filter("at most MAX_EVENTS timed events", |n| {
            count_events(n) <= MAX_EVENTS
        })
        .prop_map(|mut n| {
            number(&mut n);
            n
        })
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

/// Random programs behave exactly as the model says.
///
/// `TETHER_TORTURE_CASES` (default 512) scales the run; `TETHER_TORTURE_SEED` replays one (the
/// seed is printed on every run, and a failure prints the shrunk program).
#[test]
fn random_programs_match_the_model() {
    use proptest::test_runner::{Config, RngSeed, TestRunner};
    let cases = env_u64("TETHER_TORTURE_CASES").unwrap_or(512) as u32;
    let seed = env_u64("TETHER_TORTURE_SEED").unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64
    });
    eprintln!("torture: {cases} cases, seed {seed} (replay with TETHER_TORTURE_SEED={seed})");
    let config = Config {
        cases,
        max_shrink_iters: 4096,
        rng_seed: RngSeed::Fixed(seed),
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    let capacity = prop_oneof![Just(Some(0usize)), Just(Some(1)), Just(Some(4)), Just(None)];
    if let Err(e) = runner.run(&(program(), capacity), |(root, capacity)| {
        run_case_with(&root, capacity)
    }) {
        panic!("torture failed with seed {seed} (TETHER_TORTURE_SEED={seed}): {e}");
    }
    let [sent, received, drained, back] = TRAFFIC.each_ref().map(|a| a.load(Ordering::Relaxed));
    eprintln!(
        "torture: stream items sent {sent} (received {received}, drained {drained}), handed back {back}"
    );
    if cases >= 100 {
        assert!(
            received > 0 && drained > 0 && back > 0,
            "the generator made no stream traffic"
        );
    }
}

// ----- hand-written programs: the model itself is checked on known answers ------------------------

fn leaf_n(kind: LeafKind, rank: T) -> N {
    N::Leaf {
        id: 0,
        kind,
        d: rank,
        io: Io::None,
    }
}

#[test]
fn a_failure_cancels_a_sleeping_sibling_and_is_reported_once() {
    let mut root = N::Group {
        id: 0,
        children: vec![
            C::Spawn {
                id: 0,
                prog: leaf_n(LeafKind::Fail, 1),
            },
            C::Spawn {
                id: 0,
                prog: leaf_n(LeafKind::Sleep, 2),
            },
        ],
        body: vec![S::Do(leaf_n(LeafKind::Sleep, 3))],
    };
    number(&mut root);
    let (m, out) = model(&root);
    // ids: group 1, child 2 + leaf 3 (fails at 1 ms), child 4 + leaf 5, body leaf 6.
    assert_eq!(out, Out::Err(Rep::Group(1, vec![Rep::Leaf(3)])));
    assert_eq!(m[&5].end, Some((1, Kind::Dropped)));
    assert_eq!(m[&6].end, Some((1, Kind::Dropped)));
    run_case(&root).unwrap();
}

#[test]
fn a_shield_finishes_inside_a_cancelled_scope_and_the_next_await_is_cut() {
    // scope(deadline 1ms) { shield { sleep 2ms }; sleep 4ms }
    let mut root = N::Group {
        id: 0,
        children: vec![],
        body: vec![S::Do(N::Scope {
            id: 0,
            deadline: Some(0),
            cancel: None,
            shield: false,
            body: Box::new(N::Seq(vec![
                N::Scope {
                    id: 0,
                    deadline: None,
                    cancel: None,
                    shield: true,
                    body: Box::new(leaf_n(LeafKind::Sleep, 1)),
                },
                leaf_n(LeafKind::Sleep, 2),
            ])),
        })],
    };
    number(&mut root);
    let (m, out) = model(&root);
    assert_eq!(out, Out::Ok);
    // outer scope 2 caught its deadline at 2 ms, when the shield (3, leaf 4) finished.
    assert_eq!(m[&2].end, Some((2, Kind::Caught(CancelSource::Deadline))));
    assert_eq!(m[&4].end, Some((2, Kind::Ok)));
    assert_eq!(m[&5].end, Some((2, Kind::Dropped)));
    run_case(&root).unwrap();
}

#[test]
fn start_failures_come_out_of_start_not_the_group() {
    let mut root = N::Group {
        id: 0,
        children: vec![],
        body: vec![
            S::Start {
                id: 0,
                child: 0,
                before: leaf_n(LeafKind::Fail, 1),
                mode: Mode::Started,
                after: leaf_n(LeafKind::Sleep, 2),
            },
            S::Start {
                id: 0,
                child: 0,
                before: leaf_n(LeafKind::Sleep, 3),
                mode: Mode::DropStatus,
                after: leaf_n(LeafKind::Sleep, 4),
            },
        ],
    };
    number(&mut root);
    let (m, out) = model(&root);
    assert_eq!(out, Out::Ok);
    assert_eq!(m[&2].end, Some((1, Kind::StartFailed(Rep::Leaf(4)))));
    assert_eq!(m[&6].end, Some((5, Kind::StatusDropped)));
    run_case(&root).unwrap();
}

/// The generator reaches every behaviour the model knows (else the suite would pass vacuously).
#[test]
fn the_generator_covers_every_behaviour() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut nodes = 0;
    let mut events = 0;
    let n = 256;
    for _ in 0..n {
        let root = program().new_tree(&mut runner).unwrap().current();
        events += count_events(&root);
        let (m, out) = model(&root);
        nodes += m.len();
        let name = |k: &Kind| {
            let s = format!("{k:?}");
            s.split(['(', ' ']).next().unwrap().to_string()
        };
        for e in m.values() {
            let (_, k) = e.end.as_ref().unwrap();
            let key = match k {
                Kind::Caught(src) => format!("Caught({src:?})"),
                Kind::Err(Rep::Group(..)) => "Err(Group)".to_string(),
                k => name(k),
            };
            *seen.entry(key).or_default() += 1;
        }
        let top = match out {
            Out::Ok => "top:Ok",
            Out::Err(_) => "top:Err",
            Out::Panic(_) => "top:Panic",
            Out::Killed => "top:Killed",
        };
        *seen.entry(top.to_string()).or_default() += 1;
    }
    eprintln!("{n} programs, {nodes} nodes, {events} timed events; outcomes: {seen:?}");
    for key in [
        "Ok",
        "Err",
        "Err(Group)",
        "Panic",
        "Dropped",
        "Caught(Deadline)",
        "Caught(Explicit)",
        "GroupCancelled",
        "StartOk",
        "NotStarted",
        "StatusDropped",
        "StartFailed",
        "top:Ok",
        "top:Err",
        "top:Panic",
    ] {
        assert!(
            seen.contains_key(key),
            "the generator never produced {key}: {seen:?}"
        );
    }
    assert!(!seen.contains_key("top:Killed"));
}

/// Found while writing the model: a group used to resume only its first panic and drop every
/// other outcome (a second child's panic, every failure). Now a group with more than one thing
/// to report resumes a `GroupPanic` that carries all of them.
#[test]
fn a_resumed_panic_does_not_swallow_the_other_panics_and_failures() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap();
    quiet_torture_panics();
    let payload = catch_unwind(AssertUnwindSafe(|| {
        rt.block_on(task_group(async |tg| {
            // Shielded waits at distinct times: each outcome really happens, in this order.
            tg.spawn(async {
                tether::shield(sleep(ms(1))).await;
                if true {
                    std::panic::panic_any("torture panic first".to_string());
                }
            });
            tg.spawn(async {
                tether::shield(sleep(ms(2))).await;
                Err::<(), _>("a failure")
            });
            tg.spawn(async {
                tether::shield(sleep(ms(3))).await;
                if true {
                    std::panic::panic_any("torture panic second".to_string());
                }
            });
        }))
    }))
    .unwrap_err();
    let group = payload
        .downcast::<tether::task_group::GroupPanic>()
        .expect("several outcomes come out as a GroupPanic");
    assert_eq!(
        group.panic_messages(),
        vec!["torture panic first", "torture panic second"]
    );
    let failures = group
        .failures()
        .expect("the failure travels with the panics");
    assert_eq!(failures.len(), 1);
    assert!(failures.to_string().contains("a failure"), "{failures}");
    let text = group.to_string();
    assert!(
        text.starts_with("task group panicked (2 panics): task ") && text.contains("a failure"),
        "{text}"
    );
}
