//! Memory object streams, through the public API only.
//!
//! Deterministic: futures are polled by hand (`futures::poll!`, `now_or_never`), time is paused,
//! and every test that could hang is wrapped in a timeout.

mod support;

use std::pin::pin;
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use support::{Tracked, bounded, tracked};
use tether::{
    RecvError, SendError, TryRecvError, TrySendError, memory_stream, unbounded_memory_stream,
};

#[tokio::test(start_paused = true)]
async fn capacity_two_drains_then_ends() {
    bounded(async {
        let (tx, mut rx) = memory_stream::<u32>(2);
        tx.send(1).await.unwrap();
        tx.send(2).await.unwrap();
        tx.close();
        assert_eq!(rx.recv().await, Ok(1));
        assert_eq!(rx.recv().await, Ok(2));
        assert_eq!(rx.recv().await, Err(RecvError::EndOfStream));

        // The same through `Stream`: the loop ends.
        let (tx, rx2) = memory_stream::<u32>(2);
        tx.send(1).await.unwrap();
        tx.send(2).await.unwrap();
        drop(tx);
        rx = rx2;
        let mut got = Vec::new();
        while let Some(x) = rx.next().await {
            got.push(x);
        }
        assert_eq!(got, [1, 2]);
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn rendezvous_completes_only_when_taken() {
    bounded(async {
        let (tx, rx) = memory_stream::<&str>(0);
        assert!(tx.try_send("x").unwrap_err().is_would_block()); // nobody waiting
        let mut send = pin!(tx.send("a"));
        assert!(futures::poll!(send.as_mut()).is_pending());
        assert!(futures::poll!(send.as_mut()).is_pending());
        assert_eq!(rx.statistics().current_buffer_used, 0);
        assert_eq!(rx.statistics().tasks_waiting_send, 1);
        // A non-blocking receive takes the waiting sender's item (AnyIO's `receive_nowait`):
        // that completes the send, which is no longer waiting.
        assert_eq!(rx.try_recv(), Ok("a"));
        assert_eq!(rx.statistics().tasks_waiting_send, 0);
        assert_eq!(rx.try_recv(), Err(TryRecvError::WouldBlock));
        assert_eq!(futures::poll!(send.as_mut()), Poll::Ready(Ok(())));

        // A receiver that starts waiting is handed a waiting sender's item the same way.
        let mut send = pin!(tx.send("a2"));
        assert!(futures::poll!(send.as_mut()).is_pending());
        let mut recv = pin!(rx.recv());
        assert_eq!(futures::poll!(recv.as_mut()), Poll::Ready(Ok("a2")));
        assert_eq!(futures::poll!(send.as_mut()), Poll::Ready(Ok(())));

        // A receiver that waited first is handed the item of a send that comes later.
        let mut recv = pin!(rx.recv());
        assert!(futures::poll!(recv.as_mut()).is_pending());
        let mut send = pin!(tx.send("a3"));
        assert_eq!(futures::poll!(send.as_mut()), Poll::Ready(Ok(())));
        assert_eq!(recv.await, Ok("a3"));

        // A waiting receiver lets try_send complete.
        let mut recv = pin!(rx.recv());
        assert!(futures::poll!(recv.as_mut()).is_pending());
        tx.try_send("b").unwrap();
        assert_eq!(recv.await, Ok("b"));
        assert_eq!(rx.statistics().max_buffer_size, Some(0));
    })
    .await;
    // Across tasks.
    bounded(async {
        let (tx, rx) = memory_stream::<&str>(0);
        let consumer = tokio::spawn(async move { rx.recv().await });
        tx.send("c").await.unwrap();
        assert_eq!(consumer.await.unwrap(), Ok("c"));
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn unbounded_never_waits() {
    bounded(async {
        let (tx, rx) = unbounded_memory_stream::<u32>();
        for i in 0..5_000 {
            tx.try_send(i).unwrap();
        }
        for i in 5_000..10_000 {
            tx.send(i).await.unwrap();
        }
        assert_eq!(rx.statistics().current_buffer_used, 10_000);
        assert_eq!(rx.statistics().max_buffer_size, None);
        drop(tx);
        let all: Vec<u32> = rx.collect().await;
        assert_eq!(all, (0..10_000).collect::<Vec<_>>());
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn broken_resource_hands_the_item_back() {
    bounded(async {
        let (tx, rx) = memory_stream::<String>(1);
        let rx2 = rx.clone();
        rx.close();
        tx.send("still one receiver".into()).await.unwrap();
        drop(rx2);
        let err = tx.send("lost?".into()).await.unwrap_err();
        assert!(err.is_broken());
        assert!(
            err.to_string().contains("receive ends are all closed"),
            "{err}"
        );
        assert_eq!(err.into_inner(), "lost?");
        let err = tx.try_send("again".into()).unwrap_err();
        assert!(matches!(
            err,
            TrySendError::Send(SendError::BrokenResource(_))
        ));
        assert_eq!(err.into_inner(), "again");
        assert!(tx.reserve().await.unwrap_err().is_broken());
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn closed_resource_is_per_handle() {
    bounded(async {
        let (tx, rx) = memory_stream::<u32>(4);
        let tx2 = tx.clone();
        let rx2 = rx.clone();
        tx.close();
        tx.close(); // idempotent
        assert_eq!(tx.send(1).await, Err(SendError::Closed(1)));
        assert!(matches!(
            tx.try_send(2),
            Err(TrySendError::Send(SendError::Closed(2)))
        ));
        assert!(
            tx.send(3)
                .await
                .unwrap_err()
                .to_string()
                .contains("own close()")
        );
        tx2.send(4).await.unwrap(); // the clone is still open
        assert!(tx.is_closed() && !tx2.is_closed());
        assert!(!rx.is_closed() && !rx2.is_closed());
        rx.close();
        assert!(rx.is_closed() && !rx2.is_closed()); // per handle
        assert_eq!(rx.recv().await, Err(RecvError::Closed));
        assert_eq!(rx.try_recv(), Err(TryRecvError::Recv(RecvError::Closed)));
        assert_eq!(rx2.recv().await, Ok(4));
        let stats = rx2.statistics();
        assert_eq!(
            (stats.open_send_streams, stats.open_receive_streams),
            (1, 1)
        );
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn clones_made_after_a_side_ended_start_closed() {
    bounded(async {
        let (tx, rx) = memory_stream::<u32>(2);
        tx.send(1).await.unwrap();
        tx.close();
        let late = tx.clone(); // receivers were told the stream ends after the buffer
        assert!(late.is_closed());
        assert_eq!(late.send(2).await, Err(SendError::Closed(2)));
        assert_eq!(rx.recv().await, Ok(1));
        assert_eq!(rx.recv().await, Err(RecvError::EndOfStream));

        let (tx, rx) = memory_stream::<u32>(2);
        let open = tx.clone();
        tx.close();
        let again = tx.clone(); // another sender is still open: the clone is open
        assert!(!again.is_closed());
        drop(open);

        rx.close();
        let late = rx.clone();
        assert!(late.is_closed());
        assert_eq!(late.recv().await, Err(RecvError::Closed));
        assert_eq!(again.send(3).await, Err(SendError::BrokenResource(3)));
        assert_eq!(again.statistics().open_receive_streams, 0);
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn would_block_both_ways() {
    let (tx, rx) = memory_stream::<u32>(1);
    assert_eq!(rx.try_recv(), Err(TryRecvError::WouldBlock));
    tx.try_send(1).unwrap();
    let err = tx.try_send(2).unwrap_err();
    assert!(err.is_would_block());
    assert_eq!(err.into_inner(), 2);
    assert_eq!(rx.try_recv(), Ok(1));
    assert_eq!(rx.try_recv(), Err(TryRecvError::WouldBlock));
}

#[tokio::test(start_paused = true)]
async fn close_wakes_blocked_peers() {
    bounded(async {
        // A receiver blocked in another task is woken by the last sender's close.
        let (tx, rx) = memory_stream::<u32>(1);
        let consumer = tokio::spawn(async move { rx.recv().await });
        tokio::task::yield_now().await;
        assert!(!consumer.is_finished());
        tx.close();
        assert_eq!(consumer.await.unwrap(), Err(RecvError::EndOfStream));

        // A sender blocked on a full stream is woken by the last receiver's close, item back.
        let (tx, rx) = memory_stream::<u32>(1);
        tx.send(1).await.unwrap();
        let producer = tokio::spawn(async move { tx.send(2).await });
        tokio::task::yield_now().await;
        assert!(!producer.is_finished());
        assert_eq!(rx.statistics().tasks_waiting_send, 1);
        drop(rx);
        assert_eq!(producer.await.unwrap(), Err(SendError::BrokenResource(2)));
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn statistics_report_buffer_handles_and_waiters() {
    bounded(async {
        let (tx, rx) = memory_stream::<u32>(1);
        let rx2 = rx.clone();
        let st = rx.statistics();
        assert_eq!(st.current_buffer_used, 0);
        assert_eq!(st.max_buffer_size, Some(1));
        assert_eq!((st.open_send_streams, st.open_receive_streams), (1, 2));
        assert_eq!((st.tasks_waiting_send, st.tasks_waiting_receive), (0, 0));
        {
            let mut r1 = pin!(rx.recv());
            let mut r2 = pin!(rx2.recv());
            assert!(futures::poll!(r1.as_mut()).is_pending());
            assert!(futures::poll!(r2.as_mut()).is_pending());
            assert_eq!(rx.statistics().tasks_waiting_receive, 2);
        }
        assert_eq!(rx.statistics().tasks_waiting_receive, 0); // cancelled waiters leave
        tx.send(1).await.unwrap();
        let tx2 = tx.clone();
        let mut s = pin!(tx2.send(2));
        assert!(futures::poll!(s.as_mut()).is_pending());
        let st = tx.statistics();
        assert_eq!(st.current_buffer_used, 1);
        assert_eq!(st.open_send_streams, 2);
        assert_eq!(st.tasks_waiting_send, 1);
        assert_eq!(rx.recv().await, Ok(1));
        // The freed room took the waiting sender's item: it is in the buffer, and that send
        // no longer waits (it completes when next polled).
        assert_eq!(tx.statistics().tasks_waiting_send, 0);
        assert_eq!(tx.statistics().current_buffer_used, 1);
        assert_eq!(s.await, Ok(()));
        assert_eq!(tx.statistics().current_buffer_used, 1);
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn waiting_receivers_and_senders_are_served_fifo() {
    bounded(async {
        let (tx, rx) = memory_stream::<u32>(0);
        let mut r = Vec::new();
        for _ in 0..3 {
            let rx = rx.clone();
            r.push(tokio::spawn(async move { rx.recv().await }));
            tokio::task::yield_now().await; // each one starts waiting in turn
        }
        assert_eq!(rx.statistics().tasks_waiting_receive, 3);
        for i in 0..3 {
            tx.send(i).await.unwrap();
        }
        for (i, h) in r.into_iter().enumerate() {
            assert_eq!(h.await.unwrap(), Ok(i as u32));
        }

        let (tx, rx) = memory_stream::<u32>(1);
        tx.send(100).await.unwrap(); // full
        let mut s = Vec::new();
        for i in 0..3 {
            let tx = tx.clone();
            s.push(tokio::spawn(async move { tx.send(i).await }));
            tokio::task::yield_now().await;
        }
        assert_eq!(rx.statistics().tasks_waiting_send, 3);
        let mut got = Vec::new();
        for _ in 0..4 {
            got.push(rx.recv().await.unwrap());
        }
        assert_eq!(got, [100, 0, 1, 2]);
        for h in s {
            assert_eq!(h.await.unwrap(), Ok(()));
        }
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn cancelled_recv_loses_nothing() {
    bounded(async {
        // Cancelled while waiting: the next item goes to the next receiver.
        let (tx, rx) = memory_stream::<u32>(1);
        let other = rx.clone();
        let mut first = Box::pin(rx.recv());
        assert!(futures::poll!(first.as_mut()).is_pending());
        let mut second = pin!(other.recv());
        assert!(futures::poll!(second.as_mut()).is_pending());
        drop(first);
        tx.send(1).await.unwrap();
        assert_eq!(second.await, Ok(1));

        // Cancelled just after being handed an item: the item goes to the next receiver.
        let mut first = Box::pin(rx.recv());
        assert!(futures::poll!(first.as_mut()).is_pending());
        let mut second = pin!(other.recv());
        assert!(futures::poll!(second.as_mut()).is_pending());
        tx.send(2).await.unwrap(); // handed to `first`
        drop(first); // ...which is cancelled before it could return it
        assert_eq!(second.await, Ok(2));

        // Handed an item with nobody else waiting: it goes back to the head of the buffer.
        let mut first = Box::pin(rx.recv());
        assert!(futures::poll!(first.as_mut()).is_pending());
        tx.send(3).await.unwrap();
        tx.send(4).await.unwrap(); // buffered behind
        drop(first);
        assert_eq!(other.recv().await, Ok(3));
        assert_eq!(other.recv().await, Ok(4));

        // Rendezvous is lossless too.
        let (tx, rx) = memory_stream::<u32>(0);
        let mut first = Box::pin(rx.recv());
        assert!(futures::poll!(first.as_mut()).is_pending());
        tx.try_send(5).unwrap();
        drop(first);
        assert_eq!(rx.try_recv(), Ok(5));
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn cancelled_send_did_not_happen() {
    bounded(async {
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = memory_stream::<Tracked>(1);
        tx.send(tracked(1, &log)).await.unwrap();
        let mut send = Box::pin(tx.send(tracked(2, &log)));
        assert!(futures::poll!(send.as_mut()).is_pending());
        drop(send);
        assert_eq!(*log.lock().unwrap(), [2]); // dropped with its future
        assert_eq!(rx.recv().await.unwrap().id, 1);
        assert_eq!(rx.try_recv().unwrap_err(), TryRecvError::WouldBlock);

        // A receive that frees room moves the oldest waiting send's item into it: that send
        // has happened, so dropping its future afterwards does not undo it. A send still
        // waiting when it is dropped did not happen.
        tx.send(tracked(3, &log)).await.unwrap();
        let mut first = Box::pin(tx.send(tracked(4, &log)));
        assert!(futures::poll!(first.as_mut()).is_pending());
        let mut second = Box::pin(tx.send(tracked(5, &log)));
        assert!(futures::poll!(second.as_mut()).is_pending());
        let mut third = Box::pin(tx.send(tracked(8, &log)));
        assert!(futures::poll!(third.as_mut()).is_pending());
        assert_eq!(rx.recv().await.unwrap().id, 3); // 4 moves into the room
        drop(first);
        assert_eq!(*log.lock().unwrap(), [2, 1, 3]); // 3 received; 4 is in the stream
        drop(second); // still waiting: never sent
        assert_eq!(*log.lock().unwrap(), [2, 1, 3, 5]);
        assert_eq!(rx.recv().await.unwrap().id, 4); // 8 moves into the room (5 is gone)
        assert!(matches!(
            futures::poll!(third.as_mut()),
            Poll::Ready(Ok(()))
        ));
        assert_eq!(rx.recv().await.unwrap().id, 8);

        // Rendezvous: a send cancelled while it waited for a receiver leaves nothing behind
        // for the receiver that comes next.
        let (tx, rx) = memory_stream::<Tracked>(0);
        let mut send = Box::pin(tx.send(tracked(6, &log)));
        assert!(futures::poll!(send.as_mut()).is_pending());
        drop(send);
        assert!(log.lock().unwrap().contains(&6));
        let mut recv = pin!(rx.recv());
        assert!(futures::poll!(recv.as_mut()).is_pending());
        tx.try_send(tracked(7, &log)).unwrap();
        assert_eq!(recv.await.unwrap().id, 7);
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn reserve_and_permit() {
    bounded(async {
        let (tx, rx) = memory_stream::<String>(1);
        let permit = tx.reserve().await.unwrap();
        assert!(tx.try_send("no room".into()).unwrap_err().is_would_block());

        // A second reservation waits; a select! that gives up keeps its item.
        let item = "kept".to_string();
        tokio::select! {
            p = tx.reserve() => { p.unwrap().send(item).unwrap(); unreachable!() }
            _ = tokio::time::sleep(Duration::from_millis(10)) => {}
        }
        assert_eq!(item, "kept");

        // Dropping a permit unused hands the room to the next waiter.
        let mut next = pin!(tx.reserve());
        assert!(futures::poll!(next.as_mut()).is_pending());
        drop(permit);
        let permit = match futures::poll!(next.as_mut()) {
            Poll::Ready(p) => p.unwrap(),
            Poll::Pending => panic!("room was not passed on"),
        };
        permit.send(item).unwrap();
        assert_eq!(rx.recv().await.unwrap(), "kept");

        // On a rendezvous stream a permit is granted while a receiver waits.
        let (tx, rx) = memory_stream::<u32>(0);
        let mut reserve = pin!(tx.reserve());
        assert!(futures::poll!(reserve.as_mut()).is_pending());
        let mut recv = pin!(rx.recv());
        assert!(futures::poll!(recv.as_mut()).is_pending());
        let Poll::Ready(Ok(permit)) = futures::poll!(reserve.as_mut()) else {
            panic!("a waiting receiver should grant the reservation")
        };
        permit.send(7).unwrap();
        assert_eq!(recv.await, Ok(7));
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn room_freed_by_an_unused_permit_reaches_a_waiting_receiver() {
    bounded(async {
        let (tx, rx) = memory_stream::<u32>(1);
        let held = tx.reserve().await.unwrap(); // all the room
        let mut reserve = pin!(tx.reserve());
        assert!(futures::poll!(reserve.as_mut()).is_pending());
        let mut send = pin!(tx.send(1));
        assert!(futures::poll!(send.as_mut()).is_pending());
        let mut recv = pin!(rx.recv());
        assert!(futures::poll!(recv.as_mut()).is_pending());
        drop(held); // the room goes to the waiting reservation
        let Poll::Ready(Ok(permit)) = futures::poll!(reserve.as_mut()) else {
            panic!("the freed room should go to the first waiting reservation")
        };
        drop(permit); // unused: the room goes on to the waiting send
        assert_eq!(send.await, Ok(()));
        assert_eq!(recv.await, Ok(1));
        let st = rx.statistics();
        assert_eq!((st.current_buffer_used, st.tasks_waiting_receive), (0, 0));
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn sink_adapter() {
    bounded(async {
        let (tx, rx) = memory_stream::<u32>(1);
        let producer = tokio::spawn(async move {
            let mut sink = tx.into_sink();
            for i in 0..5 {
                sink.send(i).await.unwrap();
            }
            sink.close().await.unwrap();
        });
        assert_eq!(rx.collect::<Vec<_>>().await, [0, 1, 2, 3, 4]);
        producer.await.unwrap();

        let (tx, rx) = memory_stream::<u32>(1);
        drop(rx);
        let mut sink = tx.into_sink();
        assert_eq!(sink.send(9).await, Err(SendError::BrokenResource(9)));
    })
    .await;
}

/// Once every receiver is gone, room that comes back (an unused permit dropped) is not used to
/// complete a waiting send: the send fails with its item handed back, never "succeeds" into a
/// buffer nobody can read (found by mutation testing of `refill`'s shut check).
#[tokio::test(start_paused = true)]
async fn room_freed_after_the_receivers_left_does_not_complete_a_waiting_send() {
    bounded(async {
        let (tx, rx) = memory_stream::<u32>(1);
        let permit = tx.reserve().await.unwrap();
        let mut send = Box::pin(tx.send(7));
        assert!(futures::poll!(send.as_mut()).is_pending());
        drop(rx);
        drop(permit); // the room comes back after the receivers left
        assert_eq!(send.await, Err(SendError::BrokenResource(7)));
        assert_eq!(tx.statistics().current_buffer_used, 0);
    })
    .await;
}

/// A waiting receive or send polled again with another waker (moved to another task, or
/// re-polled by a combinator with its own waker) is woken through the new waker, not the first
/// (found by mutation testing: the waker update could be deleted).
#[tokio::test(start_paused = true)]
async fn a_waiter_polled_with_a_new_waker_is_woken_through_it() {
    use futures::task::ArcWake;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::task::Context;

    struct Flag(AtomicBool);
    impl ArcWake for Flag {
        fn wake_by_ref(arc_self: &Arc<Self>) {
            arc_self.0.store(true, Ordering::SeqCst);
        }
    }
    fn flag() -> (Arc<Flag>, std::task::Waker) {
        let f = Arc::new(Flag(AtomicBool::new(false)));
        (f.clone(), futures::task::waker(f))
    }

    bounded(async {
        // A receive.
        let (tx, rx) = memory_stream::<u32>(1);
        let mut recv = Box::pin(rx.recv());
        let (first, w1) = flag();
        let (second, w2) = flag();
        assert!(
            recv.as_mut()
                .poll(&mut Context::from_waker(&w1))
                .is_pending()
        );
        assert!(
            recv.as_mut()
                .poll(&mut Context::from_waker(&w2))
                .is_pending()
        );
        tx.try_send(1).unwrap();
        assert!(
            second.0.load(Ordering::SeqCst),
            "woken through the new waker"
        );
        assert!(!first.0.load(Ordering::SeqCst));
        assert_eq!(recv.await, Ok(1));

        // A send on a full stream.
        tx.try_send(2).unwrap();
        let mut send = Box::pin(tx.send(3));
        let (first, w1) = flag();
        let (second, w2) = flag();
        assert!(
            send.as_mut()
                .poll(&mut Context::from_waker(&w1))
                .is_pending()
        );
        assert!(
            send.as_mut()
                .poll(&mut Context::from_waker(&w2))
                .is_pending()
        );
        assert_eq!(rx.try_recv(), Ok(2));
        assert!(
            second.0.load(Ordering::SeqCst),
            "woken through the new waker"
        );
        assert!(!first.0.load(Ordering::SeqCst));
        assert_eq!(send.await, Ok(()));
        assert_eq!(rx.try_recv(), Ok(3));
    })
    .await;
}

/// `FusedStream::is_terminated` (what `futures::select!` relies on to skip a finished stream):
/// false while items or senders are left, true once end-of-stream has been reached (found by
/// mutation testing: nothing checked it).
#[tokio::test(start_paused = true)]
async fn a_receiver_is_terminated_only_once_drained_and_ended() {
    use futures::stream::FusedStream;
    bounded(async {
        let (tx, mut rx) = memory_stream::<u32>(2);
        assert!(!rx.is_terminated());
        tx.try_send(1).unwrap();
        drop(tx);
        assert!(!rx.is_terminated(), "an item is left");
        assert_eq!(rx.next().await, Some(1));
        assert!(rx.is_terminated());
        assert_eq!(rx.next().await, None);
        assert!(rx.is_terminated());

        // A `next()` left waiting, then the stream ends: terminated once that place is given up.
        let (tx, mut rx) = memory_stream::<u32>(0);
        assert!(futures::poll!(rx.next()).is_pending());
        assert!(!rx.is_terminated(), "waiting");
        drop(tx);
        assert_eq!(rx.next().await, None);
        assert!(rx.is_terminated());
    })
    .await;
}

/// `Sink::poll_close` closes the send end at once, while the sink is still alive (found by
/// mutation testing: the test above drops the sink right after closing it, which closes it too).
/// Dropping a sink gives back room it reserved in `poll_ready` and unused, and the place of a
/// `poll_ready` still waiting (found by mutation testing: `Drop for MemorySink` could be deleted).
#[tokio::test(start_paused = true)]
async fn a_sink_closes_on_close_and_gives_back_what_it_holds_when_dropped() {
    use futures::Sink;
    use futures::future::poll_fn;
    use std::pin::Pin;
    bounded(async {
        let (tx, rx) = memory_stream::<u32>(2);
        let mut sink = tx.into_sink();
        sink.send(1).await.unwrap();
        sink.close().await.unwrap();
        assert!(sink.get_ref().is_closed());
        assert_eq!(rx.recv().await, Ok(1));
        assert_eq!(rx.recv().await, Err(RecvError::EndOfStream)); // the sink is still alive
        drop(sink);

        // Room reserved by `poll_ready` and never used comes back when the sink is dropped.
        let (tx, rx) = memory_stream::<u32>(1);
        let mut sink = tx.clone().into_sink();
        assert!(matches!(
            poll_fn(|cx| Pin::new(&mut sink).poll_ready(cx)).await,
            Ok(())
        ));
        assert!(tx.try_send(1).unwrap_err().is_would_block()); // the sink holds the room
        drop(sink);
        tx.try_send(1).unwrap();

        // A `poll_ready` still waiting gives its place up when the sink is dropped.
        let mut sink = tx.clone().into_sink();
        assert!(futures::poll!(poll_fn(|cx| Pin::new(&mut sink).poll_ready(cx))).is_pending());
        let mut next = pin!(tx.reserve());
        assert!(futures::poll!(next.as_mut()).is_pending());
        drop(sink);
        assert_eq!(rx.try_recv(), Ok(1));
        let Poll::Ready(Ok(permit)) = futures::poll!(next.as_mut()) else {
            panic!("the room went to the next waiter")
        };
        permit.send(2).unwrap();
        assert_eq!(rx.try_recv(), Ok(2));
        assert_eq!(rx.statistics().tasks_waiting_send, 0);
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn receiver_bound_to_a_task_refuses_other_tasks() {
    bounded(async {
        let (tx, rx) = memory_stream::<u32>(2);
        let rx = rx.bind_to_current_task();
        tx.send(1).await.unwrap();
        assert_eq!(rx.recv().await, Ok(1)); // the binding task may use it
        let here = tether::TaskId::current();
        let (rx, err) = tokio::spawn(async move {
            let err = rx.recv().await.unwrap_err();
            (rx, err)
        })
        .await
        .unwrap();
        let RecvError::WrongTask(err) = err else {
            panic!("expected WrongTask, got {err:?}")
        };
        assert_eq!(err.resource(), "memory stream receive end");
        assert_eq!(err.owner(), here);
        assert_ne!(err.current(), here);
        assert!(
            err.to_string()
                .starts_with("memory stream receive end bound in"),
            "{err}"
        );
        assert_eq!(rx.statistics().tasks_waiting_receive, 0);
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn abandoned_next_does_not_park_an_item() {
    bounded(async {
        let (tx, mut rx) = memory_stream::<u32>(1);
        assert!(futures::poll!(rx.next()).is_pending()); // abandoned; this end keeps its place
        tx.send(1).await.unwrap(); // handed to that place
        assert_eq!(rx.recv().await, Ok(1)); // recv gives the place up and gets the item
        tx.send(2).await.unwrap();
        assert_eq!(rx.next().await, Some(2));
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn errors_are_lowercase_without_final_period_and_debug_needs_no_debug_item() {
    struct Opaque;
    let (tx, rx) = memory_stream::<Opaque>(0);
    drop(rx);
    let err = tx.try_send(Opaque).unwrap_err();
    let text = format!("{err} {err:?}");
    assert!(!text.ends_with('.'));
    // A misuse names the fix; a normal ending or a would-block says what happened, neutrally.
    let misuses = [
        SendError::Closed(()).to_string(),
        RecvError::Closed.to_string(),
    ];
    let normal = [
        SendError::BrokenResource(()).to_string(),
        TrySendError::WouldBlock(()).to_string(),
        RecvError::EndOfStream.to_string(),
        TryRecvError::WouldBlock.to_string(),
    ];
    for msg in misuses.iter().chain(&normal) {
        assert!(msg.chars().next().unwrap().is_lowercase(), "{msg}");
        assert!(!msg.ends_with('.'), "{msg}");
    }
    for msg in &misuses {
        assert!(msg.contains(';'), "a misuse names the fix: {msg}");
    }
    assert_eq!(
        RecvError::EndOfStream.to_string(),
        "receiving from an empty and closed memory stream"
    );
}

#[test]
fn handles_and_futures_are_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<tether::MemorySender<u32>>();
    send_sync::<tether::MemoryReceiver<u32>>();
    send_sync::<tether::SendFuture<'static, u32>>();
    send_sync::<tether::RecvFuture<'static, u32>>();
    send_sync::<tether::ReserveFuture<'static, u32>>();
    send_sync::<tether::Permit<'static, u32>>();
    send_sync::<tether::MemorySink<u32>>();
    send_sync::<SendError<u32>>();
    send_sync::<RecvError>();
}

// ---- bound to the owning task group ------------------------------------------------------

/// The AnyIO hang: a producer's task group exits without closing its send end while a consumer
/// outside the group waits. Bound to the group, the consumer drains what was sent and then gets
/// a typed error naming the task that hosted the group, promptly.
#[tokio::test(start_paused = true)]
async fn owner_group_exit_wakes_a_consumer_outside_it() {
    bounded(async {
        let (rx_tx, rx_rx) = tokio::sync::oneshot::channel();
        let (go_tx, go_rx) = tokio::sync::oneshot::channel::<()>();
        // The group runs in its own task, so its host is a named tokio task.
        let producer = tokio::spawn(async move {
            let host = tether::TaskId::current();
            let keep_open = tether::task_group(async |tg| {
                let (tx, rx) = tether::memory_stream_in::<u32>(&tg.handle(), 4);
                rx_tx.send(rx).unwrap();
                let child = tx.clone();
                tg.spawn(async move {
                    child.send(1).await.unwrap();
                    child.send(2).await.unwrap();
                });
                go_rx.await.unwrap(); // wait until the consumer is blocked... then exit
                Ok::<_, std::convert::Infallible>(tx) // a send end escapes, never closed
            })
            .await
            .unwrap();
            (host, keep_open)
        });
        let rx = rx_rx.await.unwrap();
        let consumer = tokio::spawn(async move {
            let mut got = Vec::new();
            let err = loop {
                match rx.recv().await {
                    Ok(x) => got.push(x),
                    Err(e) => break e,
                }
            };
            (got, err)
        });
        tokio::task::yield_now().await;
        tokio::task::yield_now().await;
        assert!(!consumer.is_finished(), "the consumer should be waiting");
        go_tx.send(()).unwrap();
        let (host, keep_open) = producer.await.unwrap();
        // The send end is still open, yet the consumer does not hang.
        let (got, err) = consumer.await.unwrap();
        assert_eq!(got, [1, 2], "buffered items are drained first");
        assert_eq!(err, RecvError::OwnerEnded { owner: host });
        let text = err.to_string();
        assert!(
            text.contains("task group that owned this memory stream ended"),
            "{text}"
        );
        assert!(
            text.contains(&host.to_string()),
            "names the group's task: {text}"
        );
        assert!(host.to_string().starts_with("task "), "{host}");
        // Senders get the matching error, with their item back.
        let send_err = keep_open.send(3).await.unwrap_err();
        assert_eq!(send_err.owner_ended(), Some(host));
        assert!(send_err.to_string().contains(&host.to_string()));
        assert_eq!(send_err.into_inner(), 3);
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn failed_group_closes_its_stream_and_wakes_blocked_senders() {
    bounded(async {
        let (tx, rx) = memory_stream::<u32>(1);
        let outside = tx.clone();
        tx.try_send(0).unwrap(); // full
        let blocked = tokio::spawn(async move { outside.send(1).await });
        let result = tether::task_group(async |tg| {
            tx.bind_to_group(&tg.handle());
            tg.spawn(async { Err::<(), _>("the reader failed") });
            std::future::pending::<()>().await; // cancelled by the child's failure
        })
        .await;
        assert!(result.is_err());
        match blocked.await.unwrap() {
            Err(SendError::OwnerEnded { item: 1, .. }) => {}
            other => panic!("expected OwnerEnded with the item back, got {other:?}"),
        }
        assert_eq!(rx.recv().await, Ok(0)); // drained first
        assert!(matches!(rx.recv().await, Err(RecvError::OwnerEnded { .. })));
        assert!(matches!(
            rx.try_recv(),
            Err(TryRecvError::Recv(RecvError::OwnerEnded { .. }))
        ));
        assert!(matches!(
            tx.try_send(2),
            Err(TrySendError::Send(SendError::OwnerEnded { item: 2, .. }))
        ));
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn dropped_or_closed_owned_group_closes_its_stream() {
    bounded(async {
        let group = tether::OwnedTaskGroup::open();
        let (tx, rx) = tether::unbounded_memory_stream_in::<u32>(&group.handle());
        let waiting = tokio::spawn(async move { rx.recv().await });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        drop(group);
        assert_eq!(
            waiting.await.unwrap(),
            Err(RecvError::OwnerEnded {
                owner: tether::TaskId::current()
            })
        );
        drop(tx);

        let mut group = tether::OwnedTaskGroup::open();
        let (tx, rx) = memory_stream::<u32>(0);
        rx.bind_to_group(&group.handle());
        group.close().await.unwrap();
        assert!(matches!(rx.recv().await, Err(RecvError::OwnerEnded { .. })));
        assert!(tx.send(1).await.unwrap_err().owner_ended().is_some());

        // Binding to a group that already ended closes the stream at once.
        let (tx, rx) = memory_stream::<u32>(1);
        tx.bind_to_group(&group.handle());
        assert!(matches!(
            rx.try_recv(),
            Err(TryRecvError::Recv(RecvError::OwnerEnded { .. }))
        ));
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn a_stream_that_ended_normally_keeps_end_of_stream_after_its_group_ends() {
    bounded(async {
        let mut group = tether::OwnedTaskGroup::open();
        let (tx, rx) = tether::memory_stream_in::<u32>(&group.handle(), 1);
        tx.send(1).await.unwrap();
        drop(tx);
        group.close().await.unwrap();
        assert_eq!(rx.recv().await, Ok(1));
        assert_eq!(rx.recv().await, Err(RecvError::EndOfStream));
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn a_bound_stream_works_normally_while_its_group_lives() {
    bounded(async {
        let got = tether::task_group(async |tg| {
            let (tx, rx) = tether::memory_stream_in::<u32>(&tg.handle(), 0);
            tg.spawn(async move {
                for i in 0..3 {
                    tx.send(i).await.unwrap();
                }
            });
            Ok::<_, std::convert::Infallible>(rx.collect::<Vec<_>>().await)
        })
        .await
        .unwrap();
        assert_eq!(got, [0, 1, 2]);
    })
    .await;
}

/// Many producers and consumers on two worker threads, with sends and receives cut off by
/// `select!` at random: every item whose send reported success arrives exactly once, and
/// nothing else arrives except, at most once, the item of a send that `select!` dropped while
/// it waited. That send happened if a receiver on the other thread took its item in the instant
/// between its queueing and its drop (a receive completes a blocked send, issue 8 bug 10; the
/// losing branch of a `select!` is dropped without learning it). A send dropped before its item
/// was taken never delivers it; `reserve` + `Permit` is the form that always knows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn threaded_mpmc_with_cancellations_delivers_exactly_once() {
    for capacity in [Some(0), Some(1), Some(16), None] {
        let (tx, rx) = match capacity {
            Some(c) => memory_stream::<u64>(c),
            None => unbounded_memory_stream::<u64>(),
        };
        let mut producers = Vec::new();
        for p in 0..4u64 {
            let tx = tx.clone();
            producers.push(tokio::spawn(async move {
                let (mut sent, mut dropped) = (Vec::new(), Vec::new());
                for i in 0..2_000u64 {
                    let item = p * 1_000_000 + i;
                    if i % 7 == 3 {
                        // Cut off at once if it has to wait: then it did not happen, unless a
                        // receiver took its item before the drop.
                        tokio::select! {
                            biased;
                            r = tx.send(item) => { r.unwrap(); sent.push(item); }
                            _ = std::future::ready(()) => dropped.push(item),
                        }
                    } else if i % 11 == 5 {
                        let permit = tx.reserve().await.unwrap();
                        permit.send(item).unwrap();
                        sent.push(item);
                    } else {
                        tx.send(item).await.unwrap();
                        sent.push(item);
                    }
                }
                (sent, dropped)
            }));
        }
        drop(tx);
        let mut consumers = Vec::new();
        for c in 0..4u64 {
            let rx = rx.clone();
            consumers.push(tokio::spawn(async move {
                let mut got = Vec::new();
                let mut n = 0u64;
                loop {
                    n += 1;
                    if (n + c).is_multiple_of(5) {
                        // A receive cut off right away consumes nothing.
                        tokio::select! {
                            biased;
                            _ = std::future::ready(()) => continue,
                            r = rx.recv() => match r { Ok(x) => got.push(x), Err(_) => break },
                        }
                    }
                    match rx.recv().await {
                        Ok(x) => got.push(x),
                        Err(e) => {
                            assert_eq!(e, RecvError::EndOfStream);
                            break;
                        }
                    }
                }
                got
            }));
        }
        drop(rx);
        let run = async {
            let (mut sent, mut dropped) = (Vec::new(), Vec::new());
            for p in producers {
                let (s, d) = p.await.unwrap();
                sent.extend(s);
                dropped.extend(d);
            }
            let mut got = Vec::new();
            for c in consumers {
                got.extend(c.await.unwrap());
            }
            (sent, dropped, got)
        };
        let (sent, dropped, got) = tokio::time::timeout(Duration::from_secs(60), run)
            .await
            .unwrap_or_else(|_| panic!("hung with capacity {capacity:?}"));
        assert!(sent.len() > 4 * 1_500, "most sends went through");
        let got_set: std::collections::HashSet<u64> = got.iter().copied().collect();
        assert_eq!(
            got_set.len(),
            got.len(),
            "an item arrived twice ({capacity:?})"
        );
        for item in &sent {
            assert!(
                got_set.contains(item),
                "sent item {item} lost ({capacity:?})"
            );
        }
        let dropped: std::collections::HashSet<u64> = dropped.into_iter().collect();
        let sent: std::collections::HashSet<u64> = sent.into_iter().collect();
        for item in &got {
            assert!(
                sent.contains(item) || dropped.contains(item),
                "item {item} arrived but was never sent ({capacity:?})"
            );
        }
    }
}

// ---- property test: random interleavings lose and duplicate nothing -----------------------

mod interleavings {
    use super::*;
    use proptest::prelude::*;
    use proptest::sample::Index;
    use std::collections::HashMap;
    use std::pin::Pin;
    use std::task::Context;
    use tether::{Permit, RecvFuture, ReserveFuture, SendFuture};

    #[derive(Debug, Clone)]
    enum Op {
        StartSend(usize),
        PollSend(Index),
        CancelSend(Index),
        TrySend(usize),
        StartRecv(usize),
        PollRecv(Index),
        CancelRecv(Index),
        TryRecv(usize),
        StartReserve(usize),
        PollReserve(Index),
        CancelReserve(Index),
        UsePermit(Index),
        DropPermit(Index),
        CloseSender(usize),
        CloseReceiver(usize),
    }

    fn op() -> impl Strategy<Value = Op> {
        let h = 0..2usize;
        prop_oneof![
            4 => h.clone().prop_map(Op::StartSend),
            4 => any::<Index>().prop_map(Op::PollSend),
            2 => any::<Index>().prop_map(Op::CancelSend),
            2 => h.clone().prop_map(Op::TrySend),
            4 => h.clone().prop_map(Op::StartRecv),
            4 => any::<Index>().prop_map(Op::PollRecv),
            2 => any::<Index>().prop_map(Op::CancelRecv),
            2 => h.clone().prop_map(Op::TryRecv),
            2 => h.clone().prop_map(Op::StartReserve),
            2 => any::<Index>().prop_map(Op::PollReserve),
            2 => any::<Index>().prop_map(Op::CancelReserve),
            2 => any::<Index>().prop_map(Op::UsePermit),
            2 => any::<Index>().prop_map(Op::DropPermit),
            1 => h.clone().prop_map(Op::CloseSender),
            1 => h.prop_map(Op::CloseReceiver),
        ]
    }

    /// What happened to an item, as its sender saw it.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Fate {
        /// Its send is still pending (its item waits in the stream, where a receive may take
        /// it: that completes the send).
        Pending,
        /// The stream accepted it (its send returned `Ok`, or a receive took it from the
        /// waiting send): it must be received exactly once (unless every receiver closed, which
        /// discards the buffer).
        Accepted,
        /// It came back to the sender in an error.
        HandedBack,
        /// Its send was cancelled before it was accepted: it was dropped with the future.
        Cancelled,
    }

    struct Model {
        log: Arc<Mutex<Vec<u32>>>,
        fate: HashMap<u32, Fate>,
        received: Vec<u32>,
        next: u32,
        receivers_gone: bool,
    }

    impl Model {
        fn item(&mut self) -> Tracked {
            self.next += 1;
            self.fate.insert(self.next, Fate::Pending);
            tracked(self.next, &self.log)
        }

        fn dropped(&self, id: u32) -> bool {
            self.log.lock().unwrap().contains(&id)
        }

        fn receive(&mut self, item: Tracked) {
            assert!(
                !self.received.contains(&item.id),
                "item {} duplicated",
                item.id
            );
            let fate = self.fate[&item.id];
            assert!(
                matches!(fate, Fate::Accepted | Fate::Pending),
                "item {} received after {fate:?}",
                item.id
            );
            // Taken from a waiting send: that send has happened.
            self.fate.insert(item.id, Fate::Accepted);
            self.received.push(item.id);
        }

        fn send_result(&mut self, id: u32, result: Result<(), SendError<Tracked>>) {
            match result {
                Ok(()) => self.fate.insert(id, Fate::Accepted),
                Err(e) => {
                    assert!(
                        !self.received.contains(&id),
                        "the send of {id} failed although a receiver got its item"
                    );
                    assert_eq!(e.into_inner().id, id, "the error hands back the same item");
                    self.fate.insert(id, Fate::HandedBack)
                }
            };
        }
    }

    fn pick<T>(v: &[T], i: &Index) -> Option<usize> {
        (!v.is_empty()).then(|| i.index(v.len()))
    }

    fn run(capacity: Option<usize>, ops: Vec<Op>) {
        let waker = futures::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        let mut m = Model {
            log: Arc::new(Mutex::new(Vec::new())),
            fate: HashMap::new(),
            received: Vec::new(),
            next: 0,
            receivers_gone: false,
        };
        let (tx, rx) = match capacity {
            Some(c) => memory_stream::<Tracked>(c),
            None => unbounded_memory_stream::<Tracked>(),
        };
        let senders = [tx.clone(), tx];
        let receivers = [rx.clone(), rx];
        type Fut<'a, F> = Pin<Box<F>>;
        let mut sends: Vec<(u32, Fut<'_, SendFuture<'_, Tracked>>)> = Vec::new();
        let mut recvs: Vec<Fut<'_, RecvFuture<'_, Tracked>>> = Vec::new();
        let mut reserves: Vec<(usize, Fut<'_, ReserveFuture<'_, Tracked>>)> = Vec::new();
        let mut permits: Vec<(usize, Permit<'_, Tracked>)> = Vec::new();

        for op in ops {
            match op {
                Op::StartSend(h) => {
                    let item = m.item();
                    let id = item.id;
                    let mut f = Box::pin(senders[h].send(item));
                    match f.as_mut().poll(&mut cx) {
                        Poll::Ready(r) => m.send_result(id, r),
                        Poll::Pending => sends.push((id, f)),
                    }
                }
                Op::PollSend(i) => {
                    if let Some(i) = pick(&sends, &i)
                        && let Poll::Ready(r) = sends[i].1.as_mut().poll(&mut cx)
                    {
                        let (id, _) = sends.swap_remove(i);
                        m.send_result(id, r);
                    }
                }
                Op::CancelSend(i) => {
                    if let Some(i) = pick(&sends, &i) {
                        let (id, f) = sends.swap_remove(i);
                        drop(f);
                        // Unless a receive already took its item (then the send happened, and
                        // the item is received or in the buffer), the send did not happen: its
                        // item went with the future.
                        if m.dropped(id) {
                            if !m.received.contains(&id) {
                                m.fate.insert(id, Fate::Cancelled);
                            }
                        } else {
                            m.fate.insert(id, Fate::Accepted);
                        }
                    }
                }
                Op::TrySend(h) => {
                    let item = m.item();
                    let id = item.id;
                    match senders[h].try_send(item) {
                        Ok(()) => {
                            m.fate.insert(id, Fate::Accepted);
                        }
                        Err(e) => {
                            assert_eq!(e.into_inner().id, id);
                            m.fate.insert(id, Fate::HandedBack);
                        }
                    }
                }
                Op::StartRecv(h) => {
                    let mut f = Box::pin(receivers[h].recv());
                    match f.as_mut().poll(&mut cx) {
                        Poll::Ready(Ok(item)) => m.receive(item),
                        Poll::Ready(Err(_)) => {}
                        Poll::Pending => recvs.push(f),
                    }
                }
                Op::PollRecv(i) => {
                    if let Some(i) = pick(&recvs, &i)
                        && let Poll::Ready(r) = recvs[i].as_mut().poll(&mut cx)
                    {
                        drop(recvs.swap_remove(i));
                        if let Ok(item) = r {
                            m.receive(item);
                        }
                    }
                }
                Op::CancelRecv(i) => {
                    if let Some(i) = pick(&recvs, &i) {
                        drop(recvs.swap_remove(i));
                    }
                }
                Op::TryRecv(h) => {
                    if let Ok(item) = receivers[h].try_recv() {
                        m.receive(item);
                    }
                }
                Op::StartReserve(h) => reserves.push((h, Box::pin(senders[h].reserve()))),
                Op::PollReserve(i) => {
                    if let Some(i) = pick(&reserves, &i)
                        && let Poll::Ready(r) = reserves[i].1.as_mut().poll(&mut cx)
                    {
                        let (h, _) = reserves.swap_remove(i);
                        if let Ok(p) = r {
                            permits.push((h, p));
                        }
                    }
                }
                Op::CancelReserve(i) => {
                    if let Some(i) = pick(&reserves, &i) {
                        drop(reserves.swap_remove(i));
                    }
                }
                Op::UsePermit(i) => {
                    if let Some(i) = pick(&permits, &i) {
                        let (_, p) = permits.swap_remove(i);
                        let item = m.item();
                        let id = item.id;
                        m.send_result(id, p.send(item));
                    }
                }
                Op::DropPermit(i) => {
                    if let Some(i) = pick(&permits, &i) {
                        drop(permits.swap_remove(i));
                    }
                }
                Op::CloseSender(h) => senders[h].close(),
                Op::CloseReceiver(h) => {
                    receivers[h].close();
                    m.receivers_gone = receivers.iter().all(|r| r.is_closed());
                }
            }
            // Never does a receiver wait while an item waits in the buffer.
            let st = receivers[0].statistics();
            assert!(
                st.tasks_waiting_receive == 0 || st.current_buffer_used == 0,
                "a receiver waits beside a buffered item: {st:?}"
            );
        }

        // If the stream is still open both ways, cancel everything pending and check that no
        // room leaked: the whole capacity must be usable again.
        let tx_open = senders.iter().position(|s| !s.is_closed());
        let rx_open = receivers.iter().position(|r| !r.is_closed());
        if let (Some(t), Some(r), false) = (tx_open, rx_open, m.receivers_gone) {
            drop(reserves.drain(..));
            drop(permits.drain(..));
            for (id, f) in sends.drain(..) {
                drop(f);
                // Dropped unsent (its item with it), or a receive had taken its item into the
                // buffer (then the send happened, and the drain below must receive it).
                if m.dropped(id) {
                    if !m.received.contains(&id) {
                        m.fate.insert(id, Fate::Cancelled);
                    }
                } else {
                    m.fate.insert(id, Fate::Accepted);
                }
            }
            drop(recvs.drain(..));
            while let Ok(item) = receivers[r].try_recv() {
                m.receive(item);
            }
            let stats = receivers[r].statistics();
            assert_eq!(
                (stats.tasks_waiting_send, stats.tasks_waiting_receive),
                (0, 0)
            );
            match capacity {
                Some(0) => {
                    let mut f = Box::pin(receivers[r].recv());
                    assert!(f.as_mut().poll(&mut cx).is_pending());
                    let item = m.item();
                    let id = item.id;
                    assert!(
                        senders[t].try_send(item).is_ok(),
                        "a waiting receiver takes it"
                    );
                    m.fate.insert(id, Fate::Accepted);
                    let Poll::Ready(Ok(item)) = f.as_mut().poll(&mut cx) else {
                        panic!("the handed item must arrive")
                    };
                    m.receive(item);
                }
                Some(n) => {
                    for _ in 0..n {
                        let item = m.item();
                        let id = item.id;
                        assert!(senders[t].try_send(item).is_ok(), "room leaked");
                        m.fate.insert(id, Fate::Accepted);
                    }
                    let item = m.item();
                    let id = item.id;
                    assert!(senders[t].try_send(item).unwrap_err().is_would_block());
                    m.fate.insert(id, Fate::HandedBack);
                }
                None => {}
            }
        }

        // Wind down: resolve pending sends and permits, end the stream, drain it.
        drop(reserves);
        for (_, p) in permits.drain(..) {
            let item = m.item();
            let id = item.id;
            m.send_result(id, p.send(item));
        }
        for s in &senders {
            s.close();
        }
        for (id, mut f) in sends.drain(..) {
            let Poll::Ready(r) = f.as_mut().poll(&mut cx) else {
                panic!("a send on a closed handle must finish")
            };
            m.send_result(id, r);
        }
        for mut f in recvs.drain(..) {
            let Poll::Ready(r) = f.as_mut().poll(&mut cx) else {
                panic!("a receive must finish once every sender is closed")
            };
            if let Ok(item) = r {
                m.receive(item);
            }
        }
        let open_receiver = receivers.iter().find(|r| !r.is_closed()).is_some();
        if let Some(rx) = receivers.iter().find(|r| !r.is_closed()) {
            loop {
                match rx.try_recv() {
                    Ok(item) => m.receive(item),
                    Err(e) => {
                        assert_eq!(e, TryRecvError::Recv(RecvError::EndOfStream));
                        break;
                    }
                }
            }
            let stats = rx.statistics();
            assert_eq!(stats.current_buffer_used, 0);
            assert_eq!(
                (stats.tasks_waiting_send, stats.tasks_waiting_receive),
                (0, 0)
            );
        }

        // Every item met exactly one fate, and accepted ones were received exactly once.
        for (&id, &fate) in &m.fate {
            let got = m.received.iter().filter(|&&r| r == id).count();
            match fate {
                Fate::Pending => panic!("item {id} never resolved"),
                Fate::Accepted if open_receiver => {
                    assert_eq!(got, 1, "accepted item {id} lost")
                }
                Fate::Accepted => assert!(got <= 1),
                Fate::HandedBack | Fate::Cancelled => {
                    assert_eq!(got, 0, "item {id} ({fate:?}) was also received")
                }
            }
        }
        drop((sends, recvs, permits));
        drop((senders, receivers));
        let mut dropped = m.log.lock().unwrap().clone();
        dropped.sort_unstable();
        assert_eq!(
            dropped,
            (1..=m.next).collect::<Vec<_>>(),
            "every item is dropped exactly once"
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: std::env::var("STREAM_PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256), ..ProptestConfig::default() })]

        #[test]
        fn nothing_lost_or_duplicated(
            capacity in prop_oneof![Just(Some(0)), Just(Some(1)), Just(Some(2)), Just(None)],
            ops in proptest::collection::vec(op(), 0..80),
        ) {
            run(capacity, ops);
        }
    }
}

#[tokio::test]
async fn operations_are_cancellation_points_even_when_ready_and_lose_nothing() {
    let (tx, rx) = tether::memory_stream::<u32>(4);
    tx.try_send(1).unwrap();
    let scope = tether::CancelScope::new();
    let handle = scope.clone();
    let (tx2, rx2) = (tx.clone(), rx.clone());
    let result = scope
        .run(async move {
            handle.cancel();
            // An item is buffered and there is room, yet both are cut off here.
            let _ = rx2.recv().await;
            let _ = tx2.send(2).await;
            unreachable!("a cancelled scope never completes a stream operation");
        })
        .await;
    assert!(result.is_err());
    // Nothing was taken, nothing was sent.
    assert_eq!(rx.try_recv().unwrap(), 1);
    assert!(matches!(
        rx.try_recv(),
        Err(tether::TryRecvError::WouldBlock)
    ));
}

/// Issue 8, bug 10: a full bounded stream with blocked senders (capacity 1, one item
/// buffered, three senders blocked). The second `try_recv` used to be `WouldBlock`: taking the
/// buffered item only *granted* its room to the oldest sender, whose item stayed in its future
/// until its task ran, and `statistics()` counted that item nowhere. Now, as AnyIO's
/// `receive_nowait` does, a receive moves the oldest blocked send's item into the room it frees,
/// which completes that send: a non-blocking loop drains everything, and every item is counted
/// at every step (in the buffer, or in a sender still waiting).
#[tokio::test(start_paused = true)]
async fn a_non_blocking_loop_drains_a_full_stream_with_blocked_senders() {
    bounded(async {
        let (tx, rx) = memory_stream::<u32>(1);
        tx.try_send(0).unwrap();
        let mut blocked: Vec<_> = (1..=3).map(|i| Box::pin(tx.send(i))).collect();
        for send in &mut blocked {
            assert!(futures::poll!(send.as_mut()).is_pending());
        }
        let st = rx.statistics();
        assert_eq!((st.current_buffer_used, st.tasks_waiting_send), (1, 3));
        // The drain loop: no await between the receives.
        for (n, want) in (0..=3).enumerate() {
            assert_eq!(rx.try_recv(), Ok(want));
            let st = rx.statistics();
            let left = 3 - n; // items not received yet
            assert_eq!(
                st.current_buffer_used + st.tasks_waiting_send,
                left,
                "every item not yet received is counted, after receiving {want}: {st:?}"
            );
            assert_eq!(st.current_buffer_used, usize::from(left > 0));
        }
        assert_eq!(rx.try_recv(), Err(TryRecvError::WouldBlock));
        // Each send completed when its item was taken: its future is ready, and the stream
        // is empty with nobody waiting.
        for send in &mut blocked {
            assert_eq!(futures::poll!(send.as_mut()), Poll::Ready(Ok(())));
        }
        let st = rx.statistics();
        assert_eq!((st.current_buffer_used, st.tasks_waiting_send), (0, 0));
        // The stream works as before afterwards: the room is free.
        tx.try_send(4).unwrap();
        assert!(tx.try_send(5).unwrap_err().is_would_block());
        assert_eq!(rx.try_recv(), Ok(4));
    })
    .await;

    // Across tasks: the senders' tasks do not have to run between the receives.
    bounded(async {
        let (tx, rx) = memory_stream::<u32>(1);
        tx.try_send(0).unwrap();
        let senders: Vec<_> = (1..=3)
            .map(|i| {
                let tx = tx.clone();
                tokio::spawn(async move { tx.send(i).await })
            })
            .collect();
        while rx.statistics().tasks_waiting_send < 3 {
            tokio::task::yield_now().await;
        }
        let mut got = Vec::new();
        while let Ok(item) = rx.try_recv() {
            got.push(item);
        }
        assert_eq!(got, [0, 1, 2, 3]);
        for sender in senders {
            assert_eq!(sender.await.unwrap(), Ok(()));
        }
    })
    .await;

    // Rendezvous: `try_recv` takes a blocked sender's item directly, oldest first.
    bounded(async {
        let (tx, rx) = memory_stream::<u32>(0);
        let mut blocked: Vec<_> = (1..=2).map(|i| Box::pin(tx.send(i))).collect();
        for send in &mut blocked {
            assert!(futures::poll!(send.as_mut()).is_pending());
        }
        assert_eq!(rx.try_recv(), Ok(1));
        assert_eq!(rx.statistics().tasks_waiting_send, 1);
        assert_eq!(rx.try_recv(), Ok(2));
        assert_eq!(rx.try_recv(), Err(TryRecvError::WouldBlock));
        for send in &mut blocked {
            assert_eq!(futures::poll!(send.as_mut()), Poll::Ready(Ok(())));
        }
    })
    .await;
}

/// Bug 10's fix keeps "a cancelled send never happens": a send whose future is dropped before a
/// receive took its item is never delivered (its item is dropped with it, and the drain skips
/// it), on a bounded and a rendezvous stream.
#[tokio::test(start_paused = true)]
async fn a_send_dropped_before_a_receive_took_its_item_is_never_delivered() {
    bounded(async {
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = memory_stream::<Tracked>(1);
        tx.try_send(tracked(0, &log)).unwrap();
        let mut blocked: Vec<_> = (1..=3)
            .map(|i| Box::pin(tx.send(tracked(i, &log))))
            .collect();
        for send in &mut blocked {
            assert!(futures::poll!(send.as_mut()).is_pending());
        }
        drop(blocked.remove(1)); // the send of 2, still waiting
        assert_eq!(*log.lock().unwrap(), [2], "dropped with its future, unsent");
        assert_eq!(rx.statistics().tasks_waiting_send, 2);
        let mut got = Vec::new();
        while let Ok(item) = rx.try_recv() {
            got.push(item.id);
        }
        assert_eq!(got, [0, 1, 3]);
        for send in &mut blocked {
            assert!(matches!(futures::poll!(send.as_mut()), Poll::Ready(Ok(()))));
        }

        // Rendezvous: a dropped waiting send leaves nothing to take.
        let (tx, rx) = memory_stream::<Tracked>(0);
        let mut send = Box::pin(tx.send(tracked(10, &log)));
        assert!(futures::poll!(send.as_mut()).is_pending());
        drop(send);
        assert!(log.lock().unwrap().contains(&10));
        assert_eq!(rx.try_recv().unwrap_err(), TryRecvError::WouldBlock);
        assert_eq!(rx.statistics().tasks_waiting_send, 0);
    })
    .await;
}

/// A waiting send polled inside a cancelled scope takes its item back out of the stream at
/// once, even while the scope cannot drop it yet (a shielded sibling holds it): from then on no
/// receive can complete it, and it is dropped unsent with the body. A send whose item a receive
/// took before the cancellation reached it has happened, and says so (Trio's rule: the hand-off
/// wins over a later cancel; the next cancellation point stops the body).
#[tokio::test(start_paused = true)]
async fn a_send_cancelled_by_its_scope_is_withdrawn_before_the_scope_drops_it() {
    bounded(async {
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = memory_stream::<Tracked>(1);
        tx.try_send(tracked(0, &log)).unwrap();
        let scope = tether::CancelScope::new();
        let gate = tether::Event::new();
        let mut run = pin!(scope.run(async {
            futures::join!(
                tx.send(tracked(1, &log)),
                tether::shield(gate.wait()), // holds the cancelled scope
            )
        }));
        assert!(futures::poll!(run.as_mut()).is_pending());
        assert_eq!(rx.statistics().tasks_waiting_send, 1);
        scope.cancel();
        assert!(futures::poll!(run.as_mut()).is_pending()); // held by the shield
        assert_eq!(rx.statistics().tasks_waiting_send, 0, "withdrawn");
        assert_eq!(rx.try_recv().unwrap().id, 0);
        assert_eq!(rx.try_recv().unwrap_err(), TryRecvError::WouldBlock);
        assert!(log.lock().unwrap().contains(&0));
        assert!(
            !log.lock().unwrap().contains(&1),
            "still in the send's future"
        );
        gate.set();
        assert!(run.await.is_err());
        assert!(
            log.lock().unwrap().contains(&1),
            "dropped unsent with the body"
        );
        assert_eq!(rx.try_recv().unwrap_err(), TryRecvError::WouldBlock);

        // Taken first, cancelled after: the send completed; polled again (the shield keeps the
        // body alive), it says so.
        let (tx, rx) = memory_stream::<u32>(1);
        tx.try_send(0).unwrap();
        let scope = tether::CancelScope::new();
        let gate = tether::Event::new();
        let sent = Mutex::new(None);
        let mut run = pin!(scope.run(async {
            futures::join!(
                async { *sent.lock().unwrap() = Some(tx.send(1).await) },
                tether::shield(gate.wait()),
            )
        }));
        assert!(futures::poll!(run.as_mut()).is_pending());
        assert_eq!(rx.try_recv(), Ok(0)); // moves 1 into the room: the send happened
        scope.cancel();
        assert!(futures::poll!(run.as_mut()).is_pending()); // held by the shield
        assert_eq!(*sent.lock().unwrap(), Some(Ok(())));
        gate.set();
        // Both branches finished without reaching another cancellation point: the body
        // completed (as in Trio, a cancelled scope whose body ends on its own returns normally).
        assert!(run.await.is_ok());
        assert_eq!(rx.try_recv(), Ok(1));

        // Taken first, and the scope drops the body without polling it again: the item was
        // delivered all the same (the send happened before the cancellation).
        let (tx, rx) = memory_stream::<u32>(1);
        tx.try_send(0).unwrap();
        let scope = tether::CancelScope::new();
        let mut run = pin!(scope.run(tx.send(1)));
        assert!(futures::poll!(run.as_mut()).is_pending());
        assert_eq!(rx.try_recv(), Ok(0));
        scope.cancel();
        assert!(run.await.is_err());
        assert_eq!(rx.try_recv(), Ok(1));
        assert_eq!(rx.statistics().tasks_waiting_send, 0);
    })
    .await;
}

// ----- mutation survivors, session 3 ------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn a_newcomer_does_not_pass_a_queued_reservation_to_reach_a_waiting_receiver() {
    // The only room is held by a permit, a second `reserve` queues for room, and a receive waits
    // (there is no item anywhere). A newcomer must not go past the queued sender (FIFO), even
    // straight to the waiting receiver: its `try_send` would block. Once the permit is given
    // back, the queued reservation gets the room, and its item is the one received.
    let (tx, rx) = memory_stream::<u32>(1);
    let first = tx.reserve().await.unwrap();
    let mut queued = pin!(tx.reserve());
    assert!(futures::poll!(&mut queued).is_pending());
    let mut recv = pin!(rx.recv());
    assert!(futures::poll!(&mut recv).is_pending());
    assert!(tx.try_send(2).unwrap_err().is_would_block());
    drop(first);
    bounded(queued).await.unwrap().send(1).unwrap();
    assert_eq!(bounded(recv).await.unwrap(), 1);
    assert!(rx.try_recv().unwrap_err().is_would_block());
}

#[tokio::test(start_paused = true)]
async fn a_send_queued_when_the_last_sender_closes_fails_and_keeps_its_item() {
    // The stream is full and a send waits; then the send end closes. Receivers drain what was
    // buffered and get end-of-stream; the waiting send is not delivered after the close: it
    // fails and hands its item back.
    let (tx, rx) = memory_stream::<u32>(1);
    tx.try_send(1).unwrap();
    let mut send = pin!(tx.send(2));
    assert!(futures::poll!(&mut send).is_pending());
    tx.close();
    assert_eq!(rx.try_recv(), Ok(1));
    assert_eq!(
        rx.try_recv(),
        Err(TryRecvError::Recv(RecvError::EndOfStream))
    );
    let err = bounded(send).await.unwrap_err();
    assert!(err.is_closed(), "{err}");
    assert_eq!(err.into_inner(), 2);
}

#[tokio::test(start_paused = true)]
async fn on_a_rendezvous_stream_a_try_recv_does_not_pass_a_waiting_receiver() {
    // A receiver waits first; a permit claims it, and a send queues behind the permit. Another
    // receiver's `try_recv` must not take that send's item past the waiting one (FIFO among
    // receivers). Once the permit is spent on the first receiver, the queued item is taken.
    let (tx, rx) = memory_stream::<u32>(0);
    let rx2 = rx.clone();
    let mut first = pin!(rx.recv());
    assert!(futures::poll!(&mut first).is_pending());
    let permit = bounded(tx.reserve()).await.unwrap();
    let mut queued = pin!(tx.send(1));
    assert!(futures::poll!(&mut queued).is_pending());
    assert!(rx2.try_recv().unwrap_err().is_would_block());
    permit.send(0).unwrap();
    assert_eq!(bounded(first).await.unwrap(), 0);
    assert_eq!(rx2.try_recv(), Ok(1));
    bounded(queued).await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_send_that_takes_the_place_of_a_dropped_one_does_not_take_its_turn() {
    // Two sends wait on a full stream; the first is dropped (withdrawn) and a third send comes
    // and reuses its slot. Room is granted in arrival order among the sends still waiting: the
    // second, then the third.
    let (tx, rx) = memory_stream::<u32>(1);
    tx.try_send(0).unwrap();
    let mut first = Box::pin(tx.send(1));
    assert!(futures::poll!(&mut first).is_pending());
    let mut second = pin!(tx.send(2));
    assert!(futures::poll!(&mut second).is_pending());
    drop(first);
    let mut third = pin!(tx.send(3));
    assert!(futures::poll!(&mut third).is_pending());
    let received: Vec<u32> = (0..3).map(|_| rx.try_recv().unwrap()).collect();
    assert_eq!(received, [0, 2, 3]);
    bounded(second).await.unwrap();
    bounded(third).await.unwrap();
}
