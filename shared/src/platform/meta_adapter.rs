//! The one [`Adapter`] of the platforms on Meta's Graph API (WhatsApp, Messenger): Meta's handshake,
//! signature and Graph API call are the same for both, so only what differs is asked of the platform's
//! configuration ([`MetaPlatform`]).

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::adapter::{channel_not_configured, Adapter, Configured, Envelope, Webhook};
use super::meta_graph::GraphApi;
use super::{meta_webhook, Platform};
use crate::error::Result;
use crate::ingress::Inbound;
use crate::messenger::{ApiCall, SendOutcome};
use crate::secret::Secret;
use crate::subscriber::Channel;

/// Meta batches events in one notification; a notification stays well under this.
pub const NOTIFICATION_BODY_LIMIT: usize = 1024 * 1024;

/// What differs between the platforms on Meta's Graph API: a configuration of one sending account.
pub trait MetaPlatform: Send + Sync + 'static {
    /// The platform.
    const PLATFORM: Platform;
    /// Its name in messages, e.g. `WhatsApp`.
    const NAME: &'static str;
    /// The prefix of its variables, e.g. `whatsapp` (`whatsapp_api_url`, `whatsapp_app_secret`).
    const VARIABLES: &'static str;

    /// The channel of the sending account.
    fn channel(&self) -> &Channel;
    /// The access token the Graph API call carries.
    fn access_token(&self) -> &Secret;
    /// The app secret that signs webhooks.
    fn app_secret(&self) -> &Secret;
    /// The token of the verification handshake.
    fn verify_token(&self) -> &Secret;

    /// Parse an authenticated notification.
    ///
    /// # Errors
    /// 400 when the body is not the platform's payload.
    fn parse(&self, body: &[u8], now: DateTime<Utc>) -> Result<Vec<Inbound>>;

    /// The body of the `/messages` call for one message; `Err` is the outcome decided without a call
    /// (outside the service window, a message the platform cannot carry).
    ///
    /// # Errors
    /// The decided outcome.
    fn request_body(&self, envelope: &Envelope<'_>) -> std::result::Result<Value, SendOutcome>;

    /// The platform's answer to the `/messages` call as a send outcome.
    fn outcome(status: u16, body: &[u8]) -> SendOutcome;
}

/// A Meta platform configured from its variables: the Graph API endpoint and the account.
#[derive(Debug, Clone)]
pub struct MetaAdapter<P> {
    /// `<platform>_api_url` and `<platform>_api_version`.
    pub graph: GraphApi,
    /// The account and its secrets.
    pub config: P,
}

impl<P: MetaPlatform> MetaAdapter<P> {
    /// The adapter of `config`, read from the platform's variables; absent when `account` (the
    /// variable naming the sending account) is empty, invalid when it is set but wrong.
    pub fn configure(
        read: &dyn Fn(&str) -> String,
        account: &str,
        config: Result<P>,
    ) -> Configured {
        match config {
            Ok(config) => Configured::Ready(Box::new(MetaAdapter {
                graph: GraphApi::from_variables(read, P::VARIABLES),
                config,
            })),
            Err(err) if account.trim().is_empty() => Configured::Absent(err),
            Err(err) => Configured::Invalid(err),
        }
    }
}

impl<P: MetaPlatform> Adapter for MetaAdapter<P> {
    fn platform(&self) -> Platform {
        P::PLATFORM
    }

    fn channels(&self) -> Vec<Channel> {
        vec![self.config.channel().clone()]
    }

    fn handshake(&self, webhook: &Webhook<'_>) -> Result<String> {
        meta_webhook::verify_subscription(webhook.request, self.config.verify_token())
    }

    fn authenticate(&self, webhook: &Webhook<'_>) -> Result<()> {
        let secret_variable = format!("{}_app_secret", P::VARIABLES);
        meta_webhook::authenticate_within(
            webhook.request,
            NOTIFICATION_BODY_LIMIT,
            self.config.app_secret(),
            P::NAME,
            &secret_variable,
        )
    }

    fn parse(&self, webhook: &Webhook<'_>, now: DateTime<Utc>) -> Result<Vec<Inbound>> {
        self.config.parse(&webhook.request.body, now)
    }

    fn prepare(&self, envelope: &Envelope<'_>) -> std::result::Result<ApiCall, SendOutcome> {
        if !self.serves(envelope.channel) {
            return Err(channel_not_configured(envelope.channel));
        }
        let body = self.config.request_body(envelope)?;
        let account = self.config.channel().account();
        self.graph
            .post_message(account, self.config.access_token(), &body, P::outcome)
    }
}
