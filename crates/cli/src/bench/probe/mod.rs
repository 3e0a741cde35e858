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

mod dns;
mod http;
mod p2p;

use dns::dns_ports;
use http::http_port;
use p2p::p2p_port;

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
    use super::{dns::dns_tcp_outcome, *};

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
