//! Listing and searching subscribers with the segment filter language, and cursor paging.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::external_id::records_of;
use super::StoredSubscriber;
use crate::error::Result;
use crate::index::Index;
use crate::kv::KvStore;
use crate::paging::{self, Page};
use crate::segment::Segment;
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
    /// Only subscribers in this segment (all of it when empty).
    pub segment: Segment,
}

/// The body of `POST /api/v1/subscribers/search`: a channel, a status and a segment, each optional.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchRequest {
    /// Only this channel, e.g. `telegram:shop`.
    pub channel: Option<String>,
    /// Only this status.
    pub status: Option<SubscriptionStatus>,
    /// The segment, in the language of campaign audiences.
    #[serde(default)]
    pub filter: Segment,
}

impl SearchRequest {
    /// Validate into a list filter.
    ///
    /// # Errors
    /// 400 `invalid_channel`, `invalid_filter` or `invalid_condition`.
    pub fn into_filter(self) -> Result<ListFilter> {
        self.filter.validate("filter")?;
        Ok(ListFilter {
            channel: self.channel.as_deref().map(Channel::parse).transpose()?,
            status: self.status,
            tag: None,
            external_id: None,
            segment: self.filter,
        })
    }
}

/// A page of subscribers and how many records were examined for it: every filter is judged on each
/// record in index order (nothing is indexed), so a narrow filter scans many records per page.
#[derive(Debug, Clone, Serialize)]
pub struct Listing {
    /// The page.
    #[serde(flatten)]
    pub page: Page<Subscriber>,
    /// Subscriber records examined for this page.
    pub scanned: u64,
}

/// List subscribers in the order they were first seen, filtered (relative conditions judged at `now`),
/// from index position `cursor`. A customer's subscribers (`filter.external_id`) are few and come in
/// one page, read from the customer's index in the order they were given the id.
///
/// # Errors
/// Store failures.
pub fn list<S: KvStore + ?Sized>(
    store: &S,
    filter: &ListFilter,
    now: DateTime<Utc>,
    cursor: u64,
    limit: usize,
) -> Result<Listing> {
    let selector = filter.segment.at(now, None);
    let selected = |s: &Subscriber| {
        filter.channel.as_ref().is_none_or(|c| &s.channel == c)
            && filter.status.is_none_or(|st| s.status == st)
            && filter.tag.as_ref().is_none_or(|t| s.tags.contains(t))
            && selector.matches(s)
    };
    if let Some(external_id) = &filter.external_id {
        let records = records_of(store, external_id)?;
        let scanned = records.len() as u64;
        let items = records.into_iter().filter(|s| selected(s)).collect();
        return Ok(Listing {
            page: Page {
                items,
                next_cursor: None,
            },
            scanned,
        });
    }
    let mut scanned = 0;
    let page = paging::list_index(
        store,
        Index::SUBSCRIBERS,
        cursor,
        limit,
        |id| format!("sub:{id}"),
        // An entry whose position differs from the record's is a duplicate left by a race: skip it.
        |position, record: StoredSubscriber| {
            scanned += 1;
            let s = record.subscriber;
            (record.index_position == Some(position) && selected(&s)).then_some(s)
        },
    )?;
    Ok(Listing { page, scanned })
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
        let first = list(&store, &filter, now(), 0, 5).unwrap();
        assert_eq!(first.page.items.len(), 5);
        assert_eq!(first.scanned, 10, "ten records read for five even ones");
        let cursor = paging::parse_cursor(first.page.next_cursor.as_deref()).unwrap();
        let second = list(&store, &filter, now(), cursor, 50).unwrap();
        assert_eq!(second.page.items.len(), 7);
        assert!(second.page.next_cursor.is_none());
        let all: Vec<_> = first
            .page
            .items
            .iter()
            .chain(&second.page.items)
            .map(|s| s.id.clone())
            .collect();
        assert_eq!(all.len(), 12);
    }

    #[test]
    fn a_search_uses_the_audience_filter_language() {
        let store = MemoryStore::new();
        let body: Vec<String> = (1..=6)
            .map(|i| line(&i.to_string(), "").replace("\"orders\":3", &format!("\"orders\":{i}")))
            .collect();
        import(&store, &body.join("\n"), now()).unwrap();
        let search: SearchRequest = serde_json::from_str(
            r#"{"channel": "telegram:shop", "status": "subscribed",
                "filter": {"conditions": [{"attribute": "orders", "op": "gte", "number": 4}]}}"#,
        )
        .unwrap();
        let found = list(&store, &search.into_filter().unwrap(), now(), 0, 50).unwrap();
        let orders = crate::subscriber::AttributeName::parse("orders").unwrap();
        let orders: Vec<&str> = found
            .page
            .items
            .iter()
            .map(|s| s.attributes[&orders].as_str())
            .collect();
        assert_eq!(orders, ["4", "5", "6"]);
        assert_eq!(found.scanned, 6);
        let bad: SearchRequest = serde_json::from_str(
            r#"{"filter": {"conditions": [{"attribute": "orders", "op": "gte", "days": 4}]}}"#,
        )
        .unwrap();
        let err = bad.into_filter().unwrap_err();
        assert_eq!((err.status(), err.code()), (400, "invalid_condition"));
        assert!(err.message().starts_with("filter.conditions[0]: "));
    }
}
