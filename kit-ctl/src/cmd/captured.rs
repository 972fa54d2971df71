//! `output ID`: an execution's captured output, byte for byte (invalid
//! UTF-8 and all), so it can be piped to other tools like the original.

use super::Ctx;
use anyhow::Context;
use kit_db::{exec, Error, Store};
use std::io::Write;

/// The execution and its stored output (None when nothing was captured).
pub fn fetch(store: &Store, id: i64) -> anyhow::Result<(exec::Execution, Option<Vec<u8>>)> {
    let Some(e) = exec::get(&store.conn, id)? else {
        let max: Option<i64> =
            store
                .conn
                .query_row("SELECT max(id) FROM supervisor_executions", [], |r| {
                    r.get(0)
                })?;
        return Err(Error::invalid(format!(
            "no execution #{id}{}",
            match max {
                Some(m) => format!(" (ids go up to {m}; see `kit-ctl history`)"),
                None => " (there are no executions yet)".to_string(),
            }
        ))
        .into());
    };
    let out = exec::output(&store.conn, id)?;
    Ok((e, out))
}

pub fn output(ctx: &Ctx, id: i64) -> anyhow::Result<i32> {
    let store = ctx.open_existing()?;
    let (e, out) = fetch(&store, id)?;
    let bytes = out.unwrap_or_default();
    if ctx.json {
        let text = std::str::from_utf8(&bytes);
        let mut v = serde_json::json!({
            "id": e.id, "task": e.task, "status": e.status,
            "output": String::from_utf8_lossy(&bytes),
            "utf8": text.is_ok(),
            "stored_bytes": bytes.len(),
            "output_bytes": e.output_bytes, "output_dropped": e.output_dropped,
        });
        if text.is_err() {
            // JSON strings cannot carry invalid UTF-8: the exact bytes too.
            v["output_base64"] = base64(&bytes).into();
        }
        kit_db::cli::print_json(&v);
        return Ok(0);
    }
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(&bytes).context("writing the output")?;
    stdout.flush().context("writing the output")?;
    if bytes.is_empty() && matches!(e.status.as_str(), "queued" | "running") {
        eprintln!(
            "kit-ctl: execution #{id} is {}; its output is stored when it ends",
            e.status
        );
    }
    Ok(0)
}

/// Standard base64 with padding (RFC 4648 section 4).
pub fn base64(data: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ABC[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (i, o) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(super::base64(i.as_bytes()), o);
        }
    }
}
