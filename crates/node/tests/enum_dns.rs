//! The ENUM server over real sockets: answers from a real ledger's routes (genesis, then blocks
//! that port a number, re-route an operator and assign a range), over UDP and TCP, with hickory's
//! own message types as the client, garbage that must not stop it, and `dig` as an outside client;
//! and the limits on what a client can take: FORMERR for more or fewer than one question, TC for
//! an answer too big for UDP, the TCP connection cap and idle timeout, bounded log lines.

use commonware_cryptography::Signer;
use hickory_proto::{
    op::{Edns, Message, MessageType, OpCode, Query, ResponseCode},
    rr::{DNSClass, Name, RData, Record, RecordType, rdata::NAPTR},
};
use npchain_core::{Ledger, MemStore, PortRequest, PortedEntry, PrivateKey, Timestamp, Transaction, TxBody};
use npchain_node::{
    enum_dns::{self, DEFAULT_NEGATIVE_TTL, EnumConfig, EnumError, NsHost, Responder, TcpLimits},
    metrics::Metrics,
};
use npchain_testkit::{GENESIS_MS, GenesisBuilder, key, num, op};
use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicU16, Ordering},
    },
    time::Duration,
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream, UdpSocket},
    task::JoinHandle,
    time::timeout,
};

/// Bound on every exchange with the server: a test fails rather than hangs.
const WAIT: Duration = Duration::from_secs(5);

const PORTED: &str = "+49301000001"; // in OPA's range, ported to OPB at genesis
const HOME: &str = "+49302000002"; // in OPB's range, not ported
const TO_PORT: &str = "+49301000007"; // in OPA's range, ported to OPB by blocks
const OUTSIDE: &str = "+49399000001"; // in no range (until a block assigns +49399)

fn regulator() -> PrivateKey {
    key("regulator")
}

fn operator_key(id: &str) -> PrivateKey {
    key(id)
}

fn subscriber() -> PrivateKey {
    key("subscriber")
}

/// Three operators: OPA (+49301, rn +49D001), OPB (+49302 and +4915, +49D002), OPC (+49303,
/// +4930399); one number ported at genesis. Every range has the numbering plan's lengths.
fn ledger() -> Ledger<MemStore> {
    ledger_with(None)
}

/// [`ledger`], with range +4915's lengths given.
fn ledger_with(lengths_4915: Option<&str>) -> Ledger<MemStore> {
    let genesis = GenesisBuilder::new("npchain-enum-test")
        .operator("OPA", "+49D001")
        .operator("OPB", "+49D002")
        .operator("OPC", "+4930399")
        .range("+49301", "OPA")
        .range("+49302", "OPB")
        .range_with("+4915", "OPB", lengths_4915)
        .range("+49303", "OPC")
        .build();
    let ported = [
        PortedEntry { number: num(PORTED), operator: op("OPB"), routing_number: None },
        PortedEntry { number: num("+49301000003"), operator: op("OPC"), routing_number: None },
    ];
    Ledger::genesis(MemStore::new(), &genesis, ported.into_iter().map(Ok)).unwrap()
}

/// Applies one block holding one transaction signed by `signer`; the transaction must apply.
fn commit(ledger: &mut Ledger<MemStore>, signer: &PrivateKey, body: TxBody) {
    let height = ledger.height() + 1;
    let now = Timestamp(GENESIS_MS).plus_secs(height);
    let chain = ledger.chain_id();
    let tx = Transaction { nonce: height, expires_at: now.plus_secs(600), signer: signer.public_key(), body }
        .sign(&chain, signer)
        .verify(&chain)
        .unwrap();
    let outcome = ledger.apply_block(height, now, &[tx]).unwrap();
    for (_, result) in outcome.results {
        result.unwrap();
    }
}

/// `+4930…` → `…0.3.9.4.<origin>.`
/// The zone `origin` with one name server `ns` outside it (so without addresses).
fn zone(origin: &str, ns: &str) -> EnumConfig {
    EnumConfig {
        origin: origin.into(),
        ns: vec![NsHost { name: ns.into(), addresses: vec![] }],
        negative_ttl: DEFAULT_NEGATIVE_TTL,
    }
}

fn enum_name(number: &str, origin: &str) -> String {
    let mut name: String = number.trim_start_matches('+').chars().rev().flat_map(|d| [d, '.']).collect();
    name.push_str(origin.trim_end_matches('.'));
    name.push('.');
    name
}

/// A running ENUM server on loopback.
struct Server {
    udp: SocketAddr,
    tcp: SocketAddr,
    metrics: Arc<Metrics>,
    task: JoinHandle<Result<(), EnumError>>,
}

impl Server {
    /// Binds both sockets first, then spawns the server: a query sent right away waits in the
    /// socket's queue, there is no start-up race.
    async fn start(ledger: &Ledger<MemStore>, origin: &str) -> Self {
        Self::start_with(ledger, zone(origin, "ns.npchain.invalid"), TcpLimits::default()).await
    }

    async fn start_with(ledger: &Ledger<MemStore>, config: EnumConfig, limits: TcpLimits) -> Self {
        // as the node does: TCP, then two UDP sockets sharing its port (two UDP threads)
        let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let tcp_addr = tcp.local_addr().unwrap();
        let udp = enum_dns::bind_udp(tcp_addr, 2).unwrap();
        let udp_addr = tcp_addr;
        let metrics = Arc::new(Metrics::default());
        let routes = ledger.routes();
        let task = tokio::spawn({
            let metrics = metrics.clone();
            async move { enum_dns::serve(udp, tcp, routes, &config, limits, metrics).await }
        });
        Self { udp: udp_addr, tcp: tcp_addr, metrics, task }
    }

    /// Sends `bytes` over UDP from a fresh socket and returns every response up to the one
    /// with `until_id` (not included), then that one.
    async fn udp_exchange(&self, packets: &[&[u8]], until_id: u16) -> (Vec<Vec<u8>>, Message) {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        for packet in packets {
            socket.send_to(packet, self.udp).await.unwrap();
        }
        let mut others = Vec::new();
        let mut buf = vec![0u8; 65_535];
        loop {
            let (len, from) =
                timeout(WAIT, socket.recv_from(&mut buf)).await.expect("UDP answer in time").unwrap();
            assert_eq!(from, self.udp);
            let bytes = buf[..len].to_vec();
            match Message::from_vec(&bytes) {
                Ok(m) if m.metadata.id == until_id && m.metadata.message_type == MessageType::Response => {
                    return (others, m);
                }
                _ => others.push(bytes),
            }
        }
    }

    async fn udp(&self, query: &Message) -> Message {
        let bytes = query.to_vec().unwrap();
        let (others, answer) = self.udp_exchange(&[&bytes], query.metadata.id).await;
        assert!(others.is_empty(), "unexpected datagrams: {others:?}");
        answer
    }

    async fn ask(&self, name: &str, rtype: RecordType) -> Message {
        let answer = self.udp(&query(name, rtype)).await;
        assert_eq!(answer.queries.len(), 1, "the question is echoed: {answer:?}");
        answer
    }

    /// The server is still running.
    fn assert_alive(&self) {
        assert!(!self.task.is_finished(), "the ENUM server stopped");
    }
}

async fn tcp_send(stream: &mut TcpStream, bytes: &[u8]) {
    let len = u16::try_from(bytes.len()).unwrap().to_be_bytes();
    timeout(WAIT, stream.write_all(&[&len[..], bytes].concat())).await.unwrap().unwrap();
}

async fn tcp_recv(stream: &mut TcpStream) -> Message {
    let mut len = [0u8; 2];
    timeout(WAIT, stream.read_exact(&mut len)).await.expect("TCP answer in time").unwrap();
    let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
    timeout(WAIT, stream.read_exact(&mut buf)).await.unwrap().unwrap();
    Message::from_vec(&buf).unwrap()
}

fn next_id() -> u16 {
    static ID: AtomicU16 = AtomicU16::new(1000);
    ID.fetch_add(1, Ordering::Relaxed)
}

fn query(name: &str, rtype: RecordType) -> Message {
    let mut m = Message::query();
    m.metadata.id = next_id();
    m.add_query(Query::query(Name::from_ascii(name).unwrap(), rtype));
    m
}

