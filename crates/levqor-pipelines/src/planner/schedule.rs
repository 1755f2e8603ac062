//! Time expressions → a 5-field cron (UTC). The phrase is read as parts that
//! combine: an interval ("every 10 minutes", "twice an hour", "every
//! quarter-hour"), days of the week ("every weekday", "on Mondays and
//! Thursdays", "weekends"), a day of the month ("on the 15th of every month",
//! "the last day of each month", "every first Monday of the month"), a month
//! step ("quarterly", "every year"), and a time of day ("at 7:15", "2am",
//! "noon", "each morning at 8", "Sunday night at 11pm"). Also used to infer
//! the cron of a stored `schedule` pipeline from its description.

use std::ops::Range;
use std::sync::LazyLock;

use regex::{Captures, Regex};

use super::re;

const DAY_NAMES: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];
const DAY: &str = r"(?:sun|mon|tues?|wed(?:nes)?|thu(?:rs?)?|fri|sat(?:ur)?)day";

static INTERVAL: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"\b(?:every|each)\s+(?:(\d{1,3})|(a|one|two|three|four|five|six|ten|twelve|fifteen|twenty|thirty|forty-five|other))?\s*(minutes?|mins?|hours?|hrs?)\b|\b(?:once|twice|two times|three times|four times|(\d{1,2}) times)\s+(?:an?|per|each|every)\s+(minute|hour)\b|\bevery\s+(quarter|half)[\s-]*(?:of\s+an?\s+)?hour\b|\b(hourly|half-hourly)\b",
    )
});
static PER_DAY: LazyLock<Regex> = LazyLock::new(|| {
    re(r"\b(twice|two times|three times|four times|(\d) times)\s+(?:a|per|each|every)\s+day\b|\btwice daily\b")
});
static NTH_WEEKDAY: LazyLock<Regex> = LazyLock::new(|| {
    re(&format!(
        r"\b(?:(?:on|every|each)\s+)?(?:the\s+)?(first|1st|second|2nd|third|3rd|fourth|4th|last)\s+({DAY})s?\s+(?:of|in)\s+(?:the|each|every|a)\s+month\b"
    ))
});
static MONTH_DAY: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"\b(?:(?:on|every|each)\s+)?the\s+(\d{1,2}|first|last)(?:st|nd|rd|th)?(?:\s+(?:and|&)\s+(?:the\s+)?(\d{1,2})(?:st|nd|rd|th)?)?\s+(?:day\s+)?(?:of\s+)?(?:each|every|the|a)\s+month\b|\b(?:every|each)\s+month\s+on\s+the\s+(\d{1,2})(?:st|nd|rd|th)?\b|\b(?:at\s+the\s+)?(start|beginning|end)\s+of\s+(?:each|every|the)\s+month\b|\bon\s+the\s+(\d{1,2})(?:st|nd|rd|th)\b",
    )
});
static MONTHS: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"\b(monthly|every month|each month|once a month|quarterly|every quarter|each quarter|yearly|annually|every year|each year|once a year)\b|\bevery\s+(\d{1,2}|two|three|six)\s+months\b",
    )
});
static WEEKDAYS: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"\b(?:weekdays?|workdays?|work days?|business days?|working days?|monday\s+(?:to|through|thru|-)\s+friday|mon\s*-\s*fri)\b",
    )
});
static WEEKENDS: LazyLock<Regex> = LazyLock::new(|| re(r"\bweekends?\b"));
static DAY_NAME: LazyLock<Regex> = LazyLock::new(|| re(&format!(r"\b({DAY})s?\b")));
static DAILY: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"\b(?:daily|nightly|every\s*day|each day|every single day|once a day|(?:every|each)\s+(morning|afternoon|evening|night)|(mornings|afternoons|evenings|nights))\b",
    )
});
static OTHER_DAY: LazyLock<Regex> = LazyLock::new(|| re(r"\bevery\s+(other|second|\d{1,2})\s+days?\b"));
static WEEKLY: LazyLock<Regex> = LazyLock::new(|| re(r"\b(?:weekly|every week|each week|once a week)\b"));
static PERIOD: LazyLock<Regex> =
    LazyLock::new(|| re(r"\b(?:in the\s+)?(morning|afternoon|evening|night|tonight|noon|midday|midnight)s?\b"));
