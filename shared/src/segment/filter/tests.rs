//! Each condition on records around its boundary, validation, and annual dates in time zones.

use chrono::{DateTime, Duration, Utc};

use super::*;
use crate::subscriber::{
    Address, Channel, ConsentAction, ConsentEvent, Platform, Subscriber, TimeZone,
};

fn now() -> DateTime<Utc> {
    "2026-11-01T10:00:00Z".parse().unwrap()
}

fn segment(json: &str) -> Segment {
    let segment: Segment = serde_json::from_str(json).unwrap();
    segment.validate("audience").unwrap();
    segment
}

fn person(attributes: &[(&str, &str)]) -> Subscriber {
    let mut s = Subscriber::new(
        Channel::parse("telegram:shop").unwrap(),
        Address::parse(Platform::Telegram, "1").unwrap(),
        now() - Duration::days(100),
    );
    for (name, value) in attributes {
        s.set_attribute(AttributeName::parse(name).unwrap(), (*value).into())
            .unwrap();
    }
    s
}

fn selects(json: &str, subscriber: &Subscriber) -> bool {
    segment(json).at(now(), None).matches(subscriber)
}

#[test]
fn numbers_compare_as_numbers_and_other_values_never_match() {
    let orders = |n: &str| person(&[("orders", n)]);
    let gte3 = r#"{"conditions": [{"attribute": "orders", "op": "gte", "number": 3}]}"#;
    assert!(selects(gte3, &orders("3")));
    assert!(
        selects(gte3, &orders("12")),
        "12 > 3 as numbers, not as text"
    );
    assert!(!selects(gte3, &orders("2.5")));
    assert!(!selects(gte3, &orders("many")));
    assert!(!selects(gte3, &person(&[])), "absent attribute");
    let cases = [
        ("eq", "3", true),
        ("eq", "3.0", true),
        ("ne", "3", false),
        ("ne", "4", true),
        ("gt", "3", false),
        ("gt", "3.5", true),
        ("lt", "3", false),
        ("lt", "-1", true),
        ("lte", "3", true),
        ("lte", "3.01", false),
    ];
    for (op, value, expected) in cases {
        let json =
            format!(r#"{{"conditions": [{{"attribute": "orders", "op": "{op}", "number": 3}}]}}"#);
        assert_eq!(selects(&json, &orders(value)), expected, "{op} {value}");
    }
    let ne = r#"{"conditions": [{"attribute": "orders", "op": "ne", "number": 3}]}"#;
    assert!(
        !selects(ne, &orders("n/a")),
        "a non-number is not unequal either"
    );
}

#[test]
fn older_than_and_within_count_days_back_from_the_instant() {
    let older =
        r#"{"conditions": [{"attribute": "last_order_at", "op": "older_than", "days": 60}]}"#;
    let within = r#"{"conditions": [{"attribute": "last_order_at", "op": "within", "days": 60}]}"#;
    let ordered = |at: DateTime<Utc>| person(&[("last_order_at", &at.to_rfc3339())]);
    let boundary = now() - Duration::days(60);
    assert!(selects(older, &ordered(boundary - Duration::seconds(1))));
    assert!(!selects(older, &ordered(boundary)));
    assert!(selects(within, &ordered(boundary)));
    assert!(selects(within, &ordered(now())));
    assert!(
        !selects(within, &ordered(now() + Duration::seconds(1))),
        "the future is not within the last days"
    );
    assert!(
        selects(older, &person(&[("last_order_at", "2026-01-15")])),
        "a calendar date"
    );
    assert!(!selects(
        older,
        &person(&[("last_order_at", "last winter")])
    ));
    assert!(
        !selects(older, &person(&[])),
        "never ordered: no date to compare"
    );
}

#[test]
fn before_and_after_compare_with_a_fixed_date() {
    let before =
        r#"{"conditions": [{"attribute": "joined", "op": "before", "date": "2026-06-01"}]}"#;
    let after = r#"{"conditions": [{"attribute": "joined", "op": "after", "date": "2026-06-01T00:00:00Z"}]}"#;
    assert!(selects(
        before,
        &person(&[("joined", "2026-05-31T23:59:59Z")])
    ));
    assert!(!selects(before, &person(&[("joined", "2026-06-01")])));
    assert!(selects(
        after,
        &person(&[("joined", "2026-06-01T02:00:00+01:00")])
    ));
    assert!(!selects(
        after,
        &person(&[("joined", "2026-06-01T01:00:00+01:00")])
    ));
}

fn subscribed_at(at: DateTime<Utc>) -> Subscriber {
    let mut s = person(&[]);
    for (action, at) in [
        (ConsentAction::Subscribed, now() - Duration::days(90)),
        (ConsentAction::Unsubscribed, now() - Duration::days(80)),
        (ConsentAction::Subscribed, at),
    ] {
        s.record_consent(ConsentEvent {
            action,
            at,
            source: "api".into(),
            evidence: "e".into(),
        });
    }
    s
}

#[test]
fn record_dates_come_from_the_consent_history_the_record_and_the_last_message() {
    let within30 = r#"{"conditions": [{"field": "subscribed_at", "op": "within", "days": 30}]}"#;
    assert!(
        selects(within30, &subscribed_at(now() - Duration::days(29))),
        "the latest opt-in counts"
    );
    assert!(!selects(
        within30,
        &subscribed_at(now() - Duration::days(31))
    ));
    assert!(!selects(within30, &person(&[])), "never subscribed");
    let before =
        r#"{"conditions": [{"field": "subscribed_at", "op": "before", "date": "2026-10-01"}]}"#;
    assert!(selects(
        before,
        &subscribed_at("2026-09-30T00:00:00Z".parse().unwrap())
    ));
    let created = r#"{"conditions": [{"field": "created_at", "op": "older_than", "days": 99}]}"#;
    assert!(selects(created, &person(&[])));
    let replied = r#"{"conditions": [{"field": "last_inbound_at", "op": "within", "days": 7}]}"#;
    let mut wrote = person(&[]);
    assert!(!selects(replied, &wrote), "never wrote");
    wrote.last_inbound_at = Some(now() - Duration::days(6));
    assert!(selects(replied, &wrote));
    wrote.last_inbound_at = Some(now() - Duration::days(8));
    assert!(!selects(replied, &wrote));
    let read = r#"{"conditions": [{"field": "last_read_at", "op": "within", "days": 30}]}"#;
    let mut reader = person(&[]);
    assert!(!selects(read, &reader), "never read");
    reader.last_read_at = Some(now() - Duration::days(29));
    assert!(selects(read, &reader));
    reader.last_read_at = Some(now() - Duration::days(31));
    assert!(!selects(read, &reader));
}

#[test]
fn a_birthday_is_today_in_the_persons_time_zone() {
    let birthday = r#"{"conditions": [{"attribute": "birthday", "op": "anniversary_today"}]}"#;
    let born = |date: &str, zone: Option<&str>| {
        let mut s = person(&[("birthday", date)]);
        s.timezone = zone.map(|z| TimeZone::parse(z).unwrap());
        s
    };
    let segment = segment(birthday);
    // 23:30 UTC on 31 October is already 1 November in Tokyo, still 31 October in New York.
    let late = "2026-10-31T23:30:00Z".parse().unwrap();
    let at_late = segment.at(late, None);
    assert!(at_late.matches(&born("1990-11-01", Some("Asia/Tokyo"))));
    assert!(!at_late.matches(&born("1990-11-01", Some("America/New_York"))));
    assert!(at_late.matches(&born("1990-10-31", Some("America/New_York"))));
    assert!(
        !at_late.matches(&born("1990-11-01", None)),
        "UTC without a zone"
    );
    let berlin: Tz = "Europe/Berlin".parse().unwrap();
    assert!(
        segment
            .at(late, Some(berlin))
            .matches(&born("--11-01", None)),
        "the fallback zone for a record without one"
    );
    // 29 February is celebrated on 28 February in 2027.
    let feb28 = "2027-02-28T12:00:00Z".parse().unwrap();
    assert!(segment.at(feb28, None).matches(&born("2000-02-29", None)));
    assert!(!segment.at(feb28, None).matches(&born("2000-03-01", None)));
    assert!(!segment.at(now(), None).matches(&born("not a date", None)));
}

#[test]
fn tags_attributes_and_conditions_must_all_hold() {
    let json = r#"{"all_tags": ["vip"], "attributes": {"city": "Berlin"},
                   "conditions": [{"attribute": "orders", "op": "gte", "number": 3}]}"#;
    let mut s = person(&[("city", "Berlin"), ("orders", "5")]);
    assert!(!selects(json, &s), "missing the tag");
    s.add_tag(Tag::parse("vip").unwrap()).unwrap();
    assert!(selects(json, &s));
    s.set_attribute(AttributeName::parse("orders").unwrap(), "2".into())
        .unwrap();
    assert!(!selects(json, &s));
}

