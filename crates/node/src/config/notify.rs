//! The `[notify]` section (optional): webhook delivery of committed events to the operator's
//! back office (`crate::notify`). Without it the node posts nothing.
//!
//! | key | default | bounds | what it does, and at the limit |
//! |---|---|---|---|
//! | `url` | — (required) | an `http://` URL, at most 2,048 bytes | where events are POSTed. `https` is refused: the node links no TLS stack; post to the back office's own network, or through a TLS proxy beside the node |
//! | `events` | `"operator"` | `"operator"` or `"all"` | `operator`: the events that involve this node's operator (its orders as donor or recipient, its binds, ranges and returns, and the policy and validator-set changes everyone is concerned by; nothing while the node has no operator); `all`: every event |
//! | `timeout-ms` | 5000 | 100 to 60,000 | one POST, from connecting to the end of the answer's head; past it the attempt failed |
//! | `backoff-initial-ms` | 500 | 10 to 60,000 | the wait after the first failed attempt; each further failure doubles it |
//! | `backoff-max-ms` | 60000 | `backoff-initial-ms` to 3,600,000 | the longest wait between attempts; it is retried at that pace until the back office answers 2xx |
//! | `max-events-per-post` | 20 | 1 to 100 | events in one POST; more wait for the next |
//! | `bearer-token-file` | none | a file of one line | sent as `Authorization: Bearer <line>` |
//! | `hmac-secret-file` | none | a file, its content (trimmed) at least 16 bytes | signs each POST: `X-Npchain-Signature: sha256=<hex HMAC-SHA256(secret, timestamp "." body)>` with the timestamp (Unix ms) in `X-Npchain-Timestamp` |
//!
//! Paths are relative to the configuration file's directory. A refused value is a
//! [`NotifyError`] naming the key and the value.

use serde::Deserialize;
use std::{
    path::{Path, PathBuf},
    time::Duration,
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawNotify {
    url: String,
    events: Option<String>,
    timeout_ms: Option<u64>,
    backoff_initial_ms: Option<u64>,
    backoff_max_ms: Option<u64>,
    max_events_per_post: Option<usize>,
    bearer_token_file: Option<PathBuf>,
    hmac_secret_file: Option<PathBuf>,
}

/// Which events are posted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotifyEvents {
    /// Those that involve this node's operator.
    Operator,
    All,
}

/// The webhook's settings, checked (`[notify]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifyConfig {
    pub url: String,
    pub events: NotifyEvents,
    pub timeout: Duration,
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
    pub max_events_per_post: usize,
    pub bearer_token_file: Option<PathBuf>,
    pub hmac_secret_file: Option<PathBuf>,
}

impl NotifyConfig {
    /// The defaults for a webhook at `url` (unchecked).
    pub fn new(url: &str) -> Self {
        Self {
            url: url.to_owned(),
            events: NotifyEvents::Operator,
            timeout: Duration::from_millis(5000),
            backoff_initial: Duration::from_millis(500),
            backoff_max: Duration::from_millis(60_000),
            max_events_per_post: 20,
            bearer_token_file: None,
            hmac_secret_file: None,
        }
    }

    /// The section as TOML (paths as given).
    pub fn to_toml(&self) -> String {
        let path = |p: &Path| p.display().to_string().replace('\\', "/");
        let mut out = format!(
            "\n[notify]\nurl = {:?}\nevents = \"{}\"\ntimeout-ms = {}\nbackoff-initial-ms = {}\nbackoff-max-ms = {}\nmax-events-per-post = {}\n",
            self.url,
            match self.events {
                NotifyEvents::Operator => "operator",
                NotifyEvents::All => "all",
            },
            self.timeout.as_millis(),
            self.backoff_initial.as_millis(),
            self.backoff_max.as_millis(),
            self.max_events_per_post
        );
        if let Some(p) = &self.bearer_token_file {
            out.push_str(&format!("bearer-token-file = {:?}\n", path(p)));
        }
        if let Some(p) = &self.hmac_secret_file {
            out.push_str(&format!("hmac-secret-file = {:?}\n", path(p)));
        }
        out
    }
}

impl RawNotify {
    /// The checked settings; `abs` makes a path absolute.
    pub(super) fn check(self, abs: impl Fn(PathBuf) -> PathBuf) -> Result<NotifyConfig, NotifyError> {
        check_url(&self.url)?;
        let d = NotifyConfig::new(&self.url);
        let events = match self.events.as_deref() {
            None | Some("operator") => NotifyEvents::Operator,
            Some("all") => NotifyEvents::All,
            Some(other) => return Err(NotifyError::Events(other.to_owned())),
        };
        let ms = |key: &'static str, v: Option<u64>, default: Duration, lo: u64, hi: u64| match v {
            None => Ok(default),
            Some(v) if (lo..=hi).contains(&v) => Ok(Duration::from_millis(v)),
            Some(got) => Err(NotifyError::Range { key, got, lo, hi }),
        };
        let timeout = ms("timeout-ms", self.timeout_ms, d.timeout, 100, 60_000)?;
        let backoff_initial =
            ms("backoff-initial-ms", self.backoff_initial_ms, d.backoff_initial, 10, 60_000)?;
        let lo = backoff_initial.as_millis() as u64;
        let backoff_max =
            ms("backoff-max-ms", self.backoff_max_ms, d.backoff_max.max(backoff_initial), lo, 3_600_000)?;
        let max_events_per_post = match self.max_events_per_post {
            None => d.max_events_per_post,
            Some(n) if (1..=100).contains(&n) => n,
            Some(got) => {
                return Err(NotifyError::Range {
                    key: "max-events-per-post",
                    got: got as u64,
                    lo: 1,
                    hi: 100,
                });
            }
        };
        Ok(NotifyConfig {
            url: self.url,
            events,
            timeout,
            backoff_initial,
            backoff_max,
            max_events_per_post,
            bearer_token_file: self.bearer_token_file.map(&abs),
            hmac_secret_file: self.hmac_secret_file.map(&abs),
        })
    }
}

