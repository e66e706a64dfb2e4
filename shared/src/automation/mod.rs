//! Automated messages: rules that answer a business's events (an order shipped, an appointment
//! booked) with a message to the customer, at once, after a delay or relative to a time in the event,
//! and the event intake that applies them. The messages are scheduled sends of
//! [`crate::delivery::scheduled`], sent by the same tick, ledger and policy chain as campaigns.
//!
//! The welcome and the keyword replies are rules too: a webhook delivery triggers the built-in
//! events `subscribed` and `message.received` ([`triggered_by`]); a rule on `message.received`
//! carries a [`KeywordMatch`] saying which messages it answers, and [`answering_rule`] picks the one
//! rule that answers a message.

mod answer;
#[cfg(test)]
mod autoreply_tests;
pub mod idempotency;
#[cfg(test)]
mod inbound_fixtures;
mod intake;
mod keyword_precedence;
pub mod keywords;
mod reply_window;
mod rule;
pub mod rules;
mod timing;
mod triggers;

#[cfg(test)]
mod tests;

pub use answer::{EventAnswer, RuleAnswer, RuleResult};
pub use intake::{
    receive, EventsRequest, IncomingEvent, EVENTS_BODY_LIMIT, MAX_EVENTS_PER_REQUEST,
    MAX_EVENT_DATA_BYTES, MAX_KEY_CHARS,
};
pub use keyword_precedence::{answering_rule, rules_answering};
pub use keywords::{KeywordMatch, KeywordMode};
pub use reply_window::may_answer;
pub use rule::{EventName, NewRule, Rule, RuleId, MAX_RULE_ID_CHARS, STATS_PREFIX};
pub use timing::{Due, Offset, Timing};
pub use triggers::{
    hand_to_rules, triggered_by, Trigger, BUILT_IN_EVENTS, MAX_MESSAGE_CHARS, MESSAGE_RECEIVED,
    SUBSCRIBED,
};
