//! `POST /v1/txs` bodies, read by serde seeds that count and decode while the JSON is read.

use super::{
    MAX_BATCH_TXS,
    error::{ApiError, error},
};
use axum::http::StatusCode;
use bytes::Bytes;
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use std::{cell::RefCell, fmt};

const BATCH_SHAPE: &str = "{\"txs\": [\"<hex>\", ...]}";

fn bad_batch(got: &str) -> ApiError {
    error(
        StatusCode::BAD_REQUEST,
        "bad_batch",
        format!("a batch holds 1 to {MAX_BATCH_TXS} transactions; got {got}"),
    )
}

/// Reads `{"txs": ["<hex>", …]}` (the shape of [`npchain_api::json::SubmitBatch`]), decoding each
/// transaction as it is read and refusing the batch at its first transaction past [`MAX_BATCH_TXS`] or its first
/// that is not hex: a 30 MB body of ten million empty strings is refused at the 10,001st, not
/// after ten million allocations.
pub(super) fn parse_batch(body: &[u8]) -> Result<Vec<Bytes>, ApiError> {
    let refusal = RefCell::new(None);
    let mut de = serde_json::Deserializer::from_slice(body);
    let parsed = Batch(&refusal).deserialize(&mut de).and_then(|txs| de.end().map(|()| txs));
    match parsed {
        Ok(txs) if txs.is_empty() => Err(bad_batch("0")),
        Ok(txs) => Ok(txs),
        Err(e) => Err(refusal.into_inner().unwrap_or_else(|| {
            error(StatusCode::BAD_REQUEST, "bad_json", format!("expected {BATCH_SHAPE}: {e}"))
        })),
    }
}

/// Where a seed leaves the precise refusal before it stops the parser.
type Refusal<'r> = &'r RefCell<Option<ApiError>>;

fn stop<E: de::Error>(refusal: Refusal<'_>, e: ApiError) -> E {
    let message = e.message.clone();
    *refusal.borrow_mut() = Some(e);
    E::custom(message)
}

/// The whole body.
struct Batch<'r>(Refusal<'r>);
struct Txs<'r>(Refusal<'r>);
struct Tx<'r>(Refusal<'r>, usize);

#[derive(serde::Deserialize)]
#[serde(field_identifier, rename_all = "lowercase")]
enum Field {
    Txs,
}

impl<'de> DeserializeSeed<'de> for Batch<'_> {
    type Value = Vec<Bytes>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Vec<Bytes>, D::Error> {
        d.deserialize_struct("SubmitBatch", &["txs"], self)
    }
}

impl<'de> Visitor<'de> for Batch<'_> {
    type Value = Vec<Bytes>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(BATCH_SHAPE)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Vec<Bytes>, A::Error> {
        let mut txs = None;
        while let Some(Field::Txs) = map.next_key()? {
            if txs.is_some() {
                return Err(de::Error::duplicate_field("txs"));
            }
            txs = Some(map.next_value_seed(Txs(self.0))?);
        }
        txs.ok_or_else(|| de::Error::missing_field("txs"))
    }
}

impl<'de> DeserializeSeed<'de> for Txs<'_> {
    type Value = Vec<Bytes>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Vec<Bytes>, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Txs<'_> {
    type Value = Vec<Bytes>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of hex strings")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<Bytes>, A::Error> {
        let mut txs = Vec::new();
        while let Some(tx) = seq.next_element_seed(Tx(self.0, txs.len()))? {
            if txs.len() == MAX_BATCH_TXS {
                return Err(stop(self.0, bad_batch(&format!("more than {MAX_BATCH_TXS}"))));
            }
            txs.push(tx);
        }
        Ok(txs)
    }
}

impl<'de> DeserializeSeed<'de> for Tx<'_> {
    type Value = Bytes;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Bytes, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Tx<'_> {
    type Value = Bytes;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a transaction in hex")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Bytes, E> {
        match commonware_formatting::from_hex(v.trim()) {
            Some(bytes) => Ok(Bytes::from(bytes)),
            None => Err(stop(
                self.0,
                error(StatusCode::BAD_REQUEST, "bad_hex", format!("txs[{}] is not hex", self.1)),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(body: &str) -> &'static str {
        parse_batch(body.as_bytes()).unwrap_err().code
    }

    #[test]
    fn reads_counts_and_decodes_as_it_goes() {
        let txs = parse_batch(br#"{"txs": ["00ff", " 01 "]}"#).unwrap();
        assert_eq!(txs, [Bytes::from_static(&[0, 0xff]), Bytes::from_static(&[1])]);
        // stopped at the first transaction past the limit: what follows is never read
        let many = format!(r#"{{"txs":[{}"00", not json"#, r#""00","#.repeat(MAX_BATCH_TXS));
        let e = parse_batch(many.as_bytes()).unwrap_err();
        assert_eq!((e.code, e.message.contains("more than 10000")), ("bad_batch", true), "{}", e.message);
        let e = parse_batch(br#"{"txs":["00","0g", not json"#).unwrap_err();
        assert_eq!((e.code, e.message.as_str()), ("bad_hex", "txs[1] is not hex"));
        assert_eq!(code(r#"{"txs":[]}"#), "bad_batch");
        for bad in [
            r#"{"txs":["00"],"txs":["00"]}"#,
            r#"{"tx":["00"]}"#,
            r#"{"txs":[0]}"#,
            "{}",
            r#"{"txs":["00"]} x"#,
        ] {
            let e = parse_batch(bad.as_bytes()).unwrap_err();
            assert_eq!(e.code, "bad_json", "{bad}");
            assert!(e.message.starts_with("expected {\"txs\""), "{}", e.message);
        }
    }
}
