//! When a person last read one of our messages, kept on their record for segments ("read within 30
//! days"). Read receipts arrive by the hundred; the record is written at most once per person and UTC
//! day, so the cost is one batch read per notification that reports reads, and a write only when the
//! day of the last read moves on.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::StoredSubscriber;
use crate::error::Result;
use crate::keys;
use crate::kv::{self, KvStore};
use crate::subscriber::SubscriberId;

/// Note that each subscriber of `reads` read a message at the time given. Erased subscribers are left
/// alone; a time older than the one recorded, or on the same UTC day, writes nothing.
///
/// # Errors
/// Store failures.
pub fn note_reads<S: KvStore + ?Sized>(
    store: &S,
    reads: &[(SubscriberId, DateTime<Utc>)],
) -> Result<()> {
    let mut latest: BTreeMap<&SubscriberId, DateTime<Utc>> = BTreeMap::new();
    for (subscriber, at) in reads {
        let entry = latest.entry(subscriber).or_insert(*at);
        *entry = (*entry).max(*at);
    }
    if latest.is_empty() {
        return Ok(());
    }
    let record_keys: Vec<String> = latest.keys().map(|id| keys::subscriber(id)).collect();
    let records = store.get_many(&record_keys)?;
    for ((key, stored), at) in records.into_iter().zip(latest.into_values()) {
        let Some(bytes) = stored else { continue };
        let current: StoredSubscriber = kv::decode(&key, &bytes)?;
        if !moves_on(current.subscriber.last_read_at, at) {
            continue;
        }
        kv::update_from(store, &key, Some(bytes), |bytes| {
            let Some(bytes) = bytes else {
                return Ok((None, ()));
            };
            let mut record: StoredSubscriber = kv::decode(&key, bytes)?;
            if !moves_on(record.subscriber.last_read_at, at) {
                return Ok((None, ()));
            }
            record.subscriber.last_read_at = Some(at);
            Ok((Some(kv::encode(&record)), ()))
        })?;
    }
    Ok(())
}

/// Whether a read at `at` is worth a write over `recorded`: a later UTC day.
fn moves_on(recorded: Option<DateTime<Utc>>, at: DateTime<Utc>) -> bool {
    recorded.is_none_or(|recorded| at.date_naive() > recorded.date_naive())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::fixtures::{id, line, now};
    use crate::directory::{get, import};
    use crate::kv::MemoryStore;

    #[test]
    fn the_last_read_is_kept_once_a_day_and_never_goes_back() {
        let store = MemoryStore::new();
        import(&store, &line("1", ""), now()).unwrap();
        let ada = id("1");
        let at = |hours: i64| now() + chrono::Duration::hours(hours);

        note_reads(&store, &[(ada.clone(), at(1)), (ada.clone(), at(2))]).unwrap();
        assert_eq!(get(&store, &ada).unwrap().last_read_at, Some(at(2)));
        // The same day again writes nothing: the first read of the day stands.
        note_reads(&store, &[(ada.clone(), at(3))]).unwrap();
        assert_eq!(get(&store, &ada).unwrap().last_read_at, Some(at(2)));
        // An older read (a late receipt) never moves it back; a later day moves it on.
        note_reads(&store, &[(ada.clone(), at(-48))]).unwrap();
        assert_eq!(get(&store, &ada).unwrap().last_read_at, Some(at(2)));
        note_reads(&store, &[(ada.clone(), at(30))]).unwrap();
        assert_eq!(get(&store, &ada).unwrap().last_read_at, Some(at(30)));
        // Nobody to note for an erased or unknown subscriber.
        note_reads(&store, &[(id("2"), at(30))]).unwrap();
        assert!(get(&store, &id("2")).is_err());
    }
}
