//! Secrets: kept out of `Debug` output and compared in constant time.

use subtle::ConstantTimeEq;

/// A secret value (token, app secret). Its `Debug` never shows the value.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wrap a secret.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The value, for signing or for the platform API call that needs it. Never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether no value is configured.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Compare with a presented value in constant time; an unset secret matches nothing.
    pub fn matches(&self, presented: &str) -> bool {
        !self.0.is_empty() && constant_time_eq(self.0.as_bytes(), presented.as_bytes())
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Constant-time equality of two byte strings (the length is not hidden, the content is).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_value() {
        assert_eq!(format!("{:?}", Secret::new("hunter2")), "Secret(***)");
    }

    #[test]
    fn empty_secret_matches_nothing() {
        assert!(!Secret::new("").matches(""));
        assert!(Secret::new("abc").matches("abc"));
        assert!(!Secret::new("abc").matches("abd"));
        assert!(!Secret::new("abc").matches("abcd"));
    }
}
