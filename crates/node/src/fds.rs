//! The open-file budget: a node raises its soft open-file limit to the hard one, and refuses
//! to start when its connection caps (HTTP, DNS over TCP, peers) and the files its store keeps
//! open do not fit under it; past the limit an accept would fail, and so would the consensus
//! journal's next file.

use crate::node::NodeError;
use std::path::Path;
use tracing::warn;

/// File descriptors kept for everything but the query ports' connections and the files the
/// consensus store already holds (counted at start). Measured on a devnet node: about 35 (three
/// tokio runtimes' epoll and event fds, the redb files, the logs, the listeners, the peers'
/// sockets) besides the store's files. The store keeps every file of its archives of finalized
/// blocks and certificates open, and makes more as the chain grows: two per 1,024 heights
/// (some 340 a day at two blocks a second) and two per MiB of blocks. The rest of this reserve
/// is room for that growth while the node runs, half a day of an idle chain; a node that runs
/// for long needs a hard limit far above 1,024 (most systems allow 2^19 or more), and the check
/// at the next start counts what the store then holds.
const RESERVED_FDS: u64 = 256;
/// Sockets a peer may take: one each way, while a reconnection overlaps the old connection.
const FDS_PER_PEER: u64 = 2;

/// The files under `dir` and its subdirectories (0 if it does not exist yet).
pub(crate) fn count_files(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => count_files(&e.path()),
            Ok(_) => 1,
            Err(_) => 0,
        })
        .sum()
}

/// Raises the soft open-file limit to the hard one (the soft limit is often 1,024, the hard
/// one far higher); the limit the node then runs under, `None` if unlimited.
pub(crate) fn raise_open_files() -> Option<u64> {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current != limit.maximum {
        let raised = rustix::process::Rlimit { current: limit.maximum, maximum: limit.maximum };
        match setrlimit(Resource::Nofile, raised) {
            Ok(()) => limit.current = limit.maximum,
            Err(e) => warn!(error = %e, soft = ?limit.current, "cannot raise the open-file limit"),
        }
    }
    limit.current
}

/// Checks that the HTTP and DNS connection caps and [`RESERVED_FDS`] fit under the open-file
/// limit: past it, an accept would fail, and so would the consensus journal's next file (the
/// engine panics on that). The node refuses to start rather than lower the caps behind the
/// operator's back.
pub(crate) fn check_open_files(
    limit: Option<u64>,
    http: &crate::config::HttpLimits,
    dns: usize,
    peers: usize,
    store_files: u64,
) -> Result<(), NodeError> {
    let http = (http.max_connections + crate::http::REFUSING) as u64;
    let dns = dns as u64;
    let reserve = RESERVED_FDS + FDS_PER_PEER * peers as u64 + store_files;
    let need = http + dns + reserve;
    match limit {
        Some(limit) if limit < need => Err(NodeError::OpenFiles { limit, need, http, dns, reserve }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::HttpLimits;
    const DNS_TCP: usize = crate::enum_dns::DEFAULT_MAX_TCP_CONNECTIONS + 1;

    #[test]
    fn the_connection_caps_must_fit_under_the_open_file_limit() {
        let defaults = HttpLimits::default();
        // The defaults fit a hard limit of 1,024 with four peers and a young chain.
        assert!(check_open_files(Some(1024), &defaults, DNS_TCP, 3, 40).is_ok());
        assert!(check_open_files(None, &defaults, DNS_TCP, 3, 40).is_ok());
        let wide = HttpLimits { max_connections: 900, ..defaults.clone() };
        let e = check_open_files(Some(1024), &wide, DNS_TCP, 3, 40).unwrap_err().to_string();
        assert!(e.contains("open-file limit is 1024") && e.contains("needs 1363"), "{e}");
        assert!(e.contains("932 for HTTP") && e.contains("129 for DNS") && e.contains("302 kept"), "{e}");
        assert!(e.contains("[http] max-connections"), "{e}");
        // an old chain's store keeps more files open
        let e = check_open_files(Some(1024), &defaults, DNS_TCP, 3, 1000).unwrap_err().to_string();
        assert!(e.contains("1262 kept"), "{e}");
    }

    #[test]
    fn the_soft_open_file_limit_is_raised_to_the_hard_one() {
        let hard = rustix::process::getrlimit(rustix::process::Resource::Nofile).maximum;
        assert_eq!(raise_open_files(), hard);
        assert_eq!(rustix::process::getrlimit(rustix::process::Resource::Nofile).current, hard);
    }
}
