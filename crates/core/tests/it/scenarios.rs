//! Scenario scripts in `tests/scenarios/*.scn`: one step a line, each with its expected outcome.
//!
//! ```text
//! policy lock_in_secs=7776000 on_donor_silence=deemed-reject   # regulator sets the policy
//! bind OPA +49301000001 alice          => ok     # serving operator binds a subscriber key
//! request alice +49301000001 OPA>OPB as p1 due=2h => ok
//! request-for OPB alice +49301000001 OPA>OPB as p1 => ok   # operator carries the consent
//! release OPA p1 | reject OPA p1 court-order | activate OPB p1 | cancel alice p1
//! return OPB +49301000001 => not-ported
//! genesis blocks_per_epoch=20           # first step only: the test genesis with this epoch length
//! admit OPD +49D004 [key=NAME] [validator=NAME|none] [by SIGNER]  # keys OPD, OPD/validator by default
//! set-validator OPD NAME|none [by SIGNER]  # give, rotate or take away OPD's validator key
//! close-epoch => OPA/validator,OPB/validator  # empty blocks up to the next epoch's last one: the set it records
//! expect validators 1 => OPA/validator,…  # epoch 1's recorded set (names sorted), or none
//! expect pending => OPA/validator,…       # the set the next boundary would record
//! update OPD OPD-2 +49D0D4 | retire OPC    # new operator key (by name) and routing number
//! assign +49304 OPD [lengths=11-12] [by SIGNER] | withdraw +49304 [by SIGNER]  # lengths: tag 16
//! wait 4h                               # moves block time; the next block fires timers
//! wait next-day                         # to the next 00:00 UTC of block time
//! tick                                  # an empty block
//! expect route +49301000001 => OPB ported  # or: OPA home, unknown
//! expect port p1 => activated           # requested, released, released-deemed, rejected:<cause>, …
//! expect open OPA => 0                  # open orders of an operator
//! expect history +49301000001 => 4      # entries in the number's log
//! expect daily OPA donor => 3           # numbers counted today against OPA's donor cap
//! expect range +49304 => OPD            # the holder of exactly this prefix, or none
//! expect lengths +49304 => 11-12        # the lengths of exactly this prefix's numbers
//! ```
//! `policy` also takes `max_ports_per_donor_per_day=N` and `max_ports_per_recipient_per_day=N`.
//! Outcomes are `ok` or a `TxError::code()`.

use crate::harness::{Net, genesis, net, num, op};
use npchain_core::{CapSide, Policy, PortId, PortRequest, PublicKey, Step, TxBody, UtcDay};
use std::collections::HashMap;

fn duration_secs(s: &str) -> u64 {
    let (n, unit) = s.split_at(s.len() - 1);
    let n: u64 = n.parse().unwrap_or_else(|_| panic!("bad duration {s}"));
    n * match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => panic!("bad duration unit in {s}"),
    }
}

