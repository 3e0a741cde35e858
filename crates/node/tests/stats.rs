//! The porting statistics (`GET /v1/stats`) against a scenario with known counts, on the
//! in-memory chain (the test plays consensus, with block times it chooses): every reject
//! reason, a deemed release and a deemed reject by the donor's silence (the policy's silence
//! rule changed between them, the timers firing the deadlines), cancels of a requested and of a
//! released order, an expiry, group ports, over two days in two months; by day, by month and
//! per operator; the redb log and a re-delivered block agree with the chain's; and every bad
//! parameter is refused quoting it.

use commonware_codec::Encode;
use commonware_cryptography::{Digestible, Signer};
use npchain_api::{Block, json::Stats};
use npchain_core::{
    Policy, PortRequest, PrivateKey, RejectReason, SilenceRule, Timestamp, Transaction, TxBody,
    types::{PortId, UtcDay},
};
use npchain_node::{
    api::NodeApi,
    chain::{BlockLog, Finalized, MemBlockLog, mempool::Mempool},
    config::HttpLimits,
    service::{Identity, Service},
    stats::histogram::RELATIVE_ERROR,
    storage::RedbBlockLog,
};
use npchain_testkit::{GenesisBuilder, key, op, raw_http::call};
use serde_json::{Value, json};
use std::{net::SocketAddr, sync::Arc};
use support::TestChain;

mod support;

const HOUR: u64 = 3_600_000;

/// `hour` o'clock (UTC) on `date`, plus `min` minutes.
fn at(date: &str, hour: u64, min: u64) -> Timestamp {
    let day: UtcDay = date.parse().unwrap();
    Timestamp(day.start().millis() + hour * HOUR + min * 60_000)
}

/// A chain of OPA, OPB and OPC whose donors answer within an hour, silence releasing.
struct Run {
    chain: TestChain,
    last: Block,
    nonce: u64,
    /// Order by name: its id and the subscriber who requested it.
    orders: Vec<(PortId, PrivateKey)>,
}

impl Run {
    fn new() -> Self {
        let policy = Policy {
            donor_answer_secs: 3600,
            on_donor_silence: SilenceRule::DeemedRelease,
            activation_window_secs: 86_400,
            ..Policy::default()
        };
        let genesis = GenesisBuilder::three_operators("npchain-stats-test").policy(policy).build();
        let chain = support::chain(&genesis, Mempool::default());
        let last = Block::genesis(genesis.genesis_time, chain.chain_id());
        Self { chain, last, nonce: 0, orders: Vec::new() }
    }

    fn finalize(&mut self, time: Timestamp) {
        let block = self.chain.build(&self.last, self.last.digest(), time).unwrap();
        let Finalized::Applied(outcome) = self.chain.finalize(&block, block.digest()).unwrap() else {
            panic!("block {} was applied already", block.height)
        };
        for (id, result) in &outcome.results {
            assert!(result.is_ok(), "transaction {id} at height {}: {result:?}", block.height);
        }
        self.last = block;
    }

    /// A block at `time` (after an empty one, so the ledger's clock and timers are at `time`
    /// before the transactions are signed for it) carrying `txs`, each applied.
    fn block(&mut self, time: Timestamp, txs: Vec<(PrivateKey, TxBody)>) {
        self.finalize(time);
        for (signer, body) in txs {
            self.nonce += 1;
            let tx = Transaction {
                nonce: self.nonce,
                expires_at: Timestamp(time.millis() + 600_000),
                signer: signer.public_key(),
                body,
            };
            self.chain.submit(&tx.sign(&self.chain.chain_id(), &signer).encode()).unwrap();
        }
        if self.chain.mempool_len() > 0 {
            self.finalize(time);
        }
    }

    /// A new subscriber's request of a port of `numbers` (to be bound to it first), named by
    /// its index in `orders`.
    fn order(&mut self, donor: &str, recipient: &str, numbers: &[&str]) -> (PrivateKey, TxBody) {
        let subscriber = key(&format!("subscriber{}", self.orders.len()));
        let numbers: Vec<_> = numbers.iter().map(|n| npchain_testkit::num(n)).collect();
        let request = PortRequest {
            numbers: numbers.clone(),
            donor: op(donor),
            recipient: op(recipient),
            due: Timestamp(0),
            nonce: self.orders.len() as u64,
        };
        self.orders.push((request.port_id(&subscriber.public_key()), subscriber.clone()));
        (subscriber, TxBody::RequestPort(request))
    }

