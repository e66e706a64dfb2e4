//! The sender driven end to end in memory, one file per behaviour. Every test runs in a [`world::World`]:
//! a store that can crash, a manual clock (sleeps are instant), a platform that records every send and
//! answers 429, 403, 5xx or 400 on demand, and a fake renderer.

pub(crate) mod crash_store;
mod fake_messenger;
mod fake_renderer;
mod world;

mod ab_test;
mod budget;
mod cancel_pause;
mod concurrency;
mod consent;
mod crash_recovery;
mod deletion;
mod editing;
mod estimate;
mod events;
mod exactly_once;
mod failures;
mod frequency_caps;
mod local_time;
mod pacing;
mod progress;
mod quiet_hours;
mod recurring;
mod references;
mod retries;
mod scheduling;
mod segments;
