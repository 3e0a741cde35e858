//! [`Delta`]: many entries added to and taken from the state-hash accumulator, summed on their
//! own and folded into it once.
//!
//! The state hash is commonware's [`LtHash`]: each entry is expanded with BLAKE3 in XOF mode to
//! 2,048 bytes, read as 1,024 little-endian 16-bit lanes, and added lane by lane modulo 2^16.
//! `LtHash::add` builds each expansion in two 2 KiB arrays and copies them out; a block of a
//! thousand port steps changes some ten thousand entries, and those copies were about a tenth
//! of a validator's cycles under load. [`Delta`] expands every entry into one reused buffer and
//! adds it to its own lanes, then adds the lanes to the accumulator with one
//! [`LtHash::combine`]. Addition modulo 2^16 is commutative, so the sum is exactly the one
//! `LtHash::add` and `LtHash::subtract` would give, entry by entry (a test checks it).

use commonware_codec::{DecodeExt as _, FixedSize as _};
use commonware_cryptography::{blake3::CoreBlake3, lthash::LtHash};

const BYTES: usize = LtHash::SIZE;
const LANES: usize = BYTES / 2;

/// Entries added and taken away, not yet folded into an accumulator.
#[derive(Clone)]
pub struct Delta {
    lanes: Box<[u16; LANES]>,
    expanded: Box<[u8; BYTES]>,
    changed: bool,
}

impl Default for Delta {
    fn default() -> Self {
        Self { lanes: Box::new([0; LANES]), expanded: Box::new([0; BYTES]), changed: false }
    }
}

impl std::fmt::Debug for Delta {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delta").field("changed", &self.changed).finish_non_exhaustive()
    }
}

impl Delta {
    fn expand(&mut self, data: &[u8]) {
        let mut hasher = CoreBlake3::new();
        hasher.update(data);
        hasher.finalize_xof().fill(&mut self.expanded[..]);
        self.changed = true;
    }

    /// Adds an entry (as [`LtHash::add`] does).
    pub fn add(&mut self, data: &[u8]) {
        self.expand(data);
        for (lane, pair) in self.lanes.iter_mut().zip(self.expanded.chunks_exact(2)) {
            *lane = lane.wrapping_add(u16::from_le_bytes([pair[0], pair[1]]));
        }
    }

    /// Takes an entry away (as [`LtHash::subtract`] does).
    pub fn subtract(&mut self, data: &[u8]) {
        self.expand(data);
        for (lane, pair) in self.lanes.iter_mut().zip(self.expanded.chunks_exact(2)) {
            *lane = lane.wrapping_sub(u16::from_le_bytes([pair[0], pair[1]]));
        }
    }

    /// Adds the sum to `accumulator`.
    pub fn fold_into(&self, accumulator: &mut LtHash) {
        if !self.changed {
            return;
        }
        // The accumulator's encoding is its lanes, each big-endian (commonware-codec's u16).
        let bytes: Vec<u8> = self.lanes.iter().flat_map(|lane| lane.to_be_bytes()).collect();
        let sum =
            LtHash::decode(commonware_codec::Copying(bytes.as_slice())).expect("2,048 bytes are an LtHash");
        accumulator.combine(&sum);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sum_is_the_one_lthash_gives_entry_by_entry() {
        let entries: Vec<Vec<u8>> = (0..200u32).map(|i| i.to_be_bytes().repeat(1 + i as usize % 7)).collect();
        let mut start = LtHash::new();
        start.add(b"an entry already in the state");
        let mut one_by_one = start.clone();
        let mut delta = Delta::default();
        for (i, e) in entries.iter().enumerate() {
            if i % 3 == 0 {
                one_by_one.subtract(e);
                delta.subtract(e);
            } else {
                one_by_one.add(e);
                delta.add(e);
            }
        }
        let mut folded = start.clone();
        delta.fold_into(&mut folded);
        assert_eq!(folded.checksum(), one_by_one.checksum());
        assert_ne!(folded.checksum(), start.checksum(), "the entries changed the sum");
        let mut untouched = start.clone();
        Delta::default().fold_into(&mut untouched);
        assert_eq!(untouched.checksum(), start.checksum());
    }
}
