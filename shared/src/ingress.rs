//! Applying what a platform webhook told us: consent changes go to the subscriber record (with their
//! evidence), everything else becomes an [`InboundEvent`] for the feedback component.
//!
//! Platforms redeliver on any non-2xx, for hours or days. Each delivery is applied idempotently, without a
//! marker of its own: a consent change whose evidence is already recorded is not recorded again (and a
//! record left as it was is not written), and feedback events carry the platform's ids, by which the
//! feedback component recognises them. So the answer says exactly what changed, also when the platform
//! delivers the same update several times at once.

use chrono::{DateTime, Utc};

use crate::automation::{self, Trigger};
use crate::directory::{self, external_id};
use crate::error::Result;
use crate::event::InboundEvent;
use crate::kv::KvStore;
use crate::link::{self, LinkKey, Redeemed};
use crate::subscriber::{
    Address, Channel, ConsentAction, ConsentEvent, Locale, Profile, Subscriber, SubscriberId,
    SubscriptionStatus,
};

/// A platform event, normalised.
#[derive(Debug, Clone, PartialEq)]
pub struct Inbound {
    /// The channel it arrived on.
    pub channel: Channel,
    /// The platform's id of the delivery (Telegram `update_id`, WhatsApp message id), for idempotency.
    pub event_id: String,
    /// Who it is about, when it is about someone.
    pub address: Option<Address>,
    /// Names the platform sent along.
    pub profile: Profile,
    /// The person's language, when the platform said.
    pub locale: Option<Locale>,
    /// When it happened.
    pub at: DateTime<Utc>,
    /// What happened.
    pub kind: InboundKind,
}

impl Inbound {
    /// An event we acknowledge and do nothing with.
    pub fn ignored(channel: Channel, event_id: String, reason: &str) -> Self {
        Inbound {
            channel,
            event_id,
            address: None,
            profile: Profile::default(),
            locale: None,
            at: DateTime::<Utc>::MIN_UTC,
            kind: InboundKind::Ignored {
                reason: reason.to_owned(),
            },
        }
    }
}

/// What happened, platform-neutrally.
#[derive(Debug, Clone, PartialEq)]
pub enum InboundKind {
    /// The person opted in.
    OptIn {
        /// How (`telegram:/start summer-promo`, `whatsapp:keyword START`).
        source: String,
        /// A deep-link payload, kept as the subscription source.
        payload: Option<String>,
        /// The platform's reference.
        evidence: String,
    },
    /// The person opted out.
    OptOut {
        /// How.
        source: String,
        /// The platform's reference.
        evidence: String,
    },
    /// The person blocked us.
    Blocked {
        /// How.
        source: String,
        /// The platform's reference.
        evidence: String,
    },
    /// The person unblocked us: a fresh opt-in.
    Unblocked {
        /// How.
        source: String,
        /// The platform's reference.
        evidence: String,
    },
    /// A text message that is not a command.
    Reply {
        /// The platform's message id.
        message_id: String,
        /// The text.
        text: String,
    },
    /// A button press.
    ButtonPress {
        /// The platform's id of the press.
        press_id: String,
        /// The button data.
        data: String,
    },
    /// The person opened a conversation with the account without subscribing (Viber's
    /// `conversation_started`); where the platform lets the webhook's answer carry a message, it
    /// may be welcomed (see [`crate::welcome`]).
    ConversationOpened,
    /// Receipts and other events already in feedback's terms (WhatsApp statuses).
    Feedback(InboundEvent),
    /// Acknowledged, not used.
    Ignored {
        /// Why.
        reason: String,
    },
}

/// What applying an inbound event did.
#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    /// The subscriber concerned, if any.
    pub subscriber: Option<SubscriberId>,
    /// Whether a consent change was recorded now (false for a redelivery of one recorded before).
    pub recorded: bool,
    /// The event for the feedback component; [`receive`] forwards it.
    pub feedback: Option<InboundEvent>,
    /// The record as the event left it, if it was about someone.
    pub record: Option<Subscriber>,
    /// Whether the event's consent change is the one that made the person subscribed (from not
    /// subscribed): told again on a redelivery of it, so what it triggers can be keyed by the event
    /// and done once.
    pub subscription_began: bool,
}

