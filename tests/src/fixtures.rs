//! Platform payloads copied from the platforms' documentation (tests/fixtures/).

use std::path::PathBuf;

fn path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(format!("{name}.json"))
}

/// The verbatim body of a fixture, e.g. `telegram/update_start_command`.
pub fn raw(name: &str) -> String {
    let file: serde_json::Value =
        serde_json::from_slice(&std::fs::read(path(name)).expect("fixture exists"))
            .expect("fixture is JSON");
    file["payload_raw"]
        .as_str()
        .expect("fixture has payload_raw")
        .to_owned()
}

/// The parsed payload of a fixture, to adapt (other ids, other texts).
pub fn payload(name: &str) -> serde_json::Value {
    let file: serde_json::Value =
        serde_json::from_slice(&std::fs::read(path(name)).expect("fixture exists"))
            .expect("fixture is JSON");
    file["payload"].clone()
}

/// The current Unix time in seconds, for the timestamps of adapted payloads.
pub fn unix_now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}
