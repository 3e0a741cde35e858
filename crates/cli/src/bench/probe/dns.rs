//! The probe at the ENUM ports: DNS garbage over UDP, and slow, garbage and flooding TCP
//! clients.

use super::*;

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

pub(super) fn dns_tcp_outcome(reply: &[u8]) -> String {
    if reply.len() < 2 {
        return "a partial length".into();
    }
    format!("answered {}", rcode(&reply[2..]))
}

pub(super) fn dns_ports(net: &LocalNet, p: &ProbeParams) -> Result<(PortReport, PortReport), BenchError> {
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
