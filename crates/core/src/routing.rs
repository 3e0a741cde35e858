//! The compact in-memory routing index: number → serving operator, for ported numbers only.
//!
//! Non-ported numbers route by their range and cost nothing here. The index is a sorted base
//! (two parallel vectors: 8-byte numbers and 2-byte operator slots, 10 bytes a number) plus a
//! small ordered delta of recent changes, merged into the base when it grows past an eighth
//! of it, so the merge cost is amortised to a few element moves per change. It is derived
//! data: rebuilt from the `Numbers` table on start.
//!
//! [`RoutingTable`] puts the index together with the ranges and the operators' routing numbers:
//! everything a routing answer needs. The ledger shares it behind a read-write lock ([`Routes`])
//! and changes it once per committed block, after the block is on disk, so a reader (the ENUM
//! server, the HTTP API) sees the routes of one height or of the next, never a mix.

use crate::{
    lengths::Lengths,
    number::{E164, Prefix},
    types::{OperatorId, RoutingNumber, Timestamp},
};
use std::{
    collections::{BTreeMap, HashMap, HashSet},
    sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard},
};

/// Smallest delta worth merging.
const MIN_DELTA: usize = 4096;
/// Base entries per fence (see [`RoutingIndex`]): a block of 64 numbers is 512 bytes, eight
/// cache lines.
const FENCE_STRIDE: usize = 64;

/// Number → operator slot for ported numbers.
#[derive(Debug, Clone)]
pub struct RoutingIndex {
    base_numbers: Vec<u64>,
    base_slots: Vec<u16>,
    /// Every [`FENCE_STRIDE`]-th base number: a lookup searches these (small enough to stay in
    /// the CPU's cache: 1.6 % of the base) and then one block, instead of binary-searching the
    /// whole base with a cache miss at nearly every step.
    fences: Vec<u64>,
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
        Self {
            base_numbers: Vec::new(),
            base_slots: Vec::new(),
            fences: Vec::new(),
            delta: BTreeMap::new(),
            min_delta,
        }
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
        Self { fences: fences(&base_numbers), base_numbers, base_slots, ..Self::default() }
    }

    /// Builds the index from numbers in strictly ascending order and their slots.
    ///
    /// # Panics
    /// If the numbers are not strictly ascending, or the two lengths differ.
    pub fn from_sorted(mut numbers: Vec<u64>, mut slots: Vec<u16>) -> Self {
        assert_eq!(numbers.len(), slots.len(), "one slot per number");
        assert!(numbers.windows(2).all(|w| w[0] < w[1]), "numbers strictly ascending");
        numbers.shrink_to_fit();
        slots.shrink_to_fit();
        Self { fences: fences(&numbers), base_numbers: numbers, base_slots: slots, ..Self::default() }
    }

    /// The serving operator slot of a ported number.
    pub fn get(&self, number: E164) -> Option<u16> {
        let n = number.value();
        if let Some(change) = self.delta.get(&n) {
            return *change;
        }
        self.find(n).map(|i| self.base_slots[i])
    }

    /// Records that `number` is ported to `slot`. The delta grows until [`Self::merge`] (or
    /// [`Self::needs_merge`] and [`Self::merged`]) folds it in.
    pub fn set(&mut self, number: E164, slot: u16) {
        self.delta.insert(number.value(), Some(slot));
    }

    /// Records that `number` routes by its range again.
    pub fn remove(&mut self, number: E164) {
        let n = number.value();
        if self.find(n).is_some() {
            self.delta.insert(n, None);
        } else {
            self.delta.remove(&n);
        }
    }

    /// How many numbers are ported.
    pub fn len(&self) -> usize {
        let mut len = self.base_numbers.len();
        for (n, change) in &self.delta {
            let in_base = self.find(*n).is_some();
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

    /// Whether the delta has grown past an eighth of the base (or the minimum), so that
    /// merging now keeps the amortised cost to a few element moves per change.
    pub fn needs_merge(&self) -> bool {
        self.delta.len() >= self.min_delta.max(self.base_numbers.len() / 8)
    }

    /// Folds the delta into the base.
    pub fn merge(&mut self) {
        if !self.delta.is_empty() {
            let merged = self.merged();
            self.install(merged);
        }
    }

    /// The base with the delta folded in, computed without changing the index (so a shared
    /// index can be merged under a read lock and swapped under a short write lock).
    pub fn merged(&self) -> Merged {
        let cap = self.base_numbers.len() + self.delta.len();
        let mut numbers = Vec::with_capacity(cap);
        let mut slots = Vec::with_capacity(cap);
        let mut base = self.base_numbers.iter().copied().zip(self.base_slots.iter().copied()).peekable();
        let mut changes = self.delta.iter().map(|(n, c)| (*n, *c)).peekable();
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
        Merged { numbers, slots, delta_len: self.delta.len() }
    }

    /// Installs a merge computed by [`Self::merged`] on this very index.
    fn install(&mut self, merged: Merged) {
        debug_assert_eq!(merged.delta_len, self.delta.len(), "the index changed since the merge");
        self.fences = fences(&merged.numbers);
        self.base_numbers = merged.numbers;
        self.base_slots = merged.slots;
        self.delta.clear();
    }

    /// Where `n` is in the base: the fences say which block, then a binary search within it.
    fn find(&self, n: u64) -> Option<usize> {
        let block = self.fences.partition_point(|&f| f <= n).checked_sub(1)?;
        let start = block * FENCE_STRIDE;
        let end = (start + FENCE_STRIDE).min(self.base_numbers.len());
        self.base_numbers[start..end].binary_search(&n).ok().map(|i| start + i)
    }

    /// Heap bytes held (the delta's B-tree is estimated at 32 bytes an entry).
    pub fn heap_bytes(&self) -> usize {
        (self.base_numbers.capacity() + self.fences.capacity()) * 8
            + self.base_slots.capacity() * 2
            + self.delta.len() * 32
    }
}

/// Every [`FENCE_STRIDE`]-th of `numbers`, the first included.
fn fences(numbers: &[u64]) -> Vec<u64> {
    numbers.iter().step_by(FENCE_STRIDE).copied().collect()
}

/// A merged base, ready to install (see [`RoutingIndex::merged`]).
#[derive(Debug)]
pub struct Merged {
    numbers: Vec<u64>,
    slots: Vec<u16>,
    delta_len: usize,
}

/// Where a number's calls and messages go, as every node answers at the same height.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub number: E164,
    pub serving: OperatorId,
    pub routing_number: RoutingNumber,
    /// Served by someone other than the range holder.
    pub ported: bool,
    /// The holder of the longest assigned range containing the number.
    pub range_holder: Option<OperatorId>,
    pub range: Option<Prefix>,
}

