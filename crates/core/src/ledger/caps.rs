//! Daily port caps: how many numbers may be requested from one donor, or by one recipient, in
//! one UTC day of block time (the policy's `max_ports_per_donor_per_day` and
//! `max_ports_per_recipient_per_day`; ARCHITECTURE.md, "Daily port caps", says why these
//! semantics).
//!
//! A request is counted when it is accepted, by its numbers, against both sides whose cap is
//! set; one that would pass a cap is refused whole. Each operator has at most one counter per
//! side in `DailyPorts`, holding the day it counts and the numbers requested that day; the first
//! request of a new day overwrites it, so the table never holds more than two entries an
//! operator. Counters exist only while their side is capped: switching a cap off drops them.

use super::{
    Ledger,
    ctx::{Ctx, Fail},
    keys::{daily_ports_key, daily_ports_prefix},
};
use crate::{
    error::TxError,
    policy::{CapSide, Policy},
    store::{ReadStore, Store, StoreError, Table},
    types::{OperatorId, Timestamp, UtcDay},
};

/// The stored counter: the UTC day it counts and the numbers requested that day.
type Counter = (u64, u64);

/// Numbers requested on `day` for `operator` on `side`, as the counter reads (0 if it counts
/// another day, or there is none).
fn used_on<S: ReadStore>(
    ctx: &Ctx<'_, S>,
    side: CapSide,
    operator: &OperatorId,
    day: UtcDay,
) -> Result<u64, StoreError> {
    let counter: Option<Counter> = ctx.read(Table::DailyPorts, &daily_ports_key(side, operator))?;
    Ok(counter.filter(|(d, _)| *d == day.0).map_or(0, |(_, n)| n))
}

/// Counts a request of `numbers` numbers from `donor` to `recipient` at block time `now`
/// against each cap in force, or refuses it, naming the first cap it would pass (donor before
/// recipient) and writing nothing.
pub(super) fn count_request<S: ReadStore>(
    ctx: &mut Ctx<'_, S>,
    now: Timestamp,
    policy: &Policy,
    donor: &OperatorId,
    recipient: &OperatorId,
    numbers: usize,
) -> Result<(), Fail> {
    let day = now.utc_day();
    let requested = numbers as u64;
    let mut counted = Vec::with_capacity(2);
    for (side, operator) in [(CapSide::Donor, donor), (CapSide::Recipient, recipient)] {
        let Some(cap) = policy.daily_cap(side) else { continue };
        let used = used_on(ctx, side, operator, day)?;
        if used + requested > u64::from(cap) {
            return Err(
                TxError::DailyCap { side, operator: operator.clone(), day, cap, used, requested }.into()
            );
        }
        counted.push((side, operator, used + requested));
    }
    for (side, operator, count) in counted {
        ctx.write(Table::DailyPorts, daily_ports_key(side, operator), &(day.0, count));
    }
    Ok(())
}

/// A new policy replaces `old`: the counters of a side whose cap it switches off are dropped
/// (a cap switched on later counts from then). A cap that only changes its value keeps the
/// day's count, so a lowered cap refuses at once what would pass it.
pub(super) fn policy_changed<S: ReadStore>(
    ctx: &mut Ctx<'_, S>,
    old: &Policy,
    new: &Policy,
) -> Result<(), StoreError> {
    for side in CapSide::ALL {
        if old.daily_cap(side).is_some() && new.daily_cap(side).is_none() {
            for key in ctx.keys_with_prefix(Table::DailyPorts, &daily_ports_prefix(side))? {
                ctx.delete(Table::DailyPorts, key);
            }
        }
    }
    Ok(())
}

impl<S: Store> Ledger<S> {
    /// Numbers requested on `day` from `operator` as donor, or by it as recipient, as counted
    /// for the daily caps in the committed state. Only requests made while that side was capped
    /// are counted; only the latest day an operator had a request on is kept.
    pub fn ports_requested(
        &self,
        side: CapSide,
        operator: &OperatorId,
        day: UtcDay,
    ) -> Result<u64, StoreError> {
        used_on(&Ctx::new(&self.store), side, operator, day)
    }
}
