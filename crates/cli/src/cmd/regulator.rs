//! `npchain regulator`: the regulator's console. It admits, updates and retires operators,
//! gives, rotates and takes away their validator keys (effective at the next epoch), assigns
//! and withdraws ranges, sets the policy field by field (old and new value shown
//! before anything is signed) and shows the network's operators, ranges and policy from any
//! node's governance reads. It signs on this machine with the regulator's own encrypted key
//! file (`key new`, or `key import` of a devnet's plain `regulator.key`), submits through the
//! first of its `--node`s that answers, and prints every refusal with its stable code: the
//! ledger's, or for what is refused here before signing, the console's own (`range-assigned`,
//! `unknown-operator`, and the policy's `unknown-policy-field`, `bad-policy-value`,
//! `policy-out-of-bounds`).

use super::{DEFAULT_NODE, print_json};
use crate::error::CliError;
use clap::{ArgGroup, Subcommand, ValueEnum};
use npchain_api::json::{OperatorInfo, RangeInfo};
use npchain_client::{
    Client, ClientError, Refusal,
    regulator::{Regulator, RegulatorError, change_policy},
};
use npchain_core::{
    Lengths, OperatorId, Policy, Prefix, Region, RoutingNumber, TxBody, types::parse_public_key,
};
use serde_json::{Value, json};
use std::{path::PathBuf, process::ExitCode, time::Duration};

/// How long `--wait` waits for the block.
const WAIT: Duration = Duration::from_secs(60);

#[derive(clap::Args)]
pub struct Args {
    /// Node API URLs, tried in order (any node of the network will do).
    #[arg(long = "node", default_value = DEFAULT_NODE, global = true)]
    nodes: Vec<String>,
    /// The regulator's key file (encrypted; made by `regulator key new` or `key import`).
    #[arg(long, default_value = "regulator.key", global = true)]
    key: PathBuf,
    /// File holding the key's passphrase (or set NPCHAIN_PASSPHRASE).
    #[arg(long, global = true)]
    passphrase_file: Option<PathBuf>,
    /// Wait until the transaction is in a finalized block and print its outcome.
    #[arg(long, global = true)]
    wait: bool,
    /// Show what would be signed, and sign nothing.
    #[arg(long, global = true)]
    dry_run: bool,
    /// Print the result as one JSON document, for scripts.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    action: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// The regulator's key file.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Admit an operator, with its keys (hex) and its routing number.
    Admit {
        id: String,
        #[arg(long)]
        name: String,
        /// Signs the operator's transactions.
        #[arg(long)]
        operator_key: String,
        /// Signs its validator node's consensus messages (it joins the validator set at the
        /// next epoch), or `none`: an operator that runs no validator. Required: say `none`.
        #[arg(long, value_name = "KEY|none")]
        validator_key: String,
        /// RFC 4694 rn: `+digits` (global) or hex digits (local).
        #[arg(long)]
        routing_number: String,
    },
    /// Rotate an operator's key, change its routing number (every number it serves is
    /// re-routed at once), set its validator key, or several; what is not given stays. A
    /// validator key change is its own transaction (SetValidator), submitted after the other
    /// one when both are asked for; with --json the two results come as
    /// `{"transactions": [..]}`.
    #[command(group(ArgGroup::new("change").required(true).multiple(true).args(["operator_key", "routing_number", "validator_key"])))]
    Update {
        id: String,
        #[arg(long)]
        operator_key: Option<String>,
        #[arg(long)]
        routing_number: Option<String>,
        /// A new validator key (a key never used before), or `none` to take it away; the
        /// validator set changes at the next epoch.
        #[arg(long, value_name = "KEY|none")]
        validator_key: Option<String>,
    },
    /// Retire an operator: it may still wind down, but gains no numbers.
    Retire { id: String },
    /// Assign or withdraw a number range.
    #[command(subcommand)]
    Range(RangeCommand),
    /// Set the policy, or list its fields.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Load a legacy NPDB extract (number,operator[,rn] CSV) after genesis: every line
    /// checked first (refused lines named with their line numbers and reasons; nothing is
    /// signed while any is refused, unless --skip-refused), then signed ImportNumbers
    /// transactions of up to 5,000 numbers, each waited for in its finalized block. A re-run
    /// skips what the journal (FILE.journal) and a node say is committed. --dry-run checks only.
    Import(super::import::Args),
    /// The network's operators, ranges and policy, as a node answers them.
    Show {
        #[arg(value_enum, default_value = "all")]
        what: What,
    },
}