impl Applied {
    fn nothing() -> Self {
        Applied {
            subscriber: None,
            recorded: false,
            feedback: None,
            record: None,
            subscription_began: false,
        }
    }
}

/// Apply one inbound event to the store. Consent changes are written here, once per piece of evidence
/// however often and however concurrently the platform delivers it; feedback events are returned for
/// the caller to forward. An opt-in carrying a valid link's code (signed with `links`) also attaches
/// the link's customer id, with the link named in the consent evidence; any other code subscribes
/// without linking.
///
/// # Errors
/// Store failures.
pub fn apply<S: KvStore + ?Sized>(
    store: &S,
    links: &LinkKey,
    inbound: Inbound,
    now: DateTime<Utc>,
) -> Result<Applied> {
    let Some(address) = inbound.address.clone() else {
        return Ok(match inbound.kind {
            InboundKind::Feedback(event) => Applied {
                feedback: Some(event),
                ..Applied::nothing()
            },
            _ => Applied::nothing(),
        });
    };
    let id = SubscriberId::of(&inbound.channel, &address);
    let consent = |action, source: &str, evidence: &str| ConsentEvent {
        action,
        at: inbound.at,
        source: source.to_owned(),
        evidence: evidence.to_owned(),
    };
    // A link's customer is listed in its index before the record carries the id (see
    // `directory::external_id`).
    let linked = match &inbound.kind {
        InboundKind::OptIn {
            payload: Some(payload),
            ..
        } => link_and_list(store, links, &inbound.channel, &id, payload, now)?,
        _ => None,
    };
    let (change, feedback) = match &inbound.kind {
        InboundKind::OptIn {
            source,
            payload,
            evidence,
        } => {
            let change = match (&linked, payload) {
                // The link is the evidence, named by its id; its code stays out of the record.
                (Some(redeemed), Some(payload)) => (
                    consent(
                        ConsentAction::Subscribed,
                        &linked_source(source, payload),
                        &format!("{evidence}, link {}", redeemed.link_id),
                    ),
                    None,
                ),
                _ => (
                    consent(ConsentAction::Subscribed, source, evidence),
                    payload.clone(),
                ),
            };
            (Some(change), None)
        }
        InboundKind::OptOut { source, evidence } => (
            Some((consent(ConsentAction::Unsubscribed, source, evidence), None)),
            None,
        ),
        InboundKind::Blocked { source, evidence } => (
            Some((consent(ConsentAction::Blocked, source, evidence), None)),
            None,
        ),
        InboundKind::Unblocked { source, evidence } => (
            Some((consent(ConsentAction::Unblocked, source, evidence), None)),
            None,
        ),
        InboundKind::Reply { message_id, text } => (
            None,
            Some(InboundEvent::Reply {
                subscriber: id.clone(),
                message_id: message_id.clone(),
                text: text.clone(),
                at: inbound.at,
            }),
        ),
        InboundKind::ButtonPress { press_id, data } => (
            None,
            Some(InboundEvent::ButtonPress {
                subscriber: id.clone(),
                press_id: press_id.clone(),
                data: data.clone(),
                at: inbound.at,
                in_reply_to: None,
            }),
        ),
        InboundKind::Feedback(event) => (None, Some(event.clone())),
        InboundKind::Ignored { .. } | InboundKind::ConversationOpened => {
            return Ok(Applied::nothing())
        }
    };
    // Any message the person sends (a keyword, a command, a reply, a press) opens WhatsApp's
    // 24-hour service window; membership changes are not messages.
    let is_message = matches!(
        inbound.kind,
        InboundKind::OptIn { .. }
            | InboundKind::OptOut { .. }
            | InboundKind::Reply { .. }
            | InboundKind::ButtonPress { .. }
            | InboundKind::Feedback(InboundEvent::Reply { .. } | InboundEvent::ButtonPress { .. })
    );
    let opted_in = matches!(
        inbound.kind,
        InboundKind::OptIn { .. } | InboundKind::Unblocked { .. }
    );
    // Set by the round of the compare-and-swap that sticks, so of concurrent deliveries of one
    // change exactly one reports it recorded.
    let mut recorded = false;
    let mut subscription_began = false;
    // The customer id the record carried before a link replaced it.
    let mut replaced = None;
    let record = directory::touch(
        store,
        &inbound.channel,
        &address,
        now,
        opted_in,
        |subscriber| {
            subscriber.profile = merge_profile(&subscriber.profile, &inbound.profile);
            if subscriber.locale.is_none() {
                subscriber.locale = inbound.locale.clone();
            }
            if is_message {
                subscriber.last_inbound_at = Some(
                    subscriber
                        .last_inbound_at
                        .map_or(inbound.at, |t| t.max(inbound.at)),
                );
            }
            recorded = false;
            subscription_began = false;
            replaced = None;
            if let Some((event, payload)) = &change {
                // A redelivered update carries the same evidence: record it once.
                let already = subscriber
                    .consent
                    .iter()
                    .position(|e| e.evidence == event.evidence && e.source == event.source);
                if let Some(position) = already {
                    subscription_began = began_subscription(&subscriber.consent, position);
                } else {
                    subscription_began = subscriber.status != SubscriptionStatus::Subscribed
                        && matches!(
                            event.action,
                            ConsentAction::Subscribed | ConsentAction::Unblocked
                        );
                    if event.action == ConsentAction::Subscribed && subscriber.source.is_none() {
                        subscriber.source = payload.clone().or_else(|| Some(event.source.clone()));
                    }
                    subscriber.record_consent(event.clone());
                    recorded = true;
                    // Linked with the consent it came with: a redelivery links once, and never
                    // undoes a later change of the id.
                    if let Some(redeemed) = &linked {
                        replaced = subscriber
                            .external_id
                            .replace(redeemed.external_id.clone())
                            .filter(|previous| previous != &redeemed.external_id);
                    }
                }
            }
        },
    )?;
    if let Some(previous) = &replaced {
        external_id::unlist(store, previous, &id)?;
    }
    Ok(Applied {
        subscriber: Some(id),
        recorded,
        feedback,
        record: Some(record),
        subscription_began,
    })
}