static CLOCK: LazyLock<Regex> = LazyLock::new(|| {
    re(r"(?:\b(?:at|@|by|around)\s*)?\b(\d{1,2})(?::(\d{2}))?\s*(am|pm|a\.m\.|p\.m\.|o'clock)?(?:\s+utc)?(?:[^\w:%]|$)")
});

/// A cron found in a text, and the byte ranges of the words it was read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub cron: String,
    pub spans: Vec<Range<usize>>,
}

fn number_word(w: &str) -> Option<u32> {
    Some(match w {
        "a" | "one" => 1,
        "two" | "other" => 2,
        "three" => 3,
        "four" => 4,
        "five" => 5,
        "six" => 6,
        "ten" => 10,
        "twelve" => 12,
        "fifteen" => 15,
        "twenty" => 20,
        "thirty" => 30,
        "forty-five" => 45,
        _ => return None,
    })
}

fn times_word(w: &str) -> Option<u32> {
    Some(match w {
        "once" => 1,
        "twice" | "two times" | "twice daily" => 2,
        "three times" => 3,
        "four times" => 4,
        _ => return None,
    })
}

fn day_index(name: &str) -> Option<usize> {
    DAY_NAMES.iter().position(|d| name.starts_with(d))
}

fn ordinal(w: &str) -> Option<u32> {
    Some(match w {
        "first" | "1st" => 1,
        "second" | "2nd" => 2,
        "third" | "3rd" => 3,
        "fourth" | "4th" => 4,
        _ => return None,
    })
}

enum Interval {
    Minutes(u32),
    Hours(u32),
}

