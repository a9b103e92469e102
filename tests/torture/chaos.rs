//! Chaos: the bug classes of issue 8 added to the generator — shield toggles on middle scopes
//! (raised and lowered by an outside task at random instants), a `Drop` that panics or cancels a
//! scope when a leaf is cut off, and nested executors (`futures::executor::block_on` of a scope
//! and a checkpoint inside a leaf).
//!
//! The exact model does not cover these, so such programs are checked against invariants: the
//! program ends (a hang fails), every node ends, nothing below a group runs after the group
//! returned, and a panic in a `Drop` is never lost (it comes out of the top of the program).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::AtomicUsize;

use super::*;

/// Over the whole test: drop panics fired, drop cancels made, nested executors run inside a
/// cancelled scope, programs that ended in a panic (so the suite cannot pass vacuously).
pub(crate) static CHAOS_SEEN: [AtomicUsize; 4] = [const { AtomicUsize::new(0) }; 4];

/// The decorations of one run, derived from a seed.
#[derive(Default, Debug)]
pub(crate) struct Chaos {
    /// (scope id, absolute ms, shield value): an outside task sets the scope's shield then.
    pub(crate) toggles: Vec<(u32, T, bool)>,
    /// Leaves whose future panics in `Drop` when cut off.
    pub(crate) drop_panics: BTreeSet<u32>,
    /// Leaves whose future cancels this scope in `Drop` when cut off.
    pub(crate) drop_cancels: BTreeMap<u32, u32>,
    /// Leaves that run a nested executor first.
    pub(crate) nested: BTreeSet<u32>,
    /// Drop panics that really panicked (not during another unwind).
    pub(crate) fired: Arc<AtomicUsize>,
}

/// Held by a decorated leaf's future; does its thing if dropped before being defused.
pub(crate) struct Bomb {
    id: u32,
    panic: bool,
    cancel: Option<CancelScope>,
    nested: bool,
    fired: Arc<AtomicUsize>,
    defused: bool,
}

impl Bomb {
    pub(crate) fn defuse(&mut self) {
        self.defused = true;
    }
}

impl Drop for Bomb {
    fn drop(&mut self) {
        if self.defused {
            return;
        }
        if self.nested {
            // A nested executor in `Drop`: the position is the cut-off scope's parent, usually
            // cancelled.
            run_nested_executor();
        }
        if let Some(scope) = &self.cancel {
            CHAOS_SEEN[1].fetch_add(1, Ordering::Relaxed);
            scope.cancel();
        }
        if self.panic && !std::thread::panicking() {
            self.fired.fetch_add(1, Ordering::SeqCst);
            CHAOS_SEEN[0].fetch_add(1, Ordering::Relaxed);
            std::panic::panic_any(format!("torture drop panic {}", self.id));
        }
    }
}

impl Chaos {
    pub(crate) fn bomb(&self, id: u32, ctx: &Ctx) -> Option<Bomb> {
        let panic = self.drop_panics.contains(&id);
        let cancel = self.drop_cancels.get(&id).map(|s| ctx.scopes[s].clone());
        let nested = self.nested.contains(&id);
        (panic || nested || cancel.is_some()).then(|| Bomb {
            id,
            panic,
            cancel,
            nested,
            fired: self.fired.clone(),
            defused: false,
        })
    }

    /// A nested executor at the start of the leaf (and in its `Drop`, see [`Bomb`]).
    pub(crate) fn nested_executor(&self, id: u32) {
        if self.nested.contains(&id) {
            run_nested_executor();
        }
    }
}

/// A scope and a checkpoint under `futures::executor::block_on`: inside a cancelled scope both
/// must return, not hang.
fn run_nested_executor() {
    let cancelled = futures::executor::block_on(CancelScope::new().run(async {})).is_err();
    if cancelled {
        CHAOS_SEEN[2].fetch_add(1, Ordering::Relaxed);
    }
    futures::executor::block_on(tether::checkpoint_if_cancelled());
}

