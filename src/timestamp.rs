//! Timestamps as Go and go-yaml see them: the YAML timestamp forms go-yaml v3 resolves, Go's
//! RFC 3339 parsing, and `time.Time.MarshalText` / `Format(time.RFC3339)` output.
//!
//! Owns: the exact text forms, because a timestamp's text is part of the MAC and the MAC AAD.
//! Must not know: trees or stores.

use time::{Date, Month, OffsetDateTime};

/// A parsed civil timestamp with an optional UTC offset in seconds (None = UTC, no zone given).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timestamp {
    date: Date,
    hour: u8,
    minute: u8,
    second: u8,
    nanos: u32,
    offset_secs: i32,
}

fn digits(s: &[u8], min: usize, max: usize) -> Option<(u32, &[u8])> {
    let n = s
        .iter()
        .take(max)
        .take_while(|c| c.is_ascii_digit())
        .count();
    if n < min {
        return None;
    }
    let v = s[..n]
        .iter()
        .fold(0u32, |acc, c| acc * 10 + u32::from(c - b'0'));
    Some((v, &s[n..]))
}

impl Timestamp {
    fn build(
        (y, mo, d): (u32, u32, u32),
        (h, mi, s): (u32, u32, u32),
        nanos: u32,
        offset_secs: i32,
    ) -> Option<Timestamp> {
        if h > 23 || mi > 59 || s > 59 {
            return None;
        }
        let date =
            Date::from_calendar_date(y as i32, Month::try_from(mo as u8).ok()?, d as u8).ok()?;
        Some(Timestamp {
            date,
            hour: h as u8,
            minute: mi as u8,
            second: s as u8,
            nanos,
            offset_secs,
        })
    }

    /// The current time in UTC, truncated to whole seconds (what sops writes).
    pub(crate) fn now_utc() -> Timestamp {
        let now = OffsetDateTime::now_utc();
        Timestamp {
            date: now.date(),
            hour: now.hour(),
            minute: now.minute(),
            second: now.second(),
            nanos: 0,
            offset_secs: 0,
        }
    }

    /// go-yaml v3's timestamp resolution for plain scalars: `2006-1-2T15:4:5.999999999Z07:00`,
    /// the same with `t`, `2006-1-2 15:4:5.999999999` (UTC) and `2006-1-2` (midnight UTC).
    pub(crate) fn parse_yaml(s: &str) -> Option<Timestamp> {
        let b = s.as_bytes();
        // go-yaml requires exactly four year digits followed by '-'.
        if b.len() < 5 || !b[..4].iter().all(u8::is_ascii_digit) || b[4] != b'-' {
            return None;
        }
        let (y, rest) = digits(b, 4, 4)?;
        let rest = rest.strip_prefix(b"-")?;
        let (mo, rest) = digits(rest, 1, 2)?;
        let rest = rest.strip_prefix(b"-")?;
        let (d, rest) = digits(rest, 1, 2)?;
        if rest.is_empty() {
            return Timestamp::build((y, mo, d), (0, 0, 0), 0, 0);
        }
        let (zoned, rest) = match rest[0] {
            b'T' | b't' => (true, &rest[1..]),
            b' ' => (false, &rest[1..]),
            _ => return None,
        };
        let (h, rest) = digits(rest, 1, 2)?;
        let rest = rest.strip_prefix(b":")?;
        let (mi, rest) = digits(rest, 1, 2)?;
        let rest = rest.strip_prefix(b":")?;
        let (sec, rest) = digits(rest, 1, 2)?;
        let (nanos, rest) = fraction(rest)?;
        let (offset, rest) = if zoned { zone(rest)? } else { (0, rest) };
        if !rest.is_empty() {
            return None;
        }
        Timestamp::build((y, mo, d), (h, mi, sec), nanos, offset)
    }

    /// Go's `time.Parse(time.RFC3339, s)` (fractional seconds accepted).
    pub(crate) fn parse_rfc3339(s: &str) -> Option<Timestamp> {
        let b = s.as_bytes();
        let (y, rest) = digits(b, 4, 4)?;
        let rest = rest.strip_prefix(b"-")?;
        let (mo, rest) = digits(rest, 2, 2)?;
        let rest = rest.strip_prefix(b"-")?;
        let (d, rest) = digits(rest, 2, 2)?;
        let rest = rest
            .strip_prefix(b"T")
            .or_else(|| rest.strip_prefix(b"t"))?;
        let (h, rest) = digits(rest, 2, 2)?;
        let rest = rest.strip_prefix(b":")?;
        let (mi, rest) = digits(rest, 2, 2)?;
        let rest = rest.strip_prefix(b":")?;
        let (sec, rest) = digits(rest, 2, 2)?;
        let (nanos, rest) = fraction(rest)?;
        let (offset, rest) = zone(rest)?;
        if !rest.is_empty() {
            return None;
        }
        Timestamp::build((y, mo, d), (h, mi, sec), nanos, offset)
    }

