//! The rules of a port order, from its request to its final step, and the helpers that move an
//! order along (also used by the timers).
//!
//! A request (by the subscriber, or by the recipient with the subscriber's consent) opens an
//! order that blocks its numbers; the donor releases or rejects it before its deadline; the
//! recipient activates a released order once it is due, which switches routing; the subscriber
//! may cancel an open order. Every final step frees the numbers, the timer and the open-order
//! entries.

use super::{
    caps,
    ctx::{Ctx, Fail},
    keys::open_order_key,
};
use crate::{
    error::{Role, TxError},
    policy::Policy,
    port::{Initiator, PortOrder, RejectCause, RejectReason, Step},
    records::{Event, NumberEvent, TimerKind},
    store::{ReadStore, StoreError, Table},
    tx::PortRequest,
    types::{PortId, PublicKey, Timestamp},
};

/// `RequestPort`: the subscriber (the key bound to every number) requests a port.
pub(super) fn request<S: ReadStore>(
    ctx: &mut Ctx<'_, S>,
    now: Timestamp,
    policy: &Policy,
    request: &PortRequest,
    subscriber: &PublicKey,
) -> Result<(), Fail> {
    open_order(ctx, now, policy, request, subscriber, Initiator::Subscriber)
}

/// `RequestPortFor`: the recipient requests a port on the subscriber's behalf (the consent
/// signature was checked when the transaction was verified).
pub(super) fn request_for<S: ReadStore>(
    ctx: &mut Ctx<'_, S>,
    now: Timestamp,
    policy: &Policy,
    signer: &PublicKey,
    request: &PortRequest,
    subscriber: &PublicKey,
) -> Result<(), Fail> {
    ctx.require_operator(signer, &request.recipient, Role::Recipient)?;
    open_order(ctx, now, policy, request, subscriber, Initiator::Recipient)
}

/// `Release`: the donor releases a requested order.
pub(super) fn release<S: ReadStore>(
    ctx: &mut Ctx<'_, S>,
    now: Timestamp,
    signer: &PublicKey,
    port: &PortId,
) -> Result<(), Fail> {
    let order = ctx.order(port)?;
    ctx.require_operator(signer, &order.donor, Role::Donor)?;
    expect_state(&order, matches!(order.state(), Step::Requested), "requested")?;
    release_order(ctx, order, now, false)?;
    Ok(())
}

/// `Reject`: the donor rejects a requested order with a reason from the closed list.
pub(super) fn reject<S: ReadStore>(
    ctx: &mut Ctx<'_, S>,
    now: Timestamp,
    signer: &PublicKey,
    port: &PortId,
    reason: RejectReason,
) -> Result<(), Fail> {
    let order = ctx.order(port)?;
    ctx.require_operator(signer, &order.donor, Role::Donor)?;
    expect_state(&order, matches!(order.state(), Step::Requested), "requested")?;
    close_order(ctx, order, now, Step::Rejected(RejectCause::Donor(reason)))?;
    Ok(())
}

/// `Activate`: the recipient (still active) activates a released order once it is due; the
/// numbers route to it from this block on (a port back to the range holder clears `ported_to`).
pub(super) fn activate<S: ReadStore>(
    ctx: &mut Ctx<'_, S>,
    now: Timestamp,
    signer: &PublicKey,
    port: &PortId,
) -> Result<(), Fail> {
    let order = ctx.order(port)?;
    ctx.require_operator(signer, &order.recipient, Role::Recipient)?;
    ctx.active_operator(&order.recipient)?;
    expect_state(&order, matches!(order.state(), Step::Released { .. }), "released")?;
    if now < order.due {
        return Err(TxError::NotYetDue { port: *port, due: order.due }.into());
    }
    for number in &order.numbers {
        let (mut record, holder, _) = ctx.number_view(*number)?;
        record.ported_to = (order.recipient != holder).then(|| order.recipient.clone());
        record.last_ported_at = Some(now);
        ctx.put_number(*number, &record);
    }
    close_order(ctx, order, now, Step::Activated)?;
    Ok(())
}

/// `Cancel`: the subscriber who requested an open order withdraws it.
pub(super) fn cancel<S: ReadStore>(
    ctx: &mut Ctx<'_, S>,
    now: Timestamp,
    signer: &PublicKey,
    port: &PortId,
) -> Result<(), Fail> {
    let order = ctx.order(port)?;
    if !order.subscriber.is(signer) {
        return Err(TxError::NotSubscriber { port: *port }.into());
    }
    expect_state(&order, order.is_open(), "requested or released")?;
    close_order(ctx, order, now, Step::Cancelled)?;
    Ok(())
}

fn expect_state(order: &PortOrder, ok: bool, expected: &'static str) -> Result<(), Fail> {
    if ok {
        Ok(())
    } else {
        Err(TxError::WrongState { port: order.id, state: order.state(), expected }.into())
    }
}

