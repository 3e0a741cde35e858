//! The compact in-memory routing index: number → serving operator, for ported numbers only.
//!
//! Non-ported numbers route by their range and cost nothing here. The index is a sorted base
//! (two parallel vectors: 8-byte numbers and 2-byte operator slots, 10 bytes a number) plus a
//! small ordered delta of recent changes, merged into the base when it grows past an eighth
//! of it, so the merge cost is amortised to a few element moves per change. It is derived
//! data: rebuilt from the `Numbers` table on start.

use crate::number::E164;
use std::collections::BTreeMap;

/// Smallest delta worth merging.
const MIN_DELTA: usize = 4096;

/// Number → operator slot for ported numbers.
#[derive(Debug, Clone)]
pub struct RoutingIndex {
    base_numbers: Vec<u64>,
    base_slots: Vec<u16>,
    /// Changes since the last merge; `None` removes a base entry.
    delta: BTreeMap<u64, Option<u16>>,
    /// Smallest delta worth merging (a field so tests can force frequent merges).
    min_delta: usize,
}

impl Default for RoutingIndex {
    fn default() -> Self {
        Self::with_min_delta(MIN_DELTA)
    }
}

impl RoutingIndex {
    pub fn new() -> Self {
        Self::default()
    }

    fn with_min_delta(min_delta: usize) -> Self {
        Self { base_numbers: Vec::new(), base_slots: Vec::new(), delta: BTreeMap::new(), min_delta }
    }

    /// Builds the index from entries in any order; later duplicates win.
    pub fn from_entries(mut entries: Vec<(u64, u16)>) -> Self {
        // stable sort keeps input order among equal numbers; keep the last of each
        entries.sort_by_key(|e| e.0);
        let mut base_numbers = Vec::with_capacity(entries.len());
        let mut base_slots = Vec::with_capacity(entries.len());
        for (i, (n, s)) in entries.iter().enumerate() {
            if entries.get(i + 1).is_some_and(|next| next.0 == *n) {
                continue;
            }
            base_numbers.push(*n);
            base_slots.push(*s);
        }
        base_numbers.shrink_to_fit();
        base_slots.shrink_to_fit();
        Self { base_numbers, base_slots, ..Self::default() }
    }

    /// The serving operator slot of a ported number.
    pub fn get(&self, number: E164) -> Option<u16> {
        let n = number.value();
        if let Some(change) = self.delta.get(&n) {
            return *change;
        }
        self.base_numbers.binary_search(&n).ok().map(|i| self.base_slots[i])
    }

    /// Records that `number` is ported to `slot`.
    pub fn set(&mut self, number: E164, slot: u16) {
        self.delta.insert(number.value(), Some(slot));
        self.maybe_merge();
    }

    /// Records that `number` routes by its range again.
    pub fn remove(&mut self, number: E164) {
        let n = number.value();
        if self.base_numbers.binary_search(&n).is_ok() {
            self.delta.insert(n, None);
        } else {
            self.delta.remove(&n);
        }
        self.maybe_merge();
    }

    /// How many numbers are ported.
    pub fn len(&self) -> usize {
        let mut len = self.base_numbers.len();
        for (n, change) in &self.delta {
            let in_base = self.base_numbers.binary_search(n).is_ok();
            match (in_base, change.is_some()) {
                (false, true) => len += 1,
                (true, false) => len -= 1,
                _ => {}
            }
        }
        len
    }

    /// Whether no number is ported.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn maybe_merge(&mut self) {
        if self.delta.len() >= self.min_delta.max(self.base_numbers.len() / 8) {
            self.merge();
        }
    }

    /// Folds the delta into the base.
    pub fn merge(&mut self) {
        if self.delta.is_empty() {
            return;
        }
        let delta = std::mem::take(&mut self.delta);
        let cap = self.base_numbers.len() + delta.len();
        let mut numbers = Vec::with_capacity(cap);
        let mut slots = Vec::with_capacity(cap);
        let mut base = self.base_numbers.iter().copied().zip(self.base_slots.iter().copied()).peekable();
        let mut changes = delta.into_iter().peekable();
        loop {
            let take_base = match (base.peek(), changes.peek()) {
                (None, None) => break,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (Some((b, _)), Some((c, _))) => b < c,
            };
            if take_base {
                let (n, s) = base.next().expect("peeked");
                numbers.push(n);
                slots.push(s);
            } else {
                let (n, change) = changes.next().expect("peeked");
                if base.peek().is_some_and(|(b, _)| *b == n) {
                    base.next();
                }
                if let Some(s) = change {
                    numbers.push(n);
                    slots.push(s);
                }
            }
        }
        numbers.shrink_to_fit();
        slots.shrink_to_fit();
        self.base_numbers = numbers;
        self.base_slots = slots;
    }

    /// Heap bytes held (the delta's B-tree is estimated at 32 bytes an entry).
    pub fn heap_bytes(&self) -> usize {
        self.base_numbers.capacity() * 8 + self.base_slots.capacity() * 2 + self.delta.len() * 32
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    fn n(v: u64) -> E164 {
        E164::from_value(v).unwrap()
    }

    proptest! {
        /// The index answers exactly like a plain map under any mix of sets and removes,
        /// across merges.
        #[test]
        fn behaves_like_a_map(ops in proptest::collection::vec((1u64..3_000, proptest::option::of(0u16..8)), 0..2_000)) {
            let mut index = RoutingIndex::with_min_delta(16);
            let mut model = HashMap::new();
            for (num, slot) in &ops {
                match slot {
                    Some(s) => { index.set(n(*num), *s); model.insert(*num, *s); }
                    None => { index.remove(n(*num)); model.remove(num); }
                }
            }
            prop_assert_eq!(index.len(), model.len());
            for num in 1u64..3_000 {
                prop_assert_eq!(index.get(n(num)), model.get(&num).copied());
            }
            index.merge();
            prop_assert_eq!(index.len(), model.len());
            for (num, slot) in &model {
                prop_assert_eq!(index.get(n(*num)), Some(*slot));
            }
        }
    }

    #[test]
    fn from_entries_keeps_the_last_duplicate() {
        let index = RoutingIndex::from_entries(vec![(5, 1), (3, 2), (5, 7)]);
        assert_eq!(index.get(n(5)), Some(7));
        assert_eq!(index.get(n(3)), Some(2));
        assert_eq!(index.len(), 2);
        assert_eq!(index.heap_bytes(), 2 * 10);
    }
}
