//! Reading a request's path segments, query strings and JSON bodies into typed values, each
//! refusal a 400 with its own code (`bad_number`, `bad_port_id`, `bad_height`, `bad_query`,
//! `bad_json`). Shared by the query, event-stream and operator handlers.

use super::{
    Api,
    error::{ApiError, error},
};
use axum::http::StatusCode;
use npchain_core::{E164, types::PortId};

/// A number from a path segment, exactly as sent (percent-decoded): the grammar of
/// [`npchain_core::number`], national forms read with the node's genesis region.
pub(super) fn number(api: &Api, raw: &str) -> Result<E164, ApiError> {
    E164::parse(raw, api.region()).map_err(|e| error(StatusCode::BAD_REQUEST, "bad_number", e.to_string()))
}

/// A number from a query parameter. There a `+` stands for a space (form encoding), so a
/// refusal of a leading space says how to send the `+`.
pub(super) fn number_in_query(api: &Api, raw: &str) -> Result<E164, ApiError> {
    number(api, raw).map_err(|mut e| {
        if raw.starts_with(' ') {
            e.message.push_str(" (in a URL query a + stands for a space: send the + as %2B)");
        }
        e
    })
}

/// The refusal of a path whose number segment is empty (`/v1/numbers/`, `/v1/numbers//history`,
/// `/v1/operator/numbers//bind`): the router matches no route for them.
pub(super) fn empty_number_path(path: &str) -> Option<ApiError> {
    let rest = path.strip_prefix("/v1/numbers/").or_else(|| path.strip_prefix("/v1/operator/numbers/"))?;
    let empty =
        rest.is_empty() || rest == "/history" || path.starts_with("/v1/operator/") && rest.starts_with('/');
    empty.then(|| {
        error(
            StatusCode::BAD_REQUEST,
            "bad_number",
            npchain_core::NumberError::Empty { what: npchain_core::number::Subject::Number }.to_string(),
        )
    })
}

/// A port order id: 64 hex digits.
pub(super) fn port_id(raw: &str) -> Result<PortId, ApiError> {
    raw.parse().map_err(|_| {
        error(StatusCode::BAD_REQUEST, "bad_port_id", format!("{raw:?} is not a port id (64 hex digits)"))
    })
}

/// A block height.
pub(super) fn height(raw: &str) -> Result<u64, ApiError> {
    raw.parse::<u64>()
        .map_err(|_| error(StatusCode::BAD_REQUEST, "bad_height", format!("{raw:?} is not a block height")))
}

/// A query string that did not parse.
pub(super) fn bad_query(e: axum::extract::rejection::QueryRejection) -> ApiError {
    error(StatusCode::BAD_REQUEST, "bad_query", e.body_text())
}

/// A JSON body of the type `T`; a refusal names the `shape` expected.
pub(super) fn json_body<T: serde::de::DeserializeOwned>(body: &[u8], shape: &str) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| error(StatusCode::BAD_REQUEST, "bad_json", format!("expected {shape}: {e}")))
}
