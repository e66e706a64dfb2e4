//! Applying a batch of inbound events: each is validated on its own (one bad event is reported, not
//! allowed to make the platform redeliver the whole webhook for days), recorded once, and credited.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use super::answers::{PressAnswer, ALREADY_RATED_TEXT, THANKS_FOR_RATING_TEXT};
use super::effects::Effects;
use super::receipt::{apply_receipts, ReceiptChange, StatusReport};
use super::record::{ButtonPressRecord, FeedbackRecord, RatingRecord, ReplyRecord};
use super::stats::REPLIES;
use super::watermark::{covered_change, is_watermark_status, WatermarkReport};
use super::{check_campaign_id, platform_of, FeedbackSettings};
use crate::campaign::{Campaign, HOLDOUT_ARM};
use crate::directory;
use crate::error::{Error, Result};
use crate::event::{
    counter, parse_rating_button_data, HeldOutRef, InboundEvent, ReceiptStatus, SentMessageRef,
};
use crate::keys;
use crate::kv::{self, CasOutcome, KvStore};
use crate::subscriber::SubscriberId;

/// The most events one batch may carry.
pub const MAX_EVENTS_PER_BATCH: usize = 1000;
/// Reply text is kept up to this many characters (Telegram's own message limit).
pub const MAX_REPLY_TEXT_CHARS: usize = 4096;
/// The longest platform id (message id, press id) accepted.
const MAX_PLATFORM_ID_CHARS: usize = 256;
/// The longest button data accepted (WhatsApp reply ids; Telegram allows 64 bytes).
const MAX_BUTTON_DATA_CHARS: usize = 256;
/// Platforms date events in whole seconds and their clocks differ from ours: a reply dated this much
/// before the message's `sent_at` is still taken as a reply to it.
pub const CLOCK_SKEW_SECS: i64 = 5;

/// What became of one event.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum EventOutcome {
    /// A reply was recorded (in the unattributed log when `campaign_id` is null).
    Reply {
        /// The campaign credited.
        campaign_id: Option<String>,
        /// Whether it was this subscriber's first reply to the campaign (counted in `replied`).
        first_reply: bool,
    },
    /// A rating was recorded and counted.
    Rating {
        /// The campaign rated.
        campaign_id: String,
        /// The score.
        score: u8,
    },
    /// The subscriber had rated the campaign already; nothing changed.
    AlreadyRated {
        /// The campaign.
        campaign_id: String,
    },
    /// A press of a non-rating button (a template quick reply) was recorded; it counts as a reply.
    ButtonPress {
        /// The campaign of the message it answers, or of the last message within the reply window.
        campaign_id: Option<String>,
        /// Whether it was this subscriber's first reply to the campaign (counted in `replied`).
        first_reply: bool,
    },
    /// A status was merged into the message's receipt record.
    Receipt {
        /// The platform's message id.
        message_id: String,
        /// The state that now stands.
        status: ReceiptStatus,
        /// The campaign, when the dispatcher has recorded the message (else credited later).
        campaign_id: Option<String>,
    },
    /// A watermark that covers no message recorded for the person; nothing changed.
    NoMessageCovered,
    /// Applied before (a platform redelivery); nothing changed.
    Duplicate,
    /// Invalid; skipped.
    Rejected {
        /// What is wrong with it.
        reason: String,
    },
}

/// What a batch did, in the order of its events.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct IntakeReport {
    /// Events recorded for the first time.
    pub applied: usize,
    /// Redeliveries.
    pub duplicates: usize,
    /// Invalid events, skipped.
    pub rejected: usize,
    /// One outcome per event.
    pub results: Vec<EventOutcome>,
    /// Button presses to answer (see [`super::answer_presses`]).
    #[serde(skip)]
    pub press_answers: Vec<PressAnswer>,
}

impl IntakeReport {
    fn push(&mut self, outcome: EventOutcome) {
        match outcome {
            EventOutcome::Duplicate => self.duplicates += 1,
            EventOutcome::Rejected { .. } => self.rejected += 1,
            _ => self.applied += 1,
        }
        self.results.push(outcome);
    }
}

/// The campaign message a reply or press at `at` answers: the last one sent, if `at` falls within the
/// window after it (allowing [`CLOCK_SKEW_SECS`] before it).
pub fn attributed_message(
    last: Option<&SentMessageRef>,
    at: DateTime<Utc>,
    window: Duration,
) -> Option<&SentMessageRef> {
    last.filter(|sent| within_window(sent.sent_at, at, window))
}

