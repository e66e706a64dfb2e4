//! One chunk of a batch, in four steps: ask the policy chain about each recipient, reserve send slots
//! and record the intent, send in those slots, then record the outcomes (message references first).

use chrono::{DateTime, Duration, Utc};

use crate::campaign::Campaign;
use crate::directory::StoredSubscriber;
use crate::error::Result;
use crate::event::SentMessageRef;
use crate::keys;
use crate::kv::{self, KvStore};
use crate::subscriber::{
    Address, ConsentAction, ConsentEvent, Subscriber, SubscriberId, SubscriptionStatus,
};

use super::ledger::{DeliveryBatch, DeliveryEntry, DeliveryState};
use super::outcome::{apply_outcome, finalised, Attempt, BlockRecipient, Effects};
use super::pacing;
use super::policy::{Candidate, Verdict};
use super::report::BatchReport;
use super::sender::Sender;
use super::Outgoing;

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
}

/// A chunk after the policy chain: the entries decided without sending, and the recipients to send.
struct Plans {
    decided: Vec<(usize, DeliveryEntry)>,
    ready: Vec<Ready>,
}

/// What the sends of a chunk produced, to be written.
#[derive(Default)]
struct Sent {
    outcomes: Vec<(usize, DeliveryEntry)>,
    references: Vec<SentMessageRef>,
}

