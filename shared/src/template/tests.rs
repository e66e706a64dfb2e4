//! Behaviour of templates end to end: save-time validation, versions in the store, rendering and preview.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::json;

use super::*;
use crate::error::Error;
use crate::keys;
use crate::kv::{self, KvStore, MemoryStore};
use crate::message::Button;
use crate::subscriber::{Address, AttributeName, Channel, Locale, Platform, Subscriber, Tag};

fn now() -> DateTime<Utc> {
    "2026-03-01T12:00:00Z".parse().unwrap()
}

fn new_template(body: serde_json::Value) -> NewTemplate {
    serde_json::from_value(body).unwrap()
}

fn update(body: serde_json::Value) -> TemplateUpdate {
    serde_json::from_value(body).unwrap()
}

/// Create a template whose English text is `text`.
fn create_text(store: &MemoryStore, id: &str, text: &str) -> Result<TemplateWithVersion, Error> {
    create_template(
        store,
        new_template(json!({ "id": id, "name": id, "locales": { "en": { "text": text } } })),
        now(),
    )
}

/// Validate (as a save would) a single-locale variant given as JSON.
fn save_variant(variant: serde_json::Value) -> Result<TemplateWithVersion, Error> {
    create_template(
        &MemoryStore::new(),
        new_template(json!({ "id": "t", "name": "T", "locales": { "en": variant } })),
        now(),
    )
}

fn subscriber(first_name: Option<&str>, locale: Option<&str>) -> Subscriber {
    let channel = Channel::parse("telegram:shop").unwrap();
    let mut subscriber = Subscriber::new(
        channel,
        Address::parse(Platform::Telegram, "42").unwrap(),
        now(),
    );
    subscriber.profile.first_name = first_name.map(str::to_owned);
    subscriber.locale = locale.map(|l| Locale::parse(l).unwrap());
    subscriber
}

fn render_for(
    version: &TemplateVersion,
    subscriber: &Subscriber,
    platform: Platform,
) -> Result<crate::message::RenderedMessage, Error> {
    let variables = BTreeMap::from([("code".to_owned(), "SPRING<25>".to_owned())]);
    let input = RenderInput {
        subscriber,
        campaign: CampaignVars {
            id: "c1",
            name: "Spring sale",
            variables: &variables,
        },
    };
    render(version, &input, platform)
}

/// What `version` renders to on Telegram for a subscriber with this first name.
fn render_to_telegram(
    version: &TemplateVersion,
    first_name: Option<&str>,
) -> crate::message::RenderedMessage {
    render_for(version, &subscriber(first_name, None), Platform::Telegram).unwrap()
}

/// A version built in memory, without the store.
fn version_of(variant: serde_json::Value) -> TemplateVersion {
    let store = MemoryStore::new();
    create_template(
        &store,
        new_template(json!({ "id": "v", "name": "V", "locales": { "en": variant } })),
        now(),
    )
    .unwrap()
    .version
}

fn details(err: &Error) -> serde_json::Value {
    let body: serde_json::Value = serde_json::from_slice(&err.to_json()).unwrap();
    body["error"]["details"].clone()
}

#[test]
fn substituted_values_are_html_escaped_and_author_markup_is_kept() {
    let version = version_of(
        json!({ "text": "<b>Hi {{ subscriber.first_name }}</b>, code {{ campaign.variables.code }} & \"{{ campaign.name }}\"".replace(" & ", " &amp; ") }),
    );
    let message = render_to_telegram(&version, Some("<script>alert(\"x\")</script>"));
    assert_eq!(
        message.text,
        "<b>Hi &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;</b>, code SPRING&lt;25&gt; &amp; \"Spring sale\""
    );
}

#[test]
fn the_safe_filter_cannot_unescape_a_value() {
    let err = save_variant(json!({ "text": "Hi {{ subscriber.first_name | safe }}" })).unwrap_err();
    assert_eq!(err.status(), 422);
    err.assert_mentions("safe");
    let err = save_variant(
        json!({ "text": "{% autoescape false %}{{ subscriber.first_name }}{% endautoescape %}" }),
    )
    .unwrap_err();
    err.assert_mentions("autoescape");
}

