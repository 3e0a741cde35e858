//! The HTTP port's limits against real node processes (issue 12: anyone who can reach a node's
//! ports could take a validator out). Node 0 of a devnet runs under a hard open-file limit of
//! 1,024 with small HTTP caps and short timeouts; the test floods its HTTP port with idle
//! connections, slow clients, event streams and large uploads, and checks that the extra ones
//! are refused with the API's JSON error, that slow clients are cut off, that consensus keeps
//! committing, and that the node's file descriptors and memory stay under their bounds.
//!
//! This file is its own test binary: it lowers the open-file limit of its whole process (and so
//! of the nodes it starts), which no other test should share.

mod support;

use npchain_node::{config::HttpLimits, http::REFUSING};
use npchain_testkit::raw_http::{closed_silently, connect, read_reply};
use std::{
    io::{Read, Write},
    net::TcpStream,
    sync::Once,
    time::Duration,
};
use support::{Net, wait_until};

const LONG: Duration = Duration::from_secs(90);
const HARD_LIMIT: u64 = 1024;
const SOFT_LIMIT: u64 = 256;

/// Runs this process (and every node it starts) under a soft open-file limit of 256 and a hard
/// one of 1,024, as `ulimit -n` on a small host would; a node raises its soft limit itself.
fn low_open_file_limit() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
        let now = getrlimit(Resource::Nofile);
        assert!(
            now.maximum.is_none_or(|m| m >= HARD_LIMIT),
            "the test needs a hard limit of at least {HARD_LIMIT}"
        );
        setrlimit(Resource::Nofile, Rlimit { current: Some(SOFT_LIMIT), maximum: Some(HARD_LIMIT) }).unwrap();
    });
}

/// Limits small enough for the test to reach, and timeouts short enough to wait for yet long
/// enough that a loaded machine does the test's steps within them (a connection stays idle while
/// the next ones are refused; a 20 MB body arrives in time).
fn tight() -> HttpLimits {
    HttpLimits {
        max_connections: 32,
        max_event_streams: 8,
        max_event_streams_per_client: 2,
        body_bytes_in_flight: 32 << 20,
        header_timeout: Duration::from_secs(2),
        body_timeout: Duration::from_secs(10),
        idle_timeout: Duration::from_secs(10),
        request_timeout: Duration::from_secs(15),
    }
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map(|d| d.count()).unwrap_or(0)
}

