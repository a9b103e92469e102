//! The current task's context, the snapshot taken at spawn time, and the future that runs a
//! body inside a snapshot.
//!
//! # Invariants
//!
//! - `CURRENT` is `Some` exactly while a [`Scoped`] future polls its body on this thread; it
//!   holds that future's variable map for the length of the poll, and the map is moved back
//!   into the future when the poll returns (also on unwind). So a task's map is reachable from
//!   one place at a time, and a plain tokio task polled later on the same thread sees `None`.
//! - A map is shared (`Arc`) between a snapshot and the task it was taken from; a `set` clones
//!   it first if it is shared (copy on write), so a child's changes never reach its parent or
//!   siblings, and a parent's later changes never reach children already spawned.

use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;

use super::task_local::{self, CapturedLocal};
use super::var::VarMap;

/// The context of the task being polled: `Some` inside a [`Scoped`] poll.
pub(super) struct Inside(pub(super) Option<Arc<VarMap>>);

thread_local! {
    pub(super) static CURRENT: Cell<Option<Inside>> = const { Cell::new(None) };
}

/// Calls `f` with the current context (`None` outside any), without holding a borrow: the
/// context is taken out of the cell for the call and put back after (also on unwind), so `f`
/// must not expect to see it again through the thread-local (it cannot: `f` is crate code that
/// only reads or updates the map).
pub(super) fn with_current<R>(f: impl FnOnce(Option<&mut Inside>) -> R) -> R {
    let mut taken = PutBack(CURRENT.with(Cell::take));
    f(taken.0.as_mut())
}

/// Puts the taken context back (also on unwind).
struct PutBack(Option<Inside>);

impl Drop for PutBack {
    fn drop(&mut self) {
        let inside = self.0.take();
        let _ = CURRENT.try_with(|current| current.set(inside));
    }
}

/// Whether a child spawned here would inherit nothing: no context variable is set, no
/// propagated task-local is registered, no span is entered (feature `tracing`). What `capture`
/// followed by [`Snapshot::is_empty`] answers, without building the snapshot; `false` may
/// still mean an empty snapshot (a registered task-local not set in this task).
pub(crate) fn nothing_to_inherit() -> bool {
    if !task_local::none_registered() {
        return false;
    }
    #[cfg(feature = "tracing")]
    if !tracing::Span::current().is_none() {
        return false;
    }
    CURRENT.with(|current| {
        let inside = current.take();
        let empty = inside
            .as_ref()
            .is_none_or(|inside| inside.0.as_ref().is_none_or(|vars| vars.is_empty()));
        current.set(inside);
        empty
    })
}

/// The context variables of a tether child that inherited no context and then set one (see
/// [`poll_child`]); its group keeps them between the child's polls.
pub(crate) struct ChildVars(Arc<VarMap>);

/// Runs `f`, one poll of a tether child that inherited no context, with `vars` as the current
/// context if the child has any; returns what the child's context is after the poll (`Some`
/// if it had one or `ContextVar::set` made one during the poll).
///
/// Such a child carries no context of its own, so its future stays small (see
/// `task_group/child.rs`); its context exists only from its first `set`.
pub(crate) fn poll_child<R>(
    vars: Option<ChildVars>,
    f: impl FnOnce() -> R,
) -> (R, Option<ChildVars>) {
    struct Swap(Option<Option<Inside>>);
    impl Drop for Swap {
        fn drop(&mut self) {
            // Unwinding: restore what was current; the child's context is dropped.
            if let Some(previous) = self.0.take() {
                let _ = CURRENT.try_with(|current| current.set(previous));
            }
        }
    }
    // An empty context is current for the whole poll (also while the body is dropped there,
    // on cancellation), so `ContextVar::set` works everywhere a child's code runs; it costs
    // nothing until a variable is set.
    let vars = vars.map(|vars| vars.0);
    let previous = CURRENT.with(|current| current.replace(Some(Inside(vars))));
    let mut swap = Swap(Some(previous));
    let output = f();
    let previous = swap.0.take().flatten();
    let ours = CURRENT.with(|current| current.replace(previous));
    let ours = ours.and_then(|inside| inside.0);
    (output, ours.map(ChildVars))
}

/// A copy of the spawning task's context, taken by [`capture`] (Python's
/// `contextvars.copy_context()`): its [`ContextVar`](super::ContextVar) values, the values of
/// the tokio task-locals registered with [`propagate_task_local`](super::propagate_task_local),
/// and (with the `tracing` feature) its current `tracing` span.
///
/// [`scope`](Snapshot::scope) runs a future inside it. tether's task groups do this for every
/// child, so children see what their spawner saw.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use tether::ContextVar;
///
/// static USER: ContextVar<&'static str> = ContextVar::new("user");
///
/// USER.scope("ada", async {
///     let snapshot = tether::capture_context();
///     // A plain tokio task does not inherit tether context by itself; the snapshot carries it.
///     let seen = tokio::spawn(snapshot.scope(async { USER.get() })).await.unwrap();
///     assert_eq!(seen, Some("ada"));
/// })
/// .await;
/// # }
/// ```
pub struct Snapshot {
    /// The variables; `None`: none set (and nothing allocated).
    vars: Option<Arc<VarMap>>,
    /// Registered tokio task-locals that had a value; empty: nothing allocated.
    locals: Vec<Box<dyn CapturedLocal>>,
    /// The spawner's current span, unless it was the disabled "none" span.
    #[cfg(feature = "tracing")]
    span: Option<tracing::Span>,
}

