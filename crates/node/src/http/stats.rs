//! `GET /v1/stats?from=YYYY-MM-DD&to=YYYY-MM-DD[&period=day|month][&operator=ID]`: the porting
//! statistics the block log keeps ([`crate::stats`]). Each parameter that does not read is a
//! 400 quoting it: `bad_date`, `bad_period`, `bad_operator`, `bad_range` (from after to, or
//! more than [`crate::stats::MAX_DAYS`] days), `bad_query` (a parameter missing or unknown).

use super::{
    Api,
    error::{Answer, error, internal},
    parse,
};
use crate::stats::{Period, StatsQuery};
use axum::{
    Json,
    extract::{Query, State},
    http::StatusCode,
    response::IntoResponse,
};
use npchain_core::{OperatorId, types::UtcDay};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct StatsParams {
    from: String,
    to: String,
    period: Option<String>,
    operator: Option<String>,
}

pub(super) async fn stats(
    State(api): State<Api>,
    params: Result<Query<StatsParams>, axum::extract::rejection::QueryRejection>,
) -> Answer {
    let p = params.map_err(parse::bad_query)?.0;
    let day = |name: &str, raw: &str| {
        raw.parse::<UtcDay>().map_err(|e| error(StatusCode::BAD_REQUEST, "bad_date", format!("{name}: {e}")))
    };
    let (from, to) = (day("from", &p.from)?, day("to", &p.to)?);
    let period = match p.period.as_deref() {
        None => Period::Day,
        Some(raw) => {
            raw.parse::<Period>().map_err(|e| error(StatusCode::BAD_REQUEST, "bad_period", e.to_string()))?
        }
    };
    let operator = p
        .operator
        .as_deref()
        .map(|raw| {
            raw.parse::<OperatorId>()
                .map_err(|e| error(StatusCode::BAD_REQUEST, "bad_operator", e.to_string()))
        })
        .transpose()?;
    let query = StatsQuery::new(from, to, period, operator)
        .map_err(|e| error(StatusCode::BAD_REQUEST, "bad_range", e.to_string()))?;
    // The cells of up to ten years are read from the log: off the async workers.
    let answer = tokio::task::spawn_blocking(move || api.stats(&query)).await.map_err(internal)?;
    Ok(Json(answer.map_err(internal)?).into_response())
}
