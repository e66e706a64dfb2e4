//! The shared writes that follow from new records (holdout counter increments and feedback-log appends),
//! gathered over a batch of events so that each counter is incremented and each log appended once per
//! batch rather than once per event. Replies and ratings are counted on their log entry (see
//! [`super::log`]), so their entry and their counts are one write.

use std::collections::BTreeMap;

use super::log::{FeedbackLog, LogItem, Totals};
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
    /// Entries of campaign (and the unattributed) feedback logs, by log name; `None`: from the hint.
    logs: BTreeMap<String, Vec<(String, Totals, Option<u64>)>>,
    /// Entries of subscribers' own logs, which erasure reads.
    personal: BTreeMap<String, Vec<String>>,
    /// The hints read so far, by log name.
    hints: BTreeMap<String, u64>,
}

/// The name of a count on a log page: the counter's, or `<arm>:<counter>` for an A/B arm's.
pub(crate) fn total_name(arm: Option<&str>, counter: &str) -> String {
    match arm {
        Some(arm) => format!("{arm}:{counter}"),
        None => counter.to_owned(),
    }
}

impl Effects {
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
            .push((record_key, Totals::new(), None));
    }

    /// The page appends to a campaign's log (`None`: the unattributed log) start from: the log's hint,
    /// read once per batch. Kept in a record before it is claimed (see [`super::log::LogItem`]).
    pub(crate) fn log_start<S: KvStore + ?Sized>(
        &mut self,
        store: &S,
        campaign_id: Option<&str>,
    ) -> Result<u64> {
        let name = keys::feedback_log(campaign_id);
        if let Some(hint) = self.hints.get(&name) {
            return Ok(*hint);
        }
        let hint = FeedbackLog::named(&name).hint(store)?;
        self.hints.insert(name, hint);
        Ok(hint)
    }

    /// Take `page` as the hint of log `log_name` (read with the batch's references).
    pub(crate) fn know_hint(&mut self, log_name: &str, page: u64) {
        self.hints.entry(log_name.to_owned()).or_insert(page);
    }

    /// Append a claimed record's key to a campaign's log (`None`: the unattributed log) from page
    /// `from_page`, with its counts (`(arm, counter, delta)`) in the same write; an entry already
    /// there is left as it is (a redelivery finishing what a first attempt began).
    pub(crate) fn log_counted(
        &mut self,
        campaign_id: Option<&str>,
        record_key: String,
        from_page: u64,
        counts: &[(Option<&str>, &str, i64)],
    ) {
        let mut totals = Totals::new();
        for (arm, counter, delta) in counts {
            *totals.entry(total_name(*arm, counter)).or_default() += delta;
        }
        self.logs
            .entry(keys::feedback_log(campaign_id))
            .or_default()
            .push((record_key, totals, Some(from_page)));
    }

    /// Append a record key to the subscriber's own log, which erasure reads (records under keys that
    /// name a campaign and the subscriber, a rating or a first reply, are found without it).
    pub(crate) fn log_of_subscriber(&mut self, subscriber: &SubscriberId, record_key: String) {
        self.personal
            .entry(keys::subscriber_feedback_log(subscriber))
            .or_default()
            .push(record_key);
    }

    /// Write everything: subscribers' logs first (so a record in a campaign's log is always in its
    /// subscriber's), then one append per feedback log, then one `increment` per counter.
    ///
    /// # Errors
    /// Store failure. A reply or rating whose entry was not written is finished by its redelivery; other
    /// counts not written by then are lost (counted at most once, never twice).
    pub(crate) fn flush<S: KvStore + ?Sized>(mut self, store: &S) -> Result<()> {
        for (log, record_keys) in &self.personal {
            Index::named(log).append_many(store, record_keys)?;
        }
        let logs = std::mem::take(&mut self.logs);
        for (log, entries) in logs {
            let mut hint = None;
            let mut items = Vec::with_capacity(entries.len());
            for (key, counts, from_page) in entries {
                let from_page = match from_page {
                    Some(page) => page,
                    None => match hint {
                        Some(page) => page,
                        None => {
                            let page = match self.hints.get(&log) {
                                Some(page) => *page,
                                None => FeedbackLog::named(&log).hint(store)?,
                            };
                            hint = Some(page);
                            page
                        }
                    },
                };
                items.push(LogItem {
                    key,
                    counts,
                    from_page,
                });
            }
            FeedbackLog::named(&log).append(store, &items)?;
        }
        for (counter, delta) in &self.counters {
            if *delta != 0 {
                store.increment(counter, *delta)?;
            }
        }
        Ok(())
    }
}
