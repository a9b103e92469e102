//! The blocking portal: synchronous code calling async functions on an event loop (AnyIO's
//! `BlockingPortal` / `start_blocking_portal`).
//!
//! # Invariants
//!
//! - `Shared::inbox` is `Some` exactly while the portal accepts calls. Submitting and closing
//!   both take its lock, so no call is queued behind the `Close` message: a call either reaches
//!   the loop before it closes, or gets [`PortalError::Closed`] at once.
//! - Every task the portal runs is a child of the one task group inside the loop, so the loop
//!   (and, for an own-thread portal, its thread) ends only after every task has ended.
//! - A task's outcome travels through a oneshot channel; a task dropped by the portal's close
//!   drops the sender, which its caller sees as [`PortalError::ClosedWhileRunning`].
//! - The thread-local `ON_PORTAL_LOOP` names the portal whose loop or task is being polled on
//!   this thread, so a blocking call from inside the portal's own loop is refused instead of
//!   deadlocking.

use std::any::Any;
use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::io;
use std::ops::Deref;
use std::panic::{AssertUnwindSafe, resume_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::thread::ThreadId;

use futures::FutureExt;
use parking_lot::Mutex;
use pin_project_lite::pin_project;
use tokio::runtime::Handle;
use tokio::sync::{mpsc, oneshot};

use super::error::{PortalError, thread_name};
use crate::cancel::{CancelScope, Cancelled, with_cleanup};
use crate::task_group::{TaskGroupHandle, TaskStatus, task_group};

/// How [`BlockingPortal::close`] treats the tasks still running in the portal.
///
/// # Examples
///
/// ```
/// let portal = tether::BlockingPortal::new().unwrap();
/// portal.close(tether::CloseMode::Wait).unwrap();
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CloseMode {
    /// Cancel every task still running (their callers get
    /// [`PortalError::ClosedWhileRunning`]), then wait for them to unwind. AnyIO's
    /// `stop(cancel_remaining=True)`; what dropping the portal does.
    #[default]
    Cancel,
    /// Wait for every task already submitted to finish normally. AnyIO's `stop()`.
    Wait,
}

type Job = Box<dyn FnOnce(&TaskGroupHandle) + Send>;

enum Msg {
    Spawn(Job),
    Close(CloseMode),
}

/// What a portal task ended with.
enum Outcome<T> {
    Done(T),
    Panicked(Box<dyn Any + Send>),
    Cancelled(Cancelled),
}

thread_local! {
    /// The id of the portal whose loop or task is being polled on this thread (0: none).
    static ON_PORTAL_LOOP: Cell<u64> = const { Cell::new(0) };
}

/// Restores the previous `ON_PORTAL_LOOP` on drop (also on unwind).
struct RestoreMark(u64);

impl Drop for RestoreMark {
    fn drop(&mut self) {
        let _ = ON_PORTAL_LOOP.try_with(|mark| mark.set(self.0));
    }
}

pin_project! {
    /// Marks this thread as the portal's loop while `future` is polled.
    struct OnLoop<F> {
        portal: u64,
        #[pin]
        future: F,
    }
}

impl<F> OnLoop<F> {
    fn new(portal: u64, future: F) -> OnLoop<F> {
        OnLoop { portal, future }
    }
}

impl<F: Future> Future for OnLoop<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let _restore = RestoreMark(ON_PORTAL_LOOP.with(|mark| mark.replace(*this.portal)));
        this.future.poll(cx)
    }
}

/// What a portal task handle needs to know about its portal: enough to refuse a blocking wait
/// on the portal's own loop.
#[derive(Clone, Copy, Debug)]
struct LoopIdentity {
    /// Unique per portal (never 0).
    id: u64,
    /// The loop's own thread, for a portal started with [`BlockingPortal::new`].
    thread: Option<ThreadId>,
}

impl LoopIdentity {
    fn on_loop(&self) -> bool {
        ON_PORTAL_LOOP.with(|mark| mark.get()) == self.id
            || self.thread == Some(std::thread::current().id())
    }

    /// `Err` if blocking here would block the portal's own loop.
    fn check_blocking_allowed(&self) -> Result<(), PortalError> {
        if self.on_loop() {
            Err(PortalError::CalledFromEventLoop {
                thread: thread_name(),
            })
        } else {
            Ok(())
        }
    }
}

