//! `npchain wallet`: the subscriber's wallet (`npchain_client::wallet`) on the command line:
//! make one, show its numbers and orders, request a port or sign a consent for the recipient to
//! request it, follow and cancel an order, watch its numbers for ports it did not ask for, and
//! verify the local ledger offline. With `--json` each prints one JSON document.

use super::{DEFAULT_NODE, print_json};
use crate::error::CliError;
use clap::Subcommand;
use npchain_cli::progress::Progress;
use npchain_client::{
    human,
    wallet::{Followed, Wallet, WalletError, Watched, describe_state},
};
use npchain_core::{E164, OperatorId, PortId, RejectCause, Timestamp};
use serde_json::json;
use std::{
    path::PathBuf,
    process::ExitCode,
    sync::atomic::{AtomicBool, Ordering},
    time::Duration,
};

/// The wallet directory when `--wallet` is not given.
const DEFAULT_WALLET: &str = "wallet";

#[derive(clap::Args)]
pub struct Args {
    /// The wallet directory.
    #[arg(long, default_value = DEFAULT_WALLET, global = true)]
    wallet: PathBuf,
    /// Node API URLs to use instead of the wallet's own list, tried in order.
    #[arg(long = "node", global = true)]
    nodes: Vec<String>,
    /// File holding the key's passphrase (or set NPCHAIN_PASSPHRASE).
    #[arg(long, global = true)]
    passphrase_file: Option<PathBuf>,
    /// Print the result as one JSON document, for scripts.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    action: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Make a new key, trusting the validators of GENESIS; encrypted if a passphrase is given.
    New {
        #[arg(long)]
        genesis: PathBuf,
    },
    /// The wallet's public key, its nodes, the numbers bound to it with their routes, and
    /// every order of the key or its numbers (an operator's among them), each verified into
    /// the local ledger.
    Show,
    /// Request a port of numbers bound to this key to another operator.
    Port {
        #[command(flatten)]
        order: Order,
        /// Skip the node's check on the committed state: the ledger then refuses the request
        /// in its block, if at all (`follow` shows it).
        #[arg(long)]
        no_precheck: bool,
    },
    /// Sign your consent for the recipient operator to request the port for you (nothing is
    /// submitted): writes the consent file and prints its one-line form, either of which you
    /// hand to the recipient (`npchain operator request-for --consent …`).
    Consent {
        #[command(flatten)]
        order: Order,
        /// Until when the recipient may submit it: +30m, +2h, +7d from now, or Unix milliseconds.
        #[arg(long, default_value = "+7d")]
        expires: String,
        /// The consent file to write (never over an existing one) [default: consent-<port>.json].
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Follow an order until it is finished (activated, rejected, cancelled or expired),
    /// writing each committed step, verified, to the local ledger. Ctrl-C stops it (exit
    /// code 130); what is recorded stays.
    Follow {
        port: String,
        /// Give up after this many seconds [default: once the order is past its activation
        /// deadline, by when the ledger has finished it, plus 10 minutes].
        #[arg(long)]
        timeout: Option<u64>,
    },
    /// Watch the wallet's numbers over a node's event stream and alert at once on every step
    /// of an order that touches them (requested, released, rejected, activated, cancelled,
    /// expired), sent by this wallet or not; a request it did not send comes with the
    /// `wallet cancel` command to paste. Each alert is then proven (block and certificate) and
    /// says whether it was. Alerts on stdout (`--json`: one JSON object a line), the stream's
    /// state on stderr; the next node is tried when a stream drops. Ctrl-C stops it (exit
    /// code 130).
    Watch {
        /// The first height to alert on [default: the block after the committed one].
        #[arg(long)]
        from_height: Option<u64>,
    },
    /// Cancel an order before activation.
    Cancel {
        port: String,
        /// Skip the node's check on the committed state (to cancel a request still in no
        /// block): the ledger then refuses the cancel in its block, if at all.
        #[arg(long)]
        no_precheck: bool,
    },
    /// Check the whole local ledger offline: each entry against the validators of its epoch,
    /// each epoch's set learned from the genesis set through the boundary blocks it finalized.
    Verify,
}

/// Set by Ctrl-C (or SIGTERM) while `wallet follow` waits.
static STOP: AtomicBool = AtomicBool::new(false);

pub fn run(args: Args) -> Result<ExitCode, CliError> {
    let json = args.json;
    run_verb(args).inspect_err(|e| {
        // A refusal: one format on stderr; for scripts also as JSON on stdout.
        if let (true, CliError::Wallet(e)) = (json, e)
            && let Some(refusal) = e.refusal()
        {
            print_json(&json!({ "refused": refusal }));
        }
    })
}

fn run_verb(args: Args) -> Result<ExitCode, CliError> {
    let passphrase = match (&args.passphrase_file, std::env::var("NPCHAIN_PASSPHRASE")) {
        (Some(path), _) => {
            Some(std::fs::read_to_string(path).map_err(CliError::file(path))?.trim_end().to_owned())
        }
        (None, Ok(p)) => Some(p),
        (None, Err(_)) => None,
    };
    let nodes = &args.nodes;
    let json = args.json;
    if let Command::New { genesis } = &args.action {
        let text = std::fs::read_to_string(genesis).map_err(CliError::file(genesis))?;
        let genesis = npchain_core::Genesis::from_toml(&text)
            .map_err(|source| CliError::Genesis { path: genesis.display().to_string(), source })?;
        let nodes = if nodes.is_empty() { vec![DEFAULT_NODE.to_owned()] } else { nodes.clone() };
        let w = Wallet::create(&args.wallet, &genesis, nodes, passphrase.as_deref())?;
        let key = commonware_formatting::hex(w.public_key().as_ref());
        if json {
            print_json(&json!({ "wallet": args.wallet.display().to_string(), "public_key": key }));
        } else {
            println!("wallet {} created", args.wallet.display());
            println!("public key: {key}");
            println!("give the public key to your operator to bind it to your number");
        }
        return Ok(ExitCode::SUCCESS);
    }
    let w = Wallet::open(&args.wallet, passphrase.as_deref())?;
    match &args.action {
        Command::New { .. } => unreachable!("handled above"),
        Command::Show => return show(&w, nodes, json),
        Command::Port { order, no_precheck } => port(&args, &w, order, *no_precheck)?,
        Command::Consent { order, expires, out } => consent(&args, &w, order, expires, out.as_ref())?,
        Command::Follow { port, timeout } => follow(&w, nodes, &port_id(port)?, *timeout, json)?,
        Command::Watch { from_height } => return watch(&args, &w, *from_height),
        Command::Cancel { port, no_precheck } => {
            let id = w.cancel(nodes, &port_id(port)?, !no_precheck)?;
            if json {
                print_json(&json!({ "port": port, "tx": id }));
            } else {
                println!("cancel sent as transaction {id}");
            }
        }
        Command::Verify => {
            let n = w.verify()?;
            let epochs = w.known_epochs();
            if json {
                print_json(&json!({ "entries": n, "epochs": epochs }));
            } else {
                println!(
                    "local ledger verified: {n} entries, each finalized by a quorum of the validators of its \
                     epoch ({epochs} epoch(s) known, each set learned from the genesis's through the blocks \
                     the set before it finalized)"
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn port_id(text: &str) -> Result<PortId, CliError> {
    text.parse().map_err(|_| CliError::PortId(text.to_owned()))
}

/// `wallet show`: fails (exit code 1, after printing everything) if an order could not be
/// brought up to date; an order refused in its block, or in none yet, is shown as such.
fn show(w: &Wallet, nodes: &[String], json: bool) -> Result<ExitCode, CliError> {
    let key = commonware_formatting::hex(w.public_key().as_ref());
    let numbers = w.client(nodes).bound_numbers(&key).map_err(WalletError::from)?;
    let sent: Vec<String> = w.sent()?.into_iter().filter(|s| s.kind == "request").map(|s| s.port).collect();
    let consents = w.consents()?;
    // an order of a consent this wallet signed that no node shows yet
    let given = |id: &PortId, e: &WalletError| {
        matches!(e, WalletError::NotInABlock { .. })
            .then(|| consents.iter().find(|g| g.port == id.to_string()))
            .flatten()
    };
    let mut orders = Vec::new();
    let mut failed = false;
    for id in w.discover(nodes)? {
        let by_wallet = sent.contains(&id.to_string());
        let shown = match w.sync(nodes, &id) {
            Ok(o) => Ok(o),
            // facts about the order, not failures of this command
            Err(e @ (WalletError::Ledger(_) | WalletError::NotInABlock { .. })) => Err(e),
            Err(e) => {
                failed = true;
                Err(e)
            }
        };
        orders.push((id, by_wallet, shown));
    }
    if json {
        let orders: Vec<serde_json::Value> = orders
            .iter()
            .map(|(id, by_wallet, shown)| match shown {
                Ok(o) => json!({
                    "id": id.to_string(),
                    "state": o.info.state,
                    "reason": cause_json(o.cause.as_ref()),
                    "open": o.info.open,
                    "numbers": o.info.numbers,
                    "donor": o.info.donor,
                    "recipient": o.info.recipient,
                    "initiator": o.info.initiator,
                    "sent_by_wallet": by_wallet,
                    "verified_steps": o.verified_steps,
                }),
                Err(e) if given(id, e).is_some() => {
                    let g = given(id, e).expect("checked");
                    json!({
                        "id": id.to_string(),
                        "sent_by_wallet": false,
                        "consent": { "recipient": g.recipient, "expires_at_ms": g.expires_at_ms },
                    })
                }
                Err(e) => match e.refusal() {
                    Some(r) => json!({ "id": id.to_string(), "sent_by_wallet": by_wallet, "refused": r }),
                    None => {
                        json!({ "id": id.to_string(), "sent_by_wallet": by_wallet, "error": e.to_string() })
                    }
                },
            })
            .collect();
        print_json(&json!({
            "public_key": key,
            "nodes": w.config().nodes,
            "chain_id": w.config().chain_id,
            "validators": w.config().validators.len(),
            "numbers": numbers,
            "orders": orders,
        }));
    } else {
        println!("public key: {key}");
        println!("nodes: {}", w.config().nodes.join(" "));
        println!("trusts {} validators; chain {}", w.config().validators.len(), w.config().chain_id);
        for r in &numbers {
            let open = r.open_port.as_ref().map(|p| format!(", open order {p}")).unwrap_or_default();
            println!("number {} served by {} (rn {}){open}", r.number, r.serving, r.routing_number);
        }
        for (id, by_wallet, shown) in &orders {
            match shown {
                Ok(o) => {
                    let by = if *by_wallet {
                        "sent by this wallet".to_owned()
                    } else if o.info.initiator == "recipient" {
                        format!("requested by the recipient {}", o.info.recipient)
                    } else {
                        "not sent by this wallet".to_owned()
                    };
                    println!(
                        "order {id}: {} ({} -> {}) {}; {by}; {} step(s) verified",
                        describe_state(&o.info.state, o.cause.as_ref()),
                        o.info.donor,
                        o.info.recipient,
                        o.info.numbers.join(","),
                        o.verified_steps
                    );
                }
                Err(e) => match given(id, e) {
                    Some(g) => println!(
                        "order {id}: consent given to {}, not submitted yet; valid until {} ms",
                        g.recipient, g.expires_at_ms
                    ),
                    None => println!("order {id}: {e}"),
                },
            }
        }
    }
    Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

/// The numbers typed and a group file's lines, every one read before anything is signed, so
/// one bad number orders (or consents to) nothing.
/// What a port order names, for `port` and for `consent`.
#[derive(clap::Args)]
pub struct Order {
    /// The number (repeat for a group port: all or none); national forms are read with the
    /// region of the wallet's genesis.
    #[arg(long = "number", required_unless_present = "group", allow_hyphen_values = true)]
    numbers: Vec<String>,
    /// A file of numbers, one per line as typed (an enterprise's group port; blank lines and
    /// a `number` header are skipped).
    #[arg(long)]
    group: Option<PathBuf>,
    /// The recipient operator.
    #[arg(long)]
    to: String,
    /// Earliest activation: +30m, +2h, +1d from now, or Unix milliseconds (default: now).
    #[arg(long)]
    due: Option<String>,
}

impl Order {
    /// The numbers, the recipient and the earliest activation (`now` for relative times).
    fn read(&self, w: &Wallet, now: u64) -> Result<(Vec<E164>, OperatorId, Timestamp), CliError> {
        let numbers = read_numbers(w, &self.numbers, self.group.as_ref())?;
        let to: OperatorId = self.to.parse().map_err(CliError::Operator)?;
        let due = self.due.as_deref().map(|d| parse_due(d, now)).transpose()?.unwrap_or(0);
        Ok((numbers, to, Timestamp(due)))
    }
}

fn read_numbers(w: &Wallet, numbers: &[String], group: Option<&PathBuf>) -> Result<Vec<E164>, CliError> {
    let mut numbers =
        numbers.iter().map(|n| w.parse_number(n).map_err(CliError::Number)).collect::<Result<Vec<_>, _>>()?;
    if let Some(path) = group {
        let text = std::fs::read_to_string(path).map_err(CliError::file(path))?;
        // Each line as typed (the number grammar refuses stray spaces, naming them).
        for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.is_empty() && *l != "number") {
            numbers.push(w.parse_number(line).map_err(|source| CliError::GroupNumber {
                path: path.display().to_string(),
                line: i + 1,
                source,
            })?);
        }
    }
    Ok(numbers)
}

fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// `wallet port`.
fn port(args: &Args, w: &Wallet, order: &Order, no_precheck: bool) -> Result<(), CliError> {
    let (numbers, to, due) = order.read(w, now_ms())?;
    let port = w.request_port(&args.nodes, &numbers, &to, due, !no_precheck)?;
    let follow = follow_command(args, &port.to_string());
    if args.json {
        print_json(&json!({
            "port": port.to_string(),
            "numbers": numbers.len(),
            "to": to.to_string(),
            "follow": follow,
        }));
    } else {
        println!("port {port} requested ({} number(s) to {to}); follow it with:", numbers.len());
        println!("  {follow}");
    }
    Ok(())
}

/// `wallet consent`: signs, writes the file, prints the one-line form and how to follow.
fn consent(
    args: &Args,
    w: &Wallet,
    order: &Order,
    expires: &str,
    out: Option<&PathBuf>,
) -> Result<(), CliError> {
    let now = now_ms();
    let (numbers, to, due) = order.read(w, now)?;
    let expires_at = parse_due(expires, now)
        .ok()
        .filter(|&t| t > now)
        .ok_or_else(|| CliError::Expires(expires.to_owned()))?;
    if let Some(path) = out.filter(|p| p.exists()) {
        return Err(CliError::Exists(path.display().to_string()));
    }
    let consent = w.consent(&args.nodes, &numbers, &to, due, Timestamp(expires_at))?;
    let port = consent.port_id().to_string();
    let path = out.cloned().unwrap_or_else(|| PathBuf::from(format!("consent-{port}.json")));
    w.write_consent(&path, &consent)?;
    let text = consent.to_text();
    let follow = follow_command(args, &port);
    if args.json {
        print_json(&json!({
            "port": port,
            "file": path.display().to_string(),
            "consent": text,
            "recipient": to.to_string(),
            "expires_at_ms": expires_at,
            "follow": follow,
        }));
    } else {
        println!(
            "consent to port {} number(s) from {} to {to} signed; the order will be {port}",
            consent.request.numbers.len(),
            consent.request.donor
        );
        println!(
            "valid for {} (until {expires_at} ms); written to {}",
            human(Duration::from_millis(expires_at - now)),
            path.display()
        );
        println!("hand {to} the file or this line:");
        println!("{text}");
        println!("once {to} has submitted it, follow it with:");
        println!("  {follow}");
    }
    Ok(())
}

/// `wallet follow`: the steps as they are verified on stdout, what it waits for on stderr;
/// Ctrl-C stops it with what is recorded kept.
fn follow(
    w: &Wallet,
    nodes: &[String],
    port: &PortId,
    timeout: Option<u64>,
    json: bool,
) -> Result<(), CliError> {
    crate::on_ctrl_c(|| STOP.store(true, Ordering::Relaxed))?;
    let limit = timeout.map(Duration::from_secs);
    let source = |default: &str| if limit.is_some() { "--timeout".to_owned() } else { default.to_owned() };
    let mut progress = Progress::stderr(Duration::from_secs(60));
    let finished = w.follow(nodes, port, limit, &STOP, |event| match event {
        Followed::Pending { limit } => {
            progress.clear();
            eprintln!(
                "order {port}: the request is in no block yet; waiting for it, then following the \
                 order until it is finished; giving up after {} ({}); Ctrl-C stops",
                human(limit),
                source("when the request expires, plus 10 min")
            );
        }
        Followed::Watching { state, limit } => {
            progress.clear();
            eprintln!(
                "following order {port} ({state}) until it is activated, rejected, cancelled or \
                 expired; giving up after {} ({}); Ctrl-C stops",
                human(limit),
                source("its activation deadline, plus 10 min")
            );
        }
        Followed::Step(e) => {
            progress.clear();
            if !json {
                println!(
                    "height {:>6}  {:<10} verified: a quorum of validators finalized it",
                    e.height,
                    describe_state(&e.step, e.cause().as_ref())
                );
            }
        }
        Followed::Waiting { state, elapsed } => {
            progress.update(&format!("  order {state}, waiting {}", human(elapsed)));
        }
    });
    progress.clear();
    let finished = finished?;
    if json {
        let steps: Vec<serde_json::Value> = w
            .entries()?
            .into_iter()
            .filter(|e| e.port == port.to_string())
            .map(|e| json!({ "step": e.step, "height": e.height, "reason": cause_json(e.cause().as_ref()) }))
            .collect();
        print_json(&json!({
            "port": port.to_string(),
            "state": finished.state,
            "reason": cause_json(finished.cause.as_ref()),
            "steps": steps,
        }));
    } else {
        println!("order {port} finished: {}", describe_state(&finished.state, finished.cause.as_ref()));
    }
    Ok(())
}

/// `wallet watch`: alerts on stdout as they come, the stream's state on stderr; Ctrl-C stops
/// it with exit code 130.
fn watch(args: &Args, w: &Wallet, from_height: Option<u64>) -> Result<ExitCode, CliError> {
    crate::on_ctrl_c(|| STOP.store(true, Ordering::Relaxed))?;
    let mut alerts = 0usize;
    w.watch(&args.nodes, from_height, &STOP, |event| match event {
        Watched::Numbers(numbers) => eprintln!("watching {}", numbers.join(" ")),
        Watched::Streaming { node, from } => {
            eprintln!("streaming the events of {node} from {from}; Ctrl-C stops")
        }
        Watched::Lost { node, error, retry_in } => {
            eprintln!("the stream of {node} failed: {error}; the next node in {}", human(retry_in))
        }
        Watched::Alert(a) => {
            alerts += 1;
            let cancel = (a.step == "requested" && !a.sent_by_wallet)
                .then(|| wallet_command(args, &["cancel", a.port.as_str()], false));
            if args.json {
                let mut doc = serde_json::to_value(a).unwrap_or_default();
                doc["cancel"] = json!(cancel);
                println!("{doc}");
                return;
            }
            let by = if a.sent_by_wallet {
                "sent by this wallet"
            } else if a.consented {
                "requested by the recipient with this wallet's consent"
            } else {
                "NOT sent by this wallet"
            };
            let step = match (&a.reason, a.deemed) {
                (Some(r), _) => format!("{} ({r})", a.step),
                (None, true) => format!("{} (deemed)", a.step),
                (None, false) => a.step.clone(),
            };
            let proof = match &a.proof_error {
                None => "proven: a quorum of validators finalized it".to_owned(),
                Some(e) => format!("NOT proven ({e}): the node's word only"),
            };
            println!(
                "ALERT order {} {step}: {} from {} to {}; {by}; height {} (event {}); {proof}",
                a.port,
                a.watched.join(","),
                a.donor,
                a.recipient,
                a.height,
                a.event_id
            );
            if let Some(c) = &cancel {
                println!("  cancel it with: {c}");
            }
        }
    })?;
    eprintln!("stopped watching; {alerts} alert(s)");
    Ok(ExitCode::from(130))
}

/// `+30m`, `+2h`, `+1d`, `+90s` from `now_ms`, or Unix milliseconds.
fn parse_due(text: &str, now_ms: u64) -> Result<u64, CliError> {
    let bad = || CliError::Due(text.to_owned());
    let Some(relative) = text.strip_prefix('+') else { return text.parse().map_err(|_| bad()) };
    let (n, unit) = relative.split_at(relative.len().saturating_sub(1));
    let n: u64 = n.parse().map_err(|_| bad())?;
    let secs = match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        _ => return Err(bad()),
    };
    Ok(now_ms + secs * 1000)
}

/// A rejection's cause as JSON: its code and what it means.
fn cause_json(cause: Option<&RejectCause>) -> serde_json::Value {
    cause.map_or(serde_json::Value::Null, |c| json!({ "code": c.to_string(), "text": c.description() }))
}

/// The `wallet follow` command for `port` that works when pasted.
fn follow_command(args: &Args, port: &str) -> String {
    wallet_command(args, &["follow", port], true)
}

/// A `wallet` command that works when pasted: this program as it was started, and the global
/// options given to this one (the wallet directory, unless it is the default and
/// `always_wallet` is false; nodes; passphrase file), then `verb`, shell-quoted.
fn wallet_command(args: &Args, verb: &[&str], always_wallet: bool) -> String {
    let program = std::env::args().next().unwrap_or_else(|| "npchain".into());
    let mut words = vec![program, "wallet".into()];
    if always_wallet || args.wallet != std::path::Path::new(DEFAULT_WALLET) {
        words.extend(["--wallet".into(), args.wallet.display().to_string()]);
    }
    for node in &args.nodes {
        words.extend(["--node".into(), node.clone()]);
    }
    if let Some(p) = &args.passphrase_file {
        words.extend(["--passphrase-file".into(), p.display().to_string()]);
    }
    words.extend(verb.iter().map(|w| (*w).to_owned()));
    // no argument can hold a NUL byte: quoting cannot fail
    shlex::try_join(words.iter().map(String::as_str)).unwrap_or_else(|_| words.join(" "))
}
