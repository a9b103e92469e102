//! Auto-trait assertions for every public type: the handle is `Clone + Send + Sync + 'static`
//! (axum state), streams and the owned client can cross tasks (and report misuse there).

use tether_claude::*;

fn send_sync_static<T: Send + Sync + 'static>() {}
fn send_static<T: Send + 'static>() {}
fn clone<T: Clone>() {}

#[test]
fn public_types_have_the_auto_traits_users_need() {
    send_sync_static::<ClientHandle>();
    clone::<ClientHandle>();
    send_sync_static::<Client>();
    send_static::<ResponseStream>();
    send_static::<QueryStream>();
    send_sync_static::<ClaudeOptions>();
    clone::<ClaudeOptions>();
    send_sync_static::<Error>();
    clone::<Error>();
    send_sync_static::<CloseCause>();
    send_sync_static::<Message>();
    send_sync_static::<ContentBlock>();
    send_sync_static::<Prompt>();
    send_sync_static::<PermissionRequest>();
    send_sync_static::<PermissionDecision>();
    send_sync_static::<HookInput>();
    send_sync_static::<HookOutput>();
    send_sync_static::<HookEvent>();
    send_sync_static::<SdkMcpServer>();
    send_sync_static::<Tool>();
    send_sync_static::<ToolOutput>();
    send_sync_static::<PermissionMode>();
    // The error is usable with `?` into a boxed error and as a task-group failure.
    let _: Box<dyn std::error::Error + Send + Sync> = Box::new(Error::Io("x".into()));
}
