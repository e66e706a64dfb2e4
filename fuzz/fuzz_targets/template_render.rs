//! The template engine end to end, with any content and any recipient: a template's content is
//! checked (`TemplateContent::parse`, `validate_content`) and, when accepted, rendered for every
//! platform with arbitrary names and campaign variables. Refusals are 4xx, never 5xx; a rendered
//! message is within the platform's limits, its Telegram text is valid markup, its buttons and photo
//! are usable; the batch renderer and the one-off render agree.
#![no_main]

use std::collections::BTreeMap;

use arbitrary::Arbitrary;
use chrono::{DateTime, Utc};
use libfuzzer_sys::fuzz_target;
use spinpost::message::{Button, MessageTag, RenderedMessage};
use spinpost::platform::Platform;
use spinpost::subscriber::{Locale, Profile};
use spinpost::template::limits::{MAX_RENDERED_BUTTON_TEXT_CHARS, MAX_WHATSAPP_PARAMETER_BYTES};
use spinpost::template::{
    self, markup, ButtonSpec, CampaignVars, RenderInput, Renderer, TemplateContent, TemplateId,
    TemplateVersion, Variant, WhatsappTemplateSpec,
};

/// Locales a template may have: arbitrary tags would almost always be refused before the engine.
const LOCALES: [&str; 3] = ["en", "pt-BR", "pt"];
/// Every Messenger message tag a template may name.
const MESSAGE_TAGS: [MessageTag; 3] = [
    MessageTag::ConfirmedEventUpdate,
    MessageTag::PostPurchaseUpdate,
    MessageTag::AccountUpdate,
];

#[derive(Arbitrary, Debug)]
struct Input {
    locales: Vec<(u8, FuzzVariant)>,
    default_locale: Option<u8>,
    recipient_locale: Option<u8>,
    first_name: Option<String>,
    last_name: Option<String>,
    username: Option<String>,
    campaign_name: String,
    variables: BTreeMap<String, String>,
}

#[derive(Arbitrary, Debug)]
struct FuzzVariant {
    text: String,
    photo_url: Option<String>,
    buttons: Vec<Vec<FuzzButton>>,
    whatsapp_template: Option<(String, String, Vec<String>)>,
    /// An index into [`MESSAGE_TAGS`].
    messenger_tag: Option<u8>,
}

#[derive(Arbitrary, Debug)]
enum FuzzButton {
    Url { text: String, url: String },
    Rating { text: String, rating: u8 },
}

fn locale_tag(index: u8) -> &'static str {
    LOCALES[usize::from(index) % LOCALES.len()]
}

fn variant(fuzzed: FuzzVariant) -> Variant {
    Variant {
        text: fuzzed.text,
        photo_url: fuzzed.photo_url,
        buttons: fuzzed
            .buttons
            .into_iter()
            .map(|row| {
                row.into_iter()
                    .map(|button| match button {
                        FuzzButton::Url { text, url } => ButtonSpec::Url { text, url },
                        FuzzButton::Rating { text, rating } => ButtonSpec::Rating { text, rating },
                    })
                    .collect()
            })
            .collect(),
        whatsapp_template: fuzzed
            .whatsapp_template
            .map(|(name, language, parameters)| WhatsappTemplateSpec {
                name,
                language,
                parameters,
            }),
        messenger_tag: fuzzed
            .messenger_tag
            .map(|index| MESSAGE_TAGS[usize::from(index) % MESSAGE_TAGS.len()]),
    }
}

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_795_000_000, 0).unwrap_or(DateTime::<Utc>::MIN_UTC)
}

fn assert_refusal(err: &spinpost::Error, what: &str) {
    assert!(
        (400..500).contains(&err.status()),
        "{what} answered {} {}: {}",
        err.status(),
        err.code(),
        err.message()
    );
}

fn is_http_url(url: &str) -> bool {
    let lower = url.to_ascii_lowercase();
    (lower.starts_with("https://") || lower.starts_with("http://"))
        && !url.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// What a sender may rely on in any rendered message.
fn check_message(platform: Platform, message: &RenderedMessage) {
    let format = platform.text_format();
    let limit = format.limit(message.photo_url.is_some());
    let length = if platform == Platform::Telegram {
        let nodes = markup::parse(&message.text)
            .unwrap_or_else(|problem| panic!("rendered Telegram text is not markup: {problem}"));
        (format.write)(&message.text, &nodes).length
    } else {
        message.text.chars().count()
    };
    assert!(
        length <= limit,
        "{platform:?} text of {length} over {limit}"
    );
    assert!(
        length > 0 || message.photo_url.is_some(),
        "{platform:?}: an empty message"
    );
    if let Some(url) = &message.photo_url {
        assert!(is_http_url(url), "photo URL {url:?}");
    }
    for button in message.buttons.iter().flatten() {
        let text = match button {
            Button::Url { text, url } => {
                assert!(is_http_url(url), "button URL {url:?}");
                text
            }
            Button::Rating { text, score } => {
                assert!((1..=5).contains(score), "rating {score}");
                text
            }
        };
        let chars = text.chars().count();
        assert!(
            chars > 0 && chars <= MAX_RENDERED_BUTTON_TEXT_CHARS,
            "label {text:?}"
        );
    }
    if let Some(approved) = &message.platform_template {
        assert!(platform.capabilities().approved_templates);
        for parameter in &approved.parameters {
            assert!(!parameter.contains(['\n', '\t']), "parameter {parameter:?}");
            assert!(parameter.chars().count() <= MAX_WHATSAPP_PARAMETER_BYTES);
        }
    }
}

fuzz_target!(|input: Input| {
    let mut locales = BTreeMap::new();
    for (index, fuzzed) in input.locales {
        locales.insert(locale_tag(index).to_owned(), variant(fuzzed));
    }
    let content = match TemplateContent::parse(input.default_locale.map(locale_tag), locales) {
        Ok(content) => content,
        Err(err) => return assert_refusal(&err, "parsing content"),
    };
    let id = TemplateId::parse("fuzz").expect("a valid template id");
    if let Err(err) = template::validate_content(&id, &content, now()) {
        return assert_refusal(&err, "validating content");
    }
    let version = TemplateVersion::new(id, 1, content, now());
    let renderer = Renderer::new(&version)
        .unwrap_or_else(|err| panic!("validated content does not compile: {err:?}"));

    let variables = input.variables;
    let campaign = CampaignVars {
        id: "c1",
        name: &input.campaign_name,
        variables: &variables,
    };
    let locale = input
        .recipient_locale
        .and_then(|index| Locale::parse(locale_tag(index)).ok());
    for platform in Platform::ALL {
        let mut subscriber = template::sample_subscriber(platform, locale.clone(), now())
            .expect("the sample subscriber is valid");
        subscriber.profile = Profile {
            first_name: input.first_name.clone(),
            last_name: input.last_name.clone(),
            username: input.username.clone(),
        }
        .bounded();
        let recipient = RenderInput {
            subscriber: &subscriber,
            campaign,
        };
        let batch = renderer.render(&recipient, platform);
        let single = template::render(&version, &recipient, platform);
        match (&batch, &single) {
            (Ok(batch), Ok(single)) => {
                assert_eq!(batch, single, "batch and one-off renders differ");
                check_message(platform, batch);
            }
            (Err(batch), Err(single)) => {
                assert_eq!(
                    batch.code(),
                    single.code(),
                    "batch and one-off refusals differ"
                );
                assert_refusal(batch, "rendering");
            }
            _ => panic!("batch and one-off renders disagree: {batch:?} / {single:?}"),
        }
    }
});
