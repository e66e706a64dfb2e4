//! The clock port: time comes from here so that schedules, windows and pacing are testable.

use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};

/// Where the core gets the current time, and how it waits.
pub trait Clock {
    /// The current time.
    fn now(&self) -> DateTime<Utc>;
    /// Block until `duration` has passed (pacing between sends).
    fn sleep(&self, duration: Duration);
}

/// The real clock: `std::time`, which WASI 0.2 provides through `wasi:clocks`.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    fn sleep(&self, duration: Duration) {
        if let Ok(d) = duration.to_std() {
            std::thread::sleep(d);
        }
    }
}

/// A clock for tests: time stands still until a test (or `sleep`) moves it.
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<DateTime<Utc>>,
}

impl ManualClock {
    /// A clock showing `start`.
    pub fn new(start: DateTime<Utc>) -> Self {
        ManualClock {
            now: Mutex::new(start),
        }
    }

    /// Move the clock forward.
    pub fn advance(&self, by: Duration) {
        let mut now = self.now.lock().unwrap_or_else(|p| p.into_inner());
        *now += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.now.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn sleep(&self, duration: Duration) {
        self.advance(duration.max(Duration::zero()));
    }
}
