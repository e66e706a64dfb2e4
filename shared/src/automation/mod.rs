//! Automated messages: rules that answer a business's events (an order shipped, an appointment
//! booked) with a message to the customer, at once, after a delay or relative to a time in the event,
//! and the event intake that applies them. The messages are scheduled sends of
//! [`crate::delivery::scheduled`], sent by the same tick, ledger and policy chain as campaigns.

mod answer;
pub mod idempotency;
mod intake;
mod rule;
pub mod rules;
mod timing;

#[cfg(test)]
mod tests;

pub use answer::{EventAnswer, RuleAnswer, RuleResult};
pub use intake::{
    receive, EventsRequest, IncomingEvent, EVENTS_BODY_LIMIT, MAX_EVENTS_PER_REQUEST,
    MAX_EVENT_DATA_BYTES, MAX_KEY_CHARS,
};
pub use rule::{EventName, NewRule, Rule, RuleId, MAX_RULE_ID_CHARS, STATS_PREFIX};
pub use timing::{Due, Offset, Timing};