/// How to wait for the loop to end.
enum Finish {
    /// The portal's own thread, running a current-thread runtime.
    Thread(std::thread::JoinHandle<()>),
    /// A task on a borrowed runtime, which signals when it ends.
    Borrowed(std::sync::mpsc::Receiver<()>),
}

/// A portal into an async event loop, for synchronous code (AnyIO's `BlockingPortal`).
///
/// Plain synchronous code — a CLI, a synchronous web framework's handler, a test — starts a
/// portal and calls async functions through it: [`call`](Self::call) runs one and returns its
/// output; [`start_task_soon`](Self::start_task_soon) starts one and returns a [`PortalTask`]
/// handle (awaitable, joinable, cancellable); [`start_task`](Self::start_task) starts one and
/// waits for its [`TaskStatus::started`] value; [`enter`](Self::enter) keeps an async resource
/// open across synchronous calls (the counterpart of AnyIO's `wrap_async_context_manager`).
///
/// The loop is either the portal's own (a current-thread runtime in a new thread,
/// [`new`](Self::new), AnyIO's `start_blocking_portal`) or borrowed from a running runtime
/// ([`with_handle`](Self::with_handle)). Either way the portal's tasks are children of one
/// tether task group inside the loop: a task's failure or panic goes to its caller, never to the
/// other tasks.
///
/// The portal is `Send + Sync`: share it (`Arc<BlockingPortal>`, or a reference in scoped
/// threads) and call it from any number of threads at once.
///
/// # Closing
///
/// [`close`](Self::close) cancels or waits for the remaining tasks ([`CloseMode`]) and returns
/// once the loop has ended (and its thread, for an own-thread portal, has exited): no task is
/// left running. Dropping the portal closes it with [`CloseMode::Cancel`]. Calls made after
/// closing get [`PortalError::Closed`]; calls cancelled by the close get
/// [`PortalError::ClosedWhileRunning`].
///
/// # Misuse
///
/// A blocking method called on the portal's own event loop (inside one of its tasks, or on its
/// own thread) would wait for the loop it is blocking: it returns
/// [`PortalError::CalledFromEventLoop`] at once. Blocking methods called from a task of
/// *another* tokio runtime panic (tokio refuses to block an async worker thread); async code
/// should await [`PortalTask`] instead of calling [`PortalTask::join`].
///
/// # Examples
///
/// ```
/// use tether::{BlockingPortal, CloseMode};
///
/// // Synchronous code, no runtime in sight.
/// let portal = BlockingPortal::new().unwrap();
/// let doubled = portal
///     .call(|| async {
///         tokio::task::yield_now().await;
///         21 * 2
///     })
///     .unwrap();
/// assert_eq!(doubled, 42);
/// portal.close(CloseMode::Wait).unwrap();
/// ```
pub struct BlockingPortal {
    shared: Arc<Shared>,
    /// Taken by the first close, which waits for the loop to end while holding the lock, so a
    /// concurrent close returns only once the loop has ended too.
    finish: Mutex<Option<Finish>>,
}

struct Shared {
    identity: LoopIdentity,
    /// The runtime running the loop.
    runtime_id: tokio::runtime::Id,
    /// Where calls are sent; `None` once the portal is closed.
    inbox: Mutex<Option<mpsc::UnboundedSender<Msg>>>,
}

fn next_portal_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// The loop: one task group; each message spawns a task or closes the portal.
async fn portal_loop(mut inbox: mpsc::UnboundedReceiver<Msg>) {
    // The group cannot fail (every task reports to its caller, panics included); a
    // cancellation by `CloseMode::Cancel` is not a failure either.
    let _ = task_group(async |tg| {
        let handle = tg.handle();
        while let Some(msg) = inbox.recv().await {
            match msg {
                Msg::Spawn(job) => job(&handle),
                Msg::Close(CloseMode::Cancel) => {
                    tg.cancel_scope()
                        .cancel_with("the blocking portal was closed");
                    return;
                }
                Msg::Close(CloseMode::Wait) => return,
            }
        }
    })
    .await;
}

