//! What a per-recipient render costs, as ratios against a baseline measured in the same run.
//!
//! Spin gives every request a fresh instance, so a batch compiles its template once and renders it
//! per recipient. This bench measures, per recipient:
//! - baseline: decoding the subscriber record from JSON (paid for every recipient anyway);
//! - render with a template compiled once per batch (what the dispatcher does);
//! - compile and render per recipient (what it must not do).
//!
//! Run: `cargo bench -p spinpost --bench render`.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

use spinpost::kv::MemoryStore;
use spinpost::subscriber::{Address, AttributeName, Channel, Platform, Subscriber};
use spinpost::template::{self, CampaignVars, NewTemplate, RenderInput, Renderer};

fn per_iteration(mut work: impl FnMut(), min_time: Duration) -> Duration {
    // Warm up, then run until `min_time` has passed; report the mean.
    for _ in 0..100 {
        work();
    }
    let started = Instant::now();
    let mut iterations = 0u32;
    while started.elapsed() < min_time {
        for _ in 0..100 {
            work();
        }
        iterations += 100;
    }
    started.elapsed() / iterations
}

fn main() {
    let store = MemoryStore::new();
    let now = chrono::Utc::now();
    let new: NewTemplate = serde_json::from_value(serde_json::json!({
        "id": "bench",
        "name": "Bench",
        "locales": {"en": {
            "text": "Hi <b>{{ subscriber.first_name | default('friend') }}</b>! {% if 'vip' in subscriber.tags %}Your VIP code: {{ campaign.variables.code }}{% else %}Thanks for being with us.{% endif %} See you in {{ subscriber.attributes.city }}.",
            "buttons": [[{"text": "Shop", "url": "https://example.com/{{ campaign.id }}"}], [{"text": "★★★★★", "rating": 5}, {"text": "★", "rating": 1}]]
        }}
    }))
    .expect("bench template");
    template::create_template(&store, new, now).expect("template saves");
    let version = template::load_version(&store, "bench", None).expect("template loads");

    let mut subscriber = Subscriber::new(
        Channel::parse("telegram:shop").expect("channel"),
        Address::parse(Platform::Telegram, "42").expect("address"),
        now,
    );
    subscriber.profile.first_name = Some("Ada <Lovelace>".into());
    subscriber
        .set_attribute(AttributeName::parse("city").expect("name"), "Berlin".into())
        .expect("attribute");
    let record = serde_json::to_vec(&subscriber).expect("encode");
    let variables: BTreeMap<String, String> = [("code".to_owned(), "XMAS-26".to_owned())].into();
    let input = RenderInput {
        subscriber: &subscriber,
        campaign: CampaignVars {
            id: "c1",
            name: "Christmas",
            variables: &variables,
        },
    };
    let min_time = Duration::from_millis(1500);

    let baseline = per_iteration(
        || {
            drop(black_box(
                serde_json::from_slice::<Subscriber>(black_box(&record)).expect("decode"),
            ))
        },
        min_time,
    );
    let renderer = Renderer::new(&version).expect("compiles");
    let compiled_once = per_iteration(
        || {
            drop(black_box(
                renderer
                    .render(black_box(&input), Platform::Telegram)
                    .expect("renders"),
            ))
        },
        min_time,
    );
    let compiled_each = per_iteration(
        || {
            drop(black_box(
                template::render(black_box(&version), &input, Platform::Telegram).expect("renders"),
            ))
        },
        min_time,
    );

    println!("per recipient, as a multiple of decoding the subscriber record ({baseline:?}):");
    println!(
        "  render, template compiled once per batch: {:>6.1}x",
        compiled_once.as_secs_f64() / baseline.as_secs_f64()
    );
    println!(
        "  compile and render per recipient:         {:>6.1}x",
        compiled_each.as_secs_f64() / baseline.as_secs_f64()
    );
}
