//! One webhook body delivered twice through the real ingress (`Platforms::receive_webhook`): once
//! authenticated as the platform would, once with a forged credential. The forged delivery must always
//! be refused before parsing; the authentic one must be parsed into well-formed events or refused
//! with a 4xx, never a 5xx or a panic.

use chrono::{DateTime, Utc};
use http::Method;
use spinpost::ingress::Inbound;
use spinpost::platform::{meta_webhook, telegram, viber, Platform, Platforms, Webhook};
use spinpost::subscriber::MAX_NAME_CHARS;
use spinpost::web::Request;

const TELEGRAM_SECRET: &str = "hook-secret";
const VIBER_TOKEN: &str = "viber-auth-token";
const META_APP_SECRET: &str = "app-secret";
/// The bot name of Telegram and Viber, the path's account segment.
const BOT: &str = "shop";
/// The WhatsApp phone number id; the fixtures' notifications are addressed to it.
const WHATSAPP_NUMBER: &str = "1122334455667";
/// The Messenger page id; the fixtures' notifications are addressed to it.
const MESSENGER_PAGE: &str = "1691462197845448";

thread_local! {
    /// Every platform configured as a deployment would be (the registry is not `Sync`; the fuzzer
    /// runs on one thread).
    static DEPLOYMENT: Platforms = Platforms::from_variables(variable);
}

/// The deployment's Spin variables.
fn variable(name: &str) -> String {
    match name {
        "telegram_bots" => {
            format!(r#"{{"{BOT}": {{"token": "1:T", "webhook_secret": "{TELEGRAM_SECRET}"}}}}"#)
        }
        "viber_bots" => {
            format!(r#"{{"{BOT}": {{"token": "{VIBER_TOKEN}", "sender_name": "Shop"}}}}"#)
        }
        "whatsapp_phone_number_id" => WHATSAPP_NUMBER.to_owned(),
        "whatsapp_access_token" | "messenger_page_access_token" => "token".to_owned(),
        "whatsapp_app_secret" | "messenger_app_secret" => META_APP_SECRET.to_owned(),
        "whatsapp_verify_token" | "messenger_verify_token" => "verify-me".to_owned(),
        "whatsapp_optin_keywords" => "START,JOIN".to_owned(),
        "messenger_page_id" => MESSENGER_PAGE.to_owned(),
        _ => String::new(),
    }
}

/// A fixed "now" so runs are reproducible.
fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_795_000_000, 0).unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// How a delivery presents itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Credential {
    Authentic,
    Forged,
}

fn request(platform: Platform, body: &[u8], credential: Credential) -> Request {
    let forged = credential == Credential::Forged;
    let (path, header, value) = match platform {
        Platform::Telegram => (
            format!("/webhooks/telegram/{BOT}"),
            telegram::webhook::SECRET_HEADER,
            if forged {
                "hook-forged"
            } else {
                TELEGRAM_SECRET
            }
            .to_owned(),
        ),
        Platform::Viber => (
            format!("/webhooks/viber/{BOT}"),
            viber::webhook::SIGNATURE_HEADER,
            viber::webhook::sign(if forged { "forged-token" } else { VIBER_TOKEN }, body),
        ),
        Platform::Whatsapp | Platform::Messenger => (
            format!("/webhooks/{}", platform.as_str()),
            meta_webhook::SIGNATURE_HEADER,
            meta_webhook::sign(
                if forged {
                    "forged-secret"
                } else {
                    META_APP_SECRET
                },
                body,
            ),
        ),
    };
    Request::new(Method::POST, &path)
        .with_header(header, &value)
        .with_body(body)
}

fn account(platform: Platform) -> &'static str {
    match platform {
        Platform::Telegram | Platform::Viber => BOT,
        Platform::Whatsapp | Platform::Messenger => "",
    }
}

fn deliver(
    platforms: &Platforms,
    platform: Platform,
    body: &[u8],
    credential: Credential,
) -> spinpost::Result<Vec<Inbound>> {
    let request = request(platform, body, credential);
    platforms.receive_webhook(
        platform.as_str(),
        &Webhook::new(&request, account(platform)),
        now(),
    )
}

/// Deliver `body` forged and authentic and check both answers (panics on a violation, which the fuzzer
/// reports as a crash).
pub fn check(platform: Platform, body: &[u8]) {
    DEPLOYMENT.with(|platforms| check_in(platforms, platform, body));
}

fn check_in(platforms: &Platforms, platform: Platform, body: &[u8]) {
    // Parsing never sees a body whose credential the platform would refuse.
    match deliver(platforms, platform, body, Credential::Forged) {
        Ok(events) => panic!("a forged {platform:?} delivery was accepted: {events:?}"),
        Err(err) => assert_refusal(&err, &[401, 413], platform, Credential::Forged),
    }
    match deliver(platforms, platform, body, Credential::Authentic) {
        Ok(events) => check_events(platforms, platform, &events),
        Err(err) => assert_refusal(&err, &[400, 413], platform, Credential::Authentic),
    }
}

fn assert_refusal(
    err: &spinpost::Error,
    allowed: &[u16],
    platform: Platform,
    credential: Credential,
) {
    assert!(
        allowed.contains(&err.status()),
        "a {credential:?} {platform:?} delivery answered {} {}: {}",
        err.status(),
        err.code(),
        err.message()
    );
}

/// What the ingress relies on in every parsed event.
fn check_events(platforms: &Platforms, platform: Platform, events: &[Inbound]) {
    let channels = platforms
        .adapter(platform)
        .map(|adapter| adapter.channels())
        .unwrap_or_default();
    for event in events {
        assert!(
            channels.contains(&event.channel),
            "event on a channel not configured: {event:?}"
        );
        if let Some(address) = &event.address {
            assert_eq!(
                platform.canonical_address(address.as_str()).as_deref(),
                Ok(address.as_str()),
                "address not canonical: {event:?}"
            );
        }
        let profile = &event.profile;
        for name in [&profile.first_name, &profile.last_name, &profile.username]
            .into_iter()
            .flatten()
        {
            assert!(
                name.chars().count() <= MAX_NAME_CHARS,
                "a name of {} characters passed: {event:?}",
                name.chars().count()
            );
        }
    }
}
