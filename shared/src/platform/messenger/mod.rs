//! Facebook Messenger (the Send API of a Facebook Page): configuration, and one module per direction of
//! traffic. Webhooks use Meta's handshake and signature ([`crate::platform::meta_webhook`]).

mod adapter;
pub mod format;
pub mod send;
pub mod webhook;

use chrono::Duration;

use crate::capabilities::{Capabilities, Receipts};
use crate::error::{Error, Result};
use crate::secret::Secret;
use crate::subscriber::{Channel, Platform};

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
    /// The channel `messenger:<page_id>`.
    pub channel: Channel,
    /// The page access token of the Send API.
    pub page_access_token: Secret,
    /// App secret that signs webhooks.
    pub app_secret: Secret,
    /// Token of the verification handshake.
    pub verify_token: Secret,
}

impl MessengerConfig {
    /// Build from the variables' values.
    ///
    /// # Errors
    /// 503 `messenger_not_configured` when the page id is empty; `invalid_configuration` when it is
    /// not a numeric page id.
    pub fn new(
        page_id: &str,
        page_access_token: Secret,
        app_secret: Secret,
        verify_token: Secret,
    ) -> Result<Self> {
        let page_id = page_id.trim();
        if page_id.is_empty() {
            return Err(Error::unavailable(
                "messenger_not_configured",
                "Messenger is not configured: set the variable messenger_page_id",
            ));
        }
        let invalid = || {
            Error::unavailable(
                "invalid_configuration",
                "variable 'messenger_page_id' must be the numeric page id",
            )
        };
        if !page_id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid());
        }
        let channel = Channel::new(Platform::Messenger, page_id).map_err(|_| invalid())?;
        Ok(MessengerConfig {
            channel,
            page_access_token,
            app_secret,
            verify_token,
        })
    }
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

    #[test]
    fn the_page_id_must_be_numeric() {
        let config = |id: &str| {
            MessengerConfig::new(id, Secret::new("t"), Secret::default(), Secret::default())
        };
        assert_eq!(
            config(" 1691462197845448 ").unwrap().channel.to_string(),
            "messenger:1691462197845448"
        );
        assert_eq!(config("").unwrap_err().code(), "messenger_not_configured");
        assert_eq!(
            config("my-page").unwrap_err().code(),
            "invalid_configuration"
        );
    }
}
