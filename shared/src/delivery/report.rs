//! What the sender reports: a [`Step`] per piece of work, a [`BatchReport`] per batch, a [`TickReport`]
//! per tick.

use serde::Serialize;

use super::ledger::{DeliveryBatch, DeliveryState, OUTCOME_UNKNOWN};

/// What one step did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Step {
    /// A scheduled campaign reached its send time and is now running.
    Started {
        /// The campaign.
        campaign_id: String,
    },
    /// Every recipient of a running campaign has a final state.
    Completed {
        /// The campaign.
        campaign_id: String,
    },
    /// A recurring campaign's run ended; the campaign waits for its next run.
    RunEnded {
        /// The campaign.
        campaign_id: String,
        /// The run, `<campaign>@<date>`.
        run: String,
    },
    /// Worked on a batch.
    Batch(BatchReport),
    /// No campaign has work that can be done now.
    NothingDue,
}

/// Why work on a batch stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// Every entry has a final state.
    Finished,
    /// The tick's time budget is spent; the rest waits for the next tick.
    Deadline,
    /// Only entries waiting for a backoff beyond the budget remain.
    Deferred,
    /// The campaign was paused.
    Paused,
    /// The campaign was cancelled; open entries were skipped.
    Cancelled,
    /// Another tick took the batch over (this tick's lease lapsed).
    LeaseLost,
}

/// What a step did with one batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BatchReport {
    /// The campaign.
    pub campaign_id: String,
    /// The batch number.
    pub batch: u64,
    /// Taken over from an earlier tick rather than newly claimed.
    pub resumed: bool,
    /// Recipients who reached `sent`.
    pub sent: u64,
    /// Recipients who reached `failed` (including `outcome_unknown`).
    pub failed: u64,
    /// Recipients who reached `blocked`.
    pub blocked: u64,
    /// Recipients who reached `skipped`.
    pub skipped: u64,
    /// Of `failed`: entries closed as `outcome_unknown` after a crash.
    pub outcome_unknown: u64,
    /// Sends answered with a rate limit or a transient error, to be tried again.
    pub retried: u64,
    /// Entries still without a final state.
    pub remaining: usize,
    /// Why work stopped.
    pub stopped: StopReason,
}

impl BatchReport {
    pub(super) fn new(campaign_id: &str, batch: u64, resumed: bool) -> Self {
        BatchReport {
            campaign_id: campaign_id.to_owned(),
            batch,
            resumed,
            sent: 0,
            failed: 0,
            blocked: 0,
            skipped: 0,
            outcome_unknown: 0,
            retried: 0,
            remaining: 0,
            stopped: StopReason::Finished,
        }
    }

    /// The report of a batch taken over from an earlier tick, counting the entries the takeover
    /// finalised (those it found in flight, now `outcome_unknown`).
    pub(super) fn taken_over(
        campaign_id: &str,
        batch: &DeliveryBatch,
        finalised: &[usize],
    ) -> Self {
        let mut report = BatchReport::new(campaign_id, batch.batch, true);
        for &i in finalised {
            report.tally(&batch.entries[i].outcome);
        }
        report
    }

    pub(super) fn tally(&mut self, state: &DeliveryState) {
        match state {
            DeliveryState::Sent { .. } => self.sent += 1,
            DeliveryState::Failed { code, .. } => {
                self.failed += 1;
                if code == OUTCOME_UNKNOWN {
                    self.outcome_unknown += 1;
                }
            }
            DeliveryState::Blocked { .. } => self.blocked += 1,
            DeliveryState::Skipped { .. } => self.skipped += 1,
            DeliveryState::Pending | DeliveryState::InFlight => {}
        }
    }
}

/// What a whole tick did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TickReport {
    /// Every step but the final `nothing_due`.
    pub steps: Vec<Step>,
    /// Sent in this tick.
    pub sent: u64,
    /// Failed in this tick.
    pub failed: u64,
    /// Blocked in this tick.
    pub blocked: u64,
    /// Skipped in this tick.
    pub skipped: u64,
    /// Whether the tick stopped because its budget was spent (more may be due).
    pub budget_spent: bool,
}

impl TickReport {
    /// Add a batch's final states to the totals; a batch stopped by the deadline spent the budget.
    pub fn count(&mut self, batch: &BatchReport) {
        self.sent += batch.sent;
        self.failed += batch.failed;
        self.blocked += batch.blocked;
        self.skipped += batch.skipped;
        if batch.stopped == StopReason::Deadline {
            self.budget_spent = true;
        }
    }
}
