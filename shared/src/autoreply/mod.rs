//! Automated answers to what people do in the messengers: the welcome on a new subscription and the
//! keyword replies (the FAQ bot). A webhook delivery triggers ([`triggered_by`]) the built-in events; rules on them
//! send the messages through the same ledger and consent check as everything else; a keyword rule's
//! [`KeywordMatch`] says which messages it answers, and [`answering_rule`] picks the one rule that
//! answers a message.

pub mod keywords;
mod precedence;
mod trigger;
mod window;

pub use keywords::{KeywordMatch, KeywordMode};
pub use precedence::{answering_rule, KeywordRule};
pub use trigger::{triggered_by, Trigger, MESSAGE_RECEIVED, SUBSCRIBED};
pub use window::may_answer;
