//! Daemons (`@daemon` tasks) as kit-keep runs them, shared with the tools
//! that look at them or ask for something:
//!
//! - [`state`]: `supervisor_daemons`, one row per daemon kit-keep manages
//!   (what it wants, what it is doing, pid + start time for adoption). kit-keep
//!   writes it; `kit-ctl status`, the API and kit-heal read it with
//!   [`state::list`] / [`state::get`].
//! - [`requests`]: `supervisor_requests`, how other tools ask kit-keep to
//!   `restart`, `stop` or `start` a daemon: [`request`] queues one, kit-keep
//!   acts on it within a second and writes `done_at` and `result`;
//!   [`requests::wait_done`] waits for that answer.
//! - [`logs`]: where a daemon's output goes (`$KIT_HOME/logs/NAME.log` and
//!   its rotated predecessors `NAME.log.1` … `NAME.log.N-1`, oldest last).

pub mod logs;
pub mod requests;
pub mod state;

pub use requests::{request, Action, Request};
pub use state::DaemonState;
