//! A plain HTTP/1.1 client over std sockets (TCP or Unix) for the API
//! tests, and `kit.serve()`, which starts `kit-ctl serve` on a free port and
//! waits for it to say where it listens.
#![allow(dead_code)]

use super::Kit;
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Stdio};
use std::time::Duration;

/// Where a server listens.
#[derive(Debug, Clone)]
pub enum Target {
    Tcp(String),
    Unix(std::path::PathBuf),
}

#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}), status {}:\n{}", self.status, self.text()))
    }
    /// Asserts the status, showing the body when it differs.
    pub fn status(self, want: u16) -> Resp {
        assert_eq!(
            self.status,
            want,
            "unexpected status; body:\n{}",
            self.text()
        );
        self
    }
}

/// Sends one request (`Connection: close`) and reads the whole answer.
pub fn request(
    target: &Target,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Resp {
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if let Some(b) = body {
        head.push_str(&format!("Content-Length: {}\r\n", b.len()));
    }
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(body.unwrap_or_default());
    let raw = exchange(target, &bytes);
    parse(&raw)
}

/// Writes raw bytes and returns everything the server answers before it
/// closes the connection (or 10 s pass).
pub fn exchange(target: &Target, bytes: &[u8]) -> Vec<u8> {
    let timeout = Some(Duration::from_secs(10));
    let mut out = Vec::new();
    match target {
        Target::Tcp(addr) => {
            let mut s = std::net::TcpStream::connect(addr).expect("connect");
            s.set_read_timeout(timeout).unwrap();
            let _ = s.write_all(bytes);
            let _ = s.read_to_end(&mut out);
        }
        Target::Unix(path) => {
            let mut s = std::os::unix::net::UnixStream::connect(path).expect("connect");
            s.set_read_timeout(timeout).unwrap();
            let _ = s.write_all(bytes);
            let _ = s.read_to_end(&mut out);
        }
    }
    out
}

pub fn parse(raw: &[u8]) -> Resp {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| {
            panic!(
                "no HTTP response head in {:?}",
                String::from_utf8_lossy(raw)
            )
        });
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status: u16 = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    if let Some(n) = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse::<usize>().ok())
    {
        body.truncate(n);
    }
    Resp {
        status,
        headers,
        body,
    }
}

/// A running `kit-ctl serve`, stopped (SIGTERM, then SIGKILL) when dropped.
pub struct Server {
    pub child: Child,
    pub target: Target,
    /// `http://127.0.0.1:PORT` (TCP only).
    pub url: String,
    pub token: String,
    /// stderr so far is in this file.
    pub err: std::path::PathBuf,
}

impl Server {
    pub fn call(&self, method: &str, path: &str, body: Option<&str>) -> Resp {
        let auth = format!("Bearer {}", self.token);
        let mut h = vec![("Authorization", auth.as_str())];
        if body.is_some() {
            h.push(("Content-Type", "application/json"));
        }
        request(&self.target, method, path, &h, body.map(str::as_bytes))
    }
    pub fn get(&self, path: &str) -> Resp {
        self.call("GET", path, None)
    }
    pub fn post(&self, path: &str, body: &str) -> Resp {
        self.call("POST", path, Some(body))
    }
    /// A request with no Authorization header at all.
    pub fn anonymous(&self, method: &str, path: &str, body: Option<&str>) -> Resp {
        request(
            &self.target,
            method,
            path,
            &[("Content-Type", "application/json")],
            body.map(str::as_bytes),
        )
    }
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.err).unwrap_or_default()
    }
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // SAFETY: a plain kill of our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        for _ in 0..200 {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Kit {
    /// `kit-ctl serve --listen 127.0.0.1:0 ARGS...`, ready to take requests.
    pub fn serve(&self, args: &[&str]) -> Server {
        self.serve_with(
            self.ctl()
                .args(["serve", "--listen", "127.0.0.1:0"])
                .args(args),
        )
    }

    /// Starts a prepared `kit-ctl serve` command and waits (with a deadline)
    /// for the first stdout line, `listening on URL`.
    pub fn serve_with(&self, cmd: super::Cmd) -> Server {
        let n = std::fs::read_dir(self.dir.path()).map_or(0, |d| d.count());
        let err = self.path(&format!("serve-{n}.err"));
        let mut c = cmd.inner;
        c.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&err).expect("stderr file"));
        let mut child = c.spawn().expect("spawn kit-ctl serve");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(l) if !l.is_empty() => l,
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "kit-ctl serve did not start:\n{}",
                    std::fs::read_to_string(&err).unwrap_or_default()
                );
            }
        };
        let url = line.trim().trim_start_matches("listening on ").to_string();
        let target = match url.strip_prefix("unix:") {
            Some(p) => Target::Unix(p.into()),
            None => Target::Tcp(url.trim_start_matches("http://").to_string()),
        };
        let token = std::fs::read_to_string(self.home.join("api-token"))
            .unwrap_or_default()
            .trim()
            .to_string();
        Server {
            child,
            target,
            url,
            token,
            err,
        }
    }
}
