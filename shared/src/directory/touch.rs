//! Creating and changing a record under concurrent webhooks, and indexing it exactly once.

use chrono::{DateTime, Utc};

use super::{suppression_key, StoredSubscriber};
use crate::error::Result;
use crate::index::Index;
use crate::keys;
use crate::kv::{self, KvStore};
use crate::subscriber::{Address, Channel, Subscriber, SubscriberId};

/// Create (if absent) and change the record of `address` on `channel` through compare-and-swap, making
/// sure it is indexed. An explicit opt-in lifts an erasure suppression. A change that leaves the record
/// as it was writes nothing (a redelivered webhook costs one read).
///
/// A new person is given their index position before the record is created, so the record is written
/// once, with its position: if another request creates it first, our index entry is a duplicate the
/// audience walk skips.
///
/// # Errors
/// Store failures.
pub fn touch<S, F>(
    store: &S,
    channel: &Channel,
    address: &Address,
    now: DateTime<Utc>,
    opted_in: bool,
    mut change: F,
) -> Result<Subscriber>
where
    S: KvStore + ?Sized,
    F: FnMut(&mut Subscriber),
{
    let id = SubscriberId::of(channel, address);
    let key = keys::subscriber(&id);
    let current = store.get(&key)?;
    let reserved = match current {
        None => Some(Index::SUBSCRIBERS.append(store, id.as_str())?),
        Some(_) => None,
    };
    let stored =
        kv::update_json_from(store, &key, current, |current: Option<StoredSubscriber>| {
            let is_new = current.is_none();
            let mut stored = current.unwrap_or_else(|| StoredSubscriber {
                subscriber: Subscriber::new(channel.clone(), address.clone(), now),
                index_position: reserved,
            });
            let before = stored.subscriber.clone();
            change(&mut stored.subscriber);
            if !is_new && stored.subscriber == before {
                return Ok((None, stored));
            }
            stored.subscriber.updated_at = stored.subscriber.updated_at.max(now);
            Ok((Some(stored.clone()), stored))
        })?;
    // An erasure suppresses the address before it deletes the record: only then is there one to lift.
    let suppression = suppression_key(channel, address);
    if opted_in && store.exists(&suppression)? {
        store.delete(&suppression)?;
    }
    ensure_indexed(store, &key, stored)
}

/// Index a record that has no position yet (one written before positions were reserved at creation).
fn ensure_indexed<S: KvStore + ?Sized>(
    store: &S,
    key: &str,
    stored: StoredSubscriber,
) -> Result<Subscriber> {
    if stored.index_position.is_some() {
        return Ok(stored.subscriber);
    }
    let position = Index::SUBSCRIBERS.append(store, stored.subscriber.id.as_str())?;
    kv::update_json(
        store,
        key,
        |current: Option<StoredSubscriber>| match current {
            // Another request indexed it first; our entry is a duplicate the audience walk skips.
            Some(s) if s.index_position.is_some() => Ok((None, ())),
            Some(mut s) => {
                s.index_position = Some(position);
                Ok((Some(s), ()))
            }
            None => Ok((None, ())),
        },
    )?;
    Ok(stored.subscriber)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::fixtures::{listed, now};
    use crate::kv::MemoryStore;
    use crate::subscriber::Platform;

    #[test]
    fn concurrent_touches_index_a_subscriber_once_for_the_audience() {
        let store = std::sync::Arc::new(MemoryStore::new());
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let store = std::sync::Arc::clone(&store);
                std::thread::spawn(move || {
                    let channel = Channel::parse("telegram:shop").unwrap();
                    let address = Address::parse(Platform::Telegram, "7").unwrap();
                    touch(store.as_ref(), &channel, &address, now(), true, |_| {}).unwrap();
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(listed(store.as_ref()), 1);
    }
}
