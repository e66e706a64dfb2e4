//! Claiming work: walking the audience into a new batch, and taking over a batch whose lease lapsed.
//!
//! A new batch is claimed in two compare-and-swap steps: first the batch record `n` is created (only
//! one tick can create it), then the cursor moves past it. A tick that finds batch `n` already written
//! but the cursor not yet moved (its creator died in between) moves the cursor itself, so no range of
//! the audience is ever lost or claimed twice.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::campaign::{Campaign, Recipients};
use crate::directory::StoredSubscriber;
use crate::error::Result;
use crate::index::Index;
use crate::keys;
use crate::kv::{self, CasOutcome, KvStore};
use crate::subscriber::{Subscriber, SubscriberId};

use super::ledger::{
    Cursor, DeliveryBatch, DeliveryEntry, DeliveryState, Lease, Tally, OUTCOME_UNKNOWN,
};
use super::runs;

/// How many times a claim retries after losing a race.
const CLAIM_ATTEMPTS: usize = 16;

/// The recipients found by one walk of the audience.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Walk {
    /// Recipients, in index order.
    pub recipients: Vec<SubscriberId>,
    /// Where the next walk starts.
    pub end: u64,
    /// Positions examined.
    pub scanned: u64,
    /// The end of the index was reached.
    pub exhausted: bool,
}

/// Walk the subscriber index from `from`, collecting up to `limit` of `recipients`, reading at most
/// `max_pages` index pages (so a sparse audience cannot make one step unbounded). Every filter is
/// judged on each record read: the walk is a scan of the index, `scanned` says how far.
///
/// # Errors
/// Store failures or corrupt records.
pub fn walk_audience<S: KvStore + ?Sized>(
    store: &S,
    recipients: &Recipients<'_>,
    from: u64,
    limit: usize,
    max_pages: u64,
) -> Result<Walk> {
    let len = Index::SUBSCRIBERS.len(store)?;
    let mut found = Vec::new();
    let mut position = from;
    let mut scanned = 0;
    let mut pages = 0;
    while position < len && found.len() < limit && pages < max_pages {
        let (records, next_page) = read_index_page(store, position)?;
        pages += 1;
        position = next_page;
        for (entry_position, record) in records {
            if found.len() == limit {
                position = entry_position;
                break;
            }
            scanned += 1;
            if let Some(subscriber) = record.filter(|s| recipients.includes(s)) {
                found.push(subscriber.id);
            }
        }
    }
    Ok(Walk {
        recipients: found,
        end: position,
        scanned,
        exhausted: position >= len,
    })
}

/// A subscriber index position and the record it names (see [`read_index_page`]).
pub type IndexedRecord = (u64, Option<Subscriber>);

/// The page of the subscriber index holding `position`, from there: each entry's position with its
/// record — `None` when the record is gone, or when the entry is a duplicate left by two concurrent
/// first sightings (the record names another position), so no one is read twice — and where the next
/// page starts.
///
/// # Errors
/// Store failures or corrupt records.
pub fn read_index_page<S: KvStore + ?Sized>(
    store: &S,
    position: u64,
) -> Result<(Vec<IndexedRecord>, u64)> {
    let (entries, next_page) = Index::SUBSCRIBERS.read_from(store, position)?;
    // Index entries are subscriber ids as written by the directory; one that does not parse is skipped.
    let ids: Vec<Option<SubscriberId>> = entries
        .iter()
        .map(|(_, id)| SubscriberId::parse(id).ok())
        .collect();
    let keys: Vec<String> = ids.iter().flatten().map(keys::subscriber).collect();
    let mut found = kv::get_many_json::<_, StoredSubscriber>(store, &keys)?.into_iter();
    let records = entries
        .iter()
        .zip(&ids)
        .map(|((entry_position, _), id)| {
            let record = id.as_ref().and_then(|_| found.next().flatten());
            let record = record
                .filter(|r| r.index_position == Some(*entry_position))
                .map(|r| r.subscriber);
            (*entry_position, record)
        })
        .collect();
    Ok((records, next_page))
}

/// The cursor of a campaign (an empty one before the first claim).
///
/// # Errors
/// Store failures.
pub fn cursor<S: KvStore + ?Sized>(store: &S, campaign_id: &str) -> Result<Cursor> {
    Ok(kv::get_json(store, &keys::campaign_cursor(campaign_id))?.unwrap_or_default())
}

