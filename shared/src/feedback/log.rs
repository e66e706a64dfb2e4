//! A feedback log whose append is one write: entries go onto the log's last page by compare-and-swap
//! (no separate length counter), and each page carries the log's running totals (`replies`, `replied`,
//! `ratings`, `rating_sum`, per A/B arm too) up to and including its own entries. An event's entry and
//! its counts land in the same write, so "is its entry in the log" answers "was it counted": a
//! redelivery after a crash checks that and finishes the job, and never counts twice.
//!
//! Pages use the layout of [`crate::index::Index`] (`idx:<name>:<page>`, entries `(position, key)`), so
//! logs appended before (with a length counter and without totals) read on as they are. A hint key
//! (`idx:<name>:tail`) names a recent last page, moved on when a page fills.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::index::PAGE_SIZE;
use crate::kv::{self, KvStore};

/// Running totals by name (`replies`, or `<arm>:replies` for an arm).
pub(crate) type Totals = BTreeMap<String, i64>;

/// One page: `(position, record key)` pairs and the log's totals up to the end of this page.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub(crate) struct LogPage {
    pub(crate) entries: Vec<(u64, String)>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) totals: Totals,
}

impl LogPage {
    /// The position the next entry of page `page_no` takes, or `None` when the page is full.
    fn next_position(&self, page_no: u64) -> Option<u64> {
        let next = self
            .entries
            .iter()
            .map(|(p, _)| p + 1)
            .max()
            .unwrap_or(page_no * PAGE_SIZE)
            .max(page_no * PAGE_SIZE);
        (next < (page_no + 1) * PAGE_SIZE).then_some(next)
    }

    fn holds(&self, key: &str) -> bool {
        self.entries.iter().any(|(_, k)| k == key)
    }
}

/// One entry to append, with what it adds to the totals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LogItem {
    pub(crate) key: String,
    pub(crate) counts: Totals,
    /// The page its append starts from: the hint read before its record was claimed (and kept in the
    /// record), so a redelivery searches every page the first attempt could have written to.
    pub(crate) from_page: u64,
}

/// A feedback log by name (see [`crate::keys::feedback_log`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct FeedbackLog<'a> {
    name: &'a str,
}

impl<'a> FeedbackLog<'a> {
    pub(crate) const fn named(name: &'a str) -> Self {
        FeedbackLog { name }
    }

    fn page_key(self, page: u64) -> String {
        format!("idx:{}:{page}", self.name)
    }

    /// The key of the hint naming a recent last page.
    pub(crate) fn tail_key(name: &str) -> String {
        format!("idx:{name}:tail")
    }

    fn length_key(self) -> String {
        format!("idx:{}:len", self.name)
    }

    /// The page the hint names (0 without one).
    pub(crate) fn hint<S: KvStore + ?Sized>(self, store: &S) -> Result<u64> {
        Ok(parse_hint(store.get(&Self::tail_key(self.name))?))
    }

    /// Append `items`, each with its counts on the page its entry lands on: the first page from its
    /// `from_page` on with room. An item whose key is on a page visited on the way is already logged
    /// (and counted) and is not appended again, so concurrent deliveries of one event add one entry.
    /// One compare-and-swap per page touched; the hint moves on when the append passed a full page.
    ///
    /// # Errors
    /// Store failure, a corrupt page, or contention.
    pub(crate) fn append<S: KvStore + ?Sized>(self, store: &S, items: &[LogItem]) -> Result<()> {
        let Some(start) = items.iter().map(|item| item.from_page).min() else {
            return Ok(());
        };
        let mut page_no = start;
        let mut pending: Vec<&LogItem> = items.iter().collect();
        // The totals of the full page before `page_no`: the base of a page this append creates.
        let mut carried = Totals::new();
        loop {
            let (rest, full_totals) = kv::update_json(
                store,
                &self.page_key(page_no),
                |current: Option<LogPage>| {
                    let mut page = current.unwrap_or_else(|| LogPage {
                        entries: Vec::new(),
                        totals: carried.clone(),
                    });
                    let mut rest = Vec::new();
                    let mut changed = false;
                    for item in &pending {
                        if page.holds(&item.key) {
                            continue;
                        }
                        match page.next_position(page_no) {
                            Some(position) if page_no >= item.from_page => {
                                page.entries.push((position, item.key.clone()));
                                for (name, delta) in &item.counts {
                                    *page.totals.entry(name.clone()).or_default() += delta;
                                }
                                changed = true;
                            }
                            _ => rest.push(*item),
                        }
                    }
                    let full = page.next_position(page_no).is_none();
                    let totals = full.then(|| page.totals.clone());
                    Ok((changed.then_some(page), (rest, totals)))
                },
            )?;
            pending = rest;
            if pending.is_empty() {
                break;
            }
            carried = full_totals.unwrap_or_default();
            page_no += 1;
        }
        if page_no > start {
            // Later appends start here; a hint left behind by a race only costs them a page read.
            store.set(&Self::tail_key(self.name), page_no.to_string().as_bytes())?;
        }
        Ok(())
    }

