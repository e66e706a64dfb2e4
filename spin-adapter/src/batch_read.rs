//! Batch reads that survive a host whose batch read is broken.
//!
//! Spin's Redis backend answers `get-many` with Redis `KEYS <k1> <k2> ...` (see the README's "Spin's
//! Redis backend" section): an error for two keys or more, key names instead of values for one. So a
//! single key is always read alone, and a batch that fails or answers with the wrong shape is read again
//! key by key — once per instance: after the first failure the batch read is not tried again.

use std::cell::Cell;
use std::collections::{HashMap, HashSet};

use spinpost::kv::{Entries, StoreError};

/// Whether this instance's host has shown its batch read to be broken.
#[derive(Debug, Default)]
pub struct BatchReads {
    broken: Cell<bool>,
}

impl BatchReads {
    /// The values of `keys`, in the order asked, by one `batch` read when it works and one `single`
    /// read per key otherwise.
    ///
    /// # Errors
    /// A store failure of the single reads (a failed batch read only switches to single reads).
    pub fn read(
        &self,
        keys: &[String],
        batch: impl FnOnce(&[String]) -> Result<Entries, StoreError>,
        mut single: impl FnMut(&str) -> Result<Option<Vec<u8>>, StoreError>,
    ) -> Result<Entries, StoreError> {
        if keys.len() > 1 && !self.broken.get() {
            match batch(keys).map(|answer| in_order_asked(keys, answer)) {
                Ok(Some(entries)) => return Ok(entries),
                Ok(None) | Err(_) => self.broken.set(true),
            }
        }
        keys.iter()
            .map(|key| Ok((key.clone(), single(key)?)))
            .collect()
    }
}

/// The batch answer in the order asked, keys it leaves out being absent (Spin's SQLite store answers
/// only the keys it holds); `None` when the answer names a key twice or one that was not asked.
fn in_order_asked(keys: &[String], answer: Entries) -> Option<Entries> {
    let asked: HashSet<&str> = keys.iter().map(String::as_str).collect();
    let mut by_key = HashMap::with_capacity(answer.len());
    for (key, value) in answer {
        if !asked.contains(key.as_str()) || by_key.insert(key, value).is_some() {
            return None;
        }
    }
    Some(
        keys.iter()
            .map(|key| (key.clone(), by_key.remove(key).flatten()))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| (*n).to_owned()).collect()
    }

    fn value(key: &str) -> Option<Vec<u8>> {
        (key != "absent").then(|| format!("value of {key}").into_bytes())
    }

    fn expected(names: &[&str]) -> Entries {
        names.iter().map(|n| ((*n).to_owned(), value(n))).collect()
    }

    /// Reads `names` with the given batch answer, returning the entries and the keys read singly.
    fn read_with(
        reads: &BatchReads,
        names: &[&str],
        answer: Result<Entries, StoreError>,
    ) -> (Entries, Vec<String>) {
        let mut singles = Vec::new();
        let entries = reads
            .read(
                &keys(names),
                |_| answer,
                |key| {
                    singles.push(key.to_owned());
                    Ok(value(key))
                },
            )
            .expect("read");
        (entries, singles)
    }

    #[test]
    fn a_working_batch_is_one_read_in_the_order_asked() {
        let reads = BatchReads::default();
        // Answered out of order, and without the absent key (as Spin's SQLite store does).
        let answer = expected(&["c", "a"]);
        let (entries, singles) = read_with(&reads, &["a", "absent", "c"], Ok(answer));
        assert_eq!(entries, expected(&["a", "absent", "c"]));
        assert!(singles.is_empty());
    }

    #[test]
    fn one_key_is_read_alone() {
        let reads = BatchReads::default();
        // Spin's Redis backend answers a one-key batch with key names: never ask it.
        let (entries, singles) =
            read_with(&reads, &["a"], Ok(vec![("a".into(), Some(b"a".to_vec()))]));
        assert_eq!(entries, expected(&["a"]));
        assert_eq!(singles, keys(&["a"]));
        assert!(read_with(&reads, &[], Ok(Vec::new())).0.is_empty());
    }

    #[test]
    fn a_failed_batch_falls_back_to_single_reads_and_is_not_tried_again() {
        let reads = BatchReads::default();
        let failure = StoreError("wrong number of arguments for 'keys' command".into());
        let (entries, singles) = read_with(&reads, &["a", "absent"], Err(failure));
        assert_eq!(entries, expected(&["a", "absent"]));
        assert_eq!(singles, keys(&["a", "absent"]));
        let mut tried = false;
        let entries = reads
            .read(
                &keys(&["b", "c"]),
                |_| {
                    tried = true;
                    Ok(expected(&["b", "c"]))
                },
                |key| Ok(value(key)),
            )
            .expect("read");
        assert_eq!(entries, expected(&["b", "c"]));
        assert!(!tried, "the batch read is known broken");
    }

    #[test]
    fn an_answer_of_the_wrong_shape_falls_back_to_single_reads() {
        for answer in [
            // Key names paired as values, as `KEYS` answers parse.
            vec![("x".to_owned(), Some(b"y".to_vec()))],
            expected(&["a", "a"]),
        ] {
            let reads = BatchReads::default();
            let (entries, singles) = read_with(&reads, &["a", "b"], Ok(answer));
            assert_eq!(entries, expected(&["a", "b"]));
            assert_eq!(singles, keys(&["a", "b"]));
        }
    }

    #[test]
    fn single_read_failures_are_store_failures() {
        let reads = BatchReads::default();
        let err = reads
            .read(
                &keys(&["a", "b"]),
                |_| Err(StoreError("down".into())),
                |_| Err(StoreError("still down".into())),
            )
            .expect_err("must fail");
        assert_eq!(err, StoreError("still down".into()));
    }
}
