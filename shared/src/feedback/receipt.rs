//! Delivery and read receipts: one record per message, changed by compare-and-swap, credited to its
//! campaign once the dispatcher's [`SentMessageRef`] is known — whichever of the two arrives first.
//!
//! Why no credit is lost when a receipt races the dispatcher: the intake writes the receipt record and
//! then looks for the reference; the dispatcher writes the reference and then looks for receipt records
//! ([`credit_early_receipts`]). Whichever looks second sees the other's write, and the credit flags in
//! the record make sure that, if both see it, only one credits it.

use chrono::{DateTime, Utc};

use super::effects::Effects;
use super::intake::EventOutcome;
use super::platform_of;
use super::record::{FeedbackRecord, ReceiptCredits, ReceiptRecord};
use super::stats::REPORTED_FAILED;
use crate::error::{Error, Result};
use crate::event::{counter, PlatformError, ReceiptStatus, SentMessageRef};
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

fn not_a_receipt(key: &str) -> Error {
    Error::internal(format!("record '{key}' is not a receipt record"))
}

/// Merge one status into the message's receipt record and credit what became due. `read` is the
/// record as the batch read it, if it did (a stale one only costs the compare-and-swap a retry).
pub(crate) fn apply_status<S: KvStore + ?Sized>(
    store: &S,
    report: &StatusReport<'_>,
    read: Option<Option<Vec<u8>>>,
    sent: Option<&SentMessageRef>,
    effects: &mut Effects,
) -> Result<EventOutcome> {
    let key = keys::receipt(report.platform.as_str(), report.message_id);
    let current = match read {
        Some(current) => current,
        None => store.get(&key)?,
    };
    let (record, news, due) =
        kv::update_json_from(store, &key, current, |current: Option<FeedbackRecord>| {
            let (mut record, news) = match current {
                None => (
                    ReceiptRecord::new(
                        report.platform,
                        report.message_id,
                        report.status,
                        report.at,
                        report.error,
                    ),
                    true,
                ),
                Some(FeedbackRecord::Receipt(mut record)) => {
                    let news = record.observe(report.status, report.at, report.error);
                    (record, news)
                }
                Some(_) => return Err(not_a_receipt(&key)),
            };
            let attributed = sent.is_some_and(|sent| record.attribute(sent));
            let due = record.take_due_credits();
            let write =
                (news || attributed || due.any()).then(|| FeedbackRecord::Receipt(record.clone()));
            Ok((write, (record, news, due)))
        })?;
    credit(&key, &record, due, effects);
    let mut record = record;
    if record.campaign_id.is_none() {
        // The dispatcher may have recorded the message since we looked: look again (see module docs).
        let reference = keys::platform_message(report.platform.as_str(), report.message_id);
        if let Some(sent) = read_reference(store, &reference)? {
            if let Some(attributed) = attribute(store, &key, &sent, effects)? {
                record = attributed;
            }
        }
    }
    if !news {
        return Ok(EventOutcome::Duplicate);
    }
    Ok(EventOutcome::Receipt {
        message_id: record.message_id,
        status: record.status,
        campaign_id: record.campaign_id,
    })
}

/// A stored [`SentMessageRef`]; a record that does not decode counts as absent, so one corrupt record
/// cannot make a platform redeliver a webhook forever.
pub(crate) fn read_reference<S: KvStore + ?Sized>(
    store: &S,
    key: &str,
) -> Result<Option<SentMessageRef>> {
    Ok(store
        .get(key)?
        .and_then(|bytes| serde_json::from_slice(&bytes).ok()))
}

/// Credit an existing receipt record to the campaign of `sent`; `None` when there is no record.
fn attribute<S: KvStore + ?Sized>(
    store: &S,
    key: &str,
    sent: &SentMessageRef,
    effects: &mut Effects,
) -> Result<Option<ReceiptRecord>> {
    let outcome = kv::update_json(store, key, |current: Option<FeedbackRecord>| {
        let mut record = match current {
            None => return Ok((None, None)),
            Some(FeedbackRecord::Receipt(record)) => record,
            Some(_) => return Err(not_a_receipt(key)),
        };
        let attributed = record.attribute(sent);
        let due = record.take_due_credits();
        let write = (attributed || due.any()).then(|| FeedbackRecord::Receipt(record.clone()));
        Ok((write, Some((record, due))))
    })?;
    Ok(outcome.map(|(record, due)| {
        credit(key, &record, due, effects);
        record
    }))
}

fn credit(key: &str, record: &ReceiptRecord, due: ReceiptCredits, effects: &mut Effects) {
    let Some(campaign_id) = record.campaign_id.as_deref() else {
        return;
    };
    let arm = record.arm.as_deref();
    if due.delivered {
        effects.count_in_arm(campaign_id, arm, counter::DELIVERED, 1);
    }
    if due.read {
        effects.count_in_arm(campaign_id, arm, counter::READ, 1);
    }
    if due.failed {
        effects.count_in_arm(campaign_id, arm, REPORTED_FAILED, 1);
    }
    if due.logged {
        effects.log(Some(campaign_id), key.to_owned());
    }
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
    let receipt_keys: Vec<(String, &SentMessageRef)> = sent
        .iter()
        .filter_map(|sent| {
            let platform = platform_of(&sent.subscriber)?;
            Some((keys::receipt(platform.as_str(), &sent.message_id), sent))
        })
        .collect();
    if receipt_keys.is_empty() {
        return Ok(());
    }
    let lookup: Vec<String> = receipt_keys.iter().map(|(key, _)| key.clone()).collect();
    let found = store.get_many(&lookup)?;
    let mut effects = Effects::default();
    let mut outcome = Ok(());
    for ((key, sent), (_, value)) in receipt_keys.iter().zip(found) {
        if value.is_some() {
            outcome = attribute(store, key, sent, &mut effects).map(|_| ());
            if outcome.is_err() {
                break;
            }
        }
    }
    // Credits already taken in records must reach the counters even when a later record failed.
    effects.flush(store)?;
    outcome
}
