//! Wall-clock helpers: local civil time (via `localtime_r`) and the timestamp formats used by
//! the log file (`2026-11-22T18:57:28.472+00:00`) and rolling log names (`YYYY-MM-DD`).

use std::time::{SystemTime, UNIX_EPOCH};

/// A broken-down local time with its UTC offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LocalTime {
    pub year: i32,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    pub millis: u32,
    /// Seconds east of UTC.
    pub offset_secs: i64,
    /// Milliseconds since the Unix epoch (UTC).
    pub epoch_ms: i64,
}

impl LocalTime {
    /// Current local time.
    pub fn now() -> Self {
        Self::from_system(SystemTime::now())
    }

    /// Convert a `SystemTime` to local civil time (falls back to UTC if `localtime_r` fails).
    pub fn from_system(t: SystemTime) -> Self {
        let epoch_ms = match t.duration_since(UNIX_EPOCH) {
            Ok(d) => d.as_millis() as i64,
            Err(e) => -(e.duration().as_millis() as i64),
        };
        let secs = epoch_ms.div_euclid(1000);
        let millis = epoch_ms.rem_euclid(1000) as u32;
        let time_t = secs as libc::time_t;
        // SAFETY: localtime_r writes into our stack `tm`; it is the thread-safe variant.
        let mut tm: libc::tm = unsafe { std::mem::zeroed() };
        let ok = unsafe { !libc::localtime_r(&time_t, &mut tm).is_null() };
        if !ok {
            return Self::utc_from_epoch_ms(epoch_ms);
        }
        LocalTime {
            year: tm.tm_year + 1900,
            month: (tm.tm_mon + 1) as u32,
            day: tm.tm_mday as u32,
            hour: tm.tm_hour as u32,
            minute: tm.tm_min as u32,
            second: tm.tm_sec.min(59) as u32,
            millis,
            offset_secs: tm.tm_gmtoff as i64,
            epoch_ms,
        }
    }

    /// UTC civil time for an epoch millisecond value.
    pub fn utc_from_epoch_ms(epoch_ms: i64) -> Self {
        let secs = epoch_ms.div_euclid(1000);
        let days = secs.div_euclid(86_400);
        let sod = secs.rem_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        LocalTime {
            year,
            month,
            day,
            hour: (sod / 3600) as u32,
            minute: ((sod % 3600) / 60) as u32,
            second: (sod % 60) as u32,
            millis: epoch_ms.rem_euclid(1000) as u32,
            offset_secs: 0,
            epoch_ms,
        }
    }

    /// `YYYY-MM-DD` (used in rolling log file names; host-local date).
    pub fn date_string(&self) -> String {
        format!("{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }

    /// `HH:MM:SS.mmm` (console prefix).
    pub fn clock_string(&self) -> String {
        format!(
            "{:02}:{:02}:{:02}.{:03}",
            self.hour, self.minute, self.second, self.millis
        )
    }

    /// `YYYY-MM-DDTHH:MM:SS.mmm+HH:MM` — the Node gateway's "long" timestamp style.
    pub fn long_string(&self) -> String {
        let sign = if self.offset_secs < 0 { '-' } else { '+' };
        let off = self.offset_secs.unsigned_abs();
        format!(
            "{}T{}{}{:02}:{:02}",
            self.date_string(),
            self.clock_string(),
            sign,
            off / 3600,
            (off % 3600) / 60
        )
    }

    /// `YYYY-MM-DDTHH:MM:SS.mmmZ` in UTC (what `JSON.stringify(new Date())` produces).
    pub fn utc_iso_string(&self) -> String {
        let u = Self::utc_from_epoch_ms(self.epoch_ms);
        format!("{}T{}Z", u.date_string(), u.clock_string())
    }
}

/// Howard Hinnant's days-from-civil inverse: days since 1970-01-01 → (year, month, day).
fn civil_from_days(z: i64) -> (i32, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    ((if m <= 2 { y + 1 } else { y }) as i32, m, d)
}
