//! The dashboard's HTTP side over an in-memory chain: the built-in page and assets with their
//! headers (type, ETag and 304, HEAD, the security policy), the token check it logs in with,
//! the validators route and the NAPTR in the route answer. The page itself runs in a real browser
//! in `crates/cli/tests/dashboard.rs`.

use commonware_cryptography::Signer;
use npchain_api::json::FinalityProof;
use npchain_core::{Policy, Timestamp};
use npchain_node::{
    api::NodeApi,
    chain::mempool::Mempool,
    config::HttpLimits,
    service::{Identity, Service},
};
use npchain_testkit::{
    GenesisBuilder, key,
    raw_http::{assert_error, call},
};
use std::{
    io::{Read, Write},
    net::{SocketAddr, TcpStream},
    sync::Arc,
    time::Duration,
};

mod support;

const TOKEN: &str = "0123456789abcdef0123456789abcdef";

/// A node of OPA (one of four validators) serving HTTP over an in-memory chain.
fn start() -> SocketAddr {
    let genesis = GenesisBuilder::new("npchain-dashboard-test")
        .time(Timestamp(1_000))
        .policy(Policy::default())
        .operator("OPA", "+49D001")
        .operator("OPB", "+49D002")
        .operator("OPC", "+49D003")
        .operator("OPD", "+49D004")
        .range("+49301", "OPA")
        .build();
    let chain = support::chain(&genesis, Mempool::default());
    let identity = Identity {
        node_key: key("OPA/validator").public_key(),
        operator_key: Some(key("OPA")),
        peers: vec![],
        region: genesis.region,
    };
    let no_proofs = Box::new(|_| None::<FinalityProof>);
    let service = Service::new(chain, identity, Some(TOKEN.into()), Box::new(|_| {}), no_proofs);
    let api: Arc<dyn NodeApi> = Arc::new(service);
    support::serve(api, HttpLimits::default())
}

/// One request on its own connection: status, headers (lower-case names) and body bytes.
fn fetch(addr: SocketAddr, method: &str, path: &str, extra: &str) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(10)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(s, "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{extra}\r\n").unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("a head");
    let head = String::from_utf8(raw[..split].to_vec()).unwrap();
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap().split_whitespace().nth(1).unwrap().parse().unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    (status, headers, raw[split + 4..].to_vec())
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
}

#[test]
fn the_page_and_its_assets_are_built_in_with_etags_and_a_strict_policy() {
    let addr = start();
    let (status, headers, body) = fetch(addr, "GET", "/", "");
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "content-type"), Some("text/html; charset=utf-8"));
    let html = String::from_utf8(body.clone()).unwrap();
    assert!(html.contains("<script src=\"/assets/app.js\" defer></script>"), "{html}");
    let csp = header(&headers, "content-security-policy").unwrap();
    for part in ["default-src 'none'", "script-src 'self'", "frame-ancestors 'none'", "connect-src 'self'"] {
        assert!(csp.contains(part), "{csp}");
    }
    assert!(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"), "{csp}");
    assert_eq!(header(&headers, "x-content-type-options"), Some("nosniff"));
    assert_eq!(header(&headers, "referrer-policy"), Some("no-referrer"));
    assert_eq!(header(&headers, "cache-control"), Some("no-cache"));
    let etag = header(&headers, "etag").unwrap().to_owned();
    assert!(etag.starts_with('"') && etag.ends_with('"') && etag.len() == 34, "{etag}");
    assert_eq!(header(&headers, "content-length"), Some(body.len().to_string().as_str()));

    // revalidation: the same tag (also weak, also in a list) is 304 without a body
    for inm in [etag.clone(), format!("W/{etag}"), format!("\"other\", {etag}"), "*".into()] {
        let (status, headers, body) = fetch(addr, "GET", "/", &format!("If-None-Match: {inm}\r\n"));
        assert_eq!(status, 304, "{inm}");
        assert!(body.is_empty());
        assert_eq!(header(&headers, "etag"), Some(etag.as_str()));
        assert!(header(&headers, "content-security-policy").is_some());
    }
    let (status, _, again) = fetch(addr, "GET", "/", "If-None-Match: \"other\"\r\n");
    assert_eq!((status, again), (200, body.clone()));

    // HEAD: the same head, no body
    let (status, headers, empty) = fetch(addr, "HEAD", "/", "");
    assert_eq!(status, 200);
    assert!(empty.is_empty());
    assert_eq!(header(&headers, "etag"), Some(etag.as_str()));

    // the assets, each with its type and its own tag
    let mut tags = vec![etag];
    for (path, kind) in [
        ("/assets/app.js", "text/javascript; charset=utf-8"),
        ("/assets/app.css", "text/css; charset=utf-8"),
        ("/assets/icon.svg", "image/svg+xml"),
    ] {
        let (status, headers, body) = fetch(addr, "GET", path, "");
        assert_eq!(status, 200, "{path}");
        assert_eq!(header(&headers, "content-type"), Some(kind), "{path}");
        assert!(!body.is_empty());
        assert_eq!(header(&headers, "x-content-type-options"), Some("nosniff"));
        let tag = header(&headers, "etag").unwrap().to_owned();
        assert!(!tags.contains(&tag), "{path}: {tag}");
        tags.push(tag);
    }
    assert_error(call(addr, "GET", "/assets/nothing.js", &[], b""), 404, "not_found");
    assert_error(call(addr, "POST", "/", &[], b""), 405, "method_not_allowed");
}

