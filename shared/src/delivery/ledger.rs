//! The delivery ledger: one record per batch of recipients (`keys::delivery_batch(campaign, n)`), written
//! as intent before anything is sent and updated with outcomes after, plus the campaign cursor that
//! hands out batches. Both change only through compare-and-swap.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::event::counter;
use crate::subscriber::SubscriberId;

/// The reason recorded for an entry that was in flight when its tick died.
pub const OUTCOME_UNKNOWN: &str = "outcome_unknown";

/// How far a campaign's audience walk has got, and which batches are not finished.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// The next position in the subscriber index to examine.
    pub next_position: u64,
    /// The number the next batch will get.
    pub next_batch: u64,
    /// Batches that still have recipients without a final state.
    #[serde(default)]
    pub open_batches: BTreeSet<u64>,
    /// The walk reached the end of the index: no more batches will be created.
    #[serde(default)]
    pub exhausted: bool,
    /// Index positions examined so far.
    #[serde(default)]
    pub scanned: u64,
    /// Recipients put into batches so far.
    #[serde(default)]
    pub claimed: u64,
    /// The final states of every closed batch, added in the same write that removes the batch from
    /// `open_batches`, so each batch is counted exactly once.
    #[serde(default)]
    pub counted: Tally,
    /// What the campaign counters are known to hold (of `counted`).
    #[serde(default)]
    pub synced: Tally,
    /// `counted` per A/B arm (a campaign with variants), added in the same write.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub counted_by_arm: BTreeMap<String, Tally>,
    /// What the arms' counters are known to hold (of `counted_by_arm`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub synced_by_arm: BTreeMap<String, Tally>,
    /// A tick bringing the campaign counters up to `counted`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync: Option<CounterSync>,
    /// A recurring campaign's ended runs, each added to `counted` in the write that lists it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub runs: Vec<super::runs::EndedRun>,
}

/// Recipients per final state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    /// Sent.
    #[serde(default)]
    pub sent: u64,
    /// Failed.
    #[serde(default)]
    pub failed: u64,
    /// Blocked.
    #[serde(default)]
    pub blocked: u64,
    /// Skipped.
    #[serde(default)]
    pub skipped: u64,
}

impl Tally {
    /// The final states among `entries`.
    pub fn of(entries: &[DeliveryEntry]) -> Self {
        let mut tally = Tally::default();
        for entry in entries {
            tally.add_state(&entry.outcome);
        }
        tally
    }

    /// Count one state (nothing for a state that is not final).
    pub fn add_state(&mut self, state: &DeliveryState) {
        match state {
            DeliveryState::Sent { .. } => self.sent += 1,
            DeliveryState::Failed { .. } => self.failed += 1,
            DeliveryState::Blocked { .. } => self.blocked += 1,
            DeliveryState::Skipped { .. } => self.skipped += 1,
            DeliveryState::Pending | DeliveryState::InFlight => {}
        }
    }

    /// The final states among `entries`, per arm (entries without an arm are left out).
    pub fn by_arm(entries: &[DeliveryEntry]) -> BTreeMap<String, Tally> {
        let mut tallies: BTreeMap<String, Tally> = BTreeMap::new();
        for entry in entries {
            if let Some(arm) = &entry.arm {
                tallies
                    .entry(arm.clone())
                    .or_default()
                    .add_state(&entry.outcome);
            }
        }
        tallies
    }

    /// Add each arm's tally of `other` to `into`.
    pub fn add_by_arm(into: &mut BTreeMap<String, Tally>, other: &BTreeMap<String, Tally>) {
        for (arm, tally) in other {
            into.entry(arm.clone()).or_default().add(tally);
        }
    }

    /// Add another tally.
    pub fn add(&mut self, other: &Tally) {
        self.sent += other.sent;
        self.failed += other.failed;
        self.blocked += other.blocked;
        self.skipped += other.skipped;
    }

    /// Recipients with a final state.
    pub fn targeted(&self) -> u64 {
        self.sent + self.failed + self.blocked + self.skipped
    }

    /// The campaign counter of each state, with its value.
    pub fn counters(&self) -> [(&'static str, u64); 5] {
        [
            (counter::SENT, self.sent),
            (counter::FAILED, self.failed),
            (counter::BLOCKED, self.blocked),
            (counter::SKIPPED, self.skipped),
            (counter::TARGETED, self.targeted()),
        ]
    }
}

/// A tick bringing the campaign counters up to a target; another tick may take over once it lapses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CounterSync {
    /// The tick doing it.
    pub owner: String,
    /// When it lapses.
    pub expires_at: DateTime<Utc>,
    /// The totals the counters are being brought to.
    pub target: Tally,
    /// The arms' totals the arms' counters are being brought to.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub target_by_arm: BTreeMap<String, Tally>,
}

