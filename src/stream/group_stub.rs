//! TEMPORARY stand-in for the core's `TaskGroupHandle` (same crate-private signature), so the
//! binding compiles and its unit test runs before the core lands. Deleted at the merge of
//! `main`; nothing public refers to it by path.

use crate::loom::sync::{Arc, Mutex};
use crate::task::TaskId;

type Callback = Box<dyn FnOnce(&GroupEnded) + Send + 'static>;

/// Stub of the core's handle.
#[derive(Clone)]
pub struct TaskGroupHandle {
    inner: Arc<Mutex<(Option<GroupEnded>, Vec<Callback>)>>,
}

impl std::fmt::Debug for TaskGroupHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TaskGroupHandle(stub)")
    }
}

/// Stub of the core's end notice.
#[derive(Clone, Copy)]
pub(crate) struct GroupEnded {
    pub(crate) host: TaskId,
}

impl TaskGroupHandle {
    #[cfg(test)]
    pub(crate) fn new() -> Self {
        Self {
            inner: Arc::new(Mutex::new((None, Vec::new()))),
        }
    }

    pub(crate) fn on_end(&self, f: Box<dyn FnOnce(&GroupEnded) + Send + 'static>) {
        let mut g = self.inner.lock();
        match g.0 {
            Some(ended) => {
                drop(g);
                f(&ended)
            }
            None => g.1.push(f),
        }
    }

    #[cfg(test)]
    pub(crate) fn end(&self, host: TaskId) {
        let callbacks = {
            let mut g = self.inner.lock();
            g.0 = Some(GroupEnded { host });
            std::mem::take(&mut g.1)
        };
        for f in callbacks {
            f(&GroupEnded { host });
        }
    }
}