impl<S: KvStore + ?Sized> Sender<'_, S> {
    /// Decide, record intent, send and record outcomes for a few entries.
    pub(super) fn send_chunk(
        &self,
        campaign: &Campaign,
        batch: &DeliveryBatch,
        chunk: &[usize],
        report: &mut BatchReport,
    ) -> Result<Chunk> {
        let (id, number) = (campaign.id.as_str(), batch.batch);
        let planned_at = self.clock.now();
        let Plans {
            mut decided,
            mut ready,
        } = self.decide(campaign, batch, chunk, planned_at)?;
        let addresses: Vec<_> = ready.iter().map(|r| &r.address).collect();
        let rate = self.config.rate_for(campaign.channel.platform());
        let slots = pacing::reserve_slots(
            self.store,
            &campaign.channel,
            &addresses,
            rate,
            planned_at,
            self.config.deadline,
        )?;
        let starved = !ready.is_empty() && slots.is_empty();
        ready.truncate(slots.len());
        // Intent: the entries about to go out are marked in flight before the first is sent.
        decided.extend(ready.iter().map(|r| {
            let mut entry = batch.entries[r.index].clone();
            entry.outcome = DeliveryState::InFlight;
            (r.index, entry)
        }));
        let last_slot = slots.last().copied().unwrap_or(planned_at);
        let lease_until = last_slot + self.config.lease;
        let Some(written) = self.write(id, number, &decided, lease_until, report)? else {
            return Ok(Chunk::LeaseLost);
        };
        if starved {
            return Ok(Chunk::NoSlot(written));
        }
        if ready.is_empty() {
            // Every entry of the chunk was decided without sending.
            return Ok(Chunk::Done(written));
        }
        let sent = self.send_in_slots(campaign, batch, ready, &slots, planned_at, report)?;
        // References first: a crash right after leaves them for entries that end `outcome_unknown`,
        // which still attributes replies to messages that did go out.
        self.record_references(campaign, &sent.references)?;
        let lease_until = self.clock.now() + self.config.lease;
        Ok(
            match self.write(id, number, &sent.outcomes, lease_until, report)? {
                Some(written) => Chunk::Done(written),
                None => Chunk::LeaseLost,
            },
        )
    }

    /// Ask the policy chain about each entry of the chunk, on the subscriber records as they are now
    /// (not as they were when the batch was claimed): the entries decided without sending, and those
    /// to send.
    fn decide(
        &self,
        campaign: &Campaign,
        batch: &DeliveryBatch,
        chunk: &[usize],
        now: DateTime<Utc>,
    ) -> Result<Plans> {
        let record_keys: Vec<String> = chunk
            .iter()
            .map(|&i| keys::subscriber(&batch.entries[i].subscriber))
            .collect();
        let records: Vec<Option<StoredSubscriber>> = kv::get_many_json(self.store, &record_keys)?;
        let mut decided = Vec::new();
        let mut ready = Vec::new();
        for (&index, record) in chunk.iter().zip(records) {
            match self.plan(campaign, index, record.map(|r| r.subscriber), now) {
                Ok(recipient) => ready.push(recipient),
                Err(decision) => decided.push((index, decision.apply(&batch.entries[index], now))),
            }
        }
        Ok(Plans { decided, ready })
    }

    /// Run the policy chain for one recipient; render their message when it lets them through.
    fn plan(
        &self,
        campaign: &Campaign,
        index: usize,
        subscriber: Option<Subscriber>,
        now: DateTime<Utc>,
    ) -> std::result::Result<Ready, Decision> {
        let render = |subscriber: &Subscriber| {
            self.renderer
                .render(subscriber, campaign)
                .map(|message| Outgoing {
                    campaign_id: campaign.id.to_string(),
                    message,
                    last_inbound_at: subscriber.last_inbound_at,
                })
        };
        let candidate = Candidate::new(campaign, subscriber.as_ref(), now, &render);
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
            }),
            Err(e) => Err(Decision::Final(DeliveryState::Failed {
                code: e.code().to_owned(),
                reason: e.message().to_owned(),
            })),
        }
    }

    /// Send each ready recipient in its slot, and apply each answer to its entry. Once the channel is
    /// paused (by this answer or another tick's), the rest go back to pending untouched.
    fn send_in_slots(
        &self,
        campaign: &Campaign,
        batch: &DeliveryBatch,
        ready: Vec<Ready>,
        slots: &[DateTime<Utc>],
        planned_at: DateTime<Utc>,
        report: &mut BatchReport,
    ) -> Result<Sent> {
        let policy = self.config.retry_policy();
        let mut sent = Sent::default();
        let mut halted = false;
        for (recipient, &slot) in ready.into_iter().zip(slots) {
            let index = recipient.index;
            let entry = &batch.entries[index];
            if halted || !self.wait_for_slot(campaign, slot)? {
                halted = true;
                sent.outcomes.push((index, entry.clone()));
                continue;
            }
            let recipient = match self.reconsider(campaign, entry, recipient, planned_at)? {
                Ok(recipient) => recipient,
                Err(decision) => {
                    sent.outcomes
                        .push((index, decision.apply(entry, self.clock.now())));
                    continue;
                }
            };
            let answer =
                self.messenger
                    .send(&campaign.channel, &recipient.address, &recipient.outgoing);
            let answered_at = self.clock.now();
            let attempt = Attempt {
                campaign_id: campaign.id.as_str(),
                batch: batch.batch,
                answered_at,
            };
            let applied = apply_outcome(entry, answer, &policy, attempt);
            halted = applied.effects.pause_channel_until.is_some();
            if applied.effects.retried {
                report.retried += 1;
            }
            let effects = applied.effects;
            self.perform(campaign, &entry.subscriber, effects, answered_at, &mut sent)?;
            sent.outcomes.push((index, applied.entry));
        }
        Ok(sent)
    }

    /// Sleep until `slot`; `false` when the channel was paused meanwhile (another tick was told to stop
    /// by a 429 while this one waited).
    fn wait_for_slot(&self, campaign: &Campaign, slot: DateTime<Utc>) -> Result<bool> {
        let before = self.clock.now();
        if slot > before {
            self.clock.sleep(slot - before);
        }
        Ok(!pacing::paused_beyond(self.store, &campaign.channel, slot)?)
    }

    /// A consent reading older than [`CONSENT_MAX_AGE`] is judged again on the record as it is now.
    fn reconsider(
        &self,
        campaign: &Campaign,
        entry: &DeliveryEntry,
        recipient: Ready,
        planned_at: DateTime<Utc>,
    ) -> Result<std::result::Result<Ready, Decision>> {
        let now = self.clock.now();
        if now - planned_at <= CONSENT_MAX_AGE {
            return Ok(Ok(recipient));
        }
        let record: Option<StoredSubscriber> =
            kv::get_json(self.store, &keys::subscriber(&entry.subscriber))?;
        Ok(self.plan(campaign, recipient.index, record.map(|r| r.subscriber), now))
    }

    /// Do what an answer asks besides the entry: pause the channel, block the subscriber, keep the
    /// message reference.
    fn perform(
        &self,
        campaign: &Campaign,
        subscriber: &SubscriberId,
        effects: Effects,
        answered_at: DateTime<Utc>,
        sent: &mut Sent,
    ) -> Result<()> {
        if let Some(until) = effects.pause_channel_until {
            pacing::pause_channel(self.store, &campaign.channel, until)?;
        }
        if let Some(block) = effects.block {
            let campaign_id = campaign.id.as_str();
            block_subscriber(self.store, subscriber, campaign_id, &block, answered_at)?;
        }
        sent.references.extend(effects.reference);
        Ok(())
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
