//! The scoped form: `task_group(async |tg| { ... })`.

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::panic::Location;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;

use super::TaskResult;
use super::error::{FailureOrigin, GroupError, TaskFailure};
use super::handle::TaskGroupHandle;
use super::shared::GroupShared;
use super::start::{Start, TaskStatus};
use crate::cancel::{
    Begin, CancelReason, CancelScope, CancelSource, HoldMode, ScopeDriver, Settle, Step,
    current_node,
};
use crate::diagnostics::registry::WaitToken;
use crate::error::TaskContextError;
use crate::loom::sync::Arc;
use crate::loom::sync::atomic::{AtomicBool, Ordering};
use crate::task::TaskId;

/// Runs `body` with a new task group and waits for every child before returning.
///
/// This is AnyIO's `async with create_task_group() as tg:` (Trio's nursery). The body receives
/// `&TaskGroup`, which cannot escape the call; children that need to spawn siblings use
/// [`TaskGroup::handle`].
///
/// - Exit waits for the body and for every child.
/// - The first failure (an `Err` from the body or a child) cancels the group's scope: the body
///   and every other child are dropped at their pending await. Every failure is collected into
///   the returned [`GroupError`]; children that were merely cancelled are not failures.
/// - A panic in a child (or the body) cancels the rest, waits for them, then resumes in the
///   caller: with the original payload if nothing else went wrong, else with a
///   [`GroupPanic`](super::GroupPanic) holding every panic and failure (nothing is dropped).
/// - Cancelling an enclosing scope cancels the body and the children (and their nested groups,
///   all the way down); the group waits for them, then lets the enclosing scope finish the
///   cancellation (the call does not return).
///
/// The body returns `()` or `Result<T, E>` (`E: Into<BoxError>`); the call returns
/// `Ok(T)` when the body finished and nothing failed.
///
/// # Errors
///
/// [`GroupError`] with every failure; or, with no failure, a cancelled `GroupError`
/// ([`GroupError::is_cancelled`]) when the group's own scope was cancelled (for example by
/// `tg.cancel_scope().cancel()`) before the body produced its value.
///
/// # Panics
///
/// Resumes a panic of the body or a child once every child has finished: the panic's own
/// payload when it is the only thing that went wrong, otherwise a [`GroupPanic`](super::GroupPanic)
/// carrying every panic and every failure. Panics if called outside a tokio runtime, or if
/// the returned future is polled from a task other than the one that first polled it (the message
/// is a [`TaskContextError`]).
///
/// # Cancel safety
///
/// Dropping the future (other than by tether's own cancellation, which waits) cancels and
/// aborts the children at once without waiting for them: they are dropped at their next poll,
/// even inside shields. Nothing is detached.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use std::collections::BTreeSet;
/// use std::sync::{Arc, Mutex};
///
/// let seen = Arc::new(Mutex::new(BTreeSet::new()));
/// tether::task_group(async |tg| {
///     for name in ["a", "b"] {
///         let seen = seen.clone();
///         tg.spawn(async move {
///             seen.lock().unwrap().insert(name);
///         });
///     }
/// })
/// .await
/// .unwrap();
/// assert_eq!(*seen.lock().unwrap(), BTreeSet::from(["a", "b"]));
/// # }
/// ```
#[track_caller]
pub fn task_group<F, R>(body: F) -> impl Future<Output = Result<R::Ok, GroupError>>
where
    F: AsyncFnOnce(&TaskGroup) -> R,
    R: TaskResult,
{
    // The site is the caller's; the group is opened at the first poll, like an `async fn`.
    let site = Location::caller();
    async move {
        let tg = TaskGroup::enter(site);
        let body = body(&tg);
        let mut driver = ScopeDriver::entered(
            tg.shared.cancel_scope().clone(),
            HoldMode::Always,
            wrong_task,
        );
        driver.set_diag(
            tg.shared
                .diag
                .clone()
                .map(crate::diagnostics::registry::LazyEntry::registered),
            false,
        );
        #[cfg(feature = "tracing")]
        driver.set_span(tg.shared.span.clone());
        GroupDriver {
            tg: &tg,
            body: Some(body),
            driver,
            value: None,
            cut: None,
            waiting: None,
        }
        .await
    }
}

