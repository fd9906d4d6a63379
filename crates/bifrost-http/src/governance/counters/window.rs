//! Counting windows: epoch-aligned fixed windows, calendar weeks and months.

use super::*;

/// A counting window. Fixed windows are aligned to the Unix epoch (an hour starts on the
/// hour); calendar weeks start on Monday 00:00 UTC, months on the 1st.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    Seconds(u64),
    Weeks(u32),
    Months(u32),
}

impl Window {
    /// The script's spelling.
    pub(super) fn spec(self, kind: Kind) -> String {
        match (kind, self) {
            (Kind::Concurrency, _) => "c".to_owned(),
            (_, Window::Seconds(s)) => format!("s{s}"),
            (_, Window::Weeks(n)) => format!("w{n}"),
            (_, Window::Months(n)) => format!("M{n}"),
        }
    }

    /// A counter's lifetime in the store: two windows (a month counts as 31 days).
    pub(super) fn ttl_secs(self) -> i64 {
        2 * match self {
            Window::Seconds(s) => (s as i64).max(1),
            Window::Weeks(n) => 604_800 * i64::from(n),
            Window::Months(n) => 31 * 86_400 * i64::from(n),
        }
    }

    /// `[start, end)` in Unix seconds of the window holding `now`.
    pub fn bounds(self, now: i64) -> (i64, i64) {
        match self {
            Window::Seconds(0) => (0, 0),
            Window::Seconds(s) => {
                let s = s as i64;
                let start = now - now.rem_euclid(s);
                (start, start + s)
            }
            Window::Weeks(n) => {
                // 1970-01-05 was a Monday.
                let p = 604_800 * i64::from(n);
                let start = now - (now - 345_600).rem_euclid(p);
                (start, start + p)
            }
            Window::Months(n) => {
                let n = i64::from(n);
                let (y, m, _) = civil_from_days(now.div_euclid(86_400));
                let idx = y * 12 + (m - 1);
                let s = idx - idx.rem_euclid(n);
                let e = s + n;
                let day = |i: i64| days_from_civil(i.div_euclid(12), i.rem_euclid(12) + 1, 1);
                (day(s) * 86_400, day(e) * 86_400)
            }
        }
    }
}

/// Days since 1970-01-01 of a civil date (H. Hinnant's algorithm).
pub(super) fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

pub(super) fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}
