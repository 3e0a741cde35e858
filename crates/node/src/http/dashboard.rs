//! The web dashboard at `/`: one HTML page, its style sheet, its script and an icon, built into
//! the binary (`dashboard/`) and served from memory. The page needs nothing outside the node:
//! no CDN, no fonts; the script reads the node's own API (status, validators, orders, numbers,
//! statistics, the event stream) and acts through the operator routes with the admin token the
//! operator types in (kept in the tab's `sessionStorage`, sent only as `Authorization: Bearer`).
//!
//! Every answer carries a strong `ETag` (SHA-256 of the bytes) and `Cache-Control: no-cache`, so a
//! browser revalidates and gets `304 Not Modified` for `If-None-Match` (RFC 9110 §13.1.2, §15.4.5);
//! `HEAD` is the same without the body. Every page answer has a strict
//! `Content-Security-Policy` (scripts, styles and connections from the node only; no inline
//! script; no framing), `X-Content-Type-Options: nosniff` and `Referrer-Policy: no-referrer`.

use axum::{
    extract::Path,
    http::{
        HeaderMap, HeaderName, HeaderValue, StatusCode,
        header::{CACHE_CONTROL, CONTENT_TYPE, ETAG, IF_NONE_MATCH, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS},
    },
    response::{IntoResponse, Response},
};
use commonware_cryptography::{Hasher as _, Sha256};
use std::sync::LazyLock;

/// The policy every dashboard answer carries: everything from the node itself, no inline script,
/// no plugins, no framing, no form posts anywhere.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self'; connect-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'";

/// One built-in file.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
    /// `"<first 32 hex digits of the SHA-256 of the body>"`.
    etag: HeaderValue,
}

fn asset(name: &'static str, content_type: &'static str, body: &'static [u8]) -> Asset {
    let digest = Sha256::hash(&[body]).to_string();
    let etag = HeaderValue::from_str(&format!("\"{}\"", &digest[..32])).expect("hex is a header value");
    Asset { name, content_type, body, etag }
}

static ASSETS: LazyLock<[Asset; 4]> = LazyLock::new(|| {
    [
        asset("index.html", "text/html; charset=utf-8", include_bytes!("dashboard/index.html")),
        asset("app.js", "text/javascript; charset=utf-8", include_bytes!("dashboard/app.js")),
        asset("app.css", "text/css; charset=utf-8", include_bytes!("dashboard/app.css")),
        asset("icon.svg", "image/svg+xml", include_bytes!("dashboard/icon.svg")),
    ]
});

/// `GET /`: the page.
pub(super) async fn page(headers: HeaderMap) -> Response {
    serve(&ASSETS[0], &headers)
}

/// `GET /assets/{name}`: the script, the style sheet and the icon.
pub(super) async fn file(Path(name): Path<String>, headers: HeaderMap) -> Response {
    match ASSETS.iter().skip(1).find(|a| a.name == name) {
        Some(asset) => serve(asset, &headers),
        None => super::error::error(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no dashboard asset {name:?}; there are app.js, app.css and icon.svg"),
        )
        .into_response(),
    }
}

/// Whether `If-None-Match` (a list of entity tags, or `*`) names `etag`, by the weak comparison
/// RFC 9110 §13.1.2 prescribes for it.
fn none_match(headers: &HeaderMap, etag: &HeaderValue) -> bool {
    let want = etag.as_bytes();
    headers.get_all(IF_NONE_MATCH).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).any(
        |tag| {
            let tag = tag.trim();
            tag == "*" || tag.strip_prefix("W/").unwrap_or(tag).as_bytes() == want
        },
    )
}

fn serve(asset: &Asset, headers: &HeaderMap) -> Response {
    let common = [
        (CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        (ETAG, asset.etag.clone()),
        (
            HeaderName::from_static("content-security-policy"),
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ),
        (X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
        (REFERRER_POLICY, HeaderValue::from_static("no-referrer")),
        (HeaderName::from_static("x-frame-options"), HeaderValue::from_static("DENY")),
    ];
    if none_match(headers, &asset.etag) {
        return (StatusCode::NOT_MODIFIED, common).into_response();
    }
    (common, [(CONTENT_TYPE, HeaderValue::from_static(asset.content_type))], asset.body).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_inm(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(IF_NONE_MATCH, HeaderValue::from_str(value).unwrap());
        h
    }

    #[test]
    fn if_none_match_compares_weakly_and_reads_lists() {
        let tag = HeaderValue::from_static("\"abc\"");
        assert!(none_match(&with_inm("\"abc\""), &tag));
        assert!(none_match(&with_inm("W/\"abc\""), &tag));
        assert!(none_match(&with_inm("\"x\", \"abc\""), &tag));
        assert!(none_match(&with_inm("*"), &tag));
        assert!(!none_match(&with_inm("\"abcd\""), &tag));
        assert!(!none_match(&with_inm("abc"), &tag));
        assert!(!none_match(&HeaderMap::new(), &tag));
    }

    #[test]
    fn the_page_loads_no_inline_script_and_nothing_from_elsewhere() {
        let html = std::str::from_utf8(ASSETS[0].body).unwrap();
        // every script has a src on this node; no inline handlers; no absolute URLs
        for (i, _) in html.match_indices("<script") {
            let tag = &html[i..i + html[i..].find('>').unwrap()];
            assert!(tag.contains("src=\"/assets/"), "{tag}");
        }
        assert!(!html.contains(" onclick=") && !html.contains(" onload=") && !html.contains("javascript:"));
        for asset in ASSETS.iter() {
            // the SVG namespace is a name, not a place anything is loaded from
            let text = String::from_utf8_lossy(asset.body).replace("http://www.w3.org/2000/svg", "");
            assert!(
                !text.contains("http://") && !text.contains("https://"),
                "{} names another host",
                asset.name
            );
        }
    }
}