    fn port(&self, order: usize) -> PortId {
        self.orders[order].0
    }
}

fn bind(donor: &str, number: &str, subscriber: &PrivateKey) -> (PrivateKey, TxBody) {
    (
        key(donor),
        TxBody::Bind { number: npchain_testkit::num(number), subscriber: Some(subscriber.public_key()) },
    )
}

/// The scenario; the orders are named o0 … o15 by their index.
fn scenario() -> Run {
    let mut run = Run::new();
    let nov30 = |h, m| at("2026-11-30", h, m);
    let dec1 = |h, m| at("2026-12-01", h, m);
    // (donor, recipient, numbers) of o0 … o15; o7 is a group of two
    let plan: [(&str, &str, &[&str]); 16] = [
        ("OPA", "OPB", &["+49301000000"]),
        ("OPA", "OPB", &["+49301000001"]),
        ("OPA", "OPB", &["+49301000002"]),
        ("OPA", "OPB", &["+49301000003"]),
        ("OPA", "OPB", &["+49301000004"]),
        ("OPA", "OPB", &["+49301000005"]),
        ("OPA", "OPB", &["+49301000006"]),
        ("OPA", "OPB", &["+49301000007", "+49301000008"]),
        ("OPB", "OPA", &["+49302000000"]),
        ("OPA", "OPC", &["+49301000009"]),
        ("OPA", "OPB", &["+49301000010"]),
        ("OPA", "OPC", &["+49301000011"]),
        ("OPC", "OPA", &["+49303000000"]),
        ("OPA", "OPB", &["+49301000012"]),
        ("OPB", "OPC", &["+49302000001"]),
        ("OPA", "OPB", &["+49301000013"]),
    ];
    let requests: Vec<_> = plan.iter().map(|(d, r, n)| run.order(d, r, n)).collect();
    let binds = plan
        .iter()
        .zip(&requests)
        .flat_map(|((donor, _, numbers), (subscriber, _))| numbers.iter().map(|n| bind(donor, n, subscriber)))
        .collect();
    run.block(at("2026-11-29", 12, 0), binds);

    // 30 November: o0 … o11 requested at 08:00
    run.block(nov30(8, 0), requests[..12].to_vec());
    let donor = |order: usize| plan[order].0;
    let mut answers: Vec<_> = RejectReason::ALL
        .iter()
        .enumerate()
        .map(|(o, reason)| (key(donor(o)), TxBody::Reject { port: run.port(o), reason: *reason }))
        .collect();
    for o in [6, 7, 10, 11] {
        answers.push((key(donor(o)), TxBody::Release { port: run.port(o) }));
    }
    answers.push((run.orders[9].1.clone(), TxBody::Cancel { port: run.port(9) }));
    run.block(nov30(8, 30), answers);
    // 09:30: o8's donor (OPB) was silent past 09:00, deemed released; o11 released is cancelled
    run.block(nov30(9, 30), vec![(run.orders[11].1.clone(), TxBody::Cancel { port: run.port(11) })]);
    assert_eq!(state(&run, 8), "released");
    run.block(nov30(10, 0), vec![(key("OPB"), TxBody::Activate { port: run.port(6) })]);
    // from noon the donor's silence rejects; o12 (OPC → OPA) is requested after the change
    let policy = Policy {
        on_donor_silence: SilenceRule::DeemedReject,
        ..run.chain.with_ledger(|l| l.policy().clone())
    };
    run.block(nov30(12, 0), vec![(key("regulator"), TxBody::SetPolicy(policy))]);
    run.block(nov30(12, 1), vec![requests[12].clone()]);
    run.block(nov30(14, 0), vec![(key("OPB"), TxBody::Activate { port: run.port(7) })]);
    assert_eq!(state(&run, 12), "rejected");

    // 1 December: o8 activated 23 h after its request; o10 (released, never activated)
    // expires at its activation deadline (the donor's deadline, 09:00, and a day), fired by the
    // block at 09:00
    run.block(dec1(7, 0), vec![(key("OPA"), TxBody::Activate { port: run.port(8) })]);
    assert_eq!(state(&run, 10), "released");
    run.block(dec1(9, 0), Vec::new());
    assert_eq!(state(&run, 10), "expired");
    run.block(dec1(10, 0), requests[13..].to_vec());
    run.block(
        dec1(10, 30),
        vec![
            (key("OPA"), TxBody::Release { port: run.port(13) }),
            (key("OPB"), TxBody::Reject { port: run.port(14), reason: RejectReason::CourtOrder }),
        ],
    );
    // o15's donor (OPA) is silent past 11:00: deemed rejected at 11:30
    run.block(dec1(11, 30), Vec::new());
    assert_eq!(state(&run, 15), "rejected");
    run.block(dec1(12, 0), vec![(key("OPB"), TxBody::Activate { port: run.port(13) })]);
    run
}

