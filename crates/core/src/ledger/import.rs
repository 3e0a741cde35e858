//! The regulator's bulk import after genesis (`ImportNumbers`): each entry sets the serving
//! operator of one number, as a legacy NPDB extract lists it. The checks are the migration
//! list's at genesis plus the live state's: the operator is admitted and not retired, a given
//! routing number is the operator's, the number is in an assigned range with one of its
//! lengths, and no open order holds it. An entry that names the number's current serving
//! operator changes nothing (no write, no event), whatever else holds, so importing a file
//! again is harmless. Any refused entry refuses the whole import, naming the entry's index and
//! number; nothing of it is applied.

use super::ctx::{Ctx, Fail};
use crate::{
    error::TxError,
    number::E164,
    records::{Event, NumberEvent},
    store::ReadStore,
    tx::ImportGroup,
    types::Timestamp,
};

/// `ImportNumbers`: the serving operator of every listed number becomes its group's operator
/// (the range holder's numbers route by range again); a subscriber key the former serving
/// operator bound is unbound, since that operator no longer serves the number. Each changed
/// number's log records the migration and the block reports `Imported`.
pub(super) fn import_numbers<S: ReadStore>(
    ctx: &mut Ctx<'_, S>,
    now: Timestamp,
    groups: &[ImportGroup],
) -> Result<(), Fail> {
    let mut index = 0;
    for group in groups {
        let entry_err = |index: usize, number: E164| {
            move |fail: Fail| match fail {
                Fail::Tx(cause) => Fail::Tx(TxError::ImportEntry { index, number, cause: Box::new(cause) }),
                store => store,
            }
        };
        let first = group.numbers[0];
        let operator = ctx.active_operator(&group.operator).map_err(entry_err(index, first))?;
        if let Some(got) = &group.routing_number
            && got != &operator.routing_number
        {
            let cause = TxError::ImportRoutingNumber {
                operator: operator.id.clone(),
                expected: operator.routing_number.clone(),
                got: got.clone(),
            };
            return Err(entry_err(index, first)(cause.into()));
        }
        for &number in &group.numbers {
            let (mut record, holder, serving) = ctx.number_view(number).map_err(entry_err(index, number))?;
            index += 1;
            if serving == operator.id {
                continue;
            }
            if let Some(port) = record.open_port {
                return Err(entry_err(index - 1, number)(TxError::PortOpen { number, port }.into()));
            }
            record.ported_to = (operator.id != holder).then(|| operator.id.clone());
            record.subscriber = None;
            ctx.log(number, &mut record, now, NumberEvent::Migrated { to: operator.id.clone() });
            ctx.put_number(number, &record);
            ctx.emit(Event::Imported { number, from: serving, to: operator.id.clone() });
        }
    }
    Ok(())
}
