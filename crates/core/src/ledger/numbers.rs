//! The rules of a single number outside a port order: its serving operator binds a
//! subscriber's key to it, and returns it to the range holder when a ported subscription ends.
//! Neither is allowed while an order is open on the number.

use super::ctx::{Ctx, Fail};
use crate::{
    error::{Role, TxError},
    number::E164,
    policy::Policy,
    records::{Event, NumberEvent},
    store::ReadStore,
    types::{KeyId, PublicKey, Timestamp},
};

/// `Bind`: the serving operator (still active) binds a subscriber key to the number, or with
/// `None` unbinds it; a number in its return quarantine cannot be bound.
pub(super) fn bind<S: ReadStore>(
    ctx: &mut Ctx<'_, S>,
    now: Timestamp,
    signer: &PublicKey,
    number: E164,
    subscriber: &Option<PublicKey>,
) -> Result<(), Fail> {
    let (mut record, _, serving) = ctx.number_view(number)?;
    ctx.require_operator(signer, &serving, Role::ServingOperator)?;
    ctx.active_operator(&serving)?;
    if let Some(port) = record.open_port {
        return Err(TxError::PortOpen { number, port }.into());
    }
    if let Some(until) = record.quarantine_until.filter(|u| *u > now) {
        return Err(TxError::Quarantined { number, until }.into());
    }
    record.subscriber = subscriber.as_ref().map(KeyId::from);
    let event = NumberEvent::Bound { by: serving.clone(), subscriber: subscriber.clone() };
    ctx.log(number, &mut record, now, event);
    ctx.put_number(number, &record);
    ctx.emit(Event::Bound { number, operator: serving, subscriber: subscriber.clone() });
    Ok(())
}

/// `Return`: the serving operator of a ported number gives it back to the range holder; it is
/// unbound and quarantined for the policy's return quarantine.
pub(super) fn return_number<S: ReadStore>(
    ctx: &mut Ctx<'_, S>,
    now: Timestamp,
    policy: &Policy,
    signer: &PublicKey,
    number: E164,
) -> Result<(), Fail> {
    let (mut record, holder, serving) = ctx.number_view(number)?;
    if serving == holder {
        return Err(TxError::NotPorted { number, holder }.into());
    }
    ctx.require_operator(signer, &serving, Role::ServingOperator)?;
    if let Some(port) = record.open_port {
        return Err(TxError::PortOpen { number, port }.into());
    }
    record.ported_to = None;
    record.subscriber = None;
    record.quarantine_until = Some(now.plus_secs(policy.return_quarantine_secs));
    let event = NumberEvent::Returned { from: serving.clone(), to: holder.clone() };
    ctx.log(number, &mut record, now, event);
    ctx.put_number(number, &record);
    ctx.emit(Event::Returned { number, from: serving, to: holder });
    Ok(())
}