impl BlockingPortal {
    /// Starts a portal with its own event loop: a current-thread tokio runtime (time enabled)
    /// in a new thread named `tether-portal-N` (AnyIO's `start_blocking_portal`).
    ///
    /// # Errors
    ///
    /// The I/O error if the runtime or the thread could not be created.
    ///
    /// # Examples
    ///
    /// ```
    /// let portal = tether::BlockingPortal::new().unwrap();
    /// let name = portal.call(|| async { std::thread::current().name().map(String::from) });
    /// assert!(name.unwrap().unwrap().starts_with("tether-portal-"));
    /// ```
    pub fn new() -> io::Result<BlockingPortal> {
        let id = next_portal_id();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .thread_name(format!("tether-portal-{id}"))
            .build()?;
        let runtime_id = runtime.handle().id();
        let (tx, rx) = mpsc::unbounded_channel();
        let thread = std::thread::Builder::new()
            .name(format!("tether-portal-{id}"))
            .spawn(move || {
                runtime.block_on(OnLoop::new(id, portal_loop(rx)));
                // Dropping the runtime here waits for its blocking threads (to_thread calls
                // made by the portal's tasks): nothing outlives the portal.
                drop(runtime);
            })?;
        let identity = LoopIdentity {
            id,
            thread: Some(thread.thread().id()),
        };
        Ok(BlockingPortal {
            shared: Arc::new(Shared {
                identity,
                runtime_id,
                inbox: Mutex::new(Some(tx)),
            }),
            finish: Mutex::new(Some(Finish::Thread(thread))),
        })
    }

    /// Starts a portal whose loop is a task on an existing runtime (AnyIO's `BlockingPortal()`
    /// created inside a running event loop and handed to other threads).
    ///
    /// The portal's tasks run on that runtime. Call it from threads that are not that runtime's
    /// async workers (a `spawn_blocking` or `to_thread` thread, a plain thread).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "multi_thread", worker_threads = 1)]
    /// # async fn main() {
    /// use tether::BlockingPortal;
    ///
    /// let portal = BlockingPortal::with_handle(&tokio::runtime::Handle::current());
    /// let sum = std::thread::spawn(move || {
    ///     let sum = portal.call(|| async { 2 + 2 }).unwrap();
    ///     portal.close(tether::CloseMode::Wait).unwrap();
    ///     sum
    /// });
    /// let sum = tether::to_thread(move || sum.join().unwrap()).await;
    /// assert_eq!(sum, 4);
    /// # }
    /// ```
    pub fn with_handle(handle: &Handle) -> BlockingPortal {
        let id = next_portal_id();
        let (tx, rx) = mpsc::unbounded_channel();
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        // Detached on purpose: the loop ends when the portal closes (or is dropped), and
        // `close` waits for `done`. It is the group inside that owns the portal's tasks.
        drop(handle.spawn(OnLoop::new(id, async move {
            portal_loop(rx).await;
            let _ = done_tx.send(());
        })));
        BlockingPortal {
            shared: Arc::new(Shared {
                identity: LoopIdentity { id, thread: None },
                runtime_id: handle.id(),
                inbox: Mutex::new(Some(tx)),
            }),
            finish: Mutex::new(Some(Finish::Borrowed(done_rx))),
        }
    }

    fn submit(&self, job: Job) -> Result<(), PortalError> {
        let inbox = self.shared.inbox.lock();
        match &*inbox {
            Some(tx) => tx.send(Msg::Spawn(job)).map_err(|_| PortalError::Closed),
            None => Err(PortalError::Closed),
        }
    }

    /// Runs the future `f()` makes on the portal's loop, blocks until it completes, and returns
    /// its output (AnyIO's `portal.call`).
    ///
    /// `f` is called on the loop, so the future itself is created there.
    ///
    /// # Errors
    ///
    /// [`PortalError::Closed`] if the portal is closed; [`PortalError::ClosedWhileRunning`] if it
    /// is closed with [`CloseMode::Cancel`] while the call runs;
    /// [`PortalError::CalledFromEventLoop`] at once if called on the portal's own loop.
    ///
    /// # Panics
    ///
    /// A panic in the task resumes here with its original payload. Panics if called from a task
    /// of another tokio runtime (blocking an async worker thread; await a
    /// [`start_task_soon`](Self::start_task_soon) handle there instead).
    ///
    /// # Cancel safety
    ///
    /// Blocking call, not async.
    ///
    /// # Examples
    ///
    /// ```
    /// let portal = tether::BlockingPortal::new().unwrap();
    /// assert_eq!(portal.call(|| async { "hi" }), Ok("hi"));
    /// ```
    pub fn call<F, Fut>(&self, f: F) -> Result<Fut::Output, PortalError>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: Send + 'static,
    {
        self.shared.identity.check_blocking_allowed()?;
        self.start_task_soon(f)?.join()
    }

