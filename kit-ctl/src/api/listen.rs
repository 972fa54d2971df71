//! Where `serve` listens: TCP on loopback (anything else needs
//! `--allow-remote`), or a Unix socket created 0600.

use anyhow::{bail, Context};
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

pub struct Bound {
    pub server: tiny_http::Server,
    /// `http://127.0.0.1:7878` or `unix:/path/to/sock`.
    pub url: String,
    /// The socket file to remove on exit.
    pub socket: Option<PathBuf>,
}

pub fn tcp(listen: &str, allow_remote: bool) -> anyhow::Result<Bound> {
    let addrs: Vec<SocketAddr> = listen
        .to_socket_addrs()
        .map_err(|e| {
            kit_db::Error::invalid(format!(
                "--listen {listen:?}: expected HOST:PORT such as 127.0.0.1:7878 ({e})"
            ))
        })?
        .collect();
    if addrs.is_empty() {
        return Err(kit_db::Error::invalid(format!(
            "--listen {listen:?}: the host resolves to no address"
        ))
        .into());
    }
    let remote: Vec<&SocketAddr> = addrs.iter().filter(|a| !a.ip().is_loopback()).collect();
    if !remote.is_empty() {
        if !allow_remote {
            return Err(kit_db::Error::invalid(format!(
                "--listen {listen:?} is not a loopback address ({}): the API can run commands, so \
                 listening beyond this machine needs --allow-remote (and a TLS proxy in front); \
                 or use 127.0.0.1:PORT or --socket PATH",
                remote
                    .iter()
                    .map(|a| a.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
            .into());
        }
        eprintln!(
            "kit-ctl serve: WARNING: listening on {listen} ({}), reachable from other machines. \
             Anyone with the token can run commands as this user, and plain HTTP exposes the \
             token on the network: put a TLS proxy in front.",
            remote
                .iter()
                .map(|a| a.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let listener =
        TcpListener::bind(&addrs[..]).with_context(|| format!("cannot listen on {listen}"))?;
    let local = listener.local_addr()?;
    let server = tiny_http::Server::from_listener(listener, None)
        .map_err(|e| anyhow::anyhow!("cannot listen on {listen}: {e}"))?;
    Ok(Bound {
        server,
        url: format!("http://{local}"),
        socket: None,
    })
}

pub fn unix(path: &Path) -> anyhow::Result<Bound> {
    clear_stale(path)?;
    if let Some(dir) = path.parent() {
        kit_db::paths::ensure_private_dir(dir)?;
    }
    // The umask makes the socket 0600 from the moment it exists (a chmod
    // after bind would leave a window). We are single-threaded here.
    // SAFETY: umask only swaps the process's file mode mask.
    let old = unsafe { libc::umask(0o177) };
    let bound = UnixListener::bind(path);
    unsafe { libc::umask(old) };
    let listener =
        bound.with_context(|| format!("{}: cannot listen on the socket", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .with_context(|| format!("{}: cannot set mode 0600", path.display()))?;
    let server = tiny_http::Server::from_listener(listener, None)
        .map_err(|e| anyhow::anyhow!("{}: cannot listen on the socket: {e}", path.display()))?;
    Ok(Bound {
        server,
        url: format!("unix:{}", path.display()),
        socket: Some(path.to_path_buf()),
    })
}

/// Removes a socket file left by a server that is gone; refuses to touch
/// a live socket or anything that is not a socket.
fn clear_stale(path: &Path) -> anyhow::Result<()> {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return Ok(());
    };
    if !meta.file_type().is_socket() {
        bail!(
            "{}: exists and is not a socket (refusing to replace it)",
            path.display()
        );
    }
    if UnixStream::connect(path).is_ok() {
        bail!(
            "{}: another server is already listening on this socket",
            path.display()
        );
    }
    std::fs::remove_file(path)
        .with_context(|| format!("{}: cannot remove the stale socket", path.display()))
}
