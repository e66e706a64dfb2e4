//! WhatsApp Cloud API: configuration, and one module per direction of traffic.

mod adapter;
pub mod format;
pub mod send;
pub mod webhook;

use chrono::Duration;

use crate::capabilities::{Capabilities, Receipts};
use crate::error::{Error, Result};
use crate::platform::adapter::links_not_supported;
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
    /// The number as people dial it (`whatsapp_display_phone`), for `https://wa.me/<number>` links;
    /// empty: no links. Judged where a link is made.
    pub display_phone: String,
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
            display_phone: String::new(),
        }
    }

    /// The same settings with the number people dial (`whatsapp_display_phone`).
    pub fn with_display_phone(self, display_phone: &str) -> Self {
        WhatsAppConfig {
            display_phone: display_phone.trim().to_owned(),
            ..self
        }
    }

    /// A click-to-chat link whose prefilled message is the first opt-in keyword and `code`: sent as it
    /// is, it subscribes and carries the code (see the webhook's keyword rule).
    ///
    /// # Errors
    /// 422 `links_not_supported` without a display phone or an opt-in keyword; 503
    /// `invalid_configuration` when the display phone is not an international number.
    pub fn click_to_chat(&self, code: &str) -> Result<String> {
        let channel = &self.account.channel;
        if self.display_phone.is_empty() {
            return Err(links_not_supported(
                channel,
                "set the variable whatsapp_display_phone to the number people dial",
            ));
        }
        let number = canonical_address(&self.display_phone).map_err(|rule| {
            Error::unavailable(
                "invalid_configuration",
                format!("variable 'whatsapp_display_phone' must be {rule}"),
            )
        })?;
        let keyword = self.optin_keywords.first().ok_or_else(|| {
            links_not_supported(channel, "set an opt-in keyword in whatsapp_optin_keywords")
        })?;
        let text = format!("{keyword} {code}");
        Ok(format!(
            "https://wa.me/{number}?text={}",
            percent_encode(&text)
        ))
    }
}

/// Percent-encode a query value: everything but unreserved characters (RFC 3986).
fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::fixtures::whatsapp_number;

    fn whatsapp_config() -> WhatsAppConfig {
        whatsapp_number("15550001", "t", "START,YES")
    }

    #[test]
    fn click_to_chat_prefills_the_first_keyword_and_the_code() {
        let config = whatsapp_config().with_display_phone("+49 ");
        assert_eq!(
            config.click_to_chat("ab12").unwrap_err().code(),
            "invalid_configuration"
        );
        let config = config.with_display_phone("+4915123456789");
        assert_eq!(
            config.click_to_chat("ab12").unwrap(),
            "https://wa.me/4915123456789?text=START%20ab12"
        );
        let err = whatsapp_config().click_to_chat("ab12").unwrap_err();
        assert_eq!((err.status(), err.code()), (422, "links_not_supported"));
        assert_eq!(percent_encode("JA BITTE&ü"), "JA%20BITTE%26%C3%BC");
    }
}