fn state(run: &Run, order: usize) -> String {
    let o = run.chain.with_ledger(|l| l.order(&run.port(order))).unwrap().unwrap();
    npchain_api::json::step_name(o.state()).to_owned()
}

/// Serves the chain's HTTP API on loopback.
fn serve(chain: &TestChain) -> SocketAddr {
    let identity = Identity {
        node_key: key("OPA/validator").public_key(),
        operator_key: None,
        peers: vec![],
        region: None,
    };
    let service = Service::new(chain.clone(), identity, None, Box::new(|_| ()), Box::new(|_| None));
    let api: Arc<dyn NodeApi> = Arc::new(service);
    support::serve(api, HttpLimits::default())
}

fn get(addr: SocketAddr, query: &str) -> (u16, Value) {
    call(addr, "GET", &format!("/v1/stats?{query}"), &[], b"")
}

/// Counts as the API shows them; `activation` the exact durations (ms) of the activations.
fn counts(c: Value, activation: &[u64]) -> (Value, Vec<u64>) {
    (c, activation.to_vec())
}

/// Checks `got` (a row or total) against `want`: every count exactly; the activation times'
/// count exactly, median and p95 within the stated error of the exact nearest-rank values.
fn check(got: &Value, (want, mut durations): (Value, Vec<u64>), what: &str) {
    let mut counts = got.clone();
    let activation = counts.as_object_mut().unwrap().remove("activation_ms").unwrap();
    counts.as_object_mut().unwrap().remove("period");
    let mut expected = json!({
        "requested": 0, "released": 0, "completed": 0, "rejected": {}, "rejected_total": 0,
        "cancelled": 0, "expired": 0, "deemed_released": 0, "deemed_rejected": 0, "numbers_ported": 0
    });
    for (k, v) in want.as_object().unwrap() {
        expected[k] = v.clone();
    }
    assert_eq!(counts, expected, "{what}");
    durations.sort_unstable();
    assert_eq!(activation["count"], durations.len(), "{what}: {activation}");
    for (name, percent) in [("median", 50), ("p95", 95)] {
        if durations.is_empty() {
            assert_eq!(activation[name], Value::Null, "{what}: {activation}");
            continue;
        }
        let rank = (percent * durations.len()).div_ceil(100).max(1);
        let exact = durations[rank - 1] as f64;
        let got = activation[name].as_u64().unwrap() as f64;
        assert!((got - exact).abs() <= exact * RELATIVE_ERROR + 0.5, "{what}: {name} {got}, exact {exact}");
    }
}

fn nov30() -> (Value, Vec<u64>) {
    let rejected: serde_json::Map<String, Value> = RejectReason::ALL
        .iter()
        .map(|r| (r.as_str().to_owned(), json!(1)))
        .chain([("donor-silent".into(), json!(1))])
        .collect();
    counts(
        json!({"requested": 13, "released": 4, "deemed_released": 1, "rejected": rejected, "rejected_total": 7,
               "deemed_rejected": 1, "cancelled": 2, "completed": 2, "numbers_ported": 3}),
        &[2 * HOUR, 6 * HOUR],
    )
}

fn dec1() -> (Value, Vec<u64>) {
    counts(
        json!({"requested": 3, "released": 1, "rejected": {"court-order": 1, "donor-silent": 1},
               "rejected_total": 2, "deemed_rejected": 1, "expired": 1, "completed": 2, "numbers_ported": 2}),
        &[23 * HOUR, 2 * HOUR],
    )
}

fn total() -> (Value, Vec<u64>) {
    let mut rejected: serde_json::Map<String, Value> =
        RejectReason::ALL.iter().map(|r| (r.as_str().to_owned(), json!(1))).collect();
    rejected.insert("court-order".into(), json!(2));
    rejected.insert("donor-silent".into(), json!(2));
    counts(
        json!({"requested": 16, "released": 5, "deemed_released": 1, "rejected": rejected, "rejected_total": 9,
               "deemed_rejected": 2, "cancelled": 2, "expired": 1, "completed": 4, "numbers_ported": 5}),
        &[2 * HOUR, 6 * HOUR, 23 * HOUR, 2 * HOUR],
    )
}