/// Claim the next range of the audience as a new batch leased to `owner`. Returns the batch, or `None`
/// when the audience is exhausted. A range without recipients is recorded as an empty, finished batch
/// and the walk goes on (within the attempt bound).
///
/// # Errors
/// Store failures.
pub fn claim_new_batch<S: KvStore + ?Sized>(
    store: &S,
    campaign: &Campaign,
    lease: &Lease,
    now: DateTime<Utc>,
    batch_size: usize,
    max_pages: u64,
) -> Result<Option<DeliveryBatch>> {
    let ledger_id = campaign.ledger_id();
    let campaign_id = ledger_id.as_str();
    for _ in 0..CLAIM_ATTEMPTS {
        let current = cursor(store, campaign_id)?;
        if current.exhausted {
            return Ok(None);
        }
        let number = current.next_batch;
        let key = keys::delivery_batch(campaign_id, number);
        if let Some(existing) = kv::get_json::<_, DeliveryBatch>(store, &key)? {
            advance_cursor(store, &existing)?;
            continue;
        }
        let walk = walk_audience(
            store,
            &campaign.recipients_at(campaign.audience_frozen_at(now)),
            current.next_position,
            batch_size,
            max_pages,
        )?;
        // A recurring run leaves out whom the campaign sent within its once-per-days.
        let recipients = runs::not_sent_recently(store, campaign, walk.recipients)?;
        let empty = recipients.is_empty();
        let batch = DeliveryBatch {
            campaign_id: campaign_id.to_owned(),
            batch: number,
            from_position: current.next_position,
            to_position: walk.end,
            scanned: walk.scanned,
            exhausted_after: walk.exhausted,
            // The arm is recorded as the recipient is claimed: what the ledger says is what they get.
            entries: recipients
                .into_iter()
                .map(|id| {
                    let arm = campaign.arm_of(&id).map(|arm| arm.name().to_owned());
                    DeliveryEntry::pending(id).in_arm(arm.as_deref())
                })
                .collect(),
            lease: (!empty).then(|| lease.clone()),
            created_at: now,
            finished_at: empty.then_some(now),
        };
        match store.compare_and_swap(&key, None, &kv::encode(&batch))? {
            CasOutcome::Swapped => {
                advance_cursor(store, &batch)?;
                if !empty {
                    return Ok(Some(batch));
                }
            }
            // Another tick created batch `number` first; the next round moves past it.
            CasOutcome::Conflict(_) => {}
        }
    }
    Ok(None)
}

/// Move the cursor past `batch` if it has not moved yet.
fn advance_cursor<S: KvStore + ?Sized>(store: &S, batch: &DeliveryBatch) -> Result<()> {
    kv::update_json(
        store,
        &keys::campaign_cursor(&batch.campaign_id),
        |current: Option<Cursor>| {
            let mut cursor = current.unwrap_or_default();
            if cursor.next_batch != batch.batch {
                return Ok((None, ()));
            }
            cursor.next_batch = batch.batch + 1;
            cursor.next_position = batch.to_position;
            cursor.exhausted = batch.exhausted_after;
            cursor.scanned += batch.scanned;
            cursor.claimed += batch.entries.len() as u64;
            if !batch.entries.is_empty() {
                cursor.open_batches.insert(batch.batch);
            }
            Ok((Some(cursor), ()))
        },
    )
}

/// Remove a finished batch from the cursor's open set, adding its final states to the cursor's
/// `counted` totals in the same write: a batch is counted exactly once, whichever tick closes it and
/// however often. A batch that is not finished stays open. Returns the batch record as it was read.
///
/// # Errors
/// Store failures.
pub fn close_batch<S: KvStore + ?Sized>(
    store: &S,
    campaign_id: &str,
    batch: u64,
) -> Result<Option<DeliveryBatch>> {
    let record: Option<DeliveryBatch> =
        kv::get_json(store, &keys::delivery_batch(campaign_id, batch))?;
    match &record {
        Some(finished) if finished.finished_at.is_some() => {
            close_finished(store, campaign_id, finished)?;
        }
        Some(_) => {}
        // The record is gone: there is nothing left to count.
        None => close(store, campaign_id, batch, Tally::default(), BTreeMap::new())?,
    }
    Ok(record)
}

/// [`close_batch`] for a batch record known to be finished (as its finishing write left it).
///
/// # Errors
/// Store failures.
pub fn close_finished<S: KvStore + ?Sized>(
    store: &S,
    campaign_id: &str,
    finished: &DeliveryBatch,
) -> Result<()> {
    // Final states never change, so the tally of a finished batch is settled.
    let tally = Tally::of(&finished.entries);
    let by_arm = Tally::by_arm(&finished.entries);
    close(store, campaign_id, finished.batch, tally, by_arm)
}

