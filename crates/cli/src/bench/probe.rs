//! `npchain bench probe`: an outside party at every port of a devnet node — HTTP, DNS over UDP
//! and TCP, p2p — sending slowly, flooding and sending garbage. Per port: what was tried, what
//! came back (HTTP statuses, DNS rcodes and drops, connections closed, reset or still open at
//! the probe's deadline), node 0's memory and descriptors before and after; and at the end,
//! that the node still answers on every port and a signed transaction sent to it commits.
//!
//! Well-formed requests go through `ureq`; only the malformed traffic is written on raw sockets.
//! Every connection the probe opens has a deadline, so the probe ends.

use super::{
    BenchError, Env, Figures, figure,
    load::{demo_number, sign},
    net::LocalNet,
    soak::proc_usage,
};
use commonware_cryptography::Signer;
use npchain_api::enum_query::naptr_query;
use npchain_core::TxBody;
use rand::{RngExt, SeedableRng, rngs::StdRng};
use std::{
    collections::BTreeMap,
    io::{ErrorKind, Read, Write},
    net::{SocketAddr, TcpStream, UdpSocket},
    sync::Mutex,
    time::{Duration, Instant},
};

/// How hard the probe pushes and how long it waits for the node's own timeouts.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ProbeParams {
    /// Slow senders (one byte at a time) on each TCP port.
    pub slow: usize,
    /// Connections opened and left idle (HTTP).
    pub idle: usize,
    /// Connections opened at once on each TCP port beyond its cap.
    pub flood_extra: usize,
    /// Well-formed HTTP requests in the request flood (8 clients).
    pub requests: usize,
    /// Each garbage case is sent this many times.
    pub garbage_repeats: usize,
    /// Garbage datagrams, and the queries of the UDP flood.
    pub udp_garbage: usize,
    pub udp_flood: usize,
    /// How long a connection waits for the node's answer or close: past the node's own timeout
    /// for what it is doing (header 10 s, body 60 s, idle 30 s, DNS TCP idle 5 s, p2p handshake
    /// 5 s), so that what the node does at its timeout is seen.
    pub head_wait_s: u64,
    pub body_wait_s: u64,
    pub idle_wait_s: u64,
    pub short_wait_s: u64,
}

impl ProbeParams {
    pub fn new(smoke: bool) -> Self {
        if smoke {
            Self {
                slow: 8,
                idle: 8,
                flood_extra: 64,
                requests: 400,
                garbage_repeats: 1,
                udp_garbage: 300,
                udp_flood: 5_000,
                head_wait_s: 2,
                body_wait_s: 2,
                idle_wait_s: 2,
                short_wait_s: 2,
            }
        } else {
            Self {
                slow: 32,
                idle: 32,
                flood_extra: 128,
                requests: 20_000,
                garbage_repeats: 4,
                udp_garbage: 5_000,
                udp_flood: 100_000,
                head_wait_s: 15,
                body_wait_s: 70,
                idle_wait_s: 40,
                short_wait_s: 10,
            }
        }
    }
}

/// What happened to one connection or datagram, as counted in the report.
type Tally = BTreeMap<String, u64>;

fn count(t: &Mutex<Tally>, what: impl Into<String>) {
    *t.lock().expect("lock").entry(what.into()).or_default() += 1;
}

/// The first status line's code in what an HTTP server wrote, or what the bytes are.
fn http_outcome(reply: &[u8]) -> String {
    let text = String::from_utf8_lossy(&reply[..reply.len().min(64)]).into_owned();
    match text.strip_prefix("HTTP/1.1 ").or_else(|| text.strip_prefix("HTTP/1.0 ")) {
        Some(rest) => format!("HTTP {}", &rest[..rest.len().min(3)]),
        None => "non-HTTP bytes".to_owned(),
    }
}

/// A DNS message's rcode, by name.
fn rcode(msg: &[u8]) -> String {
    if msg.len() < 12 {
        return "runt answer".into();
    }
    match msg[3] & 0x0f {
        0 => "NOERROR".into(),
        1 => "FORMERR".into(),
        2 => "SERVFAIL".into(),
        3 => "NXDOMAIN".into(),
        4 => "NOTIMP".into(),
        5 => "REFUSED".into(),
        n => format!("rcode {n}"),
    }
}

/// How a conversation on a raw connection ended.
fn ended(e: &std::io::Error) -> &'static str {
    match e.kind() {
        ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted => "reset by the node",
        ErrorKind::BrokenPipe => "closed by the node while sending",
        _ => "other error",
    }
}

