//! Delivery and read receipts: one record per message, credited to its campaign once the dispatcher's
//! [`SentMessageRef`] is known — whichever of the two arrives first.
//!
//! A batch of statuses is applied in a constant number of store round trips, whatever its size: the
//! records are read with the batch's references; a status its record has seen already is a duplicate
//! and costs nothing more; the rest are merged under the receipt lease ([`super::lease`]): one batch read
//! of their records and of their campaigns' receipt counters, the merge in memory, and one batch write
//! of the changed records, the counters and the lease given back. The credit flags in each record and the
//! counters that count them are written together, so a request that dies leaves both or neither: the
//! platform's redelivery completes exactly what was missing and counts nothing twice. (The feedback-log
//! entries follow the batch write; a request dying between the two leaves a receipt out of the export,
//! never in it twice.)
//!
//! Why no credit is lost when a receipt races the dispatcher: the intake writes the receipt record and
//! then looks for the reference; the dispatcher writes the reference and then looks for receipt records
//! ([`credit_early_receipts`]). Whichever looks second sees the other's write, and the lease with the
//! credit flags in the record make sure that, if both see it, only one credits it.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::effects::Effects;
use super::intake::EventOutcome;
use super::lease::HeldLease;
use super::platform_of;
use super::record::{FeedbackRecord, ReceiptCredits, ReceiptRecord};
use crate::error::{Error, Result};
use crate::event::{PlatformError, ReceiptStatus, SentMessageRef};
use crate::keys;
use crate::kv::{self, KvStore};
use crate::subscriber::Platform;

/// A reported status, validated.
pub(crate) struct StatusReport<'a> {
    pub platform: Platform,
    pub message_id: &'a str,
    pub status: ReceiptStatus,
    pub at: DateTime<Utc>,
    pub error: Option<&'a PlatformError>,
}

/// A status as merged into a record.
#[derive(Debug, Clone)]
pub(crate) struct Reported {
    pub status: ReceiptStatus,
    pub at: DateTime<Utc>,
    pub error: Option<PlatformError>,
}

/// One change to a message's receipt record: a reported status, the dispatcher's reference, or both.
#[derive(Debug, Clone)]
pub(crate) struct ReceiptChange {
    pub platform: Platform,
    pub message_id: String,
    pub reported: Option<Reported>,
    pub sent: Option<SentMessageRef>,
}

impl ReceiptChange {
    /// The change a reported status makes, with the reference of its message when it is known.
    pub(crate) fn status(report: &StatusReport<'_>, sent: Option<&SentMessageRef>) -> Self {
        ReceiptChange {
            platform: report.platform,
            message_id: report.message_id.to_owned(),
            reported: Some(Reported {
                status: report.status,
                at: report.at,
                error: report.error.cloned(),
            }),
            sent: sent.cloned(),
        }
    }

    fn key(&self) -> String {
        keys::receipt(self.platform.as_str(), &self.message_id)
    }

    /// Whether `record` (as stored) already holds everything this change would bring.
    fn is_in(&self, record: Option<&ReceiptRecord>) -> bool {
        let Some(record) = record else {
            return false;
        };
        let seen = self
            .reported
            .as_ref()
            .is_none_or(|reported| record.has_seen(reported.status));
        seen && (record.campaign_id.is_some() || self.sent.is_none())
    }
}

/// The receipt counts of one campaign, or of one A/B arm of it.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptTally {
    /// Messages that reached the device (delivered or read).
    #[serde(default)]
    pub delivered: i64,
    /// Messages read.
    #[serde(default)]
    pub read: i64,
    /// Messages the platform accepted and later reported failed.
    #[serde(default)]
    pub reported_failed: i64,
}

impl ReceiptTally {
    fn add(&mut self, due: ReceiptCredits) {
        self.delivered += i64::from(due.delivered);
        self.read += i64::from(due.read);
        self.reported_failed += i64::from(due.failed);
    }
}

/// A campaign's receipt counters ([`keys::receipt_counters`]), written with the receipt records they
/// count (and only under the receipt lease).
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptCounters {
    /// The whole campaign's.
    #[serde(default)]
    pub totals: ReceiptTally,
    /// Each A/B arm's.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub arms: BTreeMap<String, ReceiptTally>,
}

impl ReceiptCounters {
    fn count(&mut self, arm: Option<&str>, due: ReceiptCredits) {
        self.totals.add(due);
        if let Some(arm) = arm {
            self.arms.entry(arm.to_owned()).or_default().add(due);
        }
    }

    /// A campaign's receipt counters as stored (zero when none).
    ///
    /// # Errors
    /// Store failure, or a record that does not decode.
    pub fn read<S: KvStore + ?Sized>(store: &S, campaign_id: &str) -> Result<Self> {
        Ok(kv::get_json(store, &keys::receipt_counters(campaign_id))?.unwrap_or_default())
    }
}

fn not_a_receipt(key: &str) -> Error {
    Error::internal(format!("record '{key}' is not a receipt record"))
}

