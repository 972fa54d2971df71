//! Health checks: `health = { command, every, timeout, failures,
//! start_period }`. The command runs in its own process group every `every`
//! (first after `start_period`, default `every`) while the daemon runs; a
//! check that exits non-zero or outlives `timeout` is a failure, and
//! `failures` consecutive failures restart the daemon with the reason
//! recorded. Checks are children like the daemons: reaped on SIGCHLD, their
//! output read from a pipe in the same poll loop, never blocking it.

use crate::daemon::Exit;
use kit_db::process::{self, CapBuffer, Signal, SpawnSpec};
use kit_db::task::model::{defaults, Health as HealthCfg};
use std::fs::File;
use std::io::Read;
use std::os::fd::{AsRawFd, RawFd};
use std::time::{Duration, Instant};

const OUTPUT_CAP: usize = 2048;

#[derive(Debug)]
pub struct Check {
    pub pid: i32,
    pub deadline: Instant,
    out: Option<File>,
    buf: CapBuffer,
    timed_out: bool,
}

#[derive(Debug, Default)]
pub struct Health {
    pub next_due: Option<Instant>,
    pub check: Option<Check>,
    pub consecutive: u32,
}

pub struct Cfg {
    pub every: Duration,
    pub timeout: Duration,
    pub failures: u32,
    pub start_period: Duration,
}

pub fn cfg(h: &HealthCfg) -> Cfg {
    let every = h.every.map_or(defaults::HEALTH_EVERY, |d| d.0);
    Cfg {
        every,
        timeout: h.timeout.map_or(defaults::HEALTH_TIMEOUT, |d| d.0),
        failures: h.failures.unwrap_or(defaults::HEALTH_FAILURES).max(1),
        start_period: h.start_period.map_or(every, |d| d.0),
    }
}

/// What a finished check means for the daemon.
pub enum Verdict {
    Healthy,
    /// A failure, not yet enough to act: (count so far, message).
    Failing(u32, String),
    /// Enough consecutive failures: restart, with this reason.
    Restart(String),
}

impl Health {
    pub fn new() -> Health {
        Health::default()
    }

    /// A new process started at `started`: the count starts over and the
    /// first check waits for the start period.
    pub fn reset(&mut self, started: Instant, h: Option<&HealthCfg>) -> Option<i32> {
        let killed = self.kill_check();
        self.consecutive = 0;
        self.next_due = h.map(|h| started + cfg(h).start_period);
        killed
    }

    /// Stops a running check (its zombie is reaped by the main loop);
    /// returns its pid.
    pub fn kill_check(&mut self) -> Option<i32> {
        let c = self.check.take()?;
        let _ = process::signal_group(c.pid, Signal::SIGKILL);
        Some(c.pid)
    }

    pub fn start(&mut self, spec: SpawnSpec, timeout: Duration) -> Result<i32, String> {
        let mut spec = spec;
        spec.output = process::Output::Pipe;
        spec.new_session = true;
        let child = process::spawn(&spec).map_err(|e| e.to_string())?;
        if let Some(f) = &child.output {
            let _ = process::set_nonblocking(f);
        }
        self.check = Some(Check {
            pid: child.pid,
            deadline: Instant::now() + timeout,
            out: child.output,
            buf: CapBuffer::new(OUTPUT_CAP),
            timed_out: false,
        });
        Ok(child.pid)
    }

    pub fn pipe_fd(&self) -> Option<RawFd> {
        self.check.as_ref()?.out.as_ref().map(|f| f.as_raw_fd())
    }

    /// Reads what the check has written so far (non-blocking).
    pub fn drain(&mut self) {
        let Some(c) = self.check.as_mut() else { return };
        let Some(f) = c.out.as_mut() else { return };
        let mut chunk = [0u8; 4096];
        loop {
            match f.read(&mut chunk) {
                Ok(0) => {
                    c.out = None;
                    break;
                }
                Ok(n) => c.buf.push(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => break,
            }
        }
    }

    /// Kills a check past its timeout.
    pub fn enforce_timeout(&mut self, now: Instant) {
        if let Some(c) = self.check.as_mut() {
            if !c.timed_out && now >= c.deadline {
                c.timed_out = true;
                let _ = process::signal_group(c.pid, Signal::SIGKILL);
            }
        }
    }

    /// The check command could not even be started: a failed check.
    pub fn failed_to_start(&mut self, why: &str, h: &HealthCfg, now: Instant) -> Verdict {
        let cfg = cfg(h);
        self.next_due = Some(now + cfg.every);
        self.check = None;
        self.count_failure(format!("health check could not start: {why}"), &cfg)
    }

    fn count_failure(&mut self, msg: String, cfg: &Cfg) -> Verdict {
        self.consecutive += 1;
        if self.consecutive >= cfg.failures {
            let n = self.consecutive;
            self.consecutive = 0;
            Verdict::Restart(format!(
                "restarted by kit-keep: {n} consecutive health checks failed (last: {msg})"
            ))
        } else {
            Verdict::Failing(self.consecutive, msg)
        }
    }

    /// The check `pid` exited; decides, and schedules the next one.
    pub fn finished(&mut self, exit: Exit, h: &HealthCfg, now: Instant) -> Verdict {
        self.drain();
        let cfg = cfg(h);
        self.next_due = Some(now + cfg.every);
        let Some(c) = self.check.take() else {
            return Verdict::Healthy;
        };
        // Whatever it left in its group (a background curl) goes too.
        let _ = process::signal_group(c.pid, Signal::SIGKILL);
        let ok = !c.timed_out && exit == Exit::Code(0);
        if ok {
            self.consecutive = 0;
            return Verdict::Healthy;
        }
        let how = if c.timed_out {
            format!("timed out after {}", crate::clock::human(cfg.timeout))
        } else {
            match exit {
                Exit::Code(n) => format!("exited with status {n}"),
                Exit::Signal(s, _) => format!("killed by signal {s}"),
                Exit::Unknown => "ended".to_string(),
            }
        };
        let out = c.buf.finish();
        let text = String::from_utf8_lossy(&out.bytes);
        let last = text.lines().rev().find(|l| !l.trim().is_empty()).map(|l| {
            let cut: String = l.trim().chars().take(200).collect();
            format!(": {cut}")
        });
        self.count_failure(
            format!("health check {how}{}", last.unwrap_or_default()),
            &cfg,
        )
    }
}
