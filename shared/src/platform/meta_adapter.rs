//! The one [`Adapter`] of the platforms on Meta's Graph API (WhatsApp, Messenger): Meta's handshake,
//! signature and Graph API call are the same for both, so only what differs is asked of the platform's
//! configuration ([`MetaPlatform`]).

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::adapter::{
    channel_not_configured, links_not_supported, Adapter, Configured, Envelope, Webhook,
};
use super::meta_graph::GraphApi;
use super::{meta_webhook, Platform};
use crate::error::{Error, Result};
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
    /// The variable naming the sending account, e.g. `whatsapp_phone_number_id`.
    const ACCOUNT_VARIABLE: &'static str;
    /// What that account id is, e.g. `phone number id`.
    const ACCOUNT_NOUN: &'static str;
    /// The variable holding the access token of the Graph API calls.
    const TOKEN_VARIABLE: &'static str;

    /// The sending account and its secrets.
    fn account(&self) -> &MetaAccount;

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

    /// A link opening a conversation with the account that carries `code` (see
    /// [`Adapter::deep_link`]).
    ///
    /// # Errors
    /// 422 `links_not_supported` when the platform or its configuration makes none.
    fn deep_link(&self, code: &str) -> Result<String> {
        let _ = code;
        Err(links_not_supported(
            &self.account().channel,
            &format!("{} has no links that carry a code", Self::NAME),
        ))
    }
}

/// The sending account of a Meta platform (a phone number, a page) and its secrets.
#[derive(Debug, Clone)]
pub struct MetaAccount {
    /// The channel `<platform>:<account id>`.
    pub channel: Channel,
    /// The access token of the Graph API calls.
    pub access_token: Secret,
    /// The app secret that signs webhooks.
    pub app_secret: Secret,
    /// The token of the verification handshake.
    pub verify_token: Secret,
}

impl MetaAccount {
    /// The account `id` of platform `P` with its secrets.
    ///
    /// # Errors
    /// 503 `<platform>_not_configured` when `id` is empty; `invalid_configuration` when it is not the
    /// numeric id.
    pub fn new<P: MetaPlatform>(
        id: &str,
        access_token: Secret,
        app_secret: Secret,
        verify_token: Secret,
    ) -> Result<Self> {
        let id = id.trim();
        if id.is_empty() {
            return Err(Error::unavailable(
                format!("{}_not_configured", P::VARIABLES),
                format!(
                    "{} is not configured: set the variable {}",
                    P::NAME,
                    P::ACCOUNT_VARIABLE
                ),
            ));
        }
        let invalid = || {
            Error::unavailable(
                "invalid_configuration",
                format!(
                    "variable '{}' must be the numeric {}",
                    P::ACCOUNT_VARIABLE,
                    P::ACCOUNT_NOUN
                ),
            )
        };
        if !id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid());
        }
        let channel = Channel::new(P::PLATFORM, id).map_err(|_| invalid())?;
        Ok(MetaAccount {
            channel,
            access_token,
            app_secret,
            verify_token,
        })
    }
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
    /// Read the platform's variables (`<platform>_api_url`, `_api_version`, `_app_secret`,
    /// `_verify_token`, the account and its token) and build its configuration with `settle` from the
    /// account; absent when the account variable is empty, invalid when it is set but wrong.
    pub fn configure(
        read: &dyn Fn(&str) -> String,
        settle: impl FnOnce(MetaAccount) -> P,
    ) -> Configured {
        let id = read(P::ACCOUNT_VARIABLE);
        let secret = |name: &str| Secret::new(read(&format!("{}_{name}", P::VARIABLES)));
        let account = MetaAccount::new::<P>(
            &id,
            Secret::new(read(P::TOKEN_VARIABLE)),
            secret("app_secret"),
            secret("verify_token"),
        );
        match account {
            Ok(account) => Configured::Ready(Box::new(MetaAdapter {
                graph: GraphApi::from_variables(read, P::VARIABLES),
                config: settle(account),
            })),
            Err(err) if id.trim().is_empty() => Configured::Absent(err),
            Err(err) => Configured::Invalid(err),
        }
    }
}

impl<P: MetaPlatform> Adapter for MetaAdapter<P> {
    fn platform(&self) -> Platform {
        P::PLATFORM
    }

    fn channels(&self) -> Vec<Channel> {
        vec![self.config.account().channel.clone()]
    }

    fn handshake(&self, webhook: &Webhook<'_>) -> Result<String> {
        meta_webhook::verify_subscription(webhook.request, &self.config.account().verify_token)
    }

    fn admit(&self, webhook: &Webhook<'_>) -> Result<usize> {
        meta_webhook::admit_within(
            webhook.request,
            NOTIFICATION_BODY_LIMIT,
            &self.config.account().app_secret,
            P::NAME,
            &format!("{}_app_secret", P::VARIABLES),
        )
    }

    fn authenticate(&self, webhook: &Webhook<'_>) -> Result<()> {
        let secret_variable = format!("{}_app_secret", P::VARIABLES);
        meta_webhook::authenticate_within(
            webhook.request,
            NOTIFICATION_BODY_LIMIT,
            &self.config.account().app_secret,
            P::NAME,
            &secret_variable,
        )
    }

    fn parse(&self, webhook: &Webhook<'_>, now: DateTime<Utc>) -> Result<Vec<Inbound>> {
        self.config.parse(&webhook.request.body, now)
    }

    fn deep_link(&self, _channel: &Channel, code: &str) -> Result<String> {
        // One account per deployment: the registry has checked that it is the channel's.
        self.config.deep_link(code)
    }

    fn prepare(&self, envelope: &Envelope<'_>) -> std::result::Result<ApiCall, SendOutcome> {
        if !self.serves(envelope.channel) {
            return Err(channel_not_configured(envelope.channel));
        }
        let body = self.config.request_body(envelope)?;
        let account = self.config.account();
        self.graph.post_message(
            account.channel.account(),
            &account.access_token,
            &body,
            P::outcome,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::messenger::MessengerConfig;
    use crate::platform::whatsapp::WhatsAppConfig;

    fn account<P: MetaPlatform>(id: &str) -> Result<MetaAccount> {
        MetaAccount::new::<P>(id, Secret::new("t"), Secret::default(), Secret::default())
    }

    #[test]
    fn the_account_id_must_be_numeric() {
        assert_eq!(
            account::<MessengerConfig>(" 1691462197845448 ")
                .unwrap()
                .channel
                .to_string(),
            "messenger:1691462197845448"
        );
        let empty = account::<MessengerConfig>("").unwrap_err();
        assert_eq!(empty.code(), "messenger_not_configured");
        empty.assert_mentions("messenger_page_id");
        let wrong = account::<WhatsAppConfig>("my-number").unwrap_err();
        assert_eq!(wrong.code(), "invalid_configuration");
        wrong.assert_mentions("'whatsapp_phone_number_id' must be the numeric phone number id");
    }
}