fn decode_receipt(key: &str, bytes: &[u8]) -> Result<ReceiptRecord> {
    match kv::decode::<FeedbackRecord>(key, bytes)? {
        FeedbackRecord::Receipt(record) => Ok(record),
        _ => Err(not_a_receipt(key)),
    }
}

/// Apply `changes` in order, and say for each what became of its status: [`EventOutcome::Receipt`] when
/// it is news, [`EventOutcome::Duplicate`] when its record had seen it (a change without a status is a
/// duplicate too). `read` holds receipt records as read earlier in the request: a change they show
/// applied already costs nothing more. Log entries go to `effects`.
///
/// # Errors
/// Store failure, a record that is not a receipt record, or 409 `receipts_busy` when the lease stays
/// taken (the platform redelivers). Nothing of the batch is written then, or all of it.
pub(crate) fn apply_receipts<S: KvStore + ?Sized>(
    store: &S,
    changes: &[ReceiptChange],
    read: &HashMap<String, Option<Vec<u8>>>,
    effects: &mut Effects,
) -> Result<Vec<EventOutcome>> {
    let mut outcomes = vec![EventOutcome::Duplicate; changes.len()];
    let mut pending = Vec::new();
    for (index, change) in changes.iter().enumerate() {
        let key = change.key();
        let applied = match read.get(&key) {
            Some(Some(bytes)) => change.is_in(Some(&decode_receipt(&key, bytes)?)),
            // Read as absent: a status makes a record, a reference alone has nothing to credit.
            Some(None) => change.reported.is_none(),
            None => false,
        };
        if !applied {
            pending.push(index);
        }
    }
    if pending.is_empty() {
        return Ok(outcomes);
    }
    let lease = HeldLease::acquire(store)?;
    let merged = match merge_under_lease(store, changes, &pending, &lease) {
        Ok(merged) => merged,
        Err(err) => {
            // Nothing was written; give the lease back rather than have receipts wait for it to run out.
            let _ = lease.release(store);
            return Err(err);
        }
    };
    for (index, outcome) in merged.outcomes {
        outcomes[index] = outcome;
    }
    for (campaign_id, key) in merged.to_log {
        effects.log(Some(&campaign_id), key);
    }
    if !merged.unattributed.is_empty() {
        // The dispatcher may have recorded these messages since they were read (see module docs).
        let references: Vec<String> = merged
            .unattributed
            .iter()
            .map(|(platform, message_id)| keys::platform_message(platform.as_str(), message_id))
            .collect();
        let found: Vec<ReceiptChange> = store
            .get_many(&references)?
            .into_iter()
            .zip(merged.unattributed)
            .filter_map(|((_, value), (platform, message_id))| {
                let sent = value.and_then(|bytes| serde_json::from_slice(&bytes).ok())?;
                Some(ReceiptChange {
                    platform,
                    message_id,
                    reported: None,
                    sent: Some(sent),
                })
            })
            .collect();
        if !found.is_empty() {
            apply_receipts(store, &found, &HashMap::new(), effects)?;
        }
    }
    Ok(outcomes)
}

/// What a merge under the lease did.
struct Merged {
    /// The outcome of each change merged, by its index.
    outcomes: Vec<(usize, EventOutcome)>,
    /// Receipt records credited for the first time, to append to their campaign's feedback log.
    to_log: Vec<(String, String)>,
    /// Messages whose records were written without a campaign.
    unattributed: Vec<(Platform, String)>,
}

