//! A progress line on stderr: on a terminal one line redrawn in place (carriage return); into
//! a file or a pipe plain lines, at most one per `every` (the first after `every`), so a log
//! does not fill with redraws and a short wait writes nothing.

use std::{
    io::{IsTerminal, Write},
    time::{Duration, Instant},
};

/// One progress line.
#[derive(Debug)]
pub struct Progress<W: Write> {
    out: W,
    terminal: bool,
    every: Duration,
    last_plain: Instant,
    drawn: bool,
    /// The line drawn (on a terminal), not drawn again while it is the same.
    shown: String,
}

impl Progress<std::io::Stderr> {
    /// Progress on stderr; redrawn in place if stderr is a terminal, else a plain line at
    /// most every `every`.
    pub fn stderr(every: Duration) -> Self {
        let out = std::io::stderr();
        let terminal = out.is_terminal();
        Self::new(out, terminal, every, Instant::now())
    }
}

impl<W: Write> Progress<W> {
    /// Progress on `out`, started at `now`.
    pub fn new(out: W, terminal: bool, every: Duration, now: Instant) -> Self {
        Self { out, terminal, every, last_plain: now, drawn: false, shown: String::new() }
    }

    /// Whether the line is redrawn in place.
    pub fn is_terminal(&self) -> bool {
        self.terminal
    }

    /// Shows `line` now (at `now`): redrawn on a terminal; otherwise written as a plain line
    /// if `every` has passed since the last one (or the start).
    pub fn update_at(&mut self, now: Instant, line: &str) {
        if self.terminal {
            if self.drawn && self.shown == line {
                return;
            }
            // carriage return, the line, erase what an older, longer line left
            let _ = write!(self.out, "\r{line}\x1b[K");
            self.drawn = true;
            line.clone_into(&mut self.shown);
        } else if now.saturating_duration_since(self.last_plain) >= self.every {
            let _ = writeln!(self.out, "{line}");
            self.last_plain = now;
        }
        let _ = self.out.flush();
    }

    pub fn update(&mut self, line: &str) {
        self.update_at(Instant::now(), line);
    }

    /// Erases a drawn line, so that other output starts at the left margin.
    pub fn clear(&mut self) {
        if self.drawn {
            let _ = write!(self.out, "\r\x1b[K");
            let _ = self.out.flush();
            self.drawn = false;
        }
    }

    /// Leaves a drawn line as it is and moves to the next one.
    pub fn finish(&mut self) {
        if self.drawn {
            let _ = writeln!(self.out);
            let _ = self.out.flush();
            self.drawn = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_terminal_redraws_one_line() {
        let t = Instant::now();
        let mut p = Progress::new(Vec::new(), true, Duration::from_secs(10), t);
        p.update_at(t, "1 of 3");
        p.update_at(t, "2 of 3");
        p.update_at(t, "2 of 3");
        p.finish();
        assert_eq!(String::from_utf8(p.out).unwrap(), "\r1 of 3\x1b[K\r2 of 3\x1b[K\n");
    }

    #[test]
    fn a_log_gets_plain_lines_at_a_bounded_rate() {
        let t = Instant::now();
        let mut p = Progress::new(Vec::new(), false, Duration::from_secs(10), t);
        for i in 0..=100u64 {
            p.update_at(t + Duration::from_millis(200 * i), &format!("{i}"));
        }
        p.clear();
        p.finish();
        let text = String::from_utf8(p.out).unwrap();
        assert!(!text.contains('\r') && !text.contains('\x1b'), "{text:?}");
        // 20 s of updates every 200 ms: one line each 10 s
        assert_eq!(text, "50\n100\n");
    }
}