/// Whether something at `at` falls within `window` after `since` (allowing [`CLOCK_SKEW_SECS`] before it).
fn within_window(since: DateTime<Utc>, at: DateTime<Utc>, window: Duration) -> bool {
    at >= since - Duration::seconds(CLOCK_SKEW_SECS) && at - since <= window
}

/// Apply a batch of events: record each once, credit campaigns, and list the Telegram presses to answer.
///
/// # Errors
/// 413 `too_many_events` over [`MAX_EVENTS_PER_BATCH`]; store failures (the caller answers 5xx, the
/// platform redelivers, and what was applied is recognised as duplicate). Invalid events are not
/// errors: they are reported as [`EventOutcome::Rejected`].
pub fn apply_events<S: KvStore + ?Sized>(
    store: &S,
    settings: &FeedbackSettings,
    events: &[InboundEvent],
) -> Result<IntakeReport> {
    if events.len() > MAX_EVENTS_PER_BATCH {
        return Err(Error::new(
            crate::ErrorKind::PayloadTooLarge,
            "too_many_events",
            format!(
                "a batch holds at most {MAX_EVENTS_PER_BATCH} events, got {}; send several batches",
                events.len()
            ),
        ));
    }
    let validated: Vec<Result<ValidEvent<'_>, String>> = events.iter().map(validate).collect();
    let references = prefetch_references(store, validated.iter().filter_map(|v| v.as_ref().ok()))?;
    let readers = readers(
        &references,
        validated.iter().filter_map(|v| v.as_ref().ok()),
    );
    let mut effects = Effects::default();
    let mut report = IntakeReport::default();
    // Statuses (and watermarks) are merged together after the other events, in one batch.
    let mut outcomes: Vec<Option<EventOutcome>> = Vec::with_capacity(validated.len());
    let mut receipts: Vec<(usize, ReceiptChange)> = Vec::new();
    for (index, event) in validated.into_iter().enumerate() {
        let outcome = match event {
            Err(reason) => Ok(EventOutcome::Rejected { reason }),
            Ok(ValidEvent::Status(status)) => {
                let sent = references.get(&keys::platform_message(
                    status.platform.as_str(),
                    status.message_id,
                ));
                receipts.push((index, ReceiptChange::status(&status, sent)));
                outcomes.push(None);
                continue;
            }
            Ok(ValidEvent::Watermark(watermark)) => {
                let last = references.get(&keys::last_campaign_message(&watermark.subscriber));
                match covered_change(&watermark, last) {
                    Some(change) => {
                        receipts.push((index, change));
                        outcomes.push(None);
                        continue;
                    }
                    None => Ok(EventOutcome::NoMessageCovered),
                }
            }
            Ok(valid) => apply_valid(
                store,
                settings,
                &references,
                valid,
                &mut effects,
                &mut report.press_answers,
            ),
        };
        match outcome {
            Ok(outcome) => outcomes.push(Some(outcome)),
            Err(err) => {
                // Records written so far are recognised as duplicates on redelivery: give them their
                // counts now, or they never get them.
                effects.flush(store)?;
                return Err(err);
            }
        }
    }
    let changes: Vec<ReceiptChange> = receipts.iter().map(|(_, change)| change.clone()).collect();
    match apply_receipts(store, &changes, &references.receipts, &mut effects) {
        Ok(applied) => {
            for ((index, _), outcome) in receipts.iter().zip(applied) {
                outcomes[*index] = Some(outcome);
            }
        }
        Err(err) => {
            effects.flush(store)?;
            return Err(err);
        }
    }
    for outcome in outcomes.into_iter().flatten() {
        report.push(outcome);
    }
    effects.flush(store)?;
    // After the counts: a failure here has the platform redeliver, and the counts are already taken.
    directory::note_reads(store, &readers)?;
    Ok(report)
}

