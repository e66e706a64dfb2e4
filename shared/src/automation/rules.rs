//! The stored rules: one record holding them all, so an event reads every rule in one round trip.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::rule::{NewRule, Rule, RuleId};
use crate::error::{Error, Result};
use crate::keys;
use crate::kv::{self, KvStore};
use crate::template;

/// The most rules a deployment keeps.
pub const MAX_RULES: usize = 200;

/// Every rule by id.
pub type Rules = BTreeMap<String, Rule>;

/// Every rule.
///
/// # Errors
/// Store failures.
pub fn all<S: KvStore + ?Sized>(store: &S) -> Result<Rules> {
    Ok(kv::get_json(store, &keys::event_rules())?.unwrap_or_default())
}

/// One rule.
///
/// # Errors
/// 404 `not_found`; store failures.
pub fn get<S: KvStore + ?Sized>(store: &S, id: &str) -> Result<Rule> {
    all(store)?
        .remove(id)
        .ok_or_else(|| Error::not_found("rule", id))
}

/// Create a rule from `request` (its `id` is required).
///
/// # Errors
/// 400 for an invalid field (see [`NewRule::into_rule`]), 409 `rule_exists`, 422 `template_not_found`,
/// 422 `too_many_rules`; store failures.
pub fn create<S: KvStore + ?Sized>(
    store: &S,
    request: NewRule,
    now: DateTime<Utc>,
) -> Result<Rule> {
    let Some(id) = request.id.clone() else {
        return Err(Error::invalid(
            "invalid_rule_id",
            "id is required: 1-36 characters of a-z, 0-9, '_' or '-'",
        ));
    };
    let rule = request.into_rule(&id, now, now)?;
    require_template(store, &rule.template_id)?;
    kv::update_json(store, &keys::event_rules(), |current: Option<Rules>| {
        let mut rules = current.unwrap_or_default();
        if rules.contains_key(rule.id.as_str()) {
            return Err(Error::conflict(
                "rule_exists",
                format!(
                    "rule '{}' exists; PUT /api/v1/rules/{} replaces it",
                    rule.id, rule.id
                ),
            ));
        }
        if rules.len() >= MAX_RULES {
            return Err(Error::unprocessable(
                "too_many_rules",
                format!("a deployment keeps at most {MAX_RULES} rules; delete one first"),
            ));
        }
        rules.insert(rule.id.to_string(), rule.clone());
        Ok((Some(rules), ()))
    })?;
    Ok(rule)
}

/// Replace rule `id` with `request` (its creation time is kept).
///
/// # Errors
/// 404 `not_found`, 400 for an invalid field or an `id` other than the path's, 422
/// `template_not_found`; store failures.
pub fn replace<S: KvStore + ?Sized>(
    store: &S,
    id: &str,
    request: NewRule,
    now: DateTime<Utc>,
) -> Result<Rule> {
    if request.id.as_deref().is_some_and(|given| given != id) {
        return Err(Error::invalid(
            "invalid_rule_id",
            format!("the body's id must be the path's ('{id}') or absent"),
        ));
    }
    let id = RuleId::parse(id).map_err(|_| Error::not_found("rule", id))?;
    let candidate = request.into_rule(id.as_str(), now, now)?;
    require_template(store, &candidate.template_id)?;
    kv::update_json(store, &keys::event_rules(), |current: Option<Rules>| {
        let mut rules = current.unwrap_or_default();
        let Some(existing) = rules.get(id.as_str()) else {
            return Err(Error::not_found("rule", id.as_str()));
        };
        let rule = Rule {
            created_at: existing.created_at,
            ..candidate.clone()
        };
        rules.insert(id.to_string(), rule.clone());
        Ok((Some(rules), rule))
    })
}

/// Delete rule `id`. Messages it already queued still go out, counted under its statistics id.
///
/// # Errors
/// 404 `not_found`; store failures.
pub fn delete<S: KvStore + ?Sized>(store: &S, id: &str) -> Result<Rule> {
    kv::update_json(store, &keys::event_rules(), |current: Option<Rules>| {
        let mut rules = current.unwrap_or_default();
        let removed = rules
            .remove(id)
            .ok_or_else(|| Error::not_found("rule", id))?;
        Ok((Some(rules), removed))
    })
}

fn require_template<S: KvStore + ?Sized>(store: &S, template_id: &str) -> Result<()> {
    match template::load_head(store, template_id) {
        Ok(_) => Ok(()),
        Err(e) if e.status() == 404 => Err(Error::unprocessable(
            "template_not_found",
            format!("template '{template_id}' does not exist; create it first"),
        )),
        Err(e) => Err(e),
    }
}
