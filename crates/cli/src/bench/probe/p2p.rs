//! The probe at the p2p port: garbage first bytes, a handshake dripped slowly, and floods of
//! connections.

use super::*;

fn p2p_outcome(reply: &[u8]) -> String {
    format!("the node wrote {} bytes", reply.len())
}

pub(super) fn p2p_port(net: &LocalNet, p: &ProbeParams) -> Result<PortReport, BenchError> {
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
