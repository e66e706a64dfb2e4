//! A template quick reply (a press of a button that is not a rating) counts as a reply of the campaign
//! whose message it answers, even after a later campaign message and outside the reply window.

use chrono::Duration;

use super::world::{t0, whatsapp_user, World};
use crate::event::InboundEvent;
use crate::feedback::EventOutcome;

fn quick_reply(press_id: &str, in_reply_to: Option<&str>, days_later: i64) -> InboundEvent {
    InboundEvent::ButtonPress {
        subscriber: whatsapp_user(),
        press_id: press_id.into(),
        data: "More offers".into(),
        at: t0() + Duration::days(days_later),
        in_reply_to: in_reply_to.map(str::to_owned),
    }
}

#[test]
fn a_quick_reply_counts_as_a_reply_of_the_campaign_it_answers() {
    let world = World::new();
    world.record_send("spring", &whatsapp_user(), "wamid.spring", t0());
    world.record_send(
        "summer",
        &whatsapp_user(),
        "wamid.summer",
        t0() + Duration::hours(1),
    );
    // Ten days later, outside the reply window, the person answers the spring message.
    let report = world.apply(&[
        quick_reply("wamid.press1", Some("wamid.spring"), 10),
        quick_reply("wamid.press1", Some("wamid.spring"), 10),
    ]);
    assert_eq!(
        report.results,
        [
            EventOutcome::ButtonPress {
                campaign_id: Some("spring".into()),
                first_reply: true
            },
            EventOutcome::Duplicate
        ]
    );
    let spring = world.stats("spring");
    assert_eq!((spring.replies, spring.replied), (1, 1));
    assert_eq!(world.stats("summer").replies, 0);
    let rows = world.export_jsonl(Some("spring"));
    assert_eq!(rows.len(), 1, "{rows:?}");
}

#[test]
fn a_quick_reply_naming_no_message_of_ours_falls_back_to_the_reply_window() {
    let world = World::new();
    world.record_send("spring", &whatsapp_user(), "wamid.spring", t0());
    world.apply(&[quick_reply("wamid.p1", Some("wamid.unknown"), 0)]);
    world.apply(&[quick_reply("wamid.p2", None, 0)]);
    let spring = world.stats("spring");
    assert_eq!((spring.replies, spring.replied), (2, 1));
}
