//! kit-ctl's subcommands, one concept per module.

pub mod list;
pub mod next;
pub mod tasks;

use kit_db::cli::DbArg;
use kit_db::{clock, Store};

/// What every subcommand gets: where the DB is, the output mode, the clock.
pub struct Ctx {
    pub db: DbArg,
    pub json: bool,
    pub now: Option<String>,
}

impl Ctx {
    pub fn open(&self) -> anyhow::Result<Store> {
        Ok(self.db.open()?)
    }
    pub fn now(&self) -> anyhow::Result<clock::Instant> {
        Ok(clock::now(self.now.as_deref())?)
    }
}
