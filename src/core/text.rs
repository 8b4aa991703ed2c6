//! MySQL's text forms of dates and times, as the text protocol sends them.

/// `YYYY-MM-DD`; `None` for zero dates (`0000-00-00`), which have no calendar value.
pub fn parse_date(s: &str) -> Option<(u16, u8, u8)> {
    let mut it = s.splitn(3, '-');
    let y = it.next()?.parse().ok()?;
    let m = it.next()?.parse().ok()?;
    let d = it.next()?.parse().ok()?;
    (m > 0 && d > 0).then_some((y, m, d))
}

/// `YYYY-MM-DD HH:MM:SS[.ffffff]`.
pub fn parse_datetime(s: &str) -> Option<(u16, u8, u8, u8, u8, u8, u32)> {
    let (date, time) = s.split_once(' ').unwrap_or((s, "00:00:00"));
    let (y, mo, d) = parse_date(date)?;
    let (hms, frac) = time.split_once('.').unwrap_or((time, ""));
    let mut it = hms.splitn(3, ':');
    let h = it.next()?.parse().ok()?;
    let mi = it.next()?.parse().ok()?;
    let sec = it.next()?.parse().ok()?;
    Some((y, mo, d, h, mi, sec, parse_micros(frac)?))
}

/// `[-]HHH:MM:SS[.ffffff]` as signed microseconds.
pub fn parse_time(s: &str) -> Option<i64> {
    let (neg, s) = s.strip_prefix('-').map_or((false, s), |r| (true, r));
    let (hms, frac) = s.split_once('.').unwrap_or((s, ""));
    let mut it = hms.splitn(3, ':');
    let h: i64 = it.next()?.parse().ok()?;
    let m: i64 = it.next()?.parse().ok()?;
    let sec: i64 = it.next()?.parse().ok()?;
    let us = ((h * 60 + m) * 60 + sec) * 1_000_000 + i64::from(parse_micros(frac)?);
    Some(if neg { -us } else { us })
}

fn parse_micros(frac: &str) -> Option<u32> {
    if frac.is_empty() {
        return Some(0);
    }
    let digits: String = frac.chars().chain(std::iter::repeat('0')).take(6).collect();
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(parse_date("1999-03-30"), Some((1999, 3, 30)));
        assert_eq!(parse_date("0000-00-00"), None);
        assert_eq!(parse_date("junk"), None);
    }

    #[test]
    fn datetimes() {
        assert_eq!(
            parse_datetime("2024-01-02 03:04:05"),
            Some((2024, 1, 2, 3, 4, 5, 0))
        );
        assert_eq!(
            parse_datetime("2024-01-02 03:04:05.5"),
            Some((2024, 1, 2, 3, 4, 5, 500_000))
        );
    }

    #[test]
    fn times() {
        assert_eq!(parse_time("01:00:00"), Some(3_600_000_000));
        assert_eq!(parse_time("-838:59:59"), Some(-3_020_399_000_000));
        assert_eq!(parse_time("00:00:00.000001"), Some(1));
    }
}
