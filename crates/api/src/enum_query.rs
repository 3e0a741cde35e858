//! The client side of ENUM: a NAPTR query for a number as wire bytes, and the answer read back
//! as a sending network reads it (the first NAPTR's regexp, or the negative response code). The
//! benchmarks and probes ask nodes with it; it needs only the DNS message codec.

use hickory_proto::{
    op::{Message, Query, ResponseCode},
    rr::{Name, RData, RecordType},
    serialize::binary::DecodeError,
};

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
