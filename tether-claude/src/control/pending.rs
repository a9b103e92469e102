//! SDK → CLI requests waiting for their reply.
//!
//! # Invariants
//!
//! - Once [`Pending::close`] ran, no request waits: the ones waiting got the cause, and
//!   [`Pending::register`] fails at once. Both happen under the one lock, so a request can
//!   never register after the close and wait forever (the hang of py#387 and the tyrchen crate).

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;
use serde_json::Value;
use tokio::sync::oneshot;

use crate::error::{CloseCause, Error};

type Reply = Result<Value, Error>;

#[derive(Debug, Default)]
pub(crate) struct Pending {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    waiting: HashMap<String, (String, oneshot::Sender<Reply>)>,
    closed: Option<Arc<CloseCause>>,
}

impl Pending {
    /// Registers a request; `Err(Closed)` if the connection already ended.
    pub(crate) fn register(
        &self,
        request_id: &str,
        subtype: &str,
    ) -> Result<oneshot::Receiver<Reply>, Error> {
        let mut inner = self.inner.lock();
        if let Some(cause) = &inner.closed {
            return Err(Error::Closed(cause.clone()));
        }
        let (tx, rx) = oneshot::channel();
        inner
            .waiting
            .insert(request_id.to_string(), (subtype.to_string(), tx));
        Ok(rx)
    }

    /// Delivers a reply (an unknown id is logged and dropped: a reply to a request that timed
    /// out).
    pub(crate) fn complete(&self, request_id: &str, result: Result<Value, String>) {
        let entry = self.inner.lock().waiting.remove(request_id);
        match entry {
            Some((subtype, tx)) => {
                let _ =
                    tx.send(result.map_err(|message| Error::ControlRefused { subtype, message }));
            }
            None => tracing::debug!(request_id, "a control response for no pending request"),
        }
    }

    /// Forgets a request (timed out or abandoned).
    pub(crate) fn remove(&self, request_id: &str) {
        self.inner.lock().waiting.remove(request_id);
    }

    /// Fails every waiting request with `cause`, now and for every later one.
    pub(crate) fn close(&self, cause: Arc<CloseCause>) {
        let waiting = {
            let mut inner = self.inner.lock();
            if inner.closed.is_none() {
                inner.closed = Some(cause.clone());
            }
            std::mem::take(&mut inner.waiting)
        };
        for (_, (_, tx)) in waiting {
            let _ = tx.send(Err(Error::Closed(cause.clone())));
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.inner.lock().waiting.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn close_fails_waiters_and_later_registrations_at_once() {
        let p = Pending::default();
        let rx = p.register("a", "interrupt").unwrap();
        p.close(Arc::new(CloseCause::Dropped));
        assert!(matches!(rx.await.unwrap(), Err(Error::Closed(_))));
        assert!(matches!(
            p.register("b", "interrupt"),
            Err(Error::Closed(_))
        ));
        assert_eq!(p.len(), 0);
    }

    #[tokio::test]
    async fn replies_route_by_id() {
        let p = Pending::default();
        let a = p.register("a", "set_model").unwrap();
        let b = p.register("b", "interrupt").unwrap();
        p.complete("b", Err("nope".into()));
        p.complete("a", Ok(Value::Bool(true)));
        p.complete("zzz", Ok(Value::Null)); // ignored
        assert_eq!(a.await.unwrap().unwrap(), Value::Bool(true));
        let err = b.await.unwrap().unwrap_err();
        assert_eq!(
            err.to_string(),
            "the cli refused control request `interrupt`: nope"
        );
    }
}
