//! Time zones for local-time schedules.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::newtype::try_from_string_by_parse;

/// An IANA time zone, e.g. `Europe/Berlin`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TimeZone(chrono_tz::Tz);

impl TimeZone {
    /// Parse an IANA zone name.
    ///
    /// # Errors
    /// `invalid_timezone`.
    pub fn parse(s: &str) -> Result<Self> {
        s.parse::<chrono_tz::Tz>().map(TimeZone).map_err(|_| {
            Error::invalid(
                "invalid_timezone",
                format!("'{s}' is not an IANA time zone like 'Europe/Berlin'"),
            )
        })
    }

    /// The zone.
    pub fn tz(self) -> chrono_tz::Tz {
        self.0
    }
}

try_from_string_by_parse!(TimeZone);

impl From<TimeZone> for String {
    fn from(t: TimeZone) -> String {
        t.0.name().to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timezones_are_iana_names() {
        assert_eq!(
            String::from(TimeZone::parse("Europe/Berlin").unwrap()),
            "Europe/Berlin"
        );
        assert_eq!(
            TimeZone::parse("Mars/Olympus").unwrap_err().code(),
            "invalid_timezone"
        );
    }
}
