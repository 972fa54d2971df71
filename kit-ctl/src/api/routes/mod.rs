//! The API's handlers, one module per resource.

pub mod daemons;
pub mod events;
pub mod executions;
pub mod info;
pub mod pace;
pub mod task_body;
pub mod tasks;
pub mod triggers;

/// One page of a list read with one row more than `limit` (that extra row
/// tells whether there is a next page): the rows to send, and the
/// `next_before_id` cursor (the last row's id) when more follow.
pub fn page<T>(mut rows: Vec<T>, limit: i64, id: impl Fn(&T) -> i64) -> (Vec<T>, Option<i64>) {
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let next = if more { rows.last().map(id) } else { None };
    (rows, next)
}