/// The task group a [`task_group`] body receives: spawn children, `start` them, cancel them.
///
/// Only ever seen as `&TaskGroup`, so it cannot outlive the call. Spawning through it cannot
/// fail: the group is open for as long as the body runs.
pub struct TaskGroup {
    shared: Arc<GroupShared>,
    /// The group's exit has been handled (normally, or by `Drop`).
    finished: AtomicBool,
}

impl TaskGroup {
    fn enter(site: &'static Location<'static>) -> TaskGroup {
        let shared = GroupShared::open(current_node(), site);
        TaskGroup {
            shared,
            finished: AtomicBool::new(false),
        }
    }

    /// Spawns a child: a real tokio task, running in parallel, that the group waits for.
    ///
    /// The child's output is `()` or `Result<_, E>` with `E: Into<BoxError>`; an `Err` fails the
    /// group. A child spawned into a group that is already cancelled is dropped before its first
    /// poll.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let err = tether::task_group(async |tg| {
    ///     tg.spawn(async { Err::<(), _>("boom") });
    ///     tg.spawn(async { tokio::time::sleep(std::time::Duration::from_secs(3600)).await });
    /// })
    /// .await
    /// .unwrap_err();
    /// assert_eq!(err.len(), 1); // the sleeper was cancelled, which is not a failure
    /// # }
    /// ```
    #[track_caller]
    pub fn spawn<F>(&self, future: F)
    where
        F: Future + Send + 'static,
        F::Output: TaskResult,
    {
        if self.shared.spawn_child(None, future).is_err() {
            unreachable!("a scoped task group is open while its body runs");
        }
    }

