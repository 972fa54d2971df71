//! Capturing a child's output with a hard memory cap.
//!
//! A task may write gigabytes; kit stores only the beginning (where usage
//! errors and banners are) and the end (where the final error is). The
//! [`CapBuffer`] keeps the first `cap/2` bytes and a ring of the last
//! `cap - cap/2` bytes, so memory never exceeds `cap` whatever the child
//! writes, and counts what fell in between.

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::AsRawFd;
use std::time::Instant;

use nix::errno::Errno;

use super::wait::poll_timeout_ms;

/// Output as stored: at most `cap` bytes of it plus a marker.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Captured {
    /// Head + `"\n[kit: N bytes dropped]\n"` + tail when truncated,
    /// otherwise everything that was written.
    pub bytes: Vec<u8>,
    /// Bytes the child wrote in all.
    pub total: u64,
    /// Bytes not kept (`total` minus what is in `bytes` besides the marker).
    pub dropped: u64,
}

impl Captured {
    pub fn truncated(&self) -> bool {
        self.dropped > 0
    }
}

/// Keeps the head and tail of a byte stream in at most `cap` bytes.
/// Pure and incremental: feed it with [`CapBuffer::push`] from any source.
#[derive(Debug, Clone)]
pub struct CapBuffer {
    head: Vec<u8>,
    head_cap: usize,
    /// A ring once full: the oldest byte is at `tail_pos`.
    tail: Vec<u8>,
    tail_cap: usize,
    tail_pos: usize,
    total: u64,
}

impl CapBuffer {
    /// Memory is allocated as data arrives, so a large cap costs nothing for
    /// a quiet task.
    pub fn new(cap: usize) -> Self {
        let head_cap = cap / 2;
        CapBuffer {
            head: Vec::new(),
            head_cap,
            tail: Vec::new(),
            tail_cap: cap - head_cap,
            tail_pos: 0,
            total: 0,
        }
    }

    pub fn push(&mut self, data: &[u8]) {
        self.total = self.total.saturating_add(data.len() as u64);
        let take = (self.head_cap - self.head.len()).min(data.len());
        if take > 0 {
            grow(&mut self.head, take, self.head_cap);
            self.head.extend_from_slice(&data[..take]);
        }
        let mut rest = &data[take..];
        if rest.is_empty() || self.tail_cap == 0 {
            return;
        }
        if rest.len() >= self.tail_cap {
            // The chunk alone replaces the whole ring.
            self.tail.clear();
            grow(&mut self.tail, self.tail_cap, self.tail_cap);
            self.tail
                .extend_from_slice(&rest[rest.len() - self.tail_cap..]);
            self.tail_pos = 0;
            return;
        }
        if self.tail.len() < self.tail_cap {
            let n = (self.tail_cap - self.tail.len()).min(rest.len());
            grow(&mut self.tail, n, self.tail_cap);
            self.tail.extend_from_slice(&rest[..n]);
            rest = &rest[n..];
        }
        if rest.is_empty() {
            return;
        }
        // Full ring: overwrite the oldest bytes, wrapping around once at most
        // (rest is shorter than the ring here).
        let first = (self.tail_cap - self.tail_pos).min(rest.len());
        self.tail[self.tail_pos..self.tail_pos + first].copy_from_slice(&rest[..first]);
        let second = rest.len() - first;
        self.tail[..second].copy_from_slice(&rest[first..]);
        self.tail_pos = (self.tail_pos + rest.len()) % self.tail_cap;
    }

    /// Bytes pushed so far.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Bytes pushed so far that are not kept.
    pub fn dropped(&self) -> u64 {
        self.total - (self.head.len() + self.tail.len()) as u64
    }

    /// Bytes currently held (never more than the cap).
    pub fn held(&self) -> usize {
        self.head.len() + self.tail.len()
    }

    pub fn finish(self) -> Captured {
        let dropped = self.dropped();
        let mut bytes = self.head;
        let marker = if dropped > 0 {
            format!("\n[kit: {dropped} bytes dropped]\n")
        } else {
            String::new()
        };
        bytes.reserve_exact(marker.len() + self.tail.len());
        bytes.extend_from_slice(marker.as_bytes());
        bytes.extend_from_slice(&self.tail[self.tail_pos..]);
        bytes.extend_from_slice(&self.tail[..self.tail_pos]);
        Captured {
            bytes,
            total: self.total,
            dropped,
        }
    }
}

/// Makes room for `additional` more bytes without letting Vec's doubling
/// take the capacity past `limit`.
fn grow(v: &mut Vec<u8>, additional: usize, limit: usize) {
    let needed = v.len() + additional;
    if needed > v.capacity() {
        let target = needed.max(v.capacity() * 2).min(limit).max(needed);
        v.reserve_exact(target - v.len());
    }
}

const CHUNK: usize = 32 * 1024;

