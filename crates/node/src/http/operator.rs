//! The operator's own actions, signed by the node with its operator key:
//! `POST /v1/operator/ports/{id}/{release|reject|activate}`,
//! `POST /v1/operator/numbers/{number}/{bind|return}`, `GET /v1/operator` (the token's check:
//! whom it acts for, the reasons a rejection takes), and `POST /v1/operator/ports` (as
//! recipient, a port request carrying the subscriber's consent: `npchain_api::consent`). Each needs
//! `Authorization: Bearer <admin token>` (compared in constant time by the node); without a
//! configured token the actions are disabled.

use super::{
    Api, MAX_BODY_BYTES,
    error::{Answer, ApiError, action_error, error},
    limits::Payload,
    parse,
};
use crate::api::OperatorAction;
use axum::{
    Json,
    extract::{Path, State},
    http::{HeaderMap, StatusCode, header::AUTHORIZATION},
    response::IntoResponse,
};
use npchain_core::{
    RejectReason,
    types::{PublicKey, parse_public_key},
};
use serde::Deserialize;
use serde_json::json;

/// Operator actions need `Authorization: Bearer <admin token>`.
fn authorize(api: &Api, headers: &HeaderMap) -> Result<(), ApiError> {
    if !api.admin_enabled() {
        return Err(error(
            StatusCode::FORBIDDEN,
            "admin_disabled",
            "operator actions are disabled on this node: no admin token is configured",
        ));
    }
    // The scheme is case-insensitive (RFC 9110 §11.1): `Bearer`, `bearer`, `BEARER`.
    let token = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token);
    match token {
        None => Err(error(
            StatusCode::UNAUTHORIZED,
            "missing_token",
            "operator actions need the header Authorization: Bearer <admin token>",
        )),
        Some(t) if api.admin_token_matches(t.trim()) => Ok(()),
        Some(_) => Err(error(StatusCode::FORBIDDEN, "wrong_token", "the admin token is not this node's")),
    }
}

/// `GET /v1/operator`: whom the admin token acts for, and the closed list of reasons a
/// rejection takes (what a desk's form offers). A token check with no effect.
pub(super) async fn whoami(State(api): State<Api>, headers: HeaderMap) -> Answer {
    authorize(&api, &headers)?;
    let reasons: Vec<_> =
        RejectReason::ALL.iter().map(|r| json!({ "code": r.as_str(), "text": r.description() })).collect();
    Ok(Json(json!({ "operator": api.status().operator, "reject_reasons": reasons })).into_response())
}

/// Signs and submits `action`: 202 with the transaction id.
fn act(api: &Api, action: OperatorAction) -> Answer {
    let id = api.act(action).map_err(action_error)?;
    Ok((StatusCode::ACCEPTED, Json(json!({ "id": id.to_string() }))).into_response())
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RejectBody {
    reason: String,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct BindBody {
    /// The subscriber's public key, hex; null unbinds.
    subscriber: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RequestForBody {
    /// The consent's printable form (`npconsent1:` and hex).
    consent: String,
}

/// `POST /v1/operator/ports`: the consent is read (400 `bad_consent`), checked against this
/// node (422 with the consent's code), then the request is signed and submitted with the
/// precheck (a consent already used: 422 `duplicate-port`). 202 with the transaction and port id.
pub(super) async fn request_for(
    State(api): State<Api>,
    headers: HeaderMap,
    body: Payload<MAX_BODY_BYTES>,
) -> Answer {
    authorize(&api, &headers)?;
    let body: RequestForBody = parse::json_body(&body, "{\"consent\": \"npconsent1:<hex>\"}")?;
    let consent = npchain_api::consent::Consent::from_text(&body.consent)
        .map_err(|e| error(StatusCode::BAD_REQUEST, "bad_consent", e.to_string()))?;
    let port = consent.port_id();
    let id = api.act(OperatorAction::RequestFor { consent: Box::new(consent) }).map_err(action_error)?;
    Ok((StatusCode::ACCEPTED, Json(json!({ "id": id.to_string(), "port": port.to_string() })))
        .into_response())
}

fn unknown_action(on: &str, got: &str, choices: &str) -> ApiError {
    error(StatusCode::NOT_FOUND, "unknown_action", format!("no {on} action {got:?}; use {choices}"))
}

pub(super) async fn port_action(
    State(api): State<Api>,
    Path((raw, action)): Path<(String, String)>,
    headers: HeaderMap,
    body: Payload<MAX_BODY_BYTES>,
) -> Answer {
    authorize(&api, &headers)?;
    let port = parse::port_id(&raw)?;
    let action = match action.as_str() {
        "release" => OperatorAction::Release { port },
        "activate" => OperatorAction::Activate { port },
        "reject" => {
            let body: RejectBody = parse::json_body(&body, "{\"reason\": \"<reason>\"}")?;
            let reason: RejectReason =
                body.reason.parse().map_err(|e: npchain_core::port::UnknownReason| {
                    error(StatusCode::BAD_REQUEST, "bad_reason", e.to_string())
                })?;
            OperatorAction::Reject { port, reason }
        }
        other => return Err(unknown_action("port", other, "release, reject or activate")),
    };
    act(&api, action)
}

pub(super) async fn number_action(
    State(api): State<Api>,
    Path((raw, action)): Path<(String, String)>,
    headers: HeaderMap,
    body: Payload<MAX_BODY_BYTES>,
) -> Answer {
    authorize(&api, &headers)?;
    let number = parse::number(&api, &raw)?;
    let action = match action.as_str() {
        "return" => OperatorAction::Return { number },
        "bind" => {
            let body: BindBody = parse::json_body(&body, "{\"subscriber\": \"<public key hex>\" | null}")?;
            let subscriber: Option<PublicKey> = body
                .subscriber
                .as_deref()
                .map(parse_public_key)
                .transpose()
                .map_err(|e| error(StatusCode::BAD_REQUEST, "bad_key", e.to_string()))?;
            OperatorAction::Bind { number, subscriber }
        }
        other => return Err(unknown_action("number", other, "bind or return")),
    };
    act(&api, action)
}
