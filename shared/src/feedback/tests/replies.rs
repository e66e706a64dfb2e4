//! A reply is credited to the last campaign message sent to the subscriber within the reply window,
//! counted once however often it is redelivered; otherwise it is kept unattributed.

use chrono::Duration;

use super::world::{reply, t0, telegram_user, World};
use crate::event::counter;
use crate::feedback::{EventOutcome, FeedbackSettings, REPLIES};

/// A world where campaign `spring` sent message 100 to the Telegram user at [`t0`].
fn spring_sent_to_telegram_user() -> World {
    let world = World::new();
    world.record_send("spring", &telegram_user(), "100", t0());
    world
}

#[test]
fn reply_inside_the_window_is_credited_to_the_last_campaign_message() {
    let world = spring_sent_to_telegram_user();
    let in_time = reply(
        &telegram_user(),
        "101",
        "Love it",
        t0() + Duration::hours(71),
    );
    let report = world.apply(&[in_time]);
    assert_eq!(
        report.results,
        vec![EventOutcome::Reply {
            campaign_id: Some("spring".into()),
            first_reply: true
        }]
    );
    assert_eq!(world.counter("spring", counter::REPLIED), 1);
    assert_eq!(world.counter("spring", REPLIES), 1);
    let rows = world.export_jsonl(Some("spring"));
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["type"], "reply");
    assert_eq!(rows[0]["text"], "Love it");
    assert_eq!(rows[0]["subscriber_id"], "telegram:shop:42");
}

#[test]
fn reply_outside_the_window_is_kept_unattributed() {
    let world = spring_sent_to_telegram_user();
    let late = reply(&telegram_user(), "101", "late", t0() + Duration::hours(73));
    let before = reply(
        &telegram_user(),
        "99",
        "before the campaign",
        t0() - Duration::minutes(5),
    );
    let report = world.apply(&[late, before]);
    assert!(
        report.results.iter().all(|r| *r
            == EventOutcome::Reply {
                campaign_id: None,
                first_reply: false
            }),
        "{:?}",
        report.results
    );
    assert_eq!(world.counter("spring", counter::REPLIED), 0);
    let rows = world.export_jsonl(None);
    assert_eq!(rows.len(), 2);
    assert!(rows[0]["campaign_id"].is_null());
    assert!(world.export_jsonl(Some("spring")).is_empty());
}

#[test]
fn reply_window_follows_the_setting() {
    let world = spring_sent_to_telegram_user();
    let settings = FeedbackSettings::with_reply_window_hours(1).unwrap();
    let after_two_hours = reply(&telegram_user(), "101", "hi", t0() + Duration::hours(2));
    let report = world.apply_with(&settings, &[after_two_hours]).unwrap();
    assert_eq!(
        report.results[0],
        EventOutcome::Reply {
            campaign_id: None,
            first_reply: false
        }
    );
    assert_eq!(
        FeedbackSettings::with_reply_window_hours(0)
            .unwrap_err()
            .code(),
        "invalid_configuration"
    );
}

#[test]
fn redelivered_reply_is_not_counted_twice_and_replied_counts_people() {
    let world = spring_sent_to_telegram_user();
    let first = reply(&telegram_user(), "101", "one", t0() + Duration::minutes(1));
    world.apply(std::slice::from_ref(&first));
    let report = world.apply(&[first.clone(), first]);
    assert_eq!(report.duplicates, 2);
    assert_eq!(report.applied, 0);
    let second = reply(&telegram_user(), "102", "two", t0() + Duration::minutes(2));
    assert_eq!(
        world.apply(&[second]).results[0],
        EventOutcome::Reply {
            campaign_id: Some("spring".into()),
            first_reply: false
        }
    );
    assert_eq!(world.counter("spring", counter::REPLIED), 1);
    assert_eq!(world.counter("spring", REPLIES), 2);
    assert_eq!(world.export_jsonl(Some("spring")).len(), 2);
}