/// Reads `reader` to EOF keeping at most `cap` bytes (see [`CapBuffer`]).
/// For a blocking reader; use [`read_with_deadline`] for a child's pipe
/// that must not hold the caller past a time-out.
pub fn read_capped<R: Read>(mut reader: R, cap: usize) -> io::Result<Captured> {
    let mut buf = CapBuffer::new(cap);
    let mut chunk = [0u8; CHUNK];
    loop {
        match reader.read(&mut chunk) {
            Ok(0) => return Ok(buf.finish()),
            Ok(n) => buf.push(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Where [`read_with_deadline`] puts what it reads: a [`CapBuffer`], or a
/// caller's wrapper that also copies the bytes elsewhere (kit-run's
/// `--stream` tees them to its stdout while recording them).
pub trait Sink {
    fn push(&mut self, data: &[u8]);
}

impl Sink for CapBuffer {
    fn push(&mut self, data: &[u8]) {
        CapBuffer::push(self, data)
    }
}

/// Why [`read_with_deadline`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadStatus {
    /// Every writer closed the pipe.
    Eof,
    /// The deadline passed first; more may come, call again to go on.
    TimedOut,
}

/// Reads `file` into `buf` until EOF or `deadline` (`None`: no deadline).
///
/// The file is switched to non-blocking mode and waited on with poll(2), so
/// a time-out is honoured even when the child is silent. Note that EOF needs
/// *every* holder of the write end to exit: a background grandchild keeps
/// the pipe open, which is why a caller should keep a deadline even after
/// the child itself has exited.
pub fn read_with_deadline<S: Sink + ?Sized>(
    file: &File,
    buf: &mut S,
    deadline: Option<Instant>,
) -> io::Result<ReadStatus> {
    set_nonblocking(file)?;
    let fd = file.as_raw_fd();
    let mut chunk = [0u8; CHUNK];
    loop {
        // SAFETY: chunk is a valid buffer of CHUNK bytes.
        let n = unsafe { libc::read(fd, chunk.as_mut_ptr().cast(), CHUNK) };
        if n > 0 {
            buf.push(&chunk[..n as usize]);
            continue;
        }
        if n == 0 {
            return Ok(ReadStatus::Eof);
        }
        match Errno::last() {
            Errno::EINTR => continue,
            Errno::EAGAIN => {}
            e => return Err(io::Error::from(e)),
        }
        let timeout = match deadline {
            None => -1,
            Some(d) => {
                let now = Instant::now();
                if now >= d {
                    return Ok(ReadStatus::TimedOut);
                }
                poll_timeout_ms(d - now)
            }
        };
        let mut pfd = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let rc = unsafe { libc::poll(&mut pfd, 1, timeout) };
        if rc < 0 && Errno::last() != Errno::EINTR {
            return Err(io::Error::last_os_error());
        }
        // rc == 0: time-out, noticed at the top of the next round after one
        // more read attempt (cheap, and catches data that raced in).
    }
}

/// Sets O_NONBLOCK on `file` (the open file description, so only use it on
/// fds this process owns alone, such as [`super::Child::output`]).
pub fn set_nonblocking(file: &File) -> io::Result<()> {
    let fd = file.as_raw_fd();
    // SAFETY: F_GETFL/F_SETFL on a valid fd.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags < 0 {
            return Err(io::Error::last_os_error());
        }
        if flags & libc::O_NONBLOCK == 0
            && libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) < 0
        {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i % 251) as u8).collect()
    }

    /// What the buffer must produce: the plain head + marker + tail.
    fn expected(data: &[u8], cap: usize) -> Vec<u8> {
        if data.len() <= cap {
            return data.to_vec();
        }
        let (h, t) = (cap / 2, cap - cap / 2);
        let dropped = data.len() - cap;
        let mut v = data[..h].to_vec();
        v.extend_from_slice(format!("\n[kit: {dropped} bytes dropped]\n").as_bytes());
        v.extend_from_slice(&data[data.len() - t..]);
        v
    }

    #[test]
    fn keeps_everything_under_the_cap() {
        let mut b = CapBuffer::new(100);
        b.push(b"hello ");
        b.push(b"world");
        let c = b.finish();
        assert_eq!(c.bytes, b"hello world");
        assert_eq!((c.total, c.dropped), (11, 0));
        assert!(!c.truncated());
    }

    #[test]
    fn head_and_tail_for_every_chunking() {
        let data = pattern(1000);
        for cap in [0, 1, 2, 7, 64, 999, 1000, 1001] {
            for chunk in [1, 3, 10, 33, 64, 500, 1000] {
                let mut b = CapBuffer::new(cap);
                for piece in data.chunks(chunk) {
                    b.push(piece);
                    assert!(b.held() <= cap);
                    assert!(b.head.capacity() <= cap / 2 && b.tail.capacity() <= cap - cap / 2);
                }
                let c = b.finish();
                assert_eq!(c.bytes, expected(&data, cap), "cap {cap} chunk {chunk}");
                assert_eq!(c.total, 1000);
                assert_eq!(c.dropped, 1000u64.saturating_sub(cap as u64));
            }
        }
    }

    #[test]
    fn read_capped_from_a_reader() {
        let data = pattern(100_000);
        let c = read_capped(&data[..], 1000).unwrap();
        assert_eq!(c.bytes, expected(&data, 1000));
        assert_eq!((c.total, c.dropped), (100_000, 99_000));
    }
}
