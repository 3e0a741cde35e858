//! One webhook POST: the body (the events, each with its id), the headers (the ids again, the
//! bearer token, the HMAC signature), one request with a timeout, and at most
//! [`MAX_ANSWER_BYTES`] of a refusal's answer read, for the log.

use super::Item;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::json;
use sha2::Sha256;
use std::{io::Read, time::Duration};

/// What is read of an answer that is not 2xx (the rest is left unread).
pub const MAX_ANSWER_BYTES: u64 = 1024;

/// Why an attempt failed.
#[derive(Debug, thiserror::Error)]
pub enum PostError {
    /// No answer: connection refused, timed out, closed.
    #[error("{url}: {source}")]
    Transport {
        url: String,
        #[source]
        source: Box<ureq::Error>,
    },
    /// An answer other than 2xx; the start of its body.
    #[error("{url} answered {status}: {body:?}")]
    Status { url: String, status: u16, body: String },
}

/// The webhook's endpoint and credentials.
pub struct Target {
    pub url: String,
    pub bearer: Option<String>,
    pub secret: Option<Vec<u8>>,
    agent: ureq::Agent,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target").field("url", &self.url).finish_non_exhaustive()
    }
}

/// The signature header's value: `sha256=<hex HMAC-SHA256(secret, timestamp "." body)>`.
pub fn signature(secret: &[u8], timestamp_ms: u64, body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret).expect("HMAC takes a key of any length");
    mac.update(timestamp_ms.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", commonware_formatting::hex(&mac.finalize().into_bytes()))
}

/// The body of a POST: `{"operator": <this node's operator or null>, "events": [{"id", ...}]}`,
/// each event the event stream's JSON with its id.
pub fn body(operator: Option<&str>, items: &[Item]) -> Vec<u8> {
    let events: Vec<serde_json::Value> = items
        .iter()
        .map(|i| {
            let mut v = serde_json::to_value(&i.envelope).unwrap_or_default();
            v["id"] = json!(i.id());
            v
        })
        .collect();
    serde_json::to_vec(&json!({ "operator": operator, "events": events })).expect("JSON serialises")
}

impl Target {
    pub fn new(url: String, bearer: Option<String>, secret: Option<Vec<u8>>, timeout: Duration) -> Self {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_global(Some(timeout))
            .build()
            .into();
        Self { url, bearer, secret, agent }
    }

    /// POSTs `items`: `Ok` on a 2xx answer (its body is not read).
    pub fn post(&self, operator: Option<&str>, items: &[Item], now_ms: u64) -> Result<(), PostError> {
        let body = body(operator, items);
        let ids: Vec<String> = items.iter().map(Item::id).collect();
        let mut request = self
            .agent
            .post(&self.url)
            .header("Content-Type", "application/json")
            .header("X-Npchain-Event-Ids", ids.join(","));
        if let Some(token) = &self.bearer {
            request = request.header("Authorization", format!("Bearer {token}"));
        }
        if let Some(secret) = &self.secret {
            request = request
                .header("X-Npchain-Timestamp", now_ms.to_string())
                .header("X-Npchain-Signature", signature(secret, now_ms, &body));
        }
        let mut response = request
            .send(&body[..])
            .map_err(|e| PostError::Transport { url: self.url.clone(), source: Box::new(e) })?;
        let status = response.status().as_u16();
        if (200..300).contains(&status) {
            return Ok(());
        }
        let mut start = Vec::new();
        let _ = response.body_mut().as_reader().take(MAX_ANSWER_BYTES).read_to_end(&mut start);
        Err(PostError::Status {
            url: self.url.clone(),
            status,
            body: String::from_utf8_lossy(&start).into_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_rfc_4231s_hmac_over_timestamp_dot_body() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?"
        let s = signature(b"Jefe", 0, b"what do ya want for nothing?");
        // the data signed is "0." + body, so recompute the RFC's case through the same function
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(b"Jefe").unwrap();
        mac.update(b"what do ya want for nothing?");
        assert_eq!(
            commonware_formatting::hex(&mac.finalize().into_bytes()),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(b"Jefe").unwrap();
        mac.update(b"0.what do ya want for nothing?");
        assert_eq!(s, format!("sha256={}", commonware_formatting::hex(&mac.finalize().into_bytes())));
        assert_ne!(s, signature(b"Jefe", 1, b"what do ya want for nothing?"));
    }
}