/// Who read a message of ours in this batch, and when: the recipient of each message a read status is
/// about, and each read watermark's subscriber.
fn readers<'e>(
    references: &References,
    events: impl Iterator<Item = &'e ValidEvent<'e>>,
) -> Vec<(SubscriberId, DateTime<Utc>)> {
    events
        .filter_map(|event| match event {
            ValidEvent::Status(report) if report.status == ReceiptStatus::Read => references
                .get(&keys::platform_message(
                    report.platform.as_str(),
                    report.message_id,
                ))
                .map(|sent| (sent.subscriber.clone(), report.at)),
            ValidEvent::Watermark(report) if report.status == ReceiptStatus::Read => {
                Some((report.subscriber.clone(), report.up_to))
            }
            _ => None,
        })
        .collect()
}

/// An event whose fields have been checked.
enum ValidEvent<'a> {
    Reply {
        subscriber: SubscriberId,
        message_id: &'a str,
        text: String,
        at: DateTime<Utc>,
    },
    Press {
        subscriber: SubscriberId,
        press_id: &'a str,
        data: &'a str,
        at: DateTime<Utc>,
        in_reply_to: Option<&'a str>,
    },
    Status(StatusReport<'a>),
    Watermark(WatermarkReport),
}

fn check_platform_id(what: &str, id: &str) -> Result<(), String> {
    if id.is_empty()
        || id.len() > MAX_PLATFORM_ID_CHARS
        || !id.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err(format!(
            "{what} must be 1-{MAX_PLATFORM_ID_CHARS} visible ASCII characters"
        ));
    }
    Ok(())
}

fn check_subscriber(subscriber: &SubscriberId) -> Result<SubscriberId, String> {
    SubscriberId::parse(subscriber.as_str()).map_err(|e| e.message().to_owned())
}

fn validate(event: &InboundEvent) -> Result<ValidEvent<'_>, String> {
    match event {
        InboundEvent::Reply {
            subscriber,
            message_id,
            text,
            at,
        } => {
            check_platform_id("message_id", message_id)?;
            let subscriber = check_subscriber(subscriber)?;
            Ok(ValidEvent::Reply {
                subscriber,
                message_id,
                text: text.chars().take(MAX_REPLY_TEXT_CHARS).collect(),
                at: *at,
            })
        }
        InboundEvent::ButtonPress {
            subscriber,
            press_id,
            data,
            at,
            in_reply_to,
        } => {
            check_platform_id("press_id", press_id)?;
            if let Some(message_id) = in_reply_to {
                check_platform_id("in_reply_to", message_id)?;
            }
            if data.chars().count() > MAX_BUTTON_DATA_CHARS {
                return Err(format!(
                    "button data is longer than {MAX_BUTTON_DATA_CHARS} characters"
                ));
            }
            let subscriber = check_subscriber(subscriber)?;
            Ok(ValidEvent::Press {
                subscriber,
                press_id,
                data,
                at: *at,
                in_reply_to: in_reply_to.as_deref(),
            })
        }
        InboundEvent::Receipt {
            platform,
            message_id,
            status,
            at,
            error,
        } => {
            check_platform_id("message_id", message_id)?;
            Ok(ValidEvent::Status(StatusReport {
                platform: *platform,
                message_id,
                status: *status,
                at: *at,
                error: error.as_ref(),
            }))
        }
        InboundEvent::Watermark {
            subscriber,
            status,
            up_to,
        } => {
            if !is_watermark_status(*status) {
                return Err(format!("a watermark is delivered or read, not {status:?}"));
            }
            Ok(ValidEvent::Watermark(WatermarkReport {
                subscriber: check_subscriber(subscriber)?,
                status: *status,
                up_to: *up_to,
            }))
        }
    }
}

/// What the events of a batch need to read, read in one round trip: the dispatcher's references (of
/// messages sent, and of holdouts), and the receipt records the statuses merge into.
struct References {
    sent: HashMap<String, SentMessageRef>,
    held: HashMap<String, HeldOutRef>,
    /// Receipt records as read, by which statuses applied before are told without the lease.
    receipts: HashMap<String, Option<Vec<u8>>>,
}

impl References {
    fn get(&self, key: &str) -> Option<&SentMessageRef> {
        self.sent.get(key)
    }

    /// The holdout `subscriber` was held back in, if a reply at `at` falls within the window after it.
    fn holdout_of(
        &self,
        subscriber: &SubscriberId,
        at: DateTime<Utc>,
        window: Duration,
    ) -> Option<&str> {
        self.held
            .get(&keys::held_out(subscriber))
            .filter(|held| within_window(held.at, at, window))
            .map(|held| held.campaign_id.as_str())
    }
}

