//! Each rule on its own, and the chain's order.

use std::cell::Cell;
use std::collections::BTreeSet;

use chrono::Duration;

use super::*;
use crate::message::{PlatformTemplate, RenderedMessage};
use crate::subscriber::{Address, Channel, ConsentAction, ConsentEvent};

fn now() -> DateTime<Utc> {
    "2026-11-01T10:00:00Z".parse().unwrap()
}

fn campaign() -> Campaign {
    serde_json::from_value(serde_json::json!({
        "id": "spring", "name": "Spring", "channel": "whatsapp:main", "template_id": "welcome",
        "state": "running", "created_at": now(), "updated_at": now(),
    }))
    .unwrap()
}

fn subscriber(channel: &str, action: ConsentAction) -> Subscriber {
    let channel = Channel::parse(channel).unwrap();
    let address = Address::parse(channel.platform(), "4915112345678").unwrap();
    let mut subscriber = Subscriber::new(channel, address, now());
    subscriber.record_consent(ConsentEvent {
        action,
        at: now(),
        source: "api".into(),
        evidence: "test".into(),
    });
    subscriber
}

fn message(approved_template: bool) -> RenderedMessage {
    RenderedMessage {
        text: "Hi".into(),
        photo_url: None,
        buttons: vec![],
        platform_template: approved_template.then(|| PlatformTemplate {
            name: "spring".into(),
            language: "en_US".into(),
            parameters: vec![],
        }),
        message_tag: None,
    }
}

fn outgoing(subscriber: &Subscriber, approved_template: bool) -> Outgoing {
    Outgoing {
        campaign_id: "spring".into(),
        message: message(approved_template),
        last_inbound_at: subscriber.last_inbound_at,
    }
}

fn renders(subscriber: &Subscriber) -> Result<Outgoing> {
    Ok(outgoing(subscriber, false))
}

fn verdict(rule: &dyn SendPolicy, subscriber: Option<&Subscriber>) -> Verdict {
    let campaign = campaign();
    rule.check(&Candidate::new(&campaign, subscriber, now(), &renders))
}

fn skip(reason: &str) -> Verdict {
    Verdict::Skip {
        reason: reason.into(),
    }
}

#[test]
fn an_erased_record_is_skipped() {
    assert_eq!(verdict(&RecipientErased, None), skip("subscriber_erased"));
    let present = subscriber("whatsapp:main", ConsentAction::Subscribed);
    assert_eq!(verdict(&RecipientErased, Some(&present)), Verdict::Send);
}

#[test]
fn consent_skips_the_blocked_and_the_unsubscribed() {
    let blocked = subscriber("whatsapp:main", ConsentAction::Blocked);
    let unsubscribed = subscriber("whatsapp:main", ConsentAction::Unsubscribed);
    let subscribed = subscriber("whatsapp:main", ConsentAction::Subscribed);
    assert_eq!(verdict(&Consent, Some(&blocked)), skip("blocked"));
    assert_eq!(verdict(&Consent, Some(&unsubscribed)), skip("unsubscribed"));
    assert_eq!(verdict(&Consent, Some(&subscribed)), Verdict::Send);
}

#[test]
fn a_recipient_on_another_channel_is_skipped() {
    let elsewhere = subscriber("whatsapp:other", ConsentAction::Subscribed);
    let here = subscriber("whatsapp:main", ConsentAction::Subscribed);
    assert_eq!(
        verdict(&OtherChannel, Some(&elsewhere)),
        skip("other_channel")
    );
    assert_eq!(verdict(&OtherChannel, Some(&here)), Verdict::Send);
}

