//! Listing subscribers with filters and cursor paging.

use super::external_id::records_of;
use super::StoredSubscriber;
use crate::error::Result;
use crate::index::Index;
use crate::kv::KvStore;
use crate::paging::{self, Page};
use crate::subscriber::{Channel, ExternalId, Subscriber, SubscriptionStatus, Tag};

/// Filters for listing.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    /// Only this channel.
    pub channel: Option<Channel>,
    /// Only this status.
    pub status: Option<SubscriptionStatus>,
    /// Only subscribers carrying this tag.
    pub tag: Option<Tag>,
    /// Only the subscribers of this customer (read from its index, not by walking every subscriber).
    pub external_id: Option<ExternalId>,
}

impl ListFilter {
    fn matches(&self, s: &Subscriber) -> bool {
        self.channel.as_ref().is_none_or(|c| &s.channel == c)
            && self.status.is_none_or(|st| s.status == st)
            && self.tag.as_ref().is_none_or(|t| s.tags.contains(t))
    }
}

/// List subscribers in the order they were first seen, filtered, from index position `cursor`. A
/// customer's subscribers (`filter.external_id`) are few and come in one page, in the order they were
/// given the id.
///
/// # Errors
/// Store failures.
pub fn list<S: KvStore + ?Sized>(
    store: &S,
    filter: &ListFilter,
    cursor: u64,
    limit: usize,
) -> Result<Page<Subscriber>> {
    if let Some(external_id) = &filter.external_id {
        return Ok(Page {
            items: records_of(store, external_id)?
                .into_iter()
                .filter(|subscriber| filter.matches(subscriber))
                .collect(),
            next_cursor: None,
        });
    }
    paging::list_index(
        store,
        Index::SUBSCRIBERS,
        cursor,
        limit,
        |id| format!("sub:{id}"),
        // An entry whose position differs from the record's is a duplicate left by a race: skip it.
        |position, record: StoredSubscriber| {
            (record.index_position == Some(position) && filter.matches(&record.subscriber))
                .then_some(record.subscriber)
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::fixtures::{line, now};
    use crate::directory::import;
    use crate::kv::MemoryStore;

    #[test]
    fn list_filters_and_pages_with_a_cursor() {
        let store = MemoryStore::new();
        let body: Vec<String> = (1..=25)
            .map(|i| line(&i.to_string(), if i % 2 == 0 { r#""even""# } else { "" }))
            .collect();
        import(&store, &body.join("\n"), now()).unwrap();
        let filter = ListFilter {
            tag: Some(Tag::parse("even").unwrap()),
            ..ListFilter::default()
        };
        let first = list(&store, &filter, 0, 5).unwrap();
        assert_eq!(first.items.len(), 5);
        let cursor = paging::parse_cursor(first.next_cursor.as_deref()).unwrap();
        let second = list(&store, &filter, cursor, 50).unwrap();
        assert_eq!(second.items.len(), 7);
        assert!(second.next_cursor.is_none());
        let all: Vec<_> = first
            .items
            .iter()
            .chain(&second.items)
            .map(|s| s.id.clone())
            .collect();
        assert_eq!(all.len(), 12);
    }
}
