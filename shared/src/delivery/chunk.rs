//! One chunk of a batch: ask the policy chain about each recipient, bundle the recipients one request
//! carries, reserve send slots, then send in waves of requests in flight together, each wave's intent
//! recorded just before it starts and its outcomes as soon as its answers are in (message references
//! first), in the same write as the next wave's intent when that wave starts at once.
//!
//! A request carries one recipient, or, where the platform broadcasts
//! ([`crate::capabilities::Capabilities::broadcast_recipients`]), up to that many recipients whose
//! rendered messages are identical: one send slot, one request in flight, one outcome per recipient.

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;

use crate::campaign::{Campaign, CampaignState, HOLDOUT_ARM};
use crate::directory::StoredSubscriber;
use crate::error::Result;
use crate::event::{HeldOutRef, SentMessageRef};
use crate::keys;
use crate::kv::{self, KvStore};
use crate::messenger::{Group, SendOutcome};
use crate::subscriber::{
    Address, ConsentAction, ConsentEvent, Subscriber, SubscriberId, SubscriptionStatus,
};

use super::arms::ArmCampaigns;
use super::ledger::{DeliveryBatch, DeliveryEntry, DeliveryState};
use super::outcome::{apply_outcome, finalised, Attempt, BlockRecipient, Effects};
use super::pacing;
use super::policy::{Candidate, Verdict};
use super::report::BatchReport;
use super::runs;
use super::sender::{Sender, CAMPAIGN_RECHECK};
use super::Outgoing;

mod capping;

use capping::HistoryReading;

/// How old a consent reading may be when its message goes out; an older one is read again (the send
/// slot can be far off when the channel is paused or its queue is long).
const CONSENT_MAX_AGE: Duration = Duration::seconds(1);

/// How sending a chunk ended.
pub(super) enum Chunk {
    /// Outcomes written; the batch as it is now.
    Done(DeliveryBatch),
    /// No send slot fits before the deadline; decisions made without sending are written.
    NoSlot(DeliveryBatch),
    /// Another tick owns the batch now.
    LeaseLost,
}

/// What the policy chain decided for a recipient who is not sent now.
enum Decision {
    /// A final state (skipped, failed).
    Final(DeliveryState),
    /// Back to the queue until then.
    Defer(DateTime<Utc>),
}

impl Decision {
    fn apply(self, entry: &DeliveryEntry, now: DateTime<Utc>) -> DeliveryEntry {
        match self {
            Decision::Final(state) => finalised(entry, state, now),
            Decision::Defer(until) => DeliveryEntry {
                outcome: DeliveryState::Pending,
                not_before: Some(until),
                ..entry.clone()
            },
        }
    }
}

/// A recipient the chain let through, with the message rendered for them.
struct Ready {
    index: usize,
    address: Address,
    outgoing: Outgoing,
    /// The zone of their calendar days (for the frequency caps).
    zone: Tz,
    /// Their send history as read with their record; `None` when no frequency cap is configured.
    history: Option<HistoryReading>,
}

/// A chunk after the policy chain: the entries decided without sending, and the recipients to send.
struct Plans {
    decided: Vec<(usize, DeliveryEntry)>,
    ready: Vec<Ready>,
}

/// The recipients of one request: one, or several who get the same message where the platform
/// broadcasts.
struct Bundle {
    recipients: Vec<Ready>,
}

impl Bundle {
    /// The address the request's send slot is reserved for (the per-chat gap of the pace).
    fn lead_address(&self) -> Option<&Address> {
        self.recipients.first().map(|r| &r.address)
    }
}

/// Bundle `ready` in order of first appearance: recipients with identical rendered messages share a
/// bundle of at most `per_request`; with `per_request` 1 each recipient is their own bundle.
fn bundle(ready: Vec<Ready>, per_request: usize) -> Vec<Bundle> {
    if per_request <= 1 {
        // Most platforms: no search for an open bundle (quadratic in the chunk) when none can be.
        return ready
            .into_iter()
            .map(|recipient| Bundle {
                recipients: vec![recipient],
            })
            .collect();
    }
    let mut bundles: Vec<Bundle> = Vec::new();
    for recipient in ready {
        let open = bundles.iter_mut().find(|b| {
            b.recipients.len() < per_request
                && b.recipients[0].outgoing.message == recipient.outgoing.message
        });
        match open {
            Some(bundle) => bundle.recipients.push(recipient),
            None => bundles.push(Bundle {
                recipients: vec![recipient],
            }),
        }
    }
    bundles
}