/// Whether the consent change at `position` of a history took a person who was not subscribed to
/// subscribed.
fn began_subscription(history: &[ConsentEvent], position: usize) -> bool {
    let opts_in = |action: ConsentAction| {
        matches!(action, ConsentAction::Subscribed | ConsentAction::Unblocked)
    };
    opts_in(history[position].action) && (position == 0 || !opts_in(history[position - 1].action))
}

/// The link a deep-link payload redeems on `channel`, with `id` listed under its customer id; `None`
/// (and one neutral log line for something shaped like a link's code) when it links nothing, or when
/// the customer has no room for another subscriber: the person is subscribed all the same.
fn link_and_list<S: KvStore + ?Sized>(
    store: &S,
    links: &LinkKey,
    channel: &Channel,
    id: &SubscriberId,
    payload: &str,
    now: DateTime<Utc>,
) -> Result<Option<Redeemed>> {
    let Some(redeemed) = link::redeem(store, links, channel, payload, now)? else {
        if link::is_code(payload) {
            eprintln!("spinpost: an opt-in on {channel} carried a link code that links nothing");
        }
        return Ok(None);
    };
    match external_id::list_under(store, &redeemed.external_id, id) {
        Ok(()) => Ok(Some(redeemed)),
        Err(err) if err.status() < 500 => {
            eprintln!(
                "spinpost: an opt-in on {channel} was not linked: {}",
                err.message()
            );
            Ok(None)
        }
        Err(err) => Err(err),
    }
}

/// The consent source of a linked opt-in: the platform's source with the code in it named `link`
/// (`telegram:/start link`, `whatsapp:keyword START link`).
fn linked_source(source: &str, code: &str) -> String {
    if source.contains(code) {
        source.replace(code, "link")
    } else {
        format!("{source} link")
    }
}

/// What the feedback component made of one forwarded event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// Recorded now.
    Applied,
    /// Recorded before (a redelivery); nothing changed.
    Duplicate,
    /// Invalid; skipped.
    Rejected,
}

