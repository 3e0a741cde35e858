//! Durations as a person reads them, to the nearest second: the wallet's messages and the
//! command line's progress lines use the same words.

use std::time::Duration;

/// A duration as a person reads it, to the nearest second: `42 s`, `3 min 5 s`, `2 h 10 min`,
/// `3 d 4 h`.
pub fn human(d: Duration) -> String {
    let s = (d.as_millis() as u64 + 500) / 1000;
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min {} s", s / 60, s % 60),
        3600..86_400 => format!("{} h {} min", s / 3600, s % 3600 / 60),
        _ => format!("{} d {} h", s / 86_400, s % 86_400 / 3600),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_a_person_would() {
        assert_eq!(human(Duration::from_secs(42)), "42 s");
        assert_eq!(human(Duration::from_millis(59_600)), "1 min 0 s");
        assert_eq!(human(Duration::from_millis(1_400)), "1 s");
        assert_eq!(human(Duration::from_secs(185)), "3 min 5 s");
        assert_eq!(human(Duration::from_secs(7800)), "2 h 10 min");
        assert_eq!(human(Duration::from_secs(3 * 86_400 + 4 * 3600)), "3 d 4 h");
    }
}
