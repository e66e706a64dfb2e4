//! A campaign's statistics, read from its counters (exact under concurrent writers: counters change only
//! by atomic increment and are read with `increment(key, 0)`, which every backend answers the same way)
//! and from its receipt counters (one record, written under the receipt lease with the records it counts)
//! and, for replies and ratings, from the running totals on the last page of its feedback log (added to
//! their counters, which hold what was counted before the log carried totals).

use std::collections::BTreeMap;
use std::ops::Deref;

use serde::Serialize;

use super::check_campaign_id;
use super::effects::total_name;
use super::log::FeedbackLog;
use super::receipt::{ReceiptCounters, ReceiptTally};
use crate::campaign;
use crate::error::{Error, Result};
use crate::event::counter;
use crate::keys;
use crate::kv::KvStore;

/// Every reply credited to a campaign (`replied` counts the subscribers who replied).
pub const REPLIES: &str = "replies";
/// Messages the platform accepted and later reported failed (a WhatsApp `failed` status).
pub const REPORTED_FAILED: &str = "reported_failed";

/// What a campaign did and what came back, in all and per A/B arm. It reads as its totals
/// (`stats.sent`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CampaignStats {
    /// The campaign.
    pub campaign_id: String,
    /// The figures of the whole campaign.
    #[serde(flatten)]
    pub totals: Figures,
    /// The figures of each A/B arm (each variant's, and the holdout's: its size is `targeted`, and it
    /// is sent nothing, so only its `skipped` and `targeted` are counted); absent without variants.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub arms: BTreeMap<String, Figures>,
}

impl Deref for CampaignStats {
    type Target = Figures;

    fn deref(&self) -> &Figures {
        &self.totals
    }
}

/// What a campaign, or one arm of it, did and what came back.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Figures {
    /// Recipients selected.
    pub targeted: i64,
    /// Accepted by the platform and not reported failed since.
    pub sent: i64,
    /// Failed for good: refused when sent, or accepted and later reported failed by the platform.
    pub failed: i64,
    /// Recipients who had blocked the bot.
    pub blocked: i64,
    /// Recipients skipped (no consent at send time, outside the service window…).
    pub skipped: i64,
    /// Messages that reached the device (delivered or read).
    pub delivered: i64,
    /// Messages read.
    pub read: i64,
    /// `read / delivered`; null while nothing is delivered (Telegram reports neither).
    pub open_rate: Option<f64>,
    /// Subscribers who replied (each once).
    pub replied: i64,
    /// Replies in all.
    pub replies: i64,
    /// Ratings given.
    pub ratings: i64,
    /// Their average score; null when there is none.
    pub rating_average: Option<f64>,
}

fn round_to(value: f64, places: i32) -> f64 {
    let scale = 10f64.powi(places);
    (value * scale).round() / scale
}

/// 404 unless the campaign exists or was deleted (so a mistyped id is an error, not a page of zeros,
/// while a deleted campaign's history stays readable).
///
/// # Errors
/// 400 `invalid_campaign_id`, 404 `not_found`, or a store failure.
pub fn require_campaign<S: KvStore + ?Sized>(store: &S, campaign_id: &str) -> Result<()> {
    check_campaign_id(campaign_id)?;
    if !store.exists(&keys::campaign(campaign_id))?
        && !store.exists(&keys::deleted_campaign(campaign_id))?
    {
        return Err(Error::not_found("campaign", campaign_id));
    }
    Ok(())
}

/// The statistics of a campaign, with each A/B arm's.
///
/// # Errors
/// 400 `invalid_campaign_id`, or a store failure.
pub fn campaign_stats<S: KvStore + ?Sized>(store: &S, campaign_id: &str) -> Result<CampaignStats> {
    check_campaign_id(campaign_id)?;
    let receipts = ReceiptCounters::read(store, campaign_id)?;
    let log_name = keys::feedback_log(Some(campaign_id));
    let logged = FeedbackLog::named(&log_name).totals(store)?;
    let totals = figures(
        store,
        |name| keys::campaign_counter(campaign_id, name),
        receipts.totals,
        |name| logged.get(&total_name(None, name)).copied().unwrap_or(0),
    )?;
    let mut arms = BTreeMap::new();
    for arm in campaign::arm_names(store, campaign_id)? {
        let arm_receipts = receipts.arms.get(&arm).copied().unwrap_or_default();
        let arm_figures = figures(
            store,
            |name| keys::campaign_arm_counter(campaign_id, &arm, name),
            arm_receipts,
            |name| {
                logged
                    .get(&total_name(Some(&arm), name))
                    .copied()
                    .unwrap_or(0)
            },
        )?;
        arms.insert(arm, arm_figures);
    }
    Ok(CampaignStats {
        campaign_id: campaign_id.to_owned(),
        totals,
        arms,
    })
}

/// The figures kept in the counters `key` names, with the receipt counts `receipts` (kept in one record
/// since receipts are applied in batches) and those counted on the feedback log's pages (`logged`:
/// replies and ratings); the counters hold what was counted before either.
fn figures<S: KvStore + ?Sized>(
    store: &S,
    key: impl Fn(&str) -> String,
    receipts: ReceiptTally,
    logged: impl Fn(&str) -> i64,
) -> Result<Figures> {
    let read_counter =
        |name: &str| -> Result<i64> { Ok(store.increment(&key(name), 0)? + logged(name)) };
    let delivered = read_counter(counter::DELIVERED)? + receipts.delivered;
    let read = read_counter(counter::READ)? + receipts.read;
    let ratings = read_counter(counter::RATINGS)?;
    let rating_sum = read_counter(counter::RATING_SUM)?;
    // A message the platform reported failed moves from `sent` to `failed`; the dispatcher may not have
    // counted it as sent yet when the status comes, so `sent` never shows below zero.
    let reported_failed = read_counter(REPORTED_FAILED)? + receipts.reported_failed;
    Ok(Figures {
        targeted: read_counter(counter::TARGETED)?,
        sent: (read_counter(counter::SENT)? - reported_failed).max(0),
        failed: read_counter(counter::FAILED)? + reported_failed,
        blocked: read_counter(counter::BLOCKED)?,
        skipped: read_counter(counter::SKIPPED)?,
        delivered,
        read,
        // Counters are far below 2^52, so the conversions are exact.
        open_rate: (delivered > 0).then(|| round_to(read as f64 / delivered as f64, 4)),
        replied: read_counter(counter::REPLIED)?,
        replies: read_counter(REPLIES)?,
        ratings,
        rating_average: (ratings > 0).then(|| round_to(rating_sum as f64 / ratings as f64, 2)),
    })
}
