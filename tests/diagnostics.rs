//! The live task tree, names, waits and the watchdog (issue 13), against the public API.
//!
//! The tree is process-wide, so the tests of this file run one at a time (`serial`), each on
//! its own runtime, and each checks that the tree is empty again when it is done. Deterministic:
//! paused clock, events instead of sleeps, every run bounded.

mod support;

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use support::{bounded, bounded_for, settle};
use tether::{
    CancelScope, CancelSource, EntryKind, Event, Finding, Lock, TaskTree, TreeNode, WaitTarget,
    Watchdog, memory_stream_in, move_on_after, task_group, task_tree,
};

static SERIAL: Mutex<()> = Mutex::new(());

/// Runs `test` alone, with the tree on, on a current-thread runtime with a paused clock; checks
/// that nothing is left in the tree afterwards.
fn serial<F: Future>(test: F) -> F::Output {
    let _one_at_a_time = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    tether::enable_task_tree();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap();
    let out = rt.block_on(bounded(test));
    drop(rt);
    let left = task_tree();
    assert!(left.is_empty(), "entries left in the tree:\n{left}");
    out
}

/// A compact form of a subtree's structure: kind, name or site line, deadline, shield.
fn shape(node: &TreeNode) -> String {
    let mut s = match node.kind {
        EntryKind::Group => "group".to_owned(),
        EntryKind::Child => "child".to_owned(),
        EntryKind::Scope => "scope".to_owned(),
        _ => "?".to_owned(),
    };
    match &node.name {
        Some(name) => s.push_str(&format!("({name})")),
        None => s.push_str(&format!("@{}", node.site.line)),
    }
    if node.shield {
        s.push_str("+shield");
    }
    if let Some(d) = node.deadline_in {
        s.push_str(&format!("+deadline{}s", d.as_secs()));
    }
    if !node.children.is_empty() {
        let kids: Vec<String> = node.children.iter().map(shape).collect();
        s.push_str(&format!("[{}]", kids.join(",")));
    }
    s
}

#[test]
fn a_three_deep_tree_shows_its_exact_structure_and_is_empty_after() {
    serial(async {
        let file = file!();
        let done = Arc::new(Event::new());
        let lines = Arc::new(Mutex::new(Vec::<u32>::new()));
        let outer_line = line!() + 1;
        let result = task_group(async |outer| {
            let (done2, lines2) = (done.clone(), lines.clone());
            outer.spawn_named("server", async move {
                let mid_line = line!() + 1;
                task_group(async |mid| {
                    let unnamed_line = line!() + 1;
                    mid.spawn(std::future::pending::<()>());
                    let done3 = done2.clone();
                    let conn_lines = lines2.clone();
                    mid.spawn_named("conn", async move {
                        // the scope's site is the line of its `.run(` call
                        conn_lines.lock().unwrap().push(line!() + 3);
                        CancelScope::new()
                            .with_shield(true)
                            .run(async {
                                task_group(async |inner| {
                                    let leaf_done = done3.clone();
                                    inner
                                        .spawn_named("leaf", async move { leaf_done.wait().await });
                                    done3.wait().await;
                                })
                                .await
                            })
                            .await
                    });
                    lines2.lock().unwrap().extend([mid_line, unnamed_line]);
                    std::future::pending::<()>().await;
                })
                .await
            });
            let deadline_line = line!() + 1;
            move_on_after(Duration::from_secs(5), async {
                settle().await;
                let tree = task_tree();
                // the server records its lines first, then the conn child its scope's line
                let [mid_line, unnamed_line, scope_line] = lines.lock().unwrap()[..] else {
                    panic!("lines not recorded: {:?}", lines.lock().unwrap())
                };
                assert_eq!(tree.roots.len(), 1, "{tree}");
                let root = &tree.roots[0];
                assert_eq!(root.site.file, file);
                assert_eq!(root.site.line, outer_line);
                let expected = format!(
                    "group@{outer_line}[child(server)[group@{mid_line}[child@{unnamed_line},\
                     child(conn)[scope@{scope_line}+shield[group@{}[child(leaf)]]]]],\
                     scope@{deadline_line}+deadline5s]",
                    scope_line + 1,
                );
                assert_eq!(shape(root), expected, "{tree}");
                // names, tasks, states, waits
                let leaf = tree.find("leaf").unwrap();
                assert!(leaf.task.is_some() && leaf.task != root.task);
                assert!(leaf.pending_for.is_some());
                assert!(matches!(leaf.waits[..], [ref w] if matches!(w.on, WaitTarget::Event)));
                assert_eq!(root.task, Some(tether::TaskId::current()));
                assert!(root.cancel.is_none());
                let text = tree.to_string();
                assert!(text.contains("child \"leaf\" at"), "{text}");
                assert!(text.contains("shielded"), "{text}");
                assert!(text.contains("deadline in 5s"), "{text}");
                assert!(
                    text.contains(&format!(
                        "pending in the body of child at {file}:{unnamed_line}"
                    )),
                    "{text}"
                );
            })
            .await;
            done.set();
            outer.cancel_scope().cancel();
        })
        .await;
        // cancelled at the very end of the body, which then returned: not an error
        result.unwrap();
    });
}

#[test]
fn cancel_state_shows_source_reason_and_inheritance_and_stops_at_a_shield() {
    serial(async {
        let release = Arc::new(Event::new());
        let r = release.clone();
        task_group(async |tg| {
            tg.spawn_named("shielded", async move {
                tether::shield(async {
                    r.wait().await; // the group was cancelled meanwhile; the shield runs on
                    let tree = task_tree();
                    let group = &tree.roots[0];
                    let own = group.cancel.clone().expect("the group is cancelled");
                    assert_eq!(own.source, CancelSource::Explicit);
                    assert_eq!(own.message.as_deref(), Some("enough"));
                    assert!(!own.inherited);
                    let child = tree.find("shielded").unwrap();
                    assert!(child.cancel.as_ref().unwrap().inherited, "{tree}");
                    let shield = &child.children[0];
                    assert!(shield.shield && shield.cancel.is_none(), "{tree}");
                    assert!(shield.children.is_empty());
                    assert!(
                        tree.to_string().contains("cancelled (Explicit: enough)"),
                        "{tree}"
                    );
                })
                .await;
            });
            settle().await;
            tg.cancel_scope().cancel_with("enough");
            release.set();
        })
        .await
        .unwrap();
    });
}

