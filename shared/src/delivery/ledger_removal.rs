//! Removing a finished campaign's delivery ledger: its batch records and its cursor (the claim state).
//! Pacing records belong to channels, not campaigns, and stay.

use std::collections::BTreeSet;

use chrono::NaiveDate;

use crate::campaign::run_id;
use crate::error::Result;
use crate::keys;
use crate::kv::KvStore;

use super::claim;

/// Keys removed per store call.
const KEYS_PER_DELETE: usize = 500;

/// Delete every batch record of campaign `campaign_id` (and of each run of a recurring one, its last
/// run being `last_run`), then its cursor; returns how many batches it had. Call it only for a campaign
/// no tick works on (see [`crate::campaign::deletable`]).
///
/// # Errors
/// Store failures; what was deleted before one stays deleted, and calling it again finishes the job.
pub fn delete_ledger<S: KvStore + ?Sized>(
    store: &S,
    campaign_id: &str,
    last_run: Option<NaiveDate>,
) -> Result<u64> {
    let cursor = claim::cursor(store, campaign_id)?;
    let run_dates: BTreeSet<NaiveDate> =
        cursor.runs.iter().map(|r| r.date).chain(last_run).collect();
    let mut batches = 0;
    for date in run_dates {
        batches += delete_batches(store, &run_id(campaign_id, date))?;
    }
    Ok(batches + delete_batches(store, campaign_id)?)
}

/// Delete the batch records and the cursor kept under `ledger_id`; returns how many batches it had.
fn delete_batches<S: KvStore + ?Sized>(store: &S, ledger_id: &str) -> Result<u64> {
    let campaign_id = ledger_id;
    let cursor = claim::cursor(store, campaign_id)?;
    // One past the cursor as well: a batch whose creator died before it moved the cursor.
    let batch_keys: Vec<String> = (0..=cursor.next_batch)
        .map(|n| keys::delivery_batch(campaign_id, n))
        .collect();
    for chunk in batch_keys.chunks(KEYS_PER_DELETE) {
        store.delete_many(chunk)?;
    }
    store.delete(&keys::campaign_cursor(campaign_id))?;
    Ok(cursor.next_batch)
}
