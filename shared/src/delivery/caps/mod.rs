//! Frequency caps: how many promotional messages one person may get per window, counted exactly
//! however many campaigns send to them at the same time.
//!
//! The workspace sets the caps once (the `frequency_caps` variable, [`FrequencyCaps::parse`]), e.g.
//! `promotional:2/7d,promotional:1/calendar_day`: at most 2 promotional messages in any 7 days, and at
//! most 1 per calendar day in the person's own time zone (their `timezone`, else the campaign's schedule
//! zone, else UTC). Campaigns are promotional; transactional messages are exempt but recorded, so the
//! person's history shows them.
//!
//! Each person has one bounded [`SendHistory`] record of their recent sends. The sender reads the
//! histories of a chunk in the same `get_many` as the subscriber records (no extra round trip) and skips
//! anyone already at a cap before a send slot is spent on them (`skipped`, reason `frequency_cap: ...`).
//! Just before a wave's intent is written, each recipient's send is **reserved** in their history by one
//! compare-and-swap ([`reserve`]): a reservation that would exceed a cap loses, whichever campaign or
//! tick came second, so concurrent senders never exceed a cap. A send that definitively does not go out
//! (failed, blocked, skipped by the platform, or sent back to the queue for a retry) is [`release`]d,
//! one more compare-and-swap, so it does not count; a send whose outcome is unknown (its tick died in
//! flight) stays counted, as the message may have gone out. A tick that dies between reserving and
//! writing the intent leaves a reservation that the same campaign's next attempt at that person
//! replaces, and that otherwise counts until it ages out (the safe side of a cap).

mod history;
mod reservation;
mod rules;

pub use history::{
    campaign_source, message_source, MessageKind, PastSend, SendHistory, MAX_TRANSACTIONAL_KEPT,
};
pub use reservation::{erase_send_history, release, reserve, Reservation};
pub use rules::{
    CapRule, CapWindow, FrequencyCaps, FREQUENCY_CAP, MAX_CAP_LIMIT, MAX_CAP_WINDOW_DAYS,
};