/// Sends `chunks` on a fresh connection to `addr`, waiting `gap` after each, then waits for
/// the node's first bytes or its close until `deadline`; `classify` names the bytes read.
fn converse(
    addr: SocketAddr,
    chunks: &[Vec<u8>],
    gap: Duration,
    deadline: Instant,
    classify: fn(&[u8]) -> String,
) -> String {
    let mut s = match TcpStream::connect_timeout(&addr, Duration::from_secs(5)) {
        Ok(s) => s,
        Err(e) => return format!("connect failed ({})", e.kind()),
    };
    let mut buf = vec![0u8; 4096];
    let mut got = Vec::new();
    let mut read_for = |s: &mut TcpStream, wait: Duration, got: &mut Vec<u8>| -> Option<String> {
        if s.set_read_timeout(Some(wait.max(Duration::from_millis(1)))).is_err() {
            return Some("other error".into());
        }
        match s.read(&mut buf) {
            Ok(0) if got.is_empty() => Some("closed without an answer".into()),
            Ok(0) => Some(classify(got)),
            Ok(n) => {
                got.extend_from_slice(&buf[..n]);
                Some(classify(got))
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => None,
            Err(e) => Some(ended(&e).into()),
        }
    };
    for chunk in chunks {
        if Instant::now() >= deadline {
            return "still open at the probe's deadline".into();
        }
        if let Err(e) = s.write_all(chunk) {
            return ended(&e).into();
        }
        if !gap.is_zero()
            && let Some(end) = read_for(&mut s, gap, &mut got)
        {
            return end;
        }
    }
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return "still open at the probe's deadline".into();
        }
        if let Some(end) = read_for(&mut s, left, &mut got) {
            return end;
        }
    }
}

/// `f` on `n` threads at once, its outcomes counted.
fn many(n: usize, f: &(dyn Fn() -> String + Sync)) -> Tally {
    let t = Mutex::new(Tally::new());
    std::thread::scope(|s| {
        for _ in 0..n {
            s.spawn(|| count(&t, f()));
        }
    });
    t.into_inner().expect("lock")
}

/// Each case `repeats` times, all at once on threads of their own; outcomes by case.
fn cases_at_once(cases: &[(String, Vec<u8>)], repeats: usize, f: &(dyn Fn(&[u8]) -> String + Sync)) -> Tally {
    let t = Mutex::new(Tally::new());
    std::thread::scope(|s| {
        for _ in 0..repeats {
            for (what, bytes) in cases {
                let t = &t;
                s.spawn(move || count(t, format!("{what}: {}", f(bytes))));
            }
        }
    });
    t.into_inner().expect("lock")
}

fn bytes_one_by_one(b: &[u8]) -> Vec<Vec<u8>> {
    b.iter().map(|x| vec![*x]).collect()
}

