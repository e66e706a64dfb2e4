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
//! Then the whole judgement of each recipient as a send would make it, through `delivery::estimate`
//! (the walk, the policy chain, the frequency caps on the send history, the A/B arm and the rendering,
//! no sending), at 50,000 subscribers:
//! - today's rules: tags only, the standard chain, no caps, one template;
//! - every rule: the conditions above but the birthday (so most records go on to the rules), a send
//!   time in each recipient's own time zone that has come for all of them, quiet hours that none of
//!   them is in (so every rule is judged and lets them through to the next), the caps
//!   `promotional:2/7d,promotional:1/calendar_day` on a send history everyone has (one send 3 days
//!   ago), and a 50/50 A/B test with a 10% holdout.
//!
//! Run: `cargo bench -p spinpost --bench audience_walk`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use spinpost::campaign::{
    Audience, Campaign, CampaignState, NewCampaign, QuietHours, ScheduleRequest,
};
use spinpost::delivery::caps::{self, PastSend};
use spinpost::delivery::claim::walk_audience;
use spinpost::delivery::policy::QuietHoursRule;
use spinpost::delivery::{estimate, FrequencyCaps, MessageRenderer, PolicyChain};
use spinpost::directory;
use spinpost::kv::MemoryStore;
use spinpost::message::RenderedMessage;
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
    running(
        &format!(r#""template_id": "t", "audience": {audience}"#),
        now,
    )
}

/// A campaign `bench` on the shop bot with the fields `fields` (JSON members), started at `now`.
fn running(fields: &str, now: DateTime<Utc>) -> Campaign {
    let request: NewCampaign = serde_json::from_str(&format!(
        r#"{{"id": "bench", "name": "Bench", "channel": "telegram:shop", {fields}}}"#
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

/// Renders one short text for everyone: the rules, not the template engine, are measured here.
struct FixedText;

impl MessageRenderer for FixedText {
    fn render(
        &self,
        _: &spinpost::subscriber::Subscriber,
        _: &Campaign,
    ) -> spinpost::Result<RenderedMessage> {
        Ok(RenderedMessage {
            text: "Hello".to_owned(),
            photo_url: None,
            buttons: Vec::new(),
            platform_template: None,
            message_tag: None,
        })
    }

    fn render_event(
        &self,
        subscriber: &spinpost::subscriber::Subscriber,
        campaign: &Campaign,
        _: &spinpost::delivery::EventContext,
    ) -> spinpost::Result<RenderedMessage> {
        self.render(subscriber, campaign)
    }
}

/// The shortest of `ROUNDS` estimates of `campaign` under `policies` and `caps`, and how many it would
/// send.
fn judge(
    store: &MemoryStore,
    campaign: &Campaign,
    now: DateTime<Utc>,
    policies: &PolicyChain,
    caps: &FrequencyCaps,
) -> (Duration, u64, u64) {
    let started = Instant::now();
    let judged = estimate(
        store,
        black_box(campaign),
        now,
        policies,
        caps,
        &FixedText,
        25,
    )
    .expect("estimate");
    (
        started.elapsed(),
        judged.will_send + judged.deferred,
        judged.scanned,
    )
}

/// The per-recipient judgement with today's rules and with every rule, interleaved.
fn judgement(now: DateTime<Utc>, conditions: &str) {
    let store = MemoryStore::new();
    seed(&store, SUBSCRIBERS, now);
    let caps = FrequencyCaps::parse("promotional:2/7d,promotional:1/calendar_day").expect("caps");
    let earlier = now - chrono::Duration::days(3);
    let mut every_rule = running(
        &format!(
            r#""holdout_percent": 10, "quiet_hours": "01:00-04:00", "audience": {conditions},
               "variants": [{{"name": "a", "template_id": "a", "weight": 50}},
                            {{"name": "b", "template_id": "b", "weight": 50}}]"#
        ),
        now,
    );
    let request: ScheduleRequest = serde_json::from_str(
        r#"{"send_at": "2026-10-31T00:30", "timezone": "Europe/Berlin", "per_recipient_timezone": true}"#,
    )
    .expect("schedule request");
    // Scheduled two days ago, so the local time has come in every zone by now.
    let scheduled = now - chrono::Duration::days(2);
    every_rule.schedule = Some(request.resolve(scheduled).expect("a schedule ahead"));
    let earlier_send = PastSend::campaign("earlier", earlier);
    let walk = walk_audience(
        &store,
        &every_rule.recipients_at(now),
        0,
        usize::MAX,
        u64::MAX,
    )
    .expect("walk");
    for id in &walk.recipients {
        let zone = every_rule.recipient_zone(None);
        caps::reserve(&store, &caps, id, &earlier_send, zone, None).expect("history written");
    }
    let today = running_campaign(r#"{"all_tags": ["newsletter"]}"#, now);
    let standard = PolicyChain::standard();
    let with_rules = PolicyChain::standard().with(QuietHoursRule::new(Some(
        QuietHours::parse("01:00-04:00").expect("span"),
    )));
    let none = FrequencyCaps::none();
    let mut best = (Duration::MAX, Duration::MAX);
    let mut found = (0, 0, 0);
    for _ in 0..ROUNDS {
        let (base, base_judged, scanned) = judge(&store, &today, now, &standard, &none);
        let (all, all_judged, _) = judge(&store, &every_rule, now, &with_rules, &caps);
        best = (best.0.min(base), best.1.min(all));
        found = (base_judged, all_judged, scanned);
    }
    let per = |d: Duration| d.as_nanos() as f64 / found.2 as f64;
    println!(
        "whole judgement per subscriber record at {SUBSCRIBERS} (estimate: walk, chain, caps, arm, render; best of {ROUNDS}):"
    );
    println!(
        "  today's rules {:>7.0} ns ({} to send), every rule {:>7.0} ns ({} to send or wait): ratio {:.2}x",
        per(best.0),
        found.0,
        per(best.1),
        found.1,
        best.1.as_secs_f64() / best.0.as_secs_f64()
    );
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
    let most_pass = r#"{"all_tags": ["newsletter"], "conditions": [
        {"attribute": "orders", "op": "gte", "number": 1},
        {"attribute": "last_order_at", "op": "older_than", "days": 10},
        {"field": "subscribed_at", "op": "within", "days": 730}]}"#;
    judgement(now, most_pass);
}