/// Opens an order: every number must be served by the donor, bound to the subscriber, free of
/// other orders and past its lock-in, and all of them must fit the daily caps in force; the
/// deadlines are fixed now from the policy in force.
fn open_order<S: ReadStore>(
    ctx: &mut Ctx<'_, S>,
    now: Timestamp,
    policy: &Policy,
    request: &PortRequest,
    subscriber: &PublicKey,
    initiator: Initiator,
) -> Result<(), Fail> {
    let id = request.port_id(subscriber);
    if ctx.read::<PortOrder>(Table::Orders, id.0.as_ref())?.is_some() {
        return Err(TxError::DuplicatePort { port: id }.into());
    }
    ctx.known_operator(&request.donor)?;
    ctx.active_operator(&request.recipient)?;
    let latest = now.plus_secs(policy.max_due_ahead_secs);
    if request.due > latest {
        return Err(TxError::DueTooFar { due: request.due, latest }.into());
    }
    let mut records = Vec::with_capacity(request.numbers.len());
    for number in &request.numbers {
        let (record, _, serving) = ctx.number_view(*number)?;
        if serving != request.donor {
            return Err(
                TxError::DonorNotServing { number: *number, donor: request.donor.clone(), serving }.into()
            );
        }
        if !record.subscriber.is_some_and(|k| k.is(subscriber)) {
            return Err(TxError::NotBound { number: *number }.into());
        }
        if let Some(port) = record.open_port {
            return Err(TxError::PortOpen { number: *number, port }.into());
        }
        if let Some(until) = record.last_ported_at.map(|t| t.plus_secs(policy.lock_in_secs))
            && until > now
        {
            return Err(TxError::LockIn { number: *number, until }.into());
        }
        records.push(record);
    }
    caps::count_request(ctx, now, policy, &request.donor, &request.recipient, request.numbers.len())?;
    let due = request.due.max(now);
    let donor_deadline = now.plus_secs(policy.donor_answer_secs);
    let order = PortOrder {
        id,
        numbers: request.numbers.clone(),
        donor: request.donor.clone(),
        recipient: request.recipient.clone(),
        subscriber: subscriber.into(),
        initiator,
        due,
        donor_deadline,
        activation_deadline: due.max(donor_deadline).plus_secs(policy.activation_window_secs),
        on_donor_silence: policy.on_donor_silence,
        history: vec![(now, Step::Requested)],
    };
    for (number, mut record) in request.numbers.iter().zip(records) {
        record.open_port = Some(id);
        ctx.log(*number, &mut record, now, NumberEvent::Port { port: id, step: Step::Requested });
        ctx.put_number(*number, &record);
    }
    for op in [&order.donor, &order.recipient] {
        ctx.put(Table::OpenOrders, open_order_key(op, &id), Vec::new());
    }
    ctx.set_timer(donor_deadline, &id, TimerKind::DonorDeadline);
    ctx.put_order(&order);
    ctx.emit(port_event(&order, Step::Requested));
    Ok(())
}

fn port_event(order: &PortOrder, step: Step) -> Event {
    Event::Port {
        port: order.id,
        step,
        donor: order.donor.clone(),
        recipient: order.recipient.clone(),
        numbers: order.numbers.clone(),
    }
}

/// Moves a requested order to released (by the donor's answer or, `deemed`, its silence).
pub(super) fn release_order<S: ReadStore>(
    ctx: &mut Ctx<'_, S>,
    mut order: PortOrder,
    now: Timestamp,
    deemed: bool,
) -> Result<PortOrder, StoreError> {
    let step = Step::Released { deemed };
    ctx.clear_timer(order.donor_deadline, &order.id);
    ctx.set_timer(order.activation_deadline, &order.id, TimerKind::ActivationDeadline);
    record_step(ctx, &mut order, now, step)?;
    Ok(order)
}

/// Ends an order with a final step: frees its numbers, its timer and its open-order entries.
pub(super) fn close_order<S: ReadStore>(
    ctx: &mut Ctx<'_, S>,
    mut order: PortOrder,
    now: Timestamp,
    step: Step,
) -> Result<(), StoreError> {
    debug_assert!(step.is_final());
    match order.state() {
        Step::Requested => ctx.clear_timer(order.donor_deadline, &order.id),
        Step::Released { .. } => ctx.clear_timer(order.activation_deadline, &order.id),
        _ => unreachable!("only open orders are closed"),
    }
    for op in [&order.donor, &order.recipient] {
        ctx.delete(Table::OpenOrders, open_order_key(op, &order.id));
    }
    record_step(ctx, &mut order, now, step)
}

/// Appends a step to the order and to each number's log (freeing the numbers when the step
/// is final), stores the order and reports the event.
fn record_step<S: ReadStore>(
    ctx: &mut Ctx<'_, S>,
    order: &mut PortOrder,
    now: Timestamp,
    step: Step,
) -> Result<(), StoreError> {
    order.history.push((now, step));
    for number in &order.numbers {
        let mut record = ctx.number(*number)?.unwrap_or_default();
        if step.is_final() {
            record.open_port = None;
        }
        ctx.log(*number, &mut record, now, NumberEvent::Port { port: order.id, step });
        ctx.put_number(*number, &record);
    }
    ctx.put_order(order);
    ctx.emit(port_event(order, step));
    Ok(())
}
