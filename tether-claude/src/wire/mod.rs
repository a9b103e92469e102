//! The wire format: typed messages (serde), content blocks, control envelopes.
//!
//! - `message.rs`: [`Message`] and its variants;
//! - `content.rs`: [`ContentBlock`], [`UserContent`];
//! - `control.rs`: control-protocol envelopes and the user-turn line ([`Prompt`]).

mod content;
pub(crate) mod control;
mod message;

pub use content::{ContentBlock, UserContent};
pub use control::Prompt;
pub use message::{
    AssistantBody, AssistantMessage, Message, RateLimitEvent, ResultMessage, StreamEvent,
    SystemInit, SystemMessage, UserBody, UserMessage,
};