/// What receiving one webhook delivery did, event by event of the platform's delivery.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Received {
    /// Events that changed something now.
    pub applied: usize,
    /// Events applied before (redeliveries, or repeated within the delivery): nothing changed.
    pub duplicates: usize,
    /// Events the feedback component found invalid and skipped.
    pub rejected: usize,
    /// Events acknowledged and not used (e.g. a platform's echo of our own message).
    pub ignored: usize,
    /// The subscribers concerned.
    pub subscribers: Vec<SubscriberId>,
    /// The automated messages the delivery triggers (a welcome, a keyword reply), for the caller to
    /// hand to the rules; each is keyed by the platform's event, so a redelivery triggers nothing new.
    #[serde(skip)]
    pub triggers: Vec<Trigger>,
}

impl Received {
    fn count(&mut self, fate: Fate) {
        match fate {
            Fate::Applied => self.applied += 1,
            Fate::Duplicate => self.duplicates += 1,
            Fate::Rejected => self.rejected += 1,
        }
    }
}

/// Receive a verified delivery of one or more events: apply each (idempotently, linking with `links`) and hand their feedback
/// to the feedback component in one call. Each event is reported by what it changed: a consent change by
/// whether it was recorded now, a feedback event by the fate the feedback component reports. A failure
/// anywhere answers non-2xx, the platform redelivers, and what was applied is recognised as such.
///
/// # Errors
/// Store failures; 503 when feedback cannot be reached.
pub fn receive<S, F>(
    store: &S,
    feedback_sink: &F,
    links: &LinkKey,
    inbounds: Vec<Inbound>,
    now: DateTime<Utc>,
) -> Result<Received>
where
    S: KvStore + ?Sized,
    F: FeedbackSink + ?Sized,
{
    let mut received = Received::default();
    let mut feedback = Vec::new();
    for inbound in inbounds {
        let applied = apply(store, links, inbound.clone(), now)?;
        received
            .triggers
            .extend(automation::triggered_by(&inbound, &applied, now));
        if let Some(subscriber) = &applied.subscriber {
            if !received.subscribers.contains(subscriber) {
                received.subscribers.push(subscriber.clone());
            }
        }
        match applied.feedback {
            Some(event) => feedback.push(event),
            None if applied.recorded => received.count(Fate::Applied),
            None if applied.subscriber.is_none() => received.ignored += 1,
            None => received.count(Fate::Duplicate),
        }
    }
    if !feedback.is_empty() {
        let count = feedback.len();
        let fates = feedback_sink.forward(feedback)?;
        if fates.len() != count {
            return Err(crate::error::Error::unavailable(
                "feedback_unavailable",
                format!(
                    "feedback component: answered {} results for {count} events",
                    fates.len()
                ),
            ));
        }
        for fate in fates {
            received.count(fate);
        }
    }
    Ok(received)
}

/// Where [`receive`] hands the feedback events of a delivery: the feedback component, in a deployment.
pub trait FeedbackSink {
    /// Hand on a non-empty list of events; returns each event's fate, in order.
    ///
    /// # Errors
    /// 503 `feedback_unavailable` when they could not be handed on; the webhook then answers non-2xx,
    /// the platform redelivers, and the redelivery is applied idempotently.
    fn forward(&self, events: Vec<InboundEvent>) -> Result<Vec<Fate>>;
}