fn naptr(record: &Record) -> &NAPTR {
    match &record.data {
        RData::NAPTR(n) => n,
        other => panic!("not a NAPTR: {other:?}"),
    }
}

fn regexp(answer: &Message) -> String {
    assert_eq!(answer.answers.len(), 1, "{answer:?}");
    String::from_utf8(naptr(&answer.answers[0]).regexp.to_vec()).unwrap()
}

/// NOERROR, authoritative, no answer, the zone's SOA (serial `height`, TTL and minimum the
/// negative TTL) in the authority section.
fn assert_nodata(answer: &Message, height: u64) {
    assert_eq!(answer.metadata.response_code, ResponseCode::NoError, "{answer:?}");
    assert!(answer.answers.is_empty(), "{answer:?}");
    assert_negative_soa(answer, height);
}

fn assert_nxdomain(answer: &Message, height: u64) {
    assert_eq!(answer.metadata.response_code, ResponseCode::NXDomain, "{answer:?}");
    assert!(answer.answers.is_empty(), "{answer:?}");
    assert_negative_soa(answer, height);
}

fn assert_negative_soa(answer: &Message, height: u64) {
    assert!(answer.metadata.authoritative, "{answer:?}");
    assert_eq!(answer.authorities.len(), 1, "{answer:?}");
    let soa = &answer.authorities[0];
    match &soa.data {
        RData::SOA(soa) => {
            assert_eq!(u64::from(soa.serial), height);
            assert_eq!(soa.minimum, DEFAULT_NEGATIVE_TTL);
        }
        other => panic!("not a SOA: {other:?}"),
    }
    assert_eq!(soa.ttl, DEFAULT_NEGATIVE_TTL);
}

