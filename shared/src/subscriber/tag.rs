//! Tags that group subscribers into audiences.

use crate::error::{Error, Result};
use crate::newtype::validated_string;

use super::channel::is_slug;

validated_string! {
    /// A tag: lower-case slug of at most 64 characters (input is lower-cased).
    pub struct Tag;
}

impl Tag {
    /// Parse a tag.
    ///
    /// # Errors
    /// `invalid_tag`.
    pub fn parse(s: &str) -> Result<Self> {
        let lower = s.trim().to_lowercase();
        if !is_slug(&lower, 64) {
            return Err(Error::invalid(
                "invalid_tag",
                format!("tag '{s}' must be 1-64 characters of a-z, 0-9, '_' or '-'"),
            ));
        }
        Ok(Tag(lower))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_lowercased_and_bounded() {
        assert_eq!(Tag::parse(" VIP ").unwrap().as_str(), "vip");
        assert_eq!(Tag::parse("has space").unwrap_err().code(), "invalid_tag");
        assert!(Tag::parse(&"a".repeat(65)).is_err());
    }
}
