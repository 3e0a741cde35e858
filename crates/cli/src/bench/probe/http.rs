//! The probe at the HTTP port: slow clients, garbage, bad requests and floods.

use super::*;

/// Raw HTTP cases that are not HTTP, or not HTTP the node takes.
fn http_garbage(host: &str) -> Vec<(&'static str, Vec<u8>)> {
    let mut rng = StdRng::seed_from_u64(0x0009_b0be);
    let random: Vec<u8> = (0..2048).map(|_| rng.random::<u8>()).collect();
    let big_header =
        format!("GET /v1/status HTTP/1.1\r\nHost: {host}\r\nX-Pad: {}\r\n\r\n", "a".repeat(40 * 1024));
    let many_headers = format!(
        "GET /v1/status HTTP/1.1\r\nHost: {host}\r\n{}\r\n",
        (0..500).map(|k| format!("X-H{k}: v\r\n")).collect::<String>()
    );
    let long_uri = format!("GET /v1/numbers/{} HTTP/1.1\r\nHost: {host}\r\n\r\n", "1".repeat(9 * 1024));
    vec![
        ("random bytes", random),
        ("TLS client hello", b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03".repeat(20)),
        ("not a request line", b"HELLO NODE\r\n\r\n".to_vec()),
        ("bare LF lines", format!("GET /v1/status HTTP/1.1\nHost: {host}\n\n").into_bytes()),
        ("NUL in a header", format!("GET /v1/status HTTP/1.1\r\nHost: {host}\r\nX-A: a\0b\r\n\r\n").into_bytes()),
        ("40 KiB header", big_header.into_bytes()),
        ("500 headers", many_headers.into_bytes()),
        ("9 KiB target", long_uri.into_bytes()),
        ("no Host", b"GET /v1/status HTTP/1.1\r\n\r\n".to_vec()),
        ("two Hosts", format!("GET /v1/status HTTP/1.1\r\nHost: {host}\r\nHost: b\r\n\r\n").into_bytes()),
        ("HTTP/2 preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec()),
        ("HTTP/3.0", format!("GET /v1/status HTTP/3.0\r\nHost: {host}\r\n\r\n").into_bytes()),
        (
            "Content-Length not a number",
            format!("POST /v1/tx HTTP/1.1\r\nHost: {host}\r\nContent-Length: abc\r\n\r\n").into_bytes(),
        ),
        (
            "Content-Length 10^12",
            format!("POST /v1/txs HTTP/1.1\r\nHost: {host}\r\nContent-Length: 1000000000000\r\n\r\n").into_bytes(),
        ),
        (
            "two Content-Lengths",
            format!("POST /v1/tx HTTP/1.1\r\nHost: {host}\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd")
                .into_bytes(),
        ),
        (
            "bad chunk size",
            format!("POST /v1/tx HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n")
                .into_bytes(),
        ),
        (
            "chunk of 2^64",
            format!(
                "POST /v1/txs HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFF\r\nabc"
            )
            .into_bytes(),
        ),
    ]
}

/// Well-formed requests with bad contents: (method, path, content type, body).
fn http_bad_requests() -> Vec<(&'static str, String, &'static str, Vec<u8>)> {
    let json = "application/json";
    let raw = "application/octet-stream";
    vec![
        ("POST", "/v1/tx".into(), json, b"{not json".to_vec()),
        ("POST", "/v1/tx".into(), json, br#"{"tx": "zz"}"#.to_vec()),
        ("POST", "/v1/tx".into(), json, br#"{"tx": "00", "extra": 1}"#.to_vec()),
        ("POST", "/v1/tx".into(), raw, vec![0xff; 300]),
        ("POST", "/v1/tx".into(), raw, vec![0u8; 301 * 1024]),
        ("POST", "/v1/txs".into(), json, b"[".to_vec()),
        ("POST", "/v1/txs".into(), json, br#"{"txs": [1, 2, 3]}"#.to_vec()),
        ("POST", "/v1/txs".into(), json, format!("[{}]", vec!["\"00\""; 20_000].join(",")).into_bytes()),
        ("POST", "/v1/tx?precheck=maybe".into(), raw, vec![1, 2, 3]),
        ("POST", "/v1/operator/ports".into(), json, b"{}".to_vec()),
        ("GET", "/v1/numbers/not-a-number".into(), "", Vec::new()),
        ("GET", "/v1/numbers/+4915099999999999999999999".into(), "", Vec::new()),
        ("GET", "/v1/numbers/%FF%FE".into(), "", Vec::new()),
        ("GET", "/v1/blocks/abc".into(), "", Vec::new()),
        ("GET", "/v1/blocks/-1".into(), "", Vec::new()),
        ("GET", "/v1/blocks/18446744073709551616".into(), "", Vec::new()),
        ("GET", "/v1/blocks/18446744073709551615".into(), "", Vec::new()),
        ("GET", "/v1/blocks/99999999/finalization".into(), "", Vec::new()),
        ("GET", "/v1/events?from_height=-5".into(), "", Vec::new()),
        ("GET", "/v1/events?number=abc".into(), "", Vec::new()),
        ("GET", "/v1/ports?limit=1e99".into(), "", Vec::new()),
        ("GET", "/v1/ports?state=nonsense".into(), "", Vec::new()),
        ("GET", "/v1/tx/zz".into(), "", Vec::new()),
        ("GET", "/v1/keys/zz/numbers".into(), "", Vec::new()),
        ("DELETE", "/v1/status".into(), "", Vec::new()),
        ("GET", "/nothing/here".into(), "", Vec::new()),
    ]
}

fn agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder().http_status_as_error(false).timeout_global(Some(timeout)).build().into()
}

fn ureq_outcome(r: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> String {
    match r {
        Ok(mut resp) => {
            // Read the answer out, so the connection is used again.
            let _ = resp.body_mut().read_to_vec();
            format!("HTTP {}", resp.status().as_u16())
        }
        Err(ureq::Error::Timeout(_)) => "timed out (probe)".into(),
        Err(ureq::Error::Io(e)) => format!("I/O error ({})", e.kind()),
        Err(e) => format!("client error ({e})"),
    }
}

/// The HTTP port in two stages: slow clients and garbage (together under the connection cap, so
/// each gets the node's own answer), then the floods past the cap.
pub(super) fn http_port(net: &LocalNet, p: &ProbeParams) -> Result<(PortReport, PortReport), BenchError> {
    let config = &net.layout.nodes[0].config;
    let addr = config.http_listen;
    let base = net.http(0);
    let host = addr.to_string();
    let cap = config.http.max_connections;
    let now = Instant::now();
    let (head_deadline, body_deadline, idle_deadline) = (
        now + Duration::from_secs(p.head_wait_s),
        now + Duration::from_secs(p.body_wait_s),
        now + Duration::from_secs(p.idle_wait_s),
    );
    let head = format!("GET /v1/status HTTP/1.1\r\nHost: {host}\r\n\r\n");
    let (head2, host2, base2, base3) = (head.clone(), host.clone(), base.clone(), base.clone());
    let phases: Vec<Phase<'_>> = vec![
        (
            "slowloris: a head byte by byte, 500 ms apart",
            p.slow as u64,
            Box::new(move || {
                let chunks = bytes_one_by_one(head2.as_bytes());
                many(
                    p.slow,
                    &(move || {
                        converse(addr, &chunks, Duration::from_millis(500), head_deadline, http_outcome)
                    }),
                )
            }),
        ),
        (
            "a body that never finishes (10 of 1000 bytes)",
            p.slow as u64,
            Box::new(move || {
                let req = format!(
                    "POST /v1/tx HTTP/1.1\r\nHost: {host2}\r\nContent-Length: 1000\r\n\r\n0123456789"
                );
                many(
                    p.slow,
                    &(move || {
                        converse(
                            addr,
                            &[req.clone().into_bytes()],
                            Duration::ZERO,
                            body_deadline,
                            http_outcome,
                        )
                    }),
                )
            }),
        ),
        (
            "connections opened and left idle",
            p.idle as u64,
            Box::new(move || {
                many(p.idle, &(move || converse(addr, &[], Duration::ZERO, idle_deadline, http_outcome)))
            }),
        ),
        (
            "connection flood (a request on each)",
            (cap + p.flood_extra) as u64,
            Box::new(move || {
                flood(
                    addr,
                    cap + p.flood_extra,
                    head.as_bytes(),
                    Duration::from_secs(p.head_wait_s),
                    http_outcome,
                )
            }),
        ),
        (
            "request flood (8 clients, keep-alive)",
            p.requests as u64,
            Box::new(move || {
                let t = Mutex::new(Tally::new());
                std::thread::scope(|s| {
                    for c in 0..8 {
                        let (t, base) = (&t, &base2);
                        s.spawn(move || {
                            let agent = agent(Duration::from_secs(10));
                            for k in 0..p.requests / 8 {
                                let path = match k % 4 {
                                    0 => "/v1/status".to_owned(),
                                    1 => format!(
                                        "/v1/numbers/{}",
                                        npchain_client::encode(&demo_number(c % 4, k as u64).to_string())
                                    ),
                                    2 => "/v1/blocks/1".to_owned(),
                                    _ => "/v1/no-such-route".to_owned(),
                                };
                                count(t, ureq_outcome(agent.get(&format!("{base}{path}")).call()));
                            }
                        });
                    }
                });
                t.into_inner().expect("lock")
            }),
        ),
        (
            "malformed HTTP (raw bytes)",
            (http_garbage(&host).len() * p.garbage_repeats) as u64,
            Box::new(move || {
                let cases: Vec<(String, Vec<u8>)> =
                    http_garbage(&host).into_iter().map(|(w, b)| (w.to_owned(), b)).collect();
                cases_at_once(&cases, p.garbage_repeats, &|bytes| {
                    let deadline = Instant::now() + Duration::from_secs(p.short_wait_s);
                    converse(addr, &[bytes.to_vec()], Duration::ZERO, deadline, http_outcome)
                })
            }),
        ),
        (
            "bad JSON, bad numbers, oversized bodies",
            (http_bad_requests().len() * p.garbage_repeats) as u64,
            Box::new(move || {
                let agent = agent(Duration::from_secs(10));
                let mut t = Tally::new();
                for _ in 0..p.garbage_repeats {
                    for (method, path, ctype, body) in http_bad_requests() {
                        let url = format!("{base3}{path}");
                        let r = match method {
                            "POST" => agent.post(&url).header("Content-Type", ctype).send(&body[..]),
                            "DELETE" => agent.delete(&url).call(),
                            _ => agent.get(&url).call(),
                        };
                        *t.entry(format!("{method} {}: {}", short(&path), ureq_outcome(r))).or_default() += 1;
                    }
                }
                t
            }),
        ),
    ];
    let (floods, rest): (Vec<_>, Vec<_>) = phases.into_iter().partition(|ph| ph.0.contains("flood"));
    let slow = port(net, "HTTP, slow clients and garbage", rest)?;
    Ok((slow, port(net, "HTTP, floods", floods)?))
}

fn short(path: &str) -> String {
    if path.len() > 48 { format!("{}…", &path[..48]) } else { path.to_owned() }
}
