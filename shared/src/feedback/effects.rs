//! The shared writes that follow from new records (counter increments and feedback-log appends),
//! gathered over a batch of events so that each counter is incremented and each log appended once per
//! batch rather than once per event.

use std::collections::BTreeMap;

use crate::error::Result;
use crate::index::Index;
use crate::keys;
use crate::kv::KvStore;
use crate::subscriber::SubscriberId;

/// Pending counter deltas and log appends.
#[derive(Debug, Default)]
pub(crate) struct Effects {
    /// Deltas by counter key.
    counters: BTreeMap<String, i64>,
    logs: BTreeMap<String, Vec<String>>,
}

impl Effects {
    /// Add `delta` to a campaign counter.
    pub(crate) fn count(&mut self, campaign_id: &str, counter: &'static str, delta: i64) {
        *self
            .counters
            .entry(keys::campaign_counter(campaign_id, counter))
            .or_default() += delta;
    }

    /// Add `delta` to a campaign counter and, for a recipient in an A/B arm, to the arm's counter.
    pub(crate) fn count_in_arm(
        &mut self,
        campaign_id: &str,
        arm: Option<&str>,
        counter: &'static str,
        delta: i64,
    ) {
        self.count(campaign_id, counter, delta);
        if let Some(arm) = arm {
            self.count_arm(campaign_id, arm, counter, delta);
        }
    }

    /// Add `delta` to the counter of one A/B arm only.
    pub(crate) fn count_arm(
        &mut self,
        campaign_id: &str,
        arm: &str,
        counter: &'static str,
        delta: i64,
    ) {
        *self
            .counters
            .entry(keys::campaign_arm_counter(campaign_id, arm, counter))
            .or_default() += delta;
    }

    /// Append a record key to a campaign's feedback log (`None`: the unattributed log).
    pub(crate) fn log(&mut self, campaign_id: Option<&str>, record_key: String) {
        self.logs
            .entry(keys::feedback_log(campaign_id))
            .or_default()
            .push(record_key);
    }

    /// Append a record holding a subscriber's personal data to a campaign's log and to the
    /// subscriber's own log, which erasure reads.
    pub(crate) fn log_personal(
        &mut self,
        campaign_id: Option<&str>,
        subscriber: &SubscriberId,
        record_key: String,
    ) {
        self.logs
            .entry(keys::subscriber_feedback_log(subscriber))
            .or_default()
            .push(record_key.clone());
        self.log(campaign_id, record_key);
    }

    /// Write everything: one `append_many` per log, one `increment` per counter.
    ///
    /// # Errors
    /// Store failure; what was not written by then is lost (counted at most once, never twice).
    pub(crate) fn flush<S: KvStore + ?Sized>(self, store: &S) -> Result<()> {
        for (log, record_keys) in &self.logs {
            Index::named(log).append_many(store, record_keys)?;
        }
        for (counter, delta) in &self.counters {
            if *delta != 0 {
                store.increment(counter, *delta)?;
            }
        }
        Ok(())
    }
}
