//! A shiftable wall clock for tests: the components read the real time plus an offset the test moves
//! (to "tomorrow 09:59 in Tokyo", or an hour on), so time-dependent behaviour is tested on the real
//! `.wasm` without waiting. Monotonic time (sleeps, timeouts) is untouched.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use wasmtime_wasi::HostWallClock;

/// A wall clock showing the real time shifted by an offset shared by every clone: moving one moves
/// the time every component instance sees from its next read on.
#[derive(Debug, Clone, Default)]
pub struct TestClock {
    offset_micros: Arc<AtomicI64>,
}

impl TestClock {
    /// A clock showing the real time until it is moved.
    pub fn new() -> Self {
        Self::default()
    }

    /// The time the components see now.
    pub fn now(&self) -> SystemTime {
        shift(SystemTime::now(), self.offset_micros.load(Ordering::SeqCst))
    }

    /// Show `at` now (and let time run on from there).
    pub fn set(&self, at: SystemTime) {
        let real = micros_since_epoch(SystemTime::now());
        self.offset_micros
            .store(micros_since_epoch(at) - real, Ordering::SeqCst);
    }

    /// Move the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        let micros = i64::try_from(by.as_micros()).unwrap_or(i64::MAX);
        self.offset_micros.fetch_add(micros, Ordering::SeqCst);
    }

    /// Back to the real time.
    pub fn reset(&self) {
        self.offset_micros.store(0, Ordering::SeqCst);
    }
}

impl HostWallClock for TestClock {
    fn resolution(&self) -> Duration {
        Duration::from_micros(1)
    }

    fn now(&self) -> Duration {
        self.now().duration_since(UNIX_EPOCH).unwrap_or_default()
    }
}

fn micros_since_epoch(at: SystemTime) -> i64 {
    match at.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_micros()).unwrap_or(i64::MAX),
        Err(before) => -i64::try_from(before.duration().as_micros()).unwrap_or(i64::MAX),
    }
}

fn shift(at: SystemTime, micros: i64) -> SystemTime {
    let by = Duration::from_micros(micros.unsigned_abs());
    if micros >= 0 {
        at + by
    } else {
        at - by
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: SystemTime, b: SystemTime) -> bool {
        let gap = a.duration_since(b).or_else(|e| Ok::<_, ()>(e.duration()));
        gap.is_ok_and(|g| g < Duration::from_secs(5))
    }

    #[test]
    fn the_clock_is_set_advanced_and_shared_by_its_clones() {
        let clock = TestClock::new();
        assert!(close(clock.now(), SystemTime::now()));
        let seen_by_components = clock.clone();
        let tomorrow = SystemTime::now() + Duration::from_secs(86_400);
        clock.set(tomorrow);
        assert!(close(seen_by_components.now(), tomorrow));
        clock.advance(Duration::from_secs(3600));
        assert!(close(
            seen_by_components.now(),
            tomorrow + Duration::from_secs(3600)
        ));
        let past = UNIX_EPOCH + Duration::from_secs(1_000_000_000);
        clock.set(past);
        assert!(close(
            UNIX_EPOCH + HostWallClock::now(&seen_by_components),
            past
        ));
        clock.reset();
        assert!(close(clock.now(), SystemTime::now()));
    }
}
