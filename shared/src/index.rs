//! Explicit index records: an append-only list of ids, kept in pages, so collections can be listed and
//! audiences walked without `get_keys`. Positions come from an atomic counter, pages change only by
//! compare-and-swap, so concurrent appends lose nothing.

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::kv::{self, KvStore};

/// Ids per index page: one `get` reads a page, one `get_many` its records.
pub const PAGE_SIZE: u64 = 200;

/// One page: `(position, id)` pairs. Concurrent appends may land out of order; readers sort.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
struct Page {
    entries: Vec<(u64, String)>,
}

/// A named paged index, e.g. `subscribers`, `templates`, `campaigns`, or one named at run time such as
/// a campaign's feedback log ([`Index::named`]).
#[derive(Debug, Clone, Copy)]
pub struct Index<'a> {
    name: &'a str,
}

impl<'a> Index<'a> {
    /// The index of every subscriber, in the order they were first seen.
    pub const SUBSCRIBERS: Index<'static> = Index {
        name: "subscribers",
    };
    /// The index of templates.
    pub const TEMPLATES: Index<'static> = Index { name: "templates" };
    /// The index of campaigns.
    pub const CAMPAIGNS: Index<'static> = Index { name: "campaigns" };

    /// An index named at run time, e.g. one per campaign. Keys are `idx:<name>:len` and
    /// `idx:<name>:<page>`; the last segment is `len` or digits, so no two names share a key.
    pub const fn named(name: &'a str) -> Self {
        Index { name }
    }

    /// The index's name.
    pub fn name(self) -> &'a str {
        self.name
    }

    fn length_key(self) -> String {
        format!("idx:{}:len", self.name)
    }

    fn page_key(self, page: u64) -> String {
        format!("idx:{}:{page}", self.name)
    }

    /// Append `id` and return its position.
    ///
    /// # Errors
    /// Store failure.
    pub fn append<S: KvStore + ?Sized>(self, store: &S, id: &str) -> Result<u64> {
        let position = u64::try_from(store.increment(&self.length_key(), 1)? - 1).unwrap_or(0);
        let page = position / PAGE_SIZE;
        kv::update_json(store, &self.page_key(page), |current: Option<Page>| {
            let mut page = current.unwrap_or_default();
            page.entries.push((position, id.to_owned()));
            Ok((Some(page), ()))
        })?;
        Ok(position)
    }

    /// Append many ids with one counter increment and one compare-and-swap per page touched; returns the
    /// position of the first (the rest follow in order).
    ///
    /// # Errors
    /// Store failure.
    pub fn append_many<S: KvStore + ?Sized>(self, store: &S, ids: &[String]) -> Result<u64> {
        let count = i64::try_from(ids.len()).unwrap_or(i64::MAX);
        let first = u64::try_from(store.increment(&self.length_key(), count)? - count).unwrap_or(0);
        let positioned: Vec<(u64, &String)> = (first..).zip(ids).collect();
        for chunk in positioned.chunk_by(|a, b| a.0 / PAGE_SIZE == b.0 / PAGE_SIZE) {
            let page_no = chunk[0].0 / PAGE_SIZE;
            kv::update_json(store, &self.page_key(page_no), |current: Option<Page>| {
                let mut page = current.unwrap_or_default();
                page.entries
                    .extend(chunk.iter().map(|(p, id)| (*p, (*id).clone())));
                Ok((Some(page), ()))
            })?;
        }
        Ok(first)
    }

    /// Every id in the index, then the index itself removed (its pages and length).
    ///
    /// # Errors
    /// Store failure.
    pub fn take_all<S: KvStore + ?Sized>(self, store: &S) -> Result<Vec<String>> {
        let end = self.len(store)?;
        let mut ids = Vec::new();
        let mut page_keys = vec![self.length_key()];
        let mut from = 0;
        while from < end {
            let (entries, next) = self.read_from(store, from)?;
            page_keys.push(self.page_key(from / PAGE_SIZE));
            ids.extend(entries.into_iter().map(|(_, id)| id));
            from = next;
        }
        store.delete_many(&page_keys)?;
        Ok(ids)
    }

    /// How many positions have been handed out (an upper bound of the entries; a crash may leave gaps).
    ///
    /// # Errors
    /// Store failure.
    pub fn len<S: KvStore + ?Sized>(self, store: &S) -> Result<u64> {
        Ok(u64::try_from(store.increment(&self.length_key(), 0)?).unwrap_or(0))
    }

    /// The entries at positions `from..` on the page holding `from`, in position order.
    /// Returns the entries and the position where the next page starts.
    ///
    /// # Errors
    /// Store failure or a corrupt page.
    pub fn read_from<S: KvStore + ?Sized>(
        self,
        store: &S,
        from: u64,
    ) -> Result<(Vec<(u64, String)>, u64)> {
        let page_no = from / PAGE_SIZE;
        let page: Page = kv::get_json(store, &self.page_key(page_no))?.unwrap_or_default();
        let mut entries: Vec<_> = page
            .entries
            .into_iter()
            .filter(|(p, _)| *p >= from)
            .collect();
        entries.sort_unstable_by_key(|(p, _)| *p);
        Ok((entries, (page_no + 1) * PAGE_SIZE))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kv::MemoryStore;

    #[test]
    fn appends_are_listed_in_order_across_pages() {
        let store = MemoryStore::new();
        for i in 0..(PAGE_SIZE + 5) {
            assert_eq!(
                Index::SUBSCRIBERS
                    .append(&store, &format!("id{i}"))
                    .unwrap(),
                i
            );
        }
        assert_eq!(Index::SUBSCRIBERS.len(&store).unwrap(), PAGE_SIZE + 5);
        let (first, next) = Index::SUBSCRIBERS.read_from(&store, 3).unwrap();
        assert_eq!(first.len() as u64, PAGE_SIZE - 3);
        assert_eq!(first[0], (3, "id3".to_owned()));
        let (second, _) = Index::SUBSCRIBERS.read_from(&store, next).unwrap();
        assert_eq!(second.len(), 5);
        assert_eq!(second[4].1, format!("id{}", PAGE_SIZE + 4));
        // Indexes are independent.
        assert_eq!(Index::TEMPLATES.len(&store).unwrap(), 0);
    }

    #[test]
    fn concurrent_appends_lose_nothing() {
        let store = MemoryStore::new();
        crate::kv::concurrently(&store, 4, |store, t| {
            for i in 0..100 {
                Index::CAMPAIGNS.append(store, &format!("{t}-{i}")).unwrap();
            }
        });
        let mut seen = 0;
        let mut from = 0;
        while from < Index::CAMPAIGNS.len(&store).unwrap() {
            let (entries, next) = Index::CAMPAIGNS.read_from(&store, from).unwrap();
            seen += entries.len();
            from = next;
        }
        assert_eq!(seen, 400);
    }

    #[test]
    fn named_indexes_are_independent_of_each_other_and_of_the_constants() {
        let store = MemoryStore::new();
        let first_name = "feedback:c1".to_owned();
        let first = Index::named(&first_name);
        first.append(&store, "a").unwrap();
        first
            .append_many(&store, &["b".to_owned(), "c".to_owned()])
            .unwrap();
        Index::named("feedback:c2").append(&store, "x").unwrap();
        assert_eq!(first.len(&store).unwrap(), 3);
        assert_eq!(Index::named("feedback:c2").len(&store).unwrap(), 1);
        assert_eq!(Index::CAMPAIGNS.len(&store).unwrap(), 0);
        let (entries, _) = first.read_from(&store, 0).unwrap();
        assert_eq!(
            entries
                .iter()
                .map(|(_, id)| id.as_str())
                .collect::<Vec<_>>(),
            ["a", "b", "c"]
        );
        assert_eq!(first.name(), "feedback:c1");
    }
}
