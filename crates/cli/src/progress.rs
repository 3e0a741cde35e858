//! Progress of a long job on stderr, drawn by `indicatif`: on a terminal a bar (or, for a job
//! without a count, one line) redrawn in place; into a file or a pipe plain lines, at most one
//! per `every` (the first after `every`), so a log does not fill with redraws and a short job
//! writes nothing but its last line.
//!
//! Two kinds: [`Progress::count`] counts units of a job towards a total (a bar with the count,
//! the rate and the time left; without a total, the count and the rate), [`Progress::stderr`]
//! shows whatever line the caller makes (a wait: "order requested, waiting 3 min").

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use npchain_client::human;
use std::{
    io::{IsTerminal, Write},
    time::{Duration, Instant},
};

/// What a count is of: its label, unit and total.
#[derive(Debug, Clone)]
struct Count {
    label: String,
    unit: &'static str,
    total: Option<u64>,
    done: u64,
}

/// Where progress goes.
enum Target {
    /// A terminal: the bar, made on the first update after a start or a [`Progress::clear`].
    Terminal { make: Box<dyn Fn() -> ProgressDrawTarget + Send>, bar: Option<ProgressBar> },
    /// Not a terminal: plain lines.
    Plain(Box<dyn Write + Send>),
}

/// Progress of one job.
pub struct Progress {
    target: Target,
    every: Duration,
    started: Instant,
    last_plain: Instant,
    count: Option<Count>,
    message: String,
}

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Progress")
            .field("terminal", &self.is_terminal())
            .field("count", &self.count)
            .field("message", &self.message)
            .finish_non_exhaustive()
    }
}

impl Progress {
    /// A line on stderr that the caller writes ([`Self::update`]): redrawn in place on a
    /// terminal, else a plain line at most every `every`.
    pub fn stderr(every: Duration) -> Self {
        Self::on_stderr(None, every)
    }

    /// A count of `unit`s towards `total` on stderr, named `label` ("importing"): a bar on a
    /// terminal, else a plain line at most every `every` and one at [`Self::finish`].
    pub fn count(label: &str, unit: &'static str, total: Option<u64>, every: Duration) -> Self {
        Self::on_stderr(Some(Count { label: label.to_owned(), unit, total, done: 0 }), every)
    }

    fn on_stderr(count: Option<Count>, every: Duration) -> Self {
        let target = if std::io::stderr().is_terminal() {
            Target::Terminal { make: Box::new(ProgressDrawTarget::stderr), bar: None }
        } else {
            Target::Plain(Box::new(std::io::stderr()))
        };
        Self::new(target, count, every, Instant::now())
    }

    fn new(target: Target, count: Option<Count>, every: Duration, now: Instant) -> Self {
        Self { target, every, started: now, last_plain: now, count, message: String::new() }
    }

    /// Whether progress is drawn on a terminal (else it is plain lines).
    pub fn is_terminal(&self) -> bool {
        matches!(self.target, Target::Terminal { .. })
    }

    /// Shows `line` (a progress made with [`Self::stderr`]), or for a count the note after it.
    pub fn update(&mut self, line: &str) {
        self.update_at(Instant::now(), line);
    }

    /// [`Self::update`] at `now`.
    pub fn update_at(&mut self, now: Instant, line: &str) {
        line.clone_into(&mut self.message);
        self.show(now);
    }

    /// The count is `done`.
    pub fn set(&mut self, done: u64) {
        self.set_at(Instant::now(), done);
    }

    /// [`Self::set`] at `now`.
    pub fn set_at(&mut self, now: Instant, done: u64) {
        if let Some(c) = &mut self.count {
            c.done = done;
        }
        self.show(now);
    }

    /// `n` more done.
    pub fn inc(&mut self, n: u64) {
        let done = self.count.as_ref().map_or(0, |c| c.done) + n;
        self.set(done);
    }

    /// The total changed (or became known).
    pub fn set_total(&mut self, total: Option<u64>) {
        if let Some(c) = &mut self.count {
            c.total = total;
        }
        if let Target::Terminal { bar: Some(bar), .. } = &self.target {
            bar.set_length(total.unwrap_or(0));
            bar.set_style(style(self.count.as_ref()));
        }
    }

    /// Writes `line` on its own line, above a drawn bar.
    pub fn println(&mut self, line: &str) {
        match &mut self.target {
            Target::Terminal { bar: Some(bar), .. } => bar.suspend(|| eprintln!("{line}")),
            Target::Terminal { bar: None, .. } => eprintln!("{line}"),
            Target::Plain(out) => {
                let _ = writeln!(out, "{line}");
            }
        }
    }

