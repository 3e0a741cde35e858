//! The number table (`npchain_testkit::number_table`) typed into the CLI on a real devnet:
//! `npchain query`, `npchain operator bind` and `npchain wallet port`. Each reads every row as
//! the core parser does with the genesis region DE, says so with the parser's message, and after
//! a refusal nothing is pooled, bound or ordered.

mod support;

/// The typed numbers every interface is tested with.
use npchain_testkit::number_table as table;

use npchain_core::{E164, Region};
use serde_json::Value;
use std::{path::Path, time::Duration};
use support::{Net, get, npchain, wait_until};
use table::{NUMBERS, TABLE_REGION, Want};

const LONG: Duration = Duration::from_secs(90);

/// What a refusal may not change: the mempool, the numbers bound to the key, the orders.
#[derive(Debug, PartialEq, Eq)]
struct Stored {
    mempool: u64,
    bound: Vec<String>,
    orders: Vec<String>,
}

fn stored(net: &Net, key: &str) -> Stored {
    let mempool = net.status(0).unwrap()["mempool"].as_u64().unwrap();
    let answer = get(net.url(0), &format!("/v1/keys/{key}/numbers")).unwrap();
    let mut bound: Vec<String> =
        answer["numbers"].as_array().unwrap().iter().map(|r| r["number"].as_str().unwrap().into()).collect();
    bound.sort();
    let list = get(net.url(0), "/v1/ports?limit=1000").unwrap();
    let orders = list["ports"].as_array().unwrap().iter().map(|p| p["id"].as_str().unwrap().into()).collect();
    Stored { mempool, bound, orders }
}

/// Waits until node 0 has nothing pooled (what was accepted is in a block).
fn settle(net: &Net) {
    wait_until(LONG, "an empty mempool", || net.status(0).is_some_and(|s| s["mempool"] == 0));
}

fn lines(path: &Path) -> usize {
    std::fs::read_to_string(path).map_or(0, |t| t.lines().count())
}

/// The refusal the CLI must print for `input`: the parser's own message, as a `bad_number`.
fn refused(out: &str, input: &str, ok: bool, what: &str) {
    let region: Region = TABLE_REGION.parse().unwrap();
    let message = E164::parse(input, Some(region)).unwrap_err().to_string();
    assert!(!ok && out.contains(&message), "{what} {input:?}: wanted {message:?}, got {out}");
}