#[test]
fn no_entry_is_left_after_100k_spawns() {
    serial(async {
        task_group(async |tg| {
            for i in 0..100_000u32 {
                if i % 2 == 0 {
                    tg.spawn(async {});
                } else {
                    tg.spawn_named("short", async { tokio::task::yield_now().await });
                }
                if i % 1000 == 0 {
                    tokio::task::yield_now().await;
                }
            }
            assert!(!task_tree().is_empty());
        })
        .await
        .unwrap();
        // `serial` asserts the tree is empty
    });
}

#[test]
fn nothing_is_registered_while_the_tree_is_off() {
    serial(async {
        tether::disable_task_tree();
        task_group(async |tg| {
            tg.spawn_named("unseen", async { tokio::task::yield_now().await });
            tokio::task::yield_now().await;
            assert!(task_tree().is_empty());
        })
        .await
        .unwrap();
        tether::enable_task_tree();
    });
}

#[test]
fn start_and_lock_waits_name_what_they_wait_for() {
    serial(async {
        let lock = Arc::new(Lock::new());
        let lock_line = line!() - 1;
        let go = Arc::new(Event::new());
        task_group(async |tg| {
            let guard = lock.lock().await.unwrap();
            let l = lock.clone();
            tg.spawn_named("waiter", async move { drop(l.lock().await.unwrap()) });
            let g = go.clone();
            let observer = tg.handle();
            let host = tether::TaskId::current();
            let (lock2, go2) = (lock.clone(), go.clone());
            observer
                .spawn_named("observer", async move {
                    settle().await;
                    let tree = task_tree();
                    let group = &tree.roots[0];
                    assert!(
                        group.waits.iter().any(|w| matches!(&w.on,
                            WaitTarget::Started { child: Some(c) } if c.contains("\"srv\""))),
                        "{tree}"
                    );
                    let waiter = tree.find("waiter").unwrap();
                    match &waiter.waits[..] {
                        [w] => match &w.on {
                            WaitTarget::Lock { site, holder, .. } => {
                                assert_eq!(site.line, lock_line);
                                assert_eq!(*holder, Some(host));
                            }
                            other => panic!("waits on {other:?}"),
                        },
                        other => panic!("waits: {other:?}"),
                    }
                    assert_eq!(lock2.statistics().tasks_waiting, 1);
                    go2.set();
                })
                .unwrap();
            let port = tg
                .start_named("srv", |status| async move {
                    g.wait().await;
                    status.started(7u16);
                })
                .await
                .unwrap();
            assert_eq!(port, 7);
            drop(guard);
        })
        .await
        .unwrap();
    });
}

/// Collects watchdog findings and sets an event when `want` matches one.
fn collector(want: fn(&Finding) -> bool) -> (Arc<Mutex<Vec<Finding>>>, Arc<Event>, Watchdog) {
    let found = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::new(Event::new());
    let (f, s) = (found.clone(), seen.clone());
    let dog = Watchdog::new(Duration::from_secs(1)).on_report(move |report| {
        let mut f = f.lock().unwrap();
        f.extend(report.findings.iter().cloned());
        if f.iter().any(want) {
            s.set();
        }
    });
    (found, seen, dog)
}

#[test]
fn a_lock_cycle_is_reported_within_the_threshold_naming_both_tasks_and_locks() {
    serial(async {
        let a = Arc::new(Lock::new());
        let a_line = line!() - 1;
        let b = Arc::new(Lock::new());
        let b_line = line!() - 1;
        let (found, seen, dog) = collector(|f| matches!(f, Finding::LockCycle { .. }));
        let start = tokio::time::Instant::now();
        let (a_held, b_held) = (Arc::new(Event::new()), Arc::new(Event::new()));
        let result = task_group(async |tg| {
            tg.spawn_named("watchdog", dog.run());
            let (a1, b1, ah, bh) = (a.clone(), b.clone(), a_held.clone(), b_held.clone());
            tg.spawn_named("alice", async move {
                let _a = a1.lock().await.unwrap();
                ah.set();
                bh.wait().await;
                let _b = b1.lock().await.unwrap();
            });
            let (a2, b2, ah, bh) = (a.clone(), b.clone(), a_held.clone(), b_held.clone());
            tg.spawn_named("bob", async move {
                let _b = b2.lock().await.unwrap();
                bh.set();
                ah.wait().await;
                let _a = a2.lock().await.unwrap();
            });
            seen.wait().await;
            tg.cancel_scope().cancel();
        })
        .await;
        // cancelled at the very end of the body, which then returned: not an error
        result.unwrap();
        assert!(
            start.elapsed() <= Duration::from_secs(1),
            "took {:?}",
            start.elapsed()
        );
        let found = found.lock().unwrap();
        let links = found
            .iter()
            .find_map(|f| match f {
                Finding::LockCycle { links } => Some(links.clone()),
                _ => None,
            })
            .unwrap();
        assert_eq!(links.len(), 2);
        let mut names: Vec<String> = links
            .iter()
            .map(|l| l.task_label.clone().unwrap())
            .collect();
        names.sort();
        assert!(names[0].starts_with("child \"alice\""), "{names:?}");
        assert!(names[1].starts_with("child \"bob\""), "{names:?}");
        let mut lines: Vec<u32> = links.iter().map(|l| l.lock_site.line).collect();
        lines.sort();
        assert_eq!(lines, vec![a_line, b_line]);
        // each link's lock is held by the other link's task
        assert_eq!(links[0].holder, links[1].task);
        assert_eq!(links[1].holder, links[0].task);
        let text = Finding::LockCycle { links }.to_string();
        assert!(text.contains("alice") && text.contains("bob"), "{text}");
    });
}

