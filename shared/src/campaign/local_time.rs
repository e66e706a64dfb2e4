//! Wall-clock times in a zone: resolving one to an instant across daylight-saving changes, and the
//! range of instants at which a local time happens somewhere on Earth.

use chrono::{DateTime, Duration, LocalResult, NaiveDateTime, Offset, TimeZone as _, Utc};
use chrono_tz::Tz;

/// The furthest ahead of UTC any zone is (Kiribati's Line Islands, UTC+14): a local time happens there first.
pub const EARLIEST_ZONE_OFFSET: Duration = Duration::hours(14);
/// The furthest behind UTC any zone is (Baker Island, UTC−12): a local time happens there last.
pub const LATEST_ZONE_OFFSET: Duration = Duration::hours(12);

/// The instant the wall-clock time `local` shows in `zone`.
///
/// When clocks go back the local time happens twice: the first is taken (a message is not held an
/// extra hour). When clocks jump forward over it (02:30 on a spring-forward night) it is read with the
/// offset in force before the jump, as RFC 5545 does: 02:30 becomes 03:30 of the new time, the
/// instant that is as long after 02:00 as 02:30 would have been.
pub fn resolve_local(local: NaiveDateTime, zone: Tz) -> DateTime<Utc> {
    match zone.from_local_datetime(&local) {
        LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => t.with_timezone(&Utc),
        LocalResult::None => {
            // A day earlier no zone has yet made the change that skips `local`.
            let before = zone
                .offset_from_utc_datetime(&(local - Duration::days(1)))
                .fix()
                .local_minus_utc();
            Utc.from_utc_datetime(&(local - Duration::seconds(i64::from(before))))
        }
    }
}

/// Whether `local` does not exist in `zone` (clocks skip it for daylight saving).
pub fn is_skipped(local: NaiveDateTime, zone: Tz) -> bool {
    matches!(zone.from_local_datetime(&local), LocalResult::None)
}

/// The first instant at which `local` is the wall-clock time somewhere (UTC+14).
pub fn first_zone_reaches(local: NaiveDateTime) -> DateTime<Utc> {
    Utc.from_utc_datetime(&(local - EARLIEST_ZONE_OFFSET))
}

/// The last instant at which `local` is the wall-clock time somewhere (UTC−12).
pub fn last_zone_reaches(local: NaiveDateTime) -> DateTime<Utc> {
    Utc.from_utc_datetime(&(local + LATEST_ZONE_OFFSET))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M").unwrap()
    }

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn ten_o_clock_is_a_different_instant_in_each_zone() {
        let ten = local("2026-12-08T10:00");
        assert_eq!(
            resolve_local(ten, Tz::Asia__Tokyo),
            utc("2026-12-08T01:00:00Z")
        );
        assert_eq!(
            resolve_local(ten, Tz::Europe__Berlin),
            utc("2026-12-08T09:00:00Z")
        );
        assert_eq!(
            resolve_local(ten, Tz::America__New_York),
            utc("2026-12-08T15:00:00Z")
        );
        assert_eq!(first_zone_reaches(ten), utc("2026-12-07T20:00:00Z"));
        assert_eq!(last_zone_reaches(ten), utc("2026-12-08T22:00:00Z"));
        assert_eq!(
            resolve_local(ten, Tz::Pacific__Kiritimati),
            first_zone_reaches(ten)
        );
        assert_eq!(
            resolve_local(ten, Tz::Etc__GMTPlus12),
            last_zone_reaches(ten)
        );
    }

    #[test]
    fn ten_o_clock_on_the_days_clocks_change_keeps_its_local_meaning() {
        // Berlin springs forward on 2027-03-28 (UTC+1 → UTC+2) and falls back on 2026-10-25.
        assert_eq!(
            resolve_local(local("2027-03-28T10:00"), Tz::Europe__Berlin),
            utc("2027-03-28T08:00:00Z")
        );
        assert_eq!(
            resolve_local(local("2026-10-25T10:00"), Tz::Europe__Berlin),
            utc("2026-10-25T09:00:00Z")
        );
        // New York changes on other days (2027-03-14 forward).
        assert_eq!(
            resolve_local(local("2027-03-14T10:00"), Tz::America__New_York),
            utc("2027-03-14T14:00:00Z")
        );
    }

    #[test]
    fn a_skipped_local_time_moves_on_by_the_gap_and_a_repeated_one_takes_the_first() {
        let skipped = local("2027-03-28T02:30");
        assert!(is_skipped(skipped, Tz::Europe__Berlin));
        // Read with the winter offset (UTC+1): 01:30 UTC, which Berlin shows as 03:30.
        assert_eq!(
            resolve_local(skipped, Tz::Europe__Berlin),
            utc("2027-03-28T01:30:00Z")
        );
        let repeated = local("2026-10-25T02:30");
        assert!(!is_skipped(repeated, Tz::Europe__Berlin));
        // The first 02:30 is still summer time (UTC+2).
        assert_eq!(
            resolve_local(repeated, Tz::Europe__Berlin),
            utc("2026-10-25T00:30:00Z")
        );
    }
}
