//! What the audience walk costs per subscriber record with and without segment conditions, as a
//! ratio measured in the same run, and whether it stays linear in the number of subscribers.
//!
//! 50,000 subscribers in the in-memory store (each with tags, a number, two dates, a birthday and a
//! time zone); the walk reads the whole subscriber index as a campaign's claims do (200 records per
//! store round trip) and judges each record:
//! - tags only: `all_tags` (the audience as it was before conditions);
//! - with conditions: the same tag plus `orders >= 1`, `last_order_at` older than 10 days,
//!   subscribed within 730 days and a birthday today in the person's time zone. Everyone carries the
//!   tag and most pass the first three conditions, so nearly every record is judged on all four: the
//!   costliest case.
//!
//! Run: `cargo bench -p spinpost --bench audience_walk`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use spinpost::campaign::{Audience, Campaign, CampaignState, NewCampaign};
use spinpost::delivery::claim::walk_audience;
use spinpost::directory;
use spinpost::kv::MemoryStore;
use spinpost::subscriber::{
    Address, AttributeName, Channel, ConsentAction, ConsentEvent, Platform, Tag, TimeZone,
};

const SUBSCRIBERS: u32 = 50_000;
/// Full walks of each kind; the best of them counts (the least disturbed by other work on the machine).
const ROUNDS: u32 = 9;
const ZONES: [&str; 4] = ["Europe/Berlin", "Asia/Tokyo", "America/New_York", "UTC"];

fn seed(store: &MemoryStore, count: u32, now: DateTime<Utc>) {
    let channel = Channel::parse("telegram:shop").expect("channel");
    let attribute = |name: &str| AttributeName::parse(name).expect("name");
    for i in 0..count {
        let address =
            Address::parse(Platform::Telegram, &(100_000 + i).to_string()).expect("address");
        let since = now - chrono::Duration::days(i64::from(i % 700));
        directory::touch(store, &channel, &address, since, true, |s| {
            s.profile.first_name = Some(format!("Person {i}"));
            if i % 2 == 0 {
                s.add_tag(Tag::parse("vip").expect("tag"))
                    .expect("tag fits");
            }
            s.add_tag(Tag::parse("newsletter").expect("tag"))
                .expect("tag fits");
            let values = [
                ("orders", (i % 7).to_string()),
                (
                    "last_order_at",
                    (now - chrono::Duration::days(i64::from(i % 120))).to_rfc3339(),
                ),
                (
                    "birthday",
                    format!(
                        "19{:02}-{:02}-{:02}",
                        50 + i % 50,
                        1 + i % 12,
                        1 + (i / 12) % 28
                    ),
                ),
                ("city", "Berlin".to_owned()),
            ];
            for (name, value) in values {
                s.set_attribute(attribute(name), value)
                    .expect("attribute fits");
            }
            s.timezone = Some(TimeZone::parse(ZONES[i as usize % ZONES.len()]).expect("zone"));
            s.record_consent(ConsentEvent {
                action: ConsentAction::Subscribed,
                at: since,
                source: "import".into(),
                evidence: format!("order-{i}"),
            });
        })
        .expect("subscriber written");
    }
}

fn running_campaign(audience: &str, now: DateTime<Utc>) -> Campaign {
    let request: NewCampaign = serde_json::from_str(&format!(
        r#"{{"id": "bench", "name": "Bench", "channel": "telegram:shop", "template_id": "t", "audience": {audience}}}"#
    ))
    .expect("campaign request");
    let mut campaign = request.into_draft(now).expect("valid campaign");
    campaign.state = CampaignState::Running;
    campaign.started_at = Some(now);
    campaign
}

/// The shortest of `rounds` full walks, and the recipients found.
fn walk(
    store: &MemoryStore,
    campaign: &Campaign,
    now: DateTime<Utc>,
    rounds: u32,
) -> (Duration, usize, u64) {
    let recipients = campaign.recipients_at(now);
    let mut best = Duration::MAX;
    let mut found = (0, 0);
    for _ in 0..rounds {
        let started = Instant::now();
        let walked =
            walk_audience(store, black_box(&recipients), 0, usize::MAX, u64::MAX).expect("walk");
        best = best.min(started.elapsed());
        found = (walked.recipients.len(), walked.scanned);
    }
    (best, found.0, found.1)
}

fn main() {
    let now: DateTime<Utc> = "2026-11-01T10:00:00Z".parse().expect("time");
    let tags_only = r#"{"all_tags": ["newsletter"]}"#;
    let with_conditions = r#"{"all_tags": ["newsletter"], "conditions": [
        {"attribute": "orders", "op": "gte", "number": 1},
        {"attribute": "last_order_at", "op": "older_than", "days": 10},
        {"field": "subscribed_at", "op": "within", "days": 730},
        {"attribute": "birthday", "op": "anniversary_today"}]}"#;
    let audience: Audience = serde_json::from_str(with_conditions).expect("audience");
    audience.validate("audience").expect("valid audience");

    println!(
        "audience walk, per subscriber record (best of {ROUNDS} full walks each, interleaved):"
    );
    let mut per_record_at_full_size = None;
    for count in [SUBSCRIBERS / 2, SUBSCRIBERS] {
        let store = MemoryStore::new();
        seed(&store, count, now);
        let plain = running_campaign(tags_only, now);
        let filtered = running_campaign(with_conditions, now);
        // Interleaved, so a change in the machine's load touches both alike.
        let (base, base_found, scanned) = walk(&store, &plain, now, 1);
        let (cond, cond_found, _) = walk(&store, &filtered, now, 1);
        let (base, cond) = (1..ROUNDS).fold((base, cond), |(b, c), _| {
            (
                b.min(walk(&store, &plain, now, 1).0),
                c.min(walk(&store, &filtered, now, 1).0),
            )
        });
        let per = |d: Duration| d.as_nanos() as f64 / scanned as f64;
        println!(
            "  {count:>6} subscribers: tags only {:>7.0} ns ({base_found} found), with conditions {:>7.0} ns ({cond_found} found): ratio {:.2}x",
            per(base),
            per(cond),
            cond.as_secs_f64() / base.as_secs_f64()
        );
        per_record_at_full_size = Some((per(base), per(cond)));
    }
    if let Some((base, cond)) = per_record_at_full_size {
        println!(
            "  at {SUBSCRIBERS}: {:.2}x the tags-only walk per record",
            cond / base
        );
    }
}