#[test]
fn a_receiver_on_a_stream_fed_from_a_stuck_group_names_receiver_stream_and_group() {
    serial(async {
        let (found, seen, dog) = collector(|f| matches!(f, Finding::StuckGroup { .. }));
        let stream_line = Arc::new(AtomicUsize::new(0));
        let group_line = Arc::new(AtomicUsize::new(0));
        let result = task_group(async |outer| {
            outer.spawn_named("watchdog", dog.run());
            let consumers = outer.handle();
            let (sl, gl) = (stream_line.clone(), group_line.clone());
            outer.spawn_named("producers", async move {
                gl.store(line!() as usize + 1, Ordering::SeqCst);
                task_group(async |p| {
                    sl.store(line!() as usize + 1, Ordering::SeqCst);
                    let (tx, rx) = memory_stream_in::<u32>(&p.handle(), 4);
                    p.spawn_named("producer", async move {
                        let _tx = tx; // holds the only sender, never sends
                        std::future::pending::<()>().await
                    });
                    consumers
                        .spawn_named("consumer", async move { rx.recv().await.map(drop) })
                        .unwrap();
                })
                .await
            });
            seen.wait().await;
            // give the watchdog one more look, so the receiver's wait is past the threshold
            tokio::time::sleep(Duration::from_millis(300)).await;
            outer.cancel_scope().cancel();
        })
        .await;
        // cancelled at the very end of the body, which then returned: not an error
        result.unwrap();
        let found = found.lock().unwrap();
        let group_site = format!("group at {}:{}", file!(), group_line.load(Ordering::SeqCst));
        let stuck = found
            .iter()
            .find_map(|f| match f {
                Finding::StuckGroup { path, children, .. } => {
                    Some((path.clone(), children.clone()))
                }
                _ => None,
            })
            .unwrap();
        let stuck_group = stuck.0.rsplit(" / ").next().unwrap().to_owned();
        assert!(
            stuck_group.starts_with(&format!("{group_site}:")),
            "{}",
            stuck.0
        );
        assert!(
            stuck.1[0].starts_with("child \"producer\""),
            "{:?}",
            stuck.1
        );
        let wait = found
            .iter()
            .find_map(|f| match f {
                Finding::LongWait { path, on, .. } if path.contains("\"consumer\"") => {
                    Some(on.clone())
                }
                _ => None,
            })
            .unwrap_or_else(|| panic!("no report on the consumer: {found:#?}"));
        match wait {
            WaitTarget::Stream {
                send,
                site,
                senders,
                bound_to,
                ..
            } => {
                assert!(!send);
                assert_eq!(site.line as usize, stream_line.load(Ordering::SeqCst));
                assert_eq!(senders, 1);
                assert_eq!(bound_to.as_deref(), Some(&*stuck_group));
            }
            other => panic!("{other:?}"),
        }
    });
}

