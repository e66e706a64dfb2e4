//! Messenger behind the [`Adapter`] trait: one Facebook Page, Meta's handshake and signature on
//! webhooks, the Send API for standard messages inside the 24-hour window.

use chrono::{DateTime, Utc};

use super::{send, webhook, MessengerConfig};
use crate::error::Result;
use crate::ingress::Inbound;
use crate::messenger::{ApiCall, SendOutcome};
use crate::platform::adapter::{channel_not_configured, Adapter, Configured, Envelope, Webhook};
use crate::platform::{meta_webhook, Platform};
use crate::secret::Secret;
use crate::subscriber::Channel;

/// Meta batches messaging events; a notification stays well under this.
const WEBHOOK_BODY_LIMIT: usize = 1024 * 1024;

/// The Messenger settings: the Graph API base URL and version, and the page's configuration.
#[derive(Debug, Clone)]
pub struct Messenger {
    /// `messenger_api_url`, e.g. `https://graph.facebook.com`.
    pub api_url: String,
    /// `messenger_api_version`, e.g. `v21.0`.
    pub api_version: String,
    /// The page, its token and webhook secrets.
    pub config: MessengerConfig,
}

impl Messenger {
    /// Read the `messenger_*` variables; without a page id Messenger is simply absent.
    pub fn configure(read: &dyn Fn(&str) -> String) -> Configured {
        let page_id = read("messenger_page_id");
        let config = MessengerConfig::new(
            &page_id,
            Secret::new(read("messenger_page_access_token")),
            Secret::new(read("messenger_app_secret")),
            Secret::new(read("messenger_verify_token")),
        );
        match config {
            Ok(config) => Configured::Ready(Box::new(Messenger {
                api_url: read("messenger_api_url"),
                api_version: read("messenger_api_version"),
                config,
            })),
            Err(err) if page_id.trim().is_empty() => Configured::Absent(err),
            Err(err) => Configured::Invalid(err),
        }
    }
}

impl Adapter for Messenger {
    fn platform(&self) -> Platform {
        Platform::Messenger
    }

    fn channels(&self) -> Vec<Channel> {
        vec![self.config.channel.clone()]
    }

    fn handshake(&self, webhook: &Webhook<'_>) -> Result<String> {
        meta_webhook::verify_subscription(webhook.request, &self.config.verify_token)
    }

    fn authenticate(&self, webhook: &Webhook<'_>) -> Result<()> {
        meta_webhook::authenticate_within(
            webhook.request,
            WEBHOOK_BODY_LIMIT,
            &self.config.app_secret,
            "Messenger",
            "messenger_app_secret",
        )
    }

    fn parse(&self, webhook: &Webhook<'_>, now: DateTime<Utc>) -> Result<Vec<Inbound>> {
        webhook::parse_notification(&self.config, &webhook.request.body, now)
    }

    fn prepare(&self, envelope: &Envelope<'_>) -> std::result::Result<ApiCall, SendOutcome> {
        if !self.serves(envelope.channel) {
            return Err(channel_not_configured(envelope.channel));
        }
        let outgoing = envelope.message;
        send::check_window(outgoing.last_inbound_at, envelope.now)?;
        let body = send::request_body(&outgoing.campaign_id, envelope.to, &outgoing.message)?;
        send::call(&self.api_url, &self.api_version, &self.config, &body)
    }
}
