//! The API's contract (`openapi/openapi.json`, served at `/api/v1/openapi.json`) against the code:
//! every route the four components serve is documented with its method and guard and routed to its
//! component by spin.toml, every documented operation is served, and the document is OpenAPI 3.1 whose
//! references all resolve and whose 4xx answers all use the shared error shape.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;
use spinpost::clock::SystemClock;
use spinpost::kv::MemoryStore;
use spinpost::web::RouteEntry;

/// Routes served but deliberately outside the document, with the reason.
const UNDOCUMENTED: [(&str, &str); 3] = [
    (
        "/events",
        "private: reached only by local service chaining from the subscriptions component",
    ),
    (
        "/webhooks/{platform}",
        "platform webhooks follow each platform's own contract",
    ),
    (
        "/webhooks/{platform}/{account}",
        "platform webhooks follow each platform's own contract",
    ),
];

const HTTP_METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

fn document() -> Value {
    serde_json::from_str(templates::OPENAPI_DOCUMENT).expect("openapi/openapi.json is JSON")
}

/// Every route of every component, by component name as spin.toml names it.
fn route_tables() -> BTreeMap<&'static str, Vec<RouteEntry>> {
    BTreeMap::from([
        ("subscriptions", subscriptions::routes().table()),
        (
            "templates",
            templates::routes::<MemoryStore, SystemClock>().table(),
        ),
        ("dispatch", dispatch::routes().table()),
        ("feedback", feedback::routes().table()),
    ])
}

/// `/api/v1/subscribers/:id` → `/api/v1/subscribers/{id}`.
fn openapi_path(pattern: &str) -> String {
    pattern
        .split('/')
        .map(|segment| match segment.strip_prefix(':') {
            Some(name) => format!("{{{name}}}"),
            None => segment.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// The documented operations: (path, lower-case method) → operation.
fn documented_operations(document: &Value) -> BTreeMap<(String, String), Value> {
    let mut operations = BTreeMap::new();
    for (path, item) in document["paths"].as_object().expect("paths") {
        for (key, operation) in item.as_object().expect("path item") {
            if HTTP_METHODS.contains(&key.as_str()) {
                operations.insert((path.clone(), key.clone()), operation.clone());
            }
        }
    }
    operations
}

#[test]
fn every_served_route_is_documented_and_every_documented_route_is_served() {
    let document = document();
    let documented = documented_operations(&document);
    let undocumented: BTreeSet<&str> = UNDOCUMENTED.iter().map(|(path, _)| *path).collect();
    let mut served = BTreeSet::new();
    for route in route_tables().into_values().flatten() {
        let path = openapi_path(route.pattern);
        if !undocumented.contains(path.as_str()) {
            served.insert((path, route.method.as_str().to_ascii_lowercase()));
        }
    }
    let keys: BTreeSet<(String, String)> = documented.keys().cloned().collect();
    let missing: Vec<_> = served.difference(&keys).collect();
    let stale: Vec<_> = keys.difference(&served).collect();
    assert!(
        missing.is_empty() && stale.is_empty(),
        "served but not documented: {missing:?}; documented but not served: {stale:?}"
    );
}

#[test]
fn open_routes_are_documented_without_security_and_guarded_routes_with_a_bearer_scheme() {
    let document = document();
    let documented = documented_operations(&document);
    let default_security = &document["security"];
    for route in route_tables().into_values().flatten() {
        let key = (
            openapi_path(route.pattern),
            route.method.as_str().to_ascii_lowercase(),
        );
        let Some(operation) = documented.get(&key) else {
            continue;
        };
        let security = operation.get("security").unwrap_or(default_security);
        let requirements = security.as_array().expect("security is a list");
        assert_eq!(
            requirements.is_empty(),
            route.open,
            "{key:?}: open routes have `security: []`, guarded routes a bearer scheme"
        );
        for requirement in requirements {
            for scheme in requirement.as_object().expect("requirement").keys() {
                let scheme = &document["components"]["securitySchemes"][scheme];
                assert_eq!(
                    (scheme["type"].as_str(), scheme["scheme"].as_str()),
                    (Some("http"), Some("bearer")),
                    "{key:?}"
                );
            }
        }
    }
}

/// The component spin.toml sends `path` to: an exact route wins over a `/...` prefix, a longer prefix
/// over a shorter one (Spin's rule).
fn routed_component(triggers: &[(String, String)], path: &str) -> Option<String> {
    let mut best: Option<(usize, &String)> = None;
    for (route, component) in triggers {
        let rank = if route == path {
            usize::MAX
        } else if let Some(prefix) = route.strip_suffix("/...") {
            if path == prefix || path.starts_with(&format!("{prefix}/")) {
                prefix.len()
            } else {
                continue;
            }
        } else {
            continue;
        };
        if best.is_none_or(|(best_rank, _)| rank > best_rank) {
            best = Some((rank, component));
        }
    }
    best.map(|(_, component)| component.clone())
}

#[test]
fn spin_toml_routes_every_documented_path_to_the_component_that_serves_it() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../spin.toml"))
        .expect("spin.toml");
    let manifest: toml::Table = toml::from_str(&text).expect("spin.toml is TOML");
    let triggers: Vec<(String, String)> = manifest["trigger"]["http"]
        .as_array()
        .expect("[[trigger.http]]")
        .iter()
        .filter_map(|trigger| {
            Some((
                trigger["route"].as_str()?.to_owned(),
                trigger["component"].as_str()?.to_owned(),
            ))
        })
        .collect();
    let documented: BTreeSet<String> = documented_operations(&document())
        .into_keys()
        .map(|(path, _)| path)
        .collect();
    for (component, table) in route_tables() {
        for route in table {
            if !documented.contains(&openapi_path(route.pattern)) {
                continue;
            }
            let concrete = route
                .pattern
                .split('/')
                .map(|s| if s.starts_with(':') { "x" } else { s })
                .collect::<Vec<_>>()
                .join("/");
            assert_eq!(
                routed_component(&triggers, &concrete).as_deref(),
                Some(component),
                "spin.toml must route {} to {component}",
                route.pattern
            );
        }
    }
}

/// Resolve a local `$ref` (`#/components/schemas/Error`) in `document`.
fn resolve<'a>(document: &'a Value, reference: &str) -> Option<&'a Value> {
    document.pointer(reference.strip_prefix('#')?)
}