    /// Starts the future `f()` makes as a task on the portal's loop and returns a handle to it
    /// at once (AnyIO's `portal.start_task_soon`, which returns a `concurrent.futures.Future`).
    ///
    /// Does not block, so it may also be called on the portal's own loop.
    ///
    /// # Errors
    ///
    /// [`PortalError::Closed`] if the portal is closed.
    ///
    /// # Examples
    ///
    /// ```
    /// let portal = tether::BlockingPortal::new().unwrap();
    /// let task = portal.start_task_soon(|| async { 7 }).unwrap();
    /// assert_eq!(task.join(), Ok(7));
    /// ```
    pub fn start_task_soon<F, Fut>(&self, f: F) -> Result<PortalTask<Fut::Output>, PortalError>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: Send + 'static,
    {
        let scope = CancelScope::new();
        let (tx, rx) = oneshot::channel();
        let id = self.shared.identity.id;
        let task_scope = scope.clone();
        // The task runs in the caller's context, not the loop's.
        let context = crate::context::capture();
        self.submit(Box::new(move |tg: &TaskGroupHandle| {
            // The group is open while its loop reads messages.
            let _ = tg.spawn(OnLoop::new(id, context.scope(task_body(task_scope, f, tx))));
        }))?;
        Ok(PortalTask {
            outcome: rx,
            scope,
            identity: self.shared.identity,
        })
    }

    /// Starts a task that reports readiness, blocks until it calls
    /// [`TaskStatus::started`], and returns the started value with a handle to the task
    /// (AnyIO's `portal.start_task`).
    ///
    /// This is tether's [`TaskGroup::start`](crate::TaskGroup::start) inside the portal's group:
    /// a server that reports its bound port, a worker that reports it is connected.
    ///
    /// # Errors
    ///
    /// [`PortalError::NotStarted`] if the task ended (or dropped its status) without calling
    /// `started`; [`PortalError::Closed`] / [`PortalError::ClosedWhileRunning`] as for
    /// [`call`](Self::call); [`PortalError::CalledFromEventLoop`] at once on the portal's own
    /// loop.
    ///
    /// # Panics
    ///
    /// A panic of the task before `started` resumes here. As [`call`](Self::call) from a task
    /// of another runtime.
    ///
    /// # Cancel safety
    ///
    /// Blocking call, not async.
    ///
    /// # Examples
    ///
    /// ```
    /// use tether::BlockingPortal;
    ///
    /// let portal = BlockingPortal::new().unwrap();
    /// let (port, server) = portal
    ///     .start_task(|status| async move {
    ///         status.started(8080u16); // e.g. once the listener is bound
    ///         std::future::pending::<()>().await // serve until cancelled
    ///     })
    ///     .unwrap();
    /// assert_eq!(port, 8080);
    /// server.cancel();
    /// assert!(matches!(server.join(), Err(tether::PortalError::Cancelled(_))));
    /// ```
    pub fn start_task<V, F, Fut>(&self, f: F) -> Result<(V, PortalTask<Fut::Output>), PortalError>
    where
        V: Send + 'static,
        F: FnOnce(TaskStatus<V>) -> Fut + Send + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: Send + 'static,
    {
        self.shared.identity.check_blocking_allowed()?;
        let scope = CancelScope::new();
        let (tx, rx) = oneshot::channel();
        let (started_tx, started_rx) = oneshot::channel();
        let id = self.shared.identity.id;
        let task_scope = scope.clone();
        let context = crate::context::capture();
        self.submit(Box::new(move |tg: &TaskGroupHandle| {
            let group = tg.clone();
            let _ = tg.spawn(OnLoop::new(id, async move {
                let started = group
                    .start(move |status| {
                        let body = task_body(task_scope, || f(status), tx);
                        OnLoop::new(id, context.scope(body))
                    })
                    .await;
                let _ = started_tx.send(started);
            }));
        }))?;
        let task = PortalTask {
            outcome: rx,
            scope,
            identity: self.shared.identity,
        };
        match started_rx.blocking_recv() {
            Ok(Ok(value)) => Ok((value, task)),
            Ok(Err(_)) => match task.join() {
                // A panic before `started` resumed in `join`.
                Err(PortalError::Cancelled(cancelled)) => Err(PortalError::Cancelled(cancelled)),
                _ if self.is_closed() => Err(PortalError::ClosedWhileRunning),
                _ => Err(PortalError::NotStarted),
            },
            Err(_) => Err(PortalError::ClosedWhileRunning),
        }
    }

