//! Durations ("10m", "1h30m", via humantime) and byte sizes ("256KiB",
//! "10MB", "2G") as they appear in task files, the CLI and the API.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::time::Duration;

/// A duration that is written and read as humantime text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Dur(pub Duration);

impl Dur {
    pub fn parse(text: &str) -> Result<Dur, String> {
        let t = text.trim();
        if t.is_empty() {
            return Err("empty duration (examples: 30s, 10m, 1h30m)".into());
        }
        // A bare number is ambiguous (seconds? minutes?); refuse it.
        if t.chars().all(|c| c.is_ascii_digit()) && t != "0" {
            return Err(format!(
                "duration {t:?} has no unit (examples: {t}s, {t}m, {t}h)"
            ));
        }
        let d = humantime::parse_duration(t)
            .map_err(|e| format!("invalid duration {t:?}: {e} (examples: 30s, 10m, 1h30m)"))?;
        if d > Dur::MAX.0 {
            return Err(format!("duration {t:?} is too large (at most 100 years)"));
        }
        Ok(Dur(d))
    }

    /// The largest duration kit accepts. Anything near the type's limit would
    /// overflow when added to a time (a panic in whichever tool did it), and
    /// no timeout, delay or retention needs more than a century.
    pub const MAX: Dur = Dur(Duration::from_secs(36525 * 86400));
    pub fn chrono(self) -> chrono::Duration {
        chrono::Duration::from_std(self.0).unwrap_or(chrono::Duration::MAX)
    }
}

impl fmt::Display for Dur {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_zero() {
            return f.write_str("0s");
        }
        // humantime writes "1h 30m"; task files and URLs want "1h30m".
        let text = humantime::format_duration(self.0)
            .to_string()
            .replace(' ', "");
        f.write_str(&text)
    }
}

impl Serialize for Dur {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Dur::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// A byte size, written as "256KiB", "10MB", "2G" or a plain number of bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Size(pub u64);

impl Size {
    pub fn parse(text: &str) -> Result<Size, String> {
        let t = text.trim();
        let split = t
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(t.len());
        let (num, unit) = t.split_at(split);
        let n: f64 = num
            .parse()
            .map_err(|_| format!("invalid size {t:?} (examples: 4096, 256KiB, 10MB, 2G)"))?;
        let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
            "" | "b" => 1,
            "k" | "kb" => 1000,
            "kib" => 1 << 10,
            "m" | "mb" => 1_000_000,
            "mib" => 1 << 20,
            "g" | "gb" => 1_000_000_000,
            "gib" => 1 << 30,
            "t" | "tb" => 1_000_000_000_000,
            "tib" => 1 << 40,
            other => {
                return Err(format!(
                    "invalid size {t:?}: unknown unit {other:?} (use B, KB, KiB, MB, MiB, GB, GiB)"
                ))
            }
        };
        Ok(Size((n * mult as f64) as u64))
    }
}

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0;
        for (unit, m) in [("GiB", 1u64 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)] {
            if n >= m && n.is_multiple_of(m) {
                return write!(f, "{}{unit}", n / m);
            }
        }
        for (unit, m) in [("GB", 1_000_000_000u64), ("MB", 1_000_000), ("KB", 1000)] {
            if n >= m && n.is_multiple_of(m) {
                return write!(f, "{}{unit}", n / m);
            }
        }
        write!(f, "{n}")
    }
}

impl Serialize for Size {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Size {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            N(u64),
            S(String),
        }
        match Raw::deserialize(d)? {
            Raw::N(n) => Ok(Size(n)),
            Raw::S(s) => Size::parse(&s).map_err(serde::de::Error::custom),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_round_trip() {
        for t in ["30s", "10m", "1h30m", "2h", "100ms", "1d"] {
            let d = Dur::parse(t).unwrap();
            assert_eq!(Dur::parse(&d.to_string()).unwrap(), d, "{t}");
        }
        assert!(Dur::parse("10").is_err());
        assert!(Dur::parse("ten minutes").is_err());
        assert!(Dur::parse("100y").is_ok());
        assert!(Dur::parse("500000000y").is_err());
    }

    #[test]
    fn sizes_parse_and_round_trip() {
        assert_eq!(Size::parse("256KiB").unwrap().0, 262144);
        assert_eq!(Size::parse("10MB").unwrap().0, 10_000_000);
        assert_eq!(Size::parse("2G").unwrap().0, 2_000_000_000);
        for n in [1u64, 1024, 262144, 10_000_000, 12345] {
            assert_eq!(Size::parse(&Size(n).to_string()).unwrap().0, n);
        }
        assert!(Size::parse("12 parsecs").is_err());
    }
}
