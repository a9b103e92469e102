//! `GroupPanic`: the panic payload a group resumes when a panic was not the only thing that went
//! wrong.

use std::any::Any;
use std::fmt;

use super::error::GroupError;
use crate::task::TaskId;

/// The payload a task group resumes with when it has more to report than one panic: several
/// panics, or a panic and failures. Nothing is dropped on the way to the parent.
///
/// When a group's only problem is a single panic, the group resumes that panic's own payload
/// unchanged (so `downcast::<&str>()` and friends work as usual). When there is more, it resumes
/// with a `GroupPanic`, which holds every panic payload in the order they happened (with the task
/// that panicked) and every collected failure. Each panic was also printed by the panic hook where
/// it happened.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use tether::GroupPanic;
///
/// let joined = tokio::spawn(async {
///     tether::task_group(async |tg| {
///         // Both children are inside shields when the first failure cancels the group, so both
///         // outcomes really happen.
///         tg.spawn(async {
///             tether::shield(tokio::task::yield_now()).await;
///             Err::<(), _>("disk full")
///         });
///         tg.spawn(async {
///             tether::shield(async {
///                 tokio::task::yield_now().await;
///                 tokio::task::yield_now().await;
///             })
///             .await;
///             if true {
///                 panic!("invariant broken");
///             }
///         });
///     })
///     .await
/// })
/// .await;
/// let payload = joined.unwrap_err().into_panic();
/// let group = payload.downcast::<GroupPanic>().expect("a panic and a failure");
/// assert_eq!(group.panic_messages(), vec!["invariant broken"]);
/// assert!(group.failures().unwrap().to_string().contains("disk full"));
/// # }
/// ```
pub struct GroupPanic {
    panics: Vec<(TaskId, Box<dyn Any + Send + 'static>)>,
    failures: Option<GroupError>,
}

impl GroupPanic {
    pub(crate) fn new(
        panics: Vec<(TaskId, Box<dyn Any + Send + 'static>)>,
        failures: Option<GroupError>,
    ) -> GroupPanic {
        GroupPanic { panics, failures }
    }

    /// Every panic: the task that panicked and its payload, in the order they happened.
    pub fn panics(&self) -> &[(TaskId, Box<dyn Any + Send + 'static>)] {
        &self.panics
    }

    /// The panics, owned (for example to `resume_unwind` the first one).
    pub fn into_panics(self) -> Vec<(TaskId, Box<dyn Any + Send + 'static>)> {
        self.panics
    }

    /// The failures collected alongside the panics, if any.
    pub fn failures(&self) -> Option<&GroupError> {
        self.failures.as_ref()
    }

    /// The message of each panic (`&str` and `String` payloads; others show as `Box<dyn Any>`).
    pub fn panic_messages(&self) -> Vec<&str> {
        self.panics
            .iter()
            .map(|(_, payload)| panic_message(&**payload))
            .collect()
    }
}

fn panic_message(payload: &(dyn Any + Send)) -> &str {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s
    } else {
        "Box<dyn Any>"
    }
}

impl fmt::Display for GroupPanic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "task group panicked ({} panic", self.panics.len())?;
        if self.panics.len() != 1 {
            f.write_str("s")?;
        }
        f.write_str("): ")?;
        for (i, (task, payload)) in self.panics.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{task} panicked: {}", panic_message(&**payload))?;
        }
        if let Some(failures) = &self.failures {
            write!(f, "; and {failures}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for GroupPanic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "GroupPanic({self})")
    }
}