    /// Opens an async resource on the portal's loop and keeps it open across synchronous calls
    /// until the returned guard exits (the portal's counterpart of AnyIO's
    /// `portal.wrap_async_context_manager`).
    ///
    /// `open()` runs in a portal task that hands a clone of the resource back and then waits;
    /// when the guard [exits](PortalResource::exit) (or is dropped, or the portal closes),
    /// `close(resource)` runs in that task, shielded, so it completes even when the portal is
    /// closed with [`CloseMode::Cancel`]. Make the resource cheap to clone (a handle, or wrap
    /// it in an `Arc`).
    ///
    /// # Errors
    ///
    /// As [`start_task`](Self::start_task).
    ///
    /// # Panics
    ///
    /// A panic in `open` resumes here. As [`call`](Self::call) from a task of another runtime.
    ///
    /// # Cancel safety
    ///
    /// Blocking call, not async.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::sync::atomic::{AtomicBool, Ordering};
    /// use tether::BlockingPortal;
    ///
    /// let portal = BlockingPortal::new().unwrap();
    /// let open = Arc::new(AtomicBool::new(false));
    /// let conn = portal
    ///     .enter(
    ///         { let open = open.clone(); move || async move { open.store(true, Ordering::SeqCst); open } },
    ///         |open| async move { open.store(false, Ordering::SeqCst) },
    ///     )
    ///     .unwrap();
    /// assert!(conn.load(Ordering::SeqCst)); // the guard derefs to the resource
    /// conn.exit().unwrap();
    /// assert!(!open.load(Ordering::SeqCst));
    /// ```
    pub fn enter<R, O, OFut, C, CFut>(
        &self,
        open: O,
        close: C,
    ) -> Result<PortalResource<R>, PortalError>
    where
        R: Clone + Send + 'static,
        O: FnOnce() -> OFut + Send + 'static,
        OFut: Future<Output = R> + Send + 'static,
        C: FnOnce(R) -> CFut + Send + 'static,
        CFut: Future<Output = ()> + Send + 'static,
    {
        let (exit_tx, exit_rx) = oneshot::channel::<()>();
        let (value, task) = self.start_task(move |status: TaskStatus<R>| async move {
            let resource = open().await;
            status.started(resource.clone());
            with_cleanup(
                async move {
                    // Either an explicit exit, or the guard was dropped.
                    let _ = exit_rx.await;
                },
                close(resource),
            )
            .await;
        })?;
        Ok(PortalResource {
            value,
            exit: Some(exit_tx),
            task: Some(task),
        })
    }

    /// Closes the portal: refuses new calls, cancels or waits for the running tasks
    /// ([`CloseMode`]), and returns once the loop has ended (for an own-thread portal, once its
    /// thread has exited). Idempotent; a concurrent close returns once the loop has ended too.
    /// AnyIO's `portal.stop(cancel_remaining)`.
    ///
    /// An own-thread portal's runtime also waits for the worker threads its tasks started
    /// (`to_thread`), abandoned ones included: a closure that never returns keeps `close`
    /// waiting, as it keeps the process from exiting cleanly.
    ///
    /// # Errors
    ///
    /// [`PortalError::CalledFromEventLoop`] at once on the portal's own loop (nothing is
    /// closed).
    ///
    /// # Panics
    ///
    /// As [`call`](Self::call) from a task of another runtime, for a portal borrowed with
    /// [`with_handle`](Self::with_handle).
    ///
    /// # Cancel safety
    ///
    /// Blocking call, not async.
    ///
    /// # Examples
    ///
    /// ```
    /// use tether::{BlockingPortal, CloseMode, PortalError};
    ///
    /// let portal = BlockingPortal::new().unwrap();
    /// portal.close(CloseMode::Cancel).unwrap();
    /// assert!(portal.is_closed());
    /// assert_eq!(portal.call(|| async {}), Err(PortalError::Closed));
    /// ```
    pub fn close(&self, mode: CloseMode) -> Result<(), PortalError> {
        self.shared.identity.check_blocking_allowed()?;
        self.signal_close(mode);
        let mut finish = self.finish.lock();
        match finish.take() {
            Some(Finish::Thread(thread)) => {
                if let Err(payload) = thread.join() {
                    resume_unwind(payload);
                }
            }
            Some(Finish::Borrowed(done)) => {
                let _ = done.recv();
            }
            None => {}
        }
        Ok(())
    }