/// Remove batch `batch` from the open set, adding `tally` to the counted totals in the same write.
fn close<S: KvStore + ?Sized>(
    store: &S,
    campaign_id: &str,
    batch: u64,
    tally: Tally,
    by_arm: BTreeMap<String, Tally>,
) -> Result<()> {
    kv::update_json(
        store,
        &keys::campaign_cursor(campaign_id),
        |current: Option<Cursor>| {
            let mut cursor = current.unwrap_or_default();
            if !cursor.open_batches.remove(&batch) {
                return Ok((None, ()));
            }
            cursor.counted.add(&tally);
            Tally::add_by_arm(&mut cursor.counted_by_arm, &by_arm);
            Ok((Some(cursor), ()))
        },
    )
}

/// Move the cursor past a batch written by a tick that died before moving it (only a claim would
/// otherwise, and a cancelled campaign claims nothing), so the batch is opened and can be finalised.
///
/// # Errors
/// Store failures.
pub fn adopt_orphan<S: KvStore + ?Sized>(store: &S, campaign_id: &str) -> Result<()> {
    for _ in 0..CLAIM_ATTEMPTS {
        let current = cursor(store, campaign_id)?;
        if current.exhausted {
            return Ok(());
        }
        let key = keys::delivery_batch(campaign_id, current.next_batch);
        let Some(orphan) = kv::get_json::<_, DeliveryBatch>(store, &key)? else {
            return Ok(());
        };
        advance_cursor(store, &orphan)?;
    }
    Ok(())
}

/// What taking over a batch found.
#[derive(Debug)]
pub enum Takeover {
    /// The batch is ours now; `finalised` entries (in flight at a crash) were closed as failed
    /// `outcome_unknown` in the same write and must be counted.
    Taken {
        /// The batch as written.
        batch: DeliveryBatch,
        /// Indexes of entries finalised by the takeover.
        finalised: Vec<usize>,
    },
    /// Another tick holds it, or it has nothing to do now.
    Busy,
    /// It is finished (the cursor's open set was stale, or every entry was final and this call marked
    /// it finished): the caller closes it.
    Finished,
}

/// Take over batch `number` if no live lease holds it and it has work: either entries in flight at a
/// crash (closed here as failed `outcome_unknown`), entries ready to send, or — for a cancelled
/// campaign — any entry still open. A batch whose entries are all final but which was never marked
/// finished (its tick died between the last outcome and `finish`) is marked finished here.
///
/// Entries in flight are never re-sent: the Bot API has no idempotency key, so a message whose answer
/// was lost may well have been delivered, and a second copy is worse than a recorded unknown.
///
/// # Errors
/// Store failures.
pub fn take_over<S: KvStore + ?Sized>(
    store: &S,
    campaign_id: &str,
    number: u64,
    lease: &Lease,
    now: DateTime<Utc>,
    cancelled: bool,
) -> Result<Takeover> {
    kv::update_json(
        store,
        &keys::delivery_batch(campaign_id, number),
        |current: Option<DeliveryBatch>| {
            let Some(mut batch) = current else {
                return Ok((None, Takeover::Finished));
            };
            if batch.finished_at.is_some() {
                return Ok((None, Takeover::Finished));
            }
            if batch.is_leased_by_other(&lease.owner, now) {
                return Ok((None, Takeover::Busy));
            }
            if batch.open_entries() == 0 {
                batch.finish(now);
                return Ok((Some(batch), Takeover::Finished));
            }
            let crashed = batch
                .entries
                .iter()
                .any(|e| e.outcome == DeliveryState::InFlight);
            let ready = batch.entries.iter().any(|e| e.is_ready(now));
            // Some entry is open here: a cancelled campaign's batch always has work (skipping it).
            if !(crashed || ready || cancelled) {
                return Ok((None, Takeover::Busy));
            }
            let mut finalised = Vec::new();
            for (i, entry) in batch.entries.iter_mut().enumerate() {
                if entry.outcome == DeliveryState::InFlight {
                    entry.outcome = DeliveryState::Failed {
                    code: OUTCOME_UNKNOWN.into(),
                    reason: "a tick stopped after handing the message to the platform and before recording the answer; not re-sent to avoid a duplicate".into(),
                };
                    entry.finished_at = Some(now);
                    finalised.push(i);
                }
            }
            batch.lease = Some(lease.clone());
            Ok((Some(batch.clone()), Takeover::Taken { batch, finalised }))
        },
    )
}