/// Why a number has no route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Unroutable {
    #[error("{number} is in no assigned number range: no operator serves it")]
    NoRange { number: E164 },
    #[error(
        "{number} has {digits} digits, but the numbers of its range {range} have {lengths} (country code \
         included): it is not a number"
    )]
    Length { number: E164, digits: u8, range: Prefix, lengths: Lengths },
}

/// The hasher of the table's prefix maps: every ENUM answer looks up to 15 prefixes, and a
/// prefix is nine bytes no remote party can choose to collide (they come from the regulator's
/// ranges), so a fast fixed hash instead of SipHash.
type PrefixHash = foldhash::fast::FixedState;

/// Where a number is served, borrowed from the table: what an answer made under the table's
/// lock needs (see [`RoutingTable::serving`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Serving<'a> {
    /// The serving operator's routing number.
    pub routing_number: &'a RoutingNumber,
    /// Served by someone other than the range holder.
    pub ported: bool,
}

/// Everything a routing answer needs, as of one committed height.
#[derive(Debug, Default)]
pub struct RoutingTable {
    height: u64,
    block_time: Timestamp,
    /// By slot: the operator's id and routing number.
    operators: Vec<(OperatorId, RoutingNumber)>,
    /// By prefix: the holder's slot and the lengths of the range's numbers.
    ranges: HashMap<Prefix, (u16, Lengths), PrefixHash>,
    /// Every proper leading part of an assigned range prefix (`+49` and `+491` for `+4915`):
    /// names with a range, and so numbers, below them.
    stems: HashSet<Prefix, PrefixHash>,
    index: RoutingIndex,
}