impl ValidEvent<'_> {
    /// The key of the holdout reference of the subscriber who wrote or pressed, for events that may
    /// count as a reply.
    fn holdout_key(&self) -> Option<String> {
        match self {
            ValidEvent::Reply { subscriber, .. } | ValidEvent::Press { subscriber, .. } => {
                Some(keys::held_out(subscriber))
            }
            ValidEvent::Status(_) | ValidEvent::Watermark(_) => None,
        }
    }

    /// The keys of the dispatcher's references this event may be credited by.
    fn reference_keys(&self) -> Vec<String> {
        match self {
            ValidEvent::Press {
                subscriber,
                in_reply_to: Some(message_id),
                ..
            } => match platform_of(subscriber) {
                Some(platform) => vec![
                    keys::platform_message(platform.as_str(), message_id),
                    keys::last_campaign_message(subscriber),
                ],
                None => vec![keys::last_campaign_message(subscriber)],
            },
            ValidEvent::Reply { subscriber, .. }
            | ValidEvent::Press { subscriber, .. }
            | ValidEvent::Watermark(WatermarkReport { subscriber, .. }) => {
                vec![keys::last_campaign_message(subscriber)]
            }
            ValidEvent::Status(report) => vec![keys::platform_message(
                report.platform.as_str(),
                report.message_id,
            )],
        }
    }
}

fn prefetch_references<'a, 'e: 'a, S: KvStore + ?Sized>(
    store: &S,
    events: impl Iterator<Item = &'a ValidEvent<'e>>,
) -> Result<References> {
    let mut wanted = Vec::new();
    let mut receipt_keys = HashSet::new();
    let mut held_keys = HashSet::new();
    for event in events {
        wanted.extend(event.reference_keys());
        if let Some(key) = event.holdout_key() {
            held_keys.insert(key.clone());
            wanted.push(key);
        }
        if let ValidEvent::Status(report) = event {
            let key = keys::receipt(report.platform.as_str(), report.message_id);
            receipt_keys.insert(key.clone());
            wanted.push(key);
        }
    }
    wanted.sort_unstable();
    wanted.dedup();
    let mut sent = HashMap::new();
    let mut held = HashMap::new();
    let mut receipts = HashMap::new();
    for (key, value) in store.get_many(&wanted)? {
        if receipt_keys.contains(&key) {
            receipts.insert(key, value);
        } else if held_keys.contains(&key) {
            if let Some(reference) =
                value.and_then(|bytes| serde_json::from_slice::<HeldOutRef>(&bytes).ok())
            {
                held.insert(key, reference);
            }
        } else if let Some(reference) =
            value.and_then(|bytes| serde_json::from_slice::<SentMessageRef>(&bytes).ok())
        {
            // A reference that does not decode counts as absent, so one corrupt record cannot make a
            // platform redeliver a webhook forever.
            sent.insert(key, reference);
        }
    }
    Ok(References {
        sent,
        held,
        receipts,
    })
}

