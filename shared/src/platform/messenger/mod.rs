//! Facebook Messenger (the Send API of a Facebook Page): configuration, and one module per direction of
//! traffic. Webhooks use Meta's handshake and signature ([`crate::platform::meta_webhook`]).

mod adapter;
pub mod format;
pub mod send;
pub mod webhook;

use chrono::Duration;

use crate::capabilities::{Capabilities, Receipts};
use crate::platform::meta_adapter::MetaAccount;

pub use adapter::Messenger;

/// What Messenger can do: receipts come as "delivered / read up to here" watermarks per conversation;
/// standard messaging only within 24 hours of the person's last message, and no approved templates to
/// fall back on outside it. Meta throttles a page's Send API calls well below WhatsApp's number
/// throughput, so the default pace is modest.
pub const CAPABILITIES: Capabilities = Capabilities {
    default_rate_per_second: 20,
    // The Send API takes about 300 calls a second per page for text.
    max_rate_per_second: 300,
    max_paid_rate_per_second: None,
    receipts: Receipts::Watermark,
    service_window: Some(Duration::hours(STANDARD_WINDOW_HOURS)),
    approved_templates: false,
    acknowledges_presses: false,
    broadcast_recipients: 1,
};

/// How long after a person's last message the page may send them standard messages.
pub const STANDARD_WINDOW_HOURS: i64 = 24;

/// A page-scoped id for previews and save-time checks.
pub const SAMPLE_ADDRESS: &str = "1234567890123456";

/// The longest page-scoped id accepted (real ones have 15 to 17 digits).
const MAX_PSID_DIGITS: usize = 24;

/// Messenger's entry in the platform registry.
pub const REGISTRATION: super::Registration = super::Registration {
    name: "messenger",
    capabilities: CAPABILITIES,
    canonical_address,
    text_format: format::FORMAT,
    configure: adapter::configure,
    sample_address: SAMPLE_ADDRESS,
    account_variable: "messenger_page_id",
};

/// Messenger addresses people by page-scoped id (PSID): digits only.
///
/// # Errors
/// The expected form.
pub fn canonical_address(s: &str) -> std::result::Result<String, &'static str> {
    let valid = (1..=MAX_PSID_DIGITS).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit());
    if valid {
        Ok(s.to_owned())
    } else {
        Err("a page-scoped id of 1 to 24 digits")
    }
}

/// Messages that unsubscribe, compared case-insensitively on the whole trimmed text.
pub const STOP_KEYWORDS: &[&str] = &["STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"];

/// The payload the page's Get Started button is set up with (compared case-insensitively).
pub const GET_STARTED_PAYLOAD: &str = "GET_STARTED";

/// The Messenger settings of one page, from Spin variables.
#[derive(Debug, Clone)]
pub struct MessengerConfig {
    /// The page (channel `messenger:<page_id>`), its page access token and the app's webhook secrets.
    pub account: MetaAccount,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_scoped_ids_are_digits() {
        assert_eq!(
            canonical_address("1134343043305865").as_deref(),
            Ok("1134343043305865")
        );
        for wrong in ["", "12a", "+123", &"1".repeat(25)] {
            assert!(canonical_address(wrong).is_err(), "{wrong}");
        }
    }
}
