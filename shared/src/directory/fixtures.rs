//! Records and import lines the directory's tests share.

use chrono::{DateTime, Utc};

use super::{list, ListFilter};
use crate::kv::KvStore;
use crate::subscriber::SubscriberId;

/// The time every test runs at.
pub(super) fn now() -> DateTime<Utc> {
    "2026-11-24T12:00:00Z".parse().unwrap()
}

/// One import line for `address` on `telegram:shop`, with `tags` (JSON strings) and consent evidence.
pub(super) fn line(address: &str, tags: &str) -> String {
    format!(
        r#"{{"channel":"telegram:shop","address":"{address}","first_name":"N{address}","tags":[{tags}],"attributes":{{"city":"Berlin","orders":3}},"consent":{{"at":"2026-01-01T00:00:00Z","source":"checkout","evidence":"form-{address}"}}}}"#
    )
}

/// The id of `address` on `telegram:shop`.
pub(super) fn id(address: &str) -> SubscriberId {
    SubscriberId::parse(&format!("telegram:shop:{address}")).unwrap()
}

/// How many subscribers a default listing shows.
pub(super) fn listed<S: KvStore + ?Sized>(store: &S) -> usize {
    list(store, &ListFilter::default(), now(), 0, 50)
        .unwrap()
        .page
        .items
        .len()
}
