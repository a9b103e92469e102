//! Running a program for real: what is observed, the real run, and one case end to end.

use super::*;

// ----- what is observed ---------------------------------------------------------------------------

/// A failure report: a leaf's error, or a nested group's `GroupError` (failures in order).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Rep {
    Leaf(u32),
    Group(u32, Vec<Rep>),
    Unknown(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
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
pub(crate) struct Entry {
    pub(crate) start: T,
    pub(crate) end: Option<(T, Kind)>,
    /// Effective deadline seen at the start of a leaf, or inside a scope's body.
    pub(crate) eff: Option<Option<T>>,
}

#[derive(Debug)]
pub(crate) struct TErr(Rep);

impl fmt::Display for TErr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}
impl std::error::Error for TErr {}

#[derive(Default)]
pub(crate) struct Log {
    pub(crate) entries: Mutex<BTreeMap<u32, Entry>>,
    pub(crate) violations: Mutex<Vec<String>>,
}

/// The program's memory stream and the ledger of every item.
pub(crate) struct StreamCtx {
    pub(crate) tx: MemorySender<u64>,
    pub(crate) rx: MemoryReceiver<u64>,
    pub(crate) next: AtomicU64,
    pub(crate) ledger: Mutex<Ledger>,
}

#[derive(Default, Debug)]
pub(crate) struct Ledger {
    pub(crate) sent: Vec<u64>,
    pub(crate) received: Vec<u64>,
    pub(crate) handed_back: Vec<u64>,
    pub(crate) wrong_hand_back: Vec<(u64, u64)>,
}

#[derive(Clone)]
pub(crate) struct Ctx {
    /// The chaos decorations of this run (none for the programs checked against the model).
    pub(crate) chaos: Arc<crate::chaos::Chaos>,
    pub(crate) stream: Arc<StreamCtx>,
    pub(crate) log: Arc<Log>,
    pub(crate) t0: Instant,
    pub(crate) scopes: Arc<BTreeMap<u32, CancelScope>>,
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
pub(crate) struct Guard {
    pub(crate) id: u32,
    pub(crate) ctx: Ctx,
    pub(crate) done: bool,
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

pub(crate) fn kind_of(r: &Result<(), TErr>) -> Kind {
    match r {
        Ok(()) => Kind::Ok,
        Err(e) => Kind::Err(e.0.clone()),
    }
}

pub(crate) fn rep_of(e: &(dyn std::error::Error + 'static)) -> Rep {
    match e.downcast_ref::<TErr>() {
        Some(t) => t.0.clone(),
        None => Rep::Unknown(e.to_string()),
    }
}

pub(crate) fn ms(t: T) -> Duration {
    Duration::from_millis(t)
}

pub(crate) fn subtree_ids(n: &N, out: &mut Vec<u32>) {
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

pub(crate) fn exec(n: N, ctx: Ctx) -> BoxFuture<'static, Result<(), TErr>> {
    async move {
        match n {
            N::Leaf { id, kind, d, io } => {
                let g = ctx.guard(id);
                ctx.set_eff(id);
                let mut bomb = ctx.chaos.bomb(id, &ctx);
                ctx.chaos.nested_executor(id);
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
                if let Some(bomb) = &mut bomb {
                    bomb.defuse(); // the leaf was not cut off
                }
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
                    Err(payload) => match payload.downcast::<tether::GroupPanic>() {
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

pub(crate) async fn group_body(
    tg: &TaskGroup,
    children: Vec<C>,
    body: Vec<S>,
    ctx: Ctx,
) -> Result<(), TErr> {
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

// ----- running a case -----------------------------------------------------------------------------

pub(crate) fn quiet_torture_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let ours = info
                .payload()
                .downcast_ref::<String>()
                .is_some_and(|s| s.starts_with("torture "));
            if !ours {
                default(info);
            }
        }));
    });
}

pub(crate) fn scopes_of(n: &N, out: &mut Vec<(u32, Option<T>, bool)>) {
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
pub(crate) static TRAFFIC: [AtomicU64; 4] = [const { AtomicU64::new(0) }; 4];

pub(crate) fn run_case(root: &N) -> Result<(), TestCaseError> {
    run_case_with(root, Some(1))
}

pub(crate) fn run_case_with(root: &N, capacity: Option<usize>) -> Result<(), TestCaseError> {
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
                chaos: Arc::default(),
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