/// A bundle judged again before its wave: the recipients still let through, and the decisions (by
/// entry index) for those who no longer are.
type Judged = (Bundle, Vec<(usize, Decision)>);

/// The bundles of recipients the chain let through, each with its reserved send slot.
struct Queue {
    bundles: Vec<Bundle>,
    slots: Vec<DateTime<Utc>>,
    planned_at: DateTime<Utc>,
}

impl<S: KvStore + ?Sized> Sender<'_, S> {
    /// Decide, reserve send slots, then send in waves, recording intent and outcomes, for a few entries.
    pub(super) fn send_chunk(
        &self,
        campaign: &Campaign,
        batch: &DeliveryBatch,
        chunk: &[usize],
        checked_at: &mut Option<DateTime<Utc>>,
        report: &mut BatchReport,
    ) -> Result<Chunk> {
        let ledger = campaign.ledger_id();
        let (id, number) = (ledger.as_str(), batch.batch);
        let planned_at = self.clock.now();
        let arms = ArmCampaigns::of(campaign);
        let Plans { decided, ready } = self.decide(&arms, batch, chunk, planned_at)?;
        let platform = campaign.channel.platform();
        let mut bundles = bundle(ready, platform.capabilities().broadcast_recipients.max(1));
        let addresses: Vec<_> = bundles.iter().filter_map(Bundle::lead_address).collect();
        let pace = pacing::Pace {
            rate_per_second: self.config.rate_for(platform),
            catch_up: self.config.catch_up(),
            sent_early: self.config.wave_window,
        };
        let slots = pacing::reserve_slots(
            self.store,
            &campaign.channel,
            &addresses,
            pace,
            planned_at,
            self.config.deadline,
        )?;
        let starved = !bundles.is_empty() && slots.is_empty();
        bundles.truncate(slots.len());
        if starved || bundles.is_empty() {
            let lease_until = planned_at + self.config.lease;
            let Some(written) = self.write(id, number, &decided, lease_until, report)? else {
                return Ok(Chunk::LeaseLost);
            };
            // Starved: no slot fits before the deadline. Otherwise every entry was decided unsent.
            return Ok(if starved {
                Chunk::NoSlot(written)
            } else {
                Chunk::Done(written)
            });
        }
        let queue = Queue {
            bundles,
            slots,
            planned_at,
        };
        self.send_in_waves(&arms, batch, decided, queue, checked_at, report)
    }

    /// Send the queue in waves. A wave starts when the first waiting slot has come and takes every
    /// bundle whose slot falls within the channel's wave window from then (at most its wave size of
    /// requests), started together and awaited together. Its intent is written just before it starts,
    /// so only requests about to start can end `outcome_unknown`; its outcomes (their message
    /// references stored first) as soon as its answers are in, in the same compare-and-swap as the
    /// next wave's intent when that wave is due at once. Once the channel is paused (by an answer or by
    /// another tick), the rest stay pending, untouched.
    fn send_in_waves(
        &self,
        arms: &ArmCampaigns<'_>,
        batch: &DeliveryBatch,
        decided: Vec<(usize, DeliveryEntry)>,
        queue: Queue,
        checked_at: &mut Option<DateTime<Utc>>,
        report: &mut BatchReport,
    ) -> Result<Chunk> {
        let campaign = arms.campaign();
        let ledger = campaign.ledger_id();
        let (id, number) = (ledger.as_str(), batch.batch);
        let rate = self.config.rate_for(campaign.channel.platform());
        let limit = self.config.wave_size_for(rate);
        let window = self.config.wave_window_for(rate);
        let last_slot = queue.slots.last().copied().unwrap_or(queue.planned_at);
        let mut planned_at = queue.planned_at;
        let mut waiting = queue.bundles.into_iter().zip(queue.slots).peekable();
        let mut unwritten = decided;
        let mut references = Vec::new();
        let mut current = None;
        while let Some(&(_, next_slot)) = waiting.peek() {
            if next_slot > self.clock.now() && !unwritten.is_empty() {
                // The next wave waits: the answers in are written now, not held for it.
                let lease_until = last_slot + self.config.lease;
                let flushed = self.flush(
                    campaign,
                    number,
                    &mut unwritten,
                    &mut references,
                    lease_until,
                    report,
                )?;
                let Some(written) = flushed else {
                    return Ok(Chunk::LeaseLost);
                };
                current = Some(written);
            }
            if !self.wait_for_slot(campaign, next_slot, checked_at)? {
                break;
            }
            let now = self.clock.now();
            let mut candidates = Vec::new();
            while candidates.len() < limit {
                let Some((bundle, _)) = waiting.next_if(|(_, slot)| *slot < now + window) else {
                    break;
                };
                candidates.push(bundle);
            }
            let fresh = self.reconsider(arms, batch, candidates, &mut planned_at)?;
            let mut wave = Vec::with_capacity(fresh.len());
            for (bundle, refused) in fresh {
                for (index, decision) in refused {
                    unwritten.push((index, decision.apply(&batch.entries[index], now)));
                }
                if !bundle.recipients.is_empty() {
                    wave.push(bundle);
                }
            }
            let wave = self.reserve_sends(campaign, batch, wave, now, &mut unwritten)?;
            // Intent: every recipient of the wave is in flight before its first request starts.
            unwritten.extend(wave.iter().flat_map(|b| &b.recipients).map(|r| {
                let mut entry = batch.entries[r.index].clone();
                entry.outcome = DeliveryState::InFlight;
                (r.index, entry)
            }));
            let lease_until = last_slot.max(now) + self.config.lease;
            let flushed = self.flush(
                campaign,
                number,
                &mut unwritten,
                &mut references,
                lease_until,
                report,
            )?;
            let Some(written) = flushed else {
                return Ok(Chunk::LeaseLost);
            };
            current = Some(written);
            let paused = self.send_wave(
                campaign,
                batch,
                &wave,
                report,
                &mut unwritten,
                &mut references,
            )?;
            if paused {
                break;
            }
        }
        // References first: a crash right after leaves them for entries that end `outcome_unknown`,
        // which still attributes replies to messages that did go out.
        self.record_references(campaign, &references)?;
        if unwritten.is_empty() {
            if let Some(written) = current {
                return Ok(Chunk::Done(written));
            }
        }
        let lease_until = self.clock.now() + self.config.lease;
        Ok(
            match self.write(id, number, &unwritten, lease_until, report)? {
                Some(written) => Chunk::Done(written),
                None => Chunk::LeaseLost,
            },
        )
    }

    /// Send one wave with its requests in flight together and apply each recipient's answer to their
    /// entry (the changes to `unwritten`, the references to `references`). `true` when an answer
    /// paused the channel.
    fn send_wave(
        &self,
        campaign: &Campaign,
        batch: &DeliveryBatch,
        wave: &[Bundle],
        report: &mut BatchReport,
        unwritten: &mut Vec<(usize, DeliveryEntry)>,
        references: &mut Vec<SentMessageRef>,
    ) -> Result<bool> {
        if wave.is_empty() {
            return Ok(false);
        }
        let groups: Vec<Group<'_, Outgoing>> = wave
            .iter()
            .map(|b| Group {
                to: b.recipients.iter().map(|r| &r.address).collect(),
                message: &b.recipients[0].outgoing,
            })
            .collect();
        let answers = self.messenger.send_groups(&campaign.channel, &groups);
        // A messenger that answers fewer sends than asked leaves the rest unknown: retried as transient.
        let unanswered = || SendOutcome::Transient {
            reason: "no answer from the messenger".into(),
        };
        let answers = wave
            .iter()
            .zip(answers.into_iter().chain(std::iter::repeat_with(Vec::new)));
        let answers = answers.flat_map(|(bundle, outcomes)| {
            let missing = bundle.recipients.len().saturating_sub(outcomes.len());
            outcomes
                .into_iter()
                .take(bundle.recipients.len())
                .chain(std::iter::repeat_with(unanswered).take(missing))
        });
        let answered_at = self.clock.now();
        let policy = self.config.retry_policy();
        let attempt = Attempt {
            campaign_id: campaign.id.as_str(),
            batch: batch.batch,
            answered_at,
        };
        let mut paused = false;
        for (recipient, answer) in wave.iter().flat_map(|b| &b.recipients).zip(answers) {
            let entry = &batch.entries[recipient.index];
            let applied = apply_outcome(entry, answer, &policy, attempt);
            self.release_unsent(
                campaign,
                batch.batch,
                &entry.subscriber,
                &applied.entry.outcome,
            )?;
            paused |= applied.effects.pause_channel_until.is_some();
            if applied.effects.retried {
                report.retried += 1;
            }
            self.perform(
                campaign,
                &entry.subscriber,
                applied.effects,
                answered_at,
                references,
            )?;
            unwritten.push((recipient.index, applied.entry));
        }
        Ok(paused)
    }

    /// Ask the policy chain about each entry of the chunk, on the subscriber records as they are now
    /// (not as they were when the batch was claimed): the entries decided without sending, and those
    /// to send.
    fn decide(
        &self,
        arms: &ArmCampaigns<'_>,
        batch: &DeliveryBatch,
        chunk: &[usize],
        now: DateTime<Utc>,
    ) -> Result<Plans> {
        let subscribers: Vec<&SubscriberId> = chunk
            .iter()
            .map(|&i| &batch.entries[i].subscriber)
            .collect();
        let (records, histories) = self.read_recipients(&subscribers)?;
        let mut decided = Vec::new();
        let mut ready = Vec::new();
        for ((&index, record), history) in chunk.iter().zip(records).zip(histories) {
            match self.plan(
                arms,
                batch,
                index,
                record.map(|r| r.subscriber),
                history,
                now,
            ) {
                Ok(recipient) => ready.push(recipient),
                Err(decision) => decided.push((index, decision.apply(&batch.entries[index], now))),
            }
        }
        self.record_held_out(arms.campaign(), &decided, now)?;
        Ok(Plans { decided, ready })
    }

    /// Leave a [`HeldOutRef`] for each recipient the holdout skipped, before the skips are written. A
    /// crash in between decides them again (the split puts them in the holdout again); the reference
    /// they already have for this campaign is kept, with what it has counted.
    fn record_held_out(
        &self,
        campaign: &Campaign,
        decided: &[(usize, DeliveryEntry)],
        now: DateTime<Utc>,
    ) -> Result<()> {
        let held_back: Vec<&SubscriberId> = decided
            .iter()
            .filter(|(_, entry)| {
                matches!(&entry.outcome, DeliveryState::Skipped { reason } if reason == HOLDOUT_ARM)
            })
            .map(|(_, entry)| &entry.subscriber)
            .collect();
        if held_back.is_empty() {
            return Ok(());
        }
        let held_keys: Vec<String> = held_back.iter().map(|id| keys::held_out(id)).collect();
        let current: Vec<Option<HeldOutRef>> = kv::get_many_json(self.store, &held_keys)?;
        let fresh: Vec<(String, Vec<u8>)> = held_back
            .into_iter()
            .zip(held_keys)
            .zip(current)
            .filter(|(_, current)| {
                current
                    .as_ref()
                    .is_none_or(|held| held.campaign_id != campaign.id.as_str())
            })
            .map(|((subscriber, key), _)| {
                let reference = HeldOutRef {
                    campaign_id: campaign.id.to_string(),
                    subscriber: subscriber.clone(),
                    at: now,
                    replied: false,
                };
                (key, kv::encode(&reference))
            })
            .collect();
        if fresh.is_empty() {
            return Ok(());
        }
        Ok(self.store.set_many(&fresh)?)
    }

    /// Run the policy chain for one recipient, then the frequency caps on their send history as read;
    /// render their message when both let them through.
    fn plan(
        &self,
        arms: &ArmCampaigns<'_>,
        batch: &DeliveryBatch,
        index: usize,
        subscriber: Option<Subscriber>,
        history: Option<HistoryReading>,
        now: DateTime<Utc>,
    ) -> std::result::Result<Ready, Decision> {
        let arm = batch.entries[index].arm.as_deref();
        let campaign = arms.for_arm(arm);
        let render =
            |subscriber: &Subscriber| Outgoing::render(self.renderer, campaign, subscriber);
        let candidate = Candidate::new(campaign, subscriber.as_ref(), now, &render).in_arm(arm);
        match self.config.policies.check(&candidate) {
            Verdict::Send => {}
            Verdict::Skip { reason } => {
                return Err(Decision::Final(DeliveryState::Skipped { reason }))
            }
            Verdict::Fail { code, reason } => {
                return Err(Decision::Final(DeliveryState::Failed { code, reason }))
            }
            Verdict::Defer { until } => return Err(Decision::Defer(until)),
        }
        let zone = campaign.recipient_zone(subscriber.as_ref());
        if let Some(reason) = self.cap_refusal(campaign, batch.batch, history.as_ref(), zone, now) {
            return Err(Decision::Final(DeliveryState::Skipped { reason }));
        }
        let (Some(message), Some(subscriber)) = (candidate.into_message(), subscriber) else {
            // A chain without the erased-record rule still cannot send to nobody.
            return Err(Decision::Final(DeliveryState::Skipped {
                reason: "subscriber_erased".into(),
            }));
        };
        match message {
            Ok(outgoing) => Ok(Ready {
                index,
                address: subscriber.address,
                outgoing,
                zone,
                history,
            }),
            Err(e) => Err(Decision::Final(DeliveryState::Failed {
                code: e.code().to_owned(),
                reason: e.message().to_owned(),
            })),
        }
    }

    /// Sleep until `slot`; `false` when the channel was paused meanwhile (another tick was told to stop
    /// by a 429 while this one waited), or when the campaign is no longer running as this chunk found
    /// it (read again at most every [`CAMPAIGN_RECHECK`], in the same round trip as the pace; the next
    /// round then reads it again and stops or cancels).
    fn wait_for_slot(
        &self,
        campaign: &Campaign,
        slot: DateTime<Utc>,
        checked_at: &mut Option<DateTime<Utc>>,
    ) -> Result<bool> {
        let before = self.clock.now();
        if slot > before {
            self.clock.sleep(slot - before);
        }
        let now = self.clock.now();
        let recheck =
            self.campaign_in_store && checked_at.is_none_or(|at| now - at >= CAMPAIGN_RECHECK);
        let pace_key = keys::pace(&campaign.channel);
        if !recheck {
            let pace = kv::get_json(self.store, &pace_key)?;
            return Ok(!pacing::paused_past(pace.as_ref(), slot));
        }
        let campaign_key = keys::campaign(campaign.id.as_str());
        let mut read = self.store.get_many(&[pace_key, campaign_key])?.into_iter();
        let mut next = || read.next().and_then(|(key, value)| Some((key, value?)));
        let pace = next()
            .map(|(key, bytes)| kv::decode::<pacing::PaceState>(&key, &bytes))
            .transpose()?;
        let stored = next()
            .map(|(key, bytes)| kv::decode::<Campaign>(&key, &bytes))
            .transpose()?;
        let running = stored.is_some_and(|c| {
            c.state == CampaignState::Running && c.ledger_id() == campaign.ledger_id()
        });
        *checked_at = running.then_some(now);
        Ok(running && !pacing::paused_past(pace.as_ref(), slot))
    }

    /// A consent reading older than [`CONSENT_MAX_AGE`] is judged again on the records as they are
    /// now, read for the whole wave in one round trip (`planned_at` then becomes the time of that
    /// reading). Each bundle with the recipients still let through, and the decisions for the others.
    fn reconsider(
        &self,
        arms: &ArmCampaigns<'_>,
        batch: &DeliveryBatch,
        bundles: Vec<Bundle>,
        planned_at: &mut DateTime<Utc>,
    ) -> Result<Vec<Judged>> {
        let now = self.clock.now();
        if now - *planned_at <= CONSENT_MAX_AGE {
            return Ok(bundles.into_iter().map(|b| (b, Vec::new())).collect());
        }
        let record_keys: Vec<String> = bundles
            .iter()
            .flat_map(|b| &b.recipients)
            .map(|r| keys::subscriber(&batch.entries[r.index].subscriber))
            .collect();
        let mut records = self.store.get_many(&record_keys)?.into_iter();
        *planned_at = now;
        let mut judged = Vec::with_capacity(bundles.len());
        for bundle in bundles {
            let mut still = Vec::with_capacity(bundle.recipients.len());
            let mut refused = Vec::new();
            for recipient in bundle.recipients {
                let record: Option<StoredSubscriber> = match records.next() {
                    Some((key, Some(bytes))) => Some(kv::decode(&key, &bytes)?),
                    _ => None,
                };
                let index = recipient.index;
                let planned = self.plan(
                    arms,
                    batch,
                    index,
                    record.map(|r| r.subscriber),
                    recipient.history,
                    now,
                );
                match planned {
                    Ok(recipient) => still.push(recipient),
                    Err(decision) => refused.push((index, decision)),
                }
            }
            judged.push((Bundle { recipients: still }, refused));
        }
        Ok(judged)
    }

    /// Do what an answer asks besides the entry: pause the channel, block the subscriber, keep the
    /// message reference.
    fn perform(
        &self,
        campaign: &Campaign,
        subscriber: &SubscriberId,
        effects: Effects,
        answered_at: DateTime<Utc>,
        references: &mut Vec<SentMessageRef>,
    ) -> Result<()> {
        if let Some(until) = effects.pause_channel_until {
            pacing::pause_channel(self.store, &campaign.channel, until)?;
        }
        if let Some(block) = effects.block {
            let campaign_id = campaign.id.as_str();
            block_subscriber(self.store, subscriber, campaign_id, &block, answered_at)?;
        }
        references.extend(effects.reference);
        Ok(())
    }

    /// Store the references of the answers in, then write the entries changed since the last write
    /// with the lease until `lease_until`, and empty both lists: references first, so a crash between
    /// the two leaves references for entries that end `outcome_unknown`. `None` when the lease was lost.
    fn flush(
        &self,
        campaign: &Campaign,
        number: u64,
        unwritten: &mut Vec<(usize, DeliveryEntry)>,
        references: &mut Vec<SentMessageRef>,
        lease_until: DateTime<Utc>,
        report: &mut BatchReport,
    ) -> Result<Option<DeliveryBatch>> {
        self.record_references(campaign, references)?;
        references.clear();
        let ledger = campaign.ledger_id();
        let written = self.write(ledger.as_str(), number, unwritten, lease_until, report)?;
        unwritten.clear();
        Ok(written)
    }

    /// Store the references of the messages sent, then credit receipts that arrived before them.
    fn record_references(&self, campaign: &Campaign, references: &[SentMessageRef]) -> Result<()> {
        if references.is_empty() {
            return Ok(());
        }
        let platform = campaign.channel.platform();
        // Only platforms that send receipts need the message-id mapping; Telegram sends none, and its
        // message ids repeat across chats, so a mapping would only collide.
        let receipts = platform.sends_receipts();
        let mut entries = Vec::with_capacity(references.len() * 2);
        for reference in references {
            let encoded = kv::encode(reference);
            if receipts {
                entries.push((
                    keys::platform_message(platform.as_str(), &reference.message_id),
                    encoded.clone(),
                ));
            }
            entries.push((keys::last_campaign_message(&reference.subscriber), encoded));
        }
        self.store.set_many(&entries)?;
        // A recurring campaign's marks go with the references: written before the outcomes.
        runs::mark_sent(
            self.store,
            campaign,
            references.iter().map(|r| (&r.subscriber, r.sent_at)),
        )?;
        // A receipt can only have come before its message's reference where the platform sends them.
        if !receipts {
            return Ok(());
        }
        crate::feedback::credit_early_receipts(self.store, references)
    }
}

