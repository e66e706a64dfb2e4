//! WhatsApp Cloud API: configuration, and one module per direction of traffic.

pub mod send;
pub mod webhook;

use crate::error::{Error, Result};
use crate::secret::Secret;
use crate::subscriber::{Channel, Platform};

/// Words that unsubscribe, compared case-insensitively on the whole trimmed message (the usual set
/// people know from SMS).
pub const STOP_KEYWORDS: &[&str] = &["STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"];

/// The WhatsApp settings, from Spin variables.
#[derive(Debug, Clone)]
pub struct WhatsAppConfig {
    /// The channel `whatsapp:<phone_number_id>`.
    pub channel: Channel,
    /// Graph API access token.
    pub access_token: Secret,
    /// App secret that signs webhooks.
    pub app_secret: Secret,
    /// Token of the verification handshake.
    pub verify_token: Secret,
    /// Messages that subscribe, upper-cased.
    pub optin_keywords: Vec<String>,
}

impl WhatsAppConfig {
    /// Build from the variables' values.
    ///
    /// # Errors
    /// 503 `whatsapp_not_configured` when the phone number id is empty or invalid.
    pub fn new(
        phone_number_id: &str,
        access_token: Secret,
        app_secret: Secret,
        verify_token: Secret,
        optin_keywords: &str,
    ) -> Result<Self> {
        if phone_number_id.trim().is_empty() {
            return Err(Error::unavailable(
                "whatsapp_not_configured",
                "WhatsApp is not configured: set the variable whatsapp_phone_number_id",
            ));
        }
        let channel = Channel::new(Platform::Whatsapp, phone_number_id.trim()).map_err(|_| {
            Error::unavailable(
                "invalid_configuration",
                "variable 'whatsapp_phone_number_id' must be the numeric phone number id",
            )
        })?;
        let optin_keywords = optin_keywords
            .split(',')
            .map(|k| k.trim().to_uppercase())
            .filter(|k| !k.is_empty())
            .collect();
        Ok(WhatsAppConfig {
            channel,
            access_token,
            app_secret,
            verify_token,
            optin_keywords,
        })
    }
}
