//! How far a campaign has got: counts per final state from the cursor's totals of closed batches plus
//! the final entries of the open ones (the same snapshot, so nothing is counted twice), open entries
//! from the open batches, the recent send rate from the latest batch records, and an estimate of the time left
//! (seconds, and the moment sending should be done).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::campaign::{self, CampaignState};
use crate::error::Result;
use crate::index::Index;
use crate::keys;
use crate::kv::{self, KvStore};
use crate::paging::Page;

use super::claim;
use super::ledger::{DeliveryBatch, Tally};

/// How many of the latest batches the send rate is measured over.
const RATE_WINDOW_BATCHES: u64 = 5;
/// The most ledger batches one deliveries page returns.
pub const MAX_BATCHES_PER_PAGE: u64 = 5;

/// Recipients per state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Recipients with a final state.
    pub targeted: i64,
    /// Sent.
    pub sent: i64,
    /// Failed.
    pub failed: i64,
    /// Blocked.
    pub blocked: i64,
    /// Skipped.
    pub skipped: i64,
    /// Claimed into a batch, no final state yet.
    pub pending: u64,
}

impl Counts {
    /// The counts of `tally`, with `pending` recipients claimed and not final.
    pub(super) fn of(tally: &Tally, pending: u64) -> Self {
        let signed = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        Counts {
            targeted: signed(tally.targeted()),
            sent: signed(tally.sent),
            failed: signed(tally.failed),
            blocked: signed(tally.blocked),
            skipped: signed(tally.skipped),
            pending,
        }
    }
}

/// A campaign's progress.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Progress {
    /// The campaign.
    pub campaign_id: String,
    /// A recurring campaign's current (or next) run, which the figures are of.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run: Option<String>,
    /// Its state.
    pub state: CampaignState,
    /// Recipients per state.
    pub counts: Counts,
    /// Recipients finalised per second over the latest batches.
    pub messages_per_second: f64,
    /// Messages still to go (a count): open entries plus the expected share of the audience not yet
    /// walked.
    pub remaining_messages: u64,
    /// Seconds until done at the recent rate; absent when there is no rate yet or nothing is left.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub estimated_seconds_left: Option<u64>,
    /// When sending should be done at the recent rate (`now` plus the seconds left); absent with them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub estimated_completion_at: Option<DateTime<Utc>>,
    /// Subscriber index positions examined / in the index.
    pub audience_scanned: u64,
    /// Positions in the subscriber index.
    pub audience_total: u64,
    /// Recipients per state in each A/B arm (a campaign with variants; the holdout's are `skipped`).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub arms: BTreeMap<String, Counts>,
}