    /// Erases a drawn bar or line, so that other output starts at the left margin; the next
    /// update draws it again.
    pub fn clear(&mut self) {
        if let Target::Terminal { bar, .. } = &mut self.target
            && let Some(bar) = bar.take()
        {
            bar.finish_and_clear();
        }
    }

    /// Leaves a drawn bar as it is and moves to the next line; a count into a log writes its
    /// last line (so a log always ends with the total reached).
    pub fn finish(&mut self) {
        self.finish_at(Instant::now());
    }

    /// [`Self::finish`] at `now`.
    pub fn finish_at(&mut self, now: Instant) {
        match &mut self.target {
            Target::Terminal { bar, .. } => {
                if let Some(bar) = bar.take() {
                    bar.abandon();
                }
            }
            Target::Plain(out) => {
                if let Some(c) = &self.count {
                    let _ = writeln!(out, "{}", plain_count(c, &self.message, now - self.started));
                    let _ = out.flush();
                }
            }
        }
    }

    fn show(&mut self, now: Instant) {
        match &mut self.target {
            Target::Terminal { make, bar } => {
                let bar = bar.get_or_insert_with(|| {
                    let total = self.count.as_ref().and_then(|c| c.total);
                    let bar = ProgressBar::with_draw_target(total, make());
                    bar.set_style(style(self.count.as_ref()));
                    if let Some(c) = &self.count {
                        bar.set_prefix(c.label.clone());
                    }
                    bar
                });
                if let Some(c) = &self.count {
                    bar.set_position(c.done);
                }
                bar.set_message(self.message.clone());
            }
            Target::Plain(out) => {
                if now.saturating_duration_since(self.last_plain) < self.every {
                    return;
                }
                self.last_plain = now;
                let line = match &self.count {
                    Some(c) => plain_count(c, &self.message, now - self.started),
                    None => self.message.clone(),
                };
                let _ = writeln!(out, "{line}");
                let _ = out.flush();
            }
        }
    }
}

/// The bar's look: a count with its total, a count without one, or the caller's line.
fn style(count: Option<&Count>) -> ProgressStyle {
    let template = match count {
        Some(Count { total: Some(_), unit: "bytes", .. }) => {
            "{prefix} [{wide_bar}] {bytes}/{total_bytes} ({bytes_per_sec}, {eta} left) {msg}".to_owned()
        }
        Some(Count { total: Some(_), unit, .. }) => {
            format!(
                "{{prefix}} [{{wide_bar}}] {{human_pos}}/{{human_len}} {unit} ({{per_sec}}, {{eta}} left) {{msg}}"
            )
        }
        Some(Count { unit, .. }) => {
            format!("{{spinner}} {{prefix}} {{human_pos}} {unit} ({{per_sec}}) {{msg}}")
        }
        None => "{msg}".to_owned(),
    };
    ProgressStyle::with_template(&template).expect("the templates are valid")
}

/// A count as a plain line: `label: done of total unit (p %), rate/s, time; note`.
fn plain_count(c: &Count, note: &str, elapsed: Duration) -> String {
    let rate = c.done as f64 / elapsed.as_secs_f64().max(1e-3);
    let mut line = match c.total {
        Some(total) => {
            let pct = if total == 0 { 100.0 } else { c.done as f64 * 100.0 / total as f64 };
            format!("{}: {} of {total} {} ({pct:.0} %)", c.label, c.done, c.unit)
        }
        None => format!("{}: {} {}", c.label, c.done, c.unit),
    };
    line.push_str(&format!(", {rate:.0}/s, {}", human(elapsed)));
    if !note.is_empty() {
        line.push_str("; ");
        line.push_str(note);
    }
    line
}

/// A terminal for tests: what indicatif writes, line by line (`\r` starts a redraw).
#[cfg(test)]
#[derive(Debug, Default, Clone)]
struct Screen(std::sync::Arc<std::sync::Mutex<String>>);

