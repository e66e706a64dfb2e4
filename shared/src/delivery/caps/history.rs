//! A person's recent sends: the record the frequency caps are judged on.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::campaign::Campaign;
pub use crate::campaign::MessageKind;
use crate::error::{Error, Result};

/// The most transactional sends a history keeps (the newest): they count against no cap, so they are
/// kept only as the person's recent history.
pub const MAX_TRANSACTIONAL_KEPT: usize = 50;

/// One send in a person's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PastSend {
    /// When it was reserved, just before it went out.
    pub at: DateTime<Utc>,
    /// Promotional or transactional.
    pub kind: MessageKind,
    /// Whose message it is (`campaign:<id>` for a campaign): one entry per source, so a source that
    /// tries a person again replaces its own entry instead of counting twice.
    pub source: String,
}

impl PastSend {
    /// A promotional campaign's message to a person at `at`.
    pub fn campaign(campaign_id: &str, at: DateTime<Utc>) -> Self {
        PastSend {
            at,
            kind: MessageKind::Promotional,
            source: campaign_source(campaign_id),
        }
    }

    /// `campaign`'s message in ledger batch `batch` (none for an estimate) to a person at `at`, of the
    /// campaign's kind: an event rule's transactional message is recorded but never capped, a
    /// promotional one counts. The batch is part of the source because an event rule sends one person
    /// many messages, each its own one-recipient batch, and each must count; a campaign's person is in
    /// one batch, so its retries still replace their own entry.
    pub fn of(campaign: &Campaign, batch: Option<u64>, at: DateTime<Utc>) -> Self {
        PastSend {
            at,
            kind: campaign.kind,
            source: message_source(campaign.id.as_str(), batch),
        }
    }
}

/// The source of a campaign's sends in a history.
pub fn campaign_source(campaign_id: &str) -> String {
    format!("campaign:{campaign_id}")
}

/// The source of the message of ledger batch `batch` of a campaign (or an event rule) in a history.
pub fn message_source(campaign_id: &str, batch: Option<u64>) -> String {
    match batch {
        Some(batch) => format!("campaign:{campaign_id}#{batch}"),
        None => campaign_source(campaign_id),
    }
}

/// A person's recent sends, oldest first, bounded: sends older than the caps' span are dropped when the
/// next one is added, and so are transactional sends beyond [`MAX_TRANSACTIONAL_KEPT`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendHistory {
    /// The sends.
    #[serde(default)]
    pub sends: Vec<PastSend>,
}

impl SendHistory {
    /// The history stored as `bytes` (`None`: the person has none yet).
    ///
    /// # Errors
    /// An internal error when the record does not decode.
    pub fn decode(bytes: Option<&[u8]>) -> Result<Self> {
        let Some(bytes) = bytes else {
            return Ok(SendHistory::default());
        };
        serde_json::from_slice(bytes).map_err(|e| {
            eprintln!("spinpost: a send history record does not decode: {e}");
            Error::internal("a stored send history could not be read; the component log says why")
        })
    }

    /// The times of the promotional sends of every source but `source`.
    pub fn promotional_times_except(&self, source: &str) -> Vec<DateTime<Utc>> {
        self.sends
            .iter()
            .filter(|s| s.kind == MessageKind::Promotional && s.source != source)
            .map(|s| s.at)
            .collect()
    }

    /// This history with `send` added (replacing an earlier entry of its source), without the sends
    /// more than `span` older than it, and with at most [`MAX_TRANSACTIONAL_KEPT`] transactional sends.
    #[must_use]
    pub fn with(&self, send: PastSend, span: Duration) -> SendHistory {
        let oldest_kept = send.at - span;
        let mut sends: Vec<PastSend> = self
            .sends
            .iter()
            .filter(|s| s.source != send.source && s.at > oldest_kept)
            .cloned()
            .collect();
        sends.push(send);
        sends.sort_by_key(|s| s.at);
        let transactional = sends
            .iter()
            .filter(|s| s.kind == MessageKind::Transactional)
            .count();
        let mut surplus = transactional.saturating_sub(MAX_TRANSACTIONAL_KEPT);
        sends.retain(|s| {
            let drop = surplus > 0 && s.kind == MessageKind::Transactional;
            if drop {
                surplus -= 1;
            }
            !drop
        });
        SendHistory { sends }
    }

    /// This history without the entry of `source`; `None` when it has none.
    pub fn without(&self, source: &str) -> Option<SendHistory> {
        if self.sends.iter().all(|s| s.source != source) {
            return None;
        }
        let sends = self
            .sends
            .iter()
            .filter(|s| s.source != source)
            .cloned()
            .collect();
        Some(SendHistory { sends })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(hours: i64) -> DateTime<Utc> {
        "2026-11-01T00:00:00Z".parse::<DateTime<Utc>>().unwrap() + Duration::hours(hours)
    }

    fn transactional(source: &str, hours: i64) -> PastSend {
        PastSend {
            at: at(hours),
            kind: MessageKind::Transactional,
            source: source.into(),
        }
    }

    #[test]
    fn a_source_has_one_entry_and_old_sends_age_out() {
        let history = SendHistory::default()
            .with(PastSend::campaign("spring", at(0)), Duration::days(2))
            .with(PastSend::campaign("summer", at(1)), Duration::days(2))
            .with(PastSend::campaign("spring", at(5)), Duration::days(2));
        let sources: Vec<_> = history.sends.iter().map(|s| s.source.as_str()).collect();
        assert_eq!(sources, ["campaign:summer", "campaign:spring"]);
        let later = history.with(PastSend::campaign("autumn", at(49)), Duration::days(2));
        let sources: Vec<_> = later.sends.iter().map(|s| s.source.as_str()).collect();
        assert_eq!(
            sources,
            ["campaign:spring", "campaign:autumn"],
            "summer aged out"
        );
        assert_eq!(
            later.promotional_times_except("campaign:autumn"),
            vec![at(5)]
        );
    }

    #[test]
    fn transactional_sends_are_kept_up_to_a_bound_and_promotional_ones_are_never_dropped_for_them()
    {
        let mut history =
            SendHistory::default().with(PastSend::campaign("spring", at(0)), Duration::days(2));
        for n in 0..(MAX_TRANSACTIONAL_KEPT as i64 + 10) {
            history = history.with(transactional(&format!("order:{n}"), 1), Duration::days(2));
        }
        assert_eq!(history.sends.len(), MAX_TRANSACTIONAL_KEPT + 1);
        assert_eq!(history.promotional_times_except(""), vec![at(0)]);
    }

    #[test]
    fn releasing_removes_only_that_sources_entry() {
        let history = SendHistory::default()
            .with(PastSend::campaign("spring", at(0)), Duration::days(2))
            .with(transactional("order:1", 1), Duration::days(2));
        let released = history.without("campaign:spring").unwrap();
        assert_eq!(released.sends, vec![transactional("order:1", 1)]);
        assert_eq!(released.without("campaign:spring"), None);
    }

    #[test]
    fn a_corrupt_record_is_an_internal_error_without_its_content() {
        let err = SendHistory::decode(Some(b"{")).unwrap_err();
        assert_eq!(err.status(), 500);
        assert_eq!(SendHistory::decode(None).unwrap(), SendHistory::default());
    }
}