#[test]
fn conditions_are_validated_with_a_code_and_a_path() {
    let refused = |json: &str| {
        let segment: Segment = serde_json::from_str(json).unwrap();
        let err = segment.validate("audience").unwrap_err();
        (
            err.status(),
            err.code().to_owned(),
            err.message().to_owned(),
        )
    };
    let cases = [
        (
            r#"{"conditions": [{"op": "gte", "number": 3}]}"#,
            "either an \"attribute\" or a \"field\"",
        ),
        (
            r#"{"conditions": [{"attribute": "a", "field": "created_at", "op": "within", "days": 1}]}"#,
            "not both",
        ),
        (
            r#"{"conditions": [{"attribute": "a", "op": "gte"}]}"#,
            "compares with \"number\" only (given: nothing)",
        ),
        (
            r#"{"conditions": [{"attribute": "a", "op": "gte", "days": 3}]}"#,
            "compares with \"number\" only (given: days)",
        ),
        (
            r#"{"conditions": [{"attribute": "a", "op": "within", "days": 3, "number": 1}]}"#,
            "(given: number, days)",
        ),
        (
            r#"{"conditions": [{"attribute": "a", "op": "anniversary_today", "date": "2026-01-01"}]}"#,
            "takes no value",
        ),
        (
            r#"{"conditions": [{"attribute": "a", "op": "before", "date": "yesterday"}]}"#,
            "must be an RFC 3339 instant",
        ),
        (
            r#"{"conditions": [{"attribute": "a", "op": "within", "days": 0}]}"#,
            "days must be from 1 to 36500",
        ),
        (
            r#"{"conditions": [{"field": "created_at", "op": "gte", "number": 1}]}"#,
            "field 'created_at' is a date",
        ),
        (
            r#"{"conditions": [{"field": "subscribed_at", "op": "anniversary_today"}]}"#,
            "is a date",
        ),
    ];
    for (json, says) in cases {
        let (status, code, message) = refused(json);
        assert_eq!(
            (status, code.as_str()),
            (400, "invalid_condition"),
            "{json}"
        );
        assert!(message.starts_with("audience.conditions[0]: "), "{message}");
        assert!(message.contains(says), "{json}: {message}");
    }
    let many = format!(
        r#"{{"conditions": [{}]}}"#,
        vec![r#"{"attribute": "a", "op": "eq", "number": 1}"#; MAX_CONDITIONS + 1].join(",")
    );
    let (status, code, _) = refused(&many);
    assert_eq!((status, code.as_str()), (400, "invalid_audience"));
    for unknown in [
        r#"{"conditions": [{"attribute": "a", "op": "between", "number": 1}]}"#,
        r#"{"conditions": [{"field": "birthday", "op": "within", "days": 1}]}"#,
        r#"{"conditions": [{"attribute": "a", "op": "eq", "number": "3"}]}"#,
        r#"{"conditions": [{"attribute": "a", "op": "eq", "number": 3, "unit": "kg"}]}"#,
    ] {
        assert!(
            serde_json::from_str::<Segment>(unknown).is_err(),
            "{unknown}"
        );
    }
}

#[test]
fn segments_without_conditions_keep_their_stored_shape() {
    let stored = r#"{"all_tags":["vip"],"attributes":{"city":"Berlin"}}"#;
    let segment: Segment = serde_json::from_str(stored).unwrap();
    assert_eq!(serde_json::to_string(&segment).unwrap(), stored);
    let with: Segment = serde_json::from_str(
        r#"{"conditions": [{"attribute": "orders", "op": "gte", "number": 3}]}"#,
    )
    .unwrap();
    assert_eq!(
        serde_json::to_string(&with).unwrap(),
        r#"{"conditions":[{"attribute":"orders","op":"gte","number":3}]}"#
    );
}
