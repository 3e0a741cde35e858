//! The regulator's rules: admitting, updating and retiring operators, assigning ranges and
//! setting the policy. Only the regulator's key signs these; the dispatcher checks it with
//! [`require_regulator`] before the rule runs.

use super::{
    MAX_OPERATORS, caps,
    ctx::{Ctx, Fail},
    keys::KeyKind,
};
use crate::{
    error::TxError,
    number::Prefix,
    policy::Policy,
    records::{Event, OperatorRecord},
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

/// `AdmitOperator`: a new operator with two keys no one holds yet (and not the same key
/// twice), in the next slot.
pub(super) fn admit_operator<S: ReadStore>(
    ctx: &mut Ctx<'_, S>,
    id: &OperatorId,
    name: &str,
    operator_key: &PublicKey,
    validator_key: &PublicKey,
    routing_number: &RoutingNumber,
) -> Result<(), Fail> {
    if ctx.operator(id)?.is_some() {
        return Err(TxError::OperatorExists { operator: id.clone() }.into());
    }
    for key in [operator_key, validator_key] {
        if let Some((owner, _)) = ctx.key_owner(key)? {
            return Err(TxError::KeyInUse { key: key.into(), operator: owner }.into());
        }
    }
    if operator_key == validator_key {
        return Err(TxError::KeyInUse { key: operator_key.into(), operator: id.clone() }.into());
    }
    let count = ctx.operator_count()?;
    if usize::from(count) >= MAX_OPERATORS {
        return Err(TxError::TooManyOperators { max: MAX_OPERATORS }.into());
    }
    ctx.put_new_operator(&OperatorRecord {
        id: id.clone(),
        name: name.to_owned(),
        operator_key: operator_key.into(),
        validator_key: validator_key.into(),
        routing_number: routing_number.clone(),
        slot: count,
        active: true,
    });
    ctx.set_operator_count(count + 1);
    ctx.emit(Event::OperatorAdmitted { operator: id.clone() });
    Ok(())
}

/// `UpdateOperator`: rotates the operator key (to one no one holds) and sets the routing
/// number; every number the operator serves is re-routed at once.
pub(super) fn update_operator<S: ReadStore>(
    ctx: &mut Ctx<'_, S>,
    id: &OperatorId,
    operator_key: &PublicKey,
    routing_number: &RoutingNumber,
) -> Result<(), Fail> {
    let mut record = ctx.known_operator(id)?;
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
/// return) but gains no numbers.
pub(super) fn retire_operator<S: ReadStore>(ctx: &mut Ctx<'_, S>, id: &OperatorId) -> Result<(), Fail> {
    let mut record = ctx.active_operator(id)?;
    record.active = false;
    ctx.put_operator(&record);
    ctx.emit(Event::OperatorRetired { operator: id.clone() });
    Ok(())
}

/// `AssignRange`: the prefix goes to an active holder, replacing any earlier one.
pub(super) fn assign_range<S: ReadStore>(
    ctx: &mut Ctx<'_, S>,
    prefix: Prefix,
    holder: &OperatorId,
) -> Result<(), Fail> {
    ctx.active_operator(holder)?;
    ctx.put_range(prefix, holder);
    ctx.emit(Event::RangeAssigned { prefix, holder: holder.clone() });
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
