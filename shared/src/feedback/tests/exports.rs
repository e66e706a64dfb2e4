//! The feedback export: CSV that spreadsheets cannot turn into formulas, in pages that concatenate.

use super::world::{press, reply, t0, telegram_user, World};
use crate::feedback::{
    export_feedback, ExportFormat, CSV_HEADER, MAX_EVENTS_PER_BATCH, MAX_EXPORT_ROWS,
};

#[test]
fn csv_export_quotes_text_and_neutralises_formulas() {
    let world = World::new();
    world.record_send("spring", &telegram_user(), "100", t0());
    world.apply(&[
        reply(&telegram_user(), "101", "=cmd|' /C calc'!A0", t0()),
        reply(&telegram_user(), "102", "Hi, \"team\"\nbye", t0()),
    ]);
    let page = export_feedback(world.store(), Some("spring"), ExportFormat::Csv, 0).unwrap();
    let csv = String::from_utf8(page.body).unwrap();
    let expected = format!(
        "{CSV_HEADER}\r\nreply,spring,telegram:shop:42,2026-03-01T10:00:00Z,101,'=cmd|' /C calc'!A0,,\r\nreply,spring,telegram:shop:42,2026-03-01T10:00:00Z,102,\"Hi, \"\"team\"\"\nbye\",,\r\n"
    );
    assert_eq!(csv, expected);
    assert_eq!(page.rows, 2);
    assert_eq!(page.next_from, None);
}

#[test]
fn export_pages_through_a_long_log() {
    let world = World::new();
    let events: Vec<_> = (0..(MAX_EXPORT_ROWS + 10))
        .map(|i| press(&telegram_user(), &format!("p{i}"), "x"))
        .collect();
    for chunk in events.chunks(MAX_EVENTS_PER_BATCH) {
        world.apply(chunk);
    }
    let first = export_feedback(world.store(), None, ExportFormat::JsonLines, 0).unwrap();
    assert_eq!(first.rows, MAX_EXPORT_ROWS);
    let next = first.next_from.unwrap();
    let second = export_feedback(world.store(), None, ExportFormat::Csv, next).unwrap();
    assert_eq!(second.rows, 10);
    assert_eq!(second.next_from, None);
    // Later pages carry no header, so pages concatenate into one file.
    assert!(!String::from_utf8(second.body).unwrap().starts_with("type,"));
}
