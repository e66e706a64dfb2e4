//! Start-up and serving tests for the library API. The ones that need the real components
//! skip (with a note) when `target/wasm32-wasip2/release/*.wasm` has not been built.

use std::path::{Path, PathBuf};

use spinpost_host::HostConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("host/ is inside the workspace")
        .to_path_buf()
}

fn components_built() -> bool {
    ["subscriptions", "templates", "dispatch", "feedback"]
        .iter()
        .all(|c| {
            workspace_root()
                .join(format!("target/wasm32-wasip2/release/{c}.wasm"))
                .exists()
        })
}

/// One HTTP/1.1 request over a fresh connection; returns status, headers and body text.
async fn request(addr: std::net::SocketAddr, method: &str, path: &str) -> (u16, String, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(req.as_bytes()).await.expect("write");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.expect("read");
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").expect("a complete response");
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status code");
    (status, head.to_ascii_lowercase(), body.to_owned())
}

fn write_manifest(dir: &Path, body: &str) -> PathBuf {
    let path = dir.join("spin.toml");
    std::fs::write(&path, body).expect("write manifest");
    path
}

#[tokio::test]
async fn a_missing_required_variable_names_it_and_its_env_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let manifest = write_manifest(
        dir.path(),
        r#"
spin_manifest_version = 2
[variables]
admin_token = { required = true, secret = true }
[[trigger.http]]
route = "/..."
component = "c"
[component.c]
source = "missing.wasm"
[component.c.variables]
admin_token = "{{ admin_token }}"
"#,
    );
    let mut config = HostConfig::new(&manifest);
    config.listen_addr = "127.0.0.1:0".parse().expect("addr");
    let err = spinpost_host::start(config).await.expect_err("must fail");
    assert_eq!(
        format!("{err:#}"),
        "missing required variable 'admin_token': set SPIN_VARIABLE_ADMIN_TOKEN"
    );
}

#[tokio::test]
async fn a_missing_component_file_is_reported() {
    let dir = tempfile::tempdir().expect("tempdir");
    let manifest = write_manifest(
        dir.path(),
        r#"
spin_manifest_version = 2
[variables]
admin_token = { required = true, secret = true }
[[trigger.http]]
route = "/..."
component = "c"
[component.c]
source = "missing.wasm"
"#,
    );
    let mut config = HostConfig::new(&manifest);
    config.listen_addr = "127.0.0.1:0".parse().expect("addr");
    config
        .variables_env
        .insert("SPIN_VARIABLE_ADMIN_TOKEN".into(), "x".into());
    let err = spinpost_host::start(config).await.expect_err("must fail");
    let message = format!("{err:#}");
    assert!(message.contains("component 'c'"), "{message}");
    assert!(message.contains("missing.wasm"), "{message}");
}

#[tokio::test(flavor = "multi_thread")]
async fn serves_the_real_components_and_restarts_on_the_same_state_dir() {
    if !components_built() {
        eprintln!(
            "skipped: build the components first (cargo build --target wasm32-wasip2 --release)"
        );
        return;
    }
    let state = tempfile::tempdir().expect("tempdir");
    let mut config = HostConfig::new(workspace_root().join("spin.toml"));
    config.listen_addr = "127.0.0.1:0".parse().expect("addr");
    config.state_dir = state.path().to_path_buf();
    config
        .variables_env
        .insert("admin_token".into(), "a".into());
    config.variables_env.insert("tick_token".into(), "t".into());

    let host = spinpost_host::start(config.clone()).await.expect("start");
    let addr = host.local_addr();
    assert_ne!(addr.port(), 0);

    let (status, head, body) = request(addr, "GET", "/nothing/here").await;
    assert_eq!(status, 404);
    assert!(head.contains("content-type: application/json"), "{head}");
    assert_eq!(
        body,
        r#"{"error":{"code":"not_found","message":"no route matches /nothing/here"}}"#
    );
    // The feedback component's private trigger has no public route.
    let (status, _, body) = request(addr, "POST", "/events").await;
    assert_eq!(status, 404);
    assert!(body.contains("no route matches /events"), "{body}");
    // A public route reaches its component (whatever it answers, it is not the host's 404).
    let (_, _, body) = request(addr, "GET", "/api/v1/subscribers").await;
    assert!(!body.contains("no route matches"), "{body}");

    host.shutdown().await;
    assert!(state.path().join("sqlite_key_value.db").exists());

    // Same state dir, same process: starts again (compiled components are reused).
    let host = spinpost_host::start(config).await.expect("restart");
    let (status, _, _) = request(host.local_addr(), "GET", "/nothing").await;
    assert_eq!(status, 404);
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