fn apply_valid<S: KvStore + ?Sized>(
    store: &S,
    settings: &FeedbackSettings,
    references: &References,
    event: ValidEvent<'_>,
    effects: &mut Effects,
    answers: &mut Vec<PressAnswer>,
) -> Result<EventOutcome> {
    match event {
        ValidEvent::Reply {
            subscriber,
            message_id,
            text,
            at,
        } => {
            let last = references.get(&keys::last_campaign_message(&subscriber));
            let answered = attributed_message(last, at, settings.reply_window);
            let campaign_id = answered.map(|sent| sent.campaign_id.clone());
            let arm = answered.and_then(|sent| sent.arm.as_deref());
            let record = ReplyRecord {
                campaign_id,
                subscriber,
                message_id: message_id.to_owned(),
                text,
                at,
            };
            let key = keys::reply(&record.subscriber, &record.message_id);
            let stored = FeedbackRecord::Reply(record.clone());
            let about = Credit {
                campaign_id: record.campaign_id.as_deref(),
                arm,
                holdout: references.holdout_of(&record.subscriber, at, settings.reply_window),
                subscriber: &record.subscriber,
            };
            apply_reply(store, key, &stored, about, effects, |first_reply| {
                EventOutcome::Reply {
                    campaign_id: record.campaign_id.clone(),
                    first_reply,
                }
            })
        }
        ValidEvent::Press {
            subscriber,
            press_id,
            data,
            at,
            in_reply_to: names_message,
        } => {
            let rating = parse_rating_button_data(data)
                .filter(|(campaign_id, _)| check_campaign_id(campaign_id).is_ok());
            let (outcome, answer_text) = match rating {
                Some((campaign_id, score)) => {
                    let last = references.get(&keys::last_campaign_message(&subscriber));
                    let arm = rating_arm(store, campaign_id, &subscriber, last)?;
                    let record = RatingRecord {
                        campaign_id: campaign_id.to_owned(),
                        subscriber: subscriber.clone(),
                        press_id: press_id.to_owned(),
                        score,
                        at,
                    };
                    let outcome = apply_rating(store, record, arm.as_deref(), effects)?;
                    let text = if matches!(outcome, EventOutcome::AlreadyRated { .. }) {
                        ALREADY_RATED_TEXT
                    } else {
                        THANKS_FOR_RATING_TEXT
                    };
                    (outcome, text)
                }
                None => {
                    // The message the press names, when it is one of ours; else the reply window's.
                    let answered = names_message.zip(platform_of(&subscriber)).and_then(
                        |(message_id, platform)| {
                            references.get(&keys::platform_message(platform.as_str(), message_id))
                        },
                    );
                    let last = references.get(&keys::last_campaign_message(&subscriber));
                    let credited =
                        answered.or_else(|| attributed_message(last, at, settings.reply_window));
                    let campaign_id = credited.map(|sent| sent.campaign_id.clone());
                    let arm = credited.and_then(|sent| sent.arm.as_deref());
                    let record = ButtonPressRecord {
                        campaign_id,
                        subscriber: subscriber.clone(),
                        press_id: press_id.to_owned(),
                        data: data.to_owned(),
                        at,
                    };
                    let key = keys::button_press(&record.subscriber, &record.press_id);
                    let stored = FeedbackRecord::ButtonPress(record.clone());
                    let about = Credit {
                        campaign_id: record.campaign_id.as_deref(),
                        arm,
                        holdout: references.holdout_of(&subscriber, at, settings.reply_window),
                        subscriber: &record.subscriber,
                    };
                    let outcome =
                        apply_reply(store, key, &stored, about, effects, |first_reply| {
                            EventOutcome::ButtonPress {
                                campaign_id: record.campaign_id.clone(),
                                first_reply,
                            }
                        })?;
                    (outcome, "")
                }
            };
            // Answered on redeliveries too: the first attempt may have failed before answering.
            if platform_of(&subscriber).is_some_and(|p| p.capabilities().acknowledges_presses) {
                answers.push(PressAnswer {
                    subscriber,
                    callback_query_id: press_id.to_owned(),
                    text: answer_text,
                });
            }
            Ok(outcome)
        }
        ValidEvent::Status(_) | ValidEvent::Watermark(_) => Err(Error::internal(
            "statuses are applied together, after the other events",
        )),
    }
}

/// Create a record only if its key is free; false when it exists (a redelivery).
fn create<S: KvStore + ?Sized>(store: &S, key: &str, record: &FeedbackRecord) -> Result<bool> {
    Ok(matches!(
        store.compare_and_swap(key, None, &kv::encode(record))?,
        CasOutcome::Swapped
    ))
}

/// Who a reply is credited to: the campaign (none: the unattributed log), the A/B arm of the message it
/// answers, the campaign whose holdout held the subscriber back (within the reply window), and the
/// subscriber.
struct Credit<'a> {
    campaign_id: Option<&'a str>,
    arm: Option<&'a str>,
    holdout: Option<&'a str>,
    subscriber: &'a SubscriberId,
}

