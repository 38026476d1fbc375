//! RFC 1123 dates for the Date header (RFC 3261 §20.17).

/// A UTC time split into its civil parts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UtcParts {
    /// Year.
    pub year: i64,
    /// Month, 1-12.
    pub month: u32,
    /// Day of the month, 1-31.
    pub day: u32,
    /// Hour, minute and second.
    pub hms: (u32, u32, u32),
    /// Day of the week, 0 = Sunday.
    pub weekday: u32,
}

/// Split unix milliseconds into UTC civil date and time.
pub fn utc_parts(unix_ms: u64) -> UtcParts {
    let secs = unix_ms / 1000;
    let days = (secs / 86_400) as i64;
    let rem = (secs % 86_400) as u32;
    let hms = (rem / 3600, (rem % 3600) / 60, rem % 60);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = if month <= 2 { y + 1 } else { y };
    let weekday = (days + 4).rem_euclid(7) as u32; // 1970-01-01 was a Thursday
    UtcParts { year, month, day, hms, weekday }
}

/// Format unix milliseconds as `Sat, 13 Nov 2010 23:29:00 GMT`.
pub fn http_date(unix_ms: u64) -> String {
    let p = utc_parts(unix_ms);
    const WD: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MO: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let (h, m, s) = p.hms;
    format!("{}, {:02} {} {} {:02}:{:02}:{:02} GMT", WD[p.weekday as usize], p.day, MO[(p.month - 1) as usize], p.year, h, m, s)
}

#[cfg(test)]
mod tests {
    #[test]
    fn known_dates() {
        assert_eq!(super::http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(super::http_date(1_289_690_940_000), "Sat, 13 Nov 2010 23:29:00 GMT");
        assert_eq!(super::http_date(1_795_600_000_000), "Wed, 25 Nov 2026 09:46:40 GMT");
        assert_eq!(super::http_date(951_782_400_000), "Tue, 29 Feb 2000 00:00:00 GMT");
    }
}
