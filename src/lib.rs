//! The `kit` root package exists to own the end-to-end tests in `tests/`,
//! which drive the real binaries of every tool. The tools themselves live in
//! the member crates (`kit-db`, `kit-tick`, `kit-run`, `kit-keep`,
//! `kit-heal`, `kit-ctl`).
pub use kit_db;
