//! WhatsApp Cloud API: configuration, and one module per direction of traffic.

mod adapter;
pub mod format;
pub mod send;
pub mod webhook;

use chrono::Duration;

use crate::capabilities::{Capabilities, Receipts};
use crate::platform::meta_adapter::MetaAccount;

pub use adapter::WhatsApp;

/// What WhatsApp can do: the Cloud API takes up to 1000 messages a second per number; free-form
/// messages only within 24 hours of the customer's last message, approved templates at any time.
pub const CAPABILITIES: Capabilities = Capabilities {
    default_rate_per_second: 80,
    max_rate_per_second: 1000,
    max_paid_rate_per_second: None,
    receipts: Receipts::PerMessage,
    service_window: Some(Duration::hours(SERVICE_WINDOW_HOURS)),
    approved_templates: true,
    acknowledges_presses: false,
    broadcast_recipients: 1,
};

/// How long after a customer's last message free-form messages may be sent.
pub const SERVICE_WINDOW_HOURS: i64 = 24;

/// A WhatsApp id for previews and save-time checks.
pub const SAMPLE_ADDRESS: &str = "15550001000";

/// WhatsApp's entry in the platform registry.
pub const REGISTRATION: super::Registration = super::Registration {
    name: "whatsapp",
    capabilities: CAPABILITIES,
    canonical_address,
    text_format: format::FORMAT,
    configure: adapter::configure,
    sample_address: SAMPLE_ADDRESS,
    account_variable: "whatsapp_phone_number_id",
};

/// WhatsApp ids are 6 to 15 digits of an E.164 number without '+' (country codes never start with 0).
///
/// # Errors
/// The expected form.
pub fn canonical_address(s: &str) -> std::result::Result<String, &'static str> {
    let digits = s.strip_prefix('+').unwrap_or(s);
    let valid = (6..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0');
    if valid {
        Ok(digits.to_owned())
    } else {
        Err("6 to 15 digits of an international phone number, starting with the country code")
    }
}

/// Words that unsubscribe, compared case-insensitively on the whole trimmed message (the usual set
/// people know from SMS).
pub const STOP_KEYWORDS: &[&str] = &["STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"];

/// The WhatsApp settings, from Spin variables.
#[derive(Debug, Clone)]
pub struct WhatsAppConfig {
    /// The number (channel `whatsapp:<phone_number_id>`) and its secrets.
    pub account: MetaAccount,
    /// Messages that subscribe, upper-cased.
    pub optin_keywords: Vec<String>,
}

impl WhatsAppConfig {
    /// The number's settings, with the comma-separated opt-in keywords.
    pub fn new(account: MetaAccount, optin_keywords: &str) -> Self {
        let optin_keywords = optin_keywords
            .split(',')
            .map(|k| k.trim().to_uppercase())
            .filter(|k| !k.is_empty())
            .collect();
        WhatsAppConfig {
            account,
            optin_keywords,
        }
    }
}
