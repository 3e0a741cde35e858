//! [`Histogram`]: durations in log-spaced buckets (as DDSketch lays them out), so that any
//! percentile is within [`RELATIVE_ERROR`] of an exact order statistic of the samples, in at
//! most [`MAX_BUCKETS`] buckets whatever the number of samples. Histograms of the same layout
//! add up exactly, so the cells of days and operators merge into months and totals.

use bytes::BufMut;
use commonware_codec::{Buf, EncodeSize, Error as CodecError, Read, ReadExt, Write, varint::UInt};
use std::{collections::BTreeMap, sync::OnceLock};

/// The largest relative error of a percentile: 1 %, and at most half a millisecond more from
/// rounding to whole milliseconds.
pub const RELATIVE_ERROR: f64 = 0.01;

/// Bucket 0 holds zero; bucket `i ≥ 1` holds `(γ^(i-2), γ^(i-1)]` with `γ = (1 + α) / (1 − α)`:
/// up to `u64::MAX` ms that is fewer than this many buckets.
pub const MAX_BUCKETS: usize = 2_240;

fn ln_gamma() -> f64 {
    static LN: OnceLock<f64> = OnceLock::new();
    *LN.get_or_init(|| ((1.0 + RELATIVE_ERROR) / (1.0 - RELATIVE_ERROR)).ln())
}

/// The bucket of `ms`.
fn bucket(ms: u64) -> u16 {
    if ms == 0 {
        return 0;
    }
    // the smallest k with γ^k ≥ ms
    let k = ((ms as f64).ln() / ln_gamma()).ceil().max(0.0);
    (k as u16).saturating_add(1)
}

/// What a bucket's samples read as: the value within `α` of every one of them.
fn estimate(bucket: u16) -> u64 {
    if bucket == 0 {
        return 0;
    }
    let gamma = ln_gamma().exp();
    let upper = (f64::from(bucket - 1) * ln_gamma()).exp();
    (2.0 * upper / (gamma + 1.0)).round() as u64
}

/// Sample counts by bucket, only the buckets that have any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Histogram {
    buckets: BTreeMap<u16, u64>,
}

impl Histogram {
    /// Counts one duration.
    pub fn record(&mut self, ms: u64) {
        *self.buckets.entry(bucket(ms)).or_default() += 1;
    }

    /// Adds `other`'s samples.
    pub fn merge(&mut self, other: &Self) {
        for (b, n) in &other.buckets {
            *self.buckets.entry(*b).or_default() += n;
        }
    }

    pub fn count(&self) -> u64 {
        self.buckets.values().sum()
    }

    pub fn is_empty(&self) -> bool {
        self.buckets.is_empty()
    }

    /// The sample of rank `⌈q·n⌉` (nearest rank; at least the first), `q` in percent, within
    /// [`RELATIVE_ERROR`]; `None` without samples.
    pub fn percentile(&self, percent: u64) -> Option<u64> {
        let n = self.count();
        if n == 0 {
            return None;
        }
        let rank = (percent.min(100) * n).div_ceil(100).max(1);
        let mut seen = 0;
        self.buckets.iter().find_map(|(b, count)| {
            seen += count;
            (seen >= rank).then(|| estimate(*b))
        })
    }
}

impl Write for Histogram {
    fn write(&self, buf: &mut impl BufMut) {
        UInt(self.buckets.len() as u64).write(buf);
        for (b, n) in &self.buckets {
            UInt(*b).write(buf);
            UInt(*n).write(buf);
        }
    }
}

impl EncodeSize for Histogram {
    fn encode_size(&self) -> usize {
        UInt(self.buckets.len() as u64).encode_size()
            + self.buckets.iter().map(|(b, n)| UInt(*b).encode_size() + UInt(*n).encode_size()).sum::<usize>()
    }
}

impl Read for Histogram {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        let len = u64::from(UInt::<u64>::read(buf)?);
        if len > MAX_BUCKETS as u64 {
            return Err(CodecError::Invalid("Histogram", "more buckets than the layout has"));
        }
        let mut buckets = BTreeMap::new();
        for _ in 0..len {
            let b = u16::from(UInt::<u16>::read(buf)?);
            let n = u64::from(UInt::<u64>::read(buf)?);
            if usize::from(b) >= MAX_BUCKETS || n == 0 || buckets.insert(b, n).is_some() {
                return Err(CodecError::Invalid("Histogram", "a bucket out of range, empty or twice"));
            }
        }
        Ok(Self { buckets })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use commonware_codec::{DecodeExt, Encode};

    /// The exact nearest-rank percentile of sorted samples.
    fn exact(sorted: &[u64], percent: u64) -> u64 {
        let rank = (percent * sorted.len() as u64).div_ceil(100).max(1);
        sorted[rank as usize - 1]
    }

    fn within(got: u64, want: u64) -> bool {
        (got as f64 - want as f64).abs() <= want as f64 * RELATIVE_ERROR + 0.5
    }

    #[test]
    fn percentiles_are_within_the_stated_error_of_the_exact_ones() {
        // a deterministic spread over eight orders of magnitude (xorshift), plus edge values
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut samples: Vec<u64> = (0..20_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let magnitude = 10u64.pow((x % 9) as u32);
                magnitude + (x >> 8) % (magnitude * 9)
            })
            .collect();
        samples.extend([0, 1, 2, 3, 86_400_000, 172_800_000, u64::MAX / 2]);
        for n in [1, 2, 3, 10, 99, 1_000, samples.len()] {
            let mut h = Histogram::default();
            let mut some = samples[..n].to_vec();
            some.iter().for_each(|s| h.record(*s));
            some.sort_unstable();
            assert_eq!(h.count(), n as u64);
            for p in [1, 5, 50, 90, 95, 99, 100] {
                let (got, want) = (h.percentile(p).unwrap(), exact(&some, p));
                assert!(within(got, want), "n {n}, p{p}: {got} is not within 1 % of {want}");
            }
        }
    }

    #[test]
    fn every_value_reads_back_within_the_error_and_buckets_are_bounded() {
        let mut values: Vec<u64> = (0..5_000).collect();
        values.extend((0..64).map(|s| 1u64 << s));
        values.extend((1..64).map(|s| (1u64 << s) - 1));
        values.push(u64::MAX);
        for v in values {
            let b = bucket(v);
            assert!(usize::from(b) < MAX_BUCKETS, "{v} in bucket {b}");
            assert!(within(estimate(b), v), "{v}: bucket {b} reads {}", estimate(b));
        }
        assert_eq!(estimate(bucket(0)), 0);
        assert_eq!(estimate(bucket(1)), 1);
    }

    #[test]
    fn merged_histograms_equal_one_of_all_samples_and_round_trip() {
        let (mut a, mut b, mut all) = (Histogram::default(), Histogram::default(), Histogram::default());
        for v in 0..3_000u64 {
            let sample = v * v * 37;
            if v % 3 == 0 { &mut a } else { &mut b }.record(sample);
            all.record(sample);
        }
        a.merge(&b);
        assert_eq!(a, all);
        assert_eq!(Histogram::decode(all.encode()).unwrap(), all);
        assert_eq!(Histogram::default().percentile(50), None);
        // one bucket twice, an empty bucket, a bucket past the layout
        for bad in [vec![2u8, 5, 1, 5, 1], vec![1, 5, 0], vec![1, 0xff, 0x7f, 1]] {
            assert!(Histogram::decode(commonware_codec::Copying(bad.as_slice())).is_err(), "{bad:?}");
        }
    }
}
