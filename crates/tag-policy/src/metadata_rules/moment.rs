//! Renders a time with a moment.js format string (English locale), as `{{date}}` does.

use super::{Error, Result, TimeZone, Timestamp};
use jiff::Zoned;
use jiff::civil::{Date, Weekday};

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];

/// Tokens, longest first so that `YYYY` wins over `YY`.
const TOKENS: [&str; 52] = [
    "YYYYYY",
    "YYYYY",
    "SSSSSSSSS",
    "SSSSSSSS",
    "SSSSSSS",
    "SSSSSS",
    "SSSSS",
    "YYYY",
    "MMMM",
    "DDDD",
    "dddd",
    "gggg",
    "GGGG",
    "SSSS",
    "LLLL",
    "llll",
    "MMM",
    "DDD",
    "ddd",
    "SSS",
    "LTS",
    "LLL",
    "lll",
    "DDDo",
    "YY",
    "MM",
    "Mo",
    "DD",
    "Do",
    "dd",
    "do",
    "HH",
    "hh",
    "kk",
    "mm",
    "ss",
    "SS",
    "ZZ",
    "ww",
    "wo",
    "WW",
    "Wo",
    "Qo",
    "gg",
    "GG",
    "zz",
    "LL",
    "ll",
    "LT",
    "Y",
    "S",
    "X",
];
const SINGLE: &str = "MDdEeHhkmsAaZzwWQxLl";

/// `format` = `None` renders moment's default ISO 8601 form.
pub(super) fn format(at: Timestamp, format: Option<&str>, time_zone: Option<&str>) -> Result<String> {
    let zone = match time_zone {
        None => TimeZone::UTC,
        Some(name) => TimeZone::get(name).map_err(|_| {
            Error::usage(format!("unknown time zone {name:?}; use an IANA name like Europe/Paris"))
        })?,
    };
    let zoned = at.to_zoned(zone);
    let utc = zoned.offset().seconds() == 0;
    let default = if utc { "YYYY-MM-DDTHH:mm:ss[Z]" } else { "YYYY-MM-DDTHH:mm:ssZ" };
    let mut out = String::new();
    render(&zoned, format.unwrap_or(default), &mut out);
    Ok(out)
}

