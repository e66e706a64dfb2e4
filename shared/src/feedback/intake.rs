//! Applying a batch of inbound events: each is validated on its own (one bad event is reported, not
//! allowed to make the platform redeliver the whole webhook for days), recorded once, and credited.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use super::answers::{PressAnswer, ALREADY_RATED_TEXT, THANKS_FOR_RATING_TEXT};
use super::effects::Effects;
use super::log::{parse_hint, FeedbackLog};
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
    for (log_name, page) in &references.hints {
        effects.know_hint(log_name, *page);
    }
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
    /// Rating records of the campaigns pressed for, as read; each is handed out once, since the batch
    /// may change it after.
    ratings: RefCell<HashMap<String, Option<Vec<u8>>>>,
    /// The tail hints of the feedback logs of the campaigns pressed for, by log name.
    hints: HashMap<String, u64>,
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

    /// The rating record at `key` as read with the batch, the first time it is asked for.
    fn take_rating(&self, key: &str) -> Option<Option<Vec<u8>>> {
        self.ratings.borrow_mut().remove(key)
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
    let mut rating_keys = HashSet::new();
    // Tail hint keys by the name of their log.
    let mut hint_keys = HashMap::new();
    for event in events {
        wanted.extend(event.reference_keys());
        // A rating names its campaign: its record and its log's hint are read with the batch.
        if let ValidEvent::Press {
            subscriber, data, ..
        } = event
        {
            if let Some((campaign_id, _)) = parse_rating_button_data(data)
                .filter(|(campaign_id, _)| check_campaign_id(campaign_id).is_ok())
            {
                let key = keys::rating(campaign_id, subscriber);
                rating_keys.insert(key.clone());
                wanted.push(key);
                let log_name = keys::feedback_log(Some(campaign_id));
                let hint_key = FeedbackLog::tail_key(&log_name);
                wanted.push(hint_key.clone());
                hint_keys.insert(hint_key, log_name);
            }
        }
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
    let mut ratings = HashMap::new();
    let mut hints = HashMap::new();
    for (key, value) in store.get_many(&wanted)? {
        if receipt_keys.contains(&key) {
            receipts.insert(key, value);
        } else if rating_keys.contains(&key) {
            ratings.insert(key, value);
        } else if let Some(log_name) = hint_keys.remove(&key) {
            hints.insert(log_name, parse_hint(value));
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
        ratings: RefCell::new(ratings),
        hints,
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
            let logged_from = Some(effects.log_start(store, campaign_id.as_deref())?);
            let record = ReplyRecord {
                campaign_id,
                subscriber,
                message_id: message_id.to_owned(),
                text,
                at,
                logged_from,
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
                    let (arm, indexed) = rating_arm(store, campaign_id, &subscriber, last)?;
                    let record = RatingRecord {
                        campaign_id: campaign_id.to_owned(),
                        subscriber: subscriber.clone(),
                        press_id: press_id.to_owned(),
                        score,
                        at,
                        logged_from: Some(effects.log_start(store, Some(campaign_id))?),
                    };
                    let read = references.take_rating(&keys::rating(campaign_id, &subscriber));
                    let outcome =
                        apply_rating(store, record, read, arm.as_deref(), indexed, effects)?;
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
                    let logged_from = Some(effects.log_start(store, campaign_id.as_deref())?);
                    let record = ButtonPressRecord {
                        campaign_id,
                        subscriber: subscriber.clone(),
                        press_id: press_id.to_owned(),
                        data: data.to_owned(),
                        at,
                        logged_from,
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

/// Who a reply is credited to: the campaign (none: the unattributed log), the A/B arm of the message it
/// answers, the campaign whose holdout held the subscriber back (within the reply window), and the
/// subscriber.
struct Credit<'a> {
    campaign_id: Option<&'a str>,
    arm: Option<&'a str>,
    holdout: Option<&'a str>,
    subscriber: &'a SubscriberId,
}

/// How a reply's record was claimed.
enum ReplyClaim {
    /// Recorded now, under `key`; `first_reply` when it is the subscriber's first to the campaign.
    New { key: String, first_reply: bool },
    /// Recorded before (a redelivery): the record as stored, under `key`.
    Redelivered {
        key: String,
        first_reply: bool,
        stored: FeedbackRecord,
    },
}

/// Whether two records of replies or presses are the same event (the platform's id repeats).
fn same_event(a: &FeedbackRecord, b: &FeedbackRecord) -> bool {
    match (a, b) {
        (FeedbackRecord::Reply(a), FeedbackRecord::Reply(b)) => {
            a.subscriber == b.subscriber && a.message_id == b.message_id
        }
        (FeedbackRecord::ButtonPress(a), FeedbackRecord::ButtonPress(b)) => {
            a.subscriber == b.subscriber && a.press_id == b.press_id
        }
        _ => false,
    }
}

/// Claim a reply's record by compare-and-swap, exactly once however often and however concurrently
/// it is delivered. The subscriber's first reply to a campaign is stored under the campaign's
/// "has replied" key, so one write both records it and makes it the one reply that counts them in
/// `replied`; later replies (and unattributed ones) are stored under their own key.
fn claim_reply<S: KvStore + ?Sized>(
    store: &S,
    key: String,
    record: &FeedbackRecord,
    campaign_id: Option<&str>,
    subscriber: &SubscriberId,
) -> Result<ReplyClaim> {
    let encoded = kv::encode(record);
    if let Some(campaign_id) = campaign_id {
        let first = keys::campaign_replies_of(campaign_id, subscriber);
        match store.compare_and_swap(&first, None, &encoded)? {
            CasOutcome::Swapped => {
                return Ok(ReplyClaim::New {
                    key: first,
                    first_reply: true,
                })
            }
            CasOutcome::Conflict(Some(bytes)) => {
                // A count kept there before records were (a number) does not decode: not this event.
                if let Ok(stored) = serde_json::from_slice::<FeedbackRecord>(&bytes) {
                    if same_event(&stored, record) {
                        return Ok(ReplyClaim::Redelivered {
                            key: first,
                            first_reply: true,
                            stored,
                        });
                    }
                }
            }
            CasOutcome::Conflict(None) => {}
        }
    }
    match store.compare_and_swap(&key, None, &encoded)? {
        CasOutcome::Swapped => Ok(ReplyClaim::New {
            key,
            first_reply: false,
        }),
        CasOutcome::Conflict(stored) => {
            let stored = match stored {
                Some(bytes) => kv::decode(&key, &bytes)?,
                None => record.clone(),
            };
            Ok(ReplyClaim::Redelivered {
                key,
                first_reply: false,
                stored,
            })
        }
    }
}

/// Whether a campaign id that sent a message is in the campaign index (every campaign is, from its
/// creation on and after its deletion; event rules' statistics ids are not).
fn in_campaign_index(campaign_id: &str) -> bool {
    !campaign_id.starts_with(crate::campaign::EVENT_RULE_ID_PREFIX)
}

/// Log a claimed reply for its campaign (or the unattributed log) with its counts: `replies`, and
/// `replied` for the subscriber's first, in all and in its arm. Records under their own key also go to
/// the subscriber's log, which erasure reads.
fn log_reply(
    effects: &mut Effects,
    campaign_id: Option<&str>,
    arm: Option<&str>,
    subscriber: &SubscriberId,
    key: String,
    from_page: u64,
    first_reply: bool,
) {
    // A first reply to a campaign is found by erasure through the campaign index; event rules' ids are
    // not listed there.
    if !first_reply || !campaign_id.is_some_and(in_campaign_index) {
        effects.log_of_subscriber(subscriber, key.clone());
    }
    let mut counts = Vec::new();
    if campaign_id.is_some() {
        counts.push((None, REPLIES, 1));
        if first_reply {
            counts.push((None, counter::REPLIED, 1));
        }
        if let Some(arm) = arm {
            counts.push((Some(arm), REPLIES, 1));
            if first_reply {
                counts.push((Some(arm), counter::REPLIED, 1));
            }
        }
    }
    effects.log_counted(campaign_id, key, from_page, &counts);
}

/// Record a reply, or a press that counts as one, once; log it and count it for its campaign (and arm)
/// in `replies`, and in `replied` when it is the subscriber's first, in the same write as its log
/// entry. A redelivery is a duplicate, and finishes the log entry if its first attempt stopped before
/// it; otherwise `outcome` says what was recorded, given whether it is the subscriber's first reply.
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
    let (key, first_reply) = match claim_reply(store, key, record, campaign_id, subscriber)? {
        ReplyClaim::New { key, first_reply } => (key, first_reply),
        ReplyClaim::Redelivered {
            key,
            first_reply,
            stored,
        } => {
            finish_logging(store, &stored, key, arm, first_reply, effects)?;
            return Ok(EventOutcome::Duplicate);
        }
    };
    let from_page = record.logged_from().unwrap_or_default();
    // A holdout member's reply is not the campaign's (it sent them nothing): it counts for the holdout
    // arm only, to compare the arms' replies against.
    if let Some(held_by) = holdout.filter(|held_by| Some(*held_by) != campaign_id) {
        effects.count_arm(held_by, HOLDOUT_ARM, REPLIES, 1);
        if first_holdout_reply(store, held_by, subscriber)? {
            effects.count_arm(held_by, HOLDOUT_ARM, counter::REPLIED, 1);
        }
    }
    log_reply(
        effects,
        campaign_id,
        arm,
        subscriber,
        key,
        from_page,
        first_reply,
    );
    Ok(outcome(first_reply))
}

/// For a redelivered reply or press: when its first attempt stopped after claiming the record and
/// before its log entry (and counts) were written, write them now, as they were to be.
fn finish_logging<S: KvStore + ?Sized>(
    store: &S,
    stored: &FeedbackRecord,
    key: String,
    arm: Option<&str>,
    first_reply: bool,
    effects: &mut Effects,
) -> Result<()> {
    let Some(from_page) = stored.logged_from() else {
        return Ok(());
    };
    let (campaign_id, subscriber) = match stored {
        FeedbackRecord::Reply(r) => (r.campaign_id.as_deref(), &r.subscriber),
        FeedbackRecord::ButtonPress(r) => (r.campaign_id.as_deref(), &r.subscriber),
        FeedbackRecord::Rating(_) | FeedbackRecord::Receipt(_) => return Ok(()),
    };
    let log_name = keys::feedback_log(campaign_id);
    if FeedbackLog::named(&log_name).holds_from(store, from_page, &key)? {
        return Ok(());
    }
    log_reply(
        effects,
        campaign_id,
        arm,
        subscriber,
        key,
        from_page,
        first_reply,
    );
    Ok(())
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
/// campaign record, which a later campaign's message made necessary). `None` without variants. And
/// whether erasure finds the rating through the campaign index: a campaign (not an event rule) that sent
/// the message or whose record is there.
fn rating_arm<S: KvStore + ?Sized>(
    store: &S,
    campaign_id: &str,
    subscriber: &SubscriberId,
    last: Option<&SentMessageRef>,
) -> Result<(Option<String>, bool)> {
    if let Some(sent) = last.filter(|sent| sent.campaign_id == campaign_id) {
        return Ok((sent.arm.clone(), in_campaign_index(campaign_id)));
    }
    let campaign: Option<Campaign> = kv::get_json(store, &keys::campaign(campaign_id))?;
    let created = campaign.is_some() && in_campaign_index(campaign_id);
    Ok((
        campaign.and_then(|c| c.arm_of(subscriber).map(|arm| arm.name().to_owned())),
        created,
    ))
}

fn apply_rating<S: KvStore + ?Sized>(
    store: &S,
    record: RatingRecord,
    read: Option<Option<Vec<u8>>>,
    arm: Option<&str>,
    indexed: bool,
    effects: &mut Effects,
) -> Result<EventOutcome> {
    let key = keys::rating(&record.campaign_id, &record.subscriber);
    // Read with the batch the first time; a second press in the same batch reads it again.
    let current = match read {
        Some(current) => current,
        None => store.get(&key)?,
    };
    // The record holds the press that gave the rating, so a redelivered press is told from a second one.
    let given =
        kv::update_json_from(
            store,
            &key,
            current,
            |current: Option<FeedbackRecord>| match current {
                None => Ok((Some(FeedbackRecord::Rating(record.clone())), None)),
                Some(FeedbackRecord::Rating(existing)) => Ok((None, Some(existing))),
                Some(_) => Err(Error::internal(format!(
                    "record '{key}' is not a rating record"
                ))),
            },
        )?;
    let log_rating = |effects: &mut Effects, rating: &RatingRecord, from_page: u64| {
        let score = i64::from(rating.score);
        let mut counts = vec![
            (None, counter::RATINGS, 1),
            (None, counter::RATING_SUM, score),
        ];
        if let Some(arm) = arm {
            counts.push((Some(arm), counter::RATINGS, 1));
            counts.push((Some(arm), counter::RATING_SUM, score));
        }
        // The key names the campaign and the subscriber: erasure finds it through the campaign index,
        // without the subscriber's log, unless the campaign is not one that was created.
        if !indexed {
            effects.log_of_subscriber(&rating.subscriber, key.clone());
        }
        effects.log_counted(Some(&rating.campaign_id), key.clone(), from_page, &counts);
    };
    match given {
        None => {
            log_rating(effects, &record, record.logged_from.unwrap_or_default());
            Ok(EventOutcome::Rating {
                campaign_id: record.campaign_id,
                score: record.score,
            })
        }
        Some(existing) if existing.press_id == record.press_id => {
            if let Some(from_page) = existing.logged_from {
                let log_name = keys::feedback_log(Some(&existing.campaign_id));
                if !FeedbackLog::named(&log_name).holds_from(store, from_page, &key)? {
                    log_rating(effects, &existing, from_page);
                }
            }
            Ok(EventOutcome::Duplicate)
        }
        Some(_) => Ok(EventOutcome::AlreadyRated {
            campaign_id: record.campaign_id,
        }),
    }
}
