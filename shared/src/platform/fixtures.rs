//! The platforms' own payloads (tests/fixtures/), for the parsers' unit tests.

use serde_json::Value;

fn load(name: &str) -> Value {
    let path = format!(
        "{}/../tests/fixtures/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_slice(&std::fs::read(&path).expect("fixture exists")).expect("fixture is JSON")
}

/// The verbatim body of a fixture, e.g. `telegram/update_start_command`.
pub(crate) fn raw(name: &str) -> Vec<u8> {
    load(name)["payload_raw"]
        .as_str()
        .expect("fixture has payload_raw")
        .as_bytes()
        .to_vec()
}

/// The parsed payload of a fixture, to adapt.
pub(crate) fn payload(name: &str) -> Value {
    load(name)["payload"].clone()
}

/// An API response fixture: its HTTP status (200 when the source gives none) and verbatim body.
pub(crate) fn response(name: &str) -> (u16, Vec<u8>) {
    let status = load(name)["_source"]["http_status"]
        .as_u64()
        .and_then(|s| u16::try_from(s).ok())
        .unwrap_or(200);
    (status, raw(name))
}