#[derive(Debug)]
struct Only(&'static str);

impl ConfiguredChannels for Only {
    fn is_configured(&self, channel: &Channel) -> bool {
        channel.to_string() == self.0
    }
}

#[test]
fn an_unconfigured_channel_fails_its_recipients() {
    let here = subscriber("whatsapp:main", ConsentAction::Subscribed);
    let configured = ChannelConfigured::new(Only("whatsapp:main"));
    assert_eq!(verdict(&configured, Some(&here)), Verdict::Send);
    let missing = ChannelConfigured::new(Only("telegram:shop"));
    assert_eq!(
        verdict(&missing, Some(&here)),
        Verdict::Fail {
            code: "channel_not_configured".into(),
            reason: "channel 'whatsapp:main' is not configured in this deployment".into(),
        }
    );
}

#[derive(Debug)]
struct DayLong;

impl ReplyWindows for DayLong {
    fn reply_window(&self, _channel: &Channel) -> Option<Duration> {
        Some(Duration::hours(24))
    }
}

#[test]
fn a_closed_window_skips_unless_an_approved_template_can_go_instead() {
    let rule = ServiceWindow::new(DayLong);
    let mut recent = subscriber("whatsapp:main", ConsentAction::Subscribed);
    recent.last_inbound_at = Some(now() - Duration::hours(2));
    assert_eq!(verdict(&rule, Some(&recent)), Verdict::Send);

    let silent = subscriber("whatsapp:main", ConsentAction::Subscribed);
    let Verdict::Skip { reason } = verdict(&rule, Some(&silent)) else {
        panic!("a closed window must skip");
    };
    assert!(reason.starts_with("outside_service_window: "), "{reason}");

    let campaign = campaign();
    let with_template = |s: &Subscriber| Ok(outgoing(s, true));
    let candidate = Candidate::new(&campaign, Some(&silent), now(), &with_template);
    assert_eq!(rule.check(&candidate), Verdict::Send);
}

#[test]
fn the_message_is_rendered_once_and_only_when_asked() {
    let campaign = campaign();
    // Written an hour ago: the reply window is open, so no rule needs the message.
    let mut here = subscriber("whatsapp:main", ConsentAction::Subscribed);
    here.last_inbound_at = Some(now() - Duration::hours(1));
    let renders_counted = Cell::new(0);
    let render = |s: &Subscriber| {
        renders_counted.set(renders_counted.get() + 1);
        renders(s)
    };
    let candidate = Candidate::new(&campaign, Some(&here), now(), &render);
    assert_eq!(PolicyChain::standard().check(&candidate), Verdict::Send);
    assert_eq!(renders_counted.get(), 0);
    assert!(matches!(candidate.message(), Some(Ok(_))));
    assert!(candidate.into_message().is_some_and(|m| m.is_ok()));
    assert_eq!(renders_counted.get(), 1);
}

#[derive(Debug)]
struct QuietUntilNoon;

impl SendPolicy for QuietUntilNoon {
    fn check(&self, candidate: &Candidate<'_>) -> Verdict {
        Verdict::Defer {
            until: candidate.now + Duration::hours(2),
        }
    }
}

#[test]
fn the_first_objection_decides_and_new_rules_join_at_the_end() {
    let chain = PolicyChain::standard().with(QuietUntilNoon);
    let campaign = campaign();
    let blocked = subscriber("whatsapp:main", ConsentAction::Blocked);
    let candidate = Candidate::new(&campaign, Some(&blocked), now(), &renders);
    assert_eq!(chain.check(&candidate), skip("blocked"));
    let mut here = subscriber("whatsapp:main", ConsentAction::Subscribed);
    here.last_inbound_at = Some(now() - Duration::hours(1));
    let candidate = Candidate::new(&campaign, Some(&here), now(), &renders);
    assert_eq!(
        chain.check(&candidate),
        Verdict::Defer {
            until: now() + Duration::hours(2)
        }
    );
}

#[test]
fn the_standard_chain_judges_the_platforms_reply_windows() {
    let campaign = campaign();
    let silent = subscriber("whatsapp:main", ConsentAction::Subscribed);
    let candidate = Candidate::new(&campaign, Some(&silent), now(), &renders);
    let Verdict::Skip { reason } = PolicyChain::standard().check(&candidate) else {
        panic!("WhatsApp's closed window must skip a free-form message");
    };
    assert_eq!(
        reason,
        "outside_service_window: the recipient has not written in the last 24 hours and the template has no approved whatsapp_template"
    );
    let with_template = |s: &Subscriber| Ok(outgoing(s, true));
    let candidate = Candidate::new(&campaign, Some(&silent), now(), &with_template);
    assert_eq!(PolicyChain::standard().check(&candidate), Verdict::Send);
}

#[test]
fn a_deployment_chain_fails_unconfigured_channels_before_judging_windows() {
    let campaign = campaign();
    let silent = subscriber("whatsapp:main", ConsentAction::Subscribed);
    let elsewhere =
        PolicyChain::sending_on(BTreeSet::from([Channel::parse("telegram:shop").unwrap()]));
    let candidate = Candidate::new(&campaign, Some(&silent), now(), &renders);
    assert!(matches!(
        elsewhere.check(&candidate),
        Verdict::Fail { code, .. } if code == "channel_not_configured"
    ));
    let here = PolicyChain::sending_on(BTreeSet::from([Channel::parse("whatsapp:main").unwrap()]));
    assert!(matches!(here.check(&candidate), Verdict::Skip { .. }));
}

#[test]
fn the_holdout_arm_is_skipped_and_every_other_arm_passes() {
    let campaign = campaign();
    let here = subscriber("whatsapp:main", ConsentAction::Subscribed);
    let in_arm =
        |arm| Holdout.check(&Candidate::new(&campaign, Some(&here), now(), &renders).in_arm(arm));
    assert_eq!(in_arm(Some("holdout")), skip("holdout"));
    assert_eq!(in_arm(Some("a")), Verdict::Send);
    assert_eq!(in_arm(None), Verdict::Send);
    // Consent is judged first: an unsubscribed holdout member is counted as unsubscribed.
    let gone = subscriber("whatsapp:main", ConsentAction::Unsubscribed);
    let candidate = Candidate::new(&campaign, Some(&gone), now(), &renders).in_arm(Some("holdout"));
    assert_eq!(
        PolicyChain::standard().check(&candidate),
        skip("unsubscribed")
    );
}