    /// The last page from `from` on (following full pages), with its number.
    ///
    /// # Errors
    /// Store failure or a corrupt page.
    pub(crate) fn last_page<S: KvStore + ?Sized>(
        self,
        store: &S,
        from: u64,
    ) -> Result<(u64, LogPage)> {
        let mut page_no = from;
        let mut last = (from, LogPage::default());
        loop {
            let Some(page) = kv::get_json::<_, LogPage>(store, &self.page_key(page_no))? else {
                return Ok(last);
            };
            let full = page.next_position(page_no).is_none();
            last = (page_no, page);
            if !full {
                return Ok(last);
            }
            page_no += 1;
        }
    }

    /// Whether `key` is on a page from `from` on.
    ///
    /// # Errors
    /// Store failure or a corrupt page.
    pub(crate) fn holds_from<S: KvStore + ?Sized>(
        self,
        store: &S,
        from: u64,
        key: &str,
    ) -> Result<bool> {
        let mut page_no = from;
        loop {
            let Some(page) = kv::get_json::<_, LogPage>(store, &self.page_key(page_no))? else {
                return Ok(false);
            };
            if page.holds(key) {
                return Ok(true);
            }
            if page.next_position(page_no).is_some() {
                return Ok(false);
            }
            page_no += 1;
        }
    }

    /// The log's totals (those of its last page).
    ///
    /// # Errors
    /// Store failure or a corrupt page.
    pub(crate) fn totals<S: KvStore + ?Sized>(self, store: &S) -> Result<Totals> {
        let from = self.hint(store)?;
        Ok(self.last_page(store, from)?.1.totals)
    }

    /// Where the log ends: past its last page's last entry, or the length counter of a log appended
    /// before pages carried totals, whichever is further.
    ///
    /// # Errors
    /// Store failure or a corrupt page.
    pub(crate) fn end<S: KvStore + ?Sized>(self, store: &S) -> Result<u64> {
        let (page_no, page) = self.last_page(store, self.hint(store)?)?;
        let paged = page
            .next_position(page_no)
            .unwrap_or((page_no + 1) * PAGE_SIZE);
        let counted = u64::try_from(store.increment(&self.length_key(), 0)?).unwrap_or(0);
        Ok(if page.entries.is_empty() && page_no == 0 {
            counted
        } else {
            paged.max(counted)
        })
    }

    /// The entries at positions `from..` on the page holding `from`, in position order, and where the
    /// next page starts.
    ///
    /// # Errors
    /// Store failure or a corrupt page.
    pub(crate) fn read_from<S: KvStore + ?Sized>(
        self,
        store: &S,
        from: u64,
    ) -> Result<(Vec<(u64, String)>, u64)> {
        // A log page is an index page with totals beside its entries: the index reads it alike.
        crate::index::Index::named(self.name).read_from(store, from)
    }
}

/// A hint as stored (absent or unreadable: page 0).
pub(crate) fn parse_hint(value: Option<Vec<u8>>) -> u64 {
    value
        .and_then(|bytes| std::str::from_utf8(&bytes).ok()?.parse().ok())
        .unwrap_or(0)
}