#[test]
fn snapshots_from_another_thread_never_show_a_child_outside_its_group() {
    let _one_at_a_time = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    tether::enable_task_tree();
    let stop = Arc::new(AtomicBool::new(false));
    let snapshots = Arc::new(AtomicUsize::new(0));
    let watcher = {
        let (stop, snapshots) = (stop.clone(), snapshots.clone());
        std::thread::spawn(move || {
            let mut max = 0;
            while !stop.load(Ordering::Acquire) {
                let tree: TaskTree = task_tree();
                for root in &tree.roots {
                    assert_ne!(
                        root.kind,
                        EntryKind::Child,
                        "a child outside its group:\n{tree}"
                    );
                    for node in root.iter() {
                        for child in &node.children {
                            if child.kind == EntryKind::Child {
                                assert_eq!(node.kind, EntryKind::Group, "{tree}");
                            }
                        }
                    }
                }
                max = max.max(tree.len());
                snapshots.fetch_add(1, Ordering::Relaxed);
            }
            max
        })
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(bounded_for(
        "10k children",
        Duration::from_secs(60),
        async {
            task_group(async |tg| {
                for i in 0..10_000u32 {
                    tg.spawn_named("c", async move {
                        if i % 3 == 0 {
                            tokio::task::yield_now().await;
                        }
                    });
                    if i % 500 == 0 {
                        tokio::task::yield_now().await;
                    }
                }
            })
            .await
            .unwrap();
        },
    ));
    drop(rt);
    stop.store(true, Ordering::Release);
    let max = watcher.join().expect("the snapshot thread panicked");
    assert!(snapshots.load(Ordering::Relaxed) > 0);
    assert!(max > 0, "no snapshot saw the group");
    assert!(task_tree().is_empty());
}

#[cfg(feature = "serde")]
#[test]
fn the_tree_serializes() {
    serial(async {
        task_group(async |tg| {
            tg.spawn_named("json", std::future::pending::<()>());
            settle().await;
            let json = serde_json::to_value(task_tree()).unwrap();
            let child = &json["roots"][0]["children"][0];
            assert_eq!(child["name"], "json");
            assert_eq!(child["kind"], "Child");
            assert!(child["task"].as_str().unwrap().starts_with("task "));
            tg.cancel_scope().cancel();
        })
        .await
        .ok();
    });
}

/// A limiter's borrower, as the tree lists it, serializes as its text.
#[cfg(feature = "serde")]
#[test]
fn a_borrower_serializes_as_its_text() {
    let borrower = tether::Borrower::key(7);
    assert_eq!(borrower.to_string(), "borrower 7");
    assert_eq!(serde_json::to_value(borrower).unwrap(), "borrower 7");
}

#[test]
fn a_lock_cycle_is_reported_the_moment_it_forms_not_at_the_next_look() {
    serial(async {
        let a = Arc::new(Lock::new());
        let b = Arc::new(Lock::new());
        let found = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::new(Event::new());
        let (f, s) = (found.clone(), seen.clone());
        // The periodic look comes only after 10 s (virtual): a report before that came from the
        // wait that closed the cycle.
        let dog = Watchdog::new(Duration::from_secs(20))
            .interval(Duration::from_secs(10))
            .on_report(move |report| {
                f.lock().unwrap().extend(report.findings.iter().cloned());
                s.set();
            });
        let start = tokio::time::Instant::now();
        let (a_held, b_held) = (Arc::new(Event::new()), Arc::new(Event::new()));
        task_group(async |tg| {
            tg.spawn_named("watchdog", dog.run());
            settle().await; // the watchdog waits for its first look
            let (a1, b1, ah, bh) = (a.clone(), b.clone(), a_held.clone(), b_held.clone());
            tg.spawn_named("alice", async move {
                let _a = a1.lock().await.unwrap();
                ah.set();
                bh.wait().await;
                let _b = b1.lock().await.unwrap();
            });
            let (a2, b2, ah, bh) = (a.clone(), b.clone(), a_held.clone(), b_held.clone());
            tg.spawn_named("bob", async move {
                let _b = b2.lock().await.unwrap();
                bh.set();
                ah.wait().await;
                let _a = a2.lock().await.unwrap();
            });
            seen.wait().await;
            tg.cancel_scope().cancel();
        })
        .await
        .unwrap();
        assert_eq!(
            start.elapsed(),
            Duration::ZERO,
            "reported only at a periodic look"
        );
        let found = found.lock().unwrap();
        let [Finding::LockCycle { links }] = &found[..] else {
            panic!("expected exactly the cycle (nothing has waited 20 s): {found:?}");
        };
        let mut names: Vec<String> = links
            .iter()
            .map(|l| l.task_label.clone().unwrap())
            .collect();
        names.sort();
        assert!(names[0].starts_with("child \"alice\""), "{names:?}");
        assert!(names[1].starts_with("child \"bob\""), "{names:?}");
    });
}

#[test]
fn a_lock_wait_that_is_not_a_cycle_wakes_no_watchdog() {
    serial(async {
        let lock = Arc::new(Lock::new());
        let reports = Arc::new(AtomicUsize::new(0));
        let r = reports.clone();
        let dog = Watchdog::new(Duration::from_secs(20))
            .interval(Duration::from_secs(10))
            .on_report(move |_| {
                r.fetch_add(1, Ordering::SeqCst);
            });
        let start = tokio::time::Instant::now();
        task_group(async |tg| {
            tg.spawn_named("watchdog", dog.run());
            let guard = lock.lock().await.unwrap();
            let l = lock.clone();
            tg.spawn_named("waiter", async move { drop(l.lock().await.unwrap()) });
            settle().await;
            assert_eq!(lock.statistics().tasks_waiting, 1);
            assert_eq!(reports.load(Ordering::SeqCst), 0);
            assert_eq!(start.elapsed(), Duration::ZERO);
            drop(guard);
            settle().await;
            tg.cancel_scope().cancel();
        })
        .await
        .unwrap();
        assert_eq!(reports.load(Ordering::SeqCst), 0);
    });
}

#[test]
fn a_three_task_lock_cycle_is_reported_at_once_and_named_whole() {
    serial(async {
        let locks: Vec<Arc<Lock>> = (0..3).map(|_| Arc::new(Lock::new())).collect();
        let held: Vec<Arc<Event>> = (0..3).map(|_| Arc::new(Event::new())).collect();
        let found = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::new(Event::new());
        let (f, s) = (found.clone(), seen.clone());
        let dog = Watchdog::new(Duration::from_secs(20))
            .interval(Duration::from_secs(10))
            .on_report(move |report| {
                f.lock().unwrap().extend(report.findings.iter().cloned());
                s.set();
            });
        let start = tokio::time::Instant::now();
        task_group(async |tg| {
            tg.spawn_named("watchdog", dog.run());
            for i in 0..3 {
                let (mine, next) = (locks[i].clone(), locks[(i + 1) % 3].clone());
                let held = held.clone();
                tg.spawn_named(format!("t{i}"), async move {
                    let _mine = mine.lock().await.unwrap();
                    held[i].set();
                    for h in &held {
                        h.wait().await;
                    }
                    let _next = next.lock().await.unwrap();
                });
            }
            seen.wait().await;
            tg.cancel_scope().cancel();
        })
        .await
        .unwrap();
        assert_eq!(start.elapsed(), Duration::ZERO);
        let found = found.lock().unwrap();
        let [Finding::LockCycle { links }] = &found[..] else {
            panic!("expected one cycle: {found:?}");
        };
        assert_eq!(links.len(), 3);
        for (i, link) in links.iter().enumerate() {
            assert_eq!(link.holder, links[(i + 1) % 3].task, "{links:?}");
        }
    });
}

#[test]
fn a_group_snapshot_holds_the_group_and_only_what_is_inside_it() {
    serial(async {
        task_group(async |outer| {
            outer.spawn_named("outside", std::future::pending::<()>());
            let kept = Arc::new(Mutex::new(None));
            let k = kept.clone();
            task_group(async |tg| {
                *k.lock().unwrap() = Some(tg.handle());
                tg.spawn_named("inside", async {
                    task_group(async |deep| {
                        deep.spawn_named("deeper", std::future::pending::<()>());
                        std::future::pending::<()>().await;
                    })
                    .await
                    .unwrap();
                });
                settle().await;
                let sub = tg.task_tree();
                assert_eq!(sub.roots.len(), 1, "{sub}");
                let root = &sub.roots[0];
                assert_eq!(root.kind, EntryKind::Group);
                assert_eq!(shape(root).matches("child(inside)").count(), 1, "{sub}");
                assert!(sub.find("deeper").is_some(), "{sub}");
                assert!(sub.find("outside").is_none(), "{sub}");
                // the same node, with the same contents, as in the whole tree
                let whole = task_tree();
                assert_eq!(shape(whole.get(root.id).unwrap()), shape(root));
                assert_eq!(whole.len(), sub.len() + 2, "{whole}"); // + outer group, "outside"
                // a handle gives the same view
                assert_eq!(shape(&tg.handle().task_tree().roots[0]), shape(root));
                tg.cancel_scope().cancel();
            })
            .await
            .unwrap();
            // the group has ended: its handle's snapshot is empty
            let handle = kept.lock().unwrap().take().unwrap();
            assert!(handle.task_tree().is_empty());
            outer.cancel_scope().cancel();
        })
        .await
        .unwrap();
        // a group opened while the tree is off has no snapshot
        tether::disable_task_tree();
        task_group(async |tg| {
            tether::enable_task_tree();
            tg.spawn_named("late", async {});
            assert!(tg.task_tree().is_empty());
        })
        .await
        .unwrap();
        tether::enable_task_tree();
    });
}

#[test]
fn semaphore_and_limiter_waits_name_who_holds_the_tokens() {
    serial(async {
        let sem = Arc::new(tether::Semaphore::new(1));
        let limiter = Arc::new(tether::CapacityLimiter::new(2));
        let release = Arc::new(Event::new());
        task_group(async |tg| {
            let (s, r) = (sem.clone(), release.clone());
            tg.spawn_named("holder", async move {
                let _permit = s.acquire().await;
                r.wait().await;
            });
            let (l, r) = (limiter.clone(), release.clone());
            tg.spawn_named("borrower", async move {
                let _token = l.acquire().await.unwrap();
                r.wait().await;
            });
            let _keyed = limiter
                .acquire_on_behalf_of(tether::Borrower::key(7))
                .await
                .unwrap();
            settle().await;
            let s = sem.clone();
            tg.spawn_named("sem-waiter", async move { drop(s.acquire().await) });
            let l = limiter.clone();
            tg.spawn_named(
                "limiter-waiter",
                async move { drop(l.acquire().await.unwrap()) },
            );
            settle().await;
            let tree = task_tree();
            let task_of = |name: &str| tree.find(name).unwrap().task.unwrap();
            match &tree.find("sem-waiter").unwrap().waits[..] {
                [w] => match &w.on {
                    WaitTarget::Semaphore { holders, .. } => {
                        assert_eq!(holders, &vec![task_of("holder")]);
                    }
                    other => panic!("waits on {other:?}"),
                },
                other => panic!("waits: {other:?}"),
            }
            match &tree.find("limiter-waiter").unwrap().waits[..] {
                [w] => match &w.on {
                    WaitTarget::CapacityLimiter { borrowers, .. } => {
                        let mut got: Vec<String> =
                            borrowers.iter().map(|b| b.to_string()).collect();
                        got.sort();
                        let mut want = vec![
                            tether::Borrower::task(task_of("borrower")).to_string(),
                            "borrower 7".to_owned(),
                        ];
                        want.sort();
                        assert_eq!(got, want);
                    }
                    other => panic!("waits on {other:?}"),
                },
                other => panic!("waits: {other:?}"),
            }
            let text = tree.to_string();
            assert!(
                text.contains("semaphore #") && text.contains(", held by task"),
                "{text}"
            );
            assert!(
                text.contains("capacity limiter #") && text.contains(", borrowed by"),
                "{text}"
            );
            release.set();
        })
        .await
        .unwrap();
    });
}

#[test]
fn semaphore_holders_follow_guards_forget_and_release() {
    serial(async {
        let sem = Arc::new(tether::Semaphore::new(2));
        let me = tether::TaskId::current();
        task_group(async |tg| {
            let a = sem.acquire().await;
            sem.acquire().await.forget(); // kept by this task until release()
            let done = Arc::new(Event::new());
            let (s, d) = (sem.clone(), done.clone());
            tg.spawn_named("waiter", async move {
                s.acquire().await.forget();
                d.wait().await;
            });
            settle().await;
            let holders = |tree: &TaskTree| match &tree.find("waiter").unwrap().waits[0].on {
                WaitTarget::Semaphore { holders, .. } => holders.clone(),
                other => panic!("waits on {other:?}"),
            };
            assert_eq!(holders(&task_tree()), vec![me, me]);
            drop(a); // the waiter takes it and keeps it
            settle().await;
            sem.release().unwrap(); // gives back this task's own kept token, not the waiter's
            let (s, d) = (sem.clone(), done.clone());
            tg.spawn_named("second", async move {
                let _p = s.acquire().await;
                d.wait().await;
            });
            let s = sem.clone();
            tg.spawn_named("third", async move { drop(s.acquire().await) });
            settle().await;
            let tree = task_tree();
            let mut got = match &tree.find("third").unwrap().waits[..] {
                [w] => match &w.on {
                    WaitTarget::Semaphore { holders, .. } => holders.clone(),
                    other => panic!("waits on {other:?}"),
                },
                other => panic!("waits: {other:?} in\n{tree}"),
            };
            let mut want = vec![task_of(&tree, "waiter"), task_of(&tree, "second")];
            got.sort_by_key(|t| t.to_string());
            want.sort_by_key(|t| t.to_string());
            assert_eq!(got, want, "{tree}");
            sem.release().unwrap(); // the waiter's kept token, released by another task
            settle().await;
            done.set();
        })
        .await
        .unwrap();
        assert_eq!(sem.value(), 2);
    });
}

fn task_of(tree: &TaskTree, name: &str) -> tether::TaskId {
    tree.find(name).unwrap().task.unwrap()
}

#[test]
fn holder_lists_follow_the_tokens_and_know_only_what_the_tree_saw() {
    serial(async {
        let sem = Arc::new(tether::Semaphore::new(2));
        let limiter = Arc::new(tether::CapacityLimiter::new(1));
        // taken while the tree is off: a semaphore token has no recorded holder
        tether::disable_task_tree();
        let unseen = sem.acquire().await;
        tether::enable_task_tree();
        let release = Arc::new(Event::new());
        task_group(async |tg| {
            let (s, r) = (sem.clone(), release.clone());
            tg.spawn_named("seen", async move {
                let _p = s.acquire().await;
                r.wait().await;
            });
            let (l, r) = (limiter.clone(), release.clone());
            tg.spawn_named("first", async move {
                let _t = l.acquire().await.unwrap();
                r.wait().await;
            });
            settle().await;
            let s = sem.clone();
            tg.spawn_named("sem-waiter", async move { drop(s.acquire().await) });
            let l = limiter.clone();
            tg.spawn_named("second", async move {
                let _t = l.acquire().await.unwrap();
                std::future::pending::<()>().await;
            });
            let l = limiter.clone();
            tg.spawn_named("third", async move { drop(l.acquire().await.unwrap()) });
            settle().await;
            let tree = task_tree();
            match &tree.find("sem-waiter").unwrap().waits[0].on {
                WaitTarget::Semaphore {
                    holders, untracked, ..
                } => {
                    assert_eq!(holders, &vec![task_of(&tree, "seen")], "{tree}");
                    // the token taken while the tree was off is out, with no known holder
                    assert_eq!(*untracked, 1, "{tree}");
                }
                other => panic!("waits on {other:?}"),
            }
            let borrowers = |tree: &TaskTree| match &tree.find("third").unwrap().waits[0].on {
                WaitTarget::CapacityLimiter { borrowers, .. } => borrowers.clone(),
                other => panic!("waits on {other:?}"),
            };
            let first = tether::Borrower::task(task_of(&tree, "first"));
            assert_eq!(borrowers(&tree), vec![first]);
            // "first" gives its token back and "second" (queued first) takes it: the list follows
            release.set();
            settle().await;
            let tree = task_tree();
            let second = tether::Borrower::task(task_of(&tree, "second"));
            assert_eq!(borrowers(&tree), vec![second], "{tree}");
            tg.cancel_scope().cancel();
        })
        .await
        .unwrap();
        drop(unseen);
        assert_eq!(sem.value(), 2);
        assert_eq!(limiter.borrowed_tokens(), 0);
    });
}

#[test]
fn an_owned_group_snapshot_holds_its_children_and_matches_its_handle() {
    serial(async {
        let mut group = tether::OwnedTaskGroup::open();
        group
            .spawn_named("owned-child", std::future::pending::<()>())
            .unwrap();
        settle().await;
        let tree = group.task_tree();
        assert_eq!(tree.roots.len(), 1, "{tree}");
        assert_eq!(tree.roots[0].kind, EntryKind::Group, "{tree}");
        assert!(tree.find("owned-child").is_some(), "{tree}");
        assert_eq!(
            shape(&group.handle().task_tree().roots[0]),
            shape(&tree.roots[0])
        );
        group.cancel_scope().cancel();
        group.close().await.unwrap();
        assert!(
            group.task_tree().is_empty(),
            "an ended group has no snapshot"
        );
    });
}

// ----- wait cycles through semaphores, capacity limiters and stream receives -------------------

/// The one `WaitCycle` among `found`.
fn wait_cycle(found: &[Finding]) -> Vec<tether::WaitLink> {
    let cycles: Vec<&Vec<tether::WaitLink>> = found
        .iter()
        .filter_map(|f| match f {
            Finding::WaitCycle { links } => Some(links),
            _ => None,
        })
        .collect();
    assert_eq!(cycles.len(), 1, "{found:#?}");
    cycles[0].clone()
}

/// The link whose task runs the child named `name`.
fn link_of<'a>(links: &'a [tether::WaitLink], name: &str) -> &'a tether::WaitLink {
    let label = format!("child \"{name}\"");
    links
        .iter()
        .find(|l| {
            l.task_label
                .as_deref()
                .is_some_and(|t| t.starts_with(&label))
        })
        .unwrap_or_else(|| panic!("no link for {name}: {links:#?}"))
}

