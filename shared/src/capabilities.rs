//! What a platform can do, in terms the core acts on, so delivery, feedback and templates ask a
//! question ("does it send receipts?", "how long may a caption be?") instead of naming a platform.

use chrono::Duration;

use crate::template::markup::{no_marker, plain_text, Node};

/// How a platform reports what became of a sent message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Receipts {
    /// Nothing comes back.
    None,
    /// A status (delivered, read, failed) per message id.
    PerMessage,
    /// One "read up to here" mark per conversation.
    Watermark,
}

/// The static facts of one platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    /// The send rate per second when the deployment sets none.
    pub default_rate_per_second: u32,
    /// The highest send rate per second a deployment may set.
    pub max_rate_per_second: u32,
    /// The highest send rate per second of an account that pays for its broadcasts, where the platform
    /// sells them (Telegram's `allow_paid_broadcast`); `None` elsewhere.
    pub max_paid_rate_per_second: Option<u32>,
    /// What comes back about sent messages.
    pub receipts: Receipts,
    /// How long after a recipient's last message free-form messages may be sent; `None` when always.
    pub service_window: Option<Duration>,
    /// Whether an approved platform template may be sent outside the service window.
    pub approved_templates: bool,
    /// Whether a button press must be answered (or the user's client keeps waiting).
    pub acknowledges_presses: bool,
    /// The most recipients one request may carry when they get the same message (the platform's
    /// broadcast call, where each recipient's outcome is still answered apart); 1 where every message
    /// is its own request. Such a request takes one send slot of the channel's rate.
    pub broadcast_recipients: usize,
}

impl Capabilities {
    /// Whether the platform reports delivery and reading per message id (so sent ids are worth keeping).
    pub fn sends_receipts(&self) -> bool {
        self.receipts == Receipts::PerMessage
    }
}

/// A rendered text written the platform's way, with its length as the platform counts it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormattedText {
    /// The text to send.
    pub text: String,
    /// Its length in the platform's units (characters, UTF-16 code units…).
    pub length: usize,
}

/// How a platform writes a message from the template's neutral markup, and how long it may be.
#[derive(Debug, Clone, Copy)]
pub struct TextFormat {
    /// Writes the trimmed rendered source (`source`, already parsed into `nodes`) for the platform.
    pub write: fn(source: &str, nodes: &[Node]) -> FormattedText,
    /// The longest text of a message without media.
    pub max_text: usize,
    /// The longest caption of a photo.
    pub max_caption: usize,
}

fn write_plain(_source: &str, nodes: &[Node]) -> FormattedText {
    plain_text(nodes, no_marker)
}

impl TextFormat {
    /// The format of a platform without inline formatting: plain text, links written out after
    /// their text.
    pub const fn plain(max_text: usize, max_caption: usize) -> Self {
        TextFormat {
            write: write_plain,
            max_text,
            max_caption,
        }
    }

    /// The limit for a message with or without a photo.
    pub fn limit(&self, with_photo: bool) -> usize {
        if with_photo {
            self.max_caption
        } else {
            self.max_text
        }
    }
}
