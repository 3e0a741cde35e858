//! One transaction: the checks every kind shares, then the rule of its kind.
//!
//! [`apply_tx`] checks the validity window (not expired, not claiming more than the policy's
//! TTL ahead) and the replay set, hands the transaction to one function per kind (the regulator's
//! kinds in `governance`, a number's in `numbers`, a port order's in `ports`), and on success
//! remembers its id until it expires. It writes into the transaction's own layer of the
//! [`Ctx`]; the caller keeps or drops that layer.

use super::{
    ctx::{Ctx, Fail},
    governance::{self, require_regulator},
    import,
    keys::seen_by_expiry_key,
    numbers, ports,
};
use crate::{
    error::TxError,
    store::{ReadStore, Table},
    tx::{TxBody, VerifiedTx},
    types::Timestamp,
};

/// Applies one verified transaction at block time `now`.
pub(super) fn apply_tx<S: ReadStore>(
    ctx: &mut Ctx<'_, S>,
    now: Timestamp,
    vtx: &VerifiedTx,
) -> Result<(), Fail> {
    let tx = vtx.tx();
    if tx.expires_at < now {
        return Err(TxError::Expired { expires_at: tx.expires_at, block_time: now }.into());
    }
    let policy = ctx.policy()?;
    let latest = now.plus_secs(policy.tx_ttl_max_secs);
    if tx.expires_at > latest {
        return Err(TxError::ExpiryTooFar { expires_at: tx.expires_at, latest }.into());
    }
    let id = vtx.id();
    let seen = seen_by_expiry_key(tx.expires_at, &id);
    if ctx.get(Table::SeenTxByExpiry, &seen)?.is_some() {
        return Err(TxError::Replay { tx: id }.into());
    }
    let signer = &tx.signer;
    let kind = tx.body.kind();
    match &tx.body {
        TxBody::AdmitOperator { id, name, operator_key, validator_key, routing_number } => {
            require_regulator(ctx, signer, kind)?;
            governance::admit_operator(ctx, id, name, operator_key, validator_key.as_ref(), routing_number)
        }
        TxBody::UpdateOperator { id, operator_key, routing_number } => {
            require_regulator(ctx, signer, kind)?;
            governance::update_operator(ctx, id, operator_key, routing_number)
        }
        TxBody::RetireOperator { id } => {
            require_regulator(ctx, signer, kind)?;
            governance::retire_operator(ctx, id)
        }
        TxBody::AssignRange { prefix, holder } => {
            require_regulator(ctx, signer, kind)?;
            governance::assign_range(ctx, *prefix, holder, None)
        }
        TxBody::AssignRangeWithLengths { prefix, holder, lengths } => {
            require_regulator(ctx, signer, kind)?;
            governance::assign_range(ctx, *prefix, holder, Some(*lengths))
        }
        TxBody::WithdrawRange { prefix } => {
            require_regulator(ctx, signer, kind)?;
            governance::withdraw_range(ctx, *prefix)
        }
        TxBody::SetValidator { id, validator_key } => {
            require_regulator(ctx, signer, kind)?;
            governance::set_validator(ctx, id, validator_key.as_ref())
        }
        TxBody::SetPolicy(policy) => {
            require_regulator(ctx, signer, kind)?;
            governance::set_policy(ctx, policy)
        }
        TxBody::ImportNumbers { groups } => {
            require_regulator(ctx, signer, kind)?;
            import::import_numbers(ctx, now, groups)
        }
        TxBody::Bind { number, subscriber } => numbers::bind(ctx, now, signer, *number, subscriber),
        TxBody::Return { number } => numbers::return_number(ctx, now, &policy, signer, *number),
        TxBody::RequestPort(request) => ports::request(ctx, now, &policy, request, signer),
        TxBody::RequestPortFor { request, subscriber, .. } => {
            ports::request_for(ctx, now, &policy, signer, request, subscriber)
        }
        TxBody::Release { port } => ports::release(ctx, now, signer, port),
        TxBody::Reject { port, reason } => ports::reject(ctx, now, signer, port, *reason),
        TxBody::Activate { port } => ports::activate(ctx, now, signer, port),
        TxBody::Cancel { port } => ports::cancel(ctx, now, signer, port),
    }?;
    ctx.put(Table::SeenTxByExpiry, seen, Vec::new());
    Ok(())
}
