//! One chunk of a batch: ask the policy chain about each recipient, reserve send slots, then send in
//! waves of requests in flight together, each wave's intent recorded just before it starts and its
//! outcomes with the next wave's intent (message references first).

use chrono::{DateTime, Duration, Utc};

use crate::campaign::Campaign;
use crate::directory::StoredSubscriber;
use crate::error::Result;
use crate::event::SentMessageRef;
use crate::keys;
use crate::kv::{self, KvStore};
use crate::messenger::SendOutcome;
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

/// The recipients the chain let through, each with its reserved send slot.
struct Queue {
    ready: Vec<Ready>,
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
        report: &mut BatchReport,
    ) -> Result<Chunk> {
        let (id, number) = (campaign.id.as_str(), batch.batch);
        let planned_at = self.clock.now();
        let Plans { decided, mut ready } = self.decide(campaign, batch, chunk, planned_at)?;
        let addresses: Vec<_> = ready.iter().map(|r| &r.address).collect();
        let rate = self.config.rate_for(campaign.channel.platform());
        let slots = pacing::reserve_slots(
            self.store,
            &campaign.channel,
            &addresses,
            rate,
            planned_at,
            self.config.deadline,
            self.config.catch_up(),
        )?;
        let starved = !ready.is_empty() && slots.is_empty();
        ready.truncate(slots.len());
        if starved || ready.is_empty() {
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
            ready,
            slots,
            planned_at,
        };
        self.send_in_waves(campaign, batch, decided, queue, report)
    }

    /// Send the queue in waves. A wave is every recipient whose slot has come (at most the channel's
    /// in-flight limit), started together and awaited together. Its intent is written just before it
    /// starts, in the same compare-and-swap as the previous wave's outcomes (their message references
    /// stored first), so only requests about to start can end `outcome_unknown`. Once the channel is
    /// paused (by an answer or by another tick), the rest stay pending, untouched.
    fn send_in_waves(
        &self,
        campaign: &Campaign,
        batch: &DeliveryBatch,
        decided: Vec<(usize, DeliveryEntry)>,
        queue: Queue,
        report: &mut BatchReport,
    ) -> Result<Chunk> {
        let (id, number) = (campaign.id.as_str(), batch.batch);
        let rate = self.config.rate_for(campaign.channel.platform());
        let limit = self.config.in_flight_for(rate);
        let last_slot = queue.slots.last().copied().unwrap_or(queue.planned_at);
        let planned_at = queue.planned_at;
        let mut waiting = queue.ready.into_iter().zip(queue.slots).peekable();
        let mut unwritten = decided;
        let mut references = Vec::new();
        let mut current = None;
        while let Some(&(_, next_slot)) = waiting.peek() {
            if !self.wait_for_slot(campaign, next_slot)? {
                break;
            }
            let now = self.clock.now();
            let mut wave = Vec::new();
            while wave.len() < limit {
                let Some((recipient, _)) = waiting.next_if(|(_, slot)| *slot <= now) else {
                    break;
                };
                let index = recipient.index;
                let entry = &batch.entries[index];
                match self.reconsider(campaign, entry, recipient, planned_at)? {
                    Ok(recipient) => wave.push(recipient),
                    Err(decision) => unwritten.push((index, decision.apply(entry, now))),
                }
            }
            // Intent: the wave's entries are in flight before its first request starts.
            unwritten.extend(wave.iter().map(|r| {
                let mut entry = batch.entries[r.index].clone();
                entry.outcome = DeliveryState::InFlight;
                (r.index, entry)
            }));
            self.record_references(campaign, &references)?;
            references.clear();
            let lease_until = last_slot.max(now) + self.config.lease;
            let Some(written) = self.write(id, number, &unwritten, lease_until, report)? else {
                return Ok(Chunk::LeaseLost);
            };
            current = Some(written);
            unwritten.clear();
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

    /// Send one wave with its requests in flight together and apply each answer to its entry (the
    /// changes to `unwritten`, the references to `references`). `true` when an answer paused the
    /// channel.
    fn send_wave(
        &self,
        campaign: &Campaign,
        batch: &DeliveryBatch,
        wave: &[Ready],
        report: &mut BatchReport,
        unwritten: &mut Vec<(usize, DeliveryEntry)>,
        references: &mut Vec<SentMessageRef>,
    ) -> Result<bool> {
        if wave.is_empty() {
            return Ok(false);
        }
        let sends: Vec<(&Address, &Outgoing)> =
            wave.iter().map(|r| (&r.address, &r.outgoing)).collect();
        let answers = self.messenger.send_many(&campaign.channel, &sends);
        // A messenger that answers fewer sends than asked leaves the rest unknown: retried as transient.
        let answers =
            answers
                .into_iter()
                .chain(std::iter::repeat_with(|| SendOutcome::Transient {
                    reason: "no answer from the messenger".into(),
                }));
        let answered_at = self.clock.now();
        let policy = self.config.retry_policy();
        let attempt = Attempt {
            campaign_id: campaign.id.as_str(),
            batch: batch.batch,
            answered_at,
        };
        let mut paused = false;
        for (recipient, answer) in wave.iter().zip(answers) {
            let entry = &batch.entries[recipient.index];
            let applied = apply_outcome(entry, answer, &policy, attempt);
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
