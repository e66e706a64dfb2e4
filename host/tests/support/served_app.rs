//! What the host's integration tests need to serve the workspace's real components and talk to
//! them: where the built components are, a raw HTTP/1.1 client, and scratch config files.
//!
//! Included with `#[path]` by `tests/start.rs` and `tests/redis_store.rs`, so not every item is
//! used by each.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use spinpost_host::HostConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The workspace root (its `spin.toml` names the components).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("host/ is inside the workspace")
        .to_path_buf()
}

/// Whether every component of the workspace's `spin.toml` is built; says how to build them when
/// not, so a test that needs them can skip with a note instead of failing.
pub fn components_built() -> bool {
    let root = workspace_root();
    let manifest =
        spinpost_host::manifest::Manifest::load(&root.join("spin.toml")).expect("spin.toml");
    let built = manifest.component.keys().all(|id| {
        manifest
            .source_path(&root, id)
            .is_some_and(|wasm| wasm.exists())
    });
    if !built {
        eprintln!(
            "skipped: build the components first (cargo build --target wasm32-wasip2 --release)"
        );
    }
    built
}

/// A response as read off the wire.
pub struct RawResponse {
    /// The status code.
    pub status: u16,
    /// The status line and headers, lower-cased.
    pub head: String,
    /// The body text.
    pub body: String,
}

/// One HTTP/1.1 request over a fresh connection.
pub async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> RawResponse {
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (name, value) in headers {
        req.push_str(&format!("{name}: {value}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
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
    RawResponse {
        status,
        head: head.to_ascii_lowercase(),
        body: body.to_owned(),
    }
}

/// Writes `contents` to `dir/name` and returns the path.
pub fn write_file(dir: &Path, name: &str, contents: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, contents).expect("write a test config file");
    path
}

/// A config for the manifest at `manifest_path`, listening on a free loopback port.
pub fn on_a_free_port(manifest_path: impl Into<PathBuf>) -> HostConfig {
    let mut config = HostConfig::new(manifest_path);
    config.listen_addr = "127.0.0.1:0".parse().expect("addr");
    config
}