/// Who is working on a batch, until when. Another tick may take the batch over once it expires.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    /// The tick holding it.
    pub owner: String,
    /// When it lapses.
    pub expires_at: DateTime<Utc>,
}

/// Where one recipient's delivery stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum DeliveryState {
    /// Not yet attempted, or to be tried again (after a rate limit or a transient error).
    Pending,
    /// Handed to the platform by a tick that has not yet written the outcome.
    InFlight,
    /// Accepted by the platform.
    Sent {
        /// The platform's message id.
        message_id: String,
    },
    /// Failed for good.
    Failed {
        /// The platform's code, or ours (`outcome_unknown`, `transient`, `render_failed`…).
        code: String,
        /// What happened.
        reason: String,
    },
    /// Not sent on purpose.
    Skipped {
        /// Why (`unsubscribed`, `blocked`, `campaign_cancelled`, …).
        reason: String,
    },
    /// The recipient blocked the bot (or is gone); they are now suppressed.
    Blocked {
        /// The platform's code.
        code: String,
        /// The platform's words.
        reason: String,
    },
}

impl DeliveryState {
    /// Whether this is one of the four final states.
    pub fn is_final(&self) -> bool {
        !matches!(self, DeliveryState::Pending | DeliveryState::InFlight)
    }

    /// The campaign counter a final state adds to.
    pub fn counter(&self) -> Option<&'static str> {
        match self {
            DeliveryState::Sent { .. } => Some(counter::SENT),
            DeliveryState::Failed { .. } => Some(counter::FAILED),
            DeliveryState::Skipped { .. } => Some(counter::SKIPPED),
            DeliveryState::Blocked { .. } => Some(counter::BLOCKED),
            DeliveryState::Pending | DeliveryState::InFlight => None,
        }
    }
}

/// One recipient in a batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryEntry {
    /// The recipient.
    pub subscriber: SubscriberId,
    /// Where the delivery stands.
    pub outcome: DeliveryState,
    /// Transient failures so far.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub attempts: u32,
    /// Rate-limit answers so far.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub rate_limited: u32,
    /// Not to be tried before this (backoff after a transient error).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_before: Option<DateTime<Utc>>,
    /// When the final state was reached.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<DateTime<Utc>>,
    /// The A/B arm the recipient is in (a variant's name, or `holdout`), for a campaign with variants.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arm: Option<String>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl DeliveryEntry {
    /// A recipient not yet attempted.
    pub fn pending(subscriber: SubscriberId) -> Self {
        DeliveryEntry {
            subscriber,
            outcome: DeliveryState::Pending,
            attempts: 0,
            rate_limited: 0,
            not_before: None,
            finished_at: None,
            arm: None,
        }
    }

    /// This entry, in arm `arm`.
    #[must_use]
    pub fn in_arm(mut self, arm: Option<&str>) -> Self {
        self.arm = arm.map(str::to_owned);
        self
    }

    /// Whether it can be attempted at `now`.
    pub fn is_ready(&self, now: DateTime<Utc>) -> bool {
        self.outcome == DeliveryState::Pending && self.not_before.is_none_or(|t| t <= now)
    }
}

/// One batch of a campaign's ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryBatch {
    /// The campaign.
    pub campaign_id: String,
    /// The batch number.
    pub batch: u64,
    /// The first subscriber index position this batch's walk examined.
    pub from_position: u64,
    /// The position after the last one it examined: where the next batch's walk starts.
    pub to_position: u64,
    /// Index positions examined.
    pub scanned: u64,
    /// The walk reached the end of the index with this batch.
    pub exhausted_after: bool,
    /// The recipients, in index order.
    pub entries: Vec<DeliveryEntry>,
    /// The tick working on it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease: Option<Lease>,
    /// When it was claimed.
    pub created_at: DateTime<Utc>,
    /// When every entry reached a final state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<DateTime<Utc>>,
}

impl DeliveryBatch {
    /// Whether `owner` holds an unexpired lease at `now`.
    pub fn is_leased_by(&self, owner: &str, now: DateTime<Utc>) -> bool {
        self.lease
            .as_ref()
            .is_some_and(|l| l.owner == owner && l.expires_at > now)
    }

    /// Whether some tick other than `owner` holds an unexpired lease at `now`.
    pub fn is_leased_by_other(&self, owner: &str, now: DateTime<Utc>) -> bool {
        self.lease
            .as_ref()
            .is_some_and(|l| l.owner != owner && l.expires_at > now)
    }

    /// Mark the batch finished at `now`, its lease given back (every entry is final).
    pub fn finish(&mut self, now: DateTime<Utc>) {
        self.lease = None;
        self.finished_at = Some(now);
    }

    /// Entries without a final state.
    pub fn open_entries(&self) -> usize {
        self.entries
            .iter()
            .filter(|e| !e.outcome.is_final())
            .count()
    }
}
