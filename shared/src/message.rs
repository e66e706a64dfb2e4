//! A message rendered for one recipient on one platform: what the template engine produces and a
//! platform messenger sends.

use serde::{Deserialize, Serialize};

/// One inline button.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Button {
    /// Opens a URL.
    Url {
        /// The label.
        text: String,
        /// The absolute http(s) URL.
        url: String,
    },
    /// A rating (1 to 5) that the feedback component records; sent with
    /// [`crate::event::rating_button_data`] as its data.
    Rating {
        /// The label, e.g. "★★★★★".
        text: String,
        /// The score, 1 to 5.
        score: u8,
    },
}

/// An approved platform template (WhatsApp's) to send instead of free text outside the platform's
/// service window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlatformTemplate {
    /// The approved template's name.
    pub name: String,
    /// Its language code, e.g. `en_US`.
    pub language: String,
    /// Body parameters, in order, already rendered for the recipient.
    pub parameters: Vec<String>,
}

/// Why a transactional message may go out after the platform's standard messaging window has closed:
/// one of the message tags Messenger allows for it, chosen in the template.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum MessageTag {
    /// A reminder or update about an event or reservation the person registered for.
    ConfirmedEventUpdate,
    /// An update about a purchase the person made (order status, shipping, receipt).
    PostPurchaseUpdate,
    /// A change to the person's account or application (not promotional).
    AccountUpdate,
}

impl MessageTag {
    /// The tag as the platform names it, e.g. `POST_PURCHASE_UPDATE`.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageTag::ConfirmedEventUpdate => "CONFIRMED_EVENT_UPDATE",
            MessageTag::PostPurchaseUpdate => "POST_PURCHASE_UPDATE",
            MessageTag::AccountUpdate => "ACCOUNT_UPDATE",
        }
    }
}

/// A message ready to send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RenderedMessage {
    /// The text, written the platform's way from the template's markup (see
    /// [`crate::capabilities::TextFormat`]); every substituted value escaped. With a photo, this is the
    /// caption.
    pub text: String,
    /// A photo to send with the text as its caption.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub photo_url: Option<String>,
    /// Rows of inline buttons.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub buttons: Vec<Vec<Button>>,
    /// The approved template for recipients outside the platform's service window, when the template
    /// has one and the platform takes approved templates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform_template: Option<PlatformTemplate>,
    /// The tag under which this transactional message may be sent after the standard messaging window
    /// closed, on a platform that allows it (Messenger); `None` for promotional messages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_tag: Option<MessageTag>,
}
