//! `TaskBinding`: a library's own resource bound to the task that created it. Use from any
//! other task — a tokio task, a tether child, another thread — is a `TaskContextError` naming the
//! resource, both tasks and the fix, at once; use from the binding task is fine, across awaits.

use tether::{TaskBinding, TaskContextError, TaskId, task_group};

const FIX: &str = "use it in the task that opened it, or give other tasks a handle";

fn session() -> TaskBinding {
    TaskBinding::current("session", FIX).created_as("opened")
}

#[tokio::test]
async fn the_binding_task_passes_the_check_across_awaits() {
    let binding = session();
    assert_eq!(binding.task(), TaskId::current());
    assert!(binding.is_current());
    binding.check("used").unwrap();
    tokio::task::yield_now().await;
    tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    assert!(binding.is_current());
    binding.check("closed").unwrap();
}

#[tokio::test]
async fn another_tokio_task_gets_an_error_naming_both_tasks_and_the_fix() {
    let binding = session();
    let owner = TaskId::current();
    let (err, other, is_current): (TaskContextError, TaskId, bool) = tokio::spawn(async move {
        (
            binding.check("closed").unwrap_err(),
            TaskId::current(),
            binding.is_current(),
        )
    })
    .await
    .unwrap();
    assert!(!is_current);
    assert_ne!(owner, other);
    assert_eq!(err.owner(), owner);
    assert_eq!(err.current(), other);
    assert_eq!(err.resource(), "session");
    assert_eq!(err.fix(), FIX);
    assert_eq!(
        err.to_string(),
        format!("session opened in {owner} was closed from {other}; {FIX}")
    );
    // The binding itself is unchanged by a failed check: the owner still passes.
    binding.check("used").unwrap();
}

#[tokio::test]
async fn a_resource_bound_in_a_child_task_is_refused_in_its_parent() {
    let parent = TaskId::current();
    let (binding, child) = tokio::spawn(async { (session(), TaskId::current()) })
        .await
        .unwrap();
    assert_eq!(binding.task(), child);
    let err = binding.check("used").unwrap_err();
    assert_eq!((err.owner(), err.current()), (child, parent));
}

#[tokio::test]
async fn tether_children_are_other_tasks() {
    let binding = session();
    let owner = TaskId::current();
    let result = task_group(async |tg| {
        tg.spawn(async move {
            let err = binding.check("used").unwrap_err();
            assert_eq!(err.owner(), owner);
            assert_eq!(err.current(), TaskId::current());
            Ok::<_, TaskContextError>(())
        });
    })
    .await;
    result.unwrap();
}

#[test]
fn outside_tokio_the_thread_is_the_identity() {
    let binding = TaskBinding::current("widget", "use it on the thread that made it");
    binding.check("used").unwrap();
    let err = std::thread::spawn(move || binding.check("used").unwrap_err())
        .join()
        .unwrap();
    assert_eq!(err.owner(), binding.task());
    assert!(!err.owner().is_tokio_task());
    assert!(!err.current().is_tokio_task());
    assert_ne!(err.owner(), err.current());
    // The default verb is "created".
    assert!(
        err.to_string().starts_with(&format!(
            "widget created in {} was used from {}; ",
            err.owner(),
            err.current()
        )),
        "{err}"
    );
}
