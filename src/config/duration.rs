//! Duration strings as upstream parses them: `1500ms`, `45s`, `30m`, `1h`, `2d`, decimals
//! (`1.5h`) and composites (`1h30m`). A bare number uses the caller's default unit.

/// Time unit of a duration segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DurationUnit {
    Ms,
    S,
    M,
    H,
    D,
}

impl DurationUnit {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "ms" => Self::Ms,
            "s" => Self::S,
            "m" => Self::M,
            "h" => Self::H,
            "d" => Self::D,
            _ => return None,
        })
    }
    fn millis(self) -> f64 {
        match self {
            Self::Ms => 1.0,
            Self::S => 1_000.0,
            Self::M => 60_000.0,
            Self::H => 3_600_000.0,
            Self::D => 86_400_000.0,
        }
    }
}

/// Parse with milliseconds as the unit of a bare number.
pub fn parse_duration_ms(raw: &str) -> Option<u64> {
    parse_duration_ms_with_default(raw, DurationUnit::Ms)
}

/// Parse a non-negative duration into milliseconds. Returns `None` for malformed input.
pub fn parse_duration_ms_with_default(raw: &str, default_unit: DurationUnit) -> Option<u64> {
    let s = raw.trim().to_ascii_lowercase();
    if s.is_empty() {
        return None;
    }
    let bytes = s.as_bytes();
    let mut i = 0;
    let mut total = 0.0_f64;
    let mut segments = 0;
    while i < bytes.len() {
        let start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return None;
        }
        if i < bytes.len() && bytes[i] == b'.' {
            i += 1;
            let frac = i;
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
            if i == frac {
                return None;
            }
        }
        let value: f64 = s[start..i].parse().ok()?;
        let unit_start = i;
        while i < bytes.len() && bytes[i].is_ascii_alphabetic() {
            i += 1;
        }
        let unit = if unit_start == i {
            // Only a single, unit-less number may use the default unit.
            if segments > 0 || i != bytes.len() {
                return None;
            }
            default_unit
        } else {
            DurationUnit::parse(&s[unit_start..i])?
        };
        total += value * unit.millis();
        segments += 1;
    }
    let ms = total.round();
    (ms.is_finite() && (0.0..=9_007_199_254_740_991.0).contains(&ms)).then_some(ms as u64)
}