#[test]
fn the_login_check_refuses_wrong_tokens_and_names_the_operator_and_reasons() {
    let addr = start();
    assert_error(call(addr, "GET", "/v1/operator", &[], b""), 401, "missing_token");
    assert_error(
        call(addr, "GET", "/v1/operator", &[("Authorization", "Bearer nope")], b""),
        403,
        "wrong_token",
    );
    let bearer = format!("Bearer {TOKEN}");
    let (status, whoami) = call(addr, "GET", "/v1/operator", &[("Authorization", &bearer)], b"");
    assert_eq!(status, 200, "{whoami}");
    assert_eq!(whoami["operator"], "OPA");
    let reasons: Vec<&str> =
        whoami["reject_reasons"].as_array().unwrap().iter().map(|r| r["code"].as_str().unwrap()).collect();
    let want: Vec<&str> = npchain_core::RejectReason::ALL.iter().map(|r| r.as_str()).collect();
    assert_eq!(reasons, want);
}

#[test]
fn validators_lists_the_set_and_the_route_answer_carries_the_zones_naptr() {
    let addr = start();
    let (status, list) = call(addr, "GET", "/v1/validators", &[], b"");
    assert_eq!(status, 200, "{list}");
    let validators = list["validators"].as_array().unwrap();
    let mut ops: Vec<&str> = validators.iter().map(|v| v["operator"].as_str().unwrap()).collect();
    ops.sort_unstable();
    assert_eq!(ops, ["OPA", "OPB", "OPC", "OPD"]);
    // no certificates to read here: nobody is seen signing, nobody is live
    for v in validators {
        assert_eq!((v["current"].as_bool(), v["pending"].as_bool()), (Some(true), Some(true)), "{v}");
        assert!(v["last_signed_height"].is_null() && v["live"] == false, "{v}");
    }
    let (status, route) = call(addr, "GET", "/v1/numbers/%2B4930100001", &[], b"");
    assert_eq!(status, 200, "{route}");
    let naptr = &route["naptr"];
    assert_eq!(naptr["regexp"], "!^.*$!tel:+4930100001;npdi!", "{route}");
    assert_eq!((naptr["order"].as_u64(), naptr["preference"].as_u64()), (Some(100), Some(10)));
    assert_eq!((naptr["flags"].as_str(), naptr["service"].as_str()), (Some("u"), Some("E2U+pstn:tel")));
    assert_eq!(naptr["replacement"], ".");
}
