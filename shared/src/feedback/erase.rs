//! Erasing what a subscriber wrote or pressed: the records in their own feedback log, and those under
//! keys that name a campaign and them (their rating and first reply of each campaign), are deleted, so
//! campaign exports skip them; campaign counters keep their (anonymous) totals.

use crate::error::Result;
use crate::index::{Index, PAGE_SIZE};
use crate::keys;
use crate::kv::KvStore;
use crate::subscriber::SubscriberId;

use super::record::FeedbackRecord;

/// Delete every reply, press and rating record of `subscriber` (and their A/B holdout reference);
/// returns how many records were deleted.
///
/// # Errors
/// Store failure.
pub fn erase_subscriber_feedback<S: KvStore + ?Sized>(
    store: &S,
    subscriber: &SubscriberId,
) -> Result<usize> {
    let log_name = keys::subscriber_feedback_log(subscriber);
    let record_keys = Index::named(&log_name).take_all(store)?;
    let mut record_keys = record_keys;
    // Every campaign ever created stays in the campaign index: their ratings and first replies.
    let mut from = 0;
    let end = Index::CAMPAIGNS.len(store)?;
    while from < end {
        let (campaigns, next) = Index::CAMPAIGNS.read_from(store, from)?;
        for (_, campaign_id) in campaigns {
            record_keys.push(keys::rating(&campaign_id, subscriber));
            record_keys.push(keys::campaign_replies_of(&campaign_id, subscriber));
        }
        from = next;
    }
    record_keys.sort();
    record_keys.dedup();
    let mut records = Vec::with_capacity(record_keys.len());
    for chunk in record_keys.chunks(PAGE_SIZE as usize) {
        for (_, value) in store.get_many(chunk)? {
            // A first-reply key written before records were kept there holds a number: not a record.
            records.push(
                value.and_then(|bytes| serde_json::from_slice::<FeedbackRecord>(&bytes).ok()),
            );
        }
    }
    let mut doomed: Vec<String> = record_keys
        .iter()
        .zip(&records)
        .filter(|(_, r)| r.is_some())
        .map(|(k, _)| k.clone())
        .collect();
    let erased = doomed.len();
    // The per-campaign "has replied" markers carry the subscriber id in their key.
    for record in records.iter().flatten() {
        if let FeedbackRecord::Reply(reply) = record {
            if let Some(campaign_id) = &reply.campaign_id {
                doomed.push(keys::campaign_replies_of(campaign_id, subscriber));
            }
        }
    }
    // The holdout reference names them too.
    doomed.push(keys::held_out(subscriber));
    doomed.sort();
    doomed.dedup();
    store.delete_many(&doomed)?;
    Ok(erased)
}
