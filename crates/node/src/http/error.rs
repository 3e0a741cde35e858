//! Every refusal of the HTTP API is one [`ApiError`]: a status, a stable machine-readable code
//! and a message, sent as `{"error": "<code>", "message": "<what and why>"}`. The mapping of the
//! node's own errors (a refused submission, an operator action the node cannot take) to status
//! and code lives here, so the codes a client can rely on are in one place.

use crate::api::{ActionError, SubmitError};
use axum::{
    Json,
    http::{
        HeaderValue, StatusCode,
        header::{ALLOW, CONNECTION, RETRY_AFTER},
    },
    response::{IntoResponse, Response},
};
use serde_json::json;

/// A refusal: its status, stable code and message, sent as JSON.
#[derive(Debug)]
pub(super) struct ApiError {
    pub(super) status: StatusCode,
    pub(super) code: &'static str,
    pub(super) message: String,
    /// `Retry-After`, in seconds, for a refusal at a cap.
    pub(super) retry_after: Option<u32>,
    /// `Connection: close`: the request was not read to its end.
    pub(super) close: bool,
    /// `Allow`, for 405.
    pub(super) allow: Option<HeaderValue>,
}

impl ApiError {
    pub(super) fn retry_after(mut self, secs: u32) -> Self {
        self.retry_after = Some(secs);
        self
    }

    pub(super) fn closing(mut self) -> Self {
        self.close = true;
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response =
            (self.status, Json(json!({ "error": self.code, "message": self.message }))).into_response();
        let headers = response.headers_mut();
        if let Some(secs) = self.retry_after {
            headers.insert(RETRY_AFTER, HeaderValue::from(secs));
        }
        if self.close {
            headers.insert(CONNECTION, HeaderValue::from_static("close"));
        }
        if let Some(allow) = self.allow {
            headers.insert(ALLOW, allow);
        }
        response
    }
}

/// What a handler answers: a response, or a refusal.
pub(super) type Answer = Result<Response, ApiError>;

/// A refusal with `status`, `code` and `message`.
pub(super) fn error(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError { status, code, message: message.into(), retry_after: None, close: false, allow: None }
}

/// 500 `internal`: the node failed (its stores, a task), not the request.
pub(super) fn internal(e: impl std::fmt::Display) -> ApiError {
    error(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string())
}

/// The value as JSON, or 404 with `code` and the message `missing` makes.
pub(super) fn found<T: serde::Serialize>(
    value: Option<T>,
    code: &'static str,
    missing: impl FnOnce() -> String,
) -> Answer {
    match value {
        Some(v) => Ok(Json(v).into_response()),
        None => Err(error(StatusCode::NOT_FOUND, code, missing())),
    }
}

/// A submission the node did not take: the submit error's own code, with its status.
pub(super) fn submit_error(e: &SubmitError) -> ApiError {
    let status = match e {
        SubmitError::Malformed(_) | SubmitError::Invalid(_) => StatusCode::BAD_REQUEST,
        SubmitError::Refused { .. } | SubmitError::Expired { .. } => StatusCode::UNPROCESSABLE_ENTITY,
        SubmitError::Duplicate(_) | SubmitError::Committed(_) => StatusCode::CONFLICT,
        SubmitError::Full(_) | SubmitError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
    };
    error(status, e.code(), e.to_string())
}

/// An operator action the node did not take: 409 `no_operator` on an observer, 422 with the
/// consent's code for a consent it cannot carry, else the submission's refusal.
pub(super) fn action_error(e: ActionError) -> ApiError {
    match e {
        ActionError::NoOperator => error(StatusCode::CONFLICT, "no_operator", e.to_string()),
        ActionError::Consent(c) => error(StatusCode::UNPROCESSABLE_ENTITY, c.code(), c.to_string()),
        ActionError::Submit(e) => submit_error(&e),
    }
}
