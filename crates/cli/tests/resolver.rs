//! A recursive resolver in front of a node, as a carrier runs one: unbound (Debian `unbound`,
//! its own config in a temporary directory, run in the foreground by the test) with a stub zone
//! for the ENUM origin pointing at node 0, the origin declared insecure (the zone is unsigned and
//! unbound validates from the root's trust anchor) and loopback upstreams allowed. Through it, on
//! a devnet whose genesis has one ported number: the ported number answers the recipient's
//! routing number, a number not ported `;npdi` alone, a number in no range NXDOMAIN; and after a
//! port the answer through the resolver is the new one as soon as the activation's commit is
//! visible on the node's HTTP (NAPTR TTL 0: the resolver keeps nothing to answer from).

mod support;

use serde_json::Value;
use std::{
    net::{SocketAddr, TcpListener, UdpSocket},
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::Duration,
};
use support::{Net, get, wait_until};

const LONG: Duration = Duration::from_secs(90);
/// Ported to OPB (routing number +49D002) in the genesis's migration list.
const PORTED: &str = "+491500000007";
/// In OPA's demo range +49150, not ported until the test ports it to OPB.
const NUMBER: &str = "+491500000042";
/// In no range.
const UNKNOWN: &str = "+881234567";
/// The root zone's KSK-2017 (IANA): the resolver validates as a carrier's does.
const ROOT_ANCHOR: &str = ". DS 20326 8 2 E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D";

fn enum_name(number: &str) -> String {
    let labels: Vec<String> = number[1..].chars().rev().map(String::from).collect();
    format!("{}.e164.arpa", labels.join("."))
}

/// One answer of a dig through the resolver: the response code, and each answer's TTL and data.
#[derive(Debug)]
struct Answer {
    status: String,
    records: Vec<(u32, String)>,
}

/// A running unbound, killed when dropped.
struct Unbound {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Unbound {
    /// Starts unbound on a free loopback port, in front of the ENUM server at `upstream`.
    fn start(upstream: SocketAddr) -> Self {
        for _ in 0..5 {
            let dir = tempfile::tempdir().unwrap();
            let port = free_udp_and_tcp_port();
            let config = dir.path().join("unbound.conf");
            std::fs::write(&config, config_text(dir.path().to_path_buf(), port, upstream)).unwrap();
            let log = std::fs::File::create(dir.path().join("unbound.log")).unwrap();
            let child = Command::new("unbound")
                .arg("-d")
                .arg("-c")
                .arg(&config)
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .unwrap_or_else(|e| {
                    panic!("cannot run unbound ({e}); run the tests with scripts/test, which installs it")
                });
            let mut unbound = Self { child, port, dir };
            // Ready once it answers a question about itself (nothing reaches the node).
            let mut exited = false;
            wait_until(LONG, "unbound to answer", || {
                exited = unbound.child.try_wait().unwrap().is_some();
                exited || unbound.dig_class("CH", "TXT", "version.server").status == "NOERROR"
            });
            if !exited {
                return unbound;
            }
            // Another process took the port between our check and unbound's bind: again.
            eprintln!("unbound exited at start: {}", unbound.log());
        }
        panic!("unbound did not start on any of 5 ports");
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("unbound.log")).unwrap_or_default()
    }

    fn dig(&self, name: &str) -> Answer {
        self.dig_class("IN", "NAPTR", name)
    }

    fn dig_class(&self, class: &str, qtype: &str, name: &str) -> Answer {
        let out = Command::new("dig")
            .args(["@127.0.0.1", "-p", &self.port.to_string(), "+tries=2", "+time=3"])
            .args(["+noall", "+comments", "+answer", "-c", class, "-t", qtype, name])
            .output()
            .unwrap_or_else(|e| {
                panic!("cannot run dig ({e}); run the tests with scripts/test, which installs it")
            });
        let text = String::from_utf8_lossy(&out.stdout);
        let status = text
            .split_once("status: ")
            .and_then(|(_, rest)| rest.split(|c: char| !c.is_ascii_alphanumeric()).next())
            .unwrap_or("TIMEOUT")
            .to_owned();
        let records = text
            .lines()
            .filter(|l| !l.is_empty() && !l.starts_with(';'))
            .map(|line| {
                // name, TTL, class, type, then the data as `dig +short` prints it
                let mut rest = line;
                let mut fields = Vec::new();
                for _ in 0..4 {
                    let trimmed = rest.trim_start();
                    let end = trimmed.find(char::is_whitespace).unwrap_or(trimmed.len());
                    fields.push(&trimmed[..end]);
                    rest = &trimmed[end..];
                }
                (fields[1].parse().expect("a TTL"), rest.trim().to_owned())
            })
            .collect();
        Answer { status, records }
    }
}

