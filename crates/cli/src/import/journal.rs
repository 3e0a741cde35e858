//! The import's journal: one JSON line per committed transaction (its chunk's digest, the
//! transaction id, its height, its first and last line, its numbers), appended once the
//! transaction is in a finalized block. A re-run makes the same chunks from the same file
//! (the accepted lines in file order, [`npchain_core::MAX_IMPORT`] at a time) and skips a
//! chunk whose digest the journal holds once a node confirms that transaction applied; any
//! other chunk is submitted again, and its entries already in place change nothing in the
//! ledger.

use serde::{Deserialize, Serialize};
use std::{
    collections::HashMap,
    io::{BufRead, Write},
    path::{Path, PathBuf},
};

/// One committed chunk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Done {
    /// SHA-256 of the transaction body, hex.
    pub chunk: String,
    pub tx: String,
    pub height: u64,
    pub first_line: u32,
    pub last_line: u32,
    pub numbers: usize,
}

/// Why the journal cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("journal {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("journal {path} line {line}: {source}; it is not an import journal (move it away to start over)")]
    Line {
        path: String,
        line: usize,
        #[source]
        source: serde_json::Error,
    },
}

/// The journal file, open for appending.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    file: std::fs::File,
    done: HashMap<String, Done>,
}

impl Journal {
    /// Opens (or makes) the journal at `path` and reads what it holds. A line cut short (a run
    /// killed while writing it) is left out, and the next record starts on a line of its own.
    pub fn open(path: &Path) -> Result<Self, JournalError> {
        let io = |source| JournalError::Io { path: path.display().to_string(), source };
        let mut done = HashMap::new();
        if path.exists() {
            let lines: Vec<String> = std::io::BufReader::new(std::fs::File::open(path).map_err(io)?)
                .lines()
                .collect::<Result<_, _>>()
                .map_err(io)?;
            for (i, text) in lines.iter().enumerate() {
                match serde_json::from_str::<Done>(text) {
                    Ok(d) => {
                        done.insert(d.chunk.clone(), d);
                    }
                    Err(_) if text.starts_with('{') && !text.ends_with('}') => {}
                    Err(source) => {
                        return Err(JournalError::Line {
                            path: path.display().to_string(),
                            line: i + 1,
                            source,
                        });
                    }
                }
            }
        }
        let mut file = std::fs::OpenOptions::new().create(true).append(true).open(path).map_err(io)?;
        let torn = std::fs::read(path).map_err(io)?.last().is_some_and(|b| *b != b'\n');
        if torn {
            file.write_all(b"\n").map_err(io)?;
        }
        Ok(Self { path: path.to_owned(), file, done })
    }

    /// The committed transaction of this chunk, if the journal holds one.
    pub fn get(&self, chunk: &str) -> Option<&Done> {
        self.done.get(chunk)
    }

    /// How many chunks the journal holds.
    pub fn len(&self) -> usize {
        self.done.len()
    }

    pub fn is_empty(&self) -> bool {
        self.done.is_empty()
    }

    /// Records a committed chunk (written and flushed before this returns).
    pub fn record(&mut self, done: Done) -> Result<(), JournalError> {
        let mut line = serde_json::to_string(&done).expect("serialises");
        line.push('\n');
        self.file
            .write_all(line.as_bytes())
            .and_then(|()| self.file.sync_data())
            .map_err(|source| JournalError::Io { path: self.path.display().to_string(), source })?;
        self.done.insert(done.chunk.clone(), done);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn done(chunk: &str, height: u64) -> Done {
        Done {
            chunk: chunk.into(),
            tx: format!("tx-{chunk}"),
            height,
            first_line: 2,
            last_line: 9,
            numbers: 8,
        }
    }

    #[test]
    fn what_is_recorded_is_read_back_and_a_torn_last_line_is_left_out() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("extract.csv.journal");
        let mut j = Journal::open(&path).unwrap();
        assert!(j.is_empty());
        j.record(done("aa", 5)).unwrap();
        j.record(done("bb", 6)).unwrap();
        drop(j);
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"{\"chunk\":\"cc\",\"tx")
            .unwrap();
        let mut j = Journal::open(&path).unwrap();
        assert_eq!(j.len(), 2);
        assert_eq!(j.get("bb"), Some(&done("bb", 6)));
        assert_eq!(j.get("cc"), None);
        j.record(done("cc", 7)).unwrap();
        drop(j);
        assert_eq!(Journal::open(&path).unwrap().get("cc"), Some(&done("cc", 7)), "after the torn line");

        std::fs::write(&path, "not json\n{}\n").unwrap();
        let e = Journal::open(&path).unwrap_err();
        assert!(e.to_string().starts_with(&format!("journal {} line 1: ", path.display())), "{e}");
    }
}
