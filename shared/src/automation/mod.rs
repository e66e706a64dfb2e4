//! Automated messages. The welcome and the keyword replies: a webhook delivery triggers the built-in
//! events `subscribed` and `message.received` ([`triggered_by`]); rules on them send their messages
//! through the same ledger and consent check as everything else; a keyword rule's [`KeywordMatch`]
//! says which messages it answers, and [`answering_rule`] picks the one rule that answers a message.

mod keyword_precedence;
pub mod keywords;
mod reply_window;
mod triggers;

pub use keyword_precedence::{answering_rule, KeywordRule};
pub use keywords::{KeywordMatch, KeywordMode};
pub use reply_window::may_answer;
pub use triggers::{triggered_by, Trigger, MESSAGE_RECEIVED, SUBSCRIBED};