impl Drop for Unbound {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- unbound log\n{}", self.log());
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback port free for both UDP and TCP now.
fn free_udp_and_tcp_port() -> u16 {
    loop {
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = udp.local_addr().unwrap().port();
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// unbound as a carrier's resolver in front of the node: validating, QNAME minimisation on (its
/// default), the ENUM origin a stub zone served by the node, declared insecure (unsigned), and
/// upstreams on loopback allowed.
fn config_text(dir: PathBuf, port: u16, upstream: SocketAddr) -> String {
    format!(
        "server:
    interface: 127.0.0.1
    port: {port}
    do-daemonize: no
    username: \"\"
    chroot: \"\"
    directory: \"{dir}\"
    pidfile: \"\"
    use-syslog: no
    logfile: \"\"
    num-threads: 1
    qname-minimisation: yes
    trust-anchor: \"{ROOT_ANCHOR}\"
    domain-insecure: \"e164.arpa\"
    do-not-query-localhost: no
remote-control:
    control-enable: no
stub-zone:
    name: \"e164.arpa\"
    stub-addr: {ip}@{dns_port}
",
        dir = dir.display(),
        ip = upstream.ip(),
        dns_port = upstream.port()
    )
}

/// The single NAPTR answer through the resolver, checked to have TTL 0 and to be the node's own.
fn naptr(net: &Net, unbound: &Unbound, number: &str) -> String {
    let name = enum_name(number);
    let answer = unbound.dig(&name);
    assert_eq!(answer.status, "NOERROR", "{number} through unbound: {answer:?}");
    assert_eq!(answer.records.len(), 1, "{number} through unbound: {answer:?}");
    let (ttl, data) = answer.records.into_iter().next().unwrap();
    assert_eq!(ttl, 0, "{number}: a NAPTR answer is never cached");
    assert_eq!(net.dig(0, "NAPTR", &name), [data.as_str()], "{number}: the node's own answer");
    data
}

#[test]
fn through_unbound_answers_are_the_nodes_and_switch_at_the_commit() {
    let mut net = Net::with_ported(2, &format!("number,operator\n{PORTED},OPB\n"));
    net.start_all();
    wait_until(LONG, "blocks on both nodes", || (0..2).all(|i| net.height(i).is_some_and(|h| h >= 1)));
    let dns = net.layout.nodes[0].config.dns.as_ref().expect("node 0 serves DNS").listen;
    let unbound = Unbound::start(dns);

    // the recipient's routing number, in RFC 4694's global form
    let ported = naptr(&net, &unbound, PORTED);
    assert!(ported.contains(&format!("tel:{PORTED};npdi;rn=+49D002!")), "{ported}");
    let home = naptr(&net, &unbound, NUMBER);
    assert!(home.contains(&format!("tel:{NUMBER};npdi!")), "not ported: {home}");
    let unknown = unbound.dig(&enum_name(UNKNOWN));
    assert_eq!((unknown.status.as_str(), unknown.records.len()), ("NXDOMAIN", 0), "{unknown:?}");

    // Port NUMBER to OPB: OPA binds the subscriber, the subscriber requests, OPA releases.
    let encoded = NUMBER.replace('+', "%2B");
    let port = net.request_port(NUMBER, 0);
    net.act_committed(0, &format!("ports/{port}/release"), Value::Null, 0);
    // Released, not activated: the resolver still gets the donor's answer.
    assert_eq!(naptr(&net, &unbound, NUMBER), home);

    // OPB activates. Once node 0 shows the commit over HTTP, the very next answer through the
    // resolver is the new one: nothing was cached.
    // committed and applied on node 0, the node behind the resolver
    let height = net.act_committed(1, &format!("ports/{port}/activate"), Value::Null, 0);
    let after = naptr(&net, &unbound, NUMBER);
    assert!(after.contains(&format!("tel:{NUMBER};npdi;rn=+49D002!")), "{after}");
    assert_eq!(after, ported.replace(PORTED, NUMBER), "the same routing number as the other ported number");
    let route = get(net.url(0), &format!("/v1/numbers/{encoded}")).unwrap();
    assert_eq!(route["serving"], "OPB", "{route}");
    assert!(route["height"].as_u64().unwrap() >= height, "{route}");
}