/// Runs the watchdog (threshold 1 s, a look every 250 ms) next to `body`, waits until it
/// reports a wait cycle, cancels everything, and returns what it found and how long that took.
async fn watch_for_wait_cycle(
    body: impl AsyncFnOnce(&tether::TaskGroup) + Send,
) -> (Vec<Finding>, Duration) {
    let (found, seen, dog) = collector(|f| matches!(f, Finding::WaitCycle { .. }));
    let start = tokio::time::Instant::now();
    task_group(async |tg| {
        tg.spawn_named("watchdog", dog.run());
        body(tg).await;
        seen.wait().await;
        tg.cancel_scope().cancel();
    })
    .await
    .unwrap();
    let found = found.lock().unwrap().clone();
    (found, start.elapsed())
}

#[test]
fn a_cycle_through_a_semaphore_and_a_lock_names_both_tasks_and_both_resources() {
    serial(async {
        let sem = Arc::new(tether::Semaphore::new(1));
        let sem_line = line!() - 1;
        let lock = Arc::new(Lock::new());
        let lock_line = line!() - 1;
        let (found, took) = watch_for_wait_cycle(async |tg| {
            let taken = Arc::new(Event::new());
            let (s, l, t) = (sem.clone(), lock.clone(), taken.clone());
            tg.spawn_named("alice", async move {
                let _token = s.acquire().await;
                t.wait().await;
                let _l = l.lock().await.unwrap(); // held by bob
            });
            let (s, l, t) = (sem.clone(), lock.clone(), taken.clone());
            tg.spawn_named("bob", async move {
                let _l = l.lock().await.unwrap();
                t.set();
                let _token = s.acquire().await; // held by alice
            });
        })
        .await;
        // two looks 250 ms apart, well within the threshold
        assert!(took <= Duration::from_secs(1), "took {took:?}");
        let links = wait_cycle(&found);
        assert_eq!(links.len(), 2, "{links:#?}");
        let (alice, bob) = (link_of(&links, "alice"), link_of(&links, "bob"));
        match &alice.resource {
            tether::WaitResource::Lock { site, .. } => assert_eq!(site.line, lock_line),
            other => panic!("alice waits on {other:?}"),
        }
        match &bob.resource {
            tether::WaitResource::Semaphore { site, .. } => assert_eq!(site.line, sem_line),
            other => panic!("bob waits on {other:?}"),
        }
        assert_eq!(alice.holders, vec![bob.task]);
        assert_eq!(bob.holders, vec![alice.task]);
        let text = found
            .iter()
            .find(|f| matches!(f, Finding::WaitCycle { .. }))
            .unwrap()
            .to_string();
        assert!(text.starts_with("wait cycle (deadlock): "), "{text}");
        assert!(text.contains("alice") && text.contains("bob"), "{text}");
        assert!(
            text.contains("semaphore #") && text.contains("lock #"),
            "{text}"
        );
        // not also reported as a lock cycle: one of its waits is not on a lock
        assert!(!found.iter().any(|f| matches!(f, Finding::LockCycle { .. })));
    });
}