#[test]
fn macros_and_escape_filter_do_not_escape_twice() {
    let version = version_of(json!({
        "text": "{% macro hi(name) %}<i>{{ name }}</i>{% endmacro %}{{ hi(subscriber.first_name) }} {{ subscriber.first_name | e }}"
    }));
    let message = render_to_telegram(&version, Some("A&B"));
    assert_eq!(message.text, "<i>A&amp;B</i> A&amp;B");
}

#[test]
fn missing_values_render_empty_or_the_default_never_none() {
    let version = version_of(json!({
        "text": "Hi {{ subscriber.first_name | default(\"friend\") }}!{{ subscriber.last_name }}{{ none }}{{ subscriber.attributes.city }}{{ campaign.variables.missing }}|{{ subscriber.username | d('-') }}"
    }));
    let message = render_to_telegram(&version, None);
    assert_eq!(message.text, "Hi friend!|-");
    for word in ["None", "none", "undefined"] {
        assert!(!message.text.contains(word));
    }
    let named = render_to_telegram(&version, Some("Ada"));
    assert!(named.text.starts_with("Hi Ada!"));
}

#[test]
fn every_documented_variable_is_available() {
    let version = version_of(json!({
        "text": "{{ subscriber.id }} {{ subscriber.channel }} {{ subscriber.locale }} {{ subscriber.timezone }} {{ subscriber.tags | join(',') }} {{ subscriber.attributes.city }} {{ campaign.id }} {{ campaign.name }} {% for t in subscriber.tags %}{{ loop.index }}{% endfor %}{% set x = 1 %}{{ x }}"
    }));
    let mut s = subscriber(Some("Ada"), Some("pt-BR"));
    s.timezone = Some(crate::subscriber::TimeZone::parse("Europe/Lisbon").unwrap());
    s.add_tag(Tag::parse("vip").unwrap()).unwrap();
    s.set_attribute(AttributeName::parse("city").unwrap(), "Porto".into())
        .unwrap();
    let message = render_for(&version, &s, Platform::Telegram).unwrap();
    assert_eq!(
        message.text,
        "telegram:shop:42 telegram:shop pt-BR Europe/Lisbon vip Porto c1 Spring sale 11"
    );
}

#[test]
fn the_subscriber_locale_picks_the_variant_with_language_and_default_fallback() {
    let store = MemoryStore::new();
    let request = new_template(json!({
        "id": "greet", "name": "Greet", "default_locale": "en",
        "locales": { "en": { "text": "Hello" }, "pt": { "text": "Olá" }, "de-AT": { "text": "Servus" } }
    }));
    create_template(&store, request, now()).unwrap();
    let version = load_version(&store, "greet", None).unwrap();
    let text = |locale: Option<&str>| {
        render_for(&version, &subscriber(None, locale), Platform::Telegram)
            .unwrap()
            .text
    };
    assert_eq!(text(Some("pt-BR")), "Olá");
    assert_eq!(text(Some("de-AT")), "Servus");
    assert_eq!(text(Some("de")), "Hello");
    assert_eq!(text(None), "Hello");
}

#[test]
fn a_loop_that_never_ends_runs_out_of_fuel_quickly_and_is_not_stored() {
    let store = MemoryStore::new();
    let started = Instant::now();
    let err = create_text(
        &store,
        "spin",
        "{% for a in range(100000) %}{% for b in range(100000) %}{{ a }}{% endfor %}{% endfor %}",
    )
    .unwrap_err();
    assert_eq!((err.status(), err.code()), (422, "template_out_of_fuel"));
    err.assert_mentions("locales.en.text");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );
    assert!(
        store.get_keys().unwrap().is_empty(),
        "nothing may be stored"
    );
}