/// An `http://` URL with a host, no longer than 2,048 bytes.
fn check_url(url: &str) -> Result<(), NotifyError> {
    let bad = |why: &'static str| NotifyError::Url { url: url.to_owned(), why };
    if url.len() > 2048 {
        return Err(bad("it is longer than 2048 bytes"));
    }
    let uri: axum::http::Uri = url.parse().map_err(|_| bad("it is not a URL"))?;
    match uri.scheme_str() {
        Some("http") => {}
        Some("https") => {
            return Err(bad(
                "https is not supported (the node links no TLS): post over http to the back office's network, \
                 or through a TLS proxy beside the node",
            ));
        }
        _ => return Err(bad("it is not an http:// URL")),
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(bad("it names no host"));
    }
    Ok(())
}

/// Why a `[notify]` setting was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotifyError {
    #[error("url {url:?}: {why}")]
    Url { url: String, why: &'static str },
    #[error("events must be \"operator\" or \"all\"; got {0:?}")]
    Events(String),
    #[error("{key} must be between {lo} and {hi}; got {got}")]
    Range { key: &'static str, got: u64, lo: u64, hi: u64 },
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ConfigError, NodeConfig, tests::sample};

    fn parse(section: &str) -> Result<NodeConfig, ConfigError> {
        NodeConfig::parse(&format!("{}\n[notify]\n{section}", sample()), Path::new("/etc/np"))
    }

    #[test]
    fn defaults_settings_and_a_round_trip() {
        assert_eq!(NodeConfig::parse(&sample(), Path::new("/")).unwrap().notify, None);
        let c = parse("url = \"http://10.0.0.9:8080/hook\"\n").unwrap();
        assert_eq!(c.notify, Some(NotifyConfig::new("http://10.0.0.9:8080/hook")));
        let c = parse(
            "url = \"http://bo/hook\"\nevents = \"all\"\ntimeout-ms = 100\nbackoff-initial-ms = 10\nbackoff-max-ms = 20\nmax-events-per-post = 100\nbearer-token-file = \"t\"\nhmac-secret-file = \"/s\"\n",
        )
        .unwrap();
        let n = c.notify.clone().unwrap();
        assert_eq!(
            (n.events, n.timeout, n.max_events_per_post),
            (NotifyEvents::All, Duration::from_millis(100), 100)
        );
        assert_eq!(
            (n.backoff_initial, n.backoff_max),
            (Duration::from_millis(10), Duration::from_millis(20))
        );
        assert_eq!(n.bearer_token_file.as_deref(), Some(Path::new("/etc/np/t")));
        assert_eq!(n.hmac_secret_file.as_deref(), Some(Path::new("/s")));
        assert_eq!(NodeConfig::parse(&c.to_toml(), Path::new("/")).unwrap().notify, c.notify);
        // a larger initial backoff raises the default maximum with it
        let n = parse("url = \"http://bo/\"\nbackoff-initial-ms = 60000\n").unwrap().notify.unwrap();
        assert_eq!(n.backoff_max, Duration::from_secs(60));
    }

    #[test]
    fn each_refusal_names_the_key_and_the_value() {
        let err = |section: &str| parse(section).unwrap_err().to_string();
        let e = err("url = \"https://bo/hook\"\n");
        assert!(e.starts_with("config: notify url \"https://bo/hook\": https is not supported"), "{e}");
        assert!(err("url = \"ftp://bo/\"\n").contains("url \"ftp://bo/\": it is not an http:// URL"));
        assert!(err("url = \"not a url\"\n").contains("it is not a URL"));
        let e = err("url = \"http://bo/\"\nevents = \"mine\"\n");
        assert!(e.contains("events must be \"operator\" or \"all\"; got \"mine\""), "{e}");
        let e = err("url = \"http://bo/\"\ntimeout-ms = 99\n");
        assert!(e.contains("timeout-ms must be between 100 and 60000; got 99"), "{e}");
        let e = err("url = \"http://bo/\"\nbackoff-initial-ms = 500\nbackoff-max-ms = 499\n");
        assert!(e.contains("backoff-max-ms must be between 500 and 3600000; got 499"), "{e}");
        let e = err("url = \"http://bo/\"\nmax-events-per-post = 0\n");
        assert!(e.contains("max-events-per-post must be between 1 and 100; got 0"), "{e}");
        assert!(matches!(parse("url = \"http://bo/\"\nretries = 3\n"), Err(ConfigError::Toml { .. })));
    }
}
