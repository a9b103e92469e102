//! Torture suite (a folder: `program`, `model`, `generator`, `runner`, and `chaos` for the bug
//! classes checked by invariants): random programs of nested task groups, cancel scopes (deadlines, shields,
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

mod chaos;
mod generator;
mod model;
mod program;
mod runner;

use chaos::*;
use generator::*;
use model::*;
use program::*;
use runner::*;

/// Random programs decorated with the bug classes of issue 8 (shield toggles on middle scopes,
/// `Drop` that panics or cancels, nested executors) keep the invariants (see `chaos.rs`).
/// `TETHER_CHAOS_CASES` (default 256) scales the run; `TETHER_TORTURE_SEED` replays one.
#[test]
fn random_programs_with_chaos_keep_the_invariants() {
    let cases = env_u64("TETHER_CHAOS_CASES").unwrap_or(256) as u32;
    let seed = env_u64("TETHER_TORTURE_SEED").unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64
    });
    eprintln!("chaos: {cases} cases, seed {seed} (replay with TETHER_TORTURE_SEED={seed})");
    let config = proptest::test_runner::Config {
        cases,
        max_shrink_iters: 1024,
        rng_seed: proptest::test_runner::RngSeed::Fixed(seed),
        failure_persistence: None,
        ..proptest::test_runner::Config::default()
    };
    let mut runner = proptest::test_runner::TestRunner::new(config);
    if let Err(e) = runner.run(&(random_program(), any::<u64>()), |(root, chaos_seed)| {
        run_chaos_case(&root, chaos_for(&root, chaos_seed))
    }) {
        panic!("chaos failed with seed {seed} (TETHER_TORTURE_SEED={seed}): {e}");
    }
    let [fired, cancels, nested, panicked] =
        CHAOS_SEEN.each_ref().map(|a| a.load(Ordering::Relaxed));
    eprintln!(
        "chaos: drop panics {fired}, drop cancels {cancels}, nested executors in a cancelled \
         scope {nested}, programs ending in a panic {panicked}"
    );
    if cases >= 100 {
        assert!(
            fired > 0 && cancels > 0 && nested > 0,
            "the chaos generator did not reach every bug class"
        );
    }
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
    if let Err(e) = runner.run(&(random_program(), capacity), |(root, capacity)| {
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
        let root = random_program().new_tree(&mut runner).unwrap().current();
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
        .downcast::<tether::GroupPanic>()
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
