//! Platforms, one module each, registered here: the [`Platform`] identifier and its static facts
//! (capabilities, address rules, text format, sample address), the [`Adapter`] trait every configured
//! platform implements (webhook handshake and authentication, parsing, sending, acknowledging a press)
//! and the [`Platforms`] registry that serves the core's ports. Nothing outside this module names a
//! platform; the core asks questions of a [`Platform`] or goes through a port.

mod adapter;
#[cfg(test)]
mod fixtures;
pub mod meta_webhook;
mod registry;
pub mod telegram;
mod webhook_ingress;
pub mod whatsapp;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::capabilities::{Capabilities, TextFormat};
use crate::error::{Error, Result};

pub use adapter::{Adapter, Configured, Envelope, Press, Webhook};
pub use registry::{Connected, Platforms};
pub use webhook_ingress::WEBHOOK_PATHS;

/// A messenger platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Platform {
    /// Telegram Bot API.
    Telegram,
    /// WhatsApp Cloud API.
    Whatsapp,
}

impl Platform {
    /// Every platform, in a stable order.
    pub const ALL: [Platform; 2] = [Platform::Telegram, Platform::Whatsapp];

    /// The lower-case name used in routes, keys and ids.
    pub fn as_str(self) -> &'static str {
        match self {
            Platform::Telegram => "telegram",
            Platform::Whatsapp => "whatsapp",
        }
    }

    /// What the platform can do.
    pub fn capabilities(self) -> Capabilities {
        match self {
            Platform::Telegram => telegram::CAPABILITIES,
            Platform::Whatsapp => whatsapp::CAPABILITIES,
        }
    }

    /// Whether the platform reports delivery and reading per message (WhatsApp does, Telegram does not).
    pub fn sends_receipts(self) -> bool {
        self.capabilities().sends_receipts()
    }

    /// The one canonical spelling of an address on this platform.
    ///
    /// # Errors
    /// The form the platform expects, for a message such as "address 'x' is not <form>".
    pub fn canonical_address(self, s: &str) -> Result<String, &'static str> {
        match self {
            Platform::Telegram => telegram::canonical_address(s),
            Platform::Whatsapp => whatsapp::canonical_address(s),
        }
    }

    /// How a rendered message is written for this platform, and its length limits.
    pub fn text_format(self) -> TextFormat {
        match self {
            Platform::Telegram => telegram::format::FORMAT,
            Platform::Whatsapp => whatsapp::format::FORMAT,
        }
    }

    /// The platform's adapter as the deployment's variables configure it (see [`Platforms`]).
    pub fn configure(self, read: &dyn Fn(&str) -> String) -> Configured {
        match self {
            Platform::Telegram => telegram::Telegram::configure(read),
            Platform::Whatsapp => whatsapp::WhatsApp::configure(read),
        }
    }

    /// A valid address on this platform, for previews and save-time checks.
    pub fn sample_address(self) -> &'static str {
        match self {
            Platform::Telegram => telegram::SAMPLE_ADDRESS,
            Platform::Whatsapp => whatsapp::SAMPLE_ADDRESS,
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Platform {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Platform::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| {
                Error::invalid(
                    "invalid_platform",
                    format!(
                        "platform '{s}' is not one of: {}",
                        Platform::ALL.map(Platform::as_str).join(", ")
                    ),
                )
            })
    }
}
