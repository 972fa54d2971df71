//! kit-heal (in progress).

pub fn run() -> anyhow::Result<i32> {
    anyhow::bail!("kit-heal is not built yet")
}