#[test]
fn a_cycle_through_a_capacity_limiter_names_both_tasks_and_both_resources() {
    serial(async {
        let limiter = Arc::new(tether::CapacityLimiter::new(1));
        let limiter_line = line!() - 1;
        let lock = Arc::new(Lock::new());
        let lock_line = line!() - 1;
        let (found, _) = watch_for_wait_cycle(async |tg| {
            let taken = Arc::new(Event::new());
            let (c, l, t) = (limiter.clone(), lock.clone(), taken.clone());
            tg.spawn_named("borrower", async move {
                let _token = c.acquire().await.unwrap();
                t.wait().await;
                let _l = l.lock().await.unwrap();
            });
            let (c, l, t) = (limiter.clone(), lock.clone(), taken.clone());
            tg.spawn_named("locker", async move {
                let _l = l.lock().await.unwrap();
                t.set();
                let _token = c.acquire().await.unwrap();
            });
        })
        .await;
        let links = wait_cycle(&found);
        assert_eq!(links.len(), 2, "{links:#?}");
        let (borrower, locker) = (link_of(&links, "borrower"), link_of(&links, "locker"));
        match &locker.resource {
            tether::WaitResource::CapacityLimiter { site, .. } => {
                assert_eq!(site.line, limiter_line)
            }
            other => panic!("locker waits on {other:?}"),
        }
        match &borrower.resource {
            tether::WaitResource::Lock { site, .. } => assert_eq!(site.line, lock_line),
            other => panic!("borrower waits on {other:?}"),
        }
        assert_eq!(locker.holders, vec![borrower.task]);
        assert_eq!(borrower.holders, vec![locker.task]);
    });
}

#[test]
fn a_receive_whose_only_sender_is_held_by_a_task_waiting_on_the_receiver_is_a_cycle() {
    serial(async {
        let (tx, rx) = tether::memory_stream::<u32>(1);
        let stream_line = line!() - 1;
        let lock = Arc::new(Lock::new());
        let lock_line = line!() - 1;
        let (found, took) = watch_for_wait_cycle(async |tg| {
            let locked = Arc::new(Event::new());
            let (l, k) = (lock.clone(), locked.clone());
            tg.spawn_named("consumer", async move {
                assert_eq!(rx.recv().await, Ok(1));
                let _l = l.lock().await.unwrap();
                k.set();
                let _ = rx.recv().await; // the only sender is held by the producer
            });
            let (l, k) = (lock.clone(), locked.clone());
            tg.spawn_named("producer", async move {
                tx.send(1).await.unwrap(); // the producer is the sender's holder from here
                k.wait().await;
                let _l = l.lock().await.unwrap(); // held by the consumer
                let _ = tx.send(2).await;
            });
        })
        .await;
        assert!(took <= Duration::from_secs(1), "took {took:?}");
        let links = wait_cycle(&found);
        assert_eq!(links.len(), 2, "{links:#?}");
        let (consumer, producer) = (link_of(&links, "consumer"), link_of(&links, "producer"));
        match &consumer.resource {
            tether::WaitResource::StreamReceive { site, .. } => {
                assert_eq!(site.line, stream_line)
            }
            other => panic!("consumer waits on {other:?}"),
        }
        match &producer.resource {
            tether::WaitResource::Lock { site, .. } => assert_eq!(site.line, lock_line),
            other => panic!("producer waits on {other:?}"),
        }
        assert_eq!(consumer.holders, vec![producer.task]);
        assert_eq!(producer.holders, vec![consumer.task]);
        let text = found
            .iter()
            .find(|f| matches!(f, Finding::WaitCycle { .. }))
            .unwrap()
            .to_string();
        assert!(text.contains("whose senders are held by"), "{text}");
    });
}

