//! What a block's time sets off before its transactions run: the replay set forgets what
//! expired, and the orders' deadlines fire.
//!
//! A deadline is *before*: a timer due at or before the block time fires, so a donor's answer in
//! a block at its deadline is too late. The donor's deadline applies the order's silence rule
//! (deemed release or deemed reject); the activation deadline expires a released order.

use super::{
    ctx::{Ctx, Fail, decode},
    keys::{seen_expired_end, timer_deadline, timer_key, timer_port, timers_due_end},
    ports::{close_order, release_order},
};
use crate::{
    policy::SilenceRule,
    port::{RejectCause, Step},
    records::TimerKind,
    store::{ReadStore, StoreError, Table},
    types::{PortId, Timestamp},
};
use std::collections::BTreeSet;

/// Forgets applied transactions whose validity window closed before `now`.
pub(super) fn prune_seen<S: ReadStore>(ctx: &mut Ctx<'_, S>, now: Timestamp) -> Result<(), StoreError> {
    let end = seen_expired_end(now);
    for (k, _) in ctx.store().range(Table::SeenTxByExpiry, &[], Some(&end), usize::MAX)? {
        ctx.delete(Table::SeenTxByExpiry, k);
    }
    ctx.commit_tx();
    Ok(())
}

/// Fires every timer due at or before `now`, in (deadline, port id) order, including timers
/// that firing sets within the same window.
pub(super) fn fire_timers<S: ReadStore>(ctx: &mut Ctx<'_, S>, now: Timestamp) -> Result<(), StoreError> {
    let end = timers_due_end(now);
    let mut due: BTreeSet<Vec<u8>> =
        ctx.store().range(Table::Timers, &[], Some(&end), usize::MAX)?.into_iter().map(|(k, _)| k).collect();
    while let Some(key) = due.pop_first() {
        let port = PortId(decode(Table::Timers, timer_port(&key))?);
        let kind = ctx.get(Table::Timers, &key)?;
        ctx.delete(Table::Timers, key.clone());
        let order = match ctx.order(&port) {
            Ok(order) => order,
            Err(Fail::Store(e)) => return Err(e),
            Err(Fail::Tx(_)) => {
                return Err(StoreError::Corrupt {
                    what: "timers",
                    source: commonware_codec::Error::Invalid("Timers", "timer of a missing order"),
                });
            }
        };
        let at = timer_deadline(&key);
        match (kind.as_deref(), order.state()) {
            (Some([k]), Step::Requested) if *k == TimerKind::DonorDeadline as u8 => {
                match order.on_donor_silence {
                    SilenceRule::DeemedRelease => {
                        let released = release_order(ctx, order, now, true)?;
                        if released.activation_deadline <= now {
                            due.insert(timer_key(released.activation_deadline, &port));
                        }
                    }
                    SilenceRule::DeemedReject => {
                        close_order(ctx, order, now, Step::Rejected(RejectCause::DonorSilent))?;
                    }
                }
            }
            (Some([k]), Step::Released { .. }) if *k == TimerKind::ActivationDeadline as u8 => {
                close_order(ctx, order, now, Step::Expired)?;
            }
            // A timer is removed whenever its order moves on, so none should be stale.
            _ => debug_assert!(false, "stale timer at {at} for {port}"),
        }
        ctx.commit_tx();
    }
    Ok(())
}
