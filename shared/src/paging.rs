//! Listing with cursor paging, the same way on every route: `?cursor=&limit=` in, `{items, next_cursor}`
//! out, and a bounded walk over an explicit index so a sparse filter cannot make one request unbounded.

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::index::Index;
use crate::kv::{self, KvStore};

/// The page size when the caller gives none.
pub const DEFAULT_LIMIT: usize = 50;
/// The largest page a caller may ask for.
pub const MAX_LIMIT: usize = 200;
/// How many index pages one listing reads at most.
const MAX_INDEX_PAGES_PER_LIST: u64 = 20;

/// One page of a listing.
#[derive(Debug, Clone, Serialize)]
pub struct Page<T> {
    /// The items, in index order.
    pub items: Vec<T>,
    /// Pass as `cursor` for the next page; absent at the end.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// Parse a `cursor` query parameter (absent or empty: the start).
///
/// # Errors
/// 400 `invalid_cursor`.
pub fn parse_cursor(cursor: Option<&str>) -> Result<u64> {
    match cursor.filter(|c| !c.is_empty()) {
        None => Ok(0),
        Some(c) => c.parse().map_err(|_| {
            Error::invalid(
                "invalid_cursor",
                format!("cursor '{c}' was not returned by this API; pass a next_cursor value"),
            )
        }),
    }
}

/// Parse a `limit` query parameter (absent or empty: [`DEFAULT_LIMIT`]).
///
/// # Errors
/// 400 `invalid_limit` unless it is a number from 1 to [`MAX_LIMIT`].
pub fn parse_limit(limit: Option<&str>) -> Result<usize> {
    match limit.filter(|l| !l.is_empty()) {
        None => Ok(DEFAULT_LIMIT),
        Some(l) => l
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| {
                Error::invalid(
                    "invalid_limit",
                    format!("limit '{l}' must be a number from 1 to {MAX_LIMIT}"),
                )
            }),
    }
}

/// Walk `index` from position `cursor`, loading each entry's record (one `get_many` per index page) and
/// keeping what `select` returns, until `limit` items are kept or the walk's bound is reached.
/// `select` gets the entry's position, so callers can skip stale or duplicate index entries.
///
/// # Errors
/// Store failures, or a record that does not decode.
pub fn list_index<S, R, T>(
    store: &S,
    index: Index<'_>,
    cursor: u64,
    limit: usize,
    record_key: impl Fn(&str) -> String,
    mut select: impl FnMut(u64, R) -> Option<T>,
) -> Result<Page<T>>
where
    S: KvStore + ?Sized,
    R: DeserializeOwned,
{
    let limit = limit.clamp(1, MAX_LIMIT);
    let end = index.len(store)?;
    let mut items = Vec::new();
    let mut position = cursor;
    let mut pages_read = 0;
    'walk: while position < end && items.len() < limit && pages_read < MAX_INDEX_PAGES_PER_LIST {
        let (entries, next_page) = index.read_from(store, position)?;
        pages_read += 1;
        let keys: Vec<String> = entries.iter().map(|(_, id)| record_key(id)).collect();
        let records: Vec<Option<R>> = kv::get_many_json(store, &keys)?;
        for ((entry_position, _), record) in entries.iter().zip(records) {
            if items.len() == limit {
                position = *entry_position;
                break 'walk;
            }
            if let Some(item) = record.and_then(|r| select(*entry_position, r)) {
                items.push(item);
            }
        }
        position = next_page;
    }
    Ok(Page {
        items,
        next_cursor: (position < end).then(|| position.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kv::MemoryStore;

    #[test]
    fn cursor_and_limit_are_checked() {
        assert_eq!(parse_cursor(None).unwrap(), 0);
        assert_eq!(parse_cursor(Some("")).unwrap(), 0);
        assert_eq!(parse_cursor(Some("12")).unwrap(), 12);
        assert_eq!(
            parse_cursor(Some("x")).unwrap_err().code(),
            "invalid_cursor"
        );
        assert_eq!(parse_limit(None).unwrap(), DEFAULT_LIMIT);
        assert_eq!(parse_limit(Some("0")).unwrap_err().code(), "invalid_limit");
        assert_eq!(
            parse_limit(Some("201")).unwrap_err().code(),
            "invalid_limit"
        );
        assert_eq!(parse_limit(Some("7")).unwrap(), 7);
    }

    #[test]
    fn listing_filters_pages_and_skips_missing_records() {
        let store = MemoryStore::new();
        let index = Index::named("things");
        for i in 0..30u32 {
            index.append(&store, &i.to_string()).unwrap();
            if i != 3 {
                kv::set_json(&store, &format!("thing:{i}"), &i).unwrap();
            }
        }
        let even = |_: u64, n: u32| (n % 2 == 0).then_some(n);
        let first = list_index(&store, index, 0, 5, |id| format!("thing:{id}"), even).unwrap();
        assert_eq!(first.items, vec![0, 2, 4, 6, 8]);
        let next = parse_cursor(first.next_cursor.as_deref()).unwrap();
        let rest = list_index(&store, index, next, 50, |id| format!("thing:{id}"), even).unwrap();
        assert_eq!(rest.items, vec![10, 12, 14, 16, 18, 20, 22, 24, 26, 28]);
        assert!(rest.next_cursor.is_none());
    }
}
