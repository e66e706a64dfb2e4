//! What the platform told us about the person.

use serde::{Deserialize, Serialize};

/// The longest profile name, in characters.
pub const MAX_NAME_CHARS: usize = 256;

/// What the platform told us about the person.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Profile {
    /// First name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    /// Last name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    /// Platform user name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
}

impl Profile {
    /// Trim names to [`MAX_NAME_CHARS`]; platforms allow long names, our templates need not.
    pub fn bounded(self) -> Self {
        let cut = |s: Option<String>| s.map(|s| s.chars().take(MAX_NAME_CHARS).collect());
        Profile {
            first_name: cut(self.first_name),
            last_name: cut(self.last_name),
            username: cut(self.username),
        }
    }
}
