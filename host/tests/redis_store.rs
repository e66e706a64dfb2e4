//! The real components on a Redis key-value store, configured as for `spin up` with a runtime
//! config file. Skips (with a note) when the components are not built, or when `redis-server` is
//! not installed outside CI (in CI, with `CI` set, a missing `redis-server` fails).

#[path = "support/redis_server.rs"]
mod redis_server;

use std::path::{Path, PathBuf};
use std::process::Command;

use redis_server::RedisServer;
use spinpost_host::HostConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const ADMIN_TOKEN: &str = "admin-secret";
const START_UPDATE: &str = r#"{"update_id":1,"message":{"message_id":1,"date":1441645532,"chat":{"id":1111111,"type":"private","first_name":"A"},"text":"/start"}}"#;

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

/// One HTTP/1.1 request over a fresh connection; returns status and body text.
async fn request(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String) {
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
    (status, body.to_owned())
}

fn host_config(state_dir: &Path, runtime_config: &Path) -> HostConfig {
    let mut config = HostConfig::new(workspace_root().join("spin.toml"));
    config.listen_addr = "127.0.0.1:0".parse().expect("addr");
    config.state_dir = state_dir.to_path_buf();
    config.runtime_config = Some(runtime_config.to_path_buf());
    for (name, value) in [
        ("admin_token", ADMIN_TOKEN),
        ("tick_token", "tick-secret"),
        (
            "telegram_bots",
            r#"{"shop":{"token":"1:x","webhook_secret":"s"}}"#,
        ),
    ] {
        config.variables_env.insert(name.into(), value.into());
    }
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_written_by_a_component_lives_in_redis_across_host_restarts() {
    if !components_built() {
        eprintln!(
            "skipped: build the components first (cargo build --target wasm32-wasip2 --release)"
        );
        return;
    }
    let Some(redis) = RedisServer::start_or_skip() else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let runtime_config = dir.path().join("runtime-config.toml");
    std::fs::write(
        &runtime_config,
        format!(
            "[key_value_store.default]\ntype = \"redis\"\nurl = \"{}\"\n",
            redis.url()
        ),
    )
    .expect("write runtime config");
    let (state_a, state_b) = (dir.path().join("state-a"), dir.path().join("state-b"));

    let host = spinpost_host::start(host_config(&state_a, &runtime_config))
        .await
        .expect("start");
    let (status, body) = request(
        host.local_addr(),
        "POST",
        "/webhooks/telegram/shop",
        &[
            ("content-type", "application/json"),
            ("x-telegram-bot-api-secret-token", "s"),
        ],
        START_UPDATE,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    host.shutdown().await;

    // The component's write went to Redis, under its own key (Spin adds no label prefix).
    let mut conn = redis::Client::open(redis.url())
        .expect("client")
        .get_multiplexed_async_connection()
        .await
        .expect("connect to redis");
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("*")
        .query_async(&mut conn)
        .await
        .expect("KEYS");
    assert!(
        keys.iter().any(|k| k.contains("telegram:shop:1111111")),
        "no subscriber key in Redis: {keys:?}"
    );
    assert!(
        !state_a.join("sqlite_key_value.db").exists(),
        "the default store must not be SQLite"
    );

    // A new host with an empty state dir reads the subscriber back from Redis.
    let host = spinpost_host::start(host_config(&state_b, &runtime_config))
        .await
        .expect("restart");
    let bearer = format!("Bearer {ADMIN_TOKEN}");
    let (status, body) = request(
        host.local_addr(),
        "GET",
        "/api/v1/subscribers/telegram:shop:1111111",
        &[("authorization", &bearer)],
        "",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("1111111"), "{body}");
    host.shutdown().await;
    assert!(!state_b.join("sqlite_key_value.db").exists());
}

#[tokio::test]
async fn an_unreachable_redis_stops_start_up_with_its_address() {
    let dir = tempfile::tempdir().expect("tempdir");
    let runtime_config = dir.path().join("runtime-config.toml");
    std::fs::write(
        &runtime_config,
        "[key_value_store.default]\ntype = \"redis\"\nurl = \"redis://127.0.0.1:1\"\n",
    )
    .expect("write");
    let err = spinpost_host::start(host_config(dir.path(), &runtime_config))
        .await
        .expect_err("must fail");
    let message = format!("{err:#}");
    assert!(message.contains("key-value store 'default'"), "{message}");
    assert!(message.contains("127.0.0.1:1"), "{message}");
}

#[test]
fn the_cli_takes_the_runtime_config_file_flag() {
    let dir = tempfile::tempdir().expect("tempdir");
    let runtime_config = dir.path().join("runtime-config.toml");
    std::fs::write(
        &runtime_config,
        "[key_value_store.default]\ntype = \"azure_cosmos\"\n",
    )
    .expect("write");
    let output = Command::new(env!("CARGO_BIN_EXE_spinpost-host"))
        .arg("--manifest")
        .arg(workspace_root().join("spin.toml"))
        .arg("--runtime-config-file")
        .arg(&runtime_config)
        .args(["--listen", "127.0.0.1:0"])
        .output()
        .expect("run spinpost-host");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("runtime-config.toml"), "{stderr}");
    assert!(stderr.contains("not by spinpost-host"), "{stderr}");
}
