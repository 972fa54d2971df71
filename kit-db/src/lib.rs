//! kit-db: the store every kit tool shares.
//!
//! One SQLite file holds all state (tasks, executions, events, heartbeats).
//! This crate owns its schema and migrations, the task model and its single
//! validator, schedule evaluation, and the process helpers that kit-run and
//! kit-keep both need. Each `kit-*` binary is a thin main over this library
//! plus its own logic module.

pub mod adapt;
pub mod cli;
pub mod clock;
pub mod clock_jump;
pub mod daemon;
pub mod dbtool;
pub mod error;
pub mod events;
pub mod exec;
pub mod fire;
pub mod gap;
pub mod launch;
pub mod outbox;
pub mod overdue;
pub mod paths;
pub mod platform;
pub mod probe;
pub mod process;
pub mod recovery;
pub mod runenv;
pub mod schedule;
pub mod settings;
pub mod sleep_clock;
pub mod state;
pub mod store;
pub mod task;
pub mod tickfail;
pub mod triggers;
pub mod units;
pub mod watch;

pub use error::{Error, Result};
pub use store::Store;