#[tokio::test]
async fn ported_and_not_ported_numbers_answer_naptr() {
    let ledger = ledger();
    let server = Server::start(&ledger, "e164.arpa").await;

    let answer = server.ask(&enum_name(PORTED, "e164.arpa"), RecordType::NAPTR).await;
    assert_eq!(answer.metadata.response_code, ResponseCode::NoError);
    assert!(answer.metadata.authoritative);
    assert_eq!(answer.answers.len(), 1, "{answer:?}");
    let record = &answer.answers[0];
    assert_eq!(record.name, Name::from_ascii(enum_name(PORTED, "e164.arpa")).unwrap());
    assert_eq!((record.ttl, record.dns_class), (0, DNSClass::IN));
    let n = naptr(record);
    assert_eq!((n.order, n.preference), (100, 10));
    assert_eq!((&*n.flags, &*n.services), (&b"u"[..], &b"E2U+pstn:tel"[..]));
    assert_eq!(&*n.regexp, b"!^.*$!tel:+49301000001;npdi;rn=+49D002!");
    assert!(n.replacement.is_root());

    // a global routing number
    let answer = server.ask(&enum_name("+49301000003", "e164.arpa"), RecordType::NAPTR).await;
    assert_eq!(regexp(&answer), "!^.*$!tel:+49301000003;npdi;rn=+4930399!");

    // inside a range, not ported: npdi without rn; also for ANY
    for (number, rtype) in [(HOME, RecordType::NAPTR), (HOME, RecordType::ANY)] {
        let answer = server.ask(&enum_name(number, "e164.arpa"), rtype).await;
        assert_eq!(answer.metadata.response_code, ResponseCode::NoError);
        assert_eq!(regexp(&answer), format!("!^.*$!tel:{number};npdi!"));
    }
    // a range's own prefix is shorter than its numbers (DE: 7 to 15 digits): no data
    assert_nodata(&server.ask(&enum_name("+4915", "e164.arpa"), RecordType::NAPTR).await, 0);
    // ANY on a ported number
    let answer = server.ask(&enum_name(PORTED, "e164.arpa"), RecordType::ANY).await;
    assert_eq!(regexp(&answer), "!^.*$!tel:+49301000001;npdi;rn=+49D002!");
    // names are case-insensitive (the origin here)
    let answer = server.ask(&enum_name(PORTED, "E164.ARPA"), RecordType::NAPTR).await;
    assert_eq!(regexp(&answer), "!^.*$!tel:+49301000001;npdi;rn=+49D002!");

    let metrics = server.metrics.render();
    assert!(metrics.contains(r#"npchain_queries_total{kind="enum",result="ported"} 4"#), "{metrics}");
    assert!(metrics.contains(r#"npchain_queries_total{kind="enum",result="not_ported"} 2"#), "{metrics}");
    server.assert_alive();
}

#[tokio::test]
async fn negative_answers_carry_the_soa() {
    let ledger = ledger();
    let server = Server::start(&ledger, "e164.arpa").await;

    // a number in no range
    assert_nxdomain(&server.ask(&enum_name(OUTSIDE, "e164.arpa"), RecordType::NAPTR).await, 0);
    // a number's other types: NODATA
    for rtype in [RecordType::A, RecordType::AAAA, RecordType::TXT, RecordType::SOA, RecordType::CNAME] {
        assert_nodata(&server.ask(&enum_name(PORTED, "e164.arpa"), rtype).await, 0);
        assert_nodata(&server.ask(&enum_name(HOME, "e164.arpa"), rtype).await, 0);
    }
    // empty non-terminals: leading digits of assigned ranges (+49 of +49301, +491 of +4915)
    for name in ["9.4.e164.arpa.", "1.9.4.e164.arpa.", "4.e164.arpa.", "0.3.9.4.e164.arpa."] {
        assert_nodata(&server.ask(name, RecordType::NAPTR).await, 0);
    }
    // but a sibling of them is not there
    assert_nxdomain(&server.ask("8.4.e164.arpa.", RecordType::NAPTR).await, 0);
    assert_nxdomain(&server.ask("1.e164.arpa.", RecordType::NAPTR).await, 0);

    // names that are not numbers
    let sixteen = enum_name("+4930100000100001", "e164.arpa");
    for name in [
        "foo.e164.arpa.",
        "10.3.9.4.e164.arpa.",
        "a.1.0.3.9.4.e164.arpa.",
        "*.e164.arpa.",
        "1.*.e164.arpa.",
        "0.e164.arpa.",
        "1.0.0.0.0.0.1.0.3.9.4.0.e164.arpa.",
        "_sip._udp.1.0.3.9.4.e164.arpa.",
        sixteen.as_str(),
    ] {
        assert_nxdomain(&server.ask(name, RecordType::NAPTR).await, 0);
    }
    let metrics = server.metrics.render();
    assert!(metrics.contains(r#"npchain_queries_total{kind="enum",result="unknown"} 12"#), "{metrics}");
    assert!(metrics.contains(r#"npchain_queries_total{kind="enum",result="nodata"} 14"#), "{metrics}");
    server.assert_alive();
}

#[tokio::test]
async fn the_apex_answers_soa_and_ns() {
    let mut ledger = ledger();
    // a few blocks so that the serial is not 0
    for _ in 0..3 {
        let body = TxBody::UpdateOperator {
            id: op("OPA"),
            operator_key: operator_key("OPA").public_key(),
            routing_number: "+49D001".parse().unwrap(),
        };
        commit(&mut ledger, &regulator(), body);
    }
    let server = Server::start(&ledger, "e164.arpa").await;

    let answer = server.ask("e164.arpa.", RecordType::SOA).await;
    assert_eq!(answer.metadata.response_code, ResponseCode::NoError);
    assert!(answer.metadata.authoritative);
    assert_eq!(answer.answers.len(), 1, "{answer:?}");
    let record = &answer.answers[0];
    assert_eq!((record.name.to_string().as_str(), record.ttl), ("e164.arpa.", DEFAULT_NEGATIVE_TTL));
    match &record.data {
        RData::SOA(soa) => {
            assert_eq!(soa.mname, Name::from_ascii("ns.npchain.invalid.").unwrap());
            assert_eq!(soa.rname, Name::from_ascii("hostmaster.e164.arpa.").unwrap());
            assert_eq!((u64::from(soa.serial), soa.minimum), (ledger.height(), DEFAULT_NEGATIVE_TTL));
            assert_eq!(ledger.height(), 3);
        }
        other => panic!("not a SOA: {other:?}"),
    }
    // a positive answer has nothing in the authority section
    assert!(answer.authorities.is_empty(), "{answer:?}");

    let answer = server.ask("e164.arpa.", RecordType::NS).await;
    assert_eq!(answer.answers.len(), 1, "{answer:?}");
    assert!(matches!(&answer.answers[0].data, RData::NS(ns) if ns.0.to_string() == "ns.npchain.invalid."));

    let answer = server.ask("e164.arpa.", RecordType::ANY).await;
    let types: Vec<RecordType> = answer.answers.iter().map(Record::record_type).collect();
    assert_eq!(types, [RecordType::SOA, RecordType::NS]);

    for rtype in [RecordType::A, RecordType::NAPTR, RecordType::TXT, RecordType::MX] {
        assert_nodata(&server.ask("e164.arpa.", rtype).await, 3);
    }
    let metrics = server.metrics.render();
    assert!(metrics.contains(r#"npchain_queries_total{kind="enum",result="apex"} 3"#), "{metrics}");
    server.assert_alive();
}

#[tokio::test]
async fn outside_the_origin_updates_and_transfers_are_refused() {
    let ledger = ledger();
    let server = Server::start(&ledger, "e164.arpa").await;

    for name in ["example.com.", "arpa.", ".", "e164.arpa.example."] {
        let answer = server.ask(name, RecordType::A).await;
        assert_eq!(answer.metadata.response_code, ResponseCode::Refused, "{name}: {answer:?}");
        assert!(answer.answers.is_empty() && answer.authorities.is_empty());
    }
    // class CH (version.bind-style probes) under the origin
    let mut chaos = query(&enum_name(PORTED, "e164.arpa"), RecordType::NAPTR);
    chaos.queries[0].set_query_class(DNSClass::CH);
    assert_eq!(server.udp(&chaos).await.metadata.response_code, ResponseCode::Refused);

    // dynamic update, inside and outside the zone
    for zone in ["e164.arpa.", "example.com."] {
        let mut update = Message::new(next_id(), MessageType::Query, OpCode::Update);
        update.add_query(Query::query(Name::from_ascii(zone).unwrap(), RecordType::SOA));
        let answer = server.udp(&update).await;
        assert_eq!(answer.metadata.response_code, ResponseCode::Refused, "{answer:?}");
    }

    // zone transfers (over TCP, as they are sent)
    let mut stream = TcpStream::connect(server.tcp).await.unwrap();
    for rtype in [RecordType::AXFR, RecordType::IXFR] {
        tcp_send(&mut stream, &query("e164.arpa.", rtype).to_vec().unwrap()).await;
        let answer = tcp_recv(&mut stream).await;
        assert_eq!(answer.metadata.response_code, ResponseCode::Refused, "{rtype}: {answer:?}");
        assert!(answer.answers.is_empty());
    }

    let metrics = server.metrics.render();
    assert!(metrics.contains(r#"npchain_queries_total{kind="enum",result="refused"} 9"#), "{metrics}");
    server.assert_alive();
}

#[tokio::test]
async fn tcp_answers_several_queries_on_one_connection() {
    let ledger = ledger();
    let server = Server::start(&ledger, "e164.arpa").await;
    let mut stream = TcpStream::connect(server.tcp).await.unwrap();
    let first = query(&enum_name(PORTED, "e164.arpa"), RecordType::NAPTR);
    let second = query(&enum_name(OUTSIDE, "e164.arpa"), RecordType::NAPTR);
    // pipelined: both written before reading
    tcp_send(&mut stream, &first.to_vec().unwrap()).await;
    tcp_send(&mut stream, &second.to_vec().unwrap()).await;
    let mut answers = [tcp_recv(&mut stream).await, tcp_recv(&mut stream).await];
    answers.sort_by_key(|a| a.metadata.id != first.metadata.id);
    assert_eq!(answers[0].metadata.id, first.metadata.id);
    assert_eq!(regexp(&answers[0]), "!^.*$!tel:+49301000001;npdi;rn=+49D002!");
    assert_eq!(answers[1].metadata.id, second.metadata.id);
    assert_nxdomain(&answers[1], 0);
    server.assert_alive();
}

#[tokio::test]
async fn the_origin_is_configurable() {
    let ledger = ledger();
    let server = Server::start(&ledger, "E164.Example.NET.").await;
    let answer = server.ask(&enum_name(PORTED, "e164.example.net"), RecordType::NAPTR).await;
    assert_eq!(regexp(&answer), "!^.*$!tel:+49301000001;npdi;rn=+49D002!");
    let answer = server.ask("e164.example.net.", RecordType::SOA).await;
    match &answer.answers[0].data {
        RData::SOA(soa) => assert_eq!(soa.rname.to_string(), "hostmaster.e164.example.net."),
        other => panic!("not a SOA: {other:?}"),
    }
    assert_nxdomain(&server.ask(&enum_name(OUTSIDE, "e164.example.net"), RecordType::NAPTR).await, 0);
    // the default suffix is not served by this node
    let answer = server.ask(&enum_name(PORTED, "e164.arpa"), RecordType::NAPTR).await;
    assert_eq!(answer.metadata.response_code, ResponseCode::Refused);
    server.assert_alive();
}

#[tokio::test]
async fn bad_configuration_is_refused_before_serving() {
    let metrics = Arc::new(Metrics::default());
    let config = zone;
    let routes = ledger().routes();
    let err = |c: EnumConfig| Responder::new(routes.clone(), &c, metrics.clone()).unwrap_err().to_string();
    assert!(err(config("", "ns.example")).contains("root"));
    assert!(err(config(".", "ns.example")).contains("root"));
    let e = err(config("e164..arpa", "ns.example"));
    assert!(e.contains("origin") && e.contains("e164..arpa"), "{e}");
    let e = err(config("e164.arpa", ""));
    assert!(e.starts_with("ns \"\" is not a valid DNS name"), "{e}");
    let long = "a".repeat(64);
    let e = err(config(&format!("{long}.arpa"), "ns.example"));
    assert!(e.contains("origin"), "{e}");
    let e = err(EnumConfig { ns: vec![], ..config("e164.arpa", "ns.example") });
    assert!(e.contains("at least one name server"), "{e}");
    let e = err(config("e164.arpa", "ns.e164.arpa"));
    assert!(e.contains("glue"), "{e}");

    // serve reports it at once
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let root = config(".", "ns.example");
    let serve = enum_dns::serve(vec![udp], tcp, routes.clone(), &root, TcpLimits::default(), metrics);
    let result = timeout(WAIT, serve).await.unwrap();
    assert!(matches!(result, Err(EnumError::RootOrigin)), "{result:?}");
}

/// A 12-byte DNS header: id, flags, and the four section counts.
fn header(id: u16, flags: u16, counts: [u16; 4]) -> Vec<u8> {
    let mut h = Vec::with_capacity(12);
    h.extend_from_slice(&id.to_be_bytes());
    h.extend_from_slice(&flags.to_be_bytes());
    for c in counts {
        h.extend_from_slice(&c.to_be_bytes());
    }
    h
}

/// Deterministic pseudo-random bytes (xorshift), so a failure can be replayed.
fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

#[tokio::test]
async fn garbage_never_stops_the_server() {
    let ledger = ledger();
    let server = Server::start(&ledger, "e164.arpa").await;
    let valid_name = enum_name(PORTED, "e164.arpa");

    let two_questions = {
        let mut m = query(&valid_name, RecordType::NAPTR);
        m.add_query(Query::query(Name::from_ascii("e164.arpa.").unwrap(), RecordType::SOA));
        m.to_vec().unwrap()
    };
    let response_packet = {
        let mut m = Message::new(next_id(), MessageType::Response, OpCode::Query);
        m.add_query(Query::query(Name::from_ascii(&valid_name).unwrap(), RecordType::NAPTR));
        m.to_vec().unwrap()
    };
    // a name that is a compression pointer to itself
    let pointer_loop = [header(7, 0, [1, 0, 0, 0]), vec![0xc0, 12, 0, 35, 0, 1]].concat();
    // claims a question and an answer it does not carry
    let short_body = [header(8, 0, [1, 1, 0, 0]), vec![3, b'f', b'o']].concat();
    // an unknown opcode (15) and a notify (4)
    let odd_opcode = {
        let mut q = query(&valid_name, RecordType::NAPTR).to_vec().unwrap();
        q[2] = (q[2] & 0x87) | (15 << 3);
        q
    };
    let notify = {
        let mut m = Message::new(next_id(), MessageType::Query, OpCode::Notify);
        m.add_query(Query::query(Name::from_ascii("e164.arpa.").unwrap(), RecordType::SOA));
        m.to_vec().unwrap()
    };
    let mut garbage: Vec<(&str, Vec<u8>)> = vec![
        ("empty", vec![]),
        ("truncated header", vec![0x12, 0x34, 0x01]),
        ("eleven bytes", header(9, 0, [0, 0, 0, 0])[..11].to_vec()),
        ("header only", header(10, 0, [0, 0, 0, 0])),
        ("two questions", two_questions),
        ("response", response_packet),
        ("pointer loop", pointer_loop),
        ("short body", short_body),
        ("odd opcode", odd_opcode),
        ("notify", notify),
    ];
    for seed in 1..=50u64 {
        let len = usize::try_from(seed * 37 % 600).unwrap();
        garbage.push(("noise", noise(seed, len)));
    }
    // noise behind a valid-looking query header
    for seed in 51..=80u64 {
        garbage.push(("noisy body", [header(11, 0x0100, [1, 0, 0, 0]), noise(seed, 40)].concat()));
    }

    // UDP: each piece of garbage, then a valid query from the same socket, which is answered
    for (what, bytes) in &garbage {
        let valid = query(&valid_name, RecordType::NAPTR);
        let (others, answer) =
            server.udp_exchange(&[bytes, &valid.to_vec().unwrap()], valid.metadata.id).await;
        assert_eq!(regexp(&answer), "!^.*$!tel:+49301000001;npdi;rn=+49D002!", "after {what}");
        for other in others {
            // whatever else came back is an error response, never an answer
            if let Ok(m) = Message::from_vec(&other) {
                assert_ne!(m.metadata.response_code, ResponseCode::NoError, "{what}: {m:?}");
                assert!(m.answers.is_empty(), "{what}: {m:?}");
            }
        }
        server.assert_alive();
    }

    // TCP: garbage in a frame, a frame cut short, a length and nothing more; then a new
    // connection is served
    for (what, bytes) in &garbage {
        let mut stream = TcpStream::connect(server.tcp).await.unwrap();
        if bytes.len() % 3 == 0 {
            tcp_send(&mut stream, bytes).await;
        } else {
            let claimed = u16::try_from(bytes.len() + 100).unwrap().to_be_bytes();
            stream.write_all(&[&claimed[..], bytes].concat()).await.unwrap();
        }
        drop(stream);
        let mut fresh = TcpStream::connect(server.tcp).await.unwrap();
        let valid = query(&valid_name, RecordType::NAPTR);
        tcp_send(&mut fresh, &valid.to_vec().unwrap()).await;
        let answer = tcp_recv(&mut fresh).await;
        assert_eq!(regexp(&answer), "!^.*$!tel:+49301000001;npdi;rn=+49D002!", "after TCP {what}");
        server.assert_alive();
    }

    let metrics = server.metrics.render();
    // the two-question query reaches the catalog, which answers FORMERR
    assert!(metrics.contains(r#"npchain_queries_total{kind="enum",result="formerr"}"#), "{metrics}");
    assert!(
        metrics.contains(&format!(
            r#"npchain_queries_total{{kind="enum",result="ported"}} {}"#,
            2 * garbage.len()
        ))
    );
}

#[tokio::test]
async fn answers_follow_committed_blocks() {
    let mut ledger = ledger();
    let server = Server::start(&ledger, "e164.arpa").await;
    let name = enum_name(TO_PORT, "e164.arpa");
    let soa_serial = |answer: Message| match &answer.answers[0].data {
        RData::SOA(soa) => u64::from(soa.serial),
        other => panic!("not a SOA: {other:?}"),
    };

    assert_eq!(regexp(&server.ask(&name, RecordType::NAPTR).await), "!^.*$!tel:+49301000007;npdi!");
    assert_eq!(soa_serial(server.ask("e164.arpa.", RecordType::SOA).await), 0);

    // a whole port: OPA binds the subscriber, who requests the port; OPA releases, OPB activates
    let (opa, opb) = (operator_key("OPA"), operator_key("OPB"));
    commit(
        &mut ledger,
        &opa,
        TxBody::Bind { number: num(TO_PORT), subscriber: Some(subscriber().public_key()) },
    );
    let request = PortRequest {
        numbers: vec![num(TO_PORT)],
        donor: op("OPA"),
        recipient: op("OPB"),
        due: Timestamp(0),
        nonce: 1,
    };
    let port = request.port_id(&subscriber().public_key());
    commit(&mut ledger, &subscriber(), TxBody::RequestPort(request));
    commit(&mut ledger, &opa, TxBody::Release { port });
    // released but not yet activated: still routed to the donor
    assert_eq!(regexp(&server.ask(&name, RecordType::NAPTR).await), "!^.*$!tel:+49301000007;npdi!");
    commit(&mut ledger, &opb, TxBody::Activate { port });
    assert_eq!(
        regexp(&server.ask(&name, RecordType::NAPTR).await),
        "!^.*$!tel:+49301000007;npdi;rn=+49D002!"
    );
    assert_eq!(soa_serial(server.ask("e164.arpa.", RecordType::SOA).await), 4);

    // the recipient's routing number changes: every number it serves follows
    let body = TxBody::UpdateOperator {
        id: op("OPB"),
        operator_key: opb.public_key(),
        routing_number: "+49D0B2".parse().unwrap(),
    };
    commit(&mut ledger, &regulator(), body);
    assert_eq!(
        regexp(&server.ask(&name, RecordType::NAPTR).await),
        "!^.*$!tel:+49301000007;npdi;rn=+49D0B2!"
    );
    assert_eq!(
        regexp(&server.ask(&enum_name(PORTED, "e164.arpa"), RecordType::NAPTR).await),
        "!^.*$!tel:+49301000001;npdi;rn=+49D0B2!"
    );

    // a new range: its numbers exist from that block on, and its stem is no longer NXDOMAIN
    let outside = enum_name(OUTSIDE, "e164.arpa");
    assert_nxdomain(&server.ask(&outside, RecordType::NAPTR).await, 5);
    assert_nxdomain(&server.ask("9.9.3.9.4.e164.arpa.", RecordType::NAPTR).await, 5);
    commit(
        &mut ledger,
        &regulator(),
        TxBody::AssignRange { prefix: "+493990".parse().unwrap(), holder: op("OPC") },
    );
    assert_eq!(regexp(&server.ask(&outside, RecordType::NAPTR).await), "!^.*$!tel:+49399000001;npdi!");
    assert_nodata(&server.ask("9.9.3.9.4.e164.arpa.", RecordType::NAPTR).await, 6);
    assert_eq!(soa_serial(server.ask("e164.arpa.", RecordType::SOA).await), 6);
    server.assert_alive();
}

/// `dig @127.0.0.1 -p <port> +norecurse +time=3 +tries=1 <args>`: its standard output, once it
/// succeeded.
async fn dig(to: SocketAddr, args: &[&str]) -> String {
    run_client("dig", "+tries=1", to, args).await
}

/// `<program> @127.0.0.1 -p <port> +norecurse +time=3 <once> <args>` (dig or kdig, `once` their
/// spelling of a single try): its standard output, once it succeeded.
async fn run_client(program: &'static str, once: &str, to: SocketAddr, args: &[&str]) -> String {
    let mut all: Vec<String> = ["@127.0.0.1", "-p", &to.port().to_string(), "+norecurse", "+time=3", once]
        .iter()
        .map(|s| s.to_string())
        .collect();
    all.extend(args.iter().map(|s| s.to_string()));
    let run = tokio::task::spawn_blocking(move || {
        std::process::Command::new(program).args(&all).output().unwrap_or_else(|e| {
            panic!("cannot run {program} ({e}); run the tests with scripts/test, which installs it")
        })
    });
    let out = timeout(WAIT * 2, run).await.unwrap().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[tokio::test]
async fn dig_reads_the_naptr() {
    let ledger = ledger();
    let server = Server::start(&ledger, "e164.arpa").await;
    let name = enum_name(PORTED, "e164.arpa");

    let stdout = dig(server.udp, &["+short", &name, "NAPTR"]).await;
    assert_eq!(stdout.trim(), r#"100 10 "u" "E2U+pstn:tel" "!^.*$!tel:+49301000001;npdi;rn=+49D002!" ."#);

    // over TCP, in full: authoritative, NOERROR, TTL 0
    let stdout = dig(server.tcp, &["+tcp", &name, "NAPTR"]).await;
    assert!(stdout.contains("status: NOERROR") && stdout.contains(" aa"), "{stdout}");
    let has_record = |tokens: &[&str]| {
        stdout.lines().any(|line| line.split_whitespace().take(tokens.len()).eq(tokens.iter().copied()))
    };
    assert!(has_record(&[&name, "0", "IN", "NAPTR", "100", "10"]), "{stdout}");

    let stdout = dig(server.udp, &[&enum_name(OUTSIDE, "e164.arpa"), "NAPTR"]).await;
    assert!(stdout.contains("status: NXDOMAIN"), "{stdout}");
    assert!(
        stdout.lines().any(|l| l.split_whitespace().eq([
            "e164.arpa.",
            "300",
            "IN",
            "SOA",
            "ns.npchain.invalid.",
            "hostmaster.e164.arpa.",
            "0",
            "3600",
            "600",
            "86400",
            "300"
        ])),
        "{stdout}"
    );
    server.assert_alive();
}

/// A query of `n` NAPTR questions for 15-digit numbers of OPA's range, as a client would write
/// it that does not compress names (45 bytes a question, so 12 are over 512 bytes), with an
/// OPT record of `edns` bytes if given; and its id.
fn questions(n: usize, edns: Option<u16>) -> (Vec<u8>, u16) {
    let id = next_id();
    let additionals = u16::from(edns.is_some());
    let mut packet = header(id, 0, [u16::try_from(n).unwrap(), 0, 0, additionals]);
    for i in 0..n {
        let name = enum_name(&format!("+49301000000{i:04}"), "e164.arpa");
        for label in name.trim_end_matches('.').split('.') {
            packet.push(u8::try_from(label.len()).unwrap());
            packet.extend_from_slice(label.as_bytes());
        }
        packet.push(0);
        packet.extend_from_slice(&u16::from(RecordType::NAPTR).to_be_bytes());
        packet.extend_from_slice(&1u16.to_be_bytes()); // IN
    }
    if let Some(size) = edns {
        // OPT: root name, type 41, class = UDP size, TTL 0 (version 0), no options
        packet.extend_from_slice(&[0, 0, 41]);
        packet.extend_from_slice(&size.to_be_bytes());
        packet.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    }
    (packet, id)
}

/// The answer to a request that is not one question: FORMERR (RFC 9619 §4), no question
/// echoed, OPT present exactly when the request had one.
fn assert_formerr_without_question(answer: &Message, with_edns: bool) {
    assert_eq!(answer.metadata.response_code, ResponseCode::FormErr, "{answer:?}");
    assert!(answer.queries.is_empty(), "{answer:?}");
    assert!(answer.answers.is_empty() && answer.authorities.is_empty(), "{answer:?}");
    assert_eq!(answer.edns.is_some(), with_edns, "{answer:?}");
}

#[tokio::test]
async fn a_query_of_more_or_fewer_than_one_question_is_formerr() {
    let ledger = ledger();
    let server = Server::start(&ledger, "e164.arpa").await;
    // 12 questions make an echo over 512 bytes: hickory answered SERVFAIL to those. (80
    // questions are 3.6 kB; a longer datagram is cut at hickory's 4,096-byte receive buffer,
    // and is FORMERR as a body that does not parse.)
    for n in [0, 2, 11, 12, 13, 80] {
        for edns in [None, Some(512), Some(1232)] {
            let (bytes, id) = questions(n, edns);
            if edns.is_none() {
                assert_eq!(bytes.len() > 512, n >= 12, "{n} questions: {} bytes", bytes.len());
            }
            let (others, answer) = server.udp_exchange(&[&bytes], id).await;
            assert!(others.is_empty(), "{n} questions: {others:?}");
            assert_formerr_without_question(&answer, edns.is_some());
        }
    }
    // over TCP too, and the connection goes on answering
    let mut stream = TcpStream::connect(server.tcp).await.unwrap();
    let (bytes, id) = questions(13, None);
    tcp_send(&mut stream, &bytes).await;
    let answer = tcp_recv(&mut stream).await;
    assert_eq!(answer.metadata.id, id);
    assert_formerr_without_question(&answer, false);
    tcp_send(&mut stream, &query_bytes(&enum_name(PORTED, "e164.arpa"))).await;
    assert_eq!(regexp(&tcp_recv(&mut stream).await), "!^.*$!tel:+49301000001;npdi;rn=+49D002!");

    // an update of 13 zones: FORMERR (RFC 2136 §3.1.1: one zone); a notify of 13: NOTIMP
    for (op_code, code) in [(OpCode::Update, ResponseCode::FormErr), (OpCode::Notify, ResponseCode::NotImp)] {
        let (mut bytes, id) = questions(13, None);
        bytes[2] |= u8::from(op_code) << 3;
        let (others, answer) = server.udp_exchange(&[&bytes], id).await;
        assert!(others.is_empty(), "{others:?}");
        assert_eq!(answer.metadata.response_code, code, "{op_code:?}: {answer:?}");
        assert!(answer.queries.is_empty(), "{answer:?}");
    }
    let metrics = server.metrics.render();
    assert!(metrics.contains(r#"npchain_queries_total{kind="enum",result="formerr"} 20"#), "{metrics}");
    assert!(!metrics.contains(r#"result="error""#), "{metrics}");
    server.assert_alive();
}

fn query_bytes(name: &str) -> Vec<u8> {
    query(name, RecordType::NAPTR).to_vec().unwrap()
}

/// An origin of 242 characters (the longest that leaves room for `hostmaster.`) and a name
/// server of 253: the apex SOA answer is 560 bytes.
fn long_names() -> EnumConfig {
    let label = |c: char, n: usize| c.to_string().repeat(n);
    let origin = [label('a', 63), label('b', 63), label('c', 63), label('d', 50)].join(".");
    zone(&origin, &[label('w', 63), label('x', 63), label('y', 63), label('z', 61)].join("."))
}

#[tokio::test]
async fn an_answer_too_big_for_the_udp_size_is_truncated() {
    let ledger = ledger();
    let config = long_names();
    let apex = format!("{}.", config.origin);
    let server = Server::start_with(&ledger, config, TcpLimits::default()).await;
    let soa_query = |edns: Option<u16>| {
        let mut m = query(&apex, RecordType::SOA);
        m.edns = edns.map(|size| {
            let mut opt = Edns::new();
            opt.set_max_payload(size);
            opt
        });
        m
    };
    // without EDNS (512 bytes), and with an EDNS size under 512 (read as 512, RFC 6891 §6.2.5)
    for edns in [None, Some(0), Some(300), Some(512)] {
        let query = soa_query(edns);
        let bytes = query.to_vec().unwrap();
        let (others, answer) = server.udp_exchange(&[&bytes], query.metadata.id).await;
        assert!(others.is_empty(), "{others:?}");
        assert!(answer.metadata.truncation, "EDNS {edns:?}: {answer:?}");
        assert_eq!(answer.metadata.response_code, ResponseCode::NoError, "{answer:?}");
        assert_eq!(answer.queries.len(), 1, "the question is echoed: {answer:?}");
        assert!(answer.answers.is_empty(), "{answer:?}");
        assert_eq!(answer.edns.is_some(), edns.is_some(), "{answer:?}");
        assert!(answer.to_vec().unwrap().len() <= 512);
    }
    // room enough: the whole answer
    let full = server.udp(&soa_query(Some(1232))).await;
    assert!(!full.metadata.truncation, "{full:?}");
    assert_eq!(full.answers.len(), 1, "{full:?}");
    assert!(full.to_vec().unwrap().len() > 512);
    // and over TCP, where a truncated client asks again
    let mut stream = TcpStream::connect(server.tcp).await.unwrap();
    tcp_send(&mut stream, &soa_query(None).to_vec().unwrap()).await;
    let answer = tcp_recv(&mut stream).await;
    assert!(!answer.metadata.truncation && answer.answers.len() == 1, "{answer:?}");
    // dig: over UDP only, it shows the flag; left to itself, it asks again over TCP
    let flags = |out: &str| out.lines().find(|l| l.starts_with(";; flags:")).unwrap_or_default().to_owned();
    for edns in ["+noedns", "+bufsize=300", "+bufsize=512"] {
        let out = dig(server.udp, &["+notcp", "+ignore", edns, &apex, "SOA"]).await;
        assert!(flags(&out).contains(" tc"), "{edns}: {out}");
        assert!(out.contains("status: NOERROR") && out.contains("ANSWER: 0"), "{edns}: {out}");
    }
    let out = dig(server.udp, &["+noedns", &apex, "SOA"]).await;
    assert!(out.contains("Truncated, retrying in TCP mode"), "{out}");
    assert!(!flags(&out).contains(" tc") && out.contains("ANSWER: 1"), "{out}");
    let out = dig(server.udp, &["+notcp", "+bufsize=1232", &apex, "SOA"]).await;
    assert!(!flags(&out).contains(" tc") && out.contains("ANSWER: 1"), "{out}");

    let metrics = server.metrics.render();
    assert!(!metrics.contains(r#"result="error""#), "{metrics}");
    server.assert_alive();
}

/// The NAPTR regexp a TCP connection answers for `name`.
async fn ask_tcp(stream: &mut TcpStream, name: &str) -> String {
    tcp_send(stream, &query_bytes(name)).await;
    regexp(&tcp_recv(stream).await)
}

/// Reads from `stream` until it ends: `true` if the server closed it (end of file or reset)
/// within [`WAIT`] without sending anything.
async fn closed_by_server(stream: &mut TcpStream) -> bool {
    let mut byte = [0u8; 1];
    match timeout(WAIT, stream.read(&mut byte)).await {
        Ok(Ok(0)) | Ok(Err(_)) => true,
        Ok(Ok(_)) | Err(_) => false,
    }
}

#[tokio::test]
async fn tcp_connections_beyond_the_cap_are_closed_and_those_within_it_answer() {
    let ledger = ledger();
    let config = zone("e164.arpa", "ns.npchain.invalid");
    let limits = TcpLimits { max_connections: 3, idle_timeout: Duration::from_secs(60) };
    let server = Server::start_with(&ledger, config, limits).await;
    let name = enum_name(PORTED, "e164.arpa");
    // three connections, each answered (so each is being served)
    let mut open = Vec::new();
    for _ in 0..3 {
        let mut stream = TcpStream::connect(server.tcp).await.unwrap();
        assert_eq!(ask_tcp(&mut stream, &name).await, "!^.*$!tel:+49301000001;npdi;rn=+49D002!");
        open.push(stream);
    }
    // more are closed at once, even with a query waiting
    for _ in 0..20 {
        let mut extra = TcpStream::connect(server.tcp).await.unwrap();
        let _ = extra.write_all(&query_bytes(&name)).await;
        assert!(closed_by_server(&mut extra).await, "a connection beyond the cap was served");
    }
    // the three go on answering
    for stream in &mut open {
        assert_eq!(ask_tcp(stream, &name).await, "!^.*$!tel:+49301000001;npdi;rn=+49D002!");
    }
    // once one closes, a new connection is served (when the server has seen it close)
    drop(open.pop());
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let mut stream = TcpStream::connect(server.tcp).await.unwrap();
        tcp_send(&mut stream, &query_bytes(&name)).await;
        let mut len = [0u8; 2];
        if timeout(WAIT, stream.read_exact(&mut len)).await.unwrap().is_ok() {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "no connection served after one closed");
        tokio::task::yield_now().await;
    }
    server.assert_alive();
}

#[tokio::test]
async fn a_tcp_connection_without_a_whole_request_is_closed_at_the_idle_timeout() {
    let ledger = ledger();
    let config = zone("e164.arpa", "ns.npchain.invalid");
    let limits = TcpLimits { max_connections: 4, idle_timeout: Duration::from_millis(200) };
    let server = Server::start_with(&ledger, config, limits).await;
    // silent
    let mut silent = TcpStream::connect(server.tcp).await.unwrap();
    // half a request
    let mut half = TcpStream::connect(server.tcp).await.unwrap();
    let bytes = query_bytes(&enum_name(PORTED, "e164.arpa"));
    let len = u16::try_from(bytes.len()).unwrap().to_be_bytes();
    half.write_all(&[&len[..], &bytes[..bytes.len() / 2]].concat()).await.unwrap();
    // answered once, then silent
    let mut after = TcpStream::connect(server.tcp).await.unwrap();
    tcp_send(&mut after, &bytes).await;
    assert_eq!(regexp(&tcp_recv(&mut after).await), "!^.*$!tel:+49301000001;npdi;rn=+49D002!");
    for stream in [&mut silent, &mut half, &mut after] {
        assert!(closed_by_server(stream).await, "an idle connection stayed open");
    }
    server.assert_alive();
}

/// Counts the events its filter lets through.
struct CountLines(Arc<std::sync::atomic::AtomicUsize>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for CountLines {
    fn on_event(&self, _: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

/// The node's default log filter (`DEFAULT_LOG` of the `npchain` command).
const NODE_LOG_FILTER: &str = "info,hickory_proto=error";

/// What anyone who can reach the DNS port can send, many times over, writes at most a burst of
/// log lines per kind: the 13-question packets of the report (5,000 ERROR lines before), odd
/// opcodes, EDNS versions the server does not speak, and TCP connections beyond the cap.
/// (A `current_thread` runtime: the server's tasks run on this thread, under this subscriber.)
#[tokio::test]
async fn what_a_remote_party_sends_writes_a_bounded_number_of_log_lines() {
    use tracing_subscriber::layer::SubscriberExt as _;
    let lines = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let subscriber = tracing_subscriber::registry()
        .with(tracing_subscriber::EnvFilter::new(NODE_LOG_FILTER))
        .with(CountLines(lines.clone()));
    let _log = tracing::subscriber::set_default(subscriber);

    let ledger = ledger();
    let config = zone("e164.arpa", "ns.npchain.invalid");
    let limits = TcpLimits { max_connections: 1, idle_timeout: Duration::from_secs(60) };
    let server = Server::start_with(&ledger, config, limits).await;
    const PACKETS: usize = 500;
    for _ in 0..PACKETS {
        let (bytes, id) = questions(13, None);
        server.udp_exchange(&[&bytes], id).await;
    }
    let mut odd_opcode = query(&enum_name(PORTED, "e164.arpa"), RecordType::NAPTR);
    odd_opcode.metadata.op_code = OpCode::Notify;
    let mut edns_version = query(&enum_name(PORTED, "e164.arpa"), RecordType::NAPTR);
    let mut opt = Edns::new();
    opt.set_version(1);
    edns_version.edns = Some(opt);
    for mut message in [odd_opcode, edns_version] {
        for _ in 0..PACKETS {
            message.metadata.id = next_id();
            server.udp(&message).await;
        }
    }
    let held = TcpStream::connect(server.tcp).await.unwrap();
    for _ in 0..PACKETS {
        let mut refused = TcpStream::connect(server.tcp).await.unwrap();
        assert!(closed_by_server(&mut refused).await);
    }
    drop(held);
    let lines = lines.load(Ordering::Relaxed);
    assert!(lines <= enum_dns::LOG_BURST as usize, "{lines} log lines");
    server.assert_alive();
}

/// `kdig @127.0.0.1 -p <port> +norecurse +time=3 +retry=0 <args>` (Knot's client): its
/// standard output, once it succeeded.
async fn kdig(to: SocketAddr, args: &[&str]) -> String {
    run_client("kdig", "+retry=0", to, args).await
}

/// The `flags:` of dig's header line (`qr aa rd`), as a sorted list.
fn dig_flags(stdout: &str) -> Vec<String> {
    let line = stdout.lines().find(|l| l.starts_with(";; flags:")).unwrap_or_else(|| panic!("{stdout}"));
    let flags = line.trim_start_matches(";; flags:").split(';').next().unwrap();
    let mut flags: Vec<String> = flags.split_whitespace().map(str::to_owned).collect();
    flags.sort();
    flags
}

/// dig's `; EDNS: version: V, flags: F; udp: N` line.
fn dig_edns(stdout: &str) -> &str {
    stdout.lines().find(|l| l.starts_with("; EDNS:")).unwrap_or_else(|| panic!("no OPT: {stdout}"))
}

/// The records of one section of dig's output (`;; ANSWER SECTION:` …), as whitespace-split tokens.
fn dig_section(stdout: &str, section: &str) -> Vec<Vec<String>> {
    let header = format!(";; {section} SECTION:");
    stdout
        .lines()
        .skip_while(|l| *l != header)
        .skip(1)
        .take_while(|l| !l.is_empty())
        .map(|l| l.split_whitespace().map(str::to_owned).collect())
        .collect()
}

/// RFC 3225 §3 (DO copied), RFC 6891 (our OPT: version 0, 1232; BADVERS for version 1),
/// RFC 1035/4035 header bits (RD and CD copied; only RD for an unknown opcode), REFUSED
/// without AA for another class and outside the zone — asked with dig and kdig.
#[tokio::test]
async fn header_bits_and_edns_follow_the_rfcs_as_dig_and_kdig_see_them() {
    let ledger = ledger();
    let server = Server::start(&ledger, "e164.arpa").await;
    let at = server.udp;

    let out = dig(at, &["e164.arpa", "SOA", "+dnssec"]).await;
    assert_eq!(dig_edns(&out), "; EDNS: version: 0, flags: do; udp: 1232", "{out}");
    let out = dig(at, &["e164.arpa", "SOA", "+nodnssec"]).await;
    assert_eq!(dig_edns(&out), "; EDNS: version: 0, flags:; udp: 1232", "{out}");
    let out = kdig(at, &["e164.arpa", "SOA", "+dnssec"]).await;
    assert!(out.contains("Version: 0; flags: do; UDP size: 1232 B"), "{out}");
    // the client's size is not echoed: ours is advertised
    let out = dig(at, &["e164.arpa", "SOA", "+bufsize=65535"]).await;
    assert!(dig_edns(&out).ends_with("udp: 1232"), "{out}");
    // without EDNS, no OPT
    let out = dig(at, &["e164.arpa", "SOA", "+noedns"]).await;
    assert!(!out.contains("OPT PSEUDOSECTION"), "{out}");
    // an EDNS version we do not speak
    let out = dig(at, &["e164.arpa", "SOA", "+edns=1", "+noednsnegotiation"]).await;
    assert!(out.contains("status: BADVERS") && dig_edns(&out).starts_with("; EDNS: version: 0,"), "{out}");

    // RD and CD are copied into an answer; AA set, RA not
    let name = enum_name(PORTED, "e164.arpa");
    let out = dig(at, &[&name, "NAPTR", "+recurse", "+cdflag"]).await;
    assert_eq!(dig_flags(&out), ["aa", "cd", "qr", "rd"], "{out}");
    let out = dig(at, &[&name, "NAPTR", "+norecurse"]).await;
    assert_eq!(dig_flags(&out), ["aa", "qr"], "{out}");
    // an unknown opcode: NOTIMP, only RD echoed
    let out = dig(at, &["e164.arpa", "SOA", "+opcode=15", "+cdflag", "+recurse"]).await;
    assert!(out.contains("status: NOTIMP"), "{out}");
    assert_eq!(dig_flags(&out), ["qr", "rd"], "{out}");
    // another class inside the zone, and a name outside it: REFUSED, not authoritative
    for args in
        [&["-c", "CH", "-t", "SOA", "e164.arpa"][..], &["example.com", "A"], &["-c", "HS", &name, "NAPTR"]]
    {
        let out = dig(at, args).await;
        assert!(out.contains("status: REFUSED"), "{args:?}: {out}");
        assert_eq!(dig_flags(&out), ["qr"], "{args:?}: {out}");
    }
    let out = kdig(at, &["-c", "CH", "-t", "SOA", "e164.arpa"]).await;
    assert!(out.contains("status: REFUSED") && out.contains("Flags: qr;"), "{out}");
    server.assert_alive();
}

/// The zone's name servers: NS records with glue for those inside the zone (so a resolver that
/// primes the delegation finds them), A/AAAA at their names, the negative TTL on all of them and
/// on negative answers, TTL 0 on numbers.
#[tokio::test]
async fn name_servers_have_glue_and_ttls_follow_the_negative_ttl() {
    let ledger = ledger();
    let config = EnumConfig {
        origin: "e164.arpa".into(),
        ns: vec![
            NsHost {
                name: "ns1.e164.arpa".into(),
                addresses: vec!["127.0.0.1".parse().unwrap(), "::1".parse().unwrap()],
            },
            NsHost { name: "ns2.example.net".into(), addresses: vec![] },
        ],
        negative_ttl: 120,
    };
    let server = Server::start_with(&ledger, config, TcpLimits::default()).await;
    let at = server.udp;

    let out = dig(at, &["e164.arpa", "NS"]).await;
    let answer = dig_section(&out, "ANSWER");
    assert_eq!(
        answer,
        [
            ["e164.arpa.", "120", "IN", "NS", "ns1.e164.arpa."],
            ["e164.arpa.", "120", "IN", "NS", "ns2.example.net."]
        ],
        "{out}"
    );
    let glue = dig_section(&out, "ADDITIONAL");
    assert_eq!(
        glue,
        [["ns1.e164.arpa.", "120", "IN", "A", "127.0.0.1"], ["ns1.e164.arpa.", "120", "IN", "AAAA", "::1"]],
        "{out}"
    );
    for (rtype, address) in [("A", "127.0.0.1"), ("AAAA", "::1")] {
        let out = dig(at, &["ns1.e164.arpa", rtype]).await;
        assert!(out.contains("status: NOERROR") && dig_flags(&out).contains(&"aa".to_owned()), "{out}");
        assert_eq!(dig_section(&out, "ANSWER"), [["ns1.e164.arpa.", "120", "IN", rtype, address]], "{out}");
        let out = kdig(at, &["NS1.E164.ARPA", rtype, "+short"]).await;
        assert_eq!(out.trim(), address, "{out}");
    }
    // the host's other types: NODATA; below it, and other names: NXDOMAIN
    let out = dig(at, &["ns1.e164.arpa", "TXT"]).await;
    assert!(out.contains("status: NOERROR") && dig_section(&out, "ANSWER").is_empty(), "{out}");
    for name in ["x.ns1.e164.arpa", "ns3.e164.arpa", "ns2.example.net.e164.arpa"] {
        let out = dig(at, &[name, "A"]).await;
        assert!(out.contains("status: NXDOMAIN"), "{name}: {out}");
        // RFC 2308 §3: the SOA's TTL bounds the negative caching, its minimum is the TTL
        let soa = dig_section(&out, "AUTHORITY");
        assert_eq!(soa.len(), 1, "{out}");
        assert_eq!(
            (soa[0][1].as_str(), soa[0][3].as_str(), soa[0][4].as_str()),
            ("120", "SOA", "ns1.e164.arpa."),
            "{out}"
        );
        assert_eq!(soa[0].last().unwrap(), "120", "{out}");
    }
    // a number's answer is never cached
    let out = dig(at, &[&enum_name(PORTED, "e164.arpa"), "NAPTR"]).await;
    assert_eq!(dig_section(&out, "ANSWER")[0][1], "0", "{out}");
    // NODATA of a leading-digit name (an empty non-terminal) is cached like any negative answer
    let out = dig(at, &["9.4.e164.arpa", "A"]).await;
    assert!(out.contains("status: NOERROR"), "{out}");
    assert_eq!(dig_section(&out, "AUTHORITY")[0][1], "120", "{out}");
    server.assert_alive();
}

/// Responses (QR=1), malformed or not, are dropped rather than answered (no reflection loops);
/// a malformed query, trailing bytes included, is FORMERR.
#[tokio::test]
async fn responses_are_dropped_and_malformed_queries_are_formerr() {
    let ledger = ledger();
    let server = Server::start(&ledger, "e164.arpa").await;
    let good = query(&enum_name(PORTED, "e164.arpa"), RecordType::NAPTR);
    let mut response = good.clone();
    response.metadata.message_type = MessageType::Response;
    response.metadata.id = next_id();
    let mut garbage_response = header(next_id(), 0x8000, [1, 0, 0, 0]);
    garbage_response.extend_from_slice(&noise(7, 40));
    let (others, answer) = server
        .udp_exchange(
            &[&response.to_vec().unwrap(), &garbage_response, &good.to_vec().unwrap()],
            good.metadata.id,
        )
        .await;
    assert!(others.is_empty(), "a response was answered: {others:?}");
    assert_eq!(regexp(&answer), format!("!^.*$!tel:{PORTED};npdi;rn=+49D002!"));

    // a query with bytes after its question, and one whose question is cut
    let id = next_id();
    let mut trailing = query(&enum_name(PORTED, "e164.arpa"), RecordType::NAPTR);
    trailing.metadata.id = id;
    let mut bytes = trailing.to_vec().unwrap();
    bytes.extend_from_slice(b"tail");
    let (_, answer) = server.udp_exchange(&[&bytes], id).await;
    assert_eq!(answer.metadata.response_code, ResponseCode::FormErr, "{answer:?}");
    assert!(answer.queries.is_empty());
    let id = next_id();
    let mut cut = header(id, 0x0100, [1, 0, 0, 0]);
    cut.extend_from_slice(b"\x011\x014");
    let (_, answer) = server.udp_exchange(&[&cut], id).await;
    assert_eq!(answer.metadata.response_code, ResponseCode::FormErr, "{answer:?}");
    // a question for type OPT (a pseudo-type, RFC 6891 §6.1.1)
    let answer = server.udp(&query("e164.arpa.", RecordType::OPT)).await;
    assert_eq!(answer.metadata.response_code, ResponseCode::FormErr, "{answer:?}");
    server.assert_alive();
}

/// Sends one query over UDP and returns the response's bytes as they came.
async fn udp_raw(server: &Server, query: &[u8]) -> Vec<u8> {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    socket.send_to(query, server.udp).await.unwrap();
    let mut buf = vec![0u8; 65_535];
    let (len, _) = timeout(WAIT, socket.recv_from(&mut buf)).await.expect("UDP answer in time").unwrap();
    buf.truncate(len);
    buf
}

/// The server writes the question as it came and the records with hickory's encoder; the
/// result must be byte for byte what hickory's full encoder makes of the same message (the
/// response decoded and encoded again), compression pointers included.
#[tokio::test]
async fn responses_are_byte_for_byte_hickorys_full_encoding() {
    let ledger = ledger();
    let config = EnumConfig {
        origin: "e164.arpa".into(),
        ns: vec![
            NsHost { name: "ns1.e164.arpa".into(), addresses: vec!["192.0.2.1".parse().unwrap()] },
            NsHost { name: "ns.example.arpa".into(), addresses: vec![] },
        ],
        negative_ttl: 60,
    };
    let server = Server::start_with(&ledger, config, TcpLimits::default()).await;
    let ported = enum_name(PORTED, "e164.arpa");
    let upper = enum_name(PORTED, "E164.ARPA");
    let home = enum_name(HOME, "e164.arpa");
    let outside = enum_name(OUTSIDE, "e164.arpa");
    let asked = [
        (ported.as_str(), RecordType::NAPTR),
        (upper.as_str(), RecordType::NAPTR),
        (home.as_str(), RecordType::ANY),
        (ported.as_str(), RecordType::AAAA),
        (outside.as_str(), RecordType::NAPTR),
        ("9.4.e164.arpa.", RecordType::NAPTR),
        ("e164.arpa.", RecordType::SOA),
        ("e164.arpa.", RecordType::NS),
        ("E164.arpa.", RecordType::ANY),
        ("ns1.e164.arpa.", RecordType::A),
        ("x.ns1.e164.arpa.", RecordType::A),
        ("example.com.", RecordType::A),
    ];
    for (name, rtype) in asked {
        for dnssec in [None, Some(false), Some(true)] {
            let mut q = query(name, rtype);
            if let Some(dnssec_ok) = dnssec {
                let mut edns = Edns::new();
                edns.set_max_payload(4096).set_dnssec_ok(dnssec_ok);
                q.set_edns(edns);
            }
            let ours = udp_raw(&server, &q.to_vec().unwrap()).await;
            let decoded = Message::from_vec(&ours).unwrap();
            assert_eq!(decoded.metadata.id, q.metadata.id);
            assert_eq!(ours, decoded.to_vec().unwrap(), "{name} {rtype} {dnssec:?}: {decoded:?}");
        }
    }
    server.assert_alive();
}

/// Which names are numbers follows the numbering plan: a name shorter than a valid number of its
/// range is an empty non-terminal (NODATA, so a switch doing digit-by-digit lookups gets no
/// route for an incomplete number), one longer than any is NXDOMAIN, and with lengths {12, 14}
/// a 13-digit name is an empty non-terminal too. Asked with dig and kdig.
#[tokio::test]
async fn incomplete_and_overlong_numbers_are_not_numbers() {
    let narrow = ledger_with(Some("12,14"));
    let server = Server::start(&narrow, "e164.arpa").await;
    let at = server.udp;
    let status = |out: &str| {
        out.lines().find_map(|l| l.split("status: ").nth(1)).map(|s| s.split(',').next().unwrap().to_owned())
    };
    for (digits, want) in [
        ("+49150", "NOERROR"),
        ("+4915012345", "NOERROR"),
        ("+491501234567", "NOERROR"),
        ("+4915012345678", "NOERROR"),
        ("+49150123456789", "NOERROR"),
        ("+491501234567890", "NXDOMAIN"),
    ] {
        let name = enum_name(digits, "e164.arpa");
        let out = dig(at, &[&name, "NAPTR"]).await;
        assert_eq!(status(&out).as_deref(), Some(want), "{digits}: {out}");
        let answer = dig_section(&out, "ANSWER");
        let is_number = matches!(digits.len() - 1, 12 | 14);
        assert_eq!(answer.len(), usize::from(is_number), "{digits}: {out}");
        let out = kdig(at, &[&name, "NAPTR"]).await;
        assert!(out.contains(&format!("status: {want}")), "{digits}: {out}");
    }
    // the 13-digit name between the two lengths: no record, but numbers below it
    let out = dig(at, &[&enum_name("+4915012345678", "e164.arpa"), "NAPTR"]).await;
    assert!(dig_section(&out, "ANSWER").is_empty() && out.contains("status: NOERROR"), "{out}");
    let out = dig(at, &["+short", &enum_name("+491501234567", "e164.arpa"), "NAPTR"]).await;
    assert_eq!(out.trim(), r#"100 10 "u" "E2U+pstn:tel" "!^.*$!tel:+491501234567;npdi!" ."#);
    // with the plan's lengths (7 to 15 in Germany) the range's own prefix is an incomplete number
    let plan = ledger();
    let server = Server::start(&plan, "e164.arpa").await;
    let out = dig(server.udp, &["0.5.1.9.4.e164.arpa", "NAPTR"]).await;
    assert_eq!(status(&out).as_deref(), Some("NOERROR"), "{out}");
    assert!(dig_section(&out, "ANSWER").is_empty(), "{out}");
    server.assert_alive();
}
