//! Limits on log lines that a remote party can trigger: a malformed packet, a refused connection
//! or a failed accept must not become one line each, or a flood of them fills the disk.
//!
//! ```
//! use npchain_node::loglimit::LogLimit;
//! use std::time::Duration;
//! static REFUSED: LogLimit = LogLimit::new(10, Duration::from_secs(60));
//! if let Some(suppressed) = REFUSED.allow() {
//!     tracing::warn!(suppressed, "connection refused: at the cap");
//! }
//! ```

use std::{
    sync::Mutex,
    time::{Duration, Instant},
};

/// At most `burst` lines per `window`; the first line after a quiet spell reports how many were
/// left out since the last one written.
#[derive(Debug)]
pub struct LogLimit {
    burst: u32,
    window: Duration,
    state: Mutex<Window>,
}

#[derive(Debug)]
struct Window {
    started: Option<Instant>,
    written: u32,
    suppressed: u64,
}

impl LogLimit {
    /// A limit of `burst` lines per `window`.
    pub const fn new(burst: u32, window: Duration) -> Self {
        Self { burst, window, state: Mutex::new(Window { started: None, written: 0, suppressed: 0 }) }
    }

    /// Whether to write this line: `Some(n)` with the number of lines left out before it, or
    /// `None` to leave it out.
    pub fn allow(&self) -> Option<u64> {
        self.allow_at(Instant::now())
    }

    fn allow_at(&self, now: Instant) -> Option<u64> {
        let mut w = self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if w.started.is_none_or(|s| now.duration_since(s) >= self.window) {
            w.started = Some(now);
            w.written = 0;
        }
        if w.written < self.burst {
            w.written += 1;
            Some(std::mem::take(&mut w.suppressed))
        } else {
            w.suppressed += 1;
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_a_burst_per_window_and_counts_the_rest() {
        let limit = LogLimit::new(3, Duration::from_secs(60));
        let t0 = Instant::now();
        let first: Vec<_> = (0..1000).map(|_| limit.allow_at(t0)).collect();
        assert_eq!(first.iter().filter(|a| a.is_some()).count(), 3);
        assert_eq!(first[..3], [Some(0), Some(0), Some(0)]);
        // Next window: the first line says how many were left out.
        assert_eq!(limit.allow_at(t0 + Duration::from_secs(61)), Some(997));
        assert_eq!(limit.allow_at(t0 + Duration::from_secs(62)), Some(0));
    }
}