/// No cycle is found now, nor by a watchdog running for `looks` quarter-second looks.
async fn no_wait_cycle(tg: &tether::TaskGroup, looks: u32) {
    let dog = Watchdog::new(Duration::from_secs(1));
    let cycles = |f: &[Finding]| {
        f.iter()
            .filter(|f| matches!(f, Finding::WaitCycle { .. } | Finding::LockCycle { .. }))
            .count()
    };
    let tree = task_tree();
    assert_eq!(cycles(&dog.check()), 0, "{tree}");
    let found = Arc::new(Mutex::new(Vec::new()));
    let sink = found.clone();
    let running = tether::CancelScope::new();
    let r = running.clone();
    tg.spawn_named("watchdog", async move {
        // cancelled by the test at the end: `Ok(None)`
        let _ = r
            .run(
                dog.on_report(move |report| sink.lock().unwrap().extend(report.findings.clone()))
                    .run(),
            )
            .await;
    });
    tokio::time::sleep(Duration::from_millis(250) * looks).await;
    running.cancel();
    assert_eq!(
        cycles(&found.lock().unwrap()),
        0,
        "{:#?}",
        found.lock().unwrap()
    );
}

#[test]
fn a_semaphore_with_a_holder_outside_the_chain_is_not_a_cycle_and_frees_it() {
    serial(async {
        let sem = Arc::new(tether::Semaphore::new(2));
        let lock = Arc::new(Lock::new());
        let (taken, outsider_may_go, bob_done) = (
            Arc::new(Event::new()),
            Arc::new(Event::new()),
            Arc::new(Event::new()),
        );
        task_group(async |tg| {
            let (s, g) = (sem.clone(), outsider_may_go.clone());
            tg.spawn_named("outsider", async move {
                let _token = s.acquire().await;
                g.wait().await; // can give its token back at any time
            });
            let (s, l, t) = (sem.clone(), lock.clone(), taken.clone());
            tg.spawn_named("alice", async move {
                let _token = s.acquire().await;
                t.wait().await;
                let _l = l.lock().await.unwrap();
            });
            settle().await;
            let (s, l, t, d) = (sem.clone(), lock.clone(), taken.clone(), bob_done.clone());
            tg.spawn_named("bob", async move {
                let _l = l.lock().await.unwrap();
                t.set();
                let _token = s.acquire().await; // held by alice and the outsider
                d.set();
            });
            settle().await;
            let tree = task_tree();
            match &tree.find("bob").unwrap().waits[..] {
                [w] => match &w.on {
                    WaitTarget::Semaphore { holders, .. } => assert_eq!(holders.len(), 2),
                    other => panic!("bob waits on {other:?}"),
                },
                other => panic!("bob waits: {other:?}\n{tree}"),
            }
            no_wait_cycle(tg, 8).await;
            // and it was indeed no deadlock: the outsider's token lets everyone finish
            outsider_may_go.set();
            bob_done.wait().await;
        })
        .await
        .unwrap();
    });
}

#[test]
fn a_limiter_with_a_keyed_borrower_is_not_a_cycle() {
    serial(async {
        let limiter = Arc::new(tether::CapacityLimiter::new(2));
        let lock = Arc::new(Lock::new());
        let taken = Arc::new(Event::new());
        // a borrower that is not a task: anyone can give its token back
        limiter
            .acquire_on_behalf_of(tether::Borrower::key(9))
            .await
            .unwrap()
            .forget();
        task_group(async |tg| {
            let (c, l, t) = (limiter.clone(), lock.clone(), taken.clone());
            tg.spawn_named("borrower", async move {
                let _token = c.acquire().await.unwrap();
                t.wait().await;
                let _l = l.lock().await.unwrap();
            });
            settle().await;
            let (c, l, t) = (limiter.clone(), lock.clone(), taken.clone());
            tg.spawn_named("locker", async move {
                let _l = l.lock().await.unwrap();
                t.set();
                let _token = c.acquire().await.unwrap();
            });
            settle().await;
            no_wait_cycle(tg, 8).await;
            limiter
                .release_on_behalf_of(tether::Borrower::key(9))
                .unwrap();
        })
        .await
        .unwrap();
    });
}

#[test]
fn a_receive_with_a_sender_outside_the_chain_or_unknown_is_not_a_cycle() {
    serial(async {
        let (tx, rx) = tether::memory_stream::<u32>(1);
        let lock = Arc::new(Lock::new());
        let locked = Arc::new(Event::new());
        let spare = tx.clone(); // kept by this body, never used yet: its holder is unknown
        task_group(async |tg| {
            let (l, k) = (lock.clone(), locked.clone());
            tg.spawn_named("consumer", async move {
                let _l = l.lock().await.unwrap();
                k.set();
                // until the body's stop signal (0)
                while let Ok(x) = rx.recv().await {
                    if x == 0 {
                        break;
                    }
                }
            });
            let (l, k) = (lock.clone(), locked.clone());
            tg.spawn_named("producer", async move {
                tx.send(1).await.unwrap();
                k.wait().await;
                let _l = l.lock().await.unwrap();
            });
            settle().await;
            let tree = task_tree();
            let senders = |tree: &TaskTree| match &tree.find("consumer").unwrap().waits[..] {
                [w] => match &w.on {
                    WaitTarget::Stream {
                        senders_held_by, ..
                    } => senders_held_by.clone(),
                    other => panic!("consumer waits on {other:?}"),
                },
                other => panic!("consumer waits: {other:?}"),
            };
            // buffered item taken; the consumer waits again, one sender of two unknown
            assert_eq!(senders(&tree), None, "{tree}");
            no_wait_cycle(tg, 4).await;
            // the spare sender used by this body, which is free: known now, still no cycle
            spare.send(2).await.unwrap();
            settle().await;
            let tree = task_tree();
            let held = senders(&tree).expect("every sender is known");
            assert_eq!(held.len(), 2, "{tree}");
            assert!(held.contains(&tether::TaskId::current()), "{tree}");
            no_wait_cycle(tg, 4).await;
            // the free sender stops the consumer, which lets the producer go: no deadlock
            spare.send(0).await.unwrap();
            drop(spare);
        })
        .await
        .unwrap();
    });
}

