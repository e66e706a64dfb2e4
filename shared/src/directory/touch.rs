//! Creating and changing a record under concurrent webhooks, and indexing it exactly once.

use chrono::{DateTime, Utc};

use super::{suppression_key, StoredSubscriber};
use crate::error::Result;
use crate::index::Index;
use crate::keys;
use crate::kv::{self, KvStore};
use crate::subscriber::{Address, Channel, Subscriber, SubscriberId};

/// Create (if absent) and change the record of `address` on `channel` through compare-and-swap, then
/// make sure it is indexed. An explicit opt-in lifts an erasure suppression.
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
    let key = keys::subscriber(&SubscriberId::of(channel, address));
    let stored = kv::update_json(store, &key, |current: Option<StoredSubscriber>| {
        let mut stored = current.unwrap_or_else(|| StoredSubscriber {
            subscriber: Subscriber::new(channel.clone(), address.clone(), now),
            index_position: None,
        });
        change(&mut stored.subscriber);
        stored.subscriber.updated_at = stored.subscriber.updated_at.max(now);
        Ok((Some(stored.clone()), stored))
    })?;
    if opted_in {
        store.delete(&suppression_key(channel, address))?;
    }
    ensure_indexed(store, &key, stored)
}

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
