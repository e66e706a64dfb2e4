//! Messenger behind the [`Adapter`](crate::platform::Adapter) trait, as a Meta platform: one Facebook
//! Page, Meta's handshake and signature on webhooks, the Send API for standard messages inside the
//! 24-hour window.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{send, webhook, MessengerConfig};
use crate::error::Result;
use crate::ingress::Inbound;
use crate::messenger::SendOutcome;
use crate::platform::adapter::{Configured, Envelope};
use crate::platform::meta_adapter::{MetaAdapter, MetaPlatform};
use crate::platform::Platform;
use crate::secret::Secret;
use crate::subscriber::Channel;

/// Messenger as this deployment configured it.
pub type Messenger = MetaAdapter<MessengerConfig>;

/// Read the `messenger_*` variables; without a page id Messenger is simply absent.
pub fn configure(read: &dyn Fn(&str) -> String) -> Configured {
    let page_id = read("messenger_page_id");
    let config = MessengerConfig::new(
        &page_id,
        Secret::new(read("messenger_page_access_token")),
        Secret::new(read("messenger_app_secret")),
        Secret::new(read("messenger_verify_token")),
    );
    Messenger::configure(read, &page_id, config)
}

impl MetaPlatform for MessengerConfig {
    const PLATFORM: Platform = Platform::Messenger;
    const NAME: &'static str = "Messenger";
    const VARIABLES: &'static str = "messenger";

    fn channel(&self) -> &Channel {
        &self.channel
    }

    fn access_token(&self) -> &Secret {
        &self.page_access_token
    }

    fn app_secret(&self) -> &Secret {
        &self.app_secret
    }

    fn verify_token(&self) -> &Secret {
        &self.verify_token
    }

    fn parse(&self, body: &[u8], now: DateTime<Utc>) -> Result<Vec<Inbound>> {
        webhook::parse_notification(self, body, now)
    }

    fn request_body(&self, envelope: &Envelope<'_>) -> std::result::Result<Value, SendOutcome> {
        let outgoing = envelope.message;
        send::check_window(outgoing.last_inbound_at, envelope.now)?;
        send::request_body(&outgoing.campaign_id, envelope.to, &outgoing.message)
    }

    fn outcome(status: u16, body: &[u8]) -> SendOutcome {
        send::outcome(status, body)
    }
}
