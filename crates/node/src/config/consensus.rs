//! The `[consensus]` section (optional): simplex's timeouts, in milliseconds.
//!
//! | key | default | bounds |
//! |---|---|---|
//! | `leader-timeout-ms` | 1000 | greater than 0: how long a view waits for the leader's proposal |
//! | `certification-timeout-ms` | 2000 | greater than `leader-timeout-ms`: how long a view waits for certification progress before it tries to skip the view |
//! | `timeout-retry-ms` | 500 | greater than 0: how long before a view stuck after its timeout sends its nullify vote again |
//! | `fetch-timeout-ms` | 1000 | greater than 0: how long a request to a peer waits for its answer |
//!
//! The section is all or nothing: given, it names all four keys.

use serde::Deserialize;
use std::time::Duration;

/// Consensus timeouts, in milliseconds.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Timing {
    pub leader_timeout_ms: u64,
    pub certification_timeout_ms: u64,
    pub timeout_retry_ms: u64,
    pub fetch_timeout_ms: u64,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            leader_timeout_ms: 1_000,
            certification_timeout_ms: 2_000,
            timeout_retry_ms: 500,
            fetch_timeout_ms: 1_000,
        }
    }
}

impl Timing {
    pub fn leader_timeout(&self) -> Duration {
        Duration::from_millis(self.leader_timeout_ms)
    }
    pub fn certification_timeout(&self) -> Duration {
        Duration::from_millis(self.certification_timeout_ms)
    }
    pub fn timeout_retry(&self) -> Duration {
        Duration::from_millis(self.timeout_retry_ms)
    }
    pub fn fetch_timeout(&self) -> Duration {
        Duration::from_millis(self.fetch_timeout_ms)
    }

    /// The engine refuses (by panicking) timeouts out of order; say so clearly instead.
    pub fn validate(&self) -> Result<(), TimingError> {
        if self.leader_timeout_ms == 0 || self.fetch_timeout_ms == 0 || self.timeout_retry_ms == 0 {
            return Err(TimingError::Zero);
        }
        if self.certification_timeout_ms <= self.leader_timeout_ms {
            return Err(TimingError::CertificationBeforeLeader {
                certification_ms: self.certification_timeout_ms,
                leader_ms: self.leader_timeout_ms,
            });
        }
        Ok(())
    }
}

/// Why `[consensus]` timeouts were refused (the engine would panic on them).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimingError {
    #[error("timeouts must be greater than zero")]
    Zero,
    #[error(
        "certification-timeout-ms ({certification_ms}) must be greater than leader-timeout-ms ({leader_ms})"
    )]
    CertificationBeforeLeader { certification_ms: u64, leader_ms: u64 },
}
