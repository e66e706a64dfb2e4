//! The one trait a configured platform implements: everything that differs between platforms on the
//! way in (webhooks) and out (sending, acknowledging a press).

use chrono::{DateTime, Utc};

use super::Platform;
use crate::delivery::Outgoing;
use crate::error::{Error, ErrorKind, Result};
use crate::ingress::Inbound;
use crate::message::RenderedMessage;
use crate::messenger::{ApiCall, HttpClient, SendOutcome};
use crate::subscriber::{Address, Channel};
use crate::web::{Request, Response, DEFAULT_BODY_LIMIT};

/// One webhook delivery: the request and the account its path names (`/webhooks/telegram/<bot>`).
#[derive(Debug, Clone, Copy)]
pub struct Webhook<'a> {
    /// The request as received, body unread.
    pub request: &'a Request,
    /// The path's account segment, if any.
    pub account: Option<&'a str>,
}

/// One message on its way out: where, to whom, and when (for service windows).
#[derive(Debug, Clone, Copy)]
pub struct Envelope<'a> {
    /// The sending channel, one the adapter [`serves`](Adapter::serves).
    pub channel: &'a Channel,
    /// The recipient.
    pub to: &'a Address,
    /// The message.
    pub message: &'a Outgoing,
    /// The time of sending.
    pub now: DateTime<Utc>,
}

/// One message on its way out to several recipients at once (a platform's broadcast).
#[derive(Debug, Clone, Copy)]
pub struct Broadcast<'a> {
    /// The sending channel, one the adapter [`serves`](Adapter::serves).
    pub channel: &'a Channel,
    /// The recipients, at most the platform's
    /// [`broadcast_recipients`](crate::capabilities::Capabilities::broadcast_recipients).
    pub to: &'a [&'a Address],
    /// The message every one of them gets.
    pub message: &'a Outgoing,
    /// The time of sending.
    pub now: DateTime<Utc>,
}

/// A button press to acknowledge.
#[derive(Debug, Clone, Copy)]
pub struct Press<'a> {
    /// The channel the press came in on.
    pub channel: &'a Channel,
    /// The platform's id of the press.
    pub id: &'a str,
    /// The note to show; empty acknowledges silently.
    pub text: &'a str,
}

/// A platform as this deployment configured it.
pub trait Adapter {
    /// The platform it speaks.
    fn platform(&self) -> Platform;

    /// Whether this deployment sends and receives on `channel` (a configured bot or number).
    fn serves(&self, channel: &Channel) -> bool {
        self.channels().contains(channel)
    }

    /// Every channel this deployment sends and receives on for the platform.
    fn channels(&self) -> Vec<Channel>;

    /// Whether every account of this deployment pays for its broadcasts, so the platform's
    /// [`max_paid_rate_per_second`](crate::capabilities::Capabilities::max_paid_rate_per_second)
    /// applies; no by default.
    fn pays_for_broadcasts(&self) -> bool {
        false
    }

    /// Answer the platform's GET verification handshake with the text to echo.
    ///
    /// # Errors
    /// 405 `method_not_allowed` when the platform has no handshake (the default); the platform's
    /// refusal otherwise.
    fn handshake(&self, webhook: &Webhook<'_>) -> Result<String> {
        let request = webhook.request;
        Err(Error::new(
            ErrorKind::MethodNotAllowed,
            "method_not_allowed",
            format!(
                "{} is not allowed on {}; use POST",
                request.method, request.path
            ),
        ))
    }

    /// What the delivery's head must show before any of its body is read — the credential, or its
    /// presence and form when it is computed over the body — and the most body the platform's
    /// deliveries carry ([`DEFAULT_BODY_LIMIT`] unless the platform says otherwise).
    ///
    /// # Errors
    /// 401 for a missing or malformed credential (an unknown account answers the same); 503 when the
    /// platform's webhook secret is not configured.
    fn admit(&self, _webhook: &Webhook<'_>) -> Result<usize> {
        Ok(DEFAULT_BODY_LIMIT)
    }