#[test]
fn the_cli_and_the_wallet_read_the_number_table_as_the_core_does() {
    let mut net = Net::new(2);
    net.start_all();
    wait_until(LONG, "blocks", || (0..2).all(|i| net.height(i).is_some_and(|h| h >= 1)));
    let node = format!("http://{}", net.url(0));
    let token = net.layout.nodes[0].dir.join("admin.token");
    let token = token.to_str().unwrap();
    let genesis = net.layout.dir.join("genesis.toml");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("w");
    let wallet_dir = dir.to_str().unwrap();

    // a wallet, which keeps the genesis region
    let (ok, out) = npchain(&[
        "wallet",
        "--wallet",
        wallet_dir,
        "--node",
        &node,
        "new",
        "--genesis",
        genesis.to_str().unwrap(),
    ]);
    assert!(ok, "{out}");
    let key = out.lines().find_map(|l| l.strip_prefix("public key: ")).unwrap().trim().to_owned();
    let config = std::fs::read_to_string(dir.join("wallet.toml")).unwrap();
    assert!(config.contains("region = \"DE\""), "{config}");
    let bind = |number: &str| {
        npchain(&[
            "operator",
            "--node",
            &node,
            "--token-file",
            token,
            "bind",
            number,
            "--subscriber",
            &key,
            "--wait",
        ])
    };
    // The numbers the vanity rows were once read as are bound to the wallet's key, so a
    // conversion would bind or order them.
    let vanity = ["+4915035693771", "+4915022233344"];
    for n in vanity {
        let (ok, out) = bind(n);
        assert!(ok, "{n}: {out}");
    }
    settle(&net);

    // npchain query: sent as typed; the node reads it
    for (input, want) in NUMBERS {
        let (ok, out) = npchain(&["query", input, "--node", &node]);
        match want {
            Want::Refused(_) => refused(&out, input, ok, "query"),
            Want::Number(n) => assert!(ok && out.contains(&format!("+{n} -> OPA")), "query {input:?}: {out}"),
        }
    }

    // npchain operator bind: nothing signed on a refusal
    for (input, want) in NUMBERS {
        let before = stored(&net, &key);
        let (ok, out) = bind(input);
        match want {
            Want::Refused(_) => {
                refused(&out, input, ok, "bind");
                assert!(!out.contains("accepted"), "bind {input:?}: {out}");
                assert_eq!(stored(&net, &key), before, "bind {input:?} stored something");
            }
            Want::Number(n) => {
                assert!(ok && out.contains("applied at height"), "bind {input:?}: {out}");
                assert!(stored(&net, &key).bound.contains(&format!("+{n}")), "bind {input:?}");
                settle(&net);
            }
        }
    }

    // npchain wallet port: read locally, with the wallet's region; no order on a refusal
    let sent = dir.join("sent.jsonl");
    let port = |numbers: &[&str]| {
        let mut args = vec!["wallet", "--wallet", wallet_dir, "--node", &node, "port", "--to", "OPB"];
        for n in numbers {
            args.extend(["--number", n]);
        }
        npchain(&args)
    };
    let mut ordered = Vec::new();
    for (input, want) in NUMBERS {
        let before = (stored(&net, &key), lines(&sent));
        let (ok, out) = port(&[input]);
        match want {
            Want::Refused(_) => {
                refused(&out, input, ok, "wallet port");
                assert_eq!(
                    (stored(&net, &key), lines(&sent)),
                    before,
                    "wallet port {input:?} stored something"
                );
            }
            Want::Number(n) => {
                assert!(ok && out.contains("requested (1 number(s) to OPB)"), "wallet port {input:?}: {out}");
                let id = out.split_whitespace().nth(1).unwrap().to_owned();
                wait_until(LONG, "the order", || get(net.url(0), &format!("/v1/ports/{id}")).is_some());
                let order = get(net.url(0), &format!("/v1/ports/{id}")).unwrap();
                assert_eq!(order["numbers"], serde_json::json!([format!("+{n}")]), "{input:?}");
                ordered.push(id);
                settle(&net);
            }
        }
    }
    assert_eq!(ordered.len(), NUMBERS.iter().filter(|(_, w)| matches!(w, Want::Number(_))).count());
    // one bad number in a group orders none of it, from the command line or a file
    let before = (stored(&net, &key), lines(&sent));
    let (ok, out) = port(&[vanity[0], "+49150FLOWERS1"]);
    refused(&out, "+49150FLOWERS1", ok, "group");
    let group = tmp.path().join("group.txt");
    std::fs::write(&group, format!("number\n{}\n+49150ABCDEFGH\n", vanity[1])).unwrap();
    let (ok, out) = npchain(&[
        "wallet",
        "--wallet",
        wallet_dir,
        "--node",
        &node,
        "port",
        "--group",
        group.to_str().unwrap(),
        "--to",
        "OPB",
    ]);
    refused(&out, "+49150ABCDEFGH", ok, "group file");
    assert!(out.contains("group.txt line 3: number"), "the line is named: {out}");
    assert_eq!((stored(&net, &key), lines(&sent)), before);
    for n in vanity {
        let list = get(net.url(0), &format!("/v1/ports?number=%2B{}", &n[1..])).unwrap();
        assert_eq!(list["ports"], Value::Array(vec![]), "{n} was never ordered");
    }

    // a wallet without a region reads only the + form, and says why
    std::fs::write(dir.join("wallet.toml"), config.replace("region = \"DE\"\n", "")).unwrap();
    let (ok, out) = port(&["01507000007"]);
    assert!(!ok && out.contains("does not begin with +, and no region is known"), "{out}");
}
