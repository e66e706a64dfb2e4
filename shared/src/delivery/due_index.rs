//! The time-bucketed index of scheduled messages: one set of ids per minute of due time, and a cursor at
//! the first minute that may still hold unfinished ones. A tick reads the buckets from the cursor to
//! now, so it finds due messages without reading any that are not due.
//!
//! A message is put in the bucket of its due time, or of the minute it is queued in when that is later.
//! The cursor passes a bucket only once every message in it is finished and its minute lies
//! [`SETTLE_MINUTES`] in the past, so a queue request still writing to that bucket (it read the clock
//! before the tick did) is never passed over: no request lives that long.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};

use crate::error::Result;
use crate::keys;
use crate::kv::{self, KvStore};

use super::scheduled::add_to_set;

/// How many minutes a bucket stays open after its minute has passed.
pub const SETTLE_MINUTES: i64 = 2;
/// The most buckets one tick reads (a scheduler that was down for hours catches up over a few ticks).
pub const MAX_BUCKETS_PER_TICK: i64 = 240;

/// The minute `at` falls in, counted from the Unix epoch.
pub fn minute_of(at: DateTime<Utc>) -> i64 {
    at.timestamp().div_euclid(60)
}

/// Put message `id`, due at `due_at` and queued at `now`, in its bucket, and bring the cursor back to
/// that bucket if it had passed it.
///
/// # Errors
/// Store failures.
pub fn add<S: KvStore + ?Sized>(
    store: &S,
    id: &str,
    due_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<()> {
    let bucket = minute_of(due_at).max(minute_of(now));
    add_to_set(store, &keys::due_bucket(bucket), id)?;
    kv::update_json(
        store,
        &keys::due_cursor(),
        |current: Option<i64>| match current {
            Some(cursor) if cursor <= bucket => Ok((None, ())),
            _ => Ok((Some(bucket), ())),
        },
    )
}

/// The buckets a tick at `now` reads: from the cursor to now's minute, each with its ids. Empty when
/// nothing was ever scheduled.
///
/// # Errors
/// Store failures.
pub fn due_buckets<S: KvStore + ?Sized>(
    store: &S,
    now: DateTime<Utc>,
) -> Result<Vec<(i64, BTreeSet<String>)>> {
    let Some(cursor) = kv::get_json::<_, i64>(store, &keys::due_cursor())? else {
        return Ok(Vec::new());
    };
    let last = minute_of(now).min(cursor + MAX_BUCKETS_PER_TICK - 1);
    let minutes: Vec<i64> = (cursor..=last).collect();
    let bucket_keys: Vec<String> = minutes.iter().map(|m| keys::due_bucket(*m)).collect();
    let buckets: Vec<Option<BTreeSet<String>>> = kv::get_many_json(store, &bucket_keys)?;
    Ok(minutes
        .into_iter()
        .zip(buckets)
        .map(|(minute, ids)| (minute, ids.unwrap_or_default()))
        .collect())
}

/// Move the cursor from `bucket` to the next minute, if it is still there and `bucket` has settled at
/// `now`. Returns whether it moved.
///
/// # Errors
/// Store failures.
pub fn pass<S: KvStore + ?Sized>(store: &S, bucket: i64, now: DateTime<Utc>) -> Result<bool> {
    if bucket > minute_of(now) - SETTLE_MINUTES {
        return Ok(false);
    }
    kv::update_json(
        store,
        &keys::due_cursor(),
        |current: Option<i64>| match current {
            Some(cursor) if cursor == bucket => Ok((Some(bucket + 1), true)),
            _ => Ok((None, false)),
        },
    )
}