    fn format(&self, with_nanos: bool) -> String {
        let mut out = format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
            self.date.year(),
            self.date.month() as u8,
            self.date.day(),
            self.hour,
            self.minute,
            self.second
        );
        if with_nanos && self.nanos != 0 {
            let frac = format!("{:09}", self.nanos);
            out.push('.');
            out.push_str(frac.trim_end_matches('0'));
        }
        if self.offset_secs == 0 {
            out.push('Z');
        } else {
            let sign = if self.offset_secs < 0 { '-' } else { '+' };
            let a = self.offset_secs.unsigned_abs();
            out.push_str(&format!("{sign}{:02}:{:02}", a / 3600, (a % 3600) / 60));
        }
        out
    }

    /// Seconds since the Unix epoch.
    pub fn unix_seconds(&self) -> i64 {
        let midnight = self.date.midnight().assume_utc().unix_timestamp();
        midnight
            + i64::from(self.hour) * 3600
            + i64::from(self.minute) * 60
            + i64::from(self.second)
            - i64::from(self.offset_secs)
    }

    /// `time.Time.MarshalText()`: RFC 3339 with nanoseconds, trailing zeros trimmed.
    pub fn to_rfc3339_nano(&self) -> String {
        self.format(true)
    }

    /// `time.Time.Format(time.RFC3339)`: whole seconds.
    pub fn to_rfc3339(&self) -> String {
        self.format(false)
    }
}

fn fraction(rest: &[u8]) -> Option<(u32, &[u8])> {
    match rest.strip_prefix(b".") {
        None => Some((0, rest)),
        Some(r) => {
            let n = r.iter().take_while(|c| c.is_ascii_digit()).count();
            if n == 0 {
                return None;
            }
            let mut nanos = 0u32;
            for (i, c) in r[..n].iter().enumerate() {
                if i < 9 {
                    nanos = nanos * 10 + u32::from(c - b'0');
                }
            }
            for _ in n..9 {
                nanos *= 10;
            }
            Some((nanos, &r[n..]))
        }
    }
}

fn zone(rest: &[u8]) -> Option<(i32, &[u8])> {
    match rest.first()? {
        b'Z' | b'z' => Some((0, &rest[1..])),
        &sign @ (b'+' | b'-') => {
            let (h, r) = digits(&rest[1..], 2, 2)?;
            let r = r.strip_prefix(b":")?;
            let (m, r) = digits(r, 2, 2)?;
            if h > 23 || m > 59 {
                return None;
            }
            let secs = (h * 3600 + m * 60) as i32;
            Some((if sign == b'-' { -secs } else { secs }, r))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_forms() {
        let t = |s| Timestamp::parse_yaml(s).map(|t| t.to_rfc3339_nano());
        assert_eq!(t("2024-01-01").as_deref(), Some("2024-01-01T00:00:00Z"));
        assert_eq!(t("2024-1-2").as_deref(), Some("2024-01-02T00:00:00Z"));
        assert_eq!(
            t("2001-12-14t21:59:43.10-05:00").as_deref(),
            Some("2001-12-14T21:59:43.1-05:00")
        );
        assert_eq!(
            t("2001-12-14 21:59:43.10").as_deref(),
            Some("2001-12-14T21:59:43.1Z")
        );
        assert_eq!(t("2001-12-14 21:59:43.10 -5"), None);
        assert_eq!(t("2024-02-30"), None);
        assert_eq!(t("12345-01-01"), None);
        assert_eq!(t("2024-01-01x"), None);
    }

    #[test]
    fn rfc3339_forms() {
        let t = Timestamp::parse_rfc3339("2024-11-12T13:33:42.5+00:00").unwrap();
        assert_eq!(t.to_rfc3339(), "2024-11-12T13:33:42Z");
        assert_eq!(t.to_rfc3339_nano(), "2024-11-12T13:33:42.5Z");
        assert!(Timestamp::parse_rfc3339("2024-11-12 13:33:42Z").is_none());
    }
}