    /// [`spawn`](Self::spawn) with a name, shown in the [`task_tree`](crate::task_tree), in
    /// watchdog reports and (feature `tracing`) on the child's span. An unnamed child is known
    /// by its spawn site.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// tether::task_group(async |tg| {
    ///     tg.spawn_named("heartbeat", async {});
    ///     tg.spawn_named(format!("worker-{}", 1), async {});
    /// })
    /// .await
    /// .unwrap();
    /// # }
    /// ```
    #[track_caller]
    pub fn spawn_named<F>(&self, name: impl Into<Cow<'static, str>>, future: F)
    where
        F: Future + Send + 'static,
        F::Output: TaskResult,
    {
        if self.shared.spawn_child(Some(name.into()), future).is_err() {
            unreachable!("a scoped task group is open while its body runs");
        }
    }

    /// Spawns a child and waits until it reports ready, returning the value it reported.
    ///
    /// The child receives a [`TaskStatus`] and calls `status.started(value)` when ready (a
    /// server, once it is listening). Until then the child belongs to this call: a failure or
    /// panic comes out of `start()` and does not cancel the group; returning without `started`
    /// is [`StartError::NotStarted`](super::StartError::NotStarted). Cancelling the `start()` call
    /// cancels the child. After `started`, the child belongs to the group like any other.
    ///
    /// # Errors
    ///
    /// [`StartError`](super::StartError): the child failed, was cancelled, or ended before
    /// calling `started`.
    ///
    /// # Cancel safety
    ///
    /// Dropping the returned future before `started` cancels the child.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// tether::task_group(async |tg| {
    ///     let port = tg
    ///         .start(|status| async move {
    ///             status.started(8080u16); // e.g. after binding a listener
    ///             // ... serve until the group is cancelled
    ///         })
    ///         .await
    ///         .unwrap();
    ///     assert_eq!(port, 8080);
    /// })
    /// .await
    /// .unwrap();
    /// # }
    /// ```
    #[track_caller]
    pub fn start<V, F, Fut>(&self, child: F) -> Start<V>
    where
        V: Send + 'static,
        F: FnOnce(TaskStatus<V>) -> Fut,
        Fut: Future + Send + 'static,
        Fut::Output: TaskResult,
    {
        self.shared.start(None, child)
    }

    /// [`start`](Self::start) with a name for the child (see [`spawn_named`](Self::spawn_named)).
    ///
    /// # Errors
    ///
    /// As [`start`](Self::start).
    ///
    /// # Cancel safety
    ///
    /// As [`start`](Self::start).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// tether::task_group(async |tg| {
    ///     let port = tg
    ///         .start_named("server", |status| async move { status.started(8080u16) })
    ///         .await
    ///         .unwrap();
    ///     assert_eq!(port, 8080);
    /// })
    /// .await
    /// .unwrap();
    /// # }
    /// ```
    #[track_caller]
    pub fn start_named<V, F, Fut>(&self, name: impl Into<Cow<'static, str>>, child: F) -> Start<V>
    where
        V: Send + 'static,
        F: FnOnce(TaskStatus<V>) -> Fut,
        Fut: Future + Send + 'static,
        Fut::Output: TaskResult,
    {
        self.shared.start(Some(name.into()), child)
    }

    /// A cloneable `'static` handle, for children that spawn siblings.
    pub fn handle(&self) -> TaskGroupHandle {
        self.shared.handle()
    }

    /// The group's cancel scope: `tg.cancel_scope().cancel()` stops the body and every child.
    pub fn cancel_scope(&self) -> &CancelScope {
        self.shared.cancel_scope()
    }

    /// The task hosting the group.
    pub fn host(&self) -> TaskId {
        self.shared.host
    }

    /// A snapshot of the live task tree under this group: a [`TaskTree`](crate::TaskTree)
    /// whose one root is the group, with every child, scope and nested group inside it, as
    /// [`task_tree`](crate::task_tree) shows them.
    ///
    /// Empty when the group is not in the tree: it was opened while the tree was off
    /// ([`enable_task_tree`](crate::enable_task_tree)). The same rules as `task_tree` apply (a
    /// consistent cut; a child is never shown outside its group; callable from any thread).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// tether::enable_task_tree();
    /// tether::task_group(async |outer| {
    ///     outer.spawn_named("elsewhere", std::future::pending::<()>());
    ///     tether::task_group(async |tg| {
    ///         tg.spawn_named("worker", std::future::pending::<()>());
    ///         tokio::task::yield_now().await;
    ///         let tree = tg.task_tree();
    ///         assert_eq!(tree.roots.len(), 1);
    ///         assert!(tree.find("worker").is_some());
    ///         assert!(tree.find("elsewhere").is_none()); // not under this group
    ///         tg.cancel_scope().cancel();
    ///     })
    ///     .await
    ///     .ok();
    ///     outer.cancel_scope().cancel();
    /// })
    /// .await
    /// .ok();
    /// # }
    /// ```
    pub fn task_tree(&self) -> crate::TaskTree {
        self.shared.task_tree()
    }

    /// Ends the group (the driver has left the tree). Idempotent.
    fn finish(&self) {
        if self.finished.swap(true, Ordering::AcqRel) {
            return;
        }
        self.shared.end();
    }
}

impl Drop for TaskGroup {
    fn drop(&mut self) {
        if !self.finished.load(Ordering::Acquire) {
            self.shared.abandon();
            self.finish();
        }
    }
}

impl fmt::Debug for TaskGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskGroup")
            .field("group", &self.shared)
            .field("scope", self.shared.cancel_scope())
            .finish()
    }
}

pin_project! {
    struct GroupDriver<'a, B: Future<Output = R>, R: TaskResult> {
        tg: &'a TaskGroup,
        // Declared before the driver: dropped first.
        #[pin]
        body: Option<B>,
        // The scope protocol for the group's node: holds the enclosing scopes from entry to
        // exit, enforces a deadline set through `tg.cancel_scope()`, decides who catches.
        #[pin]
        driver: ScopeDriver,
        value: Option<R::Ok>,
        // How the body was cut off by a cancellation, if it was.
        cut: Option<Settle>,
        // The body is done and the group waits for its children (task tree).
        waiting: Option<WaitToken>,
    }
}

