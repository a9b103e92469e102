//! `ContextVar<T>`: a value visible to the task that set it and to the children it spawns.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::snapshot::{Scoped, capture, with_current};

/// The variables of one context: `(variable id, value)` pairs, few enough that a linear scan
/// beats hashing. Cloned only on a write to a shared map.
#[derive(Clone, Default)]
pub(crate) struct VarMap {
    entries: Vec<(usize, Arc<dyn Any + Send + Sync>)>,
}

impl VarMap {
    pub(super) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }

    fn get(&self, id: usize) -> Option<&Arc<dyn Any + Send + Sync>> {
        self.entries
            .iter()
            .find(|(key, _)| *key == id)
            .map(|(_, value)| value)
    }

    /// Sets `id`, returning the old value (dropped by the caller, outside any borrow).
    fn insert(
        &mut self,
        id: usize,
        value: Arc<dyn Any + Send + Sync>,
    ) -> Option<Arc<dyn Any + Send + Sync>> {
        match self.entries.iter_mut().find(|(key, _)| *key == id) {
            Some((_, slot)) => Some(std::mem::replace(slot, value)),
            None => {
                self.entries.push((id, value));
                None
            }
        }
    }
}

/// Sets `id` in `map` (copy on write: a shared map is cloned first).
fn with_value(
    map: &mut Option<Arc<VarMap>>,
    id: usize,
    value: Arc<dyn Any + Send + Sync>,
) -> Option<Arc<dyn Any + Send + Sync>> {
    Arc::make_mut(map.get_or_insert_with(Default::default)).insert(id, value)
}

/// A context variable (Python's `contextvars.ContextVar`, which AnyIO copies into every task):
/// a value a task sets and every child it spawns afterwards sees.
///
/// - **Inherited at spawn time, from the spawner.** A child spawned by `spawn`, `start()` or a
///   [`TaskGroupHandle`](crate::TaskGroupHandle) starts with a copy of the context of the task
///   that called `spawn` — not of the task hosting the group.
/// - **Copies, not shared cells.** A child's [`set`](Self::set) changes its own copy: its parent
///   and siblings never see it, and a parent's later `set` does not reach children already
///   spawned.
/// - **Where a context exists.** Every tether child has one. Elsewhere (a `#[tokio::main]`
///   body, a plain `tokio::spawn`), give a value to a section with [`scope`](Self::scope), or
///   run the code in a copy of the current context with
///   [`capture()`](super::capture)`.`[`scope(fut)`](super::Snapshot::scope); `set` outside any
///   context returns [`NoContextError`].
///
/// Declare variables as `static`s (the constructor is `const`). Values are shared between
/// copies through an `Arc`, so `T` need not be `Clone` except for [`get`](Self::get).
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use tether::ContextVar;
///
/// static REQUEST_ID: ContextVar<u64> = ContextVar::new("request_id");
///
/// REQUEST_ID
///     .scope(1, async {
///         tether::task_group(async |tg| {
///             tg.spawn(async {
///                 assert_eq!(REQUEST_ID.get(), Some(1)); // inherited
///                 REQUEST_ID.set(2).unwrap(); // this child's copy only
///                 assert_eq!(REQUEST_ID.get(), Some(2));
///             });
///         })
///         .await
///         .unwrap();
///         assert_eq!(REQUEST_ID.get(), Some(1)); // the parent's value is unchanged
///     })
///     .await;
/// assert_eq!(REQUEST_ID.get(), None);
/// # }
/// ```
pub struct ContextVar<T> {
    name: &'static str,
    /// Assigned on first use (0: not yet).
    id: AtomicUsize,
    _value: PhantomData<fn() -> T>,
}