#[test]
fn a_recursive_macro_hits_the_recursion_limit() {
    let err = save_variant(
        json!({ "text": "{% macro down(n) %}{{ down(n + 1) }}{% endmacro %}{{ down(0) }}" }),
    )
    .unwrap_err();
    assert_eq!(
        (err.status(), err.code()),
        (422, "template_recursion_limit")
    );
}

#[test]
fn output_is_capped_while_rendering() {
    // Each iteration is cheap in fuel but prints a lot: the cap stops it, not the fuel.
    let err =
        save_variant(json!({ "text": "{% for i in range(40) %}{{ 'x' * 1000 }}{% endfor %}" }))
            .unwrap_err();
    assert_eq!(
        (err.status(), err.code()),
        (422, "template_output_too_large")
    );
}

#[test]
fn a_syntax_error_names_the_field_line_and_column() {
    let err = save_variant(json!({ "text": "Hello\n  {{ subscriber.first_name( }}" })).unwrap_err();
    assert_eq!((err.status(), err.code()), (422, "invalid_template"));
    err.assert_mentions("locales.en.text: line 2, column");
    let problem = &details(&err)["problems"][0];
    assert_eq!(problem["field"], "locales.en.text");
    assert_eq!(problem["line"], 2);
    assert!(problem["column"].as_u64().unwrap() > 3, "{problem}");
}

#[test]
fn unknown_variables_are_listed() {
    let err = save_variant(json!({
        "text": "{{ subscriber.frist_name }} {{ coupon }} {% for t in subscriber.tags %}{{ t }}{% endfor %} {{ campaign.variables.code }}",
        "buttons": [[{ "text": "{{ campaign.title }}", "url": "https://shop.test/" }]]
    }))
    .unwrap_err();
    assert_eq!(err.code(), "invalid_template");
    assert_eq!(
        details(&err)["unknown_variables"],
        json!(["campaign.title", "coupon", "subscriber.frist_name"])
    );
    err.assert_mentions("subscriber.frist_name");
}

#[test]
fn forbidden_tags_are_named_even_in_branches_not_taken() {
    let err = save_variant(json!({ "text": "{% if subscriber.tags %}<div>x</div>{% endif %}<b>ok</b><img src=\"x\">" })).unwrap_err();
    assert_eq!(err.code(), "invalid_template");
    assert_eq!(details(&err)["forbidden_tags"], json!(["div", "img"]));
    let err =
        save_variant(json!({ "text": "<a href='{{ subscriber.username }}' onclick=\"x\">x</a>" }))
            .unwrap_err();
    err.assert_mentions("onclick");
    assert_eq!(details(&err)["forbidden_tags"], json!([]));
    // Every supported tag is accepted.
    let supported = "<b>b</b><strong>s</strong><i>i</i><em>e</em><u>u</u><ins>i</ins><s>s</s><strike>s</strike><del>d</del>\
        <a href=\"https://x.test\">a</a><code>c</code><pre>p</pre><blockquote>q</blockquote><tg-spoiler>t</tg-spoiler>\
        <span class=\"tg-spoiler\">s</span>";
    assert!(save_variant(json!({ "text": supported })).is_ok());
}

#[test]
fn broken_markup_is_refused_at_save() {
    let err = save_variant(json!({ "text": "<b>never closed" })).unwrap_err();
    assert_eq!((err.status(), err.code()), (422, "invalid_html"));
}