fn wrong_task(owner: TaskId, current: TaskId) -> String {
    TaskContextError::new(
        "task group",
        "opened",
        "polled",
        owner,
        current,
        "await task_group(...) in the task that first polled it; to feed it from elsewhere, pass \
         a TaskGroupHandle (tg.handle())",
    )
    .to_string()
}

type Payload = Box<dyn std::any::Any + Send + 'static>;

/// Drops the body inside the group's scope; a panic in its `Drop` is caught, to resume only
/// after the children.
fn drop_body<B>(driver: &ScopeDriver, mut body: Pin<&mut Option<B>>) -> Option<Payload> {
    catch_unwind(AssertUnwindSafe(|| driver.in_scope(|| body.set(None)))).err()
}

impl<B: Future<Output = R>, R: TaskResult> Future for GroupDriver<'_, B, R> {
    type Output = Result<R::Ok, GroupError>;

    #[track_caller]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let tg = *this.tg;
        let shared = &tg.shared;
        let mut driver = this.driver.as_mut();
        let gate = driver.as_mut().begin_with(cx, this.body.is_some());
        match gate {
            Begin::Parked => return Poll::Pending,
            Begin::Escape(reason) => return Poll::Ready(Err(GroupError::cancelled(reason))),
            Begin::Body | Begin::Cut => {}
        }

        if let Some(body) = this.body.as_mut().as_pin_mut() {
            let mut cut = true;
            if matches!(gate, Begin::Body) {
                let step = driver.as_mut().poll_body(cx, |cx| {
                    match catch_unwind(AssertUnwindSafe(|| body.poll(cx))) {
                        Ok(Poll::Ready(output)) => Poll::Ready(Ok(output)),
                        Ok(Poll::Pending) => Poll::Pending,
                        Err(payload) => Poll::Ready(Err(payload)),
                    }
                });
                match step {
                    Step::Ready(Ok(output)) => {
                        cut = false;
                        match output.into_result() {
                            Ok(value) => *this.value = Some(value),
                            Err(error) => shared.record_failure(TaskFailure::new(
                                FailureOrigin::Body(shared.host),
                                error,
                            )),
                        }
                    }
                    Step::Ready(Err(payload)) => {
                        cut = false;
                        shared.record_panic(payload, shared.host);
                    }
                    Step::Pending => return Poll::Pending,
                    Step::Cut => {}
                }
            }
            // A panic in the body's `Drop` resumes after the children, with the rest.
            if let Some(payload) = drop_body(&driver, this.body.as_mut()) {
                shared.record_panic(payload, shared.host);
            }
            if cut {
                *this.cut = Some(driver.settle());
            }
        }

        // The body is done: wait for the children.
        driver.register_waker(cx);
        if !shared.try_close() {
            if this.waiting.is_none() {
                *this.waiting = shared.wait_for_children();
            }
            return Poll::Pending;
        }
        *this.waiting = None;
        driver.as_mut().exit();
        tg.finish();
        if let Some(payload) = shared.take_unwind() {
            driver.done();
            std::panic::resume_unwind(payload);
        }
        let failures = shared.take_failures();
        if !failures.is_empty() {
            driver.done();
            return Poll::Ready(Err(GroupError::failed(failures)));
        }
        if driver.outer_cancel_visible() {
            // The outermost cancelled scope catches; it drops us next.
            driver.park(cx);
            return Poll::Pending;
        }
        if let Some(value) = this.value.take() {
            driver.done();
            return Poll::Ready(Ok(value));
        }
        match this.cut.take() {
            Some(Settle::Catch(reason)) => {
                Poll::Ready(Err(GroupError::cancelled(driver.catch(reason))))
            }
            // Cut off by a cancellation from above that a shield raised since keeps out of
            // sight: it is still in flight, and its origin drops us.
            Some(Settle::Park) => {
                driver.park(cx);
                Poll::Pending
            }
            None => {
                let reason = driver
                    .node()
                    .own_reason()
                    .unwrap_or_else(|| CancelReason::new(CancelSource::Explicit, None));
                Poll::Ready(Err(GroupError::cancelled(driver.catch(reason))))
            }
        }
    }
}
