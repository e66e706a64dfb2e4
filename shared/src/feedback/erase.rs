//! Erasing what a subscriber wrote or pressed: the records in their own feedback log are deleted, so
//! campaign exports skip them; campaign counters keep their (anonymous) totals.

use crate::error::Result;
use crate::index::Index;
use crate::keys;
use crate::kv::{self, KvStore};
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
    let records: Vec<Option<FeedbackRecord>> = kv::get_many_json(store, &record_keys)?;
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