fn merge_under_lease<S: KvStore + ?Sized>(
    store: &S,
    changes: &[ReceiptChange],
    pending: &[usize],
    lease: &HeldLease,
) -> Result<Merged> {
    let mut record_keys: Vec<String> = pending.iter().map(|&i| changes[i].key()).collect();
    record_keys.sort_unstable();
    record_keys.dedup();
    let campaigns: HashSet<String> = pending
        .iter()
        .filter_map(|&i| changes[i].sent.as_ref().map(|s| s.campaign_id.clone()))
        .collect();
    let mut wanted = record_keys.clone();
    wanted.extend(campaigns.iter().map(|c| keys::receipt_counters(c)));
    let mut records: HashMap<String, Option<ReceiptRecord>> = HashMap::new();
    let mut counters: HashMap<String, ReceiptCounters> = HashMap::new();
    let mut counter_keys: HashMap<String, String> = campaigns
        .iter()
        .map(|c| (keys::receipt_counters(c), c.clone()))
        .collect();
    for (key, value) in store.get_many(&wanted)? {
        if let Some(campaign_id) = counter_keys.remove(&key) {
            let tally = value.map(|b| kv::decode(&key, &b)).transpose()?;
            counters.insert(campaign_id, tally.unwrap_or_default());
        } else {
            let record = value.map(|b| decode_receipt(&key, &b)).transpose()?;
            records.insert(key, record);
        }
    }

    let mut merged = Merged {
        outcomes: Vec::with_capacity(pending.len()),
        to_log: Vec::new(),
        unattributed: Vec::new(),
    };
    let mut dirty = HashSet::new();
    let mut credits: Vec<(String, Option<String>, ReceiptCredits)> = Vec::new();
    for &index in pending {
        let change = &changes[index];
        let key = change.key();
        let slot = records.entry(key.clone()).or_default();
        let news = match (slot.as_mut(), &change.reported) {
            (_, None) => false,
            (None, Some(r)) => {
                *slot = Some(ReceiptRecord::new(
                    change.platform,
                    &change.message_id,
                    r.status,
                    r.at,
                    r.error.as_ref(),
                ));
                true
            }
            (Some(record), Some(r)) => record.observe(r.status, r.at, r.error.as_ref()),
        };
        let outcome = match slot.as_mut() {
            None => EventOutcome::Duplicate,
            Some(record) => {
                let attributed = change.sent.as_ref().is_some_and(|s| record.attribute(s));
                let due = record.take_due_credits();
                if news || attributed || due.any() {
                    dirty.insert(key.clone());
                }
                if let (Some(campaign_id), true) = (record.campaign_id.clone(), due.any()) {
                    if due.logged {
                        merged.to_log.push((campaign_id.clone(), key.clone()));
                    }
                    credits.push((campaign_id, record.arm.clone(), due));
                }
                if news {
                    EventOutcome::Receipt {
                        message_id: record.message_id.clone(),
                        status: record.status,
                        campaign_id: record.campaign_id.clone(),
                    }
                } else {
                    EventOutcome::Duplicate
                }
            }
        };
        merged.outcomes.push((index, outcome));
    }

    // A record credited to a campaign its change did not name (attributed before this batch) needs that
    // campaign's counters too.
    let missing: Vec<String> = credits
        .iter()
        .map(|(campaign_id, _, _)| campaign_id.clone())
        .filter(|campaign_id| !counters.contains_key(campaign_id))
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    if !missing.is_empty() {
        let missing_keys: Vec<String> = missing.iter().map(|c| keys::receipt_counters(c)).collect();
        for ((key, value), campaign_id) in store.get_many(&missing_keys)?.into_iter().zip(missing) {
            let tally = value.map(|b| kv::decode(&key, &b)).transpose()?;
            counters.insert(campaign_id, tally.unwrap_or_default());
        }
    }
    let mut counted = HashSet::new();
    for (campaign_id, arm, due) in &credits {
        if let Some(campaign_counters) = counters.get_mut(campaign_id) {
            campaign_counters.count(arm.as_deref(), *due);
            counted.insert(campaign_id.clone());
        }
    }

    let mut writes: Vec<(String, Vec<u8>)> = Vec::with_capacity(dirty.len() + counted.len() + 1);
    for key in record_keys.iter().filter(|key| dirty.contains(*key)) {
        if let Some(Some(record)) = records.get(key) {
            if record.campaign_id.is_none() {
                merged
                    .unattributed
                    .push((record.platform, record.message_id.clone()));
            }
            writes.push((
                key.clone(),
                kv::encode(&FeedbackRecord::Receipt(record.clone())),
            ));
        }
    }
    let mut counted: Vec<String> = counted.into_iter().collect();
    counted.sort_unstable();
    for campaign_id in counted {
        if let Some(campaign_counters) = counters.get(&campaign_id) {
            writes.push((
                keys::receipt_counters(&campaign_id),
                kv::encode(campaign_counters),
            ));
        }
    }
    // The records, the counters that count their credits and the lease given back: one write, all or
    // nothing.
    writes.push(lease.release_entry());
    store.set_many(&writes)?;
    Ok(merged)
}

/// Credit receipts that arrived before the dispatcher recorded their messages. The dispatcher calls it
/// right after writing the [`SentMessageRef`]s of a batch; it costs one `get_many` when (as usual) no
/// receipt came early, and each early receipt is credited exactly once however often this runs.
///
/// # Errors
/// Store failure.
pub fn credit_early_receipts<S: KvStore + ?Sized>(
    store: &S,
    sent: &[SentMessageRef],
) -> Result<()> {
    let changes: Vec<ReceiptChange> = sent
        .iter()
        .filter_map(|sent| {
            Some(ReceiptChange {
                platform: platform_of(&sent.subscriber)?,
                message_id: sent.message_id.clone(),
                reported: None,
                sent: Some(sent.clone()),
            })
        })
        .collect();
    if changes.is_empty() {
        return Ok(());
    }
    let lookup: Vec<String> = changes.iter().map(ReceiptChange::key).collect();
    let read: HashMap<String, Option<Vec<u8>>> = store.get_many(&lookup)?.into_iter().collect();
    let mut effects = Effects::default();
    let outcome = apply_receipts(store, &changes, &read, &mut effects);
    // Log entries of records already written must reach the log even when a later step failed.
    effects.flush(store)?;
    outcome.map(|_| ())
}
