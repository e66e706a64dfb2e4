//! Whether a message is one the customer asked for (an order update, a reminder) or one the business
//! wants to send (an offer): later rules (frequency caps, quiet hours) treat the two differently.

use serde::{Deserialize, Serialize};

/// What kind of message a campaign or an event rule sends.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageKind {
    /// Expected by the customer as part of something they did (order shipped, appointment reminder).
    Transactional,
    /// Marketing the customer did not ask for; every broadcast campaign is promotional.
    #[default]
    Promotional,
}

impl MessageKind {
    /// The lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageKind::Transactional => "transactional",
            MessageKind::Promotional => "promotional",
        }
    }
}