    fn signal_close(&self, mode: CloseMode) {
        if let Some(tx) = self.shared.inbox.lock().take() {
            let _ = tx.send(Msg::Close(mode));
        }
    }

    /// Whether the portal was closed (no new calls are accepted).
    ///
    /// # Examples
    ///
    /// ```
    /// let portal = tether::BlockingPortal::new().unwrap();
    /// assert!(!portal.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        self.shared.inbox.lock().is_none()
    }
}

impl Drop for BlockingPortal {
    fn drop(&mut self) {
        self.signal_close(CloseMode::Cancel);
        if self.shared.identity.on_loop() {
            // Waiting would deadlock; the loop ends by itself now that it is cancelled.
            return;
        }
        let mut finish = self.finish.lock();
        match finish.take() {
            Some(Finish::Thread(thread)) => {
                // A panic of the loop thread itself would be a bug in tether; do not panic in
                // drop (it may run during an unwind).
                let _ = thread.join();
            }
            Some(Finish::Borrowed(done)) => {
                let same_runtime =
                    Handle::try_current().is_ok_and(|handle| handle.id() == self.shared.runtime_id);
                if !same_runtime {
                    let _ = done.recv();
                }
            }
            None => {}
        }
    }
}

impl fmt::Debug for BlockingPortal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlockingPortal")
            .field("id", &self.shared.identity.id)
            .field("own_thread", &self.shared.identity.thread.is_some())
            .field("closed", &self.is_closed())
            .finish()
    }
}

/// A portal task: runs `make()` inside `scope`, catching its panic, and reports the outcome.
async fn task_body<M, Fut>(scope: CancelScope, make: M, tx: oneshot::Sender<Outcome<Fut::Output>>)
where
    M: FnOnce() -> Fut,
    Fut: Future,
{
    let ran = scope
        .run(AssertUnwindSafe(async move { make().await }).catch_unwind())
        .await;
    let outcome = match ran {
        Ok(Ok(value)) => Outcome::Done(value),
        Ok(Err(payload)) => Outcome::Panicked(payload),
        Err(cancelled) => Outcome::Cancelled(cancelled),
    };
    let _ = tx.send(outcome);
}

/// A handle to a task started through a [`BlockingPortal`] (AnyIO's
/// `concurrent.futures.Future` from `start_task_soon`).
///
/// Synchronous callers [`join`](Self::join) it; async callers `.await` it (both give
/// `Result<T, PortalError>`); anyone can [`cancel`](Self::cancel) it. Dropping the handle does
/// not stop the task: it keeps running in the portal until it ends or the portal closes.
///
/// # Examples
///
/// ```
/// let portal = tether::BlockingPortal::new().unwrap();
/// let task = portal.start_task_soon(|| async { 1 + 1 }).unwrap();
/// assert_eq!(task.join(), Ok(2));
/// ```
#[must_use = "a portal task's result and panic are only seen through its handle"]
pub struct PortalTask<T> {
    outcome: oneshot::Receiver<Outcome<T>>,
    /// The task's own scope.
    scope: CancelScope,
    identity: LoopIdentity,
}

impl<T> PortalTask<T> {
    /// Blocks until the task ends and returns its output (AnyIO's `future.result()`).
    ///
    /// # Errors
    ///
    /// [`PortalError::Cancelled`] if [`cancel`](Self::cancel) stopped it;
    /// [`PortalError::ClosedWhileRunning`] if the portal's close did;
    /// [`PortalError::CalledFromEventLoop`] at once on the portal's own loop (await the handle
    /// there).
    ///
    /// # Panics
    ///
    /// The task's panic resumes here with its original payload. Panics if called from a task of
    /// another tokio runtime (await the handle instead).
    ///
    /// # Cancel safety
    ///
    /// Blocking call, not async.
    ///
    /// # Examples
    ///
    /// ```
    /// let portal = tether::BlockingPortal::new().unwrap();
    /// let task = portal.start_task_soon(|| async { "done" }).unwrap();
    /// assert_eq!(task.join(), Ok("done"));
    /// ```
    pub fn join(self) -> Result<T, PortalError> {
        self.identity.check_blocking_allowed()?;
        resolve(self.outcome.blocking_recv())
    }

