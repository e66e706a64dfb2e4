//! The stored form of a subscriber record, and reading one.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::keys;
use crate::kv::{self, KvStore};
use crate::subscriber::{Subscriber, SubscriberId};

/// A record as stored: the subscriber plus its place in the subscriber index.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredSubscriber {
    /// The subscriber.
    #[serde(flatten)]
    pub subscriber: Subscriber,
    /// Position in [`crate::index::Index::SUBSCRIBERS`]; `None` until indexed. The audience walk skips index entries
    /// whose position differs, so a duplicate index entry never means a duplicate message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index_position: Option<u64>,
}

/// A subscriber by id.
///
/// # Errors
/// 404 when absent (or erased).
pub fn get<S: KvStore + ?Sized>(store: &S, id: &SubscriberId) -> Result<Subscriber> {
    kv::get_json::<_, StoredSubscriber>(store, &keys::subscriber(id))?
        .map(|s| s.subscriber)
        .ok_or_else(|| Error::not_found("subscriber", id.as_str()))
}
