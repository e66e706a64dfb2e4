//! Start-up and serving tests for the library API. The ones that need the real components
//! skip (with a note) when `target/wasm32-wasip2/release/*.wasm` has not been built.

#[path = "support/served_app.rs"]
mod served_app;

use std::path::PathBuf;

use served_app::{components_built, on_a_free_port, request, workspace_root, write_file};
use spinpost_host::HostConfig;

/// One component, `c`, whose `.wasm` file does not exist, and a required secret.
const MANIFEST_WITH_A_MISSING_COMPONENT_FILE: &str = r#"
spin_manifest_version = 2
[variables]
admin_token = { required = true, secret = true }
[[trigger.http]]
route = "/..."
component = "c"
[component.c]
source = "missing.wasm"
"#;

/// Starts on that manifest followed by `more_manifest`, with `variables`; the start-up error.
async fn start_up_error(more_manifest: &str, variables: &[(&str, &str)]) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let manifest = write_file(
        dir.path(),
        "spin.toml",
        &format!("{MANIFEST_WITH_A_MISSING_COMPONENT_FILE}{more_manifest}"),
    );
    let mut config = on_a_free_port(manifest);
    for (name, value) in variables {
        config
            .variables_env
            .insert((*name).to_owned(), (*value).to_owned());
    }
    let err = spinpost_host::start(config).await.expect_err("must fail");
    format!("{err:#}")
}

#[tokio::test]
async fn a_missing_required_variable_names_it_and_its_env_key() {
    let message = start_up_error(
        "[component.c.variables]\nadmin_token = \"{{ admin_token }}\"\n",
        &[],
    )
    .await;
    assert_eq!(
        message,
        "missing required variable 'admin_token': set SPIN_VARIABLE_ADMIN_TOKEN"
    );
}

#[tokio::test]
async fn a_missing_component_file_is_reported() {
    let message = start_up_error("", &[("SPIN_VARIABLE_ADMIN_TOKEN", "x")]).await;
    assert!(message.contains("component 'c'"), "{message}");
    assert!(message.contains("missing.wasm"), "{message}");
}

#[tokio::test(flavor = "multi_thread")]
async fn serves_the_real_components_and_restarts_on_the_same_state_dir() {
    if !components_built() {
        return;
    }
    let state = tempfile::tempdir().expect("tempdir");
    let compiled = tempfile::tempdir().expect("tempdir");
    let mut config = on_a_free_port(workspace_root().join("spin.toml"));
    config.state_dir = state.path().to_path_buf();
    config.compile_cache = Some(compiled.path().to_path_buf());
    config
        .variables_env
        .insert("admin_token".into(), "a".into());
    config.variables_env.insert("tick_token".into(), "t".into());

    let host = spinpost_host::start(config.clone()).await.expect("start");
    let addr = host.local_addr();
    assert_ne!(addr.port(), 0);
    // Each component is kept compiled on disk for the next process.
    let entries = std::fs::read_dir(compiled.path())
        .expect("compile cache dir")
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "cwasm"))
        })
        .count();
    let manifest = spinpost_host::manifest::Manifest::load(&workspace_root().join("spin.toml"))
        .expect("manifest");
    assert_eq!(entries, manifest.component.len());

    let response = request(addr, "GET", "/nothing/here", &[], "").await;
    assert_eq!(response.status, 404);
    let head = &response.head;
    assert!(head.contains("content-type: application/json"), "{head}");
    assert_eq!(
        response.body,
        r#"{"error":{"code":"not_found","message":"no route matches /nothing/here"}}"#
    );
    // The feedback component's private trigger has no public route.
    let events = request(addr, "POST", "/events", &[], "").await;
    assert_eq!(events.status, 404);
    let body = &events.body;
    assert!(body.contains("no route matches /events"), "{body}");
    // A public route reaches its component (whatever it answers, it is not the host's 404).
    let body = request(addr, "GET", "/api/v1/subscribers", &[], "")
        .await
        .body;
    assert!(!body.contains("no route matches"), "{body}");

    host.shutdown().await;
    assert!(state.path().join("sqlite_key_value.db").exists());

    // Same state dir, same process: starts again (compiled components are reused).
    let host = spinpost_host::start(config).await.expect("restart");
    let response = request(host.local_addr(), "GET", "/nothing", &[], "").await;
    assert_eq!(response.status, 404);
    drop(host);
}

#[test]
fn config_debug_does_not_show_variable_values() {
    let mut config = HostConfig::new("spin.toml");
    config
        .variables_env
        .insert("admin_token".into(), "very-secret-value".into());
    let shown = format!("{config:?}");
    assert!(shown.contains("admin_token"), "{shown}");
    assert!(!shown.contains("very-secret-value"), "{shown}");
    assert_eq!(config.state_dir, PathBuf::from(".spin"));
}