    /// Check that a webhook delivery comes from the platform, with the body-size limit checked where
    /// the platform needs it: never read more of an unauthenticated request than the check requires.
    ///
    /// # Errors
    /// 401 for a wrong or missing credential (an unknown account answers the same); 413 for a body
    /// over the limit; 503 when the platform's webhook secret is not configured.
    fn authenticate(&self, webhook: &Webhook<'_>) -> Result<()>;

    /// Parse an authenticated webhook body into what happened. `now` stands in for missing times.
    ///
    /// # Errors
    /// 400 when the body is not the platform's payload.
    fn parse(&self, webhook: &Webhook<'_>, now: DateTime<Utc>) -> Result<Vec<Inbound>>;

    /// Authenticate a webhook delivery, then parse it.
    ///
    /// # Errors
    /// As [`Adapter::authenticate`] and [`Adapter::parse`].
    fn receive(&self, webhook: &Webhook<'_>, now: DateTime<Utc>) -> Result<Vec<Inbound>> {
        self.authenticate(webhook)?;
        self.parse(webhook, now)
    }

    /// A link that opens a conversation with `channel`'s account carrying `code`, which the person
    /// then sends back (Telegram's `/start <code>`, a prefilled WhatsApp message).
    ///
    /// # Errors
    /// 422 `links_not_supported` when the platform, or this account's configuration, makes no links.
    fn deep_link(&self, channel: &Channel, code: &str) -> Result<String> {
        let _ = code;
        Err(links_not_supported(
            channel,
            &format!("{} has no links that carry a code", self.platform()),
        ))
    }

    /// Build the API call that sends one message; `Err` is the outcome when no call is to be made
    /// (closed service window, a message the platform cannot carry, a channel not served).
    ///
    /// # Errors
    /// The outcome decided without calling the platform.
    fn prepare(&self, envelope: &Envelope<'_>) -> std::result::Result<ApiCall, SendOutcome>;

    /// Build the one API call that sends the same message to every recipient of `broadcast`, its
    /// answer read into one outcome per recipient in order; `Err` is the outcome of every recipient
    /// when no call is to be made. `None` (the default) when the platform has no such call: each
    /// recipient is then sent alone.
    fn prepare_broadcast(
        &self,
        broadcast: &Broadcast<'_>,
    ) -> Option<std::result::Result<ApiCall, SendOutcome>> {
        let _ = broadcast;
        None
    }

    /// Build and send one message, translating the platform's answer.
    fn send(&self, http: &dyn HttpClient, envelope: &Envelope<'_>) -> SendOutcome {
        match self.prepare(envelope) {
            Ok(call) => call.send(http),
            Err(decided) => decided,
        }
    }

    /// The template of the welcome that answers a webhook delivery in which a person opened a
    /// conversation ([`crate::ingress::InboundKind::ConversationOpened`]), where the platform lets
    /// that answer carry a message and the deployment named one; `None` by default.
    fn welcome_template(&self) -> Option<&str> {
        None
    }

    /// The webhook answer carrying `welcome` (rendered from [`Adapter::welcome_template`]) to the
    /// person who opened a conversation on `channel`.
    ///
    /// # Errors
    /// 503 `welcome_not_supported` by default: the platform's webhook answers carry no message.
    fn welcome_answer(&self, channel: &Channel, welcome: &RenderedMessage) -> Result<Response> {
        let _ = welcome;
        Err(Error::unavailable(
            "welcome_not_supported",
            format!("webhook answers on '{channel}' cannot carry a welcome message"),
        ))
    }

    /// Acknowledge a button press so the user's client stops waiting; nothing to do by default.
    ///
    /// # Errors
    /// When the platform could not be reached or refused; never containing a credential.
    fn acknowledge_press(&self, http: &dyn HttpClient, press: &Press<'_>) -> Result<()> {
        let _ = (http, press);
        Ok(())
    }
}

/// What a platform module made of the deployment's variables.
pub enum Configured {
    /// Ready to use.
    Ready(Box<dyn Adapter>),
    /// Not set up in this deployment (not an error until something needs it); the error says how.
    Absent(Error),
    /// Set up wrongly: an error wherever the platform is used.
    Invalid(Error),
}

/// The answer when a message is for a channel this deployment does not serve.
/// The refusal of a link on `channel`, saying `why` (what to configure, or that the platform has none).
pub(crate) fn links_not_supported(channel: &Channel, why: &str) -> Error {
    Error::unprocessable(
        "links_not_supported",
        format!("channel '{channel}' cannot make links: {why}"),
    )
}

pub(crate) fn channel_not_configured(channel: &Channel) -> SendOutcome {
    SendOutcome::Rejected {
        code: "channel_not_configured".into(),
        reason: format!("channel '{channel}' is not configured in this deployment"),
    }
}