/// Opens `n` connections at once to `addr` (for at most 10 s), sends `first` on each, and waits
/// up to `wait` after the last is open for each to be answered or closed.
fn flood(addr: SocketAddr, n: usize, first: &[u8], wait: Duration, classify: fn(&[u8]) -> String) -> Tally {
    let mut tally = Tally::new();
    let mut open = Vec::new();
    let opening = Instant::now();
    for k in 0..n {
        if opening.elapsed() > Duration::from_secs(10) {
            tally.insert("not opened: 10 s of connecting were over".into(), (n - k) as u64);
            break;
        }
        match TcpStream::connect_timeout(&addr, Duration::from_secs(2)) {
            Ok(s) => {
                let sent = s.set_nonblocking(true).is_ok() && (&s).write_all(first).is_ok();
                if sent || first.is_empty() {
                    open.push((s, Vec::new()));
                } else {
                    *tally.entry("closed by the node while sending".into()).or_default() += 1;
                }
            }
            Err(e) => *tally.entry(format!("connect failed ({})", e.kind())).or_default() += 1,
        }
    }
    let deadline = Instant::now() + wait;
    let mut buf = [0u8; 4096];
    while !open.is_empty() && Instant::now() < deadline {
        let mut still = Vec::new();
        for (mut s, mut got) in open {
            match s.read(&mut buf) {
                Ok(0) if got.is_empty() => {
                    *tally.entry("closed without an answer".into()).or_default() += 1;
                }
                Ok(0) => *tally.entry(classify(&got)).or_default() += 1,
                Ok(k) => {
                    got.extend_from_slice(&buf[..k]);
                    *tally.entry(classify(&got)).or_default() += 1;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => still.push((s, got)),
                Err(e) => *tally.entry(ended(&e).into()).or_default() += 1,
            }
        }
        open = still;
        std::thread::sleep(Duration::from_millis(20));
    }
    if !open.is_empty() {
        *tally.entry("still open at the probe's deadline".into()).or_default() += open.len() as u64;
    }
    tally
}

/// One phase of a port's probe: its name, how many tries it makes, and the phase itself.
type Phase<'a> = (&'static str, u64, Box<dyn FnOnce() -> Tally + Send + 'a>);

/// Node 0's memory and descriptors, and what it took for one port.
struct PortReport {
    port: &'static str,
    phases: Vec<(String, u64, Tally)>,
    before: (u64, usize, usize),
    after: (u64, usize, usize),
    seconds: f64,
}

/// Node 0's resident memory (KiB), open descriptors, and of them the files of its stores.
fn usage(net: &LocalNet) -> Result<(u64, usize, usize), BenchError> {
    let pid = net.pid(0);
    let (rss, fds) = pid
        .and_then(proc_usage)
        .ok_or_else(|| BenchError::Setup("node 0 exited during the probe; see its node.log".into()))?;
    let data = net.layout.nodes[0].dir.join("data");
    let data = std::fs::canonicalize(&data).unwrap_or(data);
    Ok((rss, fds, pid.map_or(0, |pid| super::soak::fds_under(pid, &data))))
}

/// Runs `phases` (name, tries, the phase) at once against one port of node 0.
fn port(net: &LocalNet, name: &'static str, phases: Vec<Phase<'_>>) -> Result<PortReport, BenchError> {
    let before = usage(net)?;
    let t0 = Instant::now();
    let results: Vec<(String, u64, Tally)> = std::thread::scope(|s| {
        let handles: Vec<_> = phases.into_iter().map(|(n, tries, f)| (n, tries, s.spawn(f))).collect();
        handles
            .into_iter()
            .map(|(n, tries, h)| {
                (
                    n.to_owned(),
                    tries,
                    h.join().unwrap_or_else(|_| Tally::from([("probe thread panicked".into(), 1)])),
                )
            })
            .collect()
    });
    let after = usage(net)?;
    Ok(PortReport { port: name, phases: results, before, after, seconds: t0.elapsed().as_secs_f64() })
}

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
fn http_port(net: &LocalNet, p: &ProbeParams) -> Result<(PortReport, PortReport), BenchError> {
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

/// DNS garbage: random datagrams, truncated and doctored queries.
fn dns_garbage(n: usize, origin: &str) -> Vec<Vec<u8>> {
    let mut rng = StdRng::seed_from_u64(0xd15_9a5b);
    let query = naptr_query(&demo_number(0, 1), origin, 7);
    (0..n)
        .map(|k| match k % 6 {
            0 => {
                let len = rng.random_range(0..600usize);
                (0..len).map(|_| rng.random::<u8>()).collect()
            }
            1 => query[..rng.random_range(0..query.len())].to_vec(),
            2 => {
                let mut q = query.clone();
                q[2] |= 0x80; // a response
                q
            }
            3 => {
                let mut q = query.clone();
                q[5] = 2; // two questions
                q
            }
            4 => {
                // A compression pointer to itself as the question's name.
                let mut q = query[..12].to_vec();
                q.extend_from_slice(&[0xc0, 0x0c, 0x00, 0x23, 0x00, 0x01]);
                q
            }
            _ => {
                let mut q = query.clone();
                let i = rng.random_range(12..q.len());
                q[i] = rng.random::<u8>();
                q
            }
        })
        .collect()
}

/// Sends `datagrams` to `server` from one socket, `gap` apart, and counts the answers that
/// come back within a second after the last.
fn udp_exchange(server: SocketAddr, datagrams: &[Vec<u8>], gap: Duration) -> Tally {
    let mut t = Tally::new();
    let Ok(socket) = UdpSocket::bind("127.0.0.1:0") else {
        t.insert("bind failed".into(), 1);
        return t;
    };
    let _ = socket.set_read_timeout(Some(Duration::from_millis(50)));
    let done = std::sync::atomic::AtomicBool::new(false);
    let answers = std::thread::scope(|s| {
        let rx = s.spawn(|| {
            let mut got = Tally::new();
            let mut buf = [0u8; 4096];
            let mut quiet_since = Instant::now();
            let mut done_at: Option<Instant> = None;
            loop {
                if done_at.is_none() && done.load(std::sync::atomic::Ordering::Relaxed) {
                    done_at = Some(Instant::now());
                }
                if done_at.is_some_and(|d| d.max(quiet_since).elapsed() > Duration::from_secs(1)) {
                    break;
                }
                if let Ok(n) = socket.recv(&mut buf) {
                    *got.entry(rcode(&buf[..n])).or_default() += 1;
                    quiet_since = Instant::now();
                }
            }
            got
        });
        let mut sent = 0u64;
        for (k, d) in datagrams.iter().enumerate() {
            if socket.send_to(d, server).is_ok() {
                sent += 1;
            }
            if !gap.is_zero() || k % 64 == 63 {
                std::thread::sleep(gap.max(Duration::from_micros(200)));
            }
        }
        t.insert("sent".into(), sent);
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        rx.join().unwrap_or_default()
    });
    let answered: u64 = answers.values().sum();
    t.insert("no answer (dropped)".into(), t["sent"].saturating_sub(answered));
    t.extend(answers.into_iter().map(|(k, v)| (format!("answered {k}"), v)));
    t
}

fn tcp_dns(msg: &[u8]) -> Vec<u8> {
    let mut framed = (msg.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(msg);
    framed
}

fn dns_tcp_outcome(reply: &[u8]) -> String {
    if reply.len() < 2 {
        return "a partial length".into();
    }
    format!("answered {}", rcode(&reply[2..]))
}

fn dns_ports(net: &LocalNet, p: &ProbeParams) -> Result<(PortReport, PortReport), BenchError> {
    let dns = net.layout.nodes[0]
        .config
        .dns
        .as_ref()
        .ok_or_else(|| BenchError::Setup("node 0 has no DNS".into()))?;
    let (addr, origin, cap) = (dns.listen, dns.zone.origin.clone(), dns.tcp.max_connections);
    let garbage = dns_garbage(p.udp_garbage, &origin);
    let queries: Vec<Vec<u8>> = (0..p.udp_flood)
        .map(|k| naptr_query(&demo_number(k % 4, k as u64 % 5_000), &origin, k as u16))
        .collect();
    let udp = port(
        net,
        "DNS UDP",
        vec![
            (
                "garbage datagrams",
                garbage.len() as u64,
                Box::new(|| udp_exchange(addr, &garbage, Duration::from_micros(300))),
            ),
            (
                "query flood (4 sockets, no pacing)",
                queries.len() as u64,
                Box::new(|| {
                    let t = Mutex::new(Tally::new());
                    std::thread::scope(|s| {
                        for part in queries.chunks(queries.len().div_ceil(4)) {
                            let t = &t;
                            s.spawn(move || {
                                for (k, v) in udp_exchange(addr, part, Duration::ZERO) {
                                    *t.lock().expect("lock").entry(k).or_default() += v;
                                }
                            });
                        }
                    });
                    t.into_inner().expect("lock")
                }),
            ),
        ],
    )?;
    let query = naptr_query(&demo_number(0, 1), &origin, 9);
    let wait = Duration::from_secs(p.short_wait_s);
    let mut rng = StdRng::seed_from_u64(0x7c9);
    let random: Vec<u8> = (0..512).map(|_| rng.random::<u8>()).collect();
    let cases: Vec<(&'static str, Vec<u8>)> = vec![
        ("length 0", vec![0, 0]),
        ("length 65535, 10 bytes sent", [&[0xff, 0xff][..], &[0u8; 10]].concat()),
        ("length 5, 5 random bytes", [&[0, 5][..], &random[..5]].concat()),
        ("length 12, a header of zeros", [&[0, 12][..], &[0u8; 12]].concat()),
        (
            "length longer than the query",
            [&((query.len() + 20) as u16).to_be_bytes()[..], &query[..]].concat(),
        ),
        ("one byte of a length", vec![0]),
        ("512 random bytes", random.clone()),
        ("a query, then garbage", [tcp_dns(&query), random[..40].to_vec()].concat()),
    ];
    let tries = (cases.len() * p.garbage_repeats) as u64;
    let tcp = port(
        net,
        "DNS TCP",
        vec![
            (
                "slow: a query byte by byte, 300 ms apart",
                p.slow as u64,
                Box::new(|| {
                    let chunks = bytes_one_by_one(&tcp_dns(&query));
                    many(p.slow, &|| {
                        converse(
                            addr,
                            &chunks,
                            Duration::from_millis(300),
                            Instant::now() + wait,
                            dns_tcp_outcome,
                        )
                    })
                }),
            ),
            (
                "garbage lengths and bodies",
                tries,
                Box::new(|| {
                    let cases: Vec<(String, Vec<u8>)> =
                        cases.iter().map(|(w, b)| ((*w).to_owned(), b.clone())).collect();
                    cases_at_once(&cases, p.garbage_repeats, &|bytes| {
                        converse(
                            addr,
                            &[bytes.to_vec()],
                            Duration::ZERO,
                            Instant::now() + wait,
                            dns_tcp_outcome,
                        )
                    })
                }),
            ),
            (
                "connection flood (a query on each)",
                (cap + p.flood_extra) as u64,
                Box::new(|| flood(addr, cap + p.flood_extra, &tcp_dns(&query), wait, dns_tcp_outcome)),
            ),
        ],
    )?;
    Ok((udp, tcp))
}

fn p2p_outcome(reply: &[u8]) -> String {
    format!("the node wrote {} bytes", reply.len())
}

fn p2p_port(net: &LocalNet, p: &ProbeParams) -> Result<PortReport, BenchError> {
    let addr = net.layout.nodes[0].config.p2p_listen;
    let wait = Duration::from_secs(p.short_wait_s);
    let mut rng = StdRng::seed_from_u64(0x929);
    let random: Vec<u8> = (0..1024).map(|_| rng.random::<u8>()).collect();
    let garbage: Vec<(String, Vec<u8>)> = vec![
        ("1 KiB of random bytes".into(), random.clone()),
        ("64 bytes of 0xff".into(), vec![0xff; 64]),
        ("a 4-byte frame".into(), [&[0, 0, 0, 4][..], b"ping"].concat()),
        ("a frame of 2^31 bytes announced".into(), [&[0x7f, 0xff, 0xff, 0xff][..], &random[..16]].concat()),
        ("an HTTP request".into(), b"GET / HTTP/1.1\r\n\r\n".to_vec()),
        ("one zero byte".into(), vec![0]),
    ];
    let n_garbage = garbage.len() * p.garbage_repeats * 4;
    port(
        net,
        "p2p",
        vec![
            (
                "garbage first bytes",
                n_garbage as u64,
                Box::new(|| {
                    cases_at_once(&garbage, p.garbage_repeats * 4, &|bytes| {
                        converse(addr, &[bytes.to_vec()], Duration::ZERO, Instant::now() + wait, p2p_outcome)
                    })
                }),
            ),
            (
                "slow handshake: a byte every 500 ms",
                p.slow as u64,
                Box::new(|| {
                    let chunks = bytes_one_by_one(&random[..64]);
                    many(p.slow, &|| {
                        converse(
                            addr,
                            &chunks,
                            Duration::from_millis(500),
                            Instant::now() + wait,
                            p2p_outcome,
                        )
                    })
                }),
            ),
            (
                "connection flood (nothing sent)",
                (256 + p.flood_extra) as u64,
                Box::new(|| flood(addr, 256 + p.flood_extra, &[], wait, p2p_outcome)),
            ),
        ],
    )
}

/// After the probe: node 0 answers HTTP and ENUM, and a transaction sent to it commits on every
/// node within `within`. The seconds it took.
fn still_serving(net: &LocalNet, within: Duration) -> Result<(f64, u64, u64), BenchError> {
    let t0 = Instant::now();
    let before = net.status(0)?.height;
    net.enum_probe(0)?.ask(&demo_number(0, 1))?;
    let key = &net.keys.operators[0];
    let expires = net.status(0)?.block_time_ms + 10 * 60_000;
    let number = demo_number(0, 900_000);
    let tx =
        sign(key, &net.keys.chain, 77, expires, TxBody::Bind { number, subscriber: Some(key.public_key()) });
    let id = net.client(0).submit(&tx, true)?;
    let height = net.client(0).wait_applied(&id, within)?;
    // Every node has it.
    for i in 1..net.validators() {
        let client = net.client(i);
        while client.status().map(|s| s.height).unwrap_or(0) < height {
            if t0.elapsed() > within {
                return Err(BenchError::Setup(format!(
                    "node {i} did not reach height {height} after the probe"
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    Ok((t0.elapsed().as_secs_f64(), before, height))
}

/// The probe: every port of node 0 in turn, then the checks that it still serves.
// The per-port report is what the command prints.
#[allow(clippy::print_stdout)]
pub fn probe(env: &Env, p: &ProbeParams, out: &std::path::Path) -> Result<Figures, BenchError> {
    let net = LocalNet::start(&env.data.join("probe"), env, None, Duration::from_secs(120))?;
    let h0 = net.status(0)?.height;
    let t0 = Instant::now();
    let (http, http_floods) = http_port(&net, p)?;
    let (udp, tcp) = dns_ports(&net, p)?;
    let p2p = p2p_port(&net, p)?;
    let probe_s = t0.elapsed().as_secs_f64();
    let h1 = net.status(0)?.height;
    let (check_s, before, committed_at) = still_serving(&net, Duration::from_secs(60))?;
    let mut f = Figures::new();
    for r in [&http, &http_floods, &udp, &tcp, &p2p] {
        println!("   -- {} ({:.0} s)", r.port, r.seconds);
        let tries: u64 = r.phases.iter().map(|x| x.1).sum();
        figure(&mut f, format!("{}: tried (requests, connections, datagrams)", r.port), tries as f64, "");
        for (phase, n, tally) in &r.phases {
            println!("      {phase}: {n} tried");
            for (what, k) in tally {
                println!("         {k:>7}  {what}");
            }
        }
        figure(&mut f, format!("{}: node 0 RSS before", r.port), r.before.0 as f64 / 1024.0, "MiB");
        figure(&mut f, format!("{}: node 0 RSS after", r.port), r.after.0 as f64 / 1024.0, "MiB");
        figure(&mut f, format!("{}: node 0 fds before", r.port), r.before.1 as f64, "fds");
        figure(&mut f, format!("{}: node 0 fds after", r.port), r.after.1 as f64, "fds");
        figure(&mut f, format!("{}: of them store files, before", r.port), r.before.2 as f64, "fds");
        figure(&mut f, format!("{}: of them store files, after", r.port), r.after.2 as f64, "fds");
    }
    figure(&mut f, "probe duration", probe_s, "s");
    figure(&mut f, "node 0 blocks committed during the probe", h1.saturating_sub(h0) as f64, "blocks");
    figure(&mut f, "after: a signed transaction committed on every node, in", check_s, "s");
    figure(&mut f, "after: committed at height", committed_at as f64, "");
    figure(&mut f, "after: height when submitted", before as f64, "");
    if let Some(peak) = net.memory_kib(0) {
        figure(&mut f, "node 0 peak RSS (VmHWM)", peak.1 as f64 / 1024.0, "MiB");
    }
    let ports: Vec<serde_json::Value> = [&http, &http_floods, &udp, &tcp, &p2p]
        .iter()
        .map(|r| {
            let phases: Vec<serde_json::Value> = r
                .phases
                .iter()
                .map(|(n, tries, t)| serde_json::json!({ "phase": n, "tried": tries, "outcomes": t }))
                .collect();
            serde_json::json!({
                "port": r.port,
                "seconds": r.seconds,
                "rss_kib_before": r.before.0, "rss_kib_after": r.after.0,
                "fds_before": r.before.1, "fds_after": r.after.1,
                "store_fds_before": r.before.2, "store_fds_after": r.after.2,
                "phases": phases,
            })
        })
        .collect();
    let report = serde_json::json!({ "ports": ports });
    let path = out.join("probe-outcomes.json");
    std::fs::create_dir_all(out).map_err(|e| BenchError::io(out, e))?;
    std::fs::write(&path, serde_json::to_string_pretty(&report).unwrap_or_default())
        .map_err(|e| BenchError::io(&path, e))?;
    println!("   outcomes written to {}", path.display());
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_are_named_by_status_and_rcode() {
        assert_eq!(http_outcome(b"HTTP/1.1 408 Request Timeout\r\n"), "HTTP 408");
        assert_eq!(http_outcome(b"SSH-2.0"), "non-HTTP bytes");
        let mut msg = [0u8; 12];
        msg[3] = 0x81;
        assert_eq!(rcode(&msg), "FORMERR");
        assert_eq!(rcode(&msg[..5]), "runt answer");
        assert_eq!(dns_tcp_outcome(&[0, 12, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0]), "answered REFUSED");
    }
}