/// Record that the platform says the recipient blocked us (or is gone): status blocked, with evidence.
fn block_subscriber<S: KvStore + ?Sized>(
    store: &S,
    id: &SubscriberId,
    campaign_id: &str,
    block: &BlockRecipient,
    now: DateTime<Utc>,
) -> Result<()> {
    let BlockRecipient { code, reason } = block;
    kv::update_json(
        store,
        &keys::subscriber(id),
        |current: Option<StoredSubscriber>| {
            let Some(mut stored) = current else {
                return Ok((None, ()));
            };
            if stored.subscriber.status == SubscriptionStatus::Blocked {
                return Ok((None, ()));
            }
            stored.subscriber.record_consent(ConsentEvent {
                action: ConsentAction::Blocked,
                at: now,
                source: format!("send:{code}"),
                evidence: format!("campaign {campaign_id}: {code} {reason}"),
            });
            Ok((Some(stored), ()))
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::subscriber::Platform;

    fn ready(index: usize, text: &str) -> Ready {
        Ready {
            index,
            address: Address::parse(Platform::Viber, &format!("person{index}")).unwrap(),
            outgoing: Outgoing {
                campaign_id: "c1".into(),
                message: serde_json::from_value(serde_json::json!({ "text": text })).unwrap(),
                last_inbound_at: None,
            },
            zone: Tz::UTC,
            history: None,
        }
    }

    fn indexes(bundles: &[Bundle]) -> Vec<Vec<usize>> {
        bundles
            .iter()
            .map(|b| b.recipients.iter().map(|r| r.index).collect())
            .collect()
    }

    #[test]
    fn identical_messages_share_a_bundle_up_to_the_platforms_size() {
        let texts = ["Sale", "Hi Ada", "Sale", "Sale", "Hi Bo", "Sale"];
        let recipients = || texts.iter().enumerate().map(|(i, t)| ready(i, t)).collect();
        assert_eq!(
            indexes(&bundle(recipients(), 3)),
            vec![vec![0, 2, 3], vec![1], vec![4], vec![5]]
        );
        // One recipient a request: every message alone, in order.
        assert_eq!(
            indexes(&bundle(recipients(), 1)),
            vec![vec![0], vec![1], vec![2], vec![3], vec![4], vec![5]]
        );
    }
}
