//! kit-keep (in progress).

pub fn run() -> anyhow::Result<i32> {
    anyhow::bail!("kit-keep is not built yet")
}
