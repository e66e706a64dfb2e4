//! What the platform told us about the person.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

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
    /// Refuse names longer than [`MAX_NAME_CHARS`] (`name_too_long`, naming the field). For names an
    /// operator gives (import, edit): a value that would not be kept whole is an error to fix, while a
    /// platform's profile data is [`Profile::bounded`] silently, since nobody could fix it.
    ///
    /// # Errors
    /// 400 `name_too_long`.
    pub fn checked(self) -> Result<Self> {
        for (field, name) in [
            ("first_name", &self.first_name),
            ("last_name", &self.last_name),
            ("username", &self.username),
        ] {
            let length = name.as_deref().map_or(0, |n| n.chars().count());
            if length > MAX_NAME_CHARS {
                return Err(Error::invalid(
                    "name_too_long",
                    format!("{field} is {length} characters; at most {MAX_NAME_CHARS}"),
                ));
            }
        }
        Ok(self)
    }

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_operators_long_name_is_refused_while_a_platforms_is_cut() {
        let long = || Some("a".repeat(MAX_NAME_CHARS + 1));
        let given = Profile {
            last_name: long(),
            ..Profile::default()
        };
        let err = given.clone().checked().unwrap_err();
        assert_eq!(err.code(), "name_too_long");
        assert_eq!(err.message(), "last_name is 257 characters; at most 256");
        let cut = given.bounded();
        assert_eq!(
            cut.last_name.map(|n| n.chars().count()),
            Some(MAX_NAME_CHARS)
        );
        let fits = Profile {
            first_name: Some("Ada".into()),
            ..Profile::default()
        };
        assert_eq!(fits.clone().checked().unwrap(), fits);
    }
}