/// The signer named by a trailing `by SIGNER` (the regulator without one), and the words
/// before it.
fn by<'a>(words: &'a [&'a str]) -> (String, &'a [&'a str]) {
    match words {
        [rest @ .., "by", signer] => ((*signer).to_owned(), rest),
        rest => ("regulator".to_owned(), rest),
    }
}

fn state_name(step: Step) -> String {
    match step {
        Step::Released { deemed: true } => "released-deemed".into(),
        Step::Rejected(cause) => format!("rejected:{cause}"),
        other => other.to_string(),
    }
}

struct Runner {
    net: Net,
    ports: HashMap<String, PortId>,
    nonce: u64,
    /// The name of every key a step named, to print validator sets by name.
    key_names: HashMap<PublicKey, String>,
}

impl Runner {
    /// The public key of the key called `name`, remembered for [`Runner::names`].
    fn named_key(&mut self, name: &str) -> PublicKey {
        let key = Net::subscriber(name);
        self.key_names.insert(key.clone(), name.to_owned());
        key
    }

    /// A validator set as its keys' names, sorted and comma-separated (`none` if empty).
    fn names(&self, set: &[PublicKey]) -> String {
        let mut names: Vec<&str> = set.iter().map(|k| self.key_names[k].as_str()).collect();
        names.sort();
        if names.is_empty() { "none".into() } else { names.join(",") }
    }

    /// Empty blocks up to and including the next one that closes an epoch; the set it records.
    fn close_epoch(&mut self) -> String {
        loop {
            let outcome = self.net.block_outcome(&[]);
            let closes = (outcome.height + 1).is_multiple_of(self.net.ledger.blocks_per_epoch().get());
            assert_eq!(outcome.next_validators.is_some(), closes, "block {}", outcome.height);
            if let Some(set) = outcome.next_validators {
                let epoch = self.net.ledger.epoch_of(outcome.height) + 1;
                let sets = self.net.ledger.validator_sets().unwrap();
                assert_eq!(
                    sets.last(),
                    Some(&(epoch, set.clone())),
                    "validator_sets() ends with the new set"
                );
                return self.names(&set);
            }
        }
    }

    fn port(&self, name: &str) -> PortId {
        *self.ports.get(name).unwrap_or_else(|| panic!("unknown port name {name}"))
    }

    /// Parses `alice +49…,+49… OPA>OPB [as p1] [due=2h]` into a request and its name.
    fn request(&mut self, words: &[&str]) -> (String, PortRequest, String) {
        let subscriber = words[0].to_owned();
        let mut numbers: Vec<_> = words[1].split(',').map(num).collect();
        numbers.sort();
        let (donor, recipient) = words[2].split_once('>').expect("DONOR>RECIPIENT");
        let mut name = String::new();
        let mut due = self.net.now;
        let mut rest = words[3..].iter();
        while let Some(w) = rest.next() {
            if *w == "as" {
                name = rest.next().expect("name after as").to_string();
            } else if let Some(d) = w.strip_prefix("due=") {
                due = self.net.now.plus_secs(duration_secs(d));
            } else {
                panic!("unexpected {w}");
            }
        }
        self.nonce += 1;
        let request =
            PortRequest { numbers, donor: op(donor), recipient: op(recipient), due, nonce: self.nonce };
        (subscriber, request, name)
    }

    fn step(&mut self, words: &[&str]) -> Option<String> {
        let body_and_signer: Option<(String, TxBody)> = match words[0] {
            "policy" => {
                let mut p = self.net.ledger.policy().clone();
                for kv in &words[1..] {
                    let (k, v) = kv.split_once('=').expect("field=value");
                    let v = || v.parse::<u64>().unwrap();
                    match k {
                        "donor_answer_secs" => p.donor_answer_secs = v(),
                        "activation_window_secs" => p.activation_window_secs = v(),
                        "lock_in_secs" => p.lock_in_secs = v(),
                        "return_quarantine_secs" => p.return_quarantine_secs = v(),
                        "max_due_ahead_secs" => p.max_due_ahead_secs = v(),
                        "max_ports_per_donor_per_day" => {
                            p.max_ports_per_donor_per_day = v().try_into().unwrap()
                        }
                        "max_ports_per_recipient_per_day" => {
                            p.max_ports_per_recipient_per_day = v().try_into().unwrap()
                        }
                        "on_donor_silence" => {
                            p.on_donor_silence = toml::Value::String(kv[k.len() + 1..].into())
                                .try_into()
                                .expect("deemed-release or deemed-reject")
                        }
                        _ => panic!("unknown policy field {k}"),
                    }
                }
                Some(("regulator".into(), TxBody::SetPolicy(p)))
            }
            "bind" => {
                let subscriber = (words[3] != "none").then(|| Net::subscriber(words[3]));
                Some((words[1].into(), TxBody::Bind { number: num(words[2]), subscriber }))
            }
            "request" => {
                let (subscriber, request, name) = self.request(&words[1..]);
                self.ports.insert(name, request.port_id(&Net::subscriber(&subscriber)));
                Some((subscriber, TxBody::RequestPort(request)))
            }
            "request-for" => {
                let (subscriber, request, name) = self.request(&words[2..]);
                let consent_key = crate::harness::key(&subscriber);
                let consent = request.consent(&self.net.ledger.chain_id(), &consent_key);
                self.ports.insert(name, request.port_id(&Net::subscriber(&subscriber)));
                let subscriber = Net::subscriber(&subscriber);
                Some((words[1].into(), TxBody::RequestPortFor { request, subscriber, consent }))
            }
            "release" => Some((words[1].into(), TxBody::Release { port: self.port(words[2]) })),
            "reject" => Some((
                words[1].into(),
                TxBody::Reject { port: self.port(words[2]), reason: words[3].parse().unwrap() },
            )),
            "activate" => Some((words[1].into(), TxBody::Activate { port: self.port(words[2]) })),
            "cancel" => Some((words[1].into(), TxBody::Cancel { port: self.port(words[2]) })),
            "return" => Some((words[1].into(), TxBody::Return { number: num(words[2]) })),
            "retire" => Some(("regulator".into(), TxBody::RetireOperator { id: op(words[1]) })),
            "wait" if words[1] == "next-day" => {
                self.net.now = UtcDay(self.net.now.utc_day().0 + 1).start();
                None
            }
            "admit" => {
                let (signer, rest) = by(&words[3..]);
                let key_name = rest.iter().find_map(|w| w.strip_prefix("key=")).unwrap_or(words[1]);
                let validator = rest.iter().find_map(|w| w.strip_prefix("validator="));
                let validator = match validator {
                    Some("none") => None,
                    Some(name) => Some(self.named_key(name)),
                    None => Some(self.named_key(&format!("{}/validator", words[1]))),
                };
                let body = TxBody::AdmitOperator {
                    id: op(words[1]),
                    name: format!("Operator {}", words[1]),
                    operator_key: Net::subscriber(key_name),
                    validator_key: validator,
                    routing_number: words[2].parse().unwrap(),
                };
                Some((signer, body))
            }
            "set-validator" => {
                let (signer, _) = by(&words[3..]);
                let validator_key = (words[2] != "none").then(|| self.named_key(words[2]));
                Some((signer, TxBody::SetValidator { id: op(words[1]), validator_key }))
            }
            "genesis" => {
                assert_eq!(self.net.ledger.height(), 0, "genesis is the first step");
                let mut g = genesis(Policy::default());
                for kv in &words[1..] {
                    match kv.split_once('=') {
                        Some(("blocks_per_epoch", n)) => g.blocks_per_epoch = n.parse().unwrap(),
                        _ => panic!("genesis blocks_per_epoch=N, not {kv}"),
                    }
                }
                self.net = Net::new(&g);
                None
            }
            "close-epoch" => return Some(self.close_epoch()),
            "update" => Some((
                "regulator".into(),
                TxBody::UpdateOperator {
                    id: op(words[1]),
                    operator_key: Net::subscriber(words[2]),
                    routing_number: words[3].parse().unwrap(),
                },
            )),
            "assign" => {
                let (prefix, holder) = (words[1].parse().unwrap(), op(words[2]));
                let (body, rest) = match words.get(3).and_then(|w| w.strip_prefix("lengths=")) {
                    Some(l) => {
                        let lengths = l.parse().unwrap_or_else(|e| panic!("{e}"));
                        (TxBody::AssignRangeWithLengths { prefix, holder, lengths }, &words[4..])
                    }
                    None => (TxBody::AssignRange { prefix, holder }, &words[3..]),
                };
                Some((by(rest).0, body))
            }
            "withdraw" => {
                Some((by(&words[2..]).0, TxBody::WithdrawRange { prefix: words[1].parse().unwrap() }))
            }
            "wait" => {
                self.net.advance_secs(duration_secs(words[1]));
                None
            }
            "tick" => {
                self.net.block(&[]);
                None
            }
            "expect" => return self.expect(&words[1..]),
            other => panic!("unknown step {other}"),
        };
        let (signer, body) = body_and_signer?;
        let result = self.net.apply(&signer, body);
        Some(match result {
            Ok(()) => "ok".into(),
            Err(e) => e.code().into(),
        })
    }

    fn expect(&mut self, words: &[&str]) -> Option<String> {
        let actual = match words[0] {
            "route" => match self.net.ledger.route(num(words[1])) {
                None => "unknown".into(),
                Some(r) => format!("{} {}", r.serving, if r.ported { "ported" } else { "home" }),
            },
            "port" => {
                let order = self.net.ledger.order(&self.port(words[1])).unwrap().expect("order exists");
                state_name(order.state())
            }
            "open" => self.net.ledger.open_orders(&op(words[1]), 1000).unwrap().len().to_string(),
            "history" => self.net.ledger.number_history(num(words[1])).unwrap().len().to_string(),
            "daily" => {
                let side = match words[2] {
                    "donor" => CapSide::Donor,
                    "recipient" => CapSide::Recipient,
                    other => panic!("daily OPERATOR donor|recipient, not {other}"),
                };
                let day = self.net.now.utc_day();
                self.net.ledger.ports_requested(side, &op(words[1]), day).unwrap().to_string()
            }
            "validators" => {
                let epoch = words[1].parse().unwrap();
                self.net.ledger.validators(epoch).map_or("none".into(), |set| self.names(set))
            }
            "pending" => self.names(&self.net.ledger.pending_validators().unwrap()),
            "range" => {
                let prefix: npchain_core::Prefix = words[1].parse().unwrap();
                let ranges = self.net.ledger.ranges();
                ranges
                    .into_iter()
                    .find(|(p, ..)| *p == prefix)
                    .map_or("none".into(), |(_, h, _)| h.to_string())
            }
            "lengths" => {
                let prefix: npchain_core::Prefix = words[1].parse().unwrap();
                let ranges = self.net.ledger.ranges();
                ranges.into_iter().find(|(p, ..)| *p == prefix).map_or("none".into(), |(.., l)| l.to_string())
            }
            other => panic!("unknown expectation {other}"),
        };
        Some(actual)
    }
}

fn run_script(name: &str, text: &str) {
    let mut runner =
        Runner { net: net(Policy::default()), ports: HashMap::new(), nonce: 0, key_names: HashMap::new() };
    for name in ["OPA/validator", "OPB/validator", "OPC/validator"] {
        runner.named_key(name);
    }
    for (i, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap().trim();
        if line.is_empty() {
            continue;
        }
        let (step, expected) = match line.split_once("=>") {
            Some((s, e)) => (s.trim(), Some(e.trim().to_owned())),
            None => (line, None),
        };
        let words: Vec<&str> = step.split_whitespace().collect();
        let actual = runner.step(&words);
        match (actual, expected) {
            (Some(actual), Some(expected)) => assert_eq!(actual, expected, "{name}:{}: {raw}", i + 1),
            (Some(_), None) => panic!("{name}:{}: a step that has an outcome needs `=> outcome`", i + 1),
            (None, _) => {}
        }
    }
}

#[test]
fn scenario_scripts() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/scenarios");
    let mut files: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    assert!(files.len() >= 10, "expected the scenario files, found {}", files.len());
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        run_script(&path.file_name().unwrap().to_string_lossy(), &text);
    }
}
