//! The subscriber directory: create and change subscriber records safely under concurrent webhooks,
//! list them with filters and cursor paging, edit, bulk-import with per-line reports, and erase.
//! One concept per file; everything is re-exported here, so `crate::directory::X` names each.

mod erase;
pub mod external_id;
#[cfg(test)]
mod fixtures;
mod import;
mod import_channels;
mod list;
mod patch;
mod reads;
mod stored;
mod suppression;
mod touch;

pub use erase::{erase, suppress};
pub use external_id::{records_of, subscribers_of, ExternalId, MAX_SUBSCRIBERS_PER_EXTERNAL_ID};
pub use import::{
    import, ImportLine, ImportReport, ImportedConsent, RejectedLine, MAX_IMPORT_LINES,
};
pub use import_channels::require_configured_channels;
pub use list::{list, ListFilter, Listing, SearchRequest};
pub use patch::{patch, SubscriberPatch, TagPatch};
pub use reads::note_reads;
pub use stored::{get, StoredSubscriber};
use suppression::suppression_key;
pub use suppression::{address_hash, is_suppressed, Suppression};
pub use touch::touch;
