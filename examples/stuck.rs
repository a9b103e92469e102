//! A program stuck in four typical ways, and the watchdog saying why.
//!
//! 1. a child that never ends (it waits on a foreign future);
//! 2. a consumer receiving from a stream nobody feeds: its only sender sits in a child that
//!    sent a greeting and now waits forever, inside a group whose body is done;
//! 3. two tasks in a lock cycle (each holds one lock and waits for the other's);
//! 4. a cycle through a semaphore: a task holds the only connection of a pool and waits for a
//!    cache lock, whose holder waits for a connection.
//!
//! The watchdog (a child of the main group) reports each finding; the program explains each
//! one with the part of the tree it is about: who holds what is waited on (the lock's owner, the
//! semaphore's holders, the stream's senders) and what those holders wait on themselves, and the
//! subtree of a group stuck waiting for its children. Once all are named, it prints the whole
//! tree, cancels everything and exits 0 (about half a second). Bounded: it gives up after 10 s.
//!
//! Run with `cargo run --example stuck`. `cargo test --example stuck` runs it on a paused clock
//! and checks the diagnosis.

use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tether::{
    Event, Finding, Lock, Semaphore, TaskId, TaskTree, WaitTarget, Watchdog, WatchdogReport,
    memory_stream_in, task_group,
};

#[tokio::main]
async fn main() {
    match run(|text| print!("{text}")).await {
        Ok(()) => println!("done: every group, scope and child has exited"),
        Err(why) => {
            eprintln!("{why}");
            std::process::exit(1);
        }
    }
}

/// What the watchdog has named so far.
#[derive(Default)]
struct Seen {
    never_ends: bool,
    unfed_stream: bool,
    stuck_group: bool,
    lock_cycle: bool,
    semaphore_cycle: bool,
}

impl Seen {
    fn all(&self) -> bool {
        self.never_ends
            && self.unfed_stream
            && self.stuck_group
            && self.lock_cycle
            && self.semaphore_cycle
    }
}

