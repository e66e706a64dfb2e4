//! Editing a subscriber's data, validated whole before anything is written.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::external_id::write_reindexed;
use super::StoredSubscriber;
use crate::error::{Error, Result};
use crate::keys;
use crate::kv::{self, KvStore};
use crate::subscriber::{
    AttributeName, ExternalId, Locale, Profile, Subscriber, SubscriberId, Tag, TimeZone,
};

/// Tag changes in a patch: replace the set, or add and remove.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum TagPatch {
    /// The new set.
    Replace(Vec<String>),
    /// Additions and removals.
    Change {
        /// Tags to add.
        #[serde(default)]
        add: Vec<String>,
        /// Tags to remove.
        #[serde(default)]
        remove: Vec<String>,
    },
}

/// An edit of a subscriber's data; consent is not editable here (it changes only with evidence).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubscriberPatch {
    /// Tag changes.
    #[serde(default)]
    pub tags: Option<TagPatch>,
    /// Attribute changes; `null` or `""` removes one.
    #[serde(default)]
    pub attributes: Option<BTreeMap<String, Option<serde_json::Value>>>,
    /// A new locale; `null` clears it.
    #[serde(default, with = "double_option")]
    pub locale: Option<Option<String>>,
    /// A new time zone; `null` clears it.
    #[serde(default, with = "double_option")]
    pub timezone: Option<Option<String>>,
    /// The business's customer id; `null` clears it.
    #[serde(default, with = "double_option")]
    pub external_id: Option<Option<String>>,
    /// Profile names.
    #[serde(default)]
    pub first_name: Option<String>,
    /// Profile names.
    #[serde(default)]
    pub last_name: Option<String>,
}

mod double_option {
    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Option<String>>, D::Error> {
        Option::<String>::deserialize(d).map(Some)
    }
}

fn attribute_text(name: &str, value: &serde_json::Value) -> Result<String> {
    match value {
        serde_json::Value::String(s) => Ok(s.clone()),
        serde_json::Value::Number(n) => Ok(n.to_string()),
        serde_json::Value::Bool(b) => Ok(b.to_string()),
        serde_json::Value::Null => Ok(String::new()),
        _ => Err(Error::invalid(
            "invalid_attribute",
            format!("attribute '{name}' must be a string, number or boolean"),
        )),
    }
}

/// Validate a patch fully before touching the record, so a bad field changes nothing.
pub(super) fn apply_patch(subscriber: &mut Subscriber, patch: &SubscriberPatch) -> Result<()> {
    let mut next = subscriber.clone();
    match &patch.tags {
        Some(TagPatch::Replace(tags)) => {
            next.tags.clear();
            for t in tags {
                next.add_tag(Tag::parse(t)?)?;
            }
        }
        Some(TagPatch::Change { add, remove }) => {
            for t in remove {
                next.tags.remove(&Tag::parse(t)?);
            }
            for t in add {
                next.add_tag(Tag::parse(t)?)?;
            }
        }
        None => {}
    }
    for (name, value) in patch.attributes.iter().flatten() {
        let attribute = AttributeName::parse(name)?;
        let text = value
            .as_ref()
            .map(|v| attribute_text(name, v))
            .transpose()?
            .unwrap_or_default();
        next.set_attribute(attribute, text)?;
    }
    if let Some(locale) = &patch.locale {
        next.locale = locale.as_deref().map(Locale::parse).transpose()?;
    }
    if let Some(external_id) = &patch.external_id {
        next.external_id = external_id.as_deref().map(ExternalId::parse).transpose()?;
    }
    if let Some(tz) = &patch.timezone {
        next.timezone = tz.as_deref().map(TimeZone::parse).transpose()?;
    }
    let bounded = Profile {
        first_name: patch.first_name.clone(),
        last_name: patch.last_name.clone(),
        username: None,
    }
    .checked()?;
    if bounded.first_name.is_some() {
        next.profile.first_name = bounded.first_name;
    }
    if bounded.last_name.is_some() {
        next.profile.last_name = bounded.last_name;
    }
    *subscriber = next;
    Ok(())
}

/// Edit a subscriber's tags, attributes, locale, time zone, names or external id. A new external id is
/// indexed before the record is written and the previous one unlisted after (see
/// [`super::external_id`]), so a lookup by external id always finds the record.
///
/// # Errors
/// 404 when absent; 400 naming the invalid field, 422 when the external id has too many subscribers
/// (nothing is written then).
pub fn patch<S: KvStore + ?Sized>(
    store: &S,
    id: &SubscriberId,
    patch: &SubscriberPatch,
    now: DateTime<Utc>,
) -> Result<Subscriber> {
    // Validated against the record as it is, before the index or the record is touched.
    let mut checked = super::get(store, id)?;
    apply_patch(&mut checked, patch)?;
    let write = || {
        kv::update_json(
            store,
            &keys::subscriber(id),
            |current: Option<StoredSubscriber>| {
                let mut stored =
                    current.ok_or_else(|| Error::not_found("subscriber", id.as_str()))?;
                let previous = stored.subscriber.external_id.clone();
                apply_patch(&mut stored.subscriber, patch)?;
                stored.subscriber.updated_at = now;
                Ok((Some(stored.clone()), (stored.subscriber, previous)))
            },
        )
    };
    if patch.external_id.is_none() {
        return write().map(|(subscriber, _)| subscriber);
    }
    write_reindexed(store, id, checked.external_id.as_ref(), write)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::fixtures::{id, line, now};
    use crate::directory::{get, import};
    use crate::kv::MemoryStore;

    #[test]
    fn a_bad_patch_field_changes_nothing() {
        let store = MemoryStore::new();
        import(&store, &line("1", ""), now()).unwrap();
        let patch: SubscriberPatch =
            serde_json::from_str(r#"{"tags":{"add":["new"]},"timezone":"Mars/Base"}"#).unwrap();
        assert_eq!(
            super::patch(&store, &id("1"), &patch, now())
                .unwrap_err()
                .code(),
            "invalid_timezone"
        );
        assert!(get(&store, &id("1")).unwrap().tags.is_empty());
        let patch: SubscriberPatch =
            serde_json::from_str(r#"{"tags":["a","b"],"attributes":{"city":null,"tier":"gold"},"locale":"pt_br","timezone":"Europe/Lisbon"}"#).unwrap();
        let s = super::patch(&store, &id("1"), &patch, now()).unwrap();
        assert_eq!(s.tags.len(), 2);
        assert_eq!(
            s.attributes.len(),
            2,
            "city removed, orders kept, tier added"
        );
        assert_eq!(s.locale.unwrap().as_str(), "pt-BR");
        assert!(
            serde_json::from_str::<SubscriberPatch>(r#"{"status":"subscribed"}"#).is_err(),
            "consent is not patchable"
        );
    }
}
