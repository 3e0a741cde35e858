//! The regulator's rules: admitting, updating and retiring operators, setting their validator
//! keys (each change to the validator set checked by `epochs::check_change`), assigning and
//! withdrawing ranges, and setting the policy. Only the regulator's key signs these; the
//! dispatcher checks it with [`require_regulator`] before the rule runs.

use super::{
    MAX_OPERATORS, caps,
    ctx::{Ctx, Fail, decode},
    epochs::check_change,
    keys::{KeyKind, number_from_key, numbers_under},
};
use crate::{
    error::{TxError, ValidatorChange},
    lengths::Lengths,
    number::Prefix,
    policy::Policy,
    records::{Event, NumberRecord, OperatorRecord, RangeRecord},
    store::{ReadStore, Table},
    types::{OperatorId, PublicKey, RoutingNumber},
};

/// Refuses a `kind` of transaction not signed by the regulator.
pub(super) fn require_regulator<S: ReadStore>(
    ctx: &Ctx<'_, S>,
    signer: &PublicKey,
    kind: &'static str,
) -> Result<(), Fail> {
    if signer != &ctx.regulator()? {
        return Err(TxError::NotRegulator { kind, signer: signer.into() }.into());
    }
    Ok(())
}

/// Refuses a routing number that another operator than `id` already has: a routing number
/// names one network.
fn require_free_routing_number<S: ReadStore>(
    ctx: &Ctx<'_, S>,
    id: &OperatorId,
    routing_number: &RoutingNumber,
) -> Result<(), Fail> {
    match ctx.routing_number_owner(routing_number)? {
        Some(owner) if &owner != id => {
            Err(TxError::RoutingNumberInUse { routing_number: routing_number.clone(), operator: owner }
                .into())
        }
        _ => Ok(()),
    }
}

/// `AdmitOperator`: a new operator with keys no one holds yet (and not the same key twice) and
/// a routing number no one has, in the next slot. With a validator key it joins the validator
/// set at the next epoch.
pub(super) fn admit_operator<S: ReadStore>(
    ctx: &mut Ctx<'_, S>,
    id: &OperatorId,
    name: &str,
    operator_key: &PublicKey,
    validator_key: Option<&PublicKey>,
    routing_number: &RoutingNumber,
) -> Result<(), Fail> {
    if ctx.operator(id)?.is_some() {
        return Err(TxError::OperatorExists { operator: id.clone() }.into());
    }
    for key in std::iter::once(operator_key).chain(validator_key) {
        if let Some((owner, _)) = ctx.key_owner(key)? {
            return Err(TxError::KeyInUse { key: key.into(), operator: owner }.into());
        }
    }
    if Some(operator_key) == validator_key {
        return Err(TxError::KeyInUse { key: operator_key.into(), operator: id.clone() }.into());
    }
    require_free_routing_number(ctx, id, routing_number)?;
    let count = ctx.operator_count()?;
    if usize::from(count) >= MAX_OPERATORS {
        return Err(TxError::TooManyOperators { max: MAX_OPERATORS }.into());
    }
    ctx.put_new_operator(&OperatorRecord {
        id: id.clone(),
        name: name.to_owned(),
        operator_key: operator_key.into(),
        validator_key: validator_key.map(Into::into),
        routing_number: routing_number.clone(),
        slot: count,
        active: true,
    });
    ctx.set_operator_count(count + 1);
    if validator_key.is_some() {
        check_change(ctx, ValidatorChange::Admit(id.clone()))?;
    }
    ctx.emit(Event::OperatorAdmitted { operator: id.clone() });
    Ok(())
}

/// `UpdateOperator`: rotates the operator key (to one no one holds) and sets the routing
/// number (one no other operator has); every number the operator serves is re-routed at once.
pub(super) fn update_operator<S: ReadStore>(
    ctx: &mut Ctx<'_, S>,
    id: &OperatorId,
    operator_key: &PublicKey,
    routing_number: &RoutingNumber,
) -> Result<(), Fail> {
    let mut record = ctx.known_operator(id)?;
    require_free_routing_number(ctx, id, routing_number)?;
    if !record.operator_key.is(operator_key) {
        if let Some((owner, _)) = ctx.key_owner(operator_key)? {
            return Err(TxError::KeyInUse { key: operator_key.into(), operator: owner }.into());
        }
        ctx.delete(Table::OperatorKeys, record.operator_key.0.to_vec());
        ctx.put_key_owner(operator_key.as_ref(), KeyKind::Operator, id);
        record.operator_key = operator_key.into();
    }
    record.routing_number = routing_number.clone();
    ctx.put_operator(&record);
    ctx.emit(Event::OperatorUpdated { operator: id.clone() });
    Ok(())
}

/// `RetireOperator`: an active operator is retired; it may still wind down (release, reject,
/// return) but gains no numbers. A validating one leaves the validator set at the next epoch.
pub(super) fn retire_operator<S: ReadStore>(ctx: &mut Ctx<'_, S>, id: &OperatorId) -> Result<(), Fail> {
    let mut record = ctx.active_operator(id)?;
    record.active = false;
    ctx.put_operator(&record);
    if record.validator_key.is_some() {
        check_change(ctx, ValidatorChange::Retire(id.clone()))?;
    }
    ctx.emit(Event::OperatorRetired { operator: id.clone() });
    Ok(())
}

