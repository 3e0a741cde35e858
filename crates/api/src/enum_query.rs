//! The client side of ENUM: a NAPTR query for a number as wire bytes, and the answer read back
//! as a sending network reads it (the first NAPTR's regexp, or the negative response code). The
//! benchmarks and probes ask nodes with it; it needs only the DNS message codec.

use hickory_proto::{
    op::{Message, Query, ResponseCode},
    rr::{Name, RData, RecordType},
    serialize::binary::DecodeError,
};

/// NAPTR order of a node's single answer for a number (RFC 6116 example value).
pub const NAPTR_ORDER: u16 = 100;
/// NAPTR preference of that answer.
pub const NAPTR_PREFERENCE: u16 = 10;
/// NAPTR flags: `u`, a terminal rule whose result is a URI (RFC 3404).
pub const NAPTR_FLAGS: &str = "u";
/// NAPTR service: the E.164 number as a `tel` URI (RFC 4769).
pub const NAPTR_SERVICE: &str = "E2U+pstn:tel";

/// A number's NAPTR regexp as a node's ENUM zone answers it: `!^.*$!tel:+<number>;npdi!`, with
/// `;rn=<routing number>` before the last `!` when it is ported (RFC 4694 §4: the routing
/// number's text is already one of its two forms). The zone and the HTTP route answer both
/// make it here.
pub fn naptr_regexp(
    number: &npchain_core::E164,
    ported: bool,
    routing_number: &dyn std::fmt::Display,
) -> String {
    if ported {
        format!("!^.*$!tel:{number};npdi;rn={routing_number}!")
    } else {
        format!("!^.*$!tel:{number};npdi!")
    }
}

/// What an ENUM server said about a number, as a sending network reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnumAnswer {
    /// The regexp of the first NAPTR record (`!^.*$!tel:+49…;npdi;rn=+49D002!`).
    Naptr(String),
    /// No record: the response code (`NXDomain`, or `NoError` for no data).
    Negative(ResponseCode),
}

/// An answer that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum AnswerError {
    #[error("undecodable DNS message")]
    Undecodable(#[source] DecodeError),
    #[error("answer id {got} does not match the query id {want}")]
    WrongId { got: u16, want: u16 },
}

/// A NAPTR query for `number` under `origin` (such as `e164.arpa`), as wire bytes.
pub fn naptr_query(number: &npchain_core::E164, origin: &str, id: u16) -> Vec<u8> {
    let digits = number.to_string();
    let mut name: Vec<String> = digits.trim_start_matches('+').chars().rev().map(String::from).collect();
    name.push(origin.trim_end_matches('.').to_owned());
    let mut query = Message::query();
    query.metadata.id = id;
    query.metadata.recursion_desired = false;
    let name = Name::from_ascii(format!("{}.", name.join("."))).unwrap_or_else(|_| Name::root());
    query.add_query(Query::query(name, RecordType::NAPTR));
    query.to_vec().unwrap_or_default()
}

/// Reads the answer to [`naptr_query`] with id `id`.
pub fn read_naptr_answer(bytes: &[u8], id: u16) -> Result<EnumAnswer, AnswerError> {
    let message = Message::from_vec(bytes).map_err(AnswerError::Undecodable)?;
    if message.metadata.id != id {
        return Err(AnswerError::WrongId { got: message.metadata.id, want: id });
    }
    let naptr = message.answers.iter().find_map(|r| match &r.data {
        RData::NAPTR(n) => Some(String::from_utf8_lossy(&n.regexp).into_owned()),
        _ => None,
    });
    Ok(match naptr {
        Some(regexp) => EnumAnswer::Naptr(regexp),
        None => EnumAnswer::Negative(message.metadata.response_code),
    })
}
