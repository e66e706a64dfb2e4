//! The platforms' own payloads (tests/fixtures/), for the parsers' unit tests.

use std::sync::{Mutex, MutexGuard};

use serde_json::Value;

use super::messenger::MessengerConfig;
use super::meta_adapter::{MetaAccount, MetaPlatform};
use super::telegram::{BotConfig, Bots};
use super::viber;
use super::whatsapp::WhatsAppConfig;
use crate::messenger::{HttpClient, SendOutcome, TransportError};
use crate::secret::Secret;

fn load(name: &str) -> Value {
    let path = format!(
        "{}/../tests/fixtures/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_slice(&std::fs::read(&path).expect("fixture exists")).expect("fixture is JSON")
}

/// The verbatim body of a fixture, e.g. `telegram/update_start_command`.
pub(crate) fn raw(name: &str) -> Vec<u8> {
    load(name)["payload_raw"]
        .as_str()
        .expect("fixture has payload_raw")
        .as_bytes()
        .to_vec()
}

/// The parsed payload of a fixture, to adapt.
pub(crate) fn payload(name: &str) -> Value {
    load(name)["payload"].clone()
}

/// What a platform's `translate` makes of an API response fixture.
pub(crate) fn outcome_of(name: &str, translate: fn(u16, &[u8]) -> SendOutcome) -> SendOutcome {
    let (status, body) = response(name);
    translate(status, &body)
}

/// An API response fixture: its HTTP status (200 when the source gives none) and verbatim body.
pub(crate) fn response(name: &str) -> (u16, Vec<u8>) {
    let status = load(name)["_source"]["http_status"]
        .as_u64()
        .and_then(|s| u16::try_from(s).ok())
        .unwrap_or(200);
    (status, raw(name))
}

/// The bot `telegram:shop` with this token and webhook secret.
pub(crate) fn telegram_bot(token: &str, webhook_secret: &str) -> BotConfig {
    let bots = serde_json::json!({ "shop": { "token": token, "webhook_secret": webhook_secret } });
    Bots::parse(&bots.to_string())
        .expect("valid bot")
        .get("shop")
        .expect("configured")
        .clone()
}

/// The Viber bot `viber:shop` with this auth token (sender name `Shop`).
pub(crate) fn viber_bot(token: &str) -> viber::BotConfig {
    let bots = serde_json::json!({ "shop": { "token": token, "sender_name": "Shop" } });
    viber::Bots::parse(&bots.to_string())
        .expect("valid bot")
        .named("shop")
        .expect("configured")
        .clone()
}

/// The account `id` of Meta platform `P` with this access token (app secret `app-secret`, verify token
/// `verify-me`).
fn meta_account<P: MetaPlatform>(id: &str, access_token: &str) -> MetaAccount {
    MetaAccount::new::<P>(
        id,
        Secret::new(access_token),
        Secret::new("app-secret"),
        Secret::new("verify-me"),
    )
    .expect("valid account")
}

/// A WhatsApp number with this id, access token and opt-in keywords.
pub(crate) fn whatsapp_number(
    id: &str,
    access_token: &str,
    optin_keywords: &str,
) -> WhatsAppConfig {
    WhatsAppConfig::new(
        meta_account::<WhatsAppConfig>(id, access_token),
        optin_keywords,
    )
}

/// A Messenger page with this id and page access token.
pub(crate) fn messenger_page(page_id: &str, page_access_token: &str) -> MessengerConfig {
    MessengerConfig {
        account: meta_account::<MessengerConfig>(page_id, page_access_token),
    }
}

/// A platform API double: answers each request by the first rule whose URL part the URL contains (a
/// status and body, or a transport failure naming the URL) and keeps the requests.
#[derive(Default)]
pub(crate) struct FakeApi {
    rules: Vec<(&'static str, Option<(u16, &'static str)>)>,
    requests: Mutex<Vec<http::Request<Vec<u8>>>>,
    in_flight_together: Mutex<Vec<usize>>,
}

impl FakeApi {
    /// Answer URLs containing `url_part` with `status` and `body`.
    pub(crate) fn answer(
        mut self,
        url_part: &'static str,
        status: u16,
        body: &'static str,
    ) -> Self {
        self.rules.push((url_part, Some((status, body))));
        self
    }

    /// Fail URLs containing `url_part` without a response.
    pub(crate) fn refuse(mut self, url_part: &'static str) -> Self {
        self.rules.push((url_part, None));
        self
    }

    /// The requests so far.
    pub(crate) fn requests(&self) -> MutexGuard<'_, Vec<http::Request<Vec<u8>>>> {
        self.requests.lock().expect("not poisoned")
    }

    /// How many requests each `send_all` put in flight together.
    pub(crate) fn rounds(&self) -> Vec<usize> {
        self.in_flight_together
            .lock()
            .expect("not poisoned")
            .clone()
    }

    /// The URLs requested so far.
    pub(crate) fn urls(&self) -> Vec<String> {
        self.requests()
            .iter()
            .map(|r| r.uri().to_string())
            .collect()
    }
}

impl HttpClient for FakeApi {
    fn send(
        &self,
        request: http::Request<Vec<u8>>,
    ) -> Result<http::Response<Vec<u8>>, TransportError> {
        let url = request.uri().to_string();
        self.requests().push(request);
        let rule = self.rules.iter().find(|(part, _)| url.contains(part));
        match rule.map(|(_, answer)| answer) {
            Some(Some((status, body))) => Ok(http::Response::builder()
                .status(*status)
                .body(body.as_bytes().to_vec())
                .expect("valid status")),
            Some(None) => Err(TransportError(format!("connection refused: {url}"))),
            None => panic!("unexpected request to {url}"),
        }
    }

    fn send_all(
        &self,
        requests: Vec<http::Request<Vec<u8>>>,
    ) -> Vec<Result<http::Response<Vec<u8>>, TransportError>> {
        self.in_flight_together
            .lock()
            .expect("not poisoned")
            .push(requests.len());
        requests.into_iter().map(|r| self.send(r)).collect()
    }
}
