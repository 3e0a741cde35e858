//! The notifier's durable cursor, `notify.cursor` in the node's data directory: the position
//! of the next event to deliver, written (to a temporary file, synced, then renamed over the
//! old one) only after the back office answered 2xx for everything before it, so a restart
//! resumes there and delivers nothing twice that was acknowledged — at least once, with the
//! event ids to drop a repeat.

use serde::{Deserialize, Serialize};
use std::{
    io::Write,
    path::{Path, PathBuf},
};

/// The next event to deliver: event `index` of block `height` (events before it in that block,
/// and all events of earlier blocks, are delivered or not wanted).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Position {
    pub height: u64,
    pub index: usize,
}

/// Why the cursor could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum CursorError {
    #[error("notify cursor {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("notify cursor {path} is damaged ({source}); delete it to start from the next block")]
    Damaged {
        path: String,
        #[source]
        source: serde_json::Error,
    },
}

/// The cursor file.
#[derive(Debug, Clone)]
pub struct Cursor {
    path: PathBuf,
}

impl Cursor {
    /// The cursor in `data_dir`.
    pub fn in_dir(data_dir: &Path) -> Self {
        Self { path: data_dir.join("notify.cursor") }
    }

    fn io(&self) -> impl FnOnce(std::io::Error) -> CursorError + '_ {
        |source| CursorError::Io { path: self.path.display().to_string(), source }
    }

    /// The stored position, if any.
    pub fn load(&self) -> Result<Option<Position>, CursorError> {
        match std::fs::read(&self.path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|source| CursorError::Damaged { path: self.path.display().to_string(), source }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.io()(e)),
        }
    }

    /// Stores `position`, replacing the old one at once (a crash leaves one or the other).
    pub fn store(&self, position: Position) -> Result<(), CursorError> {
        let tmp = self.path.with_extension("cursor.tmp");
        let text = serde_json::to_vec(&position).expect("a position serialises");
        let mut file = std::fs::File::create(&tmp).map_err(self.io())?;
        file.write_all(&text).and_then(|()| file.sync_all()).map_err(self.io())?;
        std::fs::rename(&tmp, &self.path).map_err(self.io())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stores_replaces_and_names_a_damaged_file() {
        let dir = tempfile::tempdir().unwrap();
        let c = Cursor::in_dir(dir.path());
        assert_eq!(c.load().unwrap(), None);
        c.store(Position { height: 7, index: 2 }).unwrap();
        c.store(Position { height: 9, index: 0 }).unwrap();
        assert_eq!(c.load().unwrap(), Some(Position { height: 9, index: 0 }));
        std::fs::write(dir.path().join("notify.cursor"), "{").unwrap();
        let e = c.load().unwrap_err().to_string();
        assert!(e.contains("notify.cursor is damaged") && e.contains("delete it"), "{e}");
    }
}