/// Gets stuck in the four ways, hands every explained report to `out`, then cancels everything.
async fn run(out: impl Fn(&str) + Send + Sync + 'static) -> Result<(), String> {
    tether::enable_task_tree();
    let out = Arc::new(out);
    let seen = Arc::new(Mutex::new(Seen::default()));
    let diagnosed = Arc::new(Event::new());

    let (s, d, o) = (seen.clone(), diagnosed.clone(), out.clone());
    let watchdog = Watchdog::new(Duration::from_millis(300)).on_report(move |report| {
        o(&explain(report));
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
                Finding::StuckGroup { .. } => seen.stuck_group = true,
                Finding::LockCycle { .. } => seen.lock_cycle = true,
                Finding::WaitCycle { .. } => seen.semaphore_cycle = true,
                _ => {}
            }
        }
        if seen.all() {
            d.set();
        }
    });

    let run = task_group(async |tg| {
        tg.spawn_named("watchdog", watchdog.run());

        // 1. A child that never ends.
        tg.spawn_named("never-ends", std::future::pending::<()>());

        // 2. A receive on a stream nobody feeds any more.
        let consumers = tg.handle();
        tg.spawn_named("producers", async move {
            task_group(async |producers| {
                let (tx, rx) = memory_stream_in::<String>(&producers.handle(), 16);
                producers.spawn_named("idle-producer", async move {
                    // Sends a greeting (which makes it the sender's known holder), then keeps
                    // the stream open without ever sending again.
                    tx.send("hello".to_owned()).await.ok();
                    std::future::pending::<()>().await
                });
                consumers
                    .spawn_named("consumer", async move {
                        while let Ok(line) = rx.recv().await {
                            drop(line);
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

        // 4. A cycle through a semaphore (a pool of one connection) and a lock.
        let (pool, cache) = (Arc::new(Semaphore::new(1)), Arc::new(Lock::new()));
        let cache_held = Arc::new(Event::new());
        {
            let (pool, cache, cache_held) = (pool.clone(), cache.clone(), cache_held.clone());
            tg.spawn_named("refresh", async move {
                let _connection = pool.acquire().await;
                cache_held.wait().await;
                let _cache = cache.lock().await.unwrap();
            });
        }
        tg.spawn_named("request", async move {
            let _cache = cache.lock().await.unwrap();
            cache_held.set();
            let _connection = pool.acquire().await;
        });

        diagnosed.wait().await;
        out(&format!(
            "all hangs diagnosed; the whole tree right now:\n{}cancelling everything\n",
            tether::task_tree()
        ));
        tg.cancel_scope()
            .cancel_with("the watchdog diagnosed every hang");
    });
    match tokio::time::timeout(Duration::from_secs(10), run).await {
        Ok(_) if tether::task_tree().is_empty() => Ok(()),
        Ok(_) => Err(format!(
            "entries left in the tree after exit:\n{}",
            tether::task_tree()
        )),
        Err(_) => Err("the watchdog did not diagnose every hang within 10 s".to_owned()),
    }
}

/// A report's findings, each with the part of the tree it is about.
fn explain(report: &WatchdogReport) -> String {
    let tree = &report.tree;
    let mut text = String::new();
    for finding in &report.findings {
        writeln!(text, "- {finding}").unwrap();
        match finding {
            Finding::LongWait { on, .. } => {
                for holder in holders(on) {
                    writeln!(text, "    {}", holder_line(tree, holder, on)).unwrap();
                }
            }
            Finding::StuckGroup { path, .. } => {
                if let Some(group) = tree.find_path(path) {
                    writeln!(text, "    the stuck group:").unwrap();
                    for line in tree.subtree(group.id).to_string().lines() {
                        writeln!(text, "      {line}").unwrap();
                    }
                }
            }
            _ => {}
        }
    }
    text
}

/// Who can end a wait: the lock's owner, the semaphore's token holders, the limiter's task
/// borrowers, the stream's sender holders.
fn holders(on: &WaitTarget) -> Vec<TaskId> {
    match on {
        WaitTarget::Lock {
            holder: Some(holder),
            ..
        } => vec![*holder],
        WaitTarget::Semaphore { holders, .. } => holders.clone(),
        WaitTarget::CapacityLimiter { borrowers, .. } => {
            borrowers.iter().filter_map(|b| b.as_task()).collect()
        }
        WaitTarget::Stream {
            senders_held_by: Some(holders),
            ..
        } => holders.clone(),
        _ => Vec::new(),
    }
}

/// `held by child "x" at ... [task 7], which waits for ...` (or is pending in its body).
fn holder_line(tree: &TaskTree, holder: TaskId, on: &WaitTarget) -> String {
    let verb = match on {
        WaitTarget::Stream { .. } => "its sender is held by",
        WaitTarget::CapacityLimiter { .. } => "borrowed by",
        _ => "held by",
    };
    let Some(child) = tree.child_of_task(holder) else {
        return format!("{verb} {holder}, which is not a tether child");
    };
    let mut what: Vec<String> = child
        .iter()
        .filter(|n| n.task == Some(holder))
        .flat_map(|n| n.waits.iter().map(|w| format!("waits for {}", w.on)))
        .collect();
    if what.is_empty() {
        what.push(match child.pending_for {
            Some(_) => "is pending in its body (not on a tether primitive)".to_owned(),
            None => "is running".to_owned(),
        });
    }
    format!(
        "{verb} {} [{holder}], which {}",
        child.label(),
        what.join(" and ")
    )
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    /// The example on a paused clock: every hang is diagnosed, and the diagnosis names the
    /// holders and shows the stuck group's subtree.
    #[tokio::test(start_paused = true)]
    async fn the_diagnosis_names_holders_and_shows_the_stuck_group() {
        let printed = Arc::new(Mutex::new(String::new()));
        let sink = printed.clone();
        super::run(move |text| sink.lock().unwrap().push_str(text))
            .await
            .unwrap();
        let text = printed.lock().unwrap().clone();
        let has = |needle: &str| assert!(text.contains(needle), "no {needle:?} in:\n{text}");
        // 1.
        has("child \"never-ends\" at examples/stuck.rs");
        // 2. the receive, who holds its sender, and the group stuck on that holder
        has("for receive from stream #");
        has("its sender is held by child \"idle-producer\" at examples/stuck.rs");
        has("which is pending in its body");
        has("    the stuck group:\n      group at examples/stuck.rs:");
        has("\n        child \"idle-producer\" at examples/stuck.rs");
        // 3.
        has("lock cycle (deadlock): ");
        has("\"transfer\"");
        has("\"audit\"");
        // 4. the semaphore cycle names both tasks and both resources
        let cycle = text
            .lines()
            .find(|l| l.starts_with("- wait cycle (deadlock): "))
            .unwrap_or_else(|| panic!("no wait cycle in:\n{text}"));
        for part in ["\"refresh\"", "\"request\"", "semaphore #", "lock #"] {
            assert!(cycle.contains(part), "no {part:?} in {cycle}");
        }
        has("all hangs diagnosed; the whole tree right now:");
    }
}
