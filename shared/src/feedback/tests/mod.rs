//! Scenario tests of the feedback intake, statistics and export over the in-memory store, one file per
//! behaviour. Every test runs in a [`world::World`]: the store plus what the dispatcher leaves behind.

mod world;

mod arms;
mod concurrency;
mod convergence;
mod erasure;
mod exports;
mod intake;
mod quick_replies;
mod ratings;
mod receipts;
mod replies;
mod stats;
mod status_batches;
mod watermarks;
