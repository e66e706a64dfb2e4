//! The real components on a Redis key-value store, configured as for `spin up` with a runtime
//! config file. Skips (with a note) when the components are not built, or when `redis-server` is
//! not installed outside CI (in CI, with `CI` set, a missing `redis-server` fails).

#[path = "support/redis_server.rs"]
mod redis_server;

#[path = "support/served_app.rs"]
mod served_app;

use std::path::{Path, PathBuf};
use std::process::Command;

use redis_server::RedisServer;
use served_app::{components_built, on_a_free_port, request, workspace_root, write_file};
use spinpost_host::HostConfig;

const ADMIN_TOKEN: &str = "admin-secret";
const START_UPDATE: &str = r#"{"update_id":1,"message":{"message_id":1,"date":1441645532,"chat":{"id":1111111,"type":"private","first_name":"A"},"text":"/start"}}"#;

/// A runtime config file in `dir` whose `default` store is the Redis at `url`.
fn default_store_on_redis(dir: &Path, url: &str) -> PathBuf {
    default_store_of_type(dir, &format!("type = \"redis\"\nurl = \"{url}\"\n"))
}

/// A runtime config file in `dir` whose `default` store is described by `settings`.
fn default_store_of_type(dir: &Path, settings: &str) -> PathBuf {
    let contents = format!("[key_value_store.default]\n{settings}");
    write_file(dir, "runtime-config.toml", &contents)
}

fn host_config(state_dir: &Path, runtime_config: &Path) -> HostConfig {
    let mut config = on_a_free_port(workspace_root().join("spin.toml"));
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
        return;
    }
    let Some(redis) = RedisServer::start_or_skip() else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let runtime_config = default_store_on_redis(dir.path(), &redis.url());
    let (state_a, state_b) = (dir.path().join("state-a"), dir.path().join("state-b"));

    let host = spinpost_host::start(host_config(&state_a, &runtime_config))
        .await
        .expect("start");
    let response = request(
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
    assert_eq!(response.status, 200, "{}", response.body);
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
    let response = request(
        host.local_addr(),
        "GET",
        "/api/v1/subscribers/telegram:shop:1111111",
        &[("authorization", &bearer)],
        "",
    )
    .await;
    let body = &response.body;
    assert_eq!(response.status, 200, "{body}");
    assert!(body.contains("1111111"), "{body}");
    host.shutdown().await;
    assert!(!state_b.join("sqlite_key_value.db").exists());
}

#[tokio::test]
async fn an_unreachable_redis_stops_start_up_with_its_address() {
    let dir = tempfile::tempdir().expect("tempdir");
    let runtime_config = default_store_on_redis(dir.path(), "redis://127.0.0.1:1");
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
    let runtime_config = default_store_of_type(dir.path(), "type = \"azure_cosmos\"\n");
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
