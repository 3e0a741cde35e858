//! The `[storage]` section (optional): the ledger store's page cache.
//!
//! | key | default | bounds |
//! |---|---|---|
//! | `cache-mib` | 1024 | 1 to 1,048,576: the ledger store's page cache (redb), in MiB; the block log's is fixed at 64 MiB |

use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawStorage {
    cache_mib: usize,
}

impl RawStorage {
    /// The page cache in MiB, checked, or the default without a `[storage]` section.
    pub(super) fn cache_mib(raw: Option<Self>) -> Result<usize, StorageError> {
        let cache_mib = raw.map_or(crate::storage::DEFAULT_CACHE_MIB, |s| s.cache_mib);
        if !(1..=1 << 20).contains(&cache_mib) {
            return Err(StorageError::CacheMib { got: cache_mib });
        }
        Ok(cache_mib)
    }
}

/// Why a `[storage]` setting was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StorageError {
    #[error("cache-mib must be between 1 and 1048576; got {got}")]
    CacheMib { got: usize },
}

#[cfg(test)]
mod tests {
    use crate::config::{ConfigError, NodeConfig, tests::sample};
    use std::path::Path;

    #[test]
    fn the_ledger_cache_has_a_default_a_setting_and_bounds() {
        let c = NodeConfig::parse(&sample(), Path::new("/")).unwrap();
        assert_eq!(c.storage_cache_mib, crate::storage::DEFAULT_CACHE_MIB);
        let set = format!("{}\n[storage]\ncache-mib = 256\n", sample());
        let c = NodeConfig::parse(&set, Path::new("/")).unwrap();
        assert_eq!(c.storage_cache_mib, 256);
        assert_eq!(NodeConfig::parse(&c.to_toml(), Path::new("/")).unwrap().storage_cache_mib, 256);
        let zero = set.replace("= 256", "= 0");
        let err = NodeConfig::parse(&zero, Path::new("/")).unwrap_err().to_string();
        assert!(err.contains("cache-mib") && err.contains("got 0"), "{err}");
        let typo = set.replace("cache-mib", "cache-mb");
        assert!(matches!(NodeConfig::parse(&typo, Path::new("/")), Err(ConfigError::Toml { .. })));
    }
}
