//! Tasks: the model, its validator, the TOML file format and the DB table.

pub mod adapt;
pub mod file;
pub mod model;
pub mod repo;
pub mod validate;
pub mod watch;
pub mod when;

pub use model::{After, CatchUp, Command, Escalate, On, Overlap, Recovery, Task};
pub use repo::{Change, TaskRow};
pub use validate::{validate, FieldError};