#[cfg(test)]
impl indicatif::TermLike for Screen {
    fn width(&self) -> u16 {
        100
    }
    fn move_cursor_up(&self, _: usize) -> std::io::Result<()> {
        Ok(())
    }
    fn move_cursor_down(&self, _: usize) -> std::io::Result<()> {
        Ok(())
    }
    fn move_cursor_right(&self, _: usize) -> std::io::Result<()> {
        Ok(())
    }
    fn move_cursor_left(&self, _: usize) -> std::io::Result<()> {
        Ok(())
    }
    fn write_line(&self, s: &str) -> std::io::Result<()> {
        self.0.lock().unwrap().push_str(&format!("{s}\n"));
        Ok(())
    }
    fn write_str(&self, s: &str) -> std::io::Result<()> {
        self.0.lock().unwrap().push_str(s);
        Ok(())
    }
    fn clear_line(&self) -> std::io::Result<()> {
        self.0.lock().unwrap().push('\r');
        Ok(())
    }
    fn flush(&self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A plain output the test reads back.
    #[derive(Clone, Default)]
    struct Log(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl Write for Log {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Log {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    fn count(total: Option<u64>) -> Option<Count> {
        Some(Count { label: "importing".into(), unit: "numbers", total, done: 0 })
    }

    #[test]
    fn a_terminal_gets_a_bar_with_the_count() {
        let screen = Screen::default();
        let term = screen.clone();
        let make = Box::new(move || ProgressDrawTarget::term_like(Box::new(term.clone())));
        let t = Instant::now();
        let mut p =
            Progress::new(Target::Terminal { make, bar: None }, count(Some(200)), Duration::from_secs(10), t);
        assert!(p.is_terminal());
        p.set_at(t, 50);
        p.set_at(t, 200);
        p.finish_at(t);
        let text = screen.0.lock().unwrap().clone();
        let last = text.rsplit('\r').find(|l| !l.trim().is_empty()).unwrap();
        assert!(last.contains("importing [") && last.contains("200/200 numbers"), "{text:?}");
        assert!(last.contains("left"), "the time left is shown: {last:?}");
    }

    #[test]
    fn a_terminal_line_is_the_callers_and_comes_back_after_a_clear() {
        let screen = Screen::default();
        let term = screen.clone();
        let make = Box::new(move || ProgressDrawTarget::term_like(Box::new(term.clone())));
        let t = Instant::now();
        let mut p = Progress::new(Target::Terminal { make, bar: None }, None, Duration::from_secs(10), t);
        p.update_at(t, "order requested, waiting 1 s");
        p.clear();
        p.update_at(t, "order released, waiting 2 s");
        p.finish_at(t);
        let text = screen.0.lock().unwrap().clone();
        assert!(text.contains("order requested, waiting 1 s"), "{text:?}");
        assert!(text.trim_end().ends_with("order released, waiting 2 s"), "{text:?}");
    }

    #[test]
    fn a_log_gets_plain_lines_at_a_bounded_rate() {
        let log = Log::default();
        let t = Instant::now();
        let mut p = Progress::new(Target::Plain(Box::new(log.clone())), None, Duration::from_secs(10), t);
        for i in 0..=100u64 {
            p.update_at(t + Duration::from_millis(200 * i), &format!("{i}"));
        }
        p.clear();
        p.finish();
        let text = log.text();
        assert!(!text.contains('\r') && !text.contains('\x1b'), "{text:?}");
        // 20 s of updates every 200 ms: one line each 10 s
        assert_eq!(text, "50\n100\n");
    }

    #[test]
    fn a_count_in_a_log_says_how_far_and_ends_with_the_total() {
        let log = Log::default();
        let t = Instant::now();
        let mut p = Progress::new(
            Target::Plain(Box::new(log.clone())),
            count(Some(1_000)),
            Duration::from_secs(10),
            t,
        );
        for i in 1..=40u64 {
            p.set_at(t + Duration::from_millis(500 * i), 25 * i);
        }
        p.update_at(t + Duration::from_millis(20_000), "2 transactions waiting");
        p.finish_at(t + Duration::from_millis(20_500));
        let lines: Vec<String> = log.text().lines().map(str::to_owned).collect();
        assert_eq!(
            lines,
            vec![
                "importing: 500 of 1000 numbers (50 %), 50/s, 10 s".to_owned(),
                "importing: 1000 of 1000 numbers (100 %), 50/s, 20 s".to_owned(),
                "importing: 1000 of 1000 numbers (100 %), 49/s, 21 s; 2 transactions waiting".to_owned(),
            ]
        );
        // without a total: the count and the rate
        let log = Log::default();
        let mut p =
            Progress::new(Target::Plain(Box::new(log.clone())), count(None), Duration::from_secs(1), t);
        p.set_at(t + Duration::from_secs(2), 10);
        assert_eq!(log.text(), "importing: 10 numbers, 5/s, 2 s\n");
    }
}
