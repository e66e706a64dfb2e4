//! Delivery: the scheduled, paced, exactly-once sender.
//!
//! A scheduler calls the dispatch component's tick route; the tick calls [`run_tick`], which calls
//! [`send_next_batch`] until there is nothing due or its time budget is spent. One step starts a due
//! campaign, completes a finished one, or works on one batch of recipients:
//!
//! 1. **Claim**: resume a batch whose lease lapsed, or claim the next range of the audience (walked
//!    through the subscriber index) as a new batch record leased to this tick ([`claim`]).
//! 2. **Intent**: before a few recipients are sent, their entries are marked in flight in the batch
//!    record, in one compare-and-swap that also renews the lease.
//! 3. **Send**: the [`policy`] chain judges each recipient on the record as it is now (and again when
//!    that reading grew old), then the frequency caps on their send history ([`caps`]; each send is
//!    reserved there by compare-and-swap just before the intent), the message is rendered and sent in
//!    send slots reserved from the channel's shared pacing record ([`pacing`]).
//! 4. **Outcome**: each answer is applied to its entry by [`outcome::apply_outcome`]; the entries are
//!    written back in one compare-and-swap after the [`crate::event::SentMessageRef`]s in one
//!    `set_many`.
//! 5. **Close**: a batch whose entries are all final leaves the cursor's open set in the same
//!    compare-and-swap that adds its final states to the cursor's totals; the campaign counters are
//!    then brought up to those totals (module `counters`), so a crash at any point neither loses nor
//!    repeats a count.
//!
//! A tick that dies between 2 and 4 leaves entries in flight under an expiring lease; the tick that takes
//! the batch over closes them as failed `outcome_unknown` and never sends them again (see
//! [`claim::take_over`]). The in-flight window is a handful of messages.

mod arms;
pub mod caps;
mod chunk;
pub mod claim;
mod config;
mod counters;
pub mod due_index;
mod estimate;
pub mod ledger;
mod ledger_removal;
pub mod outcome;
pub mod pacing;
pub mod policy;
mod progress;
mod report;
mod runs;
pub mod scheduled;
mod scheduled_sender;
mod sender;

#[cfg(test)]
pub(crate) mod tests;

use chrono::{DateTime, Utc};

use crate::campaign::Campaign;
use crate::error::Result;
use crate::message::RenderedMessage;
use crate::subscriber::Subscriber;

pub use caps::{FrequencyCaps, MessageKind};
pub use config::{default_rate, SenderConfig, MAX_BUDGET_MS};
pub use estimate::{estimate, Estimate, MAX_ESTIMATE_SCAN};
pub use ledger::{
    CounterSync, Cursor, DeliveryBatch, DeliveryEntry, DeliveryState, Lease, Tally, OUTCOME_UNKNOWN,
};
pub use ledger_removal::delete_ledger;
pub use outcome::{apply_outcome, RetryPolicy, MAX_RETRY_AFTER_SECS};
pub use policy::{Candidate, PolicyChain, SendPolicy, Verdict};
pub use progress::{deliveries, progress, Counts, Progress, MAX_BATCHES_PER_PAGE};
pub use report::{BatchReport, Step, StopReason, TickReport};
pub use runs::{erase_marks, runs, EndedRun, RecurringMark, RunReport, Runs};
pub use scheduled::{Cancellation, EventContext, ScheduledSend, ScheduledState};
pub use sender::{run_tick, send_next_batch};

/// The port through which the sender renders a campaign's message for one recipient, so delivery does
/// not depend on the template engine.
pub trait MessageRenderer {
    /// Render the campaign's pinned template for `subscriber` on their platform.
    ///
    /// # Errors
    /// A 4xx error whose code and message are recorded as the recipient's failure.
    fn render(&self, subscriber: &Subscriber, campaign: &Campaign) -> Result<RenderedMessage>;

    /// Render the campaign's pinned template for `subscriber` with the event a scheduled message
    /// answers (`event.data` in the template).
    ///
    /// # Errors
    /// As [`MessageRenderer::render`].
    fn render_event(
        &self,
        subscriber: &Subscriber,
        campaign: &Campaign,
        event: &EventContext,
    ) -> Result<RenderedMessage>;
}

/// What the sender hands a [`crate::messenger::Messenger`]: the rendered message plus what a platform
/// adapter may need besides (the campaign for button data, the last inbound message for WhatsApp's
/// service window).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// The campaign sending it.
    pub campaign_id: String,
    /// The message.
    pub message: RenderedMessage,
    /// When the recipient last wrote to us.
    pub last_inbound_at: Option<DateTime<Utc>>,
}

impl Outgoing {
    /// The campaign's message rendered for `subscriber` by `renderer`, with what adapters need besides.
    ///
    /// # Errors
    /// The renderer's error, recorded as the recipient's failure.
    pub fn render(
        renderer: &dyn MessageRenderer,
        campaign: &Campaign,
        subscriber: &Subscriber,
    ) -> Result<Outgoing> {
        renderer
            .render(subscriber, campaign)
            .map(|message| Outgoing {
                campaign_id: campaign.id.to_string(),
                message,
                last_inbound_at: subscriber.last_inbound_at,
            })
    }
}
