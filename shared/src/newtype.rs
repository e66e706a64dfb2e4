//! One way to declare a validated string newtype. Each type writes its own `parse` (its rule and its
//! error code); [`validated_string!`] gives it the same derives, serde form, `as_str`, `Display` and
//! conversions as every other, so none repeats that boilerplate.

/// Declare `struct $name(String)` whose way in is `$name::parse(&str) -> Result<$name>`, which the
/// type's own `impl` block provides. The macro adds `as_str`, `Display`, `TryFrom<String>` (through
/// `parse`) and `From<$name> for String`.
///
/// Serde reads the value through `parse`, so stored and received text is validated alike. Writing
/// `#[serde(transparent)]` after the doc comment instead reads the text as stored: for ids the code
/// derives itself, whose stored form must be kept as it was written.
use crate::error::{Error, Result};
use crate::subscriber::is_slug;

macro_rules! validated_string {
    (@conversions $name:ident) => {
        impl $name {
            /// The text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        $crate::newtype::try_from_string_by_parse!($name);

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }
    };
    ($(#[doc = $doc:expr])* #[serde(transparent)] $vis:vis struct $name:ident;) => {
        $(#[doc = $doc])*
        #[derive(
            Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, ::serde::Serialize, ::serde::Deserialize,
        )]
        #[serde(transparent)]
        $vis struct $name(String);

        $crate::newtype::validated_string!(@conversions $name);
    };
    ($(#[doc = $doc:expr])* $vis:vis struct $name:ident;) => {
        $(#[doc = $doc])*
        #[derive(
            Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, ::serde::Serialize, ::serde::Deserialize,
        )]
        #[serde(try_from = "String", into = "String")]
        $vis struct $name(String);

        $crate::newtype::validated_string!(@conversions $name);
    };
}

pub(crate) use validated_string;

/// `TryFrom<String>` through the type's own `parse(&str) -> Result<Self>`: what
/// `#[serde(try_from = "String")]` reads with. [`validated_string!`] types get it; a parsed type that
/// holds something other than its text (a time zone) asks for it alone.
macro_rules! try_from_string_by_parse {
    ($name:ident) => {
        impl ::std::convert::TryFrom<String> for $name {
            type Error = $crate::error::Error;
            fn try_from(s: String) -> $crate::error::Result<Self> {
                $name::parse(&s)
            }
        }
    };
}

pub(crate) use try_from_string_by_parse;

/// Check an id that goes into store keys: 1 to `max` characters of a-z, 0-9, '_' or '-'.
///
/// # Errors
/// 400 `code`, saying "`<what> '<s>'` must be 1-`max` characters of a-z, 0-9, '_' or '-'".
pub(crate) fn check_slug_id(s: &str, max: usize, code: &'static str, what: &str) -> Result<()> {
    if !is_slug(s, max) {
        return Err(Error::invalid(
            code,
            format!("{what} '{s}' must be 1-{max} characters of a-z, 0-9, '_' or '-'"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::error::{Error, Result};

    validated_string! {
        /// A word of lower-case letters, for testing the macro alone.
        struct Word;
    }

    impl Word {
        fn parse(s: &str) -> Result<Self> {
            if s.is_empty() || !s.bytes().all(|b| b.is_ascii_lowercase()) {
                return Err(Error::invalid(
                    "invalid_word",
                    format!("'{s}' is not a word"),
                ));
            }
            Ok(Word(s.to_owned()))
        }
    }

    validated_string! {
        /// The same rule, read as stored.
        #[serde(transparent)]
        struct StoredWord;
    }

    impl StoredWord {
        fn parse(s: &str) -> Result<Self> {
            Word::parse(s).map(|w| StoredWord(w.into()))
        }
    }

    #[test]
    fn values_read_through_parse_and_write_as_their_text() {
        let word: Word = serde_json::from_str(r#""spin""#).unwrap();
        assert_eq!(word.as_str(), "spin");
        assert_eq!(word.to_string(), "spin");
        assert_eq!(serde_json::to_string(&word).unwrap(), r#""spin""#);
        assert_eq!(String::from(word), "spin");
        assert!(serde_json::from_str::<Word>(r#""Spin""#).is_err());
        assert_eq!(
            Word::try_from("x y".to_owned()).unwrap_err().code(),
            "invalid_word"
        );
    }

    #[test]
    fn transparent_values_are_read_as_stored() {
        let stored: StoredWord = serde_json::from_str(r#""Spin""#).unwrap();
        assert_eq!(stored.as_str(), "Spin");
        assert!(StoredWord::try_from("Spin".to_owned()).is_err());
    }
}
