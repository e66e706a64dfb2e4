//! Free attributes: their names (usable in templates) and the bound on their values.

use crate::error::{Error, Result};
use crate::newtype::validated_string;

/// The longest attribute value, in characters.
pub const MAX_ATTRIBUTE_VALUE_CHARS: usize = 1024;

validated_string! {
    /// An attribute name: starts with a letter, then letters, digits or '_', at most 64 (usable in templates).
    pub struct AttributeName;
}

impl AttributeName {
    /// Parse an attribute name.
    ///
    /// # Errors
    /// `invalid_attribute`.
    pub fn parse(s: &str) -> Result<Self> {
        let mut chars = s.chars();
        let valid = s.len() <= 64
            && chars.next().is_some_and(|c| c.is_ascii_alphabetic())
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return Err(Error::invalid(
                "invalid_attribute",
                format!("attribute name '{s}' must start with a letter and hold only letters, digits and '_' (at most 64)"),
            ));
        }
        Ok(AttributeName(s.to_owned()))
    }
}

/// Check an attribute value's length.
///
/// # Errors
/// `invalid_attribute` when longer than [`MAX_ATTRIBUTE_VALUE_CHARS`].
pub fn check_attribute_value(name: &AttributeName, value: &str) -> Result<()> {
    if value.chars().count() > MAX_ATTRIBUTE_VALUE_CHARS {
        return Err(Error::invalid(
            "invalid_attribute",
            format!(
                "attribute '{}' is longer than {MAX_ATTRIBUTE_VALUE_CHARS} characters",
                name.as_str()
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attribute_names_are_checked() {
        assert!(AttributeName::parse("order_id").is_ok());
        assert!(AttributeName::parse("1st").is_err());
        assert!(AttributeName::parse("a-b").is_err());
    }

    #[test]
    fn attribute_values_are_bounded() {
        let name = AttributeName::parse("city").unwrap();
        assert!(check_attribute_value(&name, &"x".repeat(MAX_ATTRIBUTE_VALUE_CHARS)).is_ok());
        assert_eq!(
            check_attribute_value(&name, &"x".repeat(MAX_ATTRIBUTE_VALUE_CHARS + 1))
                .unwrap_err()
                .code(),
            "invalid_attribute"
        );
    }
}
