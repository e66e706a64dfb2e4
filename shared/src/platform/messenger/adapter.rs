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
use crate::platform::meta_adapter::{MetaAccount, MetaAdapter, MetaPlatform};
use crate::platform::Platform;

/// Messenger as this deployment configured it.
pub type Messenger = MetaAdapter<MessengerConfig>;

/// Read the `messenger_*` variables; without a page id Messenger is simply absent.
pub fn configure(read: &dyn Fn(&str) -> String) -> Configured {
    Messenger::configure(read, |account| MessengerConfig { account })
}

impl MetaPlatform for MessengerConfig {
    const PLATFORM: Platform = Platform::Messenger;
    const NAME: &'static str = "Messenger";
    const VARIABLES: &'static str = "messenger";
    const ACCOUNT_VARIABLE: &'static str = "messenger_page_id";
    const ACCOUNT_NOUN: &'static str = "page id";
    const TOKEN_VARIABLE: &'static str = "messenger_page_access_token";

    fn account(&self) -> &MetaAccount {
        &self.account
    }

    fn parse(&self, body: &[u8], now: DateTime<Utc>) -> Result<Vec<Inbound>> {
        webhook::parse_notification(self, body, now)
    }

    fn request_body(&self, envelope: &Envelope<'_>) -> std::result::Result<Value, SendOutcome> {
        let outgoing = envelope.message;
        let messaging =
            send::messaging_for(&outgoing.message, outgoing.last_inbound_at, envelope.now)?;
        send::request_body(
            &outgoing.campaign_id,
            envelope.to,
            &outgoing.message,
            messaging,
        )
    }

    fn outcome(status: u16, body: &[u8]) -> SendOutcome {
        send::outcome(status, body)
    }
}