fn render(zoned: &Zoned, format: &str, out: &mut String) {
    let mut rest = format;
    while let Some(c) = rest.chars().next() {
        if c == '['
            && let Some(end) = rest.find(']')
        {
            out.push_str(&rest[1..end]);
            rest = &rest[end + 1..];
            continue;
        }
        if c == '\\' {
            let mut chars = rest.chars();
            chars.next();
            if let Some(escaped) = chars.next() {
                out.push(escaped);
                rest = chars.as_str();
                continue;
            }
        }
        let token = TOKENS
            .iter()
            .find(|t| rest.starts_with(**t))
            .copied()
            .or_else(|| SINGLE.contains(c).then(|| &rest[..c.len_utf8()]));
        match token {
            Some(token) => {
                token_value(zoned, token, out);
                rest = &rest[token.len()..];
            }
            None => {
                out.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
    }
}

fn ordinal(n: i64) -> String {
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

fn offset(zoned: &Zoned, separator: &str) -> String {
    let seconds = zoned.offset().seconds();
    let sign = if seconds < 0 { '-' } else { '+' };
    let minutes = seconds.abs() / 60;
    format!("{sign}{:02}{separator}{:02}", minutes / 60, minutes % 60)
}

/// moment's locale week (English: weeks start on Sunday, week 1 contains January 1st).
fn locale_week(zoned: &Zoned) -> (i64, i64) {
    week_of_year(zoned, 0, 6)
}

/// January `day` of `year`, if the year is in range.
fn january(year: i64, day: i64) -> Option<Date> {
    Date::new(i16::try_from(year).ok()?, 1, i8::try_from(day).ok()?).ok()
}

/// moment's `weekOfYear(mom, dow, doy)`.
fn week_of_year(zoned: &Zoned, dow: i64, doy: i64) -> (i64, i64) {
    let year = i64::from(zoned.year());
    let first_week_offset = |year: i64| {
        let fwd = 7 + dow - doy;
        let weekday =
            january(year, fwd).map_or(Weekday::Sunday, |date| date.weekday()).to_sunday_zero_offset();
        let fwdlw = (7 + i64::from(weekday) - dow) % 7;
        -fwdlw + fwd - 1
    };
    let days_in_year =
        |year: i64| if january(year, 1).is_some_and(|date| date.in_leap_year()) { 366 } else { 365 };
    let weeks_in_year =
        |year: i64| (days_in_year(year) - first_week_offset(year) + first_week_offset(year + 1)) / 7;
    let day_of_year = i64::from(zoned.day_of_year());
    let week = (day_of_year - first_week_offset(year) - 1).div_euclid(7) + 1;
    if week < 1 {
        (week + weeks_in_year(year - 1), year - 1)
    } else if week > weeks_in_year(year) {
        (week - weeks_in_year(year), year + 1)
    } else {
        (week, year)
    }
}

fn token_value(zoned: &Zoned, token: &str, out: &mut String) {
    use std::fmt::Write;
    let year = i64::from(zoned.year());
    let month = i64::from(zoned.month());
    let day = i64::from(zoned.day());
    let hour = i64::from(zoned.hour());
    let weekday = i64::from(zoned.weekday().to_sunday_zero_offset());
    let millis = i64::from(zoned.millisecond());
    let iso = zoned.date().iso_week_date();
    let _ = match token {
        "YYYYYY" => write!(out, "{}{:06}", if year < 0 { '-' } else { '+' }, year.abs()),
        "YYYYY" => write!(out, "{:05}", year),
        "YYYY" => write!(out, "{:04}", year),
        "YY" => write!(out, "{:02}", year.rem_euclid(100)),
        "Y" => write!(out, "{year}"),
        "Q" => write!(out, "{}", (month - 1) / 3 + 1),
        "Qo" => write!(out, "{}", ordinal((month - 1) / 3 + 1)),
        "MMMM" => write!(out, "{}", MONTHS[(month - 1) as usize]),
        "MMM" => write!(out, "{}", &MONTHS[(month - 1) as usize][..3]),
        "MM" => write!(out, "{month:02}"),
        "Mo" => write!(out, "{}", ordinal(month)),
        "M" => write!(out, "{month}"),
        "DDDD" => write!(out, "{:03}", zoned.day_of_year()),
        "DDDo" => write!(out, "{}", ordinal(i64::from(zoned.day_of_year()))),
        "DDD" => write!(out, "{}", zoned.day_of_year()),
        "DD" => write!(out, "{day:02}"),
        "Do" => write!(out, "{}", ordinal(day)),
        "D" => write!(out, "{day}"),
        "dddd" => write!(out, "{}", DAYS[weekday as usize]),
        "ddd" => write!(out, "{}", &DAYS[weekday as usize][..3]),
        "dd" => write!(out, "{}", &DAYS[weekday as usize][..2]),
        "do" => write!(out, "{}", ordinal(weekday)),
        "d" | "e" => write!(out, "{weekday}"),
        "E" => write!(out, "{}", zoned.weekday().to_monday_one_offset()),
        "WW" => write!(out, "{:02}", iso.week()),
        "Wo" => write!(out, "{}", ordinal(i64::from(iso.week()))),
        "W" => write!(out, "{}", iso.week()),
        "GGGG" => write!(out, "{:04}", iso.year()),
        "GG" => write!(out, "{:02}", i64::from(iso.year()).rem_euclid(100)),
        "ww" => write!(out, "{:02}", locale_week(zoned).0),
        "wo" => write!(out, "{}", ordinal(locale_week(zoned).0)),
        "w" => write!(out, "{}", locale_week(zoned).0),
        "gggg" => write!(out, "{:04}", locale_week(zoned).1),
        "gg" => write!(out, "{:02}", locale_week(zoned).1.rem_euclid(100)),
        "HH" => write!(out, "{hour:02}"),
        "H" => write!(out, "{hour}"),
        "hh" => write!(out, "{:02}", (hour + 11) % 12 + 1),
        "h" => write!(out, "{}", (hour + 11) % 12 + 1),
        "kk" => write!(out, "{:02}", if hour == 0 { 24 } else { hour }),
        "k" => write!(out, "{}", if hour == 0 { 24 } else { hour }),
        "mm" => write!(out, "{:02}", zoned.minute()),
        "m" => write!(out, "{}", zoned.minute()),
        "ss" => write!(out, "{:02}", zoned.second()),
        "s" => write!(out, "{}", zoned.second()),
        "A" => write!(out, "{}", if hour < 12 { "AM" } else { "PM" }),
        "a" => write!(out, "{}", if hour < 12 { "am" } else { "pm" }),
        "ZZ" => write!(out, "{}", offset(zoned, "")),
        "Z" => write!(out, "{}", offset(zoned, ":")),
        "zz" | "z" => {
            let info = zoned.time_zone().to_offset_info(zoned.timestamp());
            write!(out, "{}", info.abbreviation())
        }
        "X" => write!(out, "{}", zoned.timestamp().as_second()),
        "x" => write!(out, "{}", zoned.timestamp().as_millisecond()),
        "LT" => return render(zoned, "h:mm A", out),
        "LTS" => return render(zoned, "h:mm:ss A", out),
        "L" => return render(zoned, "MM/DD/YYYY", out),
        "LL" => return render(zoned, "MMMM D, YYYY", out),
        "LLL" => return render(zoned, "MMMM D, YYYY h:mm A", out),
        "LLLL" => return render(zoned, "dddd, MMMM D, YYYY h:mm A", out),
        "l" => return render(zoned, "M/D/YYYY", out),
        "ll" => return render(zoned, "MMM D, YYYY", out),
        "lll" => return render(zoned, "MMM D, YYYY h:mm A", out),
        "llll" => return render(zoned, "ddd, MMM D, YYYY h:mm A", out),
        fraction => {
            // S..SSSSSSSSS: moment has millisecond precision and pads with zeros.
            let digits = format!("{millis:03}000000");
            write!(out, "{}", &digits[..fraction.len()])
        }
    };
}
