//! A program stuck in three typical ways, and the watchdog saying why.
//!
//! 1. a child that never ends (it waits on a foreign future);
//! 2. a consumer receiving from a stream nobody feeds (the only sender sits in a group whose
//!    body is done but whose child never ends);
//! 3. two tasks in a lock cycle (each holds one lock and waits for the other's).
//!
//! The watchdog (a child of the main group) prints its diagnosis and the task tree; once it has
//! named all three, the program cancels everything and exits 0. Bounded: it gives up after 10 s.
//!
//! Run with `cargo run --example stuck`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tether::{Event, Finding, Lock, WaitTarget, Watchdog, memory_stream_in, task_group};

#[derive(Default)]
struct Seen {
    never_ends: bool,
    unfed_stream: bool,
    lock_cycle: bool,
}

#[tokio::main]
async fn main() {
    tether::enable_task_tree();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let diagnosed = Arc::new(Event::new());

    let (s, d) = (seen.clone(), diagnosed.clone());
    let watchdog = Watchdog::new(Duration::from_millis(300)).on_report(move |report| {
        println!("{report}");
        let mut seen = s.lock().unwrap();
        for finding in &report.findings {
            match finding {
                Finding::PendingInBody { path, .. } if path.contains("\"never-ends\"") => {
                    seen.never_ends = true
                }
                Finding::LongWait {
                    on: WaitTarget::Stream { send: false, .. },
                    ..
                } => seen.unfed_stream = true,
                Finding::LockCycle { .. } => seen.lock_cycle = true,
                _ => {}
            }
        }
        if seen.never_ends && seen.unfed_stream && seen.lock_cycle {
            d.set();
        }
    });

    let run = task_group(async |tg| {
        tg.spawn_named("watchdog", watchdog.run());

        // 1. A child that never ends.
        tg.spawn_named("never-ends", std::future::pending::<()>());

        // 2. A receive on a stream nobody feeds.
        let consumers = tg.handle();
        tg.spawn_named("producers", async move {
            task_group(async |producers| {
                let (tx, rx) = memory_stream_in::<String>(&producers.handle(), 16);
                producers.spawn_named("idle-producer", async move {
                    let _tx = tx; // keeps the stream open, never sends
                    std::future::pending::<()>().await
                });
                consumers
                    .spawn_named("consumer", async move {
                        while let Ok(line) = rx.recv().await {
                            println!("got {line}");
                        }
                    })
                    .expect("the main group is open");
            })
            .await
        });

        // 3. Two tasks in a lock cycle.
        let (accounts, ledger) = (Arc::new(Lock::new()), Arc::new(Lock::new()));
        let (a_held, b_held) = (Arc::new(Event::new()), Arc::new(Event::new()));
        {
            let (accounts, ledger) = (accounts.clone(), ledger.clone());
            let (a_held, b_held) = (a_held.clone(), b_held.clone());
            tg.spawn_named("transfer", async move {
                let _accounts = accounts.lock().await.unwrap();
                a_held.set();
                b_held.wait().await;
                let _ledger = ledger.lock().await.unwrap();
            });
        }
        tg.spawn_named("audit", async move {
            let _ledger = ledger.lock().await.unwrap();
            b_held.set();
            a_held.wait().await;
            let _accounts = accounts.lock().await.unwrap();
        });

        diagnosed.wait().await;
        println!(
            "all three hangs diagnosed; the tree right now:\n{}",
            tether::task_tree()
        );
        println!("cancelling everything");
        tg.cancel_scope()
            .cancel_with("the watchdog diagnosed every hang");
    });
    match tokio::time::timeout(Duration::from_secs(10), run).await {
        Ok(_) => {
            assert!(tether::task_tree().is_empty(), "everything has exited");
            println!("done: every group, scope and child has exited");
        }
        Err(_) => {
            eprintln!("the watchdog did not diagnose all three hangs within 10 s");
            std::process::exit(1);
        }
    }
}
