//! `kit-run --execution ID NAME`: start exactly that queued triggered run,
//! or nothing. Before it starts, the run waits its turn, as its owner: for
//! the debounce's quiet period (re-reading the newest trigger each time),
//! then for the run in progress to end (`overlap = skip`). Waiting instead
//! of skipping is what makes a burst coalesce into one follow-up run.

use crate::overlap::{self, TaskLock};
use crate::task_run::{stopping, Options};
use kit_db::exec::Recorder;
use kit_db::task::{Overlap, Task};
use kit_db::triggers::pending::{self, Take};
use kit_db::{clock, Store};
use std::time::Duration;

/// What to do after waiting.
pub enum Turn {
    /// Go ahead; the lock (overlap = skip) is held.
    Run(Option<TaskLock>),
    /// Not this kit-run's to start (gone, owned by a live kit-run, or left
    /// for the kit-tick at the debounce deadline on an injected clock).
    Leave,
}

/// Waits until the run may start. `now` is the run's clock (injected or not).
pub fn wait_turn(
    store: &Store,
    task: &Task,
    id: i64,
    opts: &Options,
    now: clock::Instant,
) -> anyhow::Result<Turn> {
    let who = Recorder::this_process();
    match store.write(|tx| pending::take(tx, id, &who))? {
        Take::Taken(_) => {}
        Take::Gone | Take::Owned(_) => return Ok(Turn::Leave),
    }
    let injected = clock::is_injected(opts.now_flag.as_deref());
    let debounce = task.debounce.map(|d| d.0);
    loop {
        let Some(due) = pending::deadline(&store.conn, id, debounce)? else {
            break;
        };
        let now = if injected { now } else { chrono::Utc::now() };
        if now >= due {
            break;
        }
        if injected || stopping() {
            // An injected clock does not move while we sleep: the kit-tick
            // that runs at (or after) the deadline starts the row.
            store.write(|tx| pending::release(tx, id, &who))?;
            return Ok(Turn::Leave);
        }
        let left = (due - now).to_std().unwrap_or_default();
        std::thread::sleep(left.min(Duration::from_millis(200)));
    }
    if task.overlap() != Overlap::Skip {
        return Ok(Turn::Run(None));
    }
    // The run in progress (and whatever else holds the lock) goes first.
    let mut pause = Duration::from_millis(1);
    loop {
        if let Some(l) = overlap::try_lock(store.path(), &task.name)? {
            return Ok(Turn::Run(Some(l)));
        }
        if stopping() {
            store.write(|tx| pending::release(tx, id, &who))?;
            return Ok(Turn::Leave);
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(20));
    }
}
