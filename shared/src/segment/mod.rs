//! Segments: the filter language that subscriber searches and campaign audiences share.
//!
//! A [`Segment`] holds tags (`all_tags`, `any_tags`), exact attribute values (`attributes`) and
//! [`Condition`]s: comparisons of attributes as numbers or dates, dates of the record (subscribed,
//! created, last reply), and annual dates (a birthday today in the person's time zone). A segment is
//! validated once ([`Segment::validate`]) and compiled for one instant ([`Segment::at`]): relative
//! conditions ("older than 60 days", "today") are judged against that instant for every subscriber.
//!
//! **Nothing is indexed**: every filter is evaluated on each subscriber record while the subscriber
//! index is walked in order, so a search or an audience costs one scan of the index (a read of each
//! record, 200 per store round trip), whatever it filters on. Answers that scan say how many records
//! they examined (`scanned`).

mod condition;
mod dates;
mod filter;

pub use condition::{Condition, Op, RecordField, MAX_DAYS};
pub use filter::{Segment, Selector, MAX_CONDITIONS, MAX_SEGMENT_ATTRIBUTES, MAX_SEGMENT_TAGS};
