//! Webhook delivery of committed events to the operator's back office (`[notify]`): the events
//! of finalized blocks, the same JSON and ids as the event stream (`GET /v1/events`), POSTed
//! in order, at least once.
//!
//! One thread of its own, one request in flight. It reads the block log from its durable
//! [`cursor::Cursor`] up to the committed height (waking at each commit), takes up to
//! `max-events-per-post` wanted events, and POSTs them ([`post`]); only a 2xx answer advances
//! the cursor, so a failed attempt — or a restart — sends the same events again. Failures are
//! retried after a backoff that doubles from `backoff-initial-ms` to `backoff-max-ms`. Each
//! event carries its id (`<height>:<index>`) in the body and, with the others of its POST, in
//! `X-Npchain-Event-Ids`, for the back office to drop a repeat. It never holds the chain's lock
//! while it waits or posts, so it cannot slow consensus or the finalizer. Failures are logged
//! through a [`LogLimit`]; the metrics (`npchain_notify_*`) show what was delivered, the failed
//! attempts, the lag in blocks and events, and the time since the last success.
//!
//! On its first start (no cursor) it delivers from the block after the committed height, and
//! stores that as its cursor at once.

pub mod cursor;
pub mod post;

use crate::{
    api::NodeApi,
    config::{NotifyConfig, NotifyEvents},
    loglimit::LogLimit,
};
use cursor::{Cursor, CursorError, Position};
use npchain_api::json::EventEnvelope;
use post::Target;
use std::{
    path::Path,
    sync::{Arc, Condvar, Mutex},
    thread::JoinHandle,
    time::Duration,
};

/// Blocks read per round before the cursor is stored (a long run of blocks without wanted
/// events is crossed in steps of this many).
pub const MAX_BLOCKS_PER_ROUND: u64 = 1000;
/// The shortest a hmac secret may be.
pub const MIN_SECRET_BYTES: usize = 16;

static FAILED: LogLimit = LogLimit::new(10, Duration::from_secs(60));

/// One event to deliver, with where it is.
#[derive(Debug, Clone)]
pub struct Item {
    pub envelope: EventEnvelope,
}

impl Item {
    /// The event id of the stream: `<height>:<index>`.
    pub fn id(&self) -> String {
        format!("{}:{}", self.envelope.height, self.envelope.index)
    }
}