#[test]
fn telegram_text_is_limited_to_4096_and_a_caption_to_1024() {
    let fits = version_of(json!({ "text": "{{ 'é' * 4096 }}" }));
    let s = subscriber(None, None);
    assert!(render_for(&fits, &s, Platform::Telegram).is_ok());
    let err = save_variant(json!({ "text": "<b>{{ 'x' * 4097 }}</b>" })).unwrap_err();
    assert_eq!((err.status(), err.code()), (422, "template_text_too_long"));
    // Markup does not count (u has no WhatsApp marker), escaped values count once: 4096 characters pass.
    let escaped = save_variant(json!({ "text": "<u>{{ '<' * 4096 }}</u>" }));
    assert!(escaped.is_ok(), "{escaped:?}");
    // Telegram takes captions of up to 1024 characters.
    let captioned = |length: usize| {
        let variant = serde_json::from_value(
            json!({ "text": format!("{{{{ 'x' * {length} }}}}"), "photo_url": "https://cdn.test/a.jpg" }),
        )
        .unwrap();
        let content =
            TemplateContent::parse(None, BTreeMap::from([("en".to_owned(), variant)])).unwrap();
        TemplateVersion::new(TemplateId::parse("c").unwrap(), 1, content, now())
    };
    let err = render_for(&captioned(1025), &s, Platform::Telegram).unwrap_err();
    assert_eq!(err.code(), "template_caption_too_long");
    assert!(render_for(&captioned(1024), &s, Platform::Telegram).is_ok());
    // A saved template fits every platform's caption, Viber's 768 characters the shortest.
    let err =
        save_variant(json!({ "text": "{{ 'x' * 769 }}", "photo_url": "https://cdn.test/a.jpg" }))
            .unwrap_err();
    assert_eq!(err.code(), "template_caption_too_long");
    assert!(save_variant(
        json!({ "text": "{{ 'x' * 768 }}", "photo_url": "https://cdn.test/a.jpg" })
    )
    .is_ok());
}

#[test]
fn buttons_render_url_and_rating_and_urls_must_be_absolute_http() {
    let version = version_of(json!({
        "text": "Rate us",
        "photo_url": "https://cdn.test/{{ campaign.id }}.jpg",
        "buttons": [
            [{ "text": "Shop {{ subscriber.first_name }}", "url": "https://shop.test/?c={{ campaign.variables.code | urlencode }}" }],
            [{ "text": "★", "rating": 1 }, { "text": "★★★★★", "rating": 5 }]
        ]
    }));
    let message = render_to_telegram(&version, Some("<Ada>"));
    assert_eq!(
        message.photo_url.as_deref(),
        Some("https://cdn.test/c1.jpg")
    );
    assert_eq!(
        message.buttons[0][0],
        Button::Url {
            text: "Shop <Ada>".into(),
            url: "https://shop.test/?c=SPRING%3C25%3E".into()
        }
    );
    assert_eq!(
        message.buttons[1][1],
        Button::Rating {
            text: "★★★★★".into(),
            score: 5
        }
    );

    let err = save_variant(
        json!({ "text": "x", "buttons": [[{ "text": "Go", "url": "javascript:alert(1)" }]] }),
    )
    .unwrap_err();
    assert_eq!(err.code(), "invalid_template");
    err.assert_mentions("buttons[0][0].url");
    // A URL from campaign variables is checked when it renders for real.
    let dynamic = version_of(
        json!({ "text": "x", "buttons": [[{ "text": "Go", "url": "{{ campaign.variables.code }}" }]] }),
    );
    let err = render_for(&dynamic, &subscriber(None, None), Platform::Telegram).unwrap_err();
    assert_eq!((err.status(), err.code()), (422, "invalid_button_url"));
}

#[test]
fn whatsapp_gets_plain_text_with_its_formatting_and_the_approved_template() {
    let version = version_of(json!({
        "text": "<b>Hi {{ subscriber.first_name }}</b> &amp; <i>welcome</i>",
        "whatsapp_template": { "name": "spring_sale", "language": "en_US", "parameters": ["{{ subscriber.first_name }}", "{{ campaign.variables.code }}\n"] }
    }));
    let s = subscriber(Some("<Ada>"), None);
    let message = render_for(&version, &s, Platform::Whatsapp).unwrap();
    assert_eq!(message.text, "*Hi <Ada>* & _welcome_");
    let template = message.platform_template.unwrap();
    assert_eq!(
        (template.name.as_str(), template.language.as_str()),
        ("spring_sale", "en_US")
    );
    assert_eq!(
        template.parameters,
        vec!["<Ada>".to_owned(), "SPRING<25>".to_owned()]
    );
    assert!(render_for(&version, &s, Platform::Telegram)
        .unwrap()
        .platform_template
        .is_none());
}

