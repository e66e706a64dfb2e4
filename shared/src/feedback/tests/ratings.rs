//! A rating button press counts once per subscriber and campaign (the first press wins); other presses
//! are kept as button presses; presses are answered on the subscriber's channel.

use std::sync::Mutex;

use chrono::Duration;

use super::world::{press, t0, telegram_user, whatsapp_user, World};
use crate::event::{counter, rating_button_data};
use crate::feedback::{answer_presses, EventOutcome, ALREADY_RATED_TEXT, THANKS_FOR_RATING_TEXT};
use crate::messenger::PressAcknowledger;
use crate::subscriber::{Channel, SubscriberId};

#[test]
fn rating_is_recorded_once_per_subscriber_and_campaign() {
    let world = World::new();
    let report = world.apply(&[press(
        &telegram_user(),
        "cb1",
        &rating_button_data("spring", 4),
    )]);
    assert_eq!(
        report.results[0],
        EventOutcome::Rating {
            campaign_id: "spring".into(),
            score: 4
        }
    );
    // The same press redelivered, then a second press with another score.
    let report = world.apply(&[
        press(&telegram_user(), "cb1", &rating_button_data("spring", 4)),
        press(&telegram_user(), "cb2", &rating_button_data("spring", 1)),
    ]);
    assert_eq!(
        report.results,
        vec![
            EventOutcome::Duplicate,
            EventOutcome::AlreadyRated {
                campaign_id: "spring".into()
            }
        ]
    );
    assert_eq!(world.counter("spring", counter::RATINGS), 1);
    assert_eq!(world.counter("spring", counter::RATING_SUM), 4);
    let answers: Vec<_> = report
        .press_answers
        .iter()
        .map(|a| (a.callback_query_id.as_str(), a.text))
        .collect();
    assert_eq!(
        answers,
        [("cb1", THANKS_FOR_RATING_TEXT), ("cb2", ALREADY_RATED_TEXT)]
    );
    // Another subscriber's rating counts.
    let other = SubscriberId::parse("telegram:shop:43").unwrap();
    world.apply(&[press(&other, "cb3", &rating_button_data("spring", 5))]);
    let stats = world.stats("spring");
    assert_eq!(stats.ratings, 2);
    assert_eq!(stats.rating_average, Some(4.5));
    let rows = world.export_jsonl(Some("spring"));
    assert_eq!(
        rows.iter()
            .map(|r| r["score"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        [4, 5]
    );
}

#[test]
fn invalid_rating_data_is_kept_as_a_button_press() {
    let world = World::new();
    world.record_send(
        "spring",
        &whatsapp_user(),
        "wamid.1",
        t0() - Duration::minutes(1),
    );
    let report = world.apply(&[
        press(&whatsapp_user(), "wamid.p1", "rate:spring:9"),
        press(&whatsapp_user(), "wamid.p2", "more_info"),
    ]);
    assert_eq!(
        report.results,
        [
            EventOutcome::ButtonPress {
                campaign_id: Some("spring".into()),
                first_reply: true
            },
            EventOutcome::ButtonPress {
                campaign_id: Some("spring".into()),
                first_reply: false
            }
        ]
    );
    assert_eq!(world.counter("spring", counter::RATINGS), 0);
    // WhatsApp presses need no callback answer.
    assert!(report.press_answers.is_empty());
    let rows = world.export_jsonl(Some("spring"));
    assert_eq!(
        rows.iter()
            .map(|r| r["text"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["rate:spring:9", "more_info"]
    );
    let redelivered = press(&whatsapp_user(), "wamid.p2", "more_info");
    assert_eq!(
        world.apply(&[redelivered]).results[0],
        EventOutcome::Duplicate
    );
}

/// A fake Bot API: answers every call with `ok` or a refusal, and records the URLs called.
/// Answers presses like a platform on which only the account `shop` is configured, accepting or
/// refusing every answer, and records what it was asked.
struct FakeAcknowledger {
    ok: bool,
    calls: Mutex<Vec<String>>,
}

impl FakeAcknowledger {
    fn answering(ok: bool) -> Self {
        FakeAcknowledger {
            ok,
            calls: Mutex::new(Vec::new()),
        }
    }
}

impl PressAcknowledger for FakeAcknowledger {
    fn acknowledge(&self, channel: &Channel, press_id: &str, text: &str) -> crate::Result<()> {
        self.calls
            .lock()
            .unwrap()
            .push(format!("{channel} {press_id} {text}"));
        if channel.account() != "shop" {
            return Err(crate::Error::new(
                crate::ErrorKind::NotFound,
                "unknown_bot",
                format!("no bot '{}' is configured", channel.account()),
            ));
        }
        if self.ok {
            Ok(())
        } else {
            Err(crate::Error::unavailable(
                "telegram_unavailable",
                "answerCallbackQuery: HTTP 400: Bad Request: query is too old",
            ))
        }
    }
}

#[test]
fn presses_are_answered_by_the_subscribers_bot_and_a_failed_answer_keeps_the_rating() {
    let world = World::new();
    let report = world.apply(&[press(
        &telegram_user(),
        "cb1",
        &rating_button_data("spring", 5),
    )]);
    let platform = FakeAcknowledger::answering(false);
    let summary = answer_presses(&platform, &report.press_answers);
    assert_eq!((summary.answered, summary.failed), (0, 1));
    assert!(summary.failures[0].contains("query is too old"));
    assert_eq!(world.counter("spring", counter::RATINGS), 1);
    assert_eq!(
        platform.calls.lock().unwrap()[0],
        format!("telegram:shop cb1 {THANKS_FOR_RATING_TEXT}")
    );

    let platform = FakeAcknowledger::answering(true);
    let unknown_bot = SubscriberId::parse("telegram:other:42").unwrap();
    let report = world.apply(&[
        press(&telegram_user(), "cb1", &rating_button_data("spring", 5)),
        press(&unknown_bot, "cb9", "x"),
    ]);
    let summary = answer_presses(&platform, &report.press_answers);
    assert_eq!((summary.answered, summary.failed), (1, 1));
    assert!(summary.failures[0].contains("other"));
}