/// A scope lends its entry with its cancel node: a wait inside it shows on the scope, nested
/// under the child; once the scope exits, a wait in the child's own body shows on the child.
#[test]
fn a_wait_shows_on_the_innermost_scope_and_on_the_child_once_the_scope_exits() {
    serial(async {
        let (in_scope, in_body) = (Arc::new(Event::new()), Arc::new(Event::new()));
        task_group(async |tg| {
            let (a, b) = (in_scope.clone(), in_body.clone());
            tg.spawn_named("c", async move {
                CancelScope::new()
                    .run(async {
                        CancelScope::new().run(a.wait()).await.unwrap();
                    })
                    .await
                    .unwrap();
                b.wait().await;
            });
            settle().await;
            let tree = task_tree();
            let child = tree.find("c").expect("child in the tree");
            assert!(child.waits.is_empty(), "{tree}");
            let [outer] = &child.children[..] else {
                panic!("one scope under the child:\n{tree}")
            };
            assert!(outer.waits.is_empty(), "{tree}");
            let [inner] = &outer.children[..] else {
                panic!("one scope under the scope:\n{tree}")
            };
            assert_eq!(inner.kind, EntryKind::Scope);
            assert!(
                matches!(&inner.waits[..], [w] if matches!(w.on, WaitTarget::Event)),
                "{tree}"
            );
            assert_eq!(tree.len(), 4, "{tree}");

            in_scope.set();
            settle().await;
            let tree = task_tree();
            let child = tree.find("c").expect("child in the tree");
            assert!(child.children.is_empty(), "{tree}");
            assert!(
                matches!(&child.waits[..], [w] if matches!(w.on, WaitTarget::Event)),
                "{tree}"
            );
            in_body.set();
        })
        .await
        .unwrap();
    });
}

/// The `Lock` hand-off as the tree shows it: at the instant the holder lets go (before the first
/// waiter runs), that waiter's wait is gone from the tree and the second waiter's wait names it
/// as the holder. So the tree never shows a task waiting for a lock it holds (which would read
/// as a one-task cycle).
#[test]
fn a_lock_hand_off_moves_the_holder_and_ends_the_wait_at_once() {
    serial(async {
        let lock = Arc::new(Lock::new());
        task_group(async |tg| {
            let guard = lock.lock().await.unwrap();
            let host = tether::TaskId::current();
            let l = lock.clone();
            tg.spawn_named("first", async move {
                let _g = l.lock().await.unwrap();
                tokio::task::yield_now().await;
            });
            settle().await;
            let l = lock.clone();
            tg.spawn_named("second", async move { drop(l.lock().await.unwrap()) });
            settle().await;
            let lock_holder = |tree: &TaskTree, name: &str| match &tree.find(name).unwrap().waits[..]
            {
                [w] => match &w.on {
                    WaitTarget::Lock { holder, .. } => Some(*holder),
                    other => panic!("{name} waits on {other:?}"),
                },
                [] => None,
                other => panic!("{name} waits: {other:?}"),
            };
            let tree = task_tree();
            let first = task_of(&tree, "first");
            assert_eq!(lock_holder(&tree, "first"), Some(Some(host)), "{tree}");
            assert_eq!(lock_holder(&tree, "second"), Some(Some(host)), "{tree}");

            drop(guard); // hands the lock to "first"; nobody has run since
            let tree = task_tree();
            assert_eq!(lock_holder(&tree, "first"), None, "the wait ended:\n{tree}");
            assert_eq!(lock_holder(&tree, "second"), Some(Some(first)), "{tree}");
            assert_eq!(lock.statistics().owner, Some(first));
        })
        .await
        .unwrap();
        assert!(!lock.is_locked());
    });
}

#[test]
fn a_closed_send_end_leaves_the_streams_holders_while_its_handle_lives_on() {
    // `close()` takes the send end out of the holder list at once, not when the handle is
    // dropped: a receive then names the holders of the send ends still open, all of them.
    serial(async {
        let (tx, rx) = tether::memory_stream::<u32>(4);
        let other = tx.clone();
        task_group(async |tg| {
            tx.send(1).await.unwrap();
            other.send(2).await.unwrap();
            tg.spawn_named("consumer", async move { while rx.recv().await.is_ok() {} });
            settle().await;
            let held = |tree: &TaskTree| match &tree.find("consumer").unwrap().waits[..] {
                [w] => match &w.on {
                    WaitTarget::Stream {
                        senders_held_by, ..
                    } => senders_held_by.clone(),
                    other => panic!("consumer waits on {other:?}"),
                },
                other => panic!("consumer waits: {other:?}"),
            };
            let me = tether::TaskId::current();
            let tree = task_tree();
            assert_eq!(held(&tree), Some(vec![me, me]), "{tree}");
            other.close();
            assert!(other.is_closed());
            // A wait shows the stream's counts as of when it began: let the consumer take one
            // more item and wait again (one send end open now).
            tx.send(3).await.unwrap();
            settle().await;
            let tree = task_tree();
            assert_eq!(
                held(&tree),
                Some(vec![me]),
                "the closed send end is still listed: {tree}"
            );
            tx.close(); // end of stream: the consumer finishes
        })
        .await
        .unwrap();
        drop(other);
    });
}

#[test]
fn a_group_opened_with_the_tree_off_stays_out_of_it_when_the_tree_turns_on_before_its_first_poll() {
    // The group opens (tree off: no entry), then its body closure turns the tree on before
    // the group's scope runs its first poll. The group is not in the tree, and its scope must
    // not list itself as a plain scope instead.
    let _one_at_a_time = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    tether::disable_task_tree();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap();
    let tree = rt.block_on(bounded(async {
        task_group(|_tg: &tether::TaskGroup| {
            tether::enable_task_tree();
            async {
                // pending once: a scope's entry registers lazily, when its body first waits
                tokio::task::yield_now().await;
                Ok::<_, std::convert::Infallible>(task_tree())
            }
        })
        .await
        .unwrap()
    }));
    assert!(tree.is_empty(), "the group's scope listed itself:\n{tree}");
    drop(rt);
    assert!(task_tree().is_empty());
}