/// Record a reply, or a press that counts as one, once under `key`; log it and count it for its campaign
/// (and arm) in `replies`, and in `replied` when it is the subscriber's first. A redelivery is a
/// duplicate; otherwise `outcome` says what was recorded, given whether it is the subscriber's first
/// reply.
fn apply_reply<S: KvStore + ?Sized>(
    store: &S,
    key: String,
    record: &FeedbackRecord,
    credit: Credit<'_>,
    effects: &mut Effects,
    outcome: impl FnOnce(bool) -> EventOutcome,
) -> Result<EventOutcome> {
    let Credit {
        campaign_id,
        arm,
        holdout,
        subscriber,
    } = credit;
    if !create(store, &key, record)? {
        return Ok(EventOutcome::Duplicate);
    }
    effects.log_personal(campaign_id, subscriber, key);
    // A holdout member's reply is not the campaign's (it sent them nothing): it counts for the holdout
    // arm only, to compare the arms' replies against.
    if let Some(held_by) = holdout.filter(|held_by| Some(*held_by) != campaign_id) {
        effects.count_arm(held_by, HOLDOUT_ARM, REPLIES, 1);
        if first_holdout_reply(store, held_by, subscriber)? {
            effects.count_arm(held_by, HOLDOUT_ARM, counter::REPLIED, 1);
        }
    }
    let Some(campaign_id) = campaign_id else {
        return Ok(outcome(false));
    };
    effects.count_in_arm(campaign_id, arm, REPLIES, 1);
    // An atomic per-subscriber count: exactly one reply sees 1, so `replied` counts people (a person is
    // in one arm of a campaign, so the arm's `replied` counts them once too).
    let first_reply = store.increment(&keys::campaign_replies_of(campaign_id, subscriber), 1)? == 1;
    if first_reply {
        effects.count_in_arm(campaign_id, arm, counter::REPLIED, 1);
    }
    Ok(outcome(first_reply))
}

/// Whether this is the first reply `subscriber` wrote while held back by `campaign_id`'s holdout: the
/// holdout reference is marked by compare-and-swap, so exactly one reply counts them in `replied`.
fn first_holdout_reply<S: KvStore + ?Sized>(
    store: &S,
    campaign_id: &str,
    subscriber: &SubscriberId,
) -> Result<bool> {
    kv::update_json(
        store,
        &keys::held_out(subscriber),
        |current: Option<HeldOutRef>| {
            Ok(match current {
                Some(mut held) if held.campaign_id == campaign_id && !held.replied => {
                    held.replied = true;
                    (Some(held), true)
                }
                _ => (None, false),
            })
        },
    )
}

/// The A/B arm a rating of `campaign_id` by `subscriber` is credited to: the arm of their last campaign
/// message when it was this campaign's (no read), else the campaign's split for them (one read of the
/// campaign record, which a later campaign's message made necessary). `None` without variants.
fn rating_arm<S: KvStore + ?Sized>(
    store: &S,
    campaign_id: &str,
    subscriber: &SubscriberId,
    last: Option<&SentMessageRef>,
) -> Result<Option<String>> {
    if let Some(sent) = last.filter(|sent| sent.campaign_id == campaign_id) {
        return Ok(sent.arm.clone());
    }
    let campaign: Option<Campaign> = kv::get_json(store, &keys::campaign(campaign_id))?;
    Ok(campaign.and_then(|c| c.arm_of(subscriber).map(|arm| arm.name().to_owned())))
}

fn apply_rating<S: KvStore + ?Sized>(
    store: &S,
    record: RatingRecord,
    arm: Option<&str>,
    effects: &mut Effects,
) -> Result<EventOutcome> {
    let key = keys::rating(&record.campaign_id, &record.subscriber);
    // The record holds the press that gave the rating, so a redelivered press is told from a second one.
    let given_by = kv::update_json(
        store,
        &key,
        |current: Option<FeedbackRecord>| match current {
            None => Ok((Some(FeedbackRecord::Rating(record.clone())), None)),
            Some(FeedbackRecord::Rating(existing)) => Ok((None, Some(existing.press_id))),
            Some(_) => Err(Error::internal(format!(
                "record '{key}' is not a rating record"
            ))),
        },
    )?;
    match given_by {
        None => {
            effects.log_personal(Some(&record.campaign_id), &record.subscriber, key);
            effects.count_in_arm(&record.campaign_id, arm, counter::RATINGS, 1);
            effects.count_in_arm(
                &record.campaign_id,
                arm,
                counter::RATING_SUM,
                i64::from(record.score),
            );
            Ok(EventOutcome::Rating {
                campaign_id: record.campaign_id,
                score: record.score,
            })
        }
        Some(press_id) if press_id == record.press_id => Ok(EventOutcome::Duplicate),
        Some(_) => Ok(EventOutcome::AlreadyRated {
            campaign_id: record.campaign_id,
        }),
    }
}
