//! The genesis ceremony through the command: `npchain init` writes each operator's public file,
//! `npchain genesis assemble` makes one genesis of them, `npchain genesis verify` checks its
//! fingerprint; every bad input is refused naming its file and entry, with nothing written.
//! Temporary directories only: no node runs.

use npchain_core::{Genesis, Ledger, MemStore, read_ported_csv};
use npchain_testkit::public;
use std::{
    path::{Path, PathBuf},
    process::Command,
};

/// Runs `npchain ARGS`: success, stdout, stderr.
fn npchain(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_npchain")).args(args).output().unwrap();
    (out.status.success(), String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap())
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Three operators' directories, made by `npchain init`, and a ranges file.
struct Ceremony {
    dir: tempfile::TempDir,
}

impl Ceremony {
    fn new() -> Self {
        let c = Self { dir: tempfile::tempdir().unwrap() };
        for (id, rn, port) in [("OPA", "+49D001", 7401), ("OPB", "+49D002", 7402), ("OPC", "+49D003", 7403)] {
            let dir = c.path(id);
            let address = format!("192.0.2.1:{port}");
            let (ok, out, err) = npchain(&[
                "init",
                "--dir",
                s(&dir),
                "--operator",
                id,
                "--name",
                &format!("Operator {id}"),
                "--p2p-address",
                &address,
                "--routing-number",
                rn,
            ]);
            assert!(ok, "{out}{err}");
            assert!(out.contains("public operator file"), "{out}");
        }
        c.write("ranges.csv", "prefix,operator\n+49301,OPA\n+49302,OPB\n030 3,OPC\n");
        c
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.path(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        path
    }

    fn operator_file(&self, id: &str) -> PathBuf {
        self.path(id).join("operator.toml")
    }

    /// `genesis assemble` of the files given (the three operators' by default) into `out`.
    fn assemble(&self, out: &str, operators: &[PathBuf], extra: &[&str]) -> (bool, String, String) {
        let default: Vec<PathBuf> = ["OPA", "OPB", "OPC"].iter().map(|id| self.operator_file(id)).collect();
        let operators = if operators.is_empty() { &default[..] } else { operators };
        let regulator = public("regulator").to_string();
        let out = self.path(out);
        let ranges = self.path("ranges.csv");
        let mut args = vec![
            "genesis",
            "assemble",
            "--ranges",
            s(&ranges),
            "--regulator-key",
            &regulator,
            "--chain-name",
            "de-mnp-test",
            "--genesis-time",
            "1767225600000",
            "--region",
            "DE",
            "--out",
            s(&out),
        ];
        for op in operators {
            args.extend(["--operator", s(op)]);
        }
        args.extend(extra);
        npchain(&args)
    }

    /// Assembles with `extra`, expects a refusal containing `message`, and that nothing was written.
    fn refused(&self, operators: &[PathBuf], extra: &[&str], message: &str) {
        let (ok, out, err) = self.assemble("refused", operators, extra);
        assert!(!ok, "assembled: {out}");
        assert!(err.contains(message), "expected {message:?} in: {err}");
        assert!(!self.path("refused").join("genesis.toml").exists(), "{err}");
    }
}

/// The chain id a node computes from the genesis file (and migration list) written.
fn chain_id_of(genesis: &Path, ported: Option<&Path>) -> String {
    let genesis = Genesis::from_toml(&std::fs::read_to_string(genesis).unwrap()).unwrap();
    let ledger = match ported {
        Some(p) => {
            let entries = read_ported_csv(std::fs::File::open(p).unwrap(), genesis.region);
            Ledger::genesis(MemStore::new(), &genesis, entries)
        }
        None => Ledger::genesis(MemStore::new(), &genesis, std::iter::empty()),
    };
    ledger.unwrap().chain_id().to_string()
}

#[test]
fn assembled_from_init_files_and_verified_by_every_operator() {
    let c = Ceremony::new();
    let file = std::fs::read_to_string(c.operator_file("OPA")).unwrap();
    for field in [
        "id = \"OPA\"",
        "name = \"Operator OPA\"",
        "p2p_address = \"192.0.2.1:7401\"",
        "routing_number = \"+49D001\"",
    ] {
        assert!(file.contains(field), "{field}: {file}");
    }
    // a second init into the same directory changes nothing
    let before = std::fs::read_to_string(c.path("OPA").join("operator.key")).unwrap();
    let (ok, _, err) = npchain(&[
        "init",
        "--dir",
        s(&c.path("OPA")),
        "--operator",
        "OPA",
        "--p2p-address",
        "192.0.2.1:7401",
        "--routing-number",
        "+49D001",
    ]);
    assert!(!ok && err.contains("operator.toml exists; refusing to overwrite it"), "{err}");
    assert_eq!(std::fs::read_to_string(c.path("OPA").join("operator.key")).unwrap(), before);

    let (ok, out, err) = c.assemble("net", &[], &[]);
    assert!(ok, "{out}{err}");
    let fingerprint =
        std::fs::read_to_string(c.path("net").join("genesis.chain-id")).unwrap().trim().to_owned();
    assert!(out.contains(&format!("fingerprint (chain id): {fingerprint}")), "{out}");
    // the fingerprint is the chain id a node computes from the file written
    let genesis = c.path("net").join("genesis.toml");
    assert_eq!(chain_id_of(&genesis, None), fingerprint);
    let g = Genesis::from_toml(&std::fs::read_to_string(&genesis).unwrap()).unwrap();
    let ids: Vec<String> = g.operators.iter().map(|o| o.id.to_string()).collect();
    assert_eq!(ids, ["OPA", "OPB", "OPC"]);
    assert_eq!(
        g.ranges.iter().map(|r| r.prefix.to_string()).collect::<Vec<_>>(),
        ["+49301", "+49302", "+49303"]
    );
    // ranges without lengths get the numbering plan's (DE), written into the file
    assert!(g.ranges.iter().all(|r| r.lengths.to_string() == "7-15"), "{:?}", g.ranges);
    let text = std::fs::read_to_string(&genesis).unwrap();
    assert_eq!(text.matches("lengths = \"7-15\"").count(), 3, "{text}");
    assert_eq!(g.regulator_key, public("regulator"));
    let peers = std::fs::read_to_string(c.path("net").join("peers.toml")).unwrap();
    assert_eq!(peers.matches("[[p2p.peers]]").count(), 3, "{peers}");
    assert!(
        peers.contains(&format!("key = \"{}\"\naddress = \"192.0.2.1:7402\"", g.operators[1].validator_key)),
        "{peers}"
    );

    // every operator checks it
    let (ok, out, err) =
        npchain(&["genesis", "verify", "--genesis", s(&genesis), "--fingerprint", &fingerprint]);
    assert!(ok && out.contains(&format!("fingerprint {fingerprint} matches")), "{out}{err}");
    // another fingerprint, and the right one for a changed file: exit 1, both named
    let other = "ab".repeat(32);
    let (ok, _, err) = npchain(&["genesis", "verify", "--genesis", s(&genesis), "--fingerprint", &other]);
    assert!(!ok, "{err}");
    assert!(
        err.contains(&format!("the fingerprint is {fingerprint}, not {other}"))
            && err.contains("do not start a node"),
        "{err}"
    );
    let changed = c.write(
        "changed.toml",
        &std::fs::read_to_string(&genesis).unwrap().replace("de-mnp-test", "de-mnp-tost"),
    );
    let (ok, _, err) =
        npchain(&["genesis", "verify", "--genesis", s(&changed), "--fingerprint", &fingerprint]);
    assert!(!ok && err.contains(&format!("not {fingerprint}")), "{err}");
    let (ok, _, err) = npchain(&["genesis", "verify", "--genesis", s(&genesis), "--fingerprint", "12ab"]);
    assert!(!ok && err.contains("--fingerprint \"12ab\" is not a chain id (64 hex digits)"), "{err}");
    // assembling again into the same directory overwrites nothing
    let (ok, _, err) = c.assemble("net", &[], &[]);
    assert!(!ok && err.contains("genesis.toml exists; refusing to overwrite it"), "{err}");

    // with a migration list the fingerprint covers it too
    let ported = c.write("ported.csv", "number,operator\n+4930100007,OPB\n030 200008,OPC\n");
    let (ok, out, err) = c.assemble("migrated", &[], &["--ported", s(&ported)]);
    assert!(ok, "{out}{err}");
    let migrated =
        std::fs::read_to_string(c.path("migrated").join("genesis.chain-id")).unwrap().trim().to_owned();
    assert_ne!(migrated, fingerprint);
    let genesis = c.path("migrated").join("genesis.toml");
    assert_eq!(chain_id_of(&genesis, Some(ported.as_path())), migrated);
    let verify = |ported: Option<&Path>| {
        let mut args = vec!["genesis", "verify", "--genesis", s(&genesis), "--fingerprint", &migrated];
        if let Some(p) = ported {
            args.extend(["--ported", s(p)]);
        }
        npchain(&args)
    };
    assert!(verify(Some(ported.as_path())).0);
    let (ok, _, err) = verify(None);
    assert!(!ok && err.contains(&format!("not {migrated}")), "without the list: {err}");
    let other_list = c.write("ported2.csv", "number,operator\n+4930100007,OPC\n030 200008,OPC\n");
    let (ok, _, err) = verify(Some(other_list.as_path()));
    assert!(!ok && err.contains(&format!("{} with {}", genesis.display(), other_list.display())), "{err}");
}

#[test]
fn every_bad_input_is_refused_naming_the_file_and_the_entry() {
    let c = Ceremony::new();
    let [opa, opb, opc] = ["OPA", "OPB", "OPC"].map(|id| c.operator_file(id));
    let text = |p: &Path| std::fs::read_to_string(p).unwrap();
    let line_of = |t: &str, key: &str| t.lines().find(|l| l.starts_with(key)).unwrap().to_owned();

    // operators: an id twice, a key twice, a routing number twice, an address twice
    let again = c.write("again/operator.toml", &text(&opc).replace("id = \"OPC\"", "id = \"OPA\""));
    c.refused(
        &[opa.clone(), opb.clone(), again.clone()],
        &[],
        &format!("{}: operator OPA is already in {}", again.display(), opa.display()),
    );
    let b = text(&opb);
    let copied = c.write(
        "copied/operator.toml",
        &text(&opc).replace(&line_of(&text(&opc), "validator_key"), &line_of(&b, "validator_key")),
    );
    c.refused(
        &[opa.clone(), opb.clone(), copied.clone()],
        &[],
        &format!(
            "{}: validator_key {} is already the validator_key of {}",
            copied.display(),
            line_of(&b, "validator_key").split('"').nth(1).unwrap(),
            opb.display()
        ),
    );
    let rn = c.write("rn/operator.toml", &text(&opc).replace("+49D003", "+49D001"));
    c.refused(
        &[opa.clone(), opb.clone(), rn.clone()],
        &[],
        &format!("{}: routing number +49D001 is already that of {} (OPA)", rn.display(), opa.display()),
    );
    let addr = c.write("addr/operator.toml", &text(&opc).replace("7403", "7401"));
    c.refused(
        &[opa.clone(), opb.clone(), addr.clone()],
        &[],
        &format!("{}: p2p address 192.0.2.1:7401 is already that of {}", addr.display(), opa.display()),
    );
    let bad_key = c.write(
        "badkey/operator.toml",
        &text(&opc).replace(&line_of(&text(&opc), "operator_key"), "operator_key = \"beef\""),
    );
    c.refused(
        &[opa.clone(), opb.clone(), bad_key.clone()],
        &[],
        &format!("{}: field operator_key: ", bad_key.display()),
    );
    let extra = c.write("extra/operator.toml", &format!("{}colour = \"red\"\n", text(&opc)));
    c.refused(&[opa.clone(), opb.clone(), extra.clone()], &[], &format!("{}: ", extra.display()));
    // the regulator's key may be no operator's
    let (ok, _, err) = {
        let mut with_reg = text(&opc);
        with_reg = with_reg.replace(
            &line_of(&with_reg, "operator_key"),
            &format!("operator_key = \"{}\"", public("regulator")),
        );
        let f = c.write("reg/operator.toml", &with_reg);
        c.assemble("refused", &[opa.clone(), opb.clone(), f], &[])
    };
    assert!(!ok && err.contains("is already the regulator key of --regulator-key"), "{err}");

    // ranges: overlapping, unknown holder, twice, malformed; each names its line
    let ranges = |body: &str| {
        c.write("ranges.csv", &format!("prefix,operator\n{body}"));
    };
    let csv = c.path("ranges.csv");
    let all = [opa.clone(), opb.clone(), opc.clone()];
    ranges("+4930,OPA\n+49302,OPB\n");
    c.refused(
        &all,
        &[],
        &format!("{} line 3: range +49302 lies inside range +4930 of line 2 (OPA)", csv.display()),
    );
    ranges("+493021,OPB\n+49302,OPA\n");
    c.refused(
        &all,
        &[],
        &format!("{} line 2: range +493021 lies inside range +49302 of line 3 (OPA)", csv.display()),
    );
    ranges("+49301,OPA\n+49309,OPX\n");
    c.refused(
        &all,
        &[],
        &format!(
            "{} line 3: range +49309 is assigned to OPX, which is in none of the operator files",
            csv.display()
        ),
    );
    ranges("+49301,OPA\n+49302,OPB\n030 1,OPC\n");
    c.refused(&all, &[], &format!("{} line 4: range +49301 is already on line 2", csv.display()));
    ranges("+49301,OPA\n+4930x,OPB\n");
    c.refused(&all, &[], &format!("{} line 3: ", csv.display()));
    ranges("+49301,OPA,extra\n");
    c.refused(
        &all,
        &[],
        &format!(
            "{} line 2: expected the header's fields (prefix,operator[,lengths]), found 3",
            csv.display()
        ),
    );
    // a lengths column: given lengths are checked against the prefix, named by line
    c.write("ranges.csv", "prefix,operator,lengths\n+49301,OPA,11-12\n+4930212345,OPB,8-12\n");
    c.refused(
        &all,
        &[],
        &format!(
            "{} line 3: range +4930212345: lengths 8-12 are not all possible; its numbers may have 11-15 digits",
            csv.display()
        ),
    );
    c.write("ranges.csv", "prefix,operator,lengths\n+49301,OPA,11-99\n");
    c.refused(
        &all,
        &[],
        &format!("{} line 2: lengths \"11-99\": a length is outside 7 to 15", csv.display()),
    );
    c.write("ranges.csv", "range,holder\n+49301,OPA\n");
    c.refused(
        &all,
        &[],
        &format!(
            "{} line 1: the header must be prefix,operator[,lengths]; found \"range,holder\"",
            csv.display()
        ),
    );
    ranges("+49301,OPA\n+49302,OPB\n");

    // a policy value out of bounds, a migration list naming an unknown operator
    let policy = c.write(
        "policy.toml",
        "donor_answer_secs = 0\non_donor_silence = \"deemed-release\"\nactivation_window_secs = 86400\nmax_due_ahead_secs = 86400\nlock_in_secs = 0\nreturn_quarantine_secs = 0\ntx_ttl_max_secs = 3600\n",
    );
    c.refused(
        &all,
        &["--policy", s(&policy)],
        &format!("{}: policy field donor_answer_secs = 0 is outside", policy.display()),
    );
    let ported = c.write("ported.csv", "number,operator\n+4930100007,OPB\n+4930200008,OPZ\n");
    c.refused(
        &all,
        &["--ported", s(&ported)],
        &format!(
            "{}: migration list line 3: operator OPZ is not an operator of the genesis",
            ported.display()
        ),
    );
    c.refused(&all, &["--ported", s(&c.path("none.csv"))], &format!("{}: ", c.path("none.csv").display()));
    // and the same inputs, corrected, assemble
    let (ok, out, err) = c.assemble("fixed", &all, &[]);
    assert!(ok, "{out}{err}");
}