/// A `/proc/<pid>/status` field in kB (`VmRSS`, `VmHWM`).
fn status_kb(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with(field)).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn a_flood_on_the_http_port_does_not_take_a_validator_out() {
    low_open_file_limit();
    let mut net = Net::new(4);
    let node0 = &mut net.layout.nodes[0];
    node0.config.http = tight();
    std::fs::write(&node0.config_path, node0.config.to_toml()).unwrap();
    net.start_all();
    wait_until(LONG, "nodes 0 and 1 to commit", || {
        net.height(0).is_some_and(|h| h >= 2) && net.height(1).is_some_and(|h| h >= 2)
    });
    let pid = net.children[0].as_ref().unwrap().id();
    let addr = net.url(0);
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let open_files = limits.lines().find(|l| l.starts_with("Max open files")).unwrap();
    let raised: Vec<&str> = open_files.split_whitespace().skip(3).take(2).collect();
    assert_eq!(raised, ["1024", "1024"], "the node raised its soft limit to the hard one: {open_files}");

    let baseline = open_fds(pid);
    let h0 = net.height(0).unwrap();
    let h1 = net.height(1).unwrap();
    // Consensus and storage may open a few files meanwhile (a journal section, a reconnecting peer).
    let slack = 16;
    let bound = baseline + tight().max_connections + REFUSING + slack;

    // The cap's worth of idle connections is held ...
    let mut held: Vec<TcpStream> = (0..tight().max_connections).map(|_| connect(addr)).collect();
    // ... and as many again, and more, are refused with the JSON error: the first REFUSING of
    // them at once, the rest as refusals finish (they wait in the kernel's backlog meanwhile).
    let mut extra: Vec<TcpStream> = (0..REFUSING + 16).map(|_| connect(addr)).collect();
    let mut peak = open_fds(pid);
    for s in &mut extra {
        peak = peak.max(open_fds(pid));
        let r = read_reply(s);
        r.assert_error(503, "too_many_connections");
        assert_eq!((r.header("connection"), r.header("retry-after")), (Some("close"), Some("1")));
    }
    drop(extra);
    assert!(peak <= bound, "node 0 held {peak} file descriptors; the bound is {bound} (baseline {baseline})");
    // Idle connections are closed at the idle timeout, without an answer.
    for s in &mut held {
        assert!(closed_silently(s), "an idle connection got an answer");
    }
    drop(held);

    // Slow clients: half a head, a body that does not come.
    let mut partial = connect(addr);
    partial.write_all(b"GET /v1/sta").unwrap();
    let mut slow_body = connect(addr);
    slow_body.write_all(b"POST /v1/tx HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n0").unwrap();
    read_reply(&mut partial).assert_error(408, "header_timeout");
    let r = read_reply(&mut slow_body);
    r.assert_error(408, "body_timeout");
    assert_eq!(r.header("connection"), Some("close"));

    // Event streams: two per client, the third refused with the reason.
    let stream = |s: &mut TcpStream| {
        s.write_all(b"GET /v1/events HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut line = [0u8; 12];
        s.read_exact(&mut line).unwrap();
        String::from_utf8_lossy(&line).into_owned()
    };
    let mut streams = [connect(addr), connect(addr)];
    for s in &mut streams {
        assert_eq!(stream(s), "HTTP/1.1 200");
    }
    let mut third = connect(addr);
    third.write_all(b"GET /v1/events HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let r = read_reply(&mut third);
    r.assert_error(429, "too_many_client_streams");
    assert!(r.json["message"].as_str().unwrap().contains("max-event-streams-per-client"), "{}", r.json);
    drop((streams, third, partial, slow_body));

    // Memory: 16 uploads of 20 MB, each held one byte short of its end. One fits the 32 MiB
    // the node holds of bodies at once; the others are refused before their bytes are read.
    let rss_before = status_kb(pid, "VmRSS");
    let size = 20_000_000;
    let head = format!(
        "POST /v1/txs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {size}\r\n\r\n"
    );
    let mut first = connect(addr);
    first.write_all(head.as_bytes()).unwrap();
    let chunk = vec![b' '; 1 << 20];
    let mut sent = 0;
    while sent < size - 1 {
        let n = chunk.len().min(size - 1 - sent);
        first.write_all(&chunk[..n]).unwrap();
        sent += n;
    }
    let mut busy = 0;
    for _ in 1..16 {
        let mut s = connect(addr);
        s.write_all(head.as_bytes()).unwrap();
        let r = read_reply(&mut s);
        if r.status == 503 {
            r.assert_error(503, "busy");
            busy += 1;
        }
    }
    assert_eq!(busy, 15, "every upload past the first is refused");
    let rss_during = status_kb(pid, "VmRSS");
    let grown_mib = rss_during.saturating_sub(rss_before) / 1024;
    eprintln!(
        "node 0: {baseline} file descriptors before the flood, at most {peak} during it (bound {bound}); \
         {grown_mib} MiB more resident while holding the uploads"
    );
    assert!(grown_mib < 96, "node 0 grew by {grown_mib} MiB holding uploads (16 × 20 MB without the bound)");
    // the held one is cut at the body timeout
    read_reply(&mut first).assert_error(408, "body_timeout");
    drop(first);

    // Consensus went on throughout, on node 1 and on node 0, which is still running.
    wait_until(LONG, "node 1 to commit more blocks", || net.height(1).is_some_and(|h| h >= h1 + 5));
    wait_until(LONG, "node 0 to commit more blocks", || net.height(0).is_some_and(|h| h >= h0 + 5));
    assert!(net.children[0].as_mut().unwrap().try_wait().unwrap().is_none(), "node 0 is running");
    wait_until(LONG, "node 0's file descriptors back to their baseline", || {
        open_fds(pid) <= baseline + slack
    });
    let log = std::fs::read_to_string(net.layout.nodes[0].dir.join("node.log")).unwrap();
    assert!(!log.contains("panicked") && !log.contains("Too many open files"), "node 0's log: {log}");
}

#[test]
fn a_node_whose_caps_do_not_fit_the_open_file_limit_refuses_to_start() {
    low_open_file_limit();
    let mut net = Net::new(4);
    let node0 = &mut net.layout.nodes[0];
    node0.config.http = HttpLimits { max_connections: 900, ..HttpLimits::default() };
    std::fs::write(&node0.config_path, node0.config.to_toml()).unwrap();
    let (status, log) = net.run_to_exit(0, LONG);
    assert!(!status.success());
    assert!(log.contains("open-file limit is 1024") && log.contains("max-connections"), "{log}");
}