impl<T: Send + Sync + 'static> ContextVar<T> {
    /// A new variable; `name` appears in errors and `Debug`.
    ///
    /// # Examples
    ///
    /// ```
    /// static TENANT: tether::ContextVar<String> = tether::ContextVar::new("tenant");
    /// assert_eq!(TENANT.name(), "tenant");
    /// ```
    pub const fn new(name: &'static str) -> ContextVar<T> {
        ContextVar {
            name,
            id: AtomicUsize::new(0),
            _value: PhantomData,
        }
    }

    /// The variable's name.
    ///
    /// # Examples
    ///
    /// ```
    /// let var = tether::ContextVar::<u8>::new("level");
    /// assert_eq!(var.name(), "level");
    /// ```
    pub fn name(&self) -> &'static str {
        self.name
    }

    fn id(&self) -> usize {
        static NEXT: AtomicUsize = AtomicUsize::new(1);
        let id = self.id.load(Ordering::Acquire);
        if id != 0 {
            return id;
        }
        let fresh = NEXT.fetch_add(1, Ordering::Relaxed);
        match self
            .id
            .compare_exchange(0, fresh, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => fresh,
            Err(raced) => raced,
        }
    }

    fn lookup(&self) -> Option<Arc<dyn Any + Send + Sync>> {
        let id = self.id();
        with_current(|inside| {
            inside
                .and_then(|inside| inside.0.as_ref())
                .and_then(|vars| vars.get(id).cloned())
        })
    }

    /// Calls `f` with the current value (`None` if unset here).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// static NAME: tether::ContextVar<String> = tether::ContextVar::new("name");
    /// NAME.scope("ada".to_string(), async {
    ///     assert_eq!(NAME.with(|name| name.map(String::len)), Some(3));
    /// })
    /// .await;
    /// # }
    /// ```
    pub fn with<R>(&self, f: impl FnOnce(Option<&T>) -> R) -> R {
        let value = self.lookup();
        f(value.as_deref().and_then(|value| value.downcast_ref::<T>()))
    }

    /// A clone of the current value (`None` if unset here).
    ///
    /// # Examples
    ///
    /// ```
    /// static N: tether::ContextVar<u8> = tether::ContextVar::new("n");
    /// assert_eq!(N.get(), None);
    /// ```
    pub fn get(&self) -> Option<T>
    where
        T: Clone,
    {
        self.with(|value| value.cloned())
    }

    /// Sets the value in the current task's context: visible to this task from now on and to
    /// every child it spawns afterwards; never to its parent, its siblings, or children it
    /// already spawned.
    ///
    /// Copy on write: the first `set` in a task whose context is shared with its parent (every
    /// child, at first) copies the list of variables (one allocation; values are shared).
    ///
    /// # Errors
    ///
    /// [`NoContextError`] outside any context (see the type docs); nothing is set.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// static N: tether::ContextVar<u8> = tether::ContextVar::new("n");
    /// assert!(N.set(1).is_err()); // a #[tokio::main] body has no context of its own
    /// tether::capture_context()
    ///     .scope(async {
    ///         N.set(1).unwrap();
    ///         assert_eq!(N.get(), Some(1));
    ///     })
    ///     .await;
    /// # }
    /// ```
    pub fn set(&self, value: T) -> Result<(), NoContextError> {
        let id = self.id();
        let old = with_current(|inside| {
            let inside = inside.ok_or(NoContextError { var: self.name })?;
            Ok(with_value(&mut inside.0, id, Arc::new(value)))
        })?;
        drop(old);
        Ok(())
    }

    /// Runs `future` in a copy of the current context in which this variable is `value` (like
    /// tokio's `LocalKey::scope`). Works anywhere, also outside tether tasks; inside, `set`
    /// works on the copy, and the copy ends with the future.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future drops `future` and the copy; nothing else.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// static DEPTH: tether::ContextVar<u32> = tether::ContextVar::new("depth");
    /// let inner = DEPTH.scope(1, async { DEPTH.scope(2, async { DEPTH.get() }).await }).await;
    /// assert_eq!(inner, Some(2));
    /// # }
    /// ```
    pub fn scope<F: Future>(&self, value: T, future: F) -> Scoped<F> {
        let snapshot = capture();
        let mut vars = snapshot.vars().cloned();
        drop(with_value(&mut vars, self.id(), Arc::new(value)));
        snapshot.with_vars(vars).scope(future)
    }
}

impl<T> fmt::Debug for ContextVar<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ContextVar")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// [`ContextVar::set`] was called outside any context.
///
/// # Examples
///
/// ```
/// static N: tether::ContextVar<u8> = tether::ContextVar::new("n");
/// let err = N.set(1).unwrap_err();
/// assert_eq!(err.var(), "n");
/// assert!(err.to_string().contains("scope"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "context variable `{var}` set outside any tether context; set it inside a tether task group \
     child, or run the code in `var.scope(value, fut)` or `tether::capture_context().scope(fut)`"
)]
pub struct NoContextError {
    var: &'static str,
}

impl NoContextError {
    /// The name of the variable that was set.
    ///
    /// # Examples
    ///
    /// ```
    /// static N: tether::ContextVar<u8> = tether::ContextVar::new("n");
    /// assert_eq!(N.set(1).unwrap_err().var(), "n");
    /// ```
    pub fn var(&self) -> &'static str {
        self.var
    }
}