/// `SetValidator`: gives an active operator a validator key, rotates it, or (`None`) takes it
/// away, effective at the next epoch. A new key must be one no one ever held: validator keys
/// stay owned once used, so a removed key never comes back. Setting the key the operator has
/// (or none when it has none) changes nothing.
pub(super) fn set_validator<S: ReadStore>(
    ctx: &mut Ctx<'_, S>,
    id: &OperatorId,
    validator_key: Option<&PublicKey>,
) -> Result<(), Fail> {
    let mut record = ctx.active_operator(id)?;
    let change = match (&record.validator_key, validator_key) {
        (None, None) => return Ok(()),
        (Some(old), Some(new)) if old.is(new) => return Ok(()),
        (Some(_), None) => ValidatorChange::Remove(id.clone()),
        (old, Some(new)) => {
            if let Some((owner, _)) = ctx.key_owner(new)? {
                return Err(TxError::KeyInUse { key: new.into(), operator: owner }.into());
            }
            ctx.put_key_owner(new.as_ref(), KeyKind::Validator, id);
            if old.is_some() { ValidatorChange::Rotate(id.clone()) } else { ValidatorChange::Add(id.clone()) }
        }
    };
    record.validator_key = validator_key.map(Into::into);
    ctx.put_operator(&record);
    check_change(ctx, change)?;
    ctx.emit(Event::OperatorUpdated { operator: id.clone() });
    Ok(())
}

/// `AssignRange` (without lengths, tag 3; with them, tag 16): the prefix goes to an active
/// holder, replacing any earlier holder (and lengths) of exactly this prefix. Overlaps are
/// allowed and mean nesting: a number belongs to the longest assigned prefix that contains it,
/// so a longer prefix carves its numbers out of a shorter one, and a shorter one covers only
/// what no longer one holds.
///
/// Lengths must be ones the prefix allows ([`Lengths::any_for`]). They must not strand a live
/// number: refused when a number that would belong to this range (it is under the prefix and
/// no longer assigned prefix holds it) is bound, ported or in an open order and has another
/// length. The check reads every stored number record under the prefix, as `WithdrawRange`
/// does; without lengths a range has every length its prefix allows, so nothing is read.
pub(super) fn assign_range<S: ReadStore>(
    ctx: &mut Ctx<'_, S>,
    prefix: Prefix,
    holder: &OperatorId,
    lengths: Option<Lengths>,
) -> Result<(), Fail> {
    ctx.active_operator(holder)?;
    if let Some(lengths) = lengths {
        let allowed = Lengths::any_for(prefix);
        if !lengths.is_subset(allowed) {
            return Err(TxError::RangeLengths { prefix, lengths, allowed }.into());
        }
        for (start, end) in numbers_under(prefix) {
            for (key, value) in ctx.scan(Table::Numbers, &start, Some(&end[..]))? {
                let number = number_from_key(&key)?;
                if lengths.contains(number.digits())
                    || ctx.range_of(number)?.is_some_and(|(p, _)| p.len() > prefix.len())
                {
                    continue;
                }
                let record: NumberRecord = decode(Table::Numbers, &value)?;
                if record.open_port.is_some() || record.ported_to.is_some() || record.subscriber.is_some() {
                    let digits = number.digits();
                    return Err(TxError::RangeStrandsNumber { prefix, lengths, number, digits }.into());
                }
            }
        }
    }
    ctx.put_range(prefix, &RangeRecord { holder: holder.clone(), lengths });
    ctx.emit(Event::RangeAssigned { prefix, holder: holder.clone() });
    Ok(())
}

/// `WithdrawRange`: the assigned prefix is taken back from its holder, so its numbers fall back
/// to the next shorter assigned prefix that contains them (or route nowhere). Refused while any
/// number that belongs to it (longer assigned prefixes keep theirs) has an open order, is ported
/// to another operator, or is bound to a subscriber: withdrawing must not move a live number.
/// The check reads every stored number record under the prefix (numbers nobody touched have
/// none); only the regulator can make a ledger do this work.
pub(super) fn withdraw_range<S: ReadStore>(ctx: &mut Ctx<'_, S>, prefix: Prefix) -> Result<(), Fail> {
    let holder = ctx.range_at(prefix)?.ok_or(TxError::RangeNotAssigned { prefix })?.holder;
    for (start, end) in numbers_under(prefix) {
        for (key, value) in ctx.scan(Table::Numbers, &start, Some(&end[..]))? {
            let number = number_from_key(&key)?;
            if ctx.range_of(number)?.map(|(p, _)| p) != Some(prefix) {
                continue;
            }
            let record: NumberRecord = decode(Table::Numbers, &value)?;
            if let Some(port) = record.open_port {
                return Err(TxError::RangeHasOpenOrder { prefix, number, port }.into());
            }
            if let Some(serving) = record.ported_to {
                return Err(TxError::RangeHasPorted { prefix, number, serving }.into());
            }
            if record.subscriber.is_some() {
                return Err(TxError::RangeInService { prefix, number }.into());
            }
        }
    }
    ctx.delete_range(prefix);
    ctx.emit(Event::RangeWithdrawn { prefix, holder });
    Ok(())
}

/// `SetPolicy`: the policy for orders requested from now on (open orders keep their deadlines;
/// the daily caps apply to the next request, see `caps::policy_changed`).
pub(super) fn set_policy<S: ReadStore>(ctx: &mut Ctx<'_, S>, policy: &Policy) -> Result<(), Fail> {
    let old = ctx.policy()?;
    caps::policy_changed(ctx, &old, policy)?;
    ctx.put_policy(policy);
    ctx.emit(Event::PolicySet);
    Ok(())
}
