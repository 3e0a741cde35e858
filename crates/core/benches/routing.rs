//! Routing index memory and lookup speed at scale. Prints figures; asserts nothing.
//!
//! `cargo bench -p npchain-core --bench routing` (1M numbers through a full genesis, 10M into
//! the index alone); `NPCHAIN_BENCH_NUMBERS=100000` for a quick run.

#![allow(unsafe_code)] // the counting allocator must implement GlobalAlloc
#![allow(clippy::print_stdout)] // a benchmark prints its figures

use npchain_core::{E164, Genesis, Ledger, MemStore, PortedEntry, RoutingIndex};
use npchain_testkit::GenesisBuilder;
use std::{
    alloc::{GlobalAlloc, Layout, System},
    hint::black_box,
    sync::atomic::{AtomicUsize, Ordering},
    time::Instant,
};

/// Counts live heap bytes, so memory figures are measured, not estimated.
struct Counting;
static LIVE: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size, Ordering::Relaxed);
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Deterministic pseudo-random stream (SplitMix64).
struct Mix(u64);
impl Mix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// A number in the +4930 range with eight more digits.
fn number(mix: &mut Mix) -> E164 {
    E164::from_value(493_000_000_000 + mix.next() % 100_000_000).expect("12 digits")
}

/// Four operators; OPA holds +4930, where every number of the benchmark is.
fn genesis() -> Genesis {
    GenesisBuilder::new("bench")
        .operator("OPA", "+49D000")
        .operator("OPB", "+49D001")
        .operator("OPC", "+49D002")
        .operator("OPD", "+49D003")
        .range("+4930", "OPA")
        .build()
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    sorted[((sorted.len() as f64 - 1.0) * p) as usize]
}

fn main() {
    let n: usize =
        std::env::var("NPCHAIN_BENCH_NUMBERS").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    let ops = ["OPB", "OPC", "OPD"];

    // 1. A whole ledger with n ported numbers from a genesis migration list.
    let mut mix = Mix(1);
    let entries: Vec<PortedEntry> = (0..n)
        .map(|i| PortedEntry {
            number: number(&mut mix),
            operator: ops[i % 3].parse().unwrap(),
            routing_number: None,
        })
        .collect();
    let mut seen = std::collections::HashSet::new();
    let entries: Vec<PortedEntry> = entries.into_iter().filter(|e| seen.insert(e.number)).collect();
    drop(seen);
    let loaded = entries.len();
    let started = Instant::now();
    let ledger = Ledger::genesis(MemStore::new(), &genesis(), entries.into_iter().map(Ok)).expect("genesis");
    let load_s = started.elapsed().as_secs_f64();
    let (ported, heap_bytes) = ledger.ported_index();
    println!(
        "genesis migration: {loaded} ported numbers loaded in {load_s:.2} s ({:.0} numbers/s), in-memory store",
        loaded as f64 / load_s
    );
    println!(
        "routing index: {} numbers, {} bytes, {:.2} bytes/number",
        ported,
        heap_bytes,
        heap_bytes as f64 / ported as f64
    );

    // 2. Lookup latency through the full routing answer (index + range + operator).
    let mut probe = Mix(1);
    let mut other = Mix(99);
    let samples = 200_000;
    let mut ns = Vec::with_capacity(samples);
    let mut ported = 0usize;
    for i in 0..samples {
        let q = if i % 2 == 0 { number(&mut probe) } else { number(&mut other) };
        let t = Instant::now();
        let route = black_box(ledger.route(black_box(q)));
        ns.push(t.elapsed().as_nanos() as u64);
        ported += usize::from(route.is_some_and(|r| r.ported));
    }
    ns.sort_unstable();
    println!(
        "route lookups: {samples} (half ported: {ported} answered ported), p50 {} ns, p99 {} ns, max {} ns",
        percentile(&ns, 0.5),
        percentile(&ns, 0.99),
        ns[ns.len() - 1]
    );
    drop(ledger);

    // 3. The index alone at ten times the size, measured by the allocator.
    let big = n * 10;
    let mut mix = Mix(2);
    let before = LIVE.load(Ordering::Relaxed);
    // the input vector is consumed (and freed) by the build, so only the index stays live
    let pairs: Vec<(u64, u16)> = (0..big).map(|i| (number(&mut mix).value(), (i % 3) as u16)).collect();
    let started = Instant::now();
    let index = RoutingIndex::from_entries(pairs);
    let build_s = started.elapsed().as_secs_f64();
    let live = LIVE.load(Ordering::Relaxed) - before;
    println!(
        "routing index alone: {} numbers built in {build_s:.2} s, {live} heap bytes measured, {:.2} bytes/number",
        index.len(),
        live as f64 / index.len() as f64
    );
    println!(
        "=> a billion ported numbers need about {:.1} GiB of routing index",
        live as f64 / index.len() as f64 * 1e9 / (1u64 << 30) as f64
    );
}