fn leaves_of(n: &N, out: &mut Vec<u32>) {
    let mut ids = Vec::new();
    subtree_ids(n, &mut ids);
    fn walk(n: &N, out: &mut Vec<u32>) {
        match n {
            N::Leaf { id, .. } => out.push(*id),
            N::Seq(items) => items.iter().for_each(|i| walk(i, out)),
            N::Scope { body, .. } => walk(body, out),
            N::Group { children, body, .. } => {
                for c in children {
                    if let C::Spawn { prog, .. } = c {
                        walk(prog, out);
                    }
                }
                for s in body {
                    match s {
                        S::Do(n) => walk(n, out),
                        S::Start { before, after, .. } => {
                            walk(before, out);
                            walk(after, out);
                        }
                    }
                }
            }
        }
    }
    walk(n, out);
}

/// Derives the decorations of `root` from `seed` (splitmix64).
pub(crate) fn chaos_for(root: &N, seed: u64) -> Chaos {
    let mut state = seed;
    let mut next = move || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    let mut scopes = Vec::new();
    scopes_of(root, &mut scopes);
    let mut leaves = Vec::new();
    leaves_of(root, &mut leaves);
    let horizon: T = 1 << count_events(root).clamp(2, 16);
    let mut chaos = Chaos::default();
    for (id, _, _) in &scopes {
        for _ in 0..(next() % 3) {
            chaos.toggles.push((*id, next() % horizon, next() % 2 == 0));
        }
    }
    for id in leaves {
        match next() % 8 {
            0 => {
                chaos.drop_panics.insert(id);
            }
            1 if !scopes.is_empty() => {
                let (target, _, _) = scopes[(next() % scopes.len() as u64) as usize];
                chaos.drop_cancels.insert(id, target);
            }
            2 => {
                chaos.nested.insert(id);
            }
            _ => {}
        }
    }
    chaos
}

/// Runs `root` with `chaos` and checks the invariants (see the module docs), on a thread of its
/// own: a nested executor that blocks would stop the paused clock, so only a watchdog outside
/// the runtime can turn that hang into a failure.
pub(crate) fn run_chaos_case(root: &N, chaos: Chaos) -> Result<(), TestCaseError> {
    let (tx, rx) = std::sync::mpsc::channel();
    let root2 = root.clone();
    let described = format!("{chaos:#?}");
    std::thread::spawn(move || {
        let _ = tx.send(run_chaos_case_here(&root2, chaos));
    });
    match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(result) => result,
        Err(_) => Err(TestCaseError::fail(format!(
            "program blocked its thread (hung): {root:#?}\nchaos: {described}"
        ))),
    }
}

fn run_chaos_case_here(root: &N, chaos: Chaos) -> Result<(), TestCaseError> {
    quiet_torture_panics();
    let chaos = Arc::new(chaos);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap();
    let log = Arc::new(Log::default());
    let (root2, log2, chaos2) = (root.clone(), log.clone(), chaos.clone());
    let result = catch_unwind(AssertUnwindSafe(|| {
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
            for &(id, at, shield) in &chaos2.toggles {
                let handle = scopes[&id].clone();
                tokio::spawn(async move {
                    sleep_until(t0 + ms(at)).await;
                    handle.set_shield(shield);
                });
            }
            let (tx, rx) = tether::memory_stream(1);
            let ctx = Ctx {
                chaos: chaos2,
                stream: Arc::new(StreamCtx {
                    tx,
                    rx,
                    next: AtomicU64::new(0),
                    ledger: Mutex::new(Ledger::default()),
                }),
                log: log2,
                t0,
                scopes: Arc::new(scopes),
            };
            tokio::time::timeout(ms(4 << MAX_EVENTS), exec(root2, ctx)).await
        })
    }));
    drop(rt);
    let panicked = match result {
        Ok(Ok(_)) => false,
        Ok(Err(_elapsed)) => {
            return Err(TestCaseError::fail(format!(
                "program hung: {root:#?}\nchaos: {chaos:#?}"
            )));
        }
        Err(_payload) => {
            CHAOS_SEEN[3].fetch_add(1, Ordering::Relaxed);
            true
        }
    };
    let violations = log.violations.lock().unwrap().clone();
    prop_assert!(
        violations.is_empty(),
        "violations: {violations:?}\nchaos: {chaos:#?}"
    );
    let entries = log.entries.lock().unwrap().clone();
    for (id, e) in &entries {
        prop_assert!(
            e.end.is_some(),
            "node {id} never ended: {e:?}\nchaos: {chaos:#?}"
        );
    }
    if chaos.fired.load(Ordering::SeqCst) > 0 {
        prop_assert!(panicked, "a panic in Drop was lost\nchaos: {chaos:#?}");
    }
    Ok(())
}
