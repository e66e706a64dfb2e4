//! The business's own id of a customer, carried by each of their subscribers.

use crate::error::{Error, Result};
use crate::newtype::validated_string;

/// The most characters an external id may have.
pub const MAX_EXTERNAL_ID_CHARS: usize = 128;

validated_string! {
    /// The business's own customer id (`cus_1042`, an e-mail hash…): 1-128 printable characters without
    /// whitespace. One customer may have subscribers on several channels, all carrying the same id.
    pub struct ExternalId;
}

impl ExternalId {
    /// Parse an external id, exactly as given (ids are compared verbatim, so nothing is trimmed or
    /// case-folded).
    ///
    /// # Errors
    /// `invalid_external_id`, saying what to fix without echoing the value.
    pub fn parse(s: &str) -> Result<Self> {
        let chars = s.chars().count();
        if chars == 0 || chars > MAX_EXTERNAL_ID_CHARS {
            return Err(Error::invalid(
                "invalid_external_id",
                format!(
                    "external_id has {chars} characters; give 1-{MAX_EXTERNAL_ID_CHARS} printable characters without whitespace"
                ),
            ));
        }
        if let Some(position) = s.chars().position(|c| c.is_whitespace() || c.is_control()) {
            return Err(Error::invalid(
                "invalid_external_id",
                format!(
                    "external_id has whitespace or a control character at position {}; give printable characters without whitespace",
                    position + 1
                ),
            ));
        }
        Ok(ExternalId(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn external_ids_are_bounded_printable_and_kept_verbatim() {
        assert_eq!(ExternalId::parse("Cus_1042").unwrap().as_str(), "Cus_1042");
        assert!(ExternalId::parse("ünïcødé@shop.example").is_ok());
        assert!(ExternalId::parse(&"x".repeat(MAX_EXTERNAL_ID_CHARS)).is_ok());
        for bad in ["", " a", "a b", "a\tb", "a\u{7}", "a\n"] {
            assert_eq!(
                ExternalId::parse(bad).unwrap_err().code(),
                "invalid_external_id",
                "{bad:?}"
            );
        }
        let long = ExternalId::parse(&"x".repeat(MAX_EXTERNAL_ID_CHARS + 1)).unwrap_err();
        assert!(long.message().contains("129 characters"));
        assert!(serde_json::from_str::<ExternalId>(r#""a b""#).is_err());
    }
}