/// Takes a [`Snapshot`] of the current task's context.
///
/// Costs a thread-local read when nothing is set: no allocation, no reference count (and one
/// atomic load for the task-local registry). With a context, one `Arc` clone; each registered
/// task-local with a value costs one clone of it and one small allocation.
///
/// # Examples
///
/// ```
/// let snapshot = tether::capture_context();
/// assert!(snapshot.is_empty()); // nothing set outside any context
/// ```
pub fn capture() -> Snapshot {
    let vars = with_current(|inside| inside.and_then(|inside| inside.0.clone()));
    Snapshot {
        vars,
        locals: task_local::capture(),
        #[cfg(feature = "tracing")]
        span: {
            let span = tracing::Span::current();
            (!span.is_none()).then_some(span)
        },
    }
}

impl Snapshot {
    /// A snapshot with nothing in it: no variables, task-locals or span.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(tether::Snapshot::empty().is_empty());
    /// ```
    pub fn empty() -> Snapshot {
        Snapshot {
            vars: None,
            locals: Vec::new(),
            #[cfg(feature = "tracing")]
            span: None,
        }
    }

    /// Whether the snapshot carries nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// static N: tether::ContextVar<u8> = tether::ContextVar::new("n");
    /// N.scope(1, async { assert!(!tether::capture_context().is_empty()) }).await;
    /// # }
    /// ```
    pub fn is_empty(&self) -> bool {
        let empty = self.vars.as_ref().is_none_or(|vars| vars.is_empty()) && self.locals.is_empty();
        #[cfg(feature = "tracing")]
        let empty = empty && self.span.is_none();
        empty
    }

    /// Runs `future` inside this context: while it is polled, [`ContextVar`](super::ContextVar)s
    /// read the snapshot's values (and `set` changes this copy only), registered task-locals
    /// hold their captured values, and the captured span is entered.
    ///
    /// # Cancel safety
    ///
    /// Dropping the returned future drops `future` and the context copy; nothing else.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use tether::{ContextVar, Snapshot};
    ///
    /// static HITS: ContextVar<u32> = ContextVar::new("hits");
    /// Snapshot::empty()
    ///     .scope(async {
    ///         HITS.set(1).unwrap(); // a context to set in
    ///         assert_eq!(HITS.get(), Some(1));
    ///     })
    ///     .await;
    /// assert_eq!(HITS.get(), None);
    /// # }
    /// ```
    pub fn scope<F: Future>(self, future: F) -> Scoped<F> {
        Scoped {
            snapshot: self,
            future,
        }
    }

    pub(super) fn with_vars(mut self, vars: Option<Arc<VarMap>>) -> Snapshot {
        self.vars = vars;
        self
    }

    pub(super) fn vars(&self) -> Option<&Arc<VarMap>> {
        self.vars.as_ref()
    }
}

impl fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Snapshot");
        d.field("vars", &self.vars.as_ref().map_or(0, |vars| vars.len()))
            .field("task_locals", &self.locals.len());
        #[cfg(feature = "tracing")]
        d.field("span", &self.span);
        d.finish()
    }
}

pin_project! {
    /// Future returned by [`Snapshot::scope`] and [`ContextVar::scope`](super::ContextVar::scope):
    /// `future` running inside a context.
    ///
    /// # Cancel safety
    ///
    /// Dropping it drops the inner future and the context copy; nothing else.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use tether::{ContextVar, Scoped};
    ///
    /// static N: ContextVar<u8> = ContextVar::new("n");
    /// let scoped: Scoped<_> = N.scope(3, async { N.get() });
    /// assert_eq!(scoped.await, Some(3));
    /// # }
    /// ```
    #[must_use = "futures do nothing unless polled"]
    pub struct Scoped<F> {
        snapshot: Snapshot,
        #[pin]
        future: F,
    }
}

/// Moves the task's map back out of the thread-local when the poll ends (also on unwind).
struct Restore<'a> {
    slot: &'a mut Option<Arc<VarMap>>,
    previous: Option<Option<Inside>>,
}

impl Drop for Restore<'_> {
    fn drop(&mut self) {
        let previous = self.previous.take().flatten();
        let _ = CURRENT.try_with(|current| {
            let ours = current.replace(previous);
            *self.slot = ours.and_then(|inside| inside.0);
        });
    }
}

impl Snapshot {
    /// Runs the synchronous `f` inside this context (Python's `Context.run`): variables read
    /// and `set` inside `f` use this snapshot, which keeps the changes; registered task-locals
    /// hold their captured values; the captured span is entered.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use tether::{ContextVar, capture_context};
    ///
    /// static N: ContextVar<u32> = ContextVar::new("n");
    /// let mut snapshot = N.scope(1, async { capture_context() }).await;
    /// // e.g. on another thread:
    /// let seen = std::thread::spawn(move || snapshot.run(|| N.get())).join().unwrap();
    /// assert_eq!(seen, Some(1));
    /// # }
    /// ```
    pub fn run<R>(&mut self, f: impl FnOnce() -> R) -> R {
        let vars = self.vars.take();
        let previous = CURRENT.with(|current| current.replace(Some(Inside(vars))));
        let _restore = Restore {
            slot: &mut self.vars,
            previous: Some(previous),
        };
        #[cfg(feature = "tracing")]
        let _entered = self.span.as_ref().map(tracing::Span::enter);
        if self.locals.is_empty() {
            f()
        } else {
            let mut f = Some(f);
            let mut out = None;
            task_local::enter_all(&self.locals, &mut || {
                out = f.take().map(|f| f());
            });
            out.expect("enter_all calls its closure once")
        }
    }
}

impl<F: Future> Future for Scoped<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let mut future = this.future;
        this.snapshot.run(|| future.as_mut().poll(cx))
    }
}

impl<F> fmt::Debug for Scoped<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scoped")
            .field("snapshot", &self.snapshot)
            .finish_non_exhaustive()
    }
}