fn empty() -> (Value, Vec<u64>) {
    counts(json!({}), &[])
}

fn pair(donor: &str, recipient: &str, counts: [u64; 6]) -> Value {
    let [requested, completed, rejected_total, cancelled, expired, numbers_ported] = counts;
    json!({"donor": donor, "recipient": recipient, "requested": requested, "completed": completed,
           "rejected_total": rejected_total, "cancelled": cancelled, "expired": expired,
           "numbers_ported": numbers_ported})
}

#[test]
fn the_statistics_count_a_known_scenario_by_day_month_and_operator() {
    let run = scenario();
    let addr = serve(&run.chain);
    let height = run.chain.height();

    let (code, days) = get(addr, "from=2026-11-29&to=2026-12-02&period=day");
    assert_eq!(code, 200, "{days}");
    assert_eq!(
        (days["height"].as_u64(), &days["from"], &days["to"]),
        (Some(height), &json!("2026-11-29"), &json!("2026-12-02"))
    );
    assert_eq!((&days["period"], &days["operator"]), (&json!("day"), &Value::Null));
    let periods: Vec<&str> =
        days["rows"].as_array().unwrap().iter().map(|r| r["period"].as_str().unwrap()).collect();
    assert_eq!(periods, ["2026-11-29", "2026-11-30", "2026-12-01", "2026-12-02"]);
    check(&days["rows"][0], empty(), "29 November (bindings only)");
    check(&days["rows"][1], nov30(), "30 November");
    check(&days["rows"][2], dec1(), "1 December");
    check(&days["rows"][3], empty(), "2 December");
    check(&days["total"], total(), "total by day");
    assert_eq!(
        days["pairs"],
        json!([
            pair("OPA", "OPB", [11, 3, 7, 0, 1, 4]),
            pair("OPA", "OPC", [2, 0, 0, 2, 0, 0]),
            pair("OPB", "OPA", [1, 1, 0, 0, 0, 1]),
            pair("OPB", "OPC", [1, 0, 1, 0, 0, 0]),
            pair("OPC", "OPA", [1, 0, 1, 0, 0, 0]),
        ])
    );
    // the typed shape reads the same answer
    let typed: Stats = serde_json::from_value(days.clone()).unwrap();
    assert_eq!(serde_json::to_value(&typed).unwrap(), days);

    let (code, months) = get(addr, "from=2026-11-01&to=2026-12-31&period=month");
    assert_eq!(code, 200, "{months}");
    let periods: Vec<&str> =
        months["rows"].as_array().unwrap().iter().map(|r| r["period"].as_str().unwrap()).collect();
    assert_eq!(periods, ["2026-11", "2026-12"]);
    check(&months["rows"][0], nov30(), "November");
    check(&months["rows"][1], dec1(), "December");
    check(&months["total"], total(), "total by month");
    assert_eq!(months["pairs"], days["pairs"]);

    // one day of the range only; a range before anything happened
    let (_, one) = get(addr, "from=2026-12-01&to=2026-12-01");
    assert_eq!(one["period"], "day", "day is the default");
    check(&one["total"], dec1(), "1 December alone");
    let (_, before) = get(addr, "from=2025-01-01&to=2025-12-31&period=month");
    assert_eq!(before["rows"].as_array().unwrap().len(), 12);
    check(&before["total"], empty(), "2025");
    assert_eq!(before["pairs"], json!([]));

    // OPC: o9 and o11 (OPA → OPC, cancelled), o12 (OPC → OPA, deemed rejected), o14 (OPB → OPC,
    // rejected by a court order); the operator is read as every interface reads it
    let (code, opc) = get(addr, "from=2026-11-01&to=2026-12-31&period=month&operator=opc");
    assert_eq!(code, 200, "{opc}");
    assert_eq!(opc["operator"], "OPC");
    check(
        &opc["rows"][0],
        counts(
            json!({"requested": 3, "released": 1, "cancelled": 2, "rejected": {"donor-silent": 1},
                      "rejected_total": 1, "deemed_rejected": 1}),
            &[],
        ),
        "OPC in November",
    );
    check(
        &opc["rows"][1],
        counts(json!({"requested": 1, "rejected": {"court-order": 1}, "rejected_total": 1}), &[]),
        "OPC in December",
    );
    assert_eq!(
        opc["pairs"],
        json!([
            pair("OPA", "OPC", [2, 0, 0, 2, 0, 0]),
            pair("OPB", "OPC", [1, 0, 1, 0, 0, 0]),
            pair("OPC", "OPA", [1, 0, 1, 0, 0, 0])
        ])
    );
    // OPB: every order but o9, o11 and o12
    let (_, opb) = get(addr, "from=2026-11-01&to=2026-12-31&operator=OPB");
    check(
        &opb["total"],
        counts(
            json!({"requested": 13, "released": 4, "deemed_released": 1, "completed": 4, "numbers_ported": 5,
                   "rejected": {"outstanding-dues": 1, "lock-in-period": 1, "ownership-change-pending": 1,
                                "contractual-obligation": 1, "court-order": 2, "identity-mismatch": 1,
                                "donor-silent": 1},
                   "rejected_total": 8, "deemed_rejected": 1, "expired": 1}),
            &[2 * HOUR, 6 * HOUR, 23 * HOUR, 2 * HOUR],
        ),
        "OPB",
    );
    let (_, nobody) = get(addr, "from=2026-11-01&to=2026-12-31&operator=OPX");
    check(&nobody["total"], empty(), "an operator with no orders");
}

