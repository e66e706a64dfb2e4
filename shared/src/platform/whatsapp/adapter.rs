//! WhatsApp behind the [`Adapter`](crate::platform::Adapter) trait, as a Meta platform: one phone
//! number, Meta's handshake and signature on webhooks, the Graph API for sending (free text inside the
//! service window, an approved template outside it).

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{send, webhook, WhatsAppConfig};
use crate::error::Result;
use crate::ingress::Inbound;
use crate::messenger::SendOutcome;
use crate::platform::adapter::{Configured, Envelope};
use crate::platform::meta_adapter::{MetaAccount, MetaAdapter, MetaPlatform};
use crate::platform::Platform;

/// WhatsApp as this deployment configured it.
pub type WhatsApp = MetaAdapter<WhatsAppConfig>;

/// Read the `whatsapp_*` variables; without a phone number id WhatsApp is simply absent.
pub fn configure(read: &dyn Fn(&str) -> String) -> Configured {
    let optin_keywords = read("whatsapp_optin_keywords");
    let display_phone = read("whatsapp_display_phone");
    WhatsApp::configure(read, |account| {
        WhatsAppConfig::new(account, &optin_keywords).with_display_phone(&display_phone)
    })
}

impl MetaPlatform for WhatsAppConfig {
    const PLATFORM: Platform = Platform::Whatsapp;
    const NAME: &'static str = "WhatsApp";
    const VARIABLES: &'static str = "whatsapp";
    const ACCOUNT_VARIABLE: &'static str = "whatsapp_phone_number_id";
    const ACCOUNT_NOUN: &'static str = "phone number id";
    const TOKEN_VARIABLE: &'static str = "whatsapp_access_token";

    fn account(&self) -> &MetaAccount {
        &self.account
    }

    fn parse(&self, body: &[u8], now: DateTime<Utc>) -> Result<Vec<Inbound>> {
        webhook::parse_notification(self, body, now)
    }

    fn request_body(&self, envelope: &Envelope<'_>) -> std::result::Result<Value, SendOutcome> {
        let outgoing = envelope.message;
        let form = send::choose_form(&outgoing.message, outgoing.last_inbound_at, envelope.now)?;
        Ok(send::request_body(
            &outgoing.campaign_id,
            envelope.to,
            &outgoing.message,
            &form,
        ))
    }

    fn outcome(status: u16, body: &[u8]) -> SendOutcome {
        send::outcome(status, body)
    }

    fn deep_link(&self, code: &str) -> Result<String> {
        self.click_to_chat(code)
    }
}
