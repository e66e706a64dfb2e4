//! Reading attribute values as numbers and dates, and annual dates (a birthday today), as conditions
//! compare them. A value that does not read as asked matches no condition on it.

use chrono::{DateTime, Datelike, NaiveDate, Utc};

/// An attribute value as a number: a decimal like `3`, `-1.5` or `2e3`, with surrounding spaces.
pub(super) fn number(value: &str) -> Option<f64> {
    value.trim().parse::<f64>().ok().filter(|n| n.is_finite())
}

/// An attribute value (or a condition's `date`) as an instant: RFC 3339 (`2026-01-31T09:30:00Z`,
/// `2026-01-31T10:30:00+01:00`) or a calendar date (`2026-01-31`, taken as its start in UTC).
pub(super) fn instant(value: &str) -> Option<DateTime<Utc>> {
    let value = value.trim();
    if let Ok(instant) = DateTime::parse_from_rfc3339(value) {
        return Some(instant.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(value, "%Y-%m-%d")
        .ok()
        .and_then(|date| date.and_hms_opt(0, 0, 0))
        .map(|midnight| midnight.and_utc())
}

/// An attribute value as a day of the year (month, day): a date (`1990-02-28`), an RFC 3339 instant
/// (its date as written), or a date without a year (`--02-28` as ISO 8601 writes it, or `02-28`).
pub(super) fn annual(value: &str) -> Option<(u32, u32)> {
    let value = value.trim();
    let date = DateTime::parse_from_rfc3339(value)
        .map(|instant| instant.date_naive())
        .or_else(|_| NaiveDate::parse_from_str(value, "%Y-%m-%d"))
        .ok();
    if let Some(date) = date {
        return Some((date.month(), date.day()));
    }
    let month_day = value.strip_prefix("--").unwrap_or(value);
    // Checked against a leap year, so 29 February is a valid day of the year.
    let date = NaiveDate::parse_from_str(&format!("2000-{month_day}"), "%Y-%m-%d").ok()?;
    Some((date.month(), date.day()))
}

/// Whether `today` is the anniversary of (month, day): 29 February falls on 28 February in years
/// without one.
pub(super) fn is_anniversary((month, day): (u32, u32), today: NaiveDate) -> bool {
    let leap = NaiveDate::from_ymd_opt(today.year(), 2, 29).is_some();
    let (month, day) = if (month, day) == (2, 29) && !leap {
        (2, 28)
    } else {
        (month, day)
    };
    (today.month(), today.day()) == (month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn numbers_read_decimals_and_nothing_else() {
        assert_eq!(number(" 3 "), Some(3.0));
        assert_eq!(number("-1.5"), Some(-1.5));
        assert_eq!(number("2e3"), Some(2000.0));
        assert_eq!(number("three"), None);
        assert_eq!(number(""), None);
        assert_eq!(number("NaN"), None);
        assert_eq!(number("inf"), None);
    }

    #[test]
    fn instants_read_rfc_3339_and_calendar_dates() {
        let expected: DateTime<Utc> = "2026-01-31T09:30:00Z".parse().unwrap();
        assert_eq!(instant("2026-01-31T10:30:00+01:00"), Some(expected));
        assert_eq!(
            instant("2026-01-31"),
            Some("2026-01-31T00:00:00Z".parse().unwrap())
        );
        assert_eq!(instant("31.01.2026"), None);
        assert_eq!(instant("2026-02-30"), None);
        assert_eq!(instant("soon"), None);
    }

    #[test]
    fn annual_dates_read_with_or_without_a_year() {
        assert_eq!(annual("1990-02-28"), Some((2, 28)));
        assert_eq!(annual("--02-29"), Some((2, 29)));
        assert_eq!(annual("12-24"), Some((12, 24)));
        assert_eq!(annual("1990-12-24T23:30:00-05:00"), Some((12, 24)));
        assert_eq!(annual("02-30"), None);
        assert_eq!(annual("birthday"), None);
    }

    #[test]
    fn the_29th_of_february_falls_on_the_28th_in_other_years() {
        assert!(is_anniversary((2, 29), date("2027-02-28")));
        assert!(!is_anniversary((2, 29), date("2027-03-01")));
        assert!(is_anniversary((2, 29), date("2028-02-29")));
        assert!(!is_anniversary((2, 29), date("2028-02-28")));
        assert!(is_anniversary((2, 28), date("2028-02-28")));
        assert!(is_anniversary((12, 24), date("2026-12-24")));
        assert!(!is_anniversary((12, 24), date("2026-12-25")));
    }
}