/// Reads a schedule from lower-case text; `None` when it names no time.
pub fn find(lower: &str) -> Option<Found> {
    let mut spans: Vec<Range<usize>> = Vec::new();
    let taken = |r: Range<usize>, spans: &mut Vec<Range<usize>>| {
        // "#morning" is a channel and "@daily_bot" a name, not times.
        let named = r.start > 0 && matches!(lower.as_bytes().get(r.start - 1), Some(b'#' | b'@' | b'/' | b'_' | b'-'));
        let free = !named && !spans.iter().any(|s| s.start < r.end && r.start < s.end);
        if free {
            spans.push(r);
        }
        free
    };

    let mut interval = None;
    if let Some(c) = INTERVAL.captures(lower)
        && let Some(whole) = c.get(0)
    {
        interval = read_interval(&c);
        if interval.is_some() {
            taken(whole.range(), &mut spans);
        }
    }
    let mut hours_per_day = None;
    if let Some(c) = PER_DAY.captures(lower)
        && let Some(whole) = c.get(0)
    {
        hours_per_day = cap(&c, 2)
            .and_then(|n| n.parse().ok())
            .or_else(|| cap(&c, 1).and_then(times_word))
            .or_else(|| times_word(whole.as_str()))
            .filter(|n: &u32| (1..=24).contains(n));
        taken(whole.range(), &mut spans);
    }

    // Day of month / nth weekday.
    let mut dom: Option<String> = None;
    let mut dow: Option<String> = None;
    if let Some(c) = NTH_WEEKDAY.captures(lower)
        && let (Some(whole), Some(nth), Some(day)) = (c.get(0), cap(&c, 1), cap(&c, 2))
        && let Some(d) = day_index(day)
    {
        dow = Some(match ordinal(nth) {
            Some(n) => format!("{d}#{n}"),
            None => format!("{d}L"),
        });
        taken(whole.range(), &mut spans);
    }
    if dow.is_none()
        && let Some(c) = MONTH_DAY.captures(lower)
        && let Some(whole) = c.get(0)
    {
        let day = |s: &str| -> Option<String> {
            match s {
                "first" | "start" | "beginning" => Some("1".into()),
                "last" | "end" => Some("L".into()),
                n => n.parse::<u32>().ok().filter(|n| (1..=31).contains(n)).map(|n| n.to_string()),
            }
        };
        let first = cap(&c, 1).or_else(|| cap(&c, 3)).or_else(|| cap(&c, 4)).or_else(|| cap(&c, 5)).and_then(day);
        let second = cap(&c, 2).and_then(day);
        if let Some(first) = first {
            dom = Some(match second {
                Some(second) => format!("{first},{second}"),
                None => first,
            });
            taken(whole.range(), &mut spans);
        }
    }
    let mut month: Option<String> = None;
    let mut monthly = false;
    if let Some(c) = MONTHS.captures(lower)
        && let Some(whole) = c.get(0)
    {
        let w = whole.as_str();
        if let Some(n) = cap(&c, 2) {
            let n = n.parse::<u32>().ok().or_else(|| number_word(n)).filter(|n| (1..=12).contains(n));
            month = n.filter(|n| *n > 1).map(|n| format!("*/{n}"));
            monthly = true;
        } else if w.contains("quarter") {
            month = Some("1,4,7,10".into());
            monthly = true;
        } else if w.contains("year") || w == "annually" {
            month = Some("1".into());
            monthly = true;
        } else {
            monthly = true;
        }
        taken(whole.range(), &mut spans);
    }

    // Days of the week.
    let mut days: Vec<usize> = Vec::new();
    if let Some(m) = WEEKDAYS.find(lower)
        && taken(m.range(), &mut spans)
    {
        days.extend(1..=5);
    }
    if let Some(m) = WEEKENDS.find(lower)
        && taken(m.range(), &mut spans)
    {
        days.extend([0, 6]);
    }
    for c in DAY_NAME.captures_iter(lower) {
        if let (Some(whole), Some(name)) = (c.get(0), cap(&c, 1))
            && let Some(d) = day_index(name)
            && taken(whole.range(), &mut spans)
        {
            days.push(d);
        }
    }
    // "every Monday": take the quantifier with the day.
    days.sort_unstable();
    days.dedup();

    let mut daily = false;
    let mut period: Option<&str> = None;
    if let Some(c) = DAILY.captures(lower)
        && let Some(whole) = c.get(0)
    {
        daily = true;
        period = cap(&c, 1).or_else(|| cap(&c, 2).map(|p| p.trim_end_matches('s')));
        if whole.as_str() == "nightly" {
            period = Some("night");
        }
        taken(whole.range(), &mut spans);
    }
    let mut every_n_days = None;
    if let Some(c) = OTHER_DAY.captures(lower)
        && let (Some(whole), Some(n)) = (c.get(0), cap(&c, 1))
    {
        every_n_days = n.parse::<u32>().ok().or(Some(2)).filter(|n| (2..=31).contains(n));
        daily = true;
        taken(whole.range(), &mut spans);
    }
    let mut weekly = false;
    if let Some(m) = WEEKLY.find(lower) {
        weekly = true;
        taken(m.range(), &mut spans);
    }

    let anchored = interval.is_some()
        || hours_per_day.is_some()
        || dom.is_some()
        || dow.is_some()
        || monthly
        || !days.is_empty()
        || daily
        || weekly;

    // The time of day: a clock time, else a part of the day.
    if period.is_none()
        && let Some(c) = PERIOD.captures(lower)
        && let (Some(whole), Some(p)) = (c.get(0), cap(&c, 1))
        && (anchored || matches!(p, "noon" | "midday" | "midnight"))
        && taken(whole.range(), &mut spans)
    {
        period = Some(p);
    }
    let mut clock: Option<(u32, u32)> = None;
    for c in CLOCK.captures_iter(lower) {
        let Some(whole) = c.get(0) else { continue };
        let text = whole.as_str();
        let explicit =
            text.starts_with("at") || text.starts_with('@') || text.starts_with("by") || text.starts_with("around");
        let minute = cap(&c, 2);
        let suffix = cap(&c, 3);
        // A bare number is a time only with "at", a colon or am/pm.
        if !(explicit || minute.is_some() || suffix.is_some()) {
            continue;
        }
        let Some(mut hour) = cap(&c, 1).and_then(|h| h.parse::<u32>().ok()) else { continue };
        let minute = minute.and_then(|m| m.parse::<u32>().ok()).unwrap_or(0);
        match suffix.map(|s| s.replace('.', "")) {
            Some(ref s) if s == "pm" && hour < 12 => hour += 12,
            Some(ref s) if s == "am" && hour == 12 => hour = 0,
            Some(_) => {}
            None if hour < 12 && matches!(period, Some("afternoon" | "evening" | "tonight")) => hour += 12,
            None if (6..12).contains(&hour) && period == Some("night") => hour += 12,
            None => {}
        }
        if hour > 23 || minute > 59 {
            continue;
        }
        let end = whole.end()
            - whole.as_str().chars().last().filter(|ch| !ch.is_alphanumeric() && *ch != '.').map_or(0, char::len_utf8);
        if taken(whole.start()..end, &mut spans) {
            clock = Some((hour, minute));
            break;
        }
    }
    if !anchored && clock.is_none() && !matches!(period, Some("noon" | "midday" | "midnight")) {
        return None;
    }

    let (minute, hour) = match (clock, period) {
        (Some((h, m)), _) => (m.to_string(), h.to_string()),
        (None, Some(p)) => {
            let h = match p {
                "morning" => 9,
                "noon" | "midday" => 12,
                "afternoon" => 14,
                "evening" | "tonight" => 18,
                "night" => 21,
                _ => 0, // midnight
            };
            ("0".into(), h.to_string())
        }
        (None, None) => ("0".into(), "9".into()),
    };
    let cron = match interval {
        Some(Interval::Minutes(n)) => {
            let m = if n <= 1 { "*".to_owned() } else { format!("*/{n}") };
            format!("{m} * * * {}", dow_field(&days, dow.as_deref()))
        }
        Some(Interval::Hours(n)) => {
            let m = clock.map_or(0, |(_, m)| m);
            let h = if n <= 1 { "*".to_owned() } else { format!("*/{n}") };
            format!("{m} {h} * * {}", dow_field(&days, dow.as_deref()))
        }
        None => {
            let hour = match hours_per_day {
                Some(n) if n > 1 => {
                    let start: u32 = hour.parse().unwrap_or(9);
                    let step = 24 / n;
                    let mut hours: Vec<u32> = (0..n).map(|i| (start + i * step) % 24).collect();
                    hours.sort_unstable();
                    hours.iter().map(u32::to_string).collect::<Vec<_>>().join(",")
                }
                _ => hour,
            };
            let dom_field = match (&dom, &dow, every_n_days) {
                (Some(d), _, _) => d.clone(),
                (None, Some(_), _) => "*".into(),
                (None, None, Some(n)) => format!("*/{n}"),
                (None, None, None) if monthly && days.is_empty() => "1".into(),
                _ => "*".into(),
            };
            let dow_value = if weekly && days.is_empty() && dow.is_none() && dom.is_none() {
                "1".to_owned()
            } else {
                dow_field(&days, dow.as_deref())
            };
            format!("{minute} {hour} {dom_field} {} {dow_value}", month.as_deref().unwrap_or("*"))
        }
    };
    crate::schedule::parse(&cron).ok()?;
    spans.sort_by_key(|r| r.start);
    Some(Found { cron, spans })
}

