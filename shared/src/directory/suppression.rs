//! What remains of an erased person: a hash of their address that refuses a re-import.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::Result;
use crate::keys;
use crate::kv::KvStore;
use crate::subscriber::{Address, Channel};

/// What remains after an erasure: no personal data, only enough to refuse a re-import.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Suppression {
    /// When the person was erased.
    pub erased_at: DateTime<Utc>,
}

/// A one-way hash of an address, so a suppression record holds no personal data.
pub fn address_hash(address: &Address) -> String {
    hex::encode(Sha256::digest(address.as_str().as_bytes()))
}

/// The store key of the suppression of `address` on `channel`.
pub(super) fn suppression_key(channel: &Channel, address: &Address) -> String {
    keys::suppression(channel, &address_hash(address))
}

/// Whether an address was erased on a channel.
///
/// # Errors
/// Store failures.
pub fn is_suppressed<S: KvStore + ?Sized>(
    store: &S,
    channel: &Channel,
    address: &Address,
) -> Result<bool> {
    Ok(store.exists(&suppression_key(channel, address))?)
}