/// Why the notifier could not start.
#[derive(Debug, thiserror::Error)]
pub enum NotifyStartError {
    #[error("notify {key} {path}: {source}")]
    File {
        key: &'static str,
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("notify {key} {path}: {why}")]
    Secret { key: &'static str, path: String, why: String },
    #[error(transparent)]
    Cursor(#[from] CursorError),
}

/// Stops a notifier: a backoff wakes at once, a wait for the next commit within half a second.
#[derive(Debug, Clone, Default)]
pub struct Stop(Arc<(Mutex<bool>, Condvar)>);

impl Stop {
    pub fn stop(&self) {
        *self.0.0.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.0.1.notify_all();
    }

    fn stopped(&self) -> bool {
        *self.0.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits up to `d`, or until stopped; whether to go on.
    fn wait(&self, d: Duration) -> bool {
        let (flag, woken) = &*self.0;
        let guard = flag.lock().unwrap_or_else(|e| e.into_inner());
        let (stopped, _) =
            woken.wait_timeout_while(guard, d, |stopped| !*stopped).unwrap_or_else(|e| e.into_inner());
        !*stopped
    }
}

fn read_secret(key: &'static str, path: &Path) -> Result<Vec<u8>, NotifyStartError> {
    let text = std::fs::read(path).map_err(|source| NotifyStartError::File {
        key,
        path: path.display().to_string(),
        source,
    })?;
    let trimmed = text.trim_ascii().to_vec();
    if trimmed.is_empty() || trimmed.contains(&b'\n') {
        return Err(NotifyStartError::Secret {
            key,
            path: path.display().to_string(),
            why: "must hold one non-empty line".into(),
        });
    }
    Ok(trimmed)
}

/// Starts the notifier on a thread of its own.
pub fn spawn(
    config: &NotifyConfig,
    api: Arc<dyn NodeApi>,
    data_dir: &Path,
    stop: Stop,
) -> Result<JoinHandle<()>, NotifyStartError> {
    let bearer = config
        .bearer_token_file
        .as_deref()
        .map(|p| read_secret("bearer-token-file", p))
        .transpose()?
        .map(|t| String::from_utf8_lossy(&t).into_owned());
    let secret =
        config.hmac_secret_file.as_deref().map(|p| read_secret("hmac-secret-file", p)).transpose()?;
    if let (Some(s), Some(p)) = (&secret, &config.hmac_secret_file)
        && s.len() < MIN_SECRET_BYTES
    {
        return Err(NotifyStartError::Secret {
            key: "hmac-secret-file",
            path: p.display().to_string(),
            why: format!("holds {} bytes; at least {MIN_SECRET_BYTES} are needed", s.len()),
        });
    }
    // On the first start, from the next block: stored at once, so that a restart before the
    // first delivery still begins there.
    let cursor = Cursor::in_dir(data_dir);
    let position = match cursor.load()? {
        Some(p) => p,
        None => {
            let p = Position { height: *api.committed_height().borrow() + 1, index: 0 };
            cursor.store(p)?;
            p
        }
    };
    let notifier = Notifier {
        target: Target::new(config.url.clone(), bearer, secret, config.timeout),
        config: config.clone(),
        api,
        cursor,
        stop,
    };
    notifier.api.metrics().notify.enable(wall_ms());
    Ok(std::thread::Builder::new()
        .name("notify".into())
        .spawn(move || notifier.run(position))
        .expect("notify thread"))
}

/// The wall clock, Unix ms (the signature's timestamp; the time since the last success).
fn wall_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

struct Notifier {
    config: NotifyConfig,
    api: Arc<dyn NodeApi>,
    target: Target,
    cursor: Cursor,
    stop: Stop,
}

impl Notifier {
    /// The wanted events from `from` on, up to the committed height, at most
    /// `max-events-per-post` and [`MAX_BLOCKS_PER_ROUND`] blocks; and the position after them.
    fn collect(
        &self,
        from: Position,
        committed: u64,
        operator: Option<&str>,
    ) -> Result<(Vec<Item>, Position), String> {
        let max = self.config.max_events_per_post;
        let mut items = Vec::new();
        let mut at = from;
        while at.height <= committed && at.height < from.height + MAX_BLOCKS_PER_ROUND {
            let block = match self.api.block(at.height) {
                Ok(Some(b)) => b,
                Ok(None) => return Err(format!("this node holds no block {}", at.height)),
                Err(e) => return Err(e.to_string()),
            };
            for (index, event) in block.events.into_iter().enumerate().skip(at.index) {
                let wanted = match self.config.events {
                    NotifyEvents::All => true,
                    NotifyEvents::Operator => operator.is_some_and(|op| event.involves_operator(op)),
                };
                if !wanted {
                    continue;
                }
                if items.len() == max {
                    return Ok((items, Position { height: at.height, index }));
                }
                let height = at.height;
                items.push(Item {
                    envelope: EventEnvelope { height, block_time_ms: block.block_time_ms, index, event },
                });
            }
            at = Position { height: at.height + 1, index: 0 };
        }
        Ok((items, at))
    }

    fn run(self, mut at: Position) {
        let metrics = &self.api.metrics().notify;
        let mut committed = self.api.committed_height();
        let wait =
            tokio::runtime::Builder::new_current_thread().enable_time().build().expect("notify runtime");
        let mut backoff = self.config.backoff_initial;
        tracing::info!(url = %self.target.url, height = at.height, index = at.index, "notify: delivering events");
        while !self.stop.stopped() {
            let height = *committed.borrow_and_update();
            metrics.lag_blocks.set((height + 1).saturating_sub(at.height) as i64);
            if at.height > height {
                // wait for the next commit, waking to look at the stop flag
                let _ = wait.block_on(async {
                    tokio::time::timeout(Duration::from_millis(500), committed.changed()).await
                });
                continue;
            }
            let operator = self.api.status().operator;
            let (items, next) = match self.collect(at, height, operator.as_deref()) {
                Ok(found) => found,
                Err(e) => {
                    if let Some(suppressed) = FAILED.allow() {
                        tracing::warn!(error = %e, suppressed, "notify: cannot read the block log");
                    }
                    self.stop.wait(backoff);
                    continue;
                }
            };
            metrics.pending_events.set(items.len() as i64);
            if !items.is_empty() {
                loop {
                    match self.target.post(operator.as_deref(), &items, wall_ms()) {
                        Ok(()) => break,
                        Err(e) => {
                            metrics.failed.inc();
                            let lag = (*committed.borrow() + 1).saturating_sub(at.height);
                            metrics.lag_blocks.set(lag as i64);
                            if let Some(suppressed) = FAILED.allow() {
                                tracing::warn!(error = %e, retry_in_ms = backoff.as_millis() as u64, suppressed, "notify: delivery failed");
                            }
                            if !self.stop.wait(backoff) {
                                return;
                            }
                            backoff = (backoff * 2).min(self.config.backoff_max);
                        }
                    }
                }
                metrics.delivered.inc_by(items.len() as u64);
                metrics.succeeded(wall_ms());
                backoff = self.config.backoff_initial;
            }
            if let Err(e) = self.cursor.store(next) {
                // delivered but not recorded: a restart sends these again (at least once)
                if let Some(suppressed) = FAILED.allow() {
                    tracing::warn!(error = %e, suppressed, "notify: cannot store the cursor");
                }
            }
            at = next;
            metrics.pending_events.set(0);
        }
    }
}