#[test]
fn an_update_adds_a_version_and_keeps_earlier_ones_readable() {
    let store = MemoryStore::new();
    let created = create_text(&store, "promo", "First").unwrap();
    assert_eq!(
        (created.head.latest_version, created.version.version()),
        (1, 1)
    );
    let updated = update_template(
        &store,
        "promo",
        update(json!({ "name": "Promo 2", "locales": { "en": { "text": "Second" } } })),
        now(),
    )
    .unwrap();
    assert_eq!(
        (
            updated.head.latest_version,
            updated.version.version(),
            updated.head.name.as_str()
        ),
        (2, 2, "Promo 2")
    );
    let v1 = load_version(&store, "promo", Some(1)).unwrap();
    assert_eq!(
        v1.content().locales().values().next().unwrap().text,
        "First"
    );
    let latest = load_version(&store, "promo", None).unwrap();
    assert_eq!((latest.version(), latest.template_id()), (2, "promo"));
    assert_eq!(
        load_version(&store, "promo", Some(3)).unwrap_err().status(),
        404
    );
    assert_eq!(
        load_version(&store, "nope", None).unwrap_err().status(),
        404
    );
    assert_eq!(
        update_template(
            &store,
            "nope",
            update(json!({ "locales": { "en": { "text": "x" } } })),
            now()
        )
        .unwrap_err()
        .status(),
        404
    );
}

#[test]
fn a_failed_update_stores_nothing() {
    let store = MemoryStore::new();
    create_text(&store, "promo", "First").unwrap();
    let before = store.get_keys().unwrap().len();
    let err = update_template(
        &store,
        "promo",
        update(json!({ "locales": { "en": { "text": "{{ oops(" } } })),
        now(),
    )
    .unwrap_err();
    assert_eq!(err.status(), 422);
    assert_eq!(store.get_keys().unwrap().len(), before);
    assert_eq!(load_head(&store, "promo").unwrap().latest_version, 1);
}

#[test]
fn creating_an_existing_id_conflicts() {
    let store = MemoryStore::new();
    create_text(&store, "welcome", "Hi").unwrap();
    let err = create_text(&store, "welcome", "Hi again").unwrap_err();
    assert_eq!((err.status(), err.code()), (409, "template_exists"));
    assert_eq!(load_version(&store, "welcome", None).unwrap().version(), 1);
    // An id derived from the name conflicts the same way.
    let err = create_template(
        &store,
        new_template(json!({ "name": "Welcome!", "locales": { "en": { "text": "x" } } })),
        now(),
    )
    .unwrap_err();
    assert_eq!(err.status(), 409);
}

#[test]
fn templates_are_listed_with_cursor_paging() {
    let store = MemoryStore::new();
    for i in 0..5 {
        create_text(&store, &format!("t{i}"), "Hi").unwrap();
    }
    let first = list_templates(&store, 0, 2).unwrap();
    let ids: Vec<&str> = first.items.iter().map(|h| h.id.as_str()).collect();
    assert_eq!(ids, ["t0", "t1"]);
    let cursor = crate::paging::parse_cursor(first.next_cursor.as_deref()).unwrap();
    let second = list_templates(&store, cursor, 10).unwrap();
    assert_eq!(second.items.len(), 3);
    assert_eq!(second.next_cursor, None);
}