impl RoutingTable {
    /// The committed height these routes belong to.
    pub fn height(&self) -> u64 {
        self.height
    }

    /// The block time of that height.
    pub fn block_time(&self) -> Timestamp {
        self.block_time
    }

    /// Where `number` routes, or `None` if it is in no assigned range or its digit count is
    /// not one of its range's lengths (see [`Self::lookup`] for which).
    pub fn route(&self, number: E164) -> Option<Route> {
        self.lookup(number).ok()
    }

    /// Where `number` routes, or why it does not: it is in no assigned range, or its range (the
    /// longest assigned prefix containing it) has no numbers of its length.
    pub fn lookup(&self, number: E164) -> Result<Route, Unroutable> {
        let (range, holder_slot, serving_slot) = self.slots(number)?;
        let (serving, routing_number) = &self.operators[usize::from(serving_slot)];
        Ok(Route {
            number,
            serving: serving.clone(),
            routing_number: routing_number.clone(),
            ported: holder_slot != serving_slot,
            range_holder: Some(self.operators[usize::from(holder_slot)].0.clone()),
            range: Some(range),
        })
    }

    /// [`Self::route`] without copies: the serving operator's routing number borrowed from the
    /// table, and whether the number is ported.
    pub fn serving(&self, number: E164) -> Option<Serving<'_>> {
        let (_, holder_slot, serving_slot) = self.slots(number).ok()?;
        let routing_number = &self.operators[usize::from(serving_slot)].1;
        Some(Serving { routing_number, ported: holder_slot != serving_slot })
    }

    /// `number`'s range, its holder's slot and the serving operator's slot.
    fn slots(&self, number: E164) -> Result<(Prefix, u16, u16), Unroutable> {
        let (range, (holder_slot, lengths)) = number
            .prefixes()
            .find_map(|p| self.ranges.get(&p).map(|r| (p, *r)))
            .ok_or(Unroutable::NoRange { number })?;
        if !lengths.contains(number.digits()) {
            return Err(Unroutable::Length { number, digits: number.digits(), range, lengths });
        }
        Ok((range, holder_slot, self.index.get(number).unwrap_or(holder_slot)))
    }

    /// Whether a number of a valid length exists strictly below `digits` (a longer number
    /// beginning with them): then a name of these digits is an ENUM empty non-terminal, answered
    /// NODATA rather than NXDOMAIN (unless it is a number itself, see [`Self::route`]). True when
    /// a range lies strictly below the digits, or when the longest range containing them has a
    /// length greater than their count. Every range has at least one length, so a range below
    /// always has numbers; and a number below the digits outside every range below them belongs
    /// to the range containing the digits.
    pub fn has_ranges_below(&self, digits: Prefix) -> bool {
        self.stems.contains(&digits)
            || digits
                .as_number()
                .prefixes()
                .find_map(|p| self.ranges.get(&p))
                .is_some_and(|(_, lengths)| lengths.any_longer_than(digits.len()))
    }

    /// The number of ported numbers.
    pub fn ported_count(&self) -> usize {
        self.index.len()
    }

    /// Heap bytes of the ported-number index.
    pub fn index_heap_bytes(&self) -> usize {
        self.index.heap_bytes()
    }

    pub(crate) fn set_height(&mut self, height: u64, block_time: Timestamp) {
        self.height = height;
        self.block_time = block_time;
    }

    pub(crate) fn set_operator(&mut self, slot: u16, id: OperatorId, routing_number: RoutingNumber) {
        let slot = usize::from(slot);
        if slot == self.operators.len() {
            self.operators.push((id, routing_number));
        } else {
            self.operators[slot] = (id, routing_number);
        }
    }

    pub(crate) fn set_range(&mut self, prefix: Prefix, holder: u16, lengths: Lengths) {
        self.ranges.insert(prefix, (holder, lengths));
        self.stems.extend(prefix.stems());
    }

    /// Drops an assigned range; the stems are rebuilt from the ranges that remain (a stem may be
    /// shared by several ranges).
    pub(crate) fn remove_range(&mut self, prefix: Prefix) {
        if self.ranges.remove(&prefix).is_some() {
            self.stems = self.ranges.keys().flat_map(|p| p.stems()).collect();
        }
    }

    pub(crate) fn index_mut(&mut self) -> &mut RoutingIndex {
        &mut self.index
    }

    /// The assigned ranges with their holders' slots and their lengths.
    pub(crate) fn ranges(&self) -> impl Iterator<Item = (Prefix, u16, Lengths)> + '_ {
        self.ranges.iter().map(|(p, (s, l))| (*p, *s, *l))
    }
}