#[test]
fn every_log_counts_each_block_once_and_alike() {
    let run = scenario();
    let height = run.chain.height();
    let records: Vec<_> = (1..=height).map(|h| run.chain.block(h).unwrap().unwrap()).collect();
    let (from, to) = ("2026-11-01".parse().unwrap(), "2026-12-31".parse().unwrap());
    let want = run.chain.with_log(|l| l.stats(from, to)).unwrap();
    assert!(!want.is_empty());

    // every block delivered twice (a crash between the log and the ledger commit), and the
    // first ones again after later ones: counted once
    let mut mem = MemBlockLog::default();
    let dir = tempfile::tempdir().unwrap();
    let mut redb = RedbBlockLog::open(&dir.path().join("blocks.redb")).unwrap();
    for r in &records {
        for log in [&mut mem as &mut dyn BlockLog, &mut redb] {
            log.put(r).unwrap();
            log.put(r).unwrap();
        }
    }
    for r in &records[..5] {
        mem.put(r).unwrap();
        redb.put(r).unwrap();
    }
    assert_eq!(mem.stats(from, to).unwrap(), want);
    assert_eq!(redb.stats(from, to).unwrap(), want);
    assert_eq!((mem.stats_height().unwrap(), redb.stats_height().unwrap()), (Some(height), Some(height)));
    drop(redb);
    let reopened = RedbBlockLog::open(&dir.path().join("blocks.redb")).unwrap();
    assert_eq!(reopened.stats(from, to).unwrap(), want, "after reopening");
    // a range that holds nothing, and one upside down
    assert!(reopened.stats("2027-01-01".parse().unwrap(), "2027-12-31".parse().unwrap()).unwrap().is_empty());
    assert!(reopened.stats(to, from).unwrap().is_empty());
}

#[test]
fn bad_parameters_are_refused_quoting_them() {
    let run = Run::new();
    let addr = serve(&run.chain);
    let refused = |query: &str, code: &str, quoted: &str| {
        let (status, body) = get(addr, query);
        assert_eq!((status, body["error"].as_str()), (400, Some(code)), "{query}: {body}");
        let message = body["message"].as_str().unwrap();
        assert!(message.contains(quoted), "{query}: {message:?} does not quote {quoted:?}");
    };
    refused("from=2026-11-31&to=2026-12-01", "bad_date", "\"2026-11-31\"");
    refused("from=2026-11-01&to=20261201", "bad_date", "to: \"20261201\"");
    refused("from=yesterday&to=2026-12-01", "bad_date", "from: \"yesterday\"");
    refused("from=2026-11-01&to=2026-12-01&period=week", "bad_period", "\"week\"");
    refused("from=2026-11-01&to=2026-12-01&operator=OP%20A", "bad_operator", "\"OP A\"");
    refused("from=2026-12-01&to=2026-11-01", "bad_range", "from 2026-12-01 is after to 2026-11-01");
    refused("from=2016-01-01&to=2026-12-31", "bad_range", "4018 days; a query covers at most 3660");
    refused("from=2026-11-01", "bad_query", "to");
    refused("from=2026-11-01&to=2026-11-02&limit=5", "bad_query", "limit");
    // the longest range is answered
    let (code, body) = get(addr, "from=2017-01-01&to=2027-01-08&period=month");
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["rows"].as_array().unwrap().len(), 121);
}
