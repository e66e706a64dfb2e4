//! Locales: which language variant of a template a subscriber gets.

use crate::error::{Error, Result};
use crate::newtype::validated_string;

validated_string! {
    /// A locale as a BCP 47 language tag, normalised: `en`, `pt-BR`, `zh-Hant`.
    pub struct Locale;
}

impl Locale {
    /// Parse and normalise a locale (`pt_br` and `PT-br` become `pt-BR`).
    ///
    /// # Errors
    /// `invalid_locale`.
    pub fn parse(s: &str) -> Result<Self> {
        let invalid = || {
            Error::invalid(
                "invalid_locale",
                format!("locale '{s}' is not a language tag like 'en' or 'pt-BR'"),
            )
        };
        let mut parts = s.trim().split(['-', '_']);
        let language = parts
            .next()
            .filter(|l| (2..=3).contains(&l.len()) && l.bytes().all(|b| b.is_ascii_alphabetic()))
            .ok_or_else(invalid)?;
        let mut normalised = language.to_ascii_lowercase();
        for part in parts {
            if part.is_empty() || part.len() > 8 || !part.bytes().all(|b| b.is_ascii_alphanumeric())
            {
                return Err(invalid());
            }
            normalised.push('-');
            match part.len() {
                2 => normalised.push_str(&part.to_ascii_uppercase()),
                4 => {
                    let mut chars = part.chars();
                    if let Some(first) = chars.next() {
                        normalised.push(first.to_ascii_uppercase());
                    }
                    normalised.push_str(&chars.as_str().to_ascii_lowercase());
                }
                _ => normalised.push_str(&part.to_ascii_lowercase()),
            }
        }
        Ok(Locale(normalised))
    }

    /// The primary language (`pt` for `pt-BR`), for fallback.
    pub fn language(&self) -> &str {
        self.0.split('-').next().unwrap_or(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locales_are_normalised() {
        for (given, normalised) in [
            ("pt_br", "pt-BR"),
            ("PT-br", "pt-BR"),
            ("zh-hant", "zh-Hant"),
        ] {
            assert_eq!(
                Locale::parse(given).unwrap().as_str(),
                normalised,
                "{given}"
            );
        }
        assert_eq!(Locale::parse("EN").unwrap().language(), "en");
        assert_eq!(Locale::parse("e").unwrap_err().code(), "invalid_locale");
        assert!(Locale::parse("en-").is_err());
    }
}
