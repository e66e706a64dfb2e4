//! The time-bucketed index of scheduled messages: an append-only index (see [`crate::index`]) of ids per
//! minute of due time, and a cursor at the first minute (and position in it) that may still hold
//! unfinished messages. A tick reads the minutes from the cursor to now, so it finds due messages
//! without reading any that are not due; appending costs one increment and one page write, whatever
//! the minute holds.
//!
//! A message is put in the minute of its due time, or of the minute it is queued in when that is
//! later. The cursor moves past a position or a minute only once that minute lies [`SETTLE_MINUTES`] in
//! the past: a queue request that took its position before the tick looked but wrote it after (it read
//! the clock earlier) is then long finished, since no request lives that long.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::index::Index;
use crate::keys;
use crate::kv::{self, KvStore};

/// How many minutes a minute's index stays open after that minute has passed.
pub const SETTLE_MINUTES: i64 = 2;
/// The most minutes one tick reads: while ticks run, the cursor keeps up with the clock; after the
/// scheduler was stopped, it catches up this many minutes a tick (one length read each).
pub const MAX_MINUTES_PER_TICK: i64 = 240;

/// Where the unfinished scheduled messages start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct DueCursor {
    /// The first minute that may hold unfinished messages.
    minute: i64,
    /// The first position in that minute's index that may be unfinished.
    position: u64,
}

/// The minute `at` falls in, counted from the Unix epoch.
pub fn minute_of(at: DateTime<Utc>) -> i64 {
    at.timestamp().div_euclid(60)
}

/// The scheduled messages of one minute from a position on, as `(position, id)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueMinute {
    /// The minute.
    pub minute: i64,
    /// Its entries from the cursor's position on, in position order.
    pub entries: Vec<(u64, String)>,
}

/// Put message `id`, due at `due_at` and queued at `now`, in its minute's index, and bring the cursor
/// back to that minute if it had passed it.
///
/// # Errors
/// Store failures.
pub fn add<S: KvStore + ?Sized>(
    store: &S,
    id: &str,
    due_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<()> {
    let minute = minute_of(due_at).max(minute_of(now));
    Index::named(&keys::due_index(minute)).append(store, id)?;
    kv::update_json(
        store,
        &keys::due_cursor(),
        |current: Option<DueCursor>| match current {
            Some(cursor) if cursor.minute <= minute => Ok((None, ())),
            _ => Ok((
                Some(DueCursor {
                    minute,
                    position: 0,
                }),
                (),
            )),
        },
    )
}

/// The minutes a tick at `now` reads: from the cursor to now's minute, each with its entries. Empty
/// when nothing was ever scheduled.
///
/// # Errors
/// Store failures.
pub fn due_minutes<S: KvStore + ?Sized>(store: &S, now: DateTime<Utc>) -> Result<Vec<DueMinute>> {
    let Some(cursor) = kv::get_json::<_, DueCursor>(store, &keys::due_cursor())? else {
        return Ok(Vec::new());
    };
    let last = minute_of(now).min(cursor.minute + MAX_MINUTES_PER_TICK - 1);
    let mut minutes = Vec::new();
    for minute in cursor.minute..=last {
        let index_name = keys::due_index(minute);
        let index = Index::named(&index_name);
        let end = index.len(store)?;
        let mut from = if minute == cursor.minute {
            cursor.position
        } else {
            0
        };
        let mut entries = Vec::new();
        while from < end {
            let (page, next) = index.read_from(store, from)?;
            entries.extend(page);
            from = next;
        }
        minutes.push(DueMinute { minute, entries });
    }
    Ok(minutes)
}

/// After a tick's pass over `minute`: if the minute has settled at `now` and the cursor is still in it,
/// move the cursor to `first_unfinished` (a position of that minute), or past the minute when `None`.
/// Returns whether the cursor left the minute.
///
/// # Errors
/// Store failures.
pub fn settle<S: KvStore + ?Sized>(
    store: &S,
    minute: i64,
    first_unfinished: Option<u64>,
    now: DateTime<Utc>,
) -> Result<bool> {
    if minute > minute_of(now) - SETTLE_MINUTES {
        return Ok(false);
    }
    let next = match first_unfinished {
        Some(position) => DueCursor { minute, position },
        None => DueCursor {
            minute: minute + 1,
            position: 0,
        },
    };
    kv::update_json(
        store,
        &keys::due_cursor(),
        |current: Option<DueCursor>| match current {
            Some(cursor) if cursor.minute == minute && next.minute > minute => {
                Ok((Some(next), true))
            }
            Some(cursor) if cursor.minute == minute && next.position > cursor.position => {
                Ok((Some(next), false))
            }
            _ => Ok((None, false)),
        },
    )
}