#[test]
fn preview_renders_for_a_stored_subscriber() {
    let store = MemoryStore::new();
    let request = new_template(json!({
        "id": "hello", "name": "Hello", "default_locale": "en",
        "locales": { "en": { "text": "Hi {{ subscriber.first_name }}" }, "pt": { "text": "Olá {{ subscriber.first_name }}" } }
    }));
    create_template(&store, request, now()).unwrap();
    let stored = subscriber(Some("<Zé>"), Some("pt-BR"));
    kv::set_json(&store, &keys::subscriber(&stored.id), &stored).unwrap();
    let request: PreviewRequest =
        serde_json::from_value(json!({ "subscriber_id": "telegram:shop:42" })).unwrap();
    let preview = preview(&store, "hello", request, now()).unwrap();
    assert_eq!(preview.message.text, "Olá &lt;Zé&gt;");
    assert_eq!(
        (preview.locale.as_str(), preview.version, preview.platform),
        ("pt", 1, Platform::Telegram)
    );
    let body = serde_json::to_value(&preview).unwrap();
    assert_eq!(body["text"], "Olá &lt;Zé&gt;");

    let missing: PreviewRequest =
        serde_json::from_value(json!({ "subscriber_id": "telegram:shop:43" })).unwrap();
    assert_eq!(
        super::preview(&store, "hello", missing, now())
            .unwrap_err()
            .status(),
        404
    );
}

#[test]
fn preview_renders_sample_data_for_either_platform() {
    let store = MemoryStore::new();
    create_text(
        &store,
        "promo",
        "<b>{{ subscriber.first_name | default('friend') }}</b>: {{ campaign.variables.code }}",
    )
    .unwrap();
    let request: PreviewRequest = serde_json::from_value(json!({
        "platform": "whatsapp",
        "sample": { "subscriber": { "first_name": "Ada", "tags": ["VIP"] }, "campaign": { "variables": { "code": "X1" } } }
    }))
    .unwrap();
    let preview = preview(&store, "promo", request, now()).unwrap();
    assert_eq!(preview.message.text, "*Ada*: X1");
    let default = super::preview(&store, "promo", PreviewRequest::default(), now()).unwrap();
    assert_eq!(default.message.text, "<b>Ada</b>:");
    let bad: PreviewRequest =
        serde_json::from_value(json!({ "sample": { "subscriber": { "locale": "x" } } })).unwrap();
    assert_eq!(
        super::preview(&store, "promo", bad, now())
            .unwrap_err()
            .code(),
        "invalid_locale"
    );
    let err = super::preview(
        &store,
        "promo",
        PreviewRequest {
            version: Some(9),
            ..PreviewRequest::default()
        },
        now(),
    )
    .unwrap_err();
    assert_eq!(err.status(), 404);
}

#[test]
fn a_renderer_compiles_once_for_many_recipients() {
    let version = version_of(json!({ "text": "Hi {{ subscriber.first_name }}" }));
    let renderer = Renderer::new(&version).unwrap();
    let variables = BTreeMap::new();
    for name in ["A", "B"] {
        let s = subscriber(Some(name), None);
        let input = RenderInput {
            subscriber: &s,
            campaign: CampaignVars {
                id: "c",
                name: "n",
                variables: &variables,
            },
        };
        assert_eq!(
            renderer.render(&input, Platform::Telegram).unwrap().text,
            format!("Hi {name}")
        );
    }
}

#[test]
fn an_event_message_sees_the_events_name_key_and_data_escaped() {
    let version = version_of(json!({
        "text": "{{ subscriber.first_name }}: {{ event.name }} {{ event.key }} #{{ event.data.order }} ({{ event.data.items | length }} items, {{ event.data.note }})"
    }));
    let variables = BTreeMap::new();
    let s = subscriber(Some("Ada"), None);
    let input = RenderInput {
        subscriber: &s,
        campaign: CampaignVars {
            id: "r--shipped",
            name: "Shipped",
            variables: &variables,
        },
    };
    let data = json!({"order": 4711, "items": ["a", "b"], "note": "<fragile>"});
    let event = EventVars {
        name: "order.shipped",
        key: Some("4711"),
        data: &data,
    };
    let message =
        crate::template::render_with_event(&version, &input, &event, Platform::Telegram).unwrap();
    assert_eq!(
        message.text,
        "Ada: order.shipped 4711 #4711 (2 items, &lt;fragile&gt;)"
    );
    // A campaign's message renders the event's fields empty.
    let campaign = render(&version, &input, Platform::Telegram).unwrap();
    assert_eq!(campaign.text, "Ada:   # (0 items, )");
}
