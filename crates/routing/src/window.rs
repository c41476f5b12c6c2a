//! Weekly time windows at a fixed UTC offset, evaluated against an epoch-milliseconds clock.
//!
//! Offsets are fixed (`-05:00`), not time-zone names: a window in a zone with daylight saving needs its
//! offset changed twice a year. This keeps the crate free of a time-zone database and of any clock.

const MINUTES_PER_DAY: i64 = 24 * 60;

/// Days as a bit set, bit 0 = Monday.
const ALL_DAYS: u8 = 0b111_1111;

/// A compiled window: days it starts on, and minutes of the day `[from, to)`; `to < from` runs overnight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Window {
    days: u8,
    from: u16,
    to: u16,
}

impl Window {
    /// Builds a window from checked parts. `from != to` is the caller's to ensure.
    pub(crate) fn new(days: Option<u8>, from: u16, to: u16) -> Self {
        Window {
            days: days.unwrap_or(ALL_DAYS),
            from,
            to,
        }
    }

    /// Whether local time (`weekday`, 0 = Monday; `minute` of the day) is inside the window.
    fn contains(&self, weekday: u8, minute: u16) -> bool {
        let on = |day: u8| self.days & (1 << day) != 0;
        if self.from < self.to {
            on(weekday) && (self.from..self.to).contains(&minute)
        } else {
            // Overnight: the evening part on a listed day, the morning part on the day after one.
            let yesterday = (weekday + 6) % 7;
            (on(weekday) && minute >= self.from) || (on(yesterday) && minute < self.to)
        }
    }
}

/// Whether `now_ms` (epoch milliseconds) at `offset_minutes` from UTC is inside any of `windows`.
pub(crate) fn any_contains(windows: &[Window], offset_minutes: i32, now_ms: i64) -> bool {
    let local = now_ms.div_euclid(60_000).saturating_add(i64::from(offset_minutes));
    let days = local.div_euclid(MINUTES_PER_DAY);
    let minute = local.rem_euclid(MINUTES_PER_DAY) as u16;
    // 1970-01-01 was a Thursday (weekday 3 counting from Monday = 0).
    let weekday = (days + 3).rem_euclid(7) as u8;
    windows.iter().any(|window| window.contains(weekday, minute))
}

/// Parses `HH:MM` into minutes of the day; `24:00` only when `allow_end_of_day`.
pub(crate) fn parse_time(text: &str, allow_end_of_day: bool) -> Option<u16> {
    let (hours, minutes) = text.split_once(':')?;
    if hours.len() != 2 || minutes.len() != 2 || !(hours.bytes().chain(minutes.bytes()).all(|b| b.is_ascii_digit())) {
        return None;
    }
    let (hours, minutes): (u16, u16) = (hours.parse().ok()?, minutes.parse().ok()?);
    match (hours, minutes) {
        (24, 0) if allow_end_of_day => Some(24 * 60),
        (0..=23, 0..=59) => Some(hours * 60 + minutes),
        _ => None,
    }
}

/// Parses `±HH:MM`, `Z` or `UTC` into minutes east of UTC, at most 14 hours either way.
pub(crate) fn parse_offset(text: &str) -> Option<i32> {
    if matches!(text, "Z" | "z" | "UTC" | "utc") {
        return Some(0);
    }
    let sign = match text.as_bytes().first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let minutes = i32::from(parse_time(text.get(1..)?, false)?);
    (minutes <= 14 * 60).then_some(sign * minutes)
}

/// Parses a day name (`mon`, `Monday`, any case) into its bit.
pub(crate) fn parse_day(text: &str) -> Option<u8> {
    const NAMES: [&str; 7] = [
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
    ];
    let lower = text.to_ascii_lowercase();
    let index = NAMES
        .iter()
        .position(|name| lower == *name || (lower.len() == 3 && name.starts_with(lower.as_str())))?;
    Some(1 << index)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_offsets_and_days_parse() {
        assert_eq!(parse_time("09:30", false), Some(570));
        assert_eq!(parse_time("00:00", false), Some(0));
        assert_eq!(parse_time("23:59", false), Some(1439));
        assert_eq!(parse_time("24:00", true), Some(1440));
        for bad in [
            "24:00",
            "25:00",
            "9:30",
            "09:60",
            "0930",
            "ab:cd",
            "",
            "+1:00",
            "09:3\u{663}",
        ] {
            assert_eq!(parse_time(bad, false), None, "{bad}");
        }
        assert_eq!(parse_offset("-05:00"), Some(-300));
        assert_eq!(parse_offset("+05:30"), Some(330));
        assert_eq!(parse_offset("Z"), Some(0));
        for bad in ["05:00", "EST", "+15:00", "-5", "", "+"] {
            assert_eq!(parse_offset(bad), None, "{bad}");
        }
        assert_eq!(parse_day("mon"), Some(1));
        assert_eq!(parse_day("Sunday"), Some(64));
        assert_eq!(parse_day("SAT"), Some(32));
        assert_eq!(parse_day("mo"), None);
        assert_eq!(parse_day("funday"), None);
    }

    #[test]
    fn clock_maps_to_local_weekday_and_minute() {
        // 2024-07-25T18:53:47Z was a Thursday.
        let thursday_1853_utc = 1_721_933_627_736;
        let check = |window: Window, offset: i32, expected: bool| {
            assert_eq!(
                any_contains(&[window], offset, thursday_1853_utc),
                expected,
                "{window:?} at {offset}"
            );
        };
        let thursday = Some(1 << 3);
        check(Window::new(thursday, 18 * 60, 19 * 60), 0, true);
        check(Window::new(thursday, 19 * 60, 20 * 60), 0, false);
        // 13:53 local at -05:00.
        check(Window::new(thursday, 13 * 60, 14 * 60), -300, true);
        // 04:53 Friday local at +10:00.
        check(Window::new(Some(1 << 4), 4 * 60, 5 * 60), 600, true);
        check(Window::new(thursday, 4 * 60, 5 * 60), 600, false);
        // Overnight from Thursday 22:00 covers Friday 04:53 at +10:00.
        check(Window::new(thursday, 22 * 60, 6 * 60), 600, true);
        // Negative clocks (before 1970) do not panic.
        assert!(!any_contains(&[Window::new(None, 0, 1)], 0, i64::MIN));
        assert!(any_contains(&[Window::new(None, 0, 1440)], 840, i64::MAX));
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn parsers_and_clock_never_panic(text in "\\PC{0,8}", now_ms: i64, offset in -900i32..900, from in 0u16..1440, to in 0u16..1441) {
            let _ = (parse_time(&text, true), parse_offset(&text), parse_day(&text));
            let _ = any_contains(&[Window::new(None, from, to)], offset, now_ms);
        }

        #[test]
        fn a_whole_day_window_contains_every_moment(now_ms: i64, offset in -840i32..=840) {
            prop_assert!(any_contains(&[Window::new(None, 0, 24 * 60)], offset, now_ms));
        }
    }
}
