//! The frequency caps in a chunk (see [`crate::delivery::caps`]): each recipient's send history read in
//! the same batch read as their record, judged before a send slot is spent, reserved by
//! compare-and-swap just before the wave's intent, and released when the send did not go out.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use crate::campaign::Campaign;
use crate::directory::StoredSubscriber;
use crate::error::Result;
use crate::keys;
use crate::kv::{self, KvStore};
use crate::subscriber::SubscriberId;

use super::super::caps::{self, message_source, PastSend, Reservation, SendHistory};
use super::super::ledger::{DeliveryBatch, DeliveryEntry, DeliveryState};
use super::super::outcome::finalised;
use super::{Bundle, Sender};

/// A person's send history as the chunk read it: decoded to judge the caps, and as stored, the value
/// the reservation's compare-and-swap expects.
pub(super) struct HistoryReading {
    stored: Option<Vec<u8>>,
    history: SendHistory,
}

impl<S: KvStore + ?Sized> Sender<'_, S> {
    /// The records of `subscribers` and, when a cap is configured, their send histories, in one
    /// batch read.
    #[allow(clippy::type_complexity)]
    pub(super) fn read_recipients(
        &self,
        subscribers: &[&SubscriberId],
    ) -> Result<(Vec<Option<StoredSubscriber>>, Vec<Option<HistoryReading>>)> {
        let capped = !self.config.frequency_caps.is_empty();
        let mut keys: Vec<String> = subscribers.iter().map(|id| keys::subscriber(id)).collect();
        if capped {
            keys.extend(subscribers.iter().map(|id| keys::send_history(id)));
        }
        let mut values = self.store.get_many(&keys)?;
        let histories = if capped {
            values
                .split_off(subscribers.len())
                .into_iter()
                .map(|(_, stored)| {
                    let history = SendHistory::decode(stored.as_deref())?;
                    Ok(Some(HistoryReading { stored, history }))
                })
                .collect::<Result<Vec<_>>>()?
        } else {
            subscribers.iter().map(|_| None).collect()
        };
        let records = values
            .into_iter()
            .map(|(key, value)| value.map(|bytes| kv::decode(&key, &bytes)).transpose())
            .collect::<Result<Vec<_>>>()?;
        Ok((records, histories))
    }

    /// The skip reason when the campaign's send (of ledger batch `batch`) at `now` would exceed a cap on the
    /// history as read.
    pub(super) fn cap_refusal(
        &self,
        campaign: &Campaign,
        batch: u64,
        reading: Option<&HistoryReading>,
        zone: Tz,
        now: DateTime<Utc>,
    ) -> Option<String> {
        let reading = reading?;
        let send = PastSend::of(campaign, Some(batch), now);
        self.config
            .frequency_caps
            .refusal(&reading.history, &send, zone)
    }

    /// Reserve each recipient's send at `now` in their history (one compare-and-swap each, from the
    /// reading the chunk made); a recipient a cap now refuses (another campaign got there first) is
    /// skipped, into `unwritten`. The wave without them.
    pub(super) fn reserve_sends(
        &self,
        campaign: &Campaign,
        batch: &DeliveryBatch,
        wave: Vec<Bundle>,
        now: DateTime<Utc>,
        unwritten: &mut Vec<(usize, DeliveryEntry)>,
    ) -> Result<Vec<Bundle>> {
        let caps = &self.config.frequency_caps;
        if caps.is_empty() {
            return Ok(wave);
        }
        let send = PastSend::of(campaign, Some(batch.batch), now);
        let mut reserved = Vec::with_capacity(wave.len());
        for bundle in wave {
            let mut recipients = Vec::with_capacity(bundle.recipients.len());
            for recipient in bundle.recipients {
                let entry = &batch.entries[recipient.index];
                let stored = recipient.history.as_ref().and_then(|r| r.stored.clone());
                let reservation = caps::reserve(
                    self.store,
                    caps,
                    &entry.subscriber,
                    &send,
                    recipient.zone,
                    stored,
                )?;
                match reservation {
                    Reservation::Reserved => recipients.push(recipient),
                    Reservation::Capped(reason) => {
                        let skipped = DeliveryState::Skipped { reason };
                        unwritten.push((recipient.index, finalised(entry, skipped, now)));
                    }
                }
            }
            if !recipients.is_empty() {
                reserved.push(Bundle { recipients });
            }
        }
        Ok(reserved)
    }

    /// Release the reserved send of a recipient whose answer was not "sent" (failed, blocked, skipped,
    /// or back to the queue for another attempt, which reserves again), so it counts against no cap.
    pub(super) fn release_unsent(
        &self,
        campaign: &Campaign,
        batch: u64,
        subscriber: &SubscriberId,
        outcome: &DeliveryState,
    ) -> Result<()> {
        if self.config.frequency_caps.is_empty() || matches!(outcome, DeliveryState::Sent { .. }) {
            return Ok(());
        }
        caps::release(
            self.store,
            subscriber,
            &message_source(campaign.id.as_str(), Some(batch)),
        )
    }
}
