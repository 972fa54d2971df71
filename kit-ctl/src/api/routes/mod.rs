//! The API's handlers, one module per resource.

pub mod daemons;
pub mod events;
pub mod executions;
pub mod info;
pub mod task_body;
pub mod tasks;
