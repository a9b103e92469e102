//! Spawning a child as a tokio task, named for tokio-console when tokio exposes task names.
//!
//! tokio names a task only through `tokio::task::Builder`, which exists only when tokio is built
//! with `--cfg tokio_unstable` and its `tracing` feature (this crate turns that feature on for
//! `cfg(tokio_unstable)` builds, `Cargo.toml`). In such a build a child's tokio task is named
//! like the child in the task tree: its name, or `child at <spawn site>`. In every other build
//! this is `Handle::spawn`, unchanged.

use std::borrow::Cow;
use std::future::Future;
use std::panic::Location;

use tokio::runtime::Handle;
use tokio::task::JoinHandle;

/// Spawns `child` on `runtime`; `name`/`site` name the tokio task where tokio supports it.
/// (`#[track_caller]` all the way from the public `spawn`, so the spawn location tokio records,
/// which tokio-console shows, is the user's call.)
#[cfg(not(tokio_unstable))]
#[inline]
#[track_caller]
pub(super) fn spawn<F>(
    runtime: &Handle,
    _name: Option<&Cow<'static, str>>,
    _site: &'static Location<'static>,
    child: F,
) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    runtime.spawn(child)
}

/// Spawns `child` on `runtime` as a tokio task named `name` (or `child at <site>`), which
/// tokio-console shows.
///
/// # Panics
///
/// If tokio refuses to spawn the task (`Builder::spawn_on` returns an `io::Result` but, as of
/// tokio 1.54, always `Ok`).
#[cfg(tokio_unstable)]
#[track_caller]
pub(super) fn spawn<F>(
    runtime: &Handle,
    name: Option<&Cow<'static, str>>,
    site: &'static Location<'static>,
    child: F,
) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let label = match name {
        Some(name) => name.to_string(),
        None => format!("child at {site}"),
    };
    tokio::task::Builder::new()
        .name(&label)
        .spawn_on(child, runtime)
        .expect("tokio refused to spawn a tether child (tokio::task::Builder::spawn_on failed)")
}
