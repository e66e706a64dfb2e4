//! Platforms, one module each, registered here: the [`Platform`] identifier and its static facts
//! (capabilities, address rules, text format, sample address), the [`Adapter`] trait every configured
//! platform implements (webhook handshake and authentication, parsing, sending, acknowledging a press)
//! and the [`Platforms`] registry that serves the core's ports. Nothing outside this module names a
//! platform; the core asks questions of a [`Platform`] or goes through a port.

mod adapter;
#[cfg(test)]
mod fixtures;
pub mod messenger;
pub mod meta_adapter;
pub mod meta_graph;
pub mod meta_webhook;
mod registry;
pub mod telegram;
pub mod viber;
mod webhook_ingress;
pub mod whatsapp;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::capabilities::{Capabilities, TextFormat};
use crate::error::{Error, Result};

pub use adapter::{Adapter, Broadcast, Configured, Envelope, Press, Webhook};
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
    /// Viber REST Bot API.
    Viber,
    /// Facebook Messenger (a Page's Send API).
    Messenger,
}

/// Builds a platform's adapter from the deployment's variables (the reader gives a variable's value,
/// empty when unset).
pub type ConfigureAdapter = for<'a> fn(&'a (dyn Fn(&str) -> String + 'a)) -> Configured;

/// What a platform module registers: its name, its static facts, and how its adapter is configured.
/// Each platform module declares one `REGISTRATION`; [`Platform::registration`] is the one place that
/// maps a platform to its module.
#[derive(Clone, Copy)]
pub struct Registration {
    /// The lower-case name used in routes, keys and ids.
    pub name: &'static str,
    /// What the platform can do.
    pub capabilities: Capabilities,
    /// The one canonical spelling of an address, or the form the platform expects.
    pub canonical_address: fn(&str) -> Result<String, &'static str>,
    /// How a rendered message is written for the platform, and its length limits.
    pub text_format: TextFormat,
    /// The adapter as the deployment's variables configure it.
    pub configure: ConfigureAdapter,
    /// A valid address, for previews and save-time checks.
    pub sample_address: &'static str,
    /// The variable that names the accounts (bots, numbers, pages) a deployment serves.
    pub account_variable: &'static str,
}

impl Platform {
    /// Every platform, in a stable order.
    pub const ALL: [Platform; 4] = [
        Platform::Telegram,
        Platform::Whatsapp,
        Platform::Viber,
        Platform::Messenger,
    ];

    /// The platform module's registration.
    fn registration(self) -> &'static Registration {
        match self {
            Platform::Telegram => &telegram::REGISTRATION,
            Platform::Whatsapp => &whatsapp::REGISTRATION,
            Platform::Viber => &viber::REGISTRATION,
            Platform::Messenger => &messenger::REGISTRATION,
        }
    }

    /// The lower-case name used in routes, keys and ids.
    pub fn as_str(self) -> &'static str {
        self.registration().name
    }

    /// What the platform can do.
    pub fn capabilities(self) -> Capabilities {
        self.registration().capabilities
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
        (self.registration().canonical_address)(s)
    }

    /// How a rendered message is written for this platform, and its length limits.
    pub fn text_format(self) -> TextFormat {
        self.registration().text_format
    }

    /// The platform's adapter as the deployment's variables configure it (see [`Platforms`]).
    pub fn configure(self, read: &dyn Fn(&str) -> String) -> Configured {
        (self.registration().configure)(read)
    }

    /// The variable naming the accounts this deployment serves on the platform (`telegram_bots`…).
    pub fn account_variable(self) -> &'static str {
        self.registration().account_variable
    }

    /// A valid address on this platform, for previews and save-time checks.
    pub fn sample_address(self) -> &'static str {
        self.registration().sample_address
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