#[derive(Subcommand)]
pub enum KeyCommand {
    /// Make a new key, encrypted with the passphrase, at --key.
    New,
    /// Encrypt an existing plain key file (a devnet's `regulator.key`) into --key.
    Import { from: PathBuf },
    /// Print the public key.
    Show,
}

#[derive(Subcommand)]
pub enum RangeCommand {
    /// Give the range (prefix) to an active operator. A longer prefix inside an assigned one
    /// carves its numbers out of it; taking an assigned prefix from its holder needs --replace.
    /// The transaction always carries the range's number lengths: --lengths, or the numbering
    /// plan's for the prefix's country code (shown before signing).
    Assign {
        #[arg(allow_hyphen_values = true)]
        prefix: String,
        holder: String,
        #[arg(long)]
        replace: bool,
        /// Digit counts of the range's numbers, country code included: 11-12, 10,12 (default:
        /// libphonenumber's possible lengths for the country code).
        #[arg(long)]
        lengths: Option<String>,
    },
    /// Take the range back from its holder: refused while any of its numbers is bound,
    /// ported or in an open order.
    Withdraw {
        #[arg(allow_hyphen_values = true)]
        prefix: String,
    },
}

#[derive(Subcommand)]
pub enum PolicyCommand {
    /// Set fields: FIELD=VALUE ... (durations in seconds, or with s, m, h or d).
    Set {
        #[arg(required = true, value_name = "FIELD=VALUE")]
        changes: Vec<String>,
    },
    /// List the policy's fields.
    Fields,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum What {
    All,
    Operators,
    Ranges,
    Policy,
}

/// A refusal made here, before anything is signed, printed like the ledger's.
fn refusal(code: &str, message: String) -> CliError {
    CliError::Client(ClientError::Refused(Refusal { code: code.into(), message, height: None }))
}

/// The ledger's refusal as the operator verbs print it; anything else as it is.
fn from_regulator(e: RegulatorError) -> CliError {
    match e {
        RegulatorError::Client(e) => CliError::Client(e),
        RegulatorError::Policy(e) => refusal(e.code(), e.to_string()),
        e => CliError::Regulator(e),
    }
}

fn passphrase(args: &Args) -> Result<Option<String>, CliError> {
    Ok(match (&args.passphrase_file, std::env::var("NPCHAIN_PASSPHRASE")) {
        (Some(path), _) => {
            Some(std::fs::read_to_string(path).map_err(CliError::file(path))?.trim_end().to_owned())
        }
        (None, Ok(p)) => Some(p),
        (None, Err(_)) => None,
    })
}

pub fn run(args: Args) -> Result<ExitCode, CliError> {
    let client = Client::new(args.nodes.clone());
    let passphrase = passphrase(&args)?;
    let json = args.json;
    let plan = match &args.action {
        Command::Key(k) => return key(k, &args, passphrase.as_deref()),
        Command::Show { what } => return show(&client, *what, json),
        Command::Policy(PolicyCommand::Fields) => return fields(json),
        Command::Import(import) => {
            let key = args.key.clone();
            let open = move || Regulator::open(&key, passphrase.as_deref());
            return super::import::run(&client, import, args.dry_run, json, open);
        }
        action => build(&client, action)?,
    };
    let mut regulator = None;
    let mut docs = Vec::new();
    for (body, shown) in plan {
        if !json {
            for line in &shown.lines {
                println!("{line}");
            }
        }
        if args.dry_run {
            docs.push(json!({ "change": shown.json, "signed": false }));
            continue;
        }
        let regulator = match &mut regulator {
            Some(r) => r,
            none => none.insert(Regulator::open(&args.key, passphrase.as_deref())?),
        };
        match submit(&client, regulator, body, args.wait, json) {
            Ok(mut doc) => {
                doc["change"] = shown.json;
                docs.push(doc);
            }
            Err(failed) => {
                let (tx, e) = *failed;
                // A refusal: one format on stderr; for scripts also as JSON on stdout.
                if let (true, CliError::Client(ClientError::Refused(r))) = (json, &e) {
                    docs.push(json!({ "change": shown.json, "tx": tx, "refused": r }));
                    print_docs(docs);
                }
                return Err(e);
            }
        }
    }
    if json {
        print_docs(docs);
    } else if args.dry_run {
        println!("dry run: nothing signed");
    }
    Ok(ExitCode::SUCCESS)
}

/// Prints the JSON result: one document per transaction, several as `{"transactions": [..]}`.
fn print_docs(mut docs: Vec<Value>) {
    if docs.len() == 1 {
        print_json(&docs.remove(0));
    } else {
        print_json(&json!({ "transactions": docs }));
    }
}

/// Signs and submits one transaction (and with `wait`, waits for its block): its JSON result
/// without the change, or the transaction id known so far and the error.
fn submit(
    client: &Client,
    regulator: &Regulator,
    body: TxBody,
    wait: bool,
    json: bool,
) -> Result<Value, Box<(Option<String>, CliError)>> {
    let id = regulator.submit(client, body).map_err(|e| Box::new((None, from_regulator(e))))?;
    if !json {
        println!("transaction {id} accepted");
    }
    if !wait {
        return Ok(json!({ "tx": id }));
    }
    let height = client.wait_applied(&id, WAIT).map_err(|e| Box::new((Some(id.to_string()), e.into())))?;
    if !json {
        println!("applied at height {height}");
    }
    Ok(json!({ "tx": id, "outcome": "applied", "height": height }))
}

/// What a transaction will do, for the person about to sign it and for scripts.
struct Shown {
    lines: Vec<String>,
    json: Value,
}

fn operator_id(raw: &str) -> Result<OperatorId, CliError> {
    raw.parse().map_err(CliError::Operator)
}

fn routing_number(raw: &str) -> Result<RoutingNumber, CliError> {
    raw.parse().map_err(CliError::Operator)
}

fn public_key(raw: &str) -> Result<npchain_core::PublicKey, CliError> {
    parse_public_key(raw).map_err(CliError::Operator)
}

/// A prefix typed as a number is (with the network's region for national forms).
fn prefix(client: &Client, raw: &str) -> Result<Prefix, CliError> {
    let region: Option<Region> = client.status()?.region.and_then(|r| r.parse().ok());
    Prefix::parse(raw, region).map_err(CliError::Number)
}

/// A validator key as typed: hex, or `none`.
fn validator_key(raw: &str) -> Result<Option<npchain_core::PublicKey>, CliError> {
    if raw == "none" { Ok(None) } else { public_key(raw).map(Some) }
}

/// The transactions an action signs, in order, each with what it will do.
fn build(client: &Client, action: &Command) -> Result<Vec<(TxBody, Shown)>, CliError> {
    if let Command::Update { id, operator_key, routing_number, validator_key: Some(raw) } = action {
        let current = find_operator(client, id)?;
        let mut plan = Vec::new();
        if operator_key.is_some() || routing_number.is_some() {
            plan.push(update(id, operator_key.as_deref(), routing_number.as_deref(), &current)?);
        }
        let key = validator_key(raw)?;
        let old = current.validator_key.as_deref().unwrap_or("none");
        let new = if key.is_some() { raw.as_str() } else { "none" };
        let lines = vec![
            format!("set validator key of {id} (from the next epoch)"),
            format!("  validator_key: {old} -> {new}"),
        ];
        let json = json!({ "set_validator": id, "validator_key": { "old": current.validator_key, "new": key.as_ref().map(|_| raw) } });
        plan.push((TxBody::SetValidator { id: operator_id(id)?, validator_key: key }, Shown { lines, json }));
        return Ok(plan);
    }
    Ok(vec![match action {
        Command::Admit { id, name, operator_key, validator_key: validator, routing_number: rn } => {
            if !npchain_core::tx::valid_operator_name(name) {
                return Err(refusal(
                    "bad-name",
                    format!(
                        "operator name {name:?} must be 1 to 64 bytes, no control characters, no surrounding blanks"
                    ),
                ));
            }
            let body = TxBody::AdmitOperator {
                id: operator_id(id)?,
                name: name.clone(),
                operator_key: public_key(operator_key)?,
                validator_key: validator_key(validator)?,
                routing_number: routing_number(rn)?,
            };
            let mut line = format!("admit {id} ({name}), routing number {}", routing_number(rn)?);
            if validator == "none" {
                line.push_str(", no validator");
            }
            (body, Shown { lines: vec![line], json: json!({ "admit": id }) })
        }
        Command::Update { id, operator_key, routing_number: rn, validator_key: None } => {
            update(id, operator_key.as_deref(), rn.as_deref(), &find_operator(client, id)?)?
        }
        Command::Retire { id } => {
            let body = TxBody::RetireOperator { id: operator_id(id)? };
            (body, Shown { lines: vec![format!("retire {id}")], json: json!({ "retire": id }) })
        }
        Command::Range(RangeCommand::Assign { prefix: raw, holder, replace, lengths }) => {
            let prefix = prefix(client, raw)?;
            let holder_id = operator_id(holder)?;
            let (lengths, source) = range_lengths(prefix, lengths.as_deref())?;
            let ranges = client.ranges()?;
            let mut lines = assign_effects(prefix, &holder_id, lengths, &ranges.ranges, *replace)?;
            lines.insert(1, format!("  numbers of {lengths} digits ({source})"));
            let body = TxBody::AssignRangeWithLengths { prefix, holder: holder_id, lengths };
            let json = json!({
                "assign": prefix.to_string(),
                "holder": holder,
                "lengths": lengths.to_string(),
                "height": ranges.height,
            });
            (body, Shown { lines, json })
        }
        Command::Range(RangeCommand::Withdraw { prefix: raw }) => {
            let prefix = prefix(client, raw)?;
            let lines = vec![format!("withdraw range {prefix}")];
            (
                TxBody::WithdrawRange { prefix },
                Shown { lines, json: json!({ "withdraw": prefix.to_string() }) },
            )
        }
        Command::Policy(PolicyCommand::Set { changes }) => {
            let pairs = changes
                .iter()
                .map(|c| {
                    c.split_once('=')
                        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
                        .ok_or_else(|| refusal("bad-policy-value", format!("{c:?} is not FIELD=VALUE")))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let current = client.policy()?;
            let (next, changed) =
                change_policy(&current.policy, &pairs).map_err(|e| refusal(e.code(), e.to_string()))?;
            let mut lines = vec![format!("policy at height {}:", current.height)];
            lines.extend(changed.iter().map(|c| format!("  {}: {} -> {}", c.field, c.old, c.new)));
            let json = json!({ "policy_at": current.height, "fields": changed });
            (TxBody::SetPolicy(next), Shown { lines, json })
        }
        Command::Key(_)
        | Command::Show { .. }
        | Command::Policy(PolicyCommand::Fields)
        | Command::Import(_) => {
            unreachable!("answered without a transaction")
        }
        Command::Update { validator_key: Some(_), .. } => unreachable!("built above"),
    }])
}

/// The UpdateOperator of `current`: the operator key and routing number given, the others kept.
fn update(
    id: &str,
    operator_key: Option<&str>,
    rn: Option<&str>,
    current: &OperatorInfo,
) -> Result<(TxBody, Shown), CliError> {
    let key = operator_key.unwrap_or(&current.operator_key);
    let rn = rn.unwrap_or(&current.routing_number);
    let body = TxBody::UpdateOperator {
        id: operator_id(id)?,
        operator_key: public_key(key)?,
        routing_number: routing_number(rn)?,
    };
    let new_rn = routing_number(rn)?.to_string();
    let lines = vec![
        format!("update {id}"),
        format!("  operator_key: {} -> {key}", current.operator_key),
        format!("  routing_number: {} -> {new_rn}", current.routing_number),
    ];
    let json = json!({ "update": id, "operator_key": { "old": current.operator_key, "new": key },
        "routing_number": { "old": current.routing_number, "new": new_rn } });
    Ok((body, Shown { lines, json }))
}

fn find_operator(client: &Client, id: &str) -> Result<OperatorInfo, CliError> {
    let list = client.operators()?;
    list.operators.into_iter().find(|o| o.id == id).ok_or_else(|| {
        refusal("unknown-operator", format!("operator {id} is not admitted (at height {})", list.height))
    })
}

/// The lengths a range assignment carries: `given`, or the numbering plan's for the prefix,
/// with where they come from (for the line shown before signing).
fn range_lengths(prefix: Prefix, given: Option<&str>) -> Result<(Lengths, String), CliError> {
    let lengths = match given {
        Some(text) => text.parse::<Lengths>().map_err(|e| refusal("bad-lengths", e.to_string()))?,
        None => {
            let (code, lengths) = Lengths::plan(prefix).ok_or_else(|| {
                refusal(
                    "no-plan-lengths",
                    format!(
                        "the numbering plan gives no lengths for {prefix} (no whole assigned country code, or no \
                         number longer than it); give --lengths, e.g. --lengths 11-12"
                    ),
                )
            })?;
            return Ok((lengths, format!("the numbering plan of +{code}")));
        }
    };
    let allowed = Lengths::any_for(prefix);
    if !lengths.is_subset(allowed) {
        return Err(refusal(
            "range-lengths",
            format!(
                "range {prefix} cannot have lengths {lengths}: its numbers may have {allowed} digits (more than the \
                 prefix, country code included)"
            ),
        ));
    }
    Ok((lengths, "--lengths".into()))
}

/// What assigning `prefix` to `holder` with `lengths` does to the ranges there are: the lines
/// to show, or the refusal of taking an assigned prefix from its holder without `replace`.
fn assign_effects(
    prefix: Prefix,
    holder: &OperatorId,
    lengths: Lengths,
    ranges: &[RangeInfo],
    replace: bool,
) -> Result<Vec<String>, CliError> {
    let mut lines = vec![format!("assign range {prefix} to {holder}")];
    for r in ranges {
        let Ok(other) = r.prefix.parse::<Prefix>() else { continue };
        if other == prefix {
            if r.holder == holder.as_str() {
                if r.lengths != lengths.to_string() {
                    lines.push(format!("  changes its lengths from {}", r.lengths));
                    continue;
                }
                return Err(refusal(
                    "range-assigned",
                    format!("range {prefix} is already held by {holder} with lengths {lengths}"),
                ));
            }
            if !replace {
                return Err(refusal(
                    "range-assigned",
                    format!("range {prefix} is held by {}; --replace gives it to {holder}", r.holder),
                ));
            }
            lines.push(format!("  replaces its holder {}", r.holder));
        } else if other.len() < prefix.len() && other.contains(prefix.as_number()) {
            lines.push(format!(
                "  inside {} (held by {}): its numbers there go to {holder}",
                r.prefix, r.holder
            ));
        } else if prefix.len() < other.len() && prefix.contains(other.as_number()) {
            lines.push(format!("  {} inside it stays with {}", r.prefix, r.holder));
        }
    }
    Ok(lines)
}

fn key(k: &KeyCommand, args: &Args, passphrase: Option<&str>) -> Result<ExitCode, CliError> {
    let needs = || CliError::RegulatorPassphrase;
    let regulator = match k {
        KeyCommand::New => Regulator::create(&args.key, passphrase.ok_or_else(needs)?)?,
        KeyCommand::Import { from } => {
            let plain = npchain_node::keys::read_key(from)?;
            Regulator::import(&args.key, plain, passphrase.ok_or_else(needs)?)?
        }
        KeyCommand::Show => Regulator::open(&args.key, passphrase)?,
    };
    let public = npchain_api::json::hex_key(&regulator.public_key());
    if args.json {
        print_json(&json!({ "key_file": args.key.display().to_string(), "public_key": public }));
    } else {
        println!("{}: regulator key {public}", args.key.display());
    }
    Ok(ExitCode::SUCCESS)
}

fn fields(json: bool) -> Result<ExitCode, CliError> {
    let defaults = Policy::default();
    if json {
        let list: Vec<Value> = Policy::FIELDS
            .iter()
            .map(|f| json!({ "field": f.name, "doc": f.doc, "expected": f.expected, "default": f.get(&defaults) }))
            .collect();
        print_json(&json!({ "fields": list }));
    } else {
        for f in Policy::FIELDS {
            println!("{:<24} {} ({}; default {})", f.name, f.doc, f.expected, f.get(&defaults));
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn show(client: &Client, what: What, json: bool) -> Result<ExitCode, CliError> {
    let wants = |w: What| what == What::All || what == w;
    let operators = wants(What::Operators).then(|| client.operators()).transpose()?;
    let ranges = wants(What::Ranges).then(|| client.ranges()).transpose()?;
    let policy = wants(What::Policy).then(|| client.policy()).transpose()?;
    if json {
        print_json(&json!({ "operators": operators, "ranges": ranges, "policy": policy }));
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(list) = operators {
        println!("operators at height {} (regulator key {}):", list.height, list.regulator);
        println!(
            "  {:<16} {:<8} {:<16} {:<64}  {:<64}  name",
            "id", "status", "routing number", "operator key", "validator key"
        );
        for o in &list.operators {
            let status = if o.active { "active" } else { "retired" };
            let validator = o.validator_key.as_deref().unwrap_or("none");
            println!(
                "  {:<16} {:<8} {:<16} {:<64}  {:<64}  {}",
                o.id, status, o.routing_number, o.operator_key, validator, o.name
            );
        }
    }
    if let Some(list) = ranges {
        println!("ranges at height {}:", list.height);
        for r in &list.ranges {
            println!("  {:<16} {}", r.prefix, r.holder);
        }
    }
    if let Some(info) = policy {
        println!("policy at height {}:", info.height);
        for f in Policy::FIELDS {
            println!("  {:<24} {}", f.name, f.get(&info.policy));
        }
    }
    Ok(ExitCode::SUCCESS)
}
