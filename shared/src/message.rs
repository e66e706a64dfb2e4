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
}