fn dow_field(days: &[usize], nth: Option<&str>) -> String {
    if let Some(nth) = nth {
        return nth.to_owned();
    }
    match days {
        [] => "*".into(),
        [1, 2, 3, 4, 5] => "1-5".into(),
        days => days.iter().map(usize::to_string).collect::<Vec<_>>().join(","),
    }
}

fn read_interval(c: &Captures<'_>) -> Option<Interval> {
    if let Some(unit) = cap(c, 3) {
        let n = match (cap(c, 1), cap(c, 2)) {
            (Some(n), _) => n.parse().ok()?,
            (None, Some(w)) => number_word(w)?,
            (None, None) => 1,
        };
        return to_interval(n, unit.starts_with('m'));
    }
    if let Some(unit) = cap(c, 5) {
        let times = match cap(c, 4) {
            Some(n) => n.parse().ok()?,
            None => times_word(
                c.get(0)?
                    .as_str()
                    .split_whitespace()
                    .take_while(|w| !matches!(*w, "a" | "an" | "per" | "each" | "every"))
                    .collect::<Vec<_>>()
                    .join(" ")
                    .as_str(),
            )?,
        };
        if times == 0 {
            return None;
        }
        return if unit == "hour" { to_interval(60 / times.min(60), true) } else { Some(Interval::Minutes(1)) };
    }
    if let Some(part) = cap(c, 6) {
        return Some(Interval::Minutes(if part == "quarter" { 15 } else { 30 }));
    }
    match cap(c, 7)? {
        "half-hourly" => Some(Interval::Minutes(30)),
        _ => Some(Interval::Hours(1)),
    }
}