    /// Cancels the task: it is dropped at its pending `.await` (shields inside it finish
    /// first), and its result becomes [`PortalError::Cancelled`]. Idempotent; no effect once it
    /// ended.
    ///
    /// # Examples
    ///
    /// ```
    /// let portal = tether::BlockingPortal::new().unwrap();
    /// let task = portal.start_task_soon(std::future::pending::<()>).unwrap();
    /// task.cancel();
    /// assert!(task.join().unwrap_err().to_string().contains("cancelled"));
    /// ```
    pub fn cancel(&self) {
        self.scope
            .cancel_with("cancelled through its portal task handle");
    }
}

fn resolve<T>(received: Result<Outcome<T>, oneshot::error::RecvError>) -> Result<T, PortalError> {
    match received {
        Ok(Outcome::Done(value)) => Ok(value),
        Ok(Outcome::Panicked(payload)) => resume_unwind(payload),
        Ok(Outcome::Cancelled(cancelled)) => Err(PortalError::Cancelled(cancelled)),
        Err(_) => Err(PortalError::ClosedWhileRunning),
    }
}

/// Awaiting the handle waits for the task without blocking (from any runtime, including the
/// portal's own loop).
///
/// # Cancel safety
///
/// Cancel safe: dropping the future drops only the handle; the task keeps running.
impl<T> Future for PortalTask<T> {
    type Output = Result<T, PortalError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.outcome).poll(cx).map(resolve)
    }
}

impl<T> fmt::Debug for PortalTask<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PortalTask")
            .field("portal", &self.identity.id)
            .field("cancel_called", &self.scope.cancel_called())
            .finish()
    }
}

/// An async resource kept open by a [`BlockingPortal`] (from [`BlockingPortal::enter`]);
/// derefs to the resource.
///
/// [`exit`](Self::exit) closes it through the portal and waits; dropping the guard asks the
/// portal to close it and waits only when dropped outside any tokio runtime context (a plain
/// thread). Closing the portal closes it too.
///
/// # Examples
///
/// ```
/// let portal = tether::BlockingPortal::new().unwrap();
/// let conn = portal.enter(|| async { String::from("conn") }, |_conn| async {}).unwrap();
/// assert_eq!(conn.as_str(), "conn");
/// drop(conn); // closes it through the portal
/// ```
pub struct PortalResource<R> {
    value: R,
    exit: Option<oneshot::Sender<()>>,
    task: Option<PortalTask<()>>,
}

impl<R> PortalResource<R> {
    /// Closes the resource through the portal and waits until `close` has run.
    ///
    /// # Errors
    ///
    /// [`PortalError::CalledFromEventLoop`] at once on the portal's own loop;
    /// [`PortalError::ClosedWhileRunning`] if the portal closed first (it has run `close`).
    ///
    /// # Panics
    ///
    /// A panic in `close` resumes here.
    ///
    /// # Cancel safety
    ///
    /// Blocking call, not async.
    ///
    /// # Examples
    ///
    /// ```
    /// let portal = tether::BlockingPortal::new().unwrap();
    /// let res = portal.enter(|| async { 5 }, |_five| async {}).unwrap();
    /// assert_eq!(*res, 5);
    /// res.exit().unwrap();
    /// ```
    pub fn exit(mut self) -> Result<(), PortalError> {
        let task = self.task.take().expect("exit runs once");
        task.identity.check_blocking_allowed()?;
        drop(self.exit.take());
        task.join()
    }
}

impl<R> Deref for PortalResource<R> {
    type Target = R;

    fn deref(&self) -> &R {
        &self.value
    }
}

impl<R> Drop for PortalResource<R> {
    fn drop(&mut self) {
        drop(self.exit.take());
        if let Some(task) = self.task.take()
            && !task.identity.on_loop()
            && Handle::try_current().is_err()
        {
            if std::thread::panicking() {
                // Already unwinding: a second panic would abort; `exit` shows close panics.
                let _ = std::panic::catch_unwind(AssertUnwindSafe(|| task.join()));
            } else {
                // A panic in `close` resumes here; its error (a closed portal) is moot.
                let _ = task.join();
            }
        }
    }
}

impl<R> fmt::Debug for PortalResource<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PortalResource")
            .field("open", &self.exit.is_some())
            .finish_non_exhaustive()
    }
}
