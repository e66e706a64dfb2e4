//! What the benchmarks share: counting Redis commands, and running callers against a route for a while.

use std::io::{Read, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The number in environment variable `name`, or `default`.
pub fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|raw| raw.trim().parse().ok())
        .unwrap_or(default)
}

/// Run a benchmark's body on a multi-threaded runtime.
pub fn block_on<F: std::future::Future>(body: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
        .block_on(body)
}

/// Every command Redis has run so far (`INFO commandstats`, the sum of `calls=`), minus the INFOs.
pub fn redis_calls(url: &str) -> u64 {
    let address = url.trim_start_matches("redis://");
    let stream = std::net::TcpStream::connect(address).expect("connect to Redis");
    (&stream)
        .write_all(b"INFO commandstats\r\n")
        .expect("ask Redis");
    // A bulk reply: `$<length>\r\n<text>\r\n`.
    let mut reader = std::io::BufReader::new(&stream);
    let mut header = String::new();
    std::io::BufRead::read_line(&mut reader, &mut header).expect("read the reply");
    let length: usize = header
        .trim()
        .trim_start_matches('$')
        .parse()
        .expect("a bulk reply");
    let mut text = vec![0u8; length];
    reader.read_exact(&mut text).expect("read the reply");
    String::from_utf8_lossy(&text)
        .lines()
        .filter(|line| line.starts_with("cmdstat_") && !line.starts_with("cmdstat_info:"))
        .filter_map(|line| line.split("calls=").nth(1))
        .filter_map(|rest| rest.split(',').next())
        .filter_map(|calls| calls.parse::<u64>().ok())
        .sum()
}

/// Requests a second `callers` callers complete for `duration`; every request must succeed.
pub async fn run_for<F, Fut>(duration: Duration, callers: u64, request: F) -> f64
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let done = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let until = started + duration;
    let workers: Vec<_> = (0..callers)
        .map(|_| {
            let (request, done) = (request.clone(), Arc::clone(&done));
            tokio::spawn(async move {
                while Instant::now() < until {
                    assert!(request().await, "a request failed");
                    done.fetch_add(1, Ordering::SeqCst);
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await.expect("caller finishes");
    }
    done.load(Ordering::SeqCst) as f64 / started.elapsed().as_secs_f64()
}