fn merge_profile(old: &Profile, new: &Profile) -> Profile {
    Profile {
        first_name: new.first_name.clone().or_else(|| old.first_name.clone()),
        last_name: new.last_name.clone().or_else(|| old.last_name.clone()),
        username: new.username.clone().or_else(|| old.username.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;
    use crate::kv::{self, MemoryStore};
    use crate::subscriber::{Platform, Subscriber, SubscriptionStatus};

    fn now() -> DateTime<Utc> {
        "2026-11-24T12:00:00Z".parse().unwrap()
    }

    fn inbound(event_id: &str, kind: InboundKind) -> Inbound {
        Inbound {
            channel: Channel::parse("telegram:shop").unwrap(),
            event_id: event_id.into(),
            address: Some(Address::parse(Platform::Telegram, "42").unwrap()),
            profile: Profile {
                first_name: Some("Ada".into()),
                ..Profile::default()
            },
            locale: Some(Locale::parse("de").unwrap()),
            at: now(),
            kind,
        }
    }

    fn opt_in(event_id: &str) -> Inbound {
        inbound(
            event_id,
            InboundKind::OptIn {
                source: "telegram:/start promo".into(),
                payload: Some("promo".into()),
                evidence: format!("update_id {event_id}"),
            },
        )
    }

    fn load(store: &MemoryStore) -> Subscriber {
        kv::get_json(store, "sub:telegram:shop:42")
            .unwrap()
            .unwrap()
    }

    #[test]
    fn opt_in_creates_a_subscribed_record_with_evidence_and_source() {
        let store = MemoryStore::new();
        let applied = apply(&store, &LinkKey::default(), opt_in("1"), now()).unwrap();
        assert_eq!(applied.subscriber.unwrap().as_str(), "telegram:shop:42");
        let s = load(&store);
        assert_eq!(s.status, SubscriptionStatus::Subscribed);
        assert_eq!(s.source.as_deref(), Some("promo"));
        assert_eq!(s.locale.unwrap().as_str(), "de");
        assert_eq!(s.consent[0].evidence, "update_id 1");
        assert_eq!(crate::index::Index::SUBSCRIBERS.len(&store).unwrap(), 1);
    }

    #[test]
    fn a_redelivered_update_is_not_applied_twice_and_writes_nothing() {
        let store = MemoryStore::new();
        assert!(
            apply(&store, &LinkKey::default(), opt_in("1"), now())
                .unwrap()
                .recorded
        );
        let before = store.get("sub:telegram:shop:42").unwrap();
        let again = apply(
            &store,
            &LinkKey::default(),
            opt_in("1"),
            now() + chrono::Duration::hours(1),
        )
        .unwrap();
        assert!(!again.recorded);
        assert_eq!(load(&store).consent.len(), 1);
        assert_eq!(store.get("sub:telegram:shop:42").unwrap(), before);
        assert_eq!(crate::index::Index::SUBSCRIBERS.len(&store).unwrap(), 1);
    }

    #[test]
    fn of_concurrent_identical_deliveries_exactly_one_records_the_change() {
        let store = MemoryStore::new();
        let recorded = std::sync::atomic::AtomicUsize::new(0);
        crate::kv::concurrently(&store, 8, |store, _| {
            if apply(store, &LinkKey::default(), opt_in("1"), now())
                .unwrap()
                .recorded
            {
                recorded.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
        });
        assert_eq!(recorded.into_inner(), 1);
        assert_eq!(load(&store).consent.len(), 1);
    }

    #[test]
    fn stop_then_block_then_unblock_follow_consent() {
        let store = MemoryStore::new();
        apply(&store, &LinkKey::default(), opt_in("1"), now()).unwrap();
        apply(
            &store,
            &LinkKey::default(),
            inbound(
                "2",
                InboundKind::OptOut {
                    source: "telegram:/stop".into(),
                    evidence: "update_id 2".into(),
                },
            ),
            now(),
        )
        .unwrap();
        assert_eq!(load(&store).status, SubscriptionStatus::Unsubscribed);
        apply(
            &store,
            &LinkKey::default(),
            inbound(
                "3",
                InboundKind::Blocked {
                    source: "telegram:kicked".into(),
                    evidence: "update_id 3".into(),
                },
            ),
            now(),
        )
        .unwrap();
        assert_eq!(load(&store).status, SubscriptionStatus::Blocked);
        apply(
            &store,
            &LinkKey::default(),
            inbound(
                "4",
                InboundKind::Unblocked {
                    source: "telegram:member".into(),
                    evidence: "update_id 4".into(),
                },
            ),
            now(),
        )
        .unwrap();
        let s = load(&store);
        assert_eq!(s.status, SubscriptionStatus::Subscribed);
        assert_eq!(s.consent.len(), 4);
    }

    #[test]
    fn replies_become_feedback_events_and_open_the_service_window() {
        let store = MemoryStore::new();
        apply(&store, &LinkKey::default(), opt_in("1"), now()).unwrap();
        let applied = apply(
            &store,
            &LinkKey::default(),
            inbound(
                "2",
                InboundKind::Reply {
                    message_id: "77".into(),
                    text: "thanks!".into(),
                },
            ),
            now(),
        )
        .unwrap();
        assert!(
            matches!(&applied.feedback, Some(InboundEvent::Reply { text, .. }) if text == "thanks!")
        );
        assert_eq!(load(&store).last_inbound_at, Some(now()));
    }

    #[test]
    fn a_reply_from_a_stranger_does_not_subscribe_them() {
        let store = MemoryStore::new();
        let applied = apply(
            &store,
            &LinkKey::default(),
            inbound(
                "9",
                InboundKind::Reply {
                    message_id: "1".into(),
                    text: "hello".into(),
                },
            ),
            now(),
        )
        .unwrap();
        assert!(applied.feedback.is_some());
        assert_eq!(load(&store).status, SubscriptionStatus::Unsubscribed);
    }

    fn link_key() -> LinkKey {
        LinkKey::new(crate::secret::Secret::new("link-key"))
    }

    /// A link for `customer` on `telegram:shop`, valid for an hour from [`now`]; its code.
    fn link_for(store: &MemoryStore, customer: &str) -> String {
        let request = link::LinkRequest {
            external_id: customer.into(),
            channel: "telegram:shop".into(),
            ttl_seconds: Some(3600),
        };
        link::issue(store, &link_key(), &request, now(), |_, code| {
            Ok(format!("https://t.me/shopbot?start={code}"))
        })
        .unwrap()
        .code
    }

    fn start_with(event_id: &str, code: &str) -> Inbound {
        inbound(
            event_id,
            InboundKind::OptIn {
                source: format!("telegram:/start {code}"),
                payload: Some(code.to_owned()),
                evidence: format!("update_id {event_id}"),
            },
        )
    }

    fn customer(s: &str) -> directory::ExternalId {
        directory::ExternalId::parse(s).unwrap()
    }

    #[test]
    fn a_start_with_a_link_subscribes_and_links_once_with_the_link_as_evidence() {
        let store = MemoryStore::new();
        let code = link_for(&store, "cus_1042");
        let applied = apply(&store, &link_key(), start_with("1", &code), now()).unwrap();
        assert!(applied.recorded);
        let s = load(&store);
        assert_eq!(s.status, SubscriptionStatus::Subscribed);
        assert_eq!(s.external_id, Some(customer("cus_1042")));
        assert_eq!(s.consent[0].source, "telegram:/start link");
        assert!(s.consent[0].evidence.starts_with("update_id 1, link "));
        assert_eq!(s.source.as_deref(), Some("telegram:/start link"));
        assert!(
            !format!("{s:?}").contains(&code),
            "the code stays out of the record"
        );
        let person = directory::subscribers_of(&store, &customer("cus_1042")).unwrap();
        assert_eq!(person, [applied.subscriber.unwrap()]);
        // Redelivered: nothing new.
        let again = apply(&store, &link_key(), start_with("1", &code), now()).unwrap();
        assert!(!again.recorded);
        assert_eq!(load(&store).consent.len(), 1);
    }

    #[test]
    fn a_new_link_moves_the_subscriber_to_its_customer_and_a_redelivery_does_not_undo_a_later_change(
    ) {
        let store = MemoryStore::new();
        let first = link_for(&store, "cus_1");
        let second = link_for(&store, "cus_2");
        apply(&store, &link_key(), start_with("1", &first), now()).unwrap();
        apply(&store, &link_key(), start_with("2", &second), now()).unwrap();
        assert_eq!(load(&store).external_id, Some(customer("cus_2")));
        assert!(directory::subscribers_of(&store, &customer("cus_1"))
            .unwrap()
            .is_empty());
        apply(&store, &link_key(), start_with("1", &first), now()).unwrap();
        assert_eq!(load(&store).external_id, Some(customer("cus_2")));
        assert_eq!(
            directory::subscribers_of(&store, &customer("cus_2"))
                .unwrap()
                .len(),
            1
        );
    }

    #[test]
    fn a_forged_tampered_or_expired_code_subscribes_without_linking() {
        let store = MemoryStore::new();
        let code = link_for(&store, "cus_1042");
        let mut tampered = code.clone().into_bytes();
        tampered[50] = if tampered[50] == b'0' { b'1' } else { b'0' };
        let tampered = String::from_utf8(tampered).unwrap();
        let forged = "ab".repeat(link::TOKEN_CHARS / 2);
        let expired_at = now() + chrono::Duration::hours(2);
        for (event_id, payload, at) in [
            ("1", tampered.as_str(), now()),
            ("2", forged.as_str(), now()),
            ("3", code.as_str(), expired_at),
        ] {
            let applied = apply(&store, &link_key(), start_with(event_id, payload), at).unwrap();
            assert!(applied.recorded, "{event_id}");
        }
        let s = load(&store);
        assert_eq!(s.status, SubscriptionStatus::Subscribed);
        assert_eq!(s.external_id, None);
        assert!(s.consent.iter().all(|e| !e.evidence.contains("link")));
        assert!(directory::subscribers_of(&store, &customer("cus_1042"))
            .unwrap()
            .is_empty());
        // Without a key configured, even a valid code links nothing.
        let other = Inbound {
            address: Some(Address::parse(Platform::Telegram, "43").unwrap()),
            ..start_with("4", &code)
        };
        apply(&store, &LinkKey::default(), other, now()).unwrap();
        assert!(directory::subscribers_of(&store, &customer("cus_1042"))
            .unwrap()
            .is_empty());
    }

    struct FeedbackDown;
    impl FeedbackSink for FeedbackDown {
        fn forward(&self, _: Vec<InboundEvent>) -> Result<Vec<Fate>> {
            Err(Error::unavailable(
                "feedback_unavailable",
                "feedback component: connection refused",
            ))
        }
    }

    /// Records each reply once by message id, as the feedback component does.
    struct FeedbackUp(std::sync::Mutex<Vec<String>>);
    impl FeedbackSink for FeedbackUp {
        fn forward(&self, events: Vec<InboundEvent>) -> Result<Vec<Fate>> {
            let mut seen = self.0.lock().unwrap();
            Ok(events
                .into_iter()
                .map(|event| match event {
                    InboundEvent::Reply { message_id, .. } if !seen.contains(&message_id) => {
                        seen.push(message_id);
                        Fate::Applied
                    }
                    _ => Fate::Duplicate,
                })
                .collect())
        }
    }

    #[test]
    fn answers_say_what_changed_and_a_failed_forward_is_redelivered_whole() {
        let store = MemoryStore::new();
        let reply = || {
            inbound(
                "5",
                InboundKind::Reply {
                    message_id: "77".into(),
                    text: "hi".into(),
                },
            )
        };
        let err = receive(
            &store,
            &FeedbackDown,
            &LinkKey::default(),
            vec![opt_in("1"), reply()],
            now(),
        )
        .unwrap_err();
        assert_eq!(err.code(), "feedback_unavailable");
        // The platform redelivers: the opt-in was recorded by the failed attempt, the reply goes through now.
        let up = FeedbackUp(std::sync::Mutex::new(Vec::new()));
        let received = receive(
            &store,
            &up,
            &LinkKey::default(),
            vec![opt_in("1"), reply()],
            now(),
        )
        .unwrap();
        assert_eq!((received.applied, received.duplicates), (1, 1));
        assert_eq!(load(&store).consent.len(), 1);
        let again = receive(
            &store,
            &up,
            &LinkKey::default(),
            vec![opt_in("1"), reply(), reply()],
            now(),
        )
        .unwrap();
        assert_eq!((again.applied, again.duplicates), (0, 3));
        assert_eq!(again.subscribers.len(), 1);
        assert_eq!(up.0.lock().unwrap().len(), 1);
    }

    #[test]
    fn a_sink_that_answers_for_fewer_events_is_unavailable() {
        struct Short;
        impl FeedbackSink for Short {
            fn forward(&self, _: Vec<InboundEvent>) -> Result<Vec<Fate>> {
                Ok(Vec::new())
            }
        }
        let store = MemoryStore::new();
        let reply = inbound(
            "5",
            InboundKind::Reply {
                message_id: "77".into(),
                text: "hi".into(),
            },
        );
        let err = receive(&store, &Short, &LinkKey::default(), vec![reply], now()).unwrap_err();
        assert_eq!(err.code(), "feedback_unavailable");
    }
}
