//! WhatsApp behind the [`Adapter`] trait: one phone number, Meta's handshake and signature on webhooks,
//! the Graph API for sending (free text inside the service window, an approved template outside it).

use chrono::{DateTime, Utc};

use super::{send, webhook, WhatsAppConfig};
use crate::error::Result;
use crate::ingress::Inbound;
use crate::messenger::{ApiCall, SendOutcome};
use crate::platform::adapter::{channel_not_configured, Adapter, Configured, Envelope, Webhook};
use crate::platform::{meta_webhook, Platform};
use crate::secret::Secret;
use crate::subscriber::Channel;

/// Meta batches statuses; a notification stays well under this.
const WEBHOOK_BODY_LIMIT: usize = 1024 * 1024;

/// The WhatsApp settings: the Graph API base URL and version, and the number's configuration.
#[derive(Debug, Clone)]
pub struct WhatsApp {
    /// `whatsapp_api_url`, e.g. `https://graph.facebook.com`.
    pub api_url: String,
    /// `whatsapp_api_version`, e.g. `v21.0`.
    pub api_version: String,
    /// The number, its token and webhook secrets.
    pub config: WhatsAppConfig,
}

impl WhatsApp {
    /// Read the `whatsapp_*` variables; without a phone number id WhatsApp is simply absent.
    pub fn configure(read: &dyn Fn(&str) -> String) -> Configured {
        let phone_number_id = read("whatsapp_phone_number_id");
        let config = WhatsAppConfig::new(
            &phone_number_id,
            Secret::new(read("whatsapp_access_token")),
            Secret::new(read("whatsapp_app_secret")),
            Secret::new(read("whatsapp_verify_token")),
            &read("whatsapp_optin_keywords"),
        );
        match config {
            Ok(config) => Configured::Ready(Box::new(WhatsApp {
                api_url: read("whatsapp_api_url"),
                api_version: read("whatsapp_api_version"),
                config,
            })),
            Err(err) if phone_number_id.trim().is_empty() => Configured::Absent(err),
            Err(err) => Configured::Invalid(err),
        }
    }
}

impl Adapter for WhatsApp {
    fn platform(&self) -> Platform {
        Platform::Whatsapp
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
            "WhatsApp",
            "whatsapp_app_secret",
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
        let form = send::choose_form(&outgoing.message, outgoing.last_inbound_at, envelope.now)?;
        let body = send::request_body(&outgoing.campaign_id, envelope.to, &outgoing.message, &form);
        send::call(&self.api_url, &self.api_version, &self.config, &body)
    }
}