/// The progress of campaign `id` at `now`.
///
/// # Errors
/// 404 for an unknown campaign; store failures.
pub fn progress<S: KvStore + ?Sized>(store: &S, id: &str, now: DateTime<Utc>) -> Result<Progress> {
    let campaign = campaign::get(store, id)?;
    // A recurring campaign's progress is its current run's.
    let ledger = campaign.ledger_id();
    let cursor = claim::cursor(store, &ledger)?;
    let open_keys: Vec<String> = cursor
        .open_batches
        .iter()
        .map(|&n| keys::delivery_batch(&ledger, n))
        .collect();
    let open: Vec<Option<DeliveryBatch>> = kv::get_many_json(store, &open_keys)?;
    let pending: u64 = open.iter().flatten().map(|b| b.open_entries() as u64).sum();
    // A batch open in this cursor is not in its totals, even if it was closed since.
    let mut tally = cursor.counted;
    for batch in open.iter().flatten() {
        tally.add(&Tally::of(&batch.entries));
    }
    let counts = Counts::of(&tally, pending);
    let mut arm_tallies = cursor.counted_by_arm.clone();
    let mut arm_pending: BTreeMap<String, u64> = BTreeMap::new();
    for batch in open.iter().flatten() {
        Tally::add_by_arm(&mut arm_tallies, &Tally::by_arm(&batch.entries));
        for entry in batch.entries.iter().filter(|e| !e.outcome.is_final()) {
            if let Some(arm) = &entry.arm {
                *arm_pending.entry(arm.clone()).or_default() += 1;
                arm_tallies.entry(arm.clone()).or_default();
            }
        }
    }
    let arms = arm_tallies
        .iter()
        .map(|(arm, tally)| {
            let pending = arm_pending.get(arm).copied().unwrap_or_default();
            (arm.clone(), Counts::of(tally, pending))
        })
        .collect();
    let first = cursor.next_batch.saturating_sub(RATE_WINDOW_BATCHES);
    let recent_keys: Vec<String> = (first..cursor.next_batch)
        .map(|n| keys::delivery_batch(&ledger, n))
        .collect();
    let recent: Vec<DeliveryBatch> = kv::get_many_json::<_, DeliveryBatch>(store, &recent_keys)?
        .into_iter()
        .flatten()
        .filter(|b| !b.entries.is_empty())
        .collect();
    let messages_per_second = rate(&recent, now);
    let audience_total = Index::SUBSCRIBERS.len(store)?;
    let unwalked = if cursor.exhausted
        || matches!(
            campaign.state,
            CampaignState::Cancelled | CampaignState::Completed
        ) {
        0
    } else {
        let left = audience_total.saturating_sub(cursor.next_position);
        // Expect the rest of the index to match as often as the part already walked (all of it before
        // the first walk).
        if cursor.scanned == 0 {
            left
        } else {
            (left as f64 * cursor.claimed as f64 / cursor.scanned as f64).ceil() as u64
        }
    };
    let remaining_messages = pending + unwalked;
    let estimated_seconds_left = (messages_per_second > 0.0 && remaining_messages > 0)
        .then(|| (remaining_messages as f64 / messages_per_second).ceil() as u64);
    let estimated_completion_at = estimated_seconds_left
        .and_then(|seconds| i64::try_from(seconds).ok())
        .and_then(|seconds| now.checked_add_signed(chrono::Duration::seconds(seconds)));
    Ok(Progress {
        campaign_id: id.to_owned(),
        run: campaign.run_date().map(|_| ledger.clone()),
        state: campaign.state,
        counts,
        messages_per_second,
        remaining_messages,
        estimated_seconds_left,
        estimated_completion_at,
        audience_scanned: cursor.next_position.min(audience_total),
        audience_total,
        arms,
    })
}

/// Entries finalised per second from the first claim to the last finalisation among `batches`.
fn rate(batches: &[DeliveryBatch], now: DateTime<Utc>) -> f64 {
    let finals: Vec<DateTime<Utc>> = batches
        .iter()
        .flat_map(|b| b.entries.iter().filter_map(|e| e.finished_at))
        .collect();
    let Some(start) = batches.iter().map(|b| b.created_at).min() else {
        return 0.0;
    };
    let end = finals.iter().copied().max().unwrap_or(now);
    let seconds = (end - start).num_milliseconds() as f64 / 1000.0;
    if finals.is_empty() || seconds <= 0.0 {
        return 0.0;
    }
    (finals.len() as f64 / seconds * 100.0).round() / 100.0
}

/// Page through campaign `id`'s ledger from batch `cursor`.
///
/// # Errors
/// 404 for an unknown campaign; store failures.
pub fn deliveries<S: KvStore + ?Sized>(
    store: &S,
    id: &str,
    from: u64,
) -> Result<Page<DeliveryBatch>> {
    // A recurring campaign's ledger is its current run's.
    let ledger = campaign::get(store, id)?.ledger_id();
    let end = claim::cursor(store, &ledger)?.next_batch;
    let to = end.min(from.saturating_add(MAX_BATCHES_PER_PAGE));
    let batch_keys: Vec<String> = (from..to)
        .map(|n| keys::delivery_batch(&ledger, n))
        .collect();
    let items = kv::get_many_json::<_, DeliveryBatch>(store, &batch_keys)?
        .into_iter()
        .flatten()
        .filter(|b| !b.entries.is_empty())
        .collect();
    Ok(Page {
        items,
        next_cursor: (to < end).then(|| to.to_string()),
    })
}