fn collect_refs(value: &Value, refs: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                match (key.as_str(), inner) {
                    ("$ref", Value::String(reference)) => refs.push(reference.clone()),
                    _ => collect_refs(inner, refs),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| collect_refs(item, refs)),
        _ => {}
    }
}

#[test]
fn the_document_is_openapi_3_1_and_every_reference_resolves() {
    let document = document();
    let version = document["openapi"].as_str().unwrap_or_default();
    assert!(version.starts_with("3.1."), "openapi: {version}");
    assert!(document["info"]["title"].is_string() && document["info"]["version"].is_string());
    let mut refs = Vec::new();
    collect_refs(&document, &mut refs);
    assert!(!refs.is_empty());
    let unresolved: Vec<&String> = refs
        .iter()
        .filter(|reference| resolve(&document, reference).is_none())
        .collect();
    assert!(unresolved.is_empty(), "unresolved $ref: {unresolved:?}");

    let mut operation_ids = BTreeSet::new();
    for ((path, method), operation) in documented_operations(&document) {
        let id = operation["operationId"].as_str().unwrap_or_default();
        assert!(
            operation_ids.insert(id.to_owned()),
            "{method} {path}: operationId '{id}' missing or repeated"
        );
        let declared: BTreeSet<String> = document["paths"][&path]["parameters"]
            .as_array()
            .into_iter()
            .chain(operation["parameters"].as_array())
            .flatten()
            .map(|p| match p.get("$ref").and_then(Value::as_str) {
                Some(reference) => resolve(&document, reference).cloned().unwrap_or_default(),
                None => p.clone(),
            })
            .filter(|p| p["in"] == "path")
            .filter_map(|p| p["name"].as_str().map(str::to_owned))
            .collect();
        let in_path: BTreeSet<String> = path
            .split('/')
            .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}').map(str::to_owned))
            .collect();
        assert_eq!(declared, in_path, "{method} {path}: path parameters");
        let responses = operation["responses"].as_object().expect("responses");
        assert!(
            responses.keys().any(|status| status.starts_with('2')),
            "{method} {path}: no success answer"
        );
        if operation.get("requestBody").is_some() {
            assert!(
                responses.contains_key("413"),
                "{method} {path}: a route with a body documents 413 for its limit"
            );
        }
        for (status, response) in responses {
            for (name, link) in response["links"].as_object().into_iter().flatten() {
                let target = link["operationId"].as_str().unwrap_or_default();
                assert!(
                    documented_operations(&document)
                        .values()
                        .any(|other| other["operationId"] == target),
                    "{method} {path}: link {name} names no operation"
                );
            }
            if !status.starts_with('4') && !status.starts_with('5') {
                continue;
            }
            let response = match response.get("$ref").and_then(Value::as_str) {
                Some(reference) => resolve(&document, reference).expect("resolved above"),
                None => response,
            };
            assert_eq!(
                response["content"]["application/json"]["schema"]["$ref"],
                "#/components/schemas/Error",
                "{method} {path}: {status} must answer with the shared error shape"
            );
        }
    }
}

#[test]
fn the_documented_body_limits_are_the_code_s() {
    let description = document()["info"]["description"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    for limit in [
        spinpost::web::DEFAULT_BODY_LIMIT,
        spinpost::web::MAX_BODY_LIMIT,
    ] {
        assert!(
            description.contains(&limit.to_string()),
            "info.description must state the body limit {limit}"
        );
    }
}
