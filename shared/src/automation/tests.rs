//! The rule store: create, read, replace and delete, with the JSON error codes the API answers.

use chrono::{DateTime, Duration, Utc};
use serde_json::json;

use super::rules;
use super::NewRule;
use crate::kv::MemoryStore;
use crate::template::{self, NewTemplate};

fn now() -> DateTime<Utc> {
    "2026-11-01T10:00:00Z".parse().unwrap()
}

fn store_with_template() -> MemoryStore {
    let store = MemoryStore::new();
    let template: NewTemplate = serde_json::from_value(
        json!({"id": "shipped", "name": "Shipped", "locales": {"en": {"text": "Order {{ event.data.order }}"}}}),
    )
    .unwrap();
    template::create_template(&store, template, now()).unwrap();
    store
}

fn request(value: serde_json::Value) -> NewRule {
    serde_json::from_value(value).unwrap()
}

fn shipped() -> serde_json::Value {
    json!({"id": "order-shipped", "event": "order.shipped", "template_id": "shipped",
           "channels": ["telegram:shop"], "kind": "transactional"})
}

#[test]
fn rules_are_created_once_read_replaced_and_deleted() {
    let store = store_with_template();
    let created = rules::create(&store, request(shipped()), now()).unwrap();
    assert_eq!(created.stats_id.as_str(), "r--order-shipped");
    assert_eq!(
        rules::create(&store, request(shipped()), now())
            .unwrap_err()
            .code(),
        "rule_exists"
    );
    let mut changed = shipped();
    changed["enabled"] = json!(false);
    changed["timing"] = json!({"after": "2h"});
    let later = now() + Duration::hours(1);
    let replaced = rules::replace(&store, "order-shipped", request(changed), later).unwrap();
    assert!(!replaced.enabled);
    assert_eq!(replaced.created_at, now(), "the creation time is kept");
    assert_eq!(replaced.updated_at, later);
    assert_eq!(rules::get(&store, "order-shipped").unwrap(), replaced);
    assert_eq!(rules::all(&store).unwrap().len(), 1);
    rules::delete(&store, "order-shipped").unwrap();
    assert_eq!(
        rules::get(&store, "order-shipped").unwrap_err().status(),
        404
    );
    assert_eq!(
        rules::delete(&store, "order-shipped").unwrap_err().status(),
        404
    );
}

#[test]
fn a_rule_needs_an_id_a_known_template_and_a_matching_path() {
    let store = store_with_template();
    let mut without_id = shipped();
    without_id.as_object_mut().unwrap().remove("id");
    assert_eq!(
        rules::create(&store, request(without_id), now())
            .unwrap_err()
            .code(),
        "invalid_rule_id"
    );
    let mut unknown_template = shipped();
    unknown_template["template_id"] = json!("nope");
    assert_eq!(
        rules::create(&store, request(unknown_template), now())
            .unwrap_err()
            .code(),
        "template_not_found"
    );
    rules::create(&store, request(shipped()), now()).unwrap();
    assert_eq!(
        rules::replace(&store, "other", request(shipped()), now())
            .unwrap_err()
            .code(),
        "invalid_rule_id"
    );
    let mut no_id = shipped();
    no_id.as_object_mut().unwrap().remove("id");
    assert_eq!(
        rules::replace(&store, "missing", request(no_id), now())
            .unwrap_err()
            .status(),
        404
    );
}
