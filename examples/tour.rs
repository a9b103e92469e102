//! A tour of tether: task groups, cancel scopes, start(), shields, and the loud error you get
//! when a group is closed from the wrong task.
//!
//! Run it with `cargo run --example tour`.

use std::time::Duration;

use tether::{
    CancelScope, OwnedTaskGroup, TaskStatus, fail_after, move_on_after, shield, task_group,
};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{Instant, sleep};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let t0 = Instant::now();
    let at = move || format!("[{:>4} ms]", t0.elapsed().as_millis());

    println!("== 1. A task group waits for its children, and the first failure cancels the rest");
    let err = task_group(async |tg| {
        tg.spawn(async move {
            sleep(Duration::from_millis(20)).await;
            println!("{} fetcher: failing with 'upstream returned 503'", at());
            Err::<(), _>("upstream returned 503")
        });
        tg.spawn(async move {
            // Its Drop runs when the group cancels it: cleanup without async.
            let _note = Announce("sibling: cancelled at its pending await, Drop ran");
            sleep(Duration::from_secs(3600)).await;
        });
    })
    .await
    .unwrap_err();
    println!("{} group returned: {err}", at());

    println!("\n== 2. start(): spawn a server and get its port once it is listening");
    task_group(async |tg| {
        let port: u16 = tg
            .start(|status: TaskStatus<u16>| async move {
                let listener = TcpListener::bind("127.0.0.1:0").await?;
                status.started(listener.local_addr()?.port());
                loop {
                    let (socket, peer) = listener.accept().await?;
                    println!("{} server: accepted {peer}", at());
                    drop(socket);
                }
                #[allow(unreachable_code)]
                Ok::<(), std::io::Error>(())
            })
            .await?;
        println!("{} start() returned port {port}; connecting", at());
        TcpStream::connect(("127.0.0.1", port)).await?;
        sleep(Duration::from_millis(10)).await;
        println!("{} done: cancelling the group stops the server", at());
        tg.cancel_scope().cancel();
        Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
    })
    .await?;

    println!("\n== 3. Cancel scopes: deadlines, nesting, level-triggered cancellation");
    let outer = CancelScope::new().with_timeout(Duration::from_millis(50));
    let inner = CancelScope::new().with_timeout(Duration::from_secs(1));
    let inner2 = inner.clone();
    let result = outer
        .run(async move {
            let _ = inner2.run(sleep(Duration::from_secs(2))).await;
            println!("never printed: code after an inner scope does not run once an outer one was cancelled");
        })
        .await;
    println!(
        "{} outer: {:?}, caught={}; inner: cancel_called={}",
        at(),
        result.err().map(|e| e.to_string()),
        outer.cancelled_caught(),
        inner.cancel_called()
    );
    let v = move_on_after(Duration::from_millis(10), async { 42 }).await;
    println!("{} move_on_after around a fast body: {v:?}", at());
    let e = fail_after(Duration::from_millis(10), sleep(Duration::from_secs(1))).await;
    println!(
        "{} fail_after around a slow body: {:?}",
        at(),
        e.map_err(|e| e.to_string())
    );

    println!("\n== 4. Shields: cleanup finishes, then the cancellation is delivered");
    let scope = CancelScope::new().with_timeout(Duration::from_millis(10));
    let _ = scope
        .run(async move {
            shield(async move {
                sleep(Duration::from_millis(40)).await;
                println!(
                    "{} shielded cleanup finished despite the 10 ms deadline",
                    at()
                );
            })
            .await;
            sleep(Duration::from_secs(1)).await;
            println!("never printed: the next await after the shield is cut off");
        })
        .await;
    println!("{} scope caught: {}", at(), scope.cancelled_caught());

    println!("\n== 5. The bug tether exists to prevent: a group closed from another task");
    let mut group = OwnedTaskGroup::open();
    group.spawn(sleep(Duration::from_millis(5)))?;
    let (mut group, err) = tokio::spawn(async move {
        // e.g. a later web request trying to shut down a client connected in an earlier one
        let err = group.close().await.unwrap_err();
        (group, err)
    })
    .await?;
    println!(
        "{} close() from another task, at once, no hang:\n    {err}",
        at()
    );
    group.close().await?;
    println!("{} close() in the task that opened it: ok", at());
    Ok(())
}

struct Announce(&'static str);

impl Drop for Announce {
    fn drop(&mut self) {
        println!("          {}", self.0);
    }
}
