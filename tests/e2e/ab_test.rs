//! An A/B test with a holdout on the real components: a 50/50 test with a 10% holdout on 1,000 imported
//! WhatsApp subscribers sends each arm's template to about 45% and nothing to the holdout, keeps each
//! person in the same arm across a pause, a host restart and the resume, and reports its statistics
//! (receipts and replies included, and the holdout's replies) per arm.

use std::collections::BTreeMap;

use serde_json::{json, Value};
use spinpost::campaign::Campaign;
use spinpost_tests::app::{expect_status, WHATSAPP_PHONE_NUMBER_ID};
use spinpost_tests::webhooks::{whatsapp_statuses, whatsapp_text};
use spinpost_tests::TestApp;

const PEOPLE: u32 = 1000;

fn channel() -> String {
    format!("whatsapp:{WHATSAPP_PHONE_NUMBER_ID}")
}

/// The phone number of person `n`.
fn number(n: u32) -> String {
    format!("49151{n:07}")
}

/// A template whose approved WhatsApp template is `name` (imported people have not written, so only
/// an approved template may go out).
fn template(id: &str, name: &str) -> Value {
    json!({"id": id, "name": id, "locales": {"en": {
        "text": format!("Offer {id}"),
        "whatsapp_template": {"name": name, "language": "en_US", "parameters": []}}}})
}

/// One ledger entry as the API shows it: subscriber id, arm, and the message id when sent.
struct Entry {
    arm: String,
    state: String,
    message_id: Option<String>,
}

/// Every ledger entry of campaign `id`, by subscriber id, read page by page.
async fn ledger(app: &TestApp, id: &str) -> BTreeMap<String, Entry> {
    let mut entries = BTreeMap::new();
    let mut cursor = Some("0".to_owned());
    while let Some(from) = cursor {
        let path = format!("/api/v1/campaigns/{id}/deliveries?cursor={from}");
        let page = expect_status(200, app.admin_get(&path).await);
        for batch in page["items"].as_array().expect("batches") {
            for entry in batch["entries"].as_array().expect("entries") {
                let subscriber = entry["subscriber"].as_str().expect("an id").to_owned();
                let outcome = &entry["outcome"];
                entries.insert(
                    subscriber,
                    Entry {
                        arm: entry["arm"].as_str().expect("an arm").to_owned(),
                        state: outcome["state"].as_str().expect("a state").to_owned(),
                        message_id: outcome["message_id"].as_str().map(str::to_owned),
                    },
                );
            }
        }
        cursor = page["next_cursor"].as_str().map(str::to_owned);
    }
    entries
}

