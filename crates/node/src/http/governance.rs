//! The governance reads, open to everyone: the operators (with the regulator's key), the
//! assigned ranges and the policy in force, each as of one committed height (read under the
//! chain's lock), in the JSON shapes of [`npchain_api::json`].

use super::Api;
use axum::{
    Json,
    extract::State,
    response::{IntoResponse, Response},
};

pub(super) async fn operators(State(api): State<Api>) -> Response {
    Json(api.operators()).into_response()
}

pub(super) async fn ranges(State(api): State<Api>) -> Response {
    Json(api.ranges()).into_response()
}

pub(super) async fn policy(State(api): State<Api>) -> Response {
    Json(api.policy()).into_response()
}