fn to_interval(n: u32, minutes: bool) -> Option<Interval> {
    match (minutes, n) {
        (_, 0) => None,
        (true, n) if n < 60 => Some(Interval::Minutes(n)),
        (true, n) if n % 60 == 0 && n / 60 < 24 => Some(Interval::Hours(n / 60)),
        (false, n) if n < 24 => Some(Interval::Hours(n)),
        _ => None,
    }
}

fn cap<'t>(c: &Captures<'t>, i: usize) -> Option<&'t str> {
    c.get(i).map(|m| m.as_str())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use chrono::{TimeZone, Utc};

    /// The cron for `text` and its next three fire times after Wed 2025-01-01 12:00 UTC.
    fn fires(text: &str) -> (String, Vec<String>) {
        let found = find(&text.to_ascii_lowercase()).unwrap_or_else(|| panic!("no schedule in {text:?}"));
        let mut at = Utc.with_ymd_and_hms(2025, 1, 1, 12, 0, 0).unwrap();
        let mut out = Vec::new();
        for _ in 0..3 {
            at = crate::schedule::next_after(&found.cron, &at).unwrap();
            out.push(at.format("%a %Y-%m-%d %H:%M").to_string());
        }
        (found.cron, out)
    }

    fn check(text: &str, cron: &str, next: [&str; 3]) {
        let (got, times) = fires(text);
        assert_eq!(got, cron, "{text}");
        assert_eq!(times, next, "{text}");
    }

    #[test]
    fn minute_and_hour_intervals() {
        check(
            "refresh the cache every 7 minutes",
            "*/7 * * * *",
            ["Wed 2025-01-01 12:07", "Wed 2025-01-01 12:14", "Wed 2025-01-01 12:21"],
        );
        check("every minute", "* * * * *", ["Wed 2025-01-01 12:01", "Wed 2025-01-01 12:02", "Wed 2025-01-01 12:03"]);
        check(
            "three times an hour",
            "*/20 * * * *",
            ["Wed 2025-01-01 12:20", "Wed 2025-01-01 12:40", "Wed 2025-01-01 13:00"],
        );
        check(
            "twice an hour",
            "*/30 * * * *",
            ["Wed 2025-01-01 12:30", "Wed 2025-01-01 13:00", "Wed 2025-01-01 13:30"],
        );
        check(
            "every quarter of an hour",
            "*/15 * * * *",
            ["Wed 2025-01-01 12:15", "Wed 2025-01-01 12:30", "Wed 2025-01-01 12:45"],
        );
        check(
            "every half-hour",
            "*/30 * * * *",
            ["Wed 2025-01-01 12:30", "Wed 2025-01-01 13:00", "Wed 2025-01-01 13:30"],
        );
        check("hourly", "0 * * * *", ["Wed 2025-01-01 13:00", "Wed 2025-01-01 14:00", "Wed 2025-01-01 15:00"]);
        check(
            "every three hours",
            "0 */3 * * *",
            ["Wed 2025-01-01 15:00", "Wed 2025-01-01 18:00", "Wed 2025-01-01 21:00"],
        );
        // Not expressible as one cron: not a schedule at all rather than a wrong one.
        assert_eq!(find("every 90 minutes"), None);
    }

    #[test]
    fn times_of_day() {
        check(
            "at 6:45 each day",
            "45 6 * * *",
            ["Thu 2025-01-02 06:45", "Fri 2025-01-03 06:45", "Sat 2025-01-04 06:45"],
        );
        check("nightly at 1am", "0 1 * * *", ["Thu 2025-01-02 01:00", "Fri 2025-01-03 01:00", "Sat 2025-01-04 01:00"]);
        check(
            "every evening at 7",
            "0 19 * * *",
            ["Wed 2025-01-01 19:00", "Thu 2025-01-02 19:00", "Fri 2025-01-03 19:00"],
        );
        check(
            "each morning at 6",
            "0 6 * * *",
            ["Thu 2025-01-02 06:00", "Fri 2025-01-03 06:00", "Sat 2025-01-04 06:00"],
        );
        check("at midnight", "0 0 * * *", ["Thu 2025-01-02 00:00", "Fri 2025-01-03 00:00", "Sat 2025-01-04 00:00"]);
        check("daily at 17:05", "5 17 * * *", ["Wed 2025-01-01 17:05", "Thu 2025-01-02 17:05", "Fri 2025-01-03 17:05"]);
        check("twice a day", "0 9,21 * * *", ["Wed 2025-01-01 21:00", "Thu 2025-01-02 09:00", "Thu 2025-01-02 21:00"]);
        check(
            "every other day at noon",
            "0 12 */2 * *",
            ["Fri 2025-01-03 12:00", "Sun 2025-01-05 12:00", "Tue 2025-01-07 12:00"],
        );
    }

    #[test]
    fn days_of_the_week() {
        check(
            "on weekdays at 8:30am",
            "30 8 * * 1-5",
            ["Thu 2025-01-02 08:30", "Fri 2025-01-03 08:30", "Mon 2025-01-06 08:30"],
        );
        check(
            "every Tuesday and Friday at 10pm",
            "0 22 * * 2,5",
            ["Fri 2025-01-03 22:00", "Tue 2025-01-07 22:00", "Fri 2025-01-10 22:00"],
        );
        check(
            "on weekends at 10",
            "0 10 * * 0,6",
            ["Sat 2025-01-04 10:00", "Sun 2025-01-05 10:00", "Sat 2025-01-11 10:00"],
        );
        check(
            "saturday mornings",
            "0 9 * * 6",
            ["Sat 2025-01-04 09:00", "Sat 2025-01-11 09:00", "Sat 2025-01-18 09:00"],
        );
        check(
            "Monday night at 11pm",
            "0 23 * * 1",
            ["Mon 2025-01-06 23:00", "Mon 2025-01-13 23:00", "Mon 2025-01-20 23:00"],
        );
        check("once a week", "0 9 * * 1", ["Mon 2025-01-06 09:00", "Mon 2025-01-13 09:00", "Mon 2025-01-20 09:00"]);
        check(
            "every hour on business days",
            "0 * * * 1-5",
            ["Wed 2025-01-01 13:00", "Wed 2025-01-01 14:00", "Wed 2025-01-01 15:00"],
        );
    }

    #[test]
    fn days_of_the_month() {
        check(
            "on the 3rd of each month at 7am",
            "0 7 3 * *",
            ["Fri 2025-01-03 07:00", "Mon 2025-02-03 07:00", "Mon 2025-03-03 07:00"],
        );
        check(
            "the last day of every month at 18:00",
            "0 18 L * *",
            ["Fri 2025-01-31 18:00", "Fri 2025-02-28 18:00", "Mon 2025-03-31 18:00"],
        );
        check(
            "every second Tuesday of the month",
            "0 9 * * 2#2",
            ["Tue 2025-01-14 09:00", "Tue 2025-02-11 09:00", "Tue 2025-03-11 09:00"],
        );
        check(
            "on the last Friday of each month at 4pm",
            "0 16 * * 5L",
            ["Fri 2025-01-31 16:00", "Fri 2025-02-28 16:00", "Fri 2025-03-28 16:00"],
        );
        check("monthly", "0 9 1 * *", ["Sat 2025-02-01 09:00", "Sat 2025-03-01 09:00", "Tue 2025-04-01 09:00"]);
        check(
            "at the start of every month",
            "0 9 1 * *",
            ["Sat 2025-02-01 09:00", "Sat 2025-03-01 09:00", "Tue 2025-04-01 09:00"],
        );
        check(
            "on the 1st and 15th of every month",
            "0 9 1,15 * *",
            ["Wed 2025-01-15 09:00", "Sat 2025-02-01 09:00", "Sat 2025-02-15 09:00"],
        );
        check(
            "quarterly",
            "0 9 1 1,4,7,10 *",
            ["Tue 2025-04-01 09:00", "Tue 2025-07-01 09:00", "Wed 2025-10-01 09:00"],
        );
        check("every year", "0 9 1 1 *", ["Thu 2026-01-01 09:00", "Fri 2027-01-01 09:00", "Sat 2028-01-01 09:00"]);
    }

    #[test]
    fn no_schedule_without_time_words() {
        for text in [
            "post every new order to slack",
            "email each customer",
            "log the payload of every call",
            "call me at least once",
        ] {
            assert_eq!(find(text), None, "{text}");
        }
    }
}