/// `POST /api/v1/campaigns/spring-ab/<action>`, which must answer 200.
async fn operate(app: &TestApp, action: &str) {
    let path = format!("/api/v1/campaigns/spring-ab/{action}");
    let answer = app.admin_json(reqwest::Method::POST, &path, None).await;
    expect_status(200, answer);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_50_50_test_with_a_10_percent_holdout_splits_1000_people_and_keeps_them_in_their_arm_after_a_restart(
) {
    let mut app = TestApp::start_with(|variables| {
        variables.insert("whatsapp_rate_per_second".into(), "400".into());
        // A short tick, so the campaign is still sending when it is paused.
        variables.insert("tick_budget_ms".into(), "400".into());
    })
    .await;
    let lines: Vec<String> = (0..PEOPLE)
        .map(|n| json!({"channel": channel(), "address": number(n), "consent": {"at": "2026-10-01T00:00:00Z", "source": "checkout", "evidence": format!("order-{n}")}}).to_string())
        .collect();
    let imported = app.import_subscribers(&lines.join("\n")).await;
    assert_eq!(imported["created"], PEOPLE, "{imported}");
    app.create_template(template("promo-a", "promo_a")).await;
    app.create_template(template("promo-b", "promo_b")).await;
    app.create_campaign(json!({
        "id": "spring-ab", "name": "Spring A/B", "channel": channel(), "holdout_percent": 10,
        "variants": [{"name": "a", "template_id": "promo-a", "weight": 50},
                     {"name": "b", "template_id": "promo-b", "weight": 50}]
    }))
    .await;
    let scheduled = app.schedule_now("spring-ab").await;
    assert_eq!(
        scheduled["variants"][0]["template_version"], 1,
        "{scheduled}"
    );

    // Send part of it, pause, restart the host, resume and finish.
    expect_status(200, app.tick().await);
    expect_status(200, app.tick().await);
    operate(&app, "pause").await;
    let before = ledger(&app, "spring-ab").await;
    let sent_before = app.fake.calls("messages").len();
    assert!(
        !before.is_empty() && sent_before < 900,
        "paused part way: {} claimed, {sent_before} sent",
        before.len()
    );
    app.restart().await;
    operate(&app, "resume").await;
    let progress = app.run_until_completed("spring-ab").await;
    let after = ledger(&app, "spring-ab").await;
    assert_eq!(after.len(), PEOPLE as usize, "{progress}");
    for (subscriber, entry) in &before {
        assert_eq!(after[subscriber].arm, entry.arm, "{subscriber} changed arm");
    }
    // Every arm is the split's: the same function of campaign and subscriber before and after.
    let campaign: Campaign = serde_json::from_value(expect_status(
        200,
        app.admin_get("/api/v1/campaigns/spring-ab").await,
    ))
    .expect("a campaign");
    for (subscriber, entry) in &after {
        let id = spinpost::subscriber::SubscriberId::parse(subscriber).expect("an id");
        let arm = campaign.arm_of(&id).expect("an arm");
        assert_eq!(arm.name(), entry.arm, "{subscriber}");
    }

    // Each arm got its own template, once each; the holdout got nothing.
    let calls = app.fake.calls_by_recipient("messages");
    let mut sizes: BTreeMap<&str, i64> = BTreeMap::new();
    let mut message_arms = BTreeMap::new();
    for (subscriber, entry) in &after {
        let phone = subscriber.rsplit(':').next().expect("a number");
        let received = calls.get(phone).map(Vec::len).unwrap_or_default();
        *sizes.entry(entry.arm.as_str()).or_default() += 1;
        if entry.arm == "holdout" {
            assert_eq!(
                (entry.state.as_str(), received),
                ("skipped", 0),
                "{subscriber}"
            );
            continue;
        }
        assert_eq!(
            (entry.state.as_str(), received),
            ("sent", 1),
            "{subscriber}"
        );
        let template = &calls[phone][0].json["template"]["name"];
        assert_eq!(*template, format!("promo_{}", entry.arm), "{subscriber}");
        let message_id = entry.message_id.clone().expect("a message id");
        message_arms.insert(message_id, entry.arm.clone());
    }
    for (arm, expected) in [("a", 450), ("b", 450), ("holdout", 100)] {
        assert!(
            sizes[arm].abs_diff(expected) <= 30,
            "arm {arm}: {sizes:?}, expected {expected} ± 30 of 1000"
        );
    }
    assert_eq!(progress["counts"]["targeted"], PEOPLE, "{progress}");
    assert_eq!(
        progress["arms"]["holdout"]["skipped"], sizes["holdout"],
        "{progress}"
    );

    // Receipts and a reply come back: every message delivered, arm a's read, one reply from arm b.
    let mut statuses: Vec<(&str, &str)> = message_arms
        .keys()
        .map(|id| (id.as_str(), "delivered"))
        .collect();
    statuses.extend(
        message_arms
            .iter()
            .filter(|(_, arm)| *arm == "a")
            .map(|(id, _)| (id.as_str(), "read")),
    );
    expect_status(
        200,
        app.whatsapp_notification(&whatsapp_statuses(&statuses))
            .await,
    );
    let replier = after
        .iter()
        .find(|(_, e)| e.arm == "b")
        .map(|(s, _)| s.rsplit(':').next().expect("a number").to_owned())
        .expect("someone in arm b");
    let held_back = after
        .iter()
        .find(|(_, e)| e.arm == "holdout")
        .map(|(s, _)| s.rsplit(':').next().expect("a number").to_owned())
        .expect("someone in the holdout");
    for (from, message_id) in [(&replier, "wamid.reply-1"), (&held_back, "wamid.reply-2")] {
        expect_status(
            200,
            app.whatsapp_notification(&whatsapp_text(from, message_id, "Any offers?"))
                .await,
        );
    }

    let stats = app.feedback_stats("spring-ab").await;
    let arms = &stats["arms"];
    for arm in ["a", "b"] {
        assert_eq!(arms[arm]["sent"], sizes[arm], "{stats}");
        assert_eq!(arms[arm]["delivered"], sizes[arm], "{stats}");
    }
    assert_eq!(arms["a"]["read"], sizes["a"], "{stats}");
    assert_eq!(arms["a"]["open_rate"], 1.0, "{stats}");
    assert_eq!(
        (&arms["b"]["read"], &arms["b"]["open_rate"]),
        (&json!(0), &json!(0.0)),
        "{stats}"
    );
    assert_eq!(
        (&arms["a"]["replied"], &arms["b"]["replied"]),
        (&json!(0), &json!(1)),
        "{stats}"
    );
    assert_eq!(arms["holdout"]["targeted"], sizes["holdout"], "{stats}");
    assert_eq!(arms["holdout"]["skipped"], sizes["holdout"], "{stats}");
    assert_eq!(arms["holdout"]["sent"], 0, "{stats}");
    // The holdout member's reply is the holdout's conversion, not a reply to the campaign.
    assert_eq!(arms["holdout"]["replied"], 1, "{stats}");
    assert_eq!(stats["replied"], 1, "{stats}");
    assert_eq!(stats["sent"], sizes["a"] + sizes["b"], "{stats}");
}
