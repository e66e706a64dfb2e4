//! Start-up time of the host process on the four real components, from spawning it to its first
//! answer (`GET /health` answered 200: listener bound, components ready, the store read): cold,
//! with an empty compile cache (every component compiled by Cranelift), and warm, with the
//! compiled components already on disk.
//! Medians of a few rounds, and warm as a fraction of cold (ratios travel better than seconds
//! on noisy machines).
//!
//! ```sh
//! cargo build --target wasm32-wasip2 --release        # the components
//! cargo bench -p spinpost-host --bench start          # the host as released
//! cargo bench -p spinpost-host --bench start --profile dev   # as `cargo run` starts it
//! START_BENCH_ROUNDS=5 cargo bench -p spinpost-host --bench start
//! ```

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn main() {
    let rounds = match std::env::var("START_BENCH_ROUNDS").map(|v| v.parse::<usize>()) {
        Ok(Ok(n)) if n > 0 => n,
        _ => 3,
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("host/ is inside the workspace")
        .to_path_buf();
    let manifest = root.join("spin.toml");
    let app = spinpost_host::manifest::Manifest::load(&manifest).expect("spin.toml");
    let missing: Vec<_> = app
        .component
        .keys()
        .filter(|id| !app.source_path(&root, id).is_some_and(|wasm| wasm.exists()))
        .collect();
    if !missing.is_empty() {
        eprintln!("skipped: build the components first (cargo build --target wasm32-wasip2 --release); missing {missing:?}");
        return;
    }

    let mut cold = Vec::new();
    let mut warm = Vec::new();
    for _ in 0..rounds {
        let cache = tempfile::tempdir().expect("tempdir");
        cold.push(time_to_first_answer(&manifest, cache.path()));
        for _ in 0..2 {
            warm.push(time_to_first_answer(&manifest, cache.path()));
        }
    }
    let (cold, warm) = (median(cold), median(warm));
    println!(
        "host start-up to the first answer of GET /health, {rounds} cold and {} warm starts:",
        2 * rounds
    );
    println!(
        "  cold (compile cache empty):    {:>8.3} s",
        cold.as_secs_f64()
    );
    println!(
        "  warm (components on disk):     {:>8.3} s",
        warm.as_secs_f64()
    );
    println!(
        "  warm / cold:                   {:>8.3}",
        warm.as_secs_f64() / cold.as_secs_f64()
    );
}

/// Spawns the host with `cache` as its compile cache and a fresh state dir; the time until it
/// answers `GET /health` with 200. The host is killed afterwards.
fn time_to_first_answer(manifest: &Path, cache: &Path) -> Duration {
    let state = tempfile::tempdir().expect("tempdir");
    let started = Instant::now();
    let mut host = Command::new(env!("CARGO_BIN_EXE_spinpost-host"))
        .arg("--manifest")
        .arg(manifest)
        .args(["--listen", "127.0.0.1:0"])
        .arg("--state-dir")
        .arg(state.path())
        .arg("--cache-dir")
        .arg(cache)
        .env("SPIN_VARIABLE_ADMIN_TOKEN", "bench")
        .env("SPIN_VARIABLE_TICK_TOKEN", "bench")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn spinpost-host");
    let mut stderr = BufReader::new(host.stderr.take().expect("piped stderr")).lines();
    let mut seen = Vec::<String>::new();
    let mut address = None;
    for line in stderr.by_ref() {
        let Ok(line) = line else { break };
        // "spinpost-host: serving <app> on http://127.0.0.1:PORT (...)"
        if let Some(rest) = line.split(" on http://").nth(1) {
            address = rest.split_whitespace().next().map(str::to_owned);
            break;
        }
        seen.push(line);
    }
    let address = address.unwrap_or_else(|| panic!("the host did not start:\n{}", seen.join("\n")));
    // Keep reading: the host logs each request to stderr, and a closed pipe would fail its answer.
    std::thread::spawn(move || stderr.for_each(drop));
    let status = health_status(&address);
    let answered = started.elapsed();
    let _ = host.kill();
    let _ = host.wait();
    assert_eq!(status, "200", "GET /health on a fresh start");
    answered
}

/// The status code of one `GET /health` (HTTP/1.1, connection closed after the answer).
fn health_status(address: &str) -> String {
    let mut stream = TcpStream::connect(address).expect("connect to the host");
    write!(
        stream,
        "GET /health HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )
    .expect("send GET /health");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("read the answer");
    answer
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .to_owned()
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}