/// The shared routing table: one writer (the ledger, once per committed block), any number of
/// readers. Cloning shares it.
#[derive(Debug, Clone, Default)]
pub struct Routes(Arc<RwLock<RoutingTable>>);

impl Routes {
    /// The routes as of the last committed block. Hold the guard only for a lookup: the next
    /// commit waits for it.
    pub fn read(&self) -> RwLockReadGuard<'_, RoutingTable> {
        // a panic while holding the lock cannot leave the table half-changed (the writer's
        // sections do not panic), so a poisoned lock is still a consistent table
        self.0.read().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn write(&self) -> RwLockWriteGuard<'_, RoutingTable> {
        self.0.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// Where `number` routes now, with the height of the answer.
    pub fn route(&self, number: E164) -> (u64, Option<Route>) {
        let table = self.read();
        (table.height, table.route(number))
    }

    /// Folds the index's delta into its base if it has grown enough: the merge is computed
    /// under the read lock (queries go on), and only the swap takes the write lock. Only the
    /// writer calls this, so nothing changes between the two.
    pub(crate) fn merge_if_needed(&self) {
        let merged = {
            let table = self.read();
            if !table.index.needs_merge() {
                return;
            }
            table.index.merged()
        };
        self.write().index.install(merged);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    #[test]
    fn built_from_sorted_numbers_it_answers_as_built_from_entries() {
        let entries = vec![(49_301_000_001, 1), (49_301_000_005, 2), (49_302_000_000, 0)];
        let (numbers, slots) = entries.iter().copied().unzip();
        let sorted = RoutingIndex::from_sorted(numbers, slots);
        let built = RoutingIndex::from_entries(entries.clone());
        for n in [49_301_000_000, 49_301_000_001, 49_301_000_005, 49_302_000_000, 49_399_000_000] {
            assert_eq!(
                sorted.get(super::E164::from_value(n).unwrap()),
                built.get(super::E164::from_value(n).unwrap())
            );
        }
        assert_eq!(sorted.len(), 3);
        let unsorted = std::panic::catch_unwind(|| RoutingIndex::from_sorted(vec![2, 1], vec![0, 0]));
        assert!(unsorted.is_err(), "out of order is refused");
    }

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
    fn lookups_across_many_fence_blocks_find_exactly_the_base() {
        // 1,000 numbers, every third one: blocks of 64 with a partial last one
        let numbers: Vec<u64> = (0..1000u64).map(|i| 491_500_000_000 + 3 * i).collect();
        let slots: Vec<u16> = (0..1000u16).map(|i| i % 7).collect();
        let index = RoutingIndex::from_sorted(numbers.clone(), slots.clone());
        for (i, &number) in numbers.iter().enumerate() {
            assert_eq!(index.get(n(number)), Some(slots[i]), "{number}");
            assert_eq!(index.get(n(number + 1)), None, "{}", number + 1);
        }
        assert_eq!(index.get(n(numbers[0] - 1)), None);
        assert_eq!(index.get(n(numbers[999] + 3)), None);
        assert_eq!(index.len(), 1000);
    }

    #[test]
    fn from_entries_keeps_the_last_duplicate() {
        let index = RoutingIndex::from_entries(vec![(5, 1), (3, 2), (5, 7)]);
        assert_eq!(index.get(n(5)), Some(7));
        assert_eq!(index.get(n(3)), Some(2));
        assert_eq!(index.len(), 2);
        // ten bytes a number, and one fence (8 bytes) per 64 numbers
        assert_eq!(index.heap_bytes(), 2 * 10 + 8);
    }

    fn op(s: &str) -> OperatorId {
        s.parse().unwrap()
    }

    fn rn(s: &str) -> RoutingNumber {
        s.parse().unwrap()
    }

    #[test]
    fn table_answers_by_range_index_and_stems() {
        let routes = Routes::default();
        {
            let mut t = routes.write();
            t.set_operator(0, op("OPA"), rn("+49D001"));
            t.set_operator(1, op("OPB"), rn("+49D002"));
            t.set_range("+4915".parse().unwrap(), 0, Lengths::any_for("+4915".parse().unwrap()));
            t.index_mut().set(n(491512345), 1);
            t.set_height(7, Timestamp(9));
        }
        let (height, route) = routes.route(n(491512345));
        assert_eq!(height, 7);
        let route = route.unwrap();
        assert!(route.ported);
        assert_eq!((route.serving, route.routing_number), (op("OPB"), rn("+49D002")));
        assert_eq!(route.range_holder, Some(op("OPA")));
        let home = routes.route(n(491500000)).1.unwrap();
        assert!(!home.ported);
        assert_eq!(home.serving, op("OPA"));
        assert_eq!(routes.route(n(4930)).1, None);
        let t = routes.read();
        for stem in ["4", "49", "491", "4915", "491512345678"] {
            assert!(t.has_ranges_below(Prefix::from_digits(stem).unwrap()), "{stem}");
        }
        for other in ["493", "5", "491512345678901"] {
            assert!(!t.has_ranges_below(Prefix::from_digits(other).unwrap()), "{other}");
        }
    }

    fn lengths(s: &str) -> Lengths {
        s.parse().unwrap()
    }

    fn digits(s: &str) -> Prefix {
        Prefix::from_digits(s).unwrap()
    }

    /// A table of `+4915` (OPA, lengths 12-13) and inside it `+49151` (OPB, lengths 10 and 12).
    fn nested() -> RoutingTable {
        let mut t = RoutingTable::default();
        t.set_operator(0, op("OPA"), rn("+49D001"));
        t.set_operator(1, op("OPB"), rn("+49D002"));
        t.set_range(digits("4915"), 0, lengths("12-13"));
        t.set_range(digits("49151"), 1, lengths("10,12"));
        t
    }

    #[test]
    fn a_number_routes_only_with_a_length_of_its_range() {
        let t = nested();
        assert_eq!(t.route(n(491501234567)).unwrap().serving, op("OPA"), "12 digits in +4915");
        assert_eq!(t.route(n(4915012345678)).unwrap().serving, op("OPA"), "13 digits in +4915");
        assert_eq!(
            t.lookup(n(49150)),
            Err(Unroutable::Length {
                number: n(49150),
                digits: 5,
                range: digits("4915"),
                lengths: lengths("12-13")
            })
        );
        assert!(t.route(n(49150123456)).is_none(), "11 digits: incomplete");
        assert!(t.route(n(491501234567890)).is_none(), "15 digits: too long");
        // the longest matching prefix decides: +49151 has 10 and 12, not 13
        assert_eq!(t.route(n(4915112345)).unwrap().serving, op("OPB"));
        assert_eq!(t.route(n(491511234567)).unwrap().serving, op("OPB"));
        assert!(t.route(n(49151123456)).is_none(), "11 digits in +49151");
        let e = t.lookup(n(4915112345678)).unwrap_err();
        assert_eq!(
            e,
            Unroutable::Length {
                number: n(4915112345678),
                digits: 13,
                range: digits("49151"),
                lengths: lengths("10,12")
            }
        );
        assert_eq!(
            e.to_string(),
            "+4915112345678 has 13 digits, but the numbers of its range +49151 have 10,12 (country code included): it is not a number"
        );
        assert_eq!(t.lookup(n(4930123456)), Err(Unroutable::NoRange { number: n(4930123456) }));
    }

    #[test]
    fn names_shorter_than_a_valid_number_are_empty_non_terminals() {
        let t = nested();
        // above both ranges, and the ranges themselves
        for stem in ["4", "49", "491", "4915", "49151"] {
            assert!(t.has_ranges_below(digits(stem)), "{stem}");
        }
        // inside +4915 (not +49151): numbers of 12 and 13 digits
        for below in ["49150", "4915012345", "49150123456", "491501234567"] {
            assert!(t.has_ranges_below(digits(below)), "{below}");
        }
        assert!(!t.has_ranges_below(digits("4915012345678")), "13 digits: nothing longer");
        // inside +49151 (10, 12): an 11-digit name has 12-digit numbers below it, a 10-digit
        // one (a number itself) too; a 12-digit one has nothing below
        for below in ["491511", "491511234", "4915112345", "49151123456"] {
            assert!(t.has_ranges_below(digits(below)), "{below}");
        }
        for leaf in ["491511234567", "4915112345678", "493", "5"] {
            assert!(!t.has_ranges_below(digits(leaf)), "{leaf}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
        /// `route` and `has_ranges_below` agree with a brute-force reading of nested ranges:
        /// a name is a number iff the longest range containing it has its length, and has
        /// numbers below it iff a longer name beginning with it is a number. Prefixes are 1 or
        /// 2 digits of 1 and 2, lengths 7 to 9, so names over the digits 0, 1 and 2 (0 standing
        /// for every digit no prefix uses) of up to 9 digits cover every case.
        #[test]
        fn lengths_agree_with_brute_force(
            ranges in proptest::collection::btree_map(
                (1u64..=2, 0u64..=2).prop_map(|(a, b)| if b == 0 { a } else { a * 10 + b }),
                (0u16..=1, 1u16..=0b111),
                1..5,
            )
        ) {
            let mut t = RoutingTable::default();
            t.set_operator(0, op("OPA"), rn("+49D001"));
            t.set_operator(1, op("OPB"), rn("+49D002"));
            let mut model = Vec::new();
            for (p, (slot, bits)) in &ranges {
                let prefix = digits(&p.to_string());
                let l = Lengths::from_bits(bits << 7).unwrap();
                t.set_range(prefix, *slot, l);
                model.push((prefix, l));
            }
            let is_number = |v: u64| {
                let e = n(v);
                let best = model.iter().filter(|(p, _)| p.contains(e)).max_by_key(|(p, _)| p.len());
                best.is_some_and(|(_, l)| l.contains(e.digits()))
            };
            // names by length, then "a number below" computed from the longest names up
            let mut levels = vec![vec![1u64, 2]];
            for _ in 1..9 {
                let next = levels.last().unwrap().iter().flat_map(|v| [v * 10, v * 10 + 1, v * 10 + 2]).collect();
                levels.push(next);
            }
            let mut below: HashMap<u64, bool> = HashMap::new();
            for level in levels.iter().rev() {
                for &v in level {
                    let b = n(v).digits() < 9
                        && (0..=2).any(|d| { let c = v * 10 + d; is_number(c) || below[&c] });
                    below.insert(v, b);
                }
            }
            for level in &levels {
                for &v in level {
                    prop_assert_eq!(t.route(n(v)).is_some(), is_number(v), "route {}", v);
                    let borrowed = t.serving(n(v)).map(|s| (s.ported, s.routing_number.clone()));
                    prop_assert_eq!(borrowed, t.route(n(v)).map(|r| (r.ported, r.routing_number)), "serving {}", v);
                    prop_assert_eq!(t.has_ranges_below(digits(&v.to_string())), below[&v], "below {}", v);
                }
            }
        }
    }

    #[test]
    fn shared_merge_keeps_every_answer() {
        let routes = Routes::default();
        routes.write().set_operator(0, op("OPA"), rn("+49D001"));
        routes.write().set_range("+49".parse().unwrap(), 0, "7-15".parse().unwrap());
        routes.write().set_operator(1, op("OPB"), rn("+49D002"));
        for v in 0..MIN_DELTA as u64 {
            routes.write().index_mut().set(n(4_900_000_000 + v), 1);
        }
        assert!(routes.read().index.needs_merge());
        routes.merge_if_needed();
        assert!(routes.read().index.delta.is_empty(), "merged");
        assert_eq!(routes.read().ported_count(), MIN_DELTA);
        assert!(routes.route(n(4_900_000_017)).1.unwrap().ported);
        assert!(!routes.route(n(4_910_000_017)).1.unwrap().ported);
    }
}
