//! The subscriber's user node: a key, the validator set it trusts (from the genesis), and a
//! local ledger of every committed message about its ports, each with the block it was
//! finalized in and that block's finalization certificate, checked before it is written and
//! checkable again offline (`verify`). A node can refuse to answer; it cannot make the wallet
//! record a message that a quorum of validators did not finalize.
//!
//! Files in the wallet directory: `wallet.key` (0600: the key in hex, or encrypted with a
//! passphrase: Argon2id and ChaCha20-Poly1305), `wallet.toml` (nodes, chain id, validators),
//! `ledger.jsonl` (one verified entry per line), `sent.jsonl` (every request and cancel this
//! wallet signed and a node accepted, before any block holds it).

use crate::client::{Client, ClientError, Refusal};
use chacha20poly1305::{
    ChaCha20Poly1305, Key, Nonce,
    aead::{Aead, KeyInit},
};
use commonware_codec::{DecodeExt, Encode};
use commonware_cryptography::Signer;
use npchain_api::{
    Block, ProofChecker,
    json::{PortInfo, TxStatus},
};
use npchain_core::{
    E164, Genesis, OperatorId, PortRequest, PrivateKey, PublicKey, RejectCause, Timestamp, Transaction,
    TxBody,
    tx::{ChainId, SignedTransaction},
    types::{Digest, PortId, parse_public_key},
};
use serde::{Deserialize, Serialize};
use std::{
    fs,
    io::{BufRead, BufReader, Write},
    path::{Path, PathBuf},
    sync::atomic::{AtomicBool, Ordering},
    time::{Duration, Instant},
};

/// Why a wallet operation failed.
#[derive(Debug, thiserror::Error)]
pub enum WalletError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {reason}")]
    Format { path: String, reason: String },
    #[error("wallet {0} exists; refusing to overwrite a key")]
    Exists(String),
    #[error("the wallet key is encrypted: give its passphrase (--passphrase-file or NPCHAIN_PASSPHRASE)")]
    NeedsPassphrase,
    #[error("wrong passphrase (or a damaged key file)")]
    WrongPassphrase,
    #[error(transparent)]
    Node(#[from] ClientError),
    #[error("{0}")]
    Refused(String),
    /// The ledger refused the wallet's transaction in its block.
    #[error(transparent)]
    Ledger(Refusal),
    #[error("order {port} is not finished ({state}) after {}; follow it again to wait longer", crate::progress::human(*waited))]
    NotFinished { port: String, state: String, waited: Duration },
    #[error("order {port}: the request is in no block yet")]
    NotInABlock { port: String },
    #[error("stopped following order {port}; {recorded} of its steps are in the local ledger, verified")]
    Interrupted { port: String, recorded: usize },
    #[error("node {node} sent a proof for block {height} that does not hold: {reason}")]
    Forged { node: String, height: u64, reason: String },
    #[error("ledger entry {line} ({what}): {reason}")]
    Tampered { line: usize, what: String, reason: String },
}

impl WalletError {
    /// The ledger's refusal, if that is what this is (at a node's precheck or in a block).
    pub fn refusal(&self) -> Option<&Refusal> {
        match self {
            Self::Ledger(r) | Self::Node(ClientError::Refused(r)) => Some(r),
            _ => None,
        }
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> WalletError + '_ {
    move |source| WalletError::Io { path: path.display().to_string(), source }
}

/// `wallet.toml`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct WalletConfig {
    /// Node API URLs, tried in order.
    pub nodes: Vec<String>,
    /// The chain the wallet signs for, hex.
    pub chain_id: String,
    /// The validators' consensus keys, hex: the wallet's root of trust, from the genesis.
    pub validators: Vec<String>,
    /// The genesis region (ISO 3166, e.g. `DE`): numbers typed in national form are read with
    /// it. Absent in wallets made before it was kept, and for networks without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
}

/// `wallet.key`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
enum KeyFile {
    Plain { key: String },
    Argon2idChacha20poly1305 { salt: String, nonce: String, ciphertext: String },
}

fn cipher(passphrase: &str, salt: &[u8]) -> Result<ChaCha20Poly1305, WalletError> {
    let mut key = [0u8; 32];
    argon2::Argon2::default()
        .hash_password_into(passphrase.as_bytes(), salt, &mut key)
        .map_err(|e| WalletError::Refused(format!("deriving the key from the passphrase: {e}")))?;
    Ok(ChaCha20Poly1305::new(Key::from_slice(&key)))
}

/// One committed message of the local ledger, with its proof.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    pub port: String,
    /// `requested`, `released`, `rejected`, `activated`, `cancelled` or `expired`.
    pub step: String,
    pub height: u64,
    /// The canonical block, hex.
    pub block: String,
    /// Its finalization certificate, hex.
    pub certificate: String,
    /// The index of the message in the block, when a transaction made the step (a deadline
    /// makes `expired` and deemed answers, with no transaction).
    pub tx_index: Option<usize>,
}

impl Entry {
    /// Why the order was rejected, if this entry is its rejection: the donor's reason, read
    /// from the transaction in the entry's block, or the donor's silence (a deadline made the
    /// step: no transaction).
    pub fn cause(&self) -> Option<RejectCause> {
        if self.step != "rejected" {
            return None;
        }
        let Some(i) = self.tx_index else { return Some(RejectCause::DonorSilent) };
        let block = Block::decode(commonware_formatting::from_hex(&self.block)?).ok()?;
        match block.transactions().ok()?.get(i)?.tx.body {
            TxBody::Reject { reason, .. } => Some(RejectCause::Donor(reason)),
            _ => None,
        }
    }
}

/// An order's state as a person reads it: `activated`, or for a rejection its cause's code
/// and meaning: `rejected (outstanding-dues: the subscriber has unpaid charges with the donor)`.
pub fn describe_state(state: &str, cause: Option<&RejectCause>) -> String {
    match cause {
        Some(c) => format!("{state} ({c}: {})", c.description()),
        None => state.to_owned(),
    }
}

/// Pages of `GET /v1/ports?number=` read per number when discovering orders (a node's page
/// holds up to 100 orders by default): a bound on what one node can make the wallet read.
pub const MAX_DISCOVERY_PAGES: usize = 10;

/// How long `follow` waits by default past a request's expiry or an order's activation
/// deadline for the block that settles it (block times and this machine's clock may differ).
pub const FOLLOW_MARGIN: Duration = Duration::from_secs(600);

/// Where a request this wallet sent is, while no node shows its order.
#[derive(Debug)]
enum RequestState {
    /// In no block yet; it can be committed until it expires.
    Pending {
        expires_at_ms: u64,
    },
    Refused(Refusal),
    /// Applied in a block that the node asked has not caught up with.
    Applied {
        expires_at_ms: u64,
    },
}

/// An order as the wallet shows it: the node's description, every step of which the local
/// ledger holds verified, and the cause of a rejection as the block holds it.
#[derive(Debug, Clone)]
pub struct Order {
    pub info: PortInfo,
    /// Steps of the order in the local ledger.
    pub verified_steps: usize,
    pub cause: Option<RejectCause>,
}

/// How a followed order ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finished {
    /// `activated`, `rejected`, `cancelled` or `expired`.
    pub state: String,
    pub cause: Option<RejectCause>,
}

/// What `follow` reports while it waits.
#[derive(Debug)]
pub enum Followed<'a> {
    /// The request is accepted but in no block yet; following gives up after `limit`.
    Pending { limit: Duration },
    /// The order is in the ledger, in `state`; following gives up after `limit`.
    Watching { state: &'a str, limit: Duration },
    /// A step, verified and written to the local ledger.
    Step(&'a Entry),
    /// Still open after `elapsed` (reported after every poll, about 5 times a second).
    Waiting { state: &'a str, elapsed: Duration },
}

fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// A message this wallet signed and a node accepted into its mempool (`sent.jsonl`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Sent {
    /// `request` or `cancel`.
    pub kind: String,
    pub port: String,
    pub tx_id: String,
    /// The signed transaction, hex.
    pub tx: String,
    pub node: String,
}

impl Sent {
    /// When the signed transaction stops being valid (block time, ms).
    fn expires_at_ms(&self) -> Result<u64, WalletError> {
        let bad = |reason: String| WalletError::Format { path: "sent.jsonl".into(), reason };
        let bytes = commonware_formatting::from_hex(&self.tx)
            .ok_or_else(|| bad(format!("transaction {} is not hex", self.tx_id)))?;
        let tx = SignedTransaction::from_bytes(&bytes)
            .map_err(|e| bad(format!("transaction {}: {e}", self.tx_id)))?;
        Ok(tx.tx.expires_at.millis())
    }
}

/// A subscriber's wallet.
#[derive(Debug)]
pub struct Wallet {
    dir: PathBuf,
    key: PrivateKey,
    config: WalletConfig,
    checker: ProofChecker,
}

/// The transaction that makes `step` of `port`, if the step is made by one.
fn makes_step(tx: &SignedTransaction, port: &PortId, step: &str) -> bool {
    match (&tx.tx.body, step) {
        (TxBody::RequestPort(r), "requested") => r.port_id(&tx.tx.signer) == *port,
        (TxBody::RequestPortFor { request, subscriber, .. }, "requested") => {
            request.port_id(subscriber) == *port
        }
        (TxBody::Release { port: p }, "released")
        | (TxBody::Reject { port: p, .. }, "rejected")
        | (TxBody::Activate { port: p }, "activated")
        | (TxBody::Cancel { port: p }, "cancelled") => p == port,
        _ => false,
    }
}

impl Wallet {
    /// Makes a new wallet in `dir`: a new key (encrypted if a passphrase is given), the
    /// genesis validators as the root of trust, and the chain id read from the first node that
    /// answers (checked against nothing: a wrong one only makes the wallet's signatures useless).
    pub fn create(
        dir: &Path,
        genesis: &Genesis,
        nodes: Vec<String>,
        passphrase: Option<&str>,
    ) -> Result<Self, WalletError> {
        let key_path = dir.join("wallet.key");
        if key_path.exists() {
            return Err(WalletError::Exists(dir.display().to_string()));
        }
        let status = Client::new(nodes.clone()).status()?;
        fs::create_dir_all(dir).map_err(io(dir))?;
        let key = npchain_node::keys::generate();
        let secret = commonware_formatting::hex(&key.encode());
        let file = match passphrase {
            None => KeyFile::Plain { key: secret },
            Some(p) => {
                let salt: [u8; 16] = rand::random();
                let nonce: [u8; 12] = rand::random();
                let ciphertext = cipher(p, &salt)?
                    .encrypt(Nonce::from_slice(&nonce), secret.as_bytes())
                    .map_err(|_| WalletError::Refused("encryption failed".into()))?;
                KeyFile::Argon2idChacha20poly1305 {
                    salt: commonware_formatting::hex(&salt),
                    nonce: commonware_formatting::hex(&nonce),
                    ciphertext: commonware_formatting::hex(&ciphertext),
                }
            }
        };
        let mut options = fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let text = serde_json::to_string(&file).map_err(|e| WalletError::Refused(e.to_string()))?;
        let mut f = options.open(&key_path).map_err(io(&key_path))?;
        f.write_all(text.as_bytes()).and_then(|()| f.sync_all()).map_err(io(&key_path))?;
        let config = WalletConfig {
            nodes,
            chain_id: status.chain_id,
            validators: genesis
                .operators
                .iter()
                .map(|o| commonware_formatting::hex(o.validator_key.as_ref()))
                .collect(),
            region: genesis.region.map(|r| r.to_string()),
        };
        let config_path = dir.join("wallet.toml");
        let text = toml::to_string(&config).map_err(|e| WalletError::Refused(e.to_string()))?;
        fs::write(&config_path, text).map_err(io(&config_path))?;
        Self::open(dir, passphrase)
    }

    /// Opens the wallet in `dir`.
    pub fn open(dir: &Path, passphrase: Option<&str>) -> Result<Self, WalletError> {
        let key_path = dir.join("wallet.key");
        let format =
            |path: &Path, reason: String| WalletError::Format { path: path.display().to_string(), reason };
        let text = fs::read_to_string(&key_path).map_err(io(&key_path))?;
        let file: KeyFile = serde_json::from_str(&text).map_err(|e| format(&key_path, e.to_string()))?;
        let hex =
            |s: &str| commonware_formatting::from_hex(s).ok_or_else(|| format(&key_path, "not hex".into()));
        let secret = match file {
            KeyFile::Plain { key } => key,
            KeyFile::Argon2idChacha20poly1305 { salt, nonce, ciphertext } => {
                let passphrase = passphrase.ok_or(WalletError::NeedsPassphrase)?;
                let nonce = hex(&nonce)?;
                if nonce.len() != 12 {
                    return Err(format(&key_path, "the nonce is not 12 bytes".into()));
                }
                let plain = cipher(passphrase, &hex(&salt)?)?
                    .decrypt(Nonce::from_slice(&nonce), hex(&ciphertext)?.as_slice())
                    .map_err(|_| WalletError::WrongPassphrase)?;
                String::from_utf8(plain).map_err(|_| WalletError::WrongPassphrase)?
            }
        };
        let key = PrivateKey::decode(hex(&secret)?).map_err(|e| format(&key_path, e.to_string()))?;
        let config_path = dir.join("wallet.toml");
        let text = fs::read_to_string(&config_path).map_err(io(&config_path))?;
        let config: WalletConfig = toml::from_str(&text).map_err(|e| format(&config_path, e.to_string()))?;
        let validators = config
            .validators
            .iter()
            .map(|v| parse_public_key(v))
            .collect::<Result<Vec<PublicKey>, _>>()
            .map_err(|e| format(&config_path, e.to_string()))?;
        Ok(Self { dir: dir.to_owned(), key, config, checker: ProofChecker::new(validators) })
    }

    pub fn public_key(&self) -> PublicKey {
        self.key.public_key()
    }

    /// Reads a typed number as every interface does ([`npchain_core::number`]), with the
    /// region of the genesis the wallet was made from.
    pub fn parse_number(&self, text: &str) -> Result<E164, npchain_core::NumberError> {
        let region = self.config.region.as_deref().map(str::parse).transpose()?;
        E164::parse(text, region)
    }

    pub fn config(&self) -> &WalletConfig {
        &self.config
    }

    /// A client of the wallet's nodes (or of `nodes` if given).
    pub fn client(&self, nodes: &[String]) -> Client {
        Client::new(if nodes.is_empty() { self.config.nodes.clone() } else { nodes.to_vec() })
    }

    fn chain_id(&self) -> Result<ChainId, WalletError> {
        let bytes = commonware_formatting::from_hex(&self.config.chain_id)
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
            .ok_or_else(|| WalletError::Format {
                path: "wallet.toml".into(),
                reason: "chain_id is not 32 bytes of hex".into(),
            })?;
        Ok(ChainId(Digest(bytes)))
    }

    fn sign_and_submit(
        &self,
        client: &Client,
        kind: &str,
        port: &PortId,
        body: TxBody,
        precheck: bool,
    ) -> Result<String, WalletError> {
        let block_time = client.status()?.block_time_ms;
        let tx = Transaction {
            nonce: rand::random(),
            expires_at: Timestamp(block_time + 600_000),
            signer: self.public_key(),
            body,
        }
        .sign(&self.chain_id()?, &self.key);
        let bytes = tx.encode();
        let tx_id = client.submit(&bytes, precheck)?;
        let sent = Sent {
            kind: kind.into(),
            port: port.to_string(),
            tx_id: tx_id.clone(),
            tx: commonware_formatting::hex(&bytes),
            node: client.nodes().join(" "),
        };
        let path = self.dir.join("sent.jsonl");
        let mut file = fs::OpenOptions::new().create(true).append(true).open(&path).map_err(io(&path))?;
        let line = serde_json::to_string(&sent).map_err(|e| WalletError::Refused(e.to_string()))?;
        file.write_all(format!("{line}\n").as_bytes()).and_then(|()| file.sync_all()).map_err(io(&path))?;
        Ok(tx_id)
    }

    /// What this wallet sent, oldest first.
    pub fn sent(&self) -> Result<Vec<Sent>, WalletError> {
        let path = self.dir.join("sent.jsonl");
        match fs::read_to_string(&path) {
            Ok(text) => text
                .lines()
                .map(|l| {
                    serde_json::from_str(l).map_err(|e| WalletError::Format {
                        path: path.display().to_string(),
                        reason: e.to_string(),
                    })
                })
                .collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(io(&path)(e)),
        }
    }

    /// Requests the port of `numbers` (one, or a group: all or none) to `to`. The donor is the
    /// operator serving the first number now. Returns the port id; the node has accepted the
    /// request into its mempool (with `precheck`, after trying it on the committed state).
    pub fn request_port(
        &self,
        nodes: &[String],
        numbers: &[E164],
        to: &OperatorId,
        due: Timestamp,
        precheck: bool,
    ) -> Result<PortId, WalletError> {
        let client = self.client(nodes);
        let mut numbers = numbers.to_vec();
        numbers.sort();
        numbers.dedup();
        let first = numbers.first().ok_or_else(|| WalletError::Refused("no number to port".into()))?;
        let route = client.route(&first.to_string())?;
        let donor: OperatorId = route
            .serving
            .parse()
            .map_err(|_| WalletError::Refused(format!("the node names donor {:?}", route.serving)))?;
        let request = PortRequest { numbers, donor, recipient: to.clone(), due, nonce: rand::random() };
        let port = request.port_id(&self.public_key());
        self.sign_and_submit(&client, "request", &port, TxBody::RequestPort(request), precheck)?;
        Ok(port)
    }

    /// Cancels an order before activation (with `precheck`, tried on the committed state first).
    pub fn cancel(&self, nodes: &[String], port: &PortId, precheck: bool) -> Result<String, WalletError> {
        self.sign_and_submit(&self.client(nodes), "cancel", port, TxBody::Cancel { port: *port }, precheck)
    }

    fn ledger_path(&self) -> PathBuf {
        self.dir.join("ledger.jsonl")
    }

    /// The local ledger, oldest first.
    pub fn entries(&self) -> Result<Vec<Entry>, WalletError> {
        let path = self.ledger_path();
        let file = match fs::File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io(&path)(e)),
        };
        BufReader::new(file)
            .lines()
            .enumerate()
            .map(|(i, line)| {
                let line = line.map_err(io(&path))?;
                serde_json::from_str(&line).map_err(|e| WalletError::Tampered {
                    line: i + 1,
                    what: "entry".into(),
                    reason: format!("not a ledger entry: {e}"),
                })
            })
            .collect()
    }

    /// Checks one entry: the certificate is a quorum's over exactly this block, and (for a
    /// step a transaction makes) the block carries that transaction.
    fn check(&self, e: &Entry) -> Result<(), String> {
        let port: PortId = e.port.parse().map_err(|_| format!("port id {:?} is not hex", e.port))?;
        let hex = |s: &str| commonware_formatting::from_hex(s).ok_or_else(|| "not hex".to_owned());
        let block =
            self.checker.check(&hex(&e.block)?, &hex(&e.certificate)?).map_err(|err| err.to_string())?;
        if block.height != e.height {
            return Err(format!("the block is at height {}, not {}", block.height, e.height));
        }
        if let Some(i) = e.tx_index {
            let txs = block.transactions().map_err(|err| err.to_string())?;
            let tx = txs.get(i).ok_or_else(|| format!("the block has no transaction {i}"))?;
            if !makes_step(tx, &port, &e.step) {
                return Err(format!("transaction {i} of the block does not make step {} of {port}", e.step));
            }
        }
        Ok(())
    }

    /// Re-checks the whole local ledger offline; the number of entries that hold.
    pub fn verify(&self) -> Result<usize, WalletError> {
        let entries = self.entries()?;
        for (i, e) in entries.iter().enumerate() {
            self.check(e).map_err(|reason| WalletError::Tampered {
                line: i + 1,
                what: format!("{} of {} at height {}", e.step, e.port, e.height),
                reason,
            })?;
        }
        Ok(entries.len())
    }

    fn append(&self, e: &Entry) -> Result<(), WalletError> {
        let path = self.ledger_path();
        let mut file = fs::OpenOptions::new().create(true).append(true).open(&path).map_err(io(&path))?;
        let line = serde_json::to_string(e).map_err(|err| WalletError::Refused(err.to_string()))?;
        file.write_all(format!("{line}\n").as_bytes()).and_then(|()| file.sync_all()).map_err(io(&path))
    }

    /// The steps of order `id` in the local ledger.
    fn recorded_steps(&self, id: &str) -> Result<Vec<String>, WalletError> {
        Ok(self.entries()?.into_iter().filter(|e| e.port == id).map(|e| e.step).collect())
    }

    /// Why order `id` was rejected, from its rejection in the local ledger (the block's).
    fn recorded_cause(&self, id: &str) -> Result<Option<RejectCause>, WalletError> {
        Ok(self.entries()?.iter().filter(|e| e.port == id).find_map(Entry::cause))
    }

    /// Writes each step of `order` not in `have` to the local ledger, fetched with its block
    /// and certificate and checked first; passes each to `on_step`.
    fn record_steps(
        &self,
        client: &Client,
        port: &PortId,
        order: &PortInfo,
        have: &mut Vec<String>,
        mut on_step: impl FnMut(&Entry),
    ) -> Result<(), WalletError> {
        for step in &order.history {
            if have.contains(&step.step.step) {
                continue;
            }
            let height = self.find_step(client, &order.id, &step.step.step, step.time_ms)?;
            // a deadline, not a message, makes an expiry and the donor's deemed answers
            let by_deadline = step.step.step == "expired"
                || step.step.deemed
                || step.step.reason.as_deref() == Some("donor-silent");
            let entry = self.prove(client, port, &step.step.step, height, !by_deadline)?;
            self.append(&entry)?;
            on_step(&entry);
            have.push(step.step.step.clone());
        }
        Ok(())
    }

    /// Where the request of order `id` is, if this wallet sent it: for an order the node
    /// does not know (yet).
    fn request_state(&self, client: &Client, id: &str) -> Result<Option<RequestState>, WalletError> {
        let Some(sent) = self.sent()?.into_iter().find(|s| s.kind == "request" && s.port == id) else {
            return Ok(None);
        };
        Ok(Some(match client.tx(&sent.tx_id) {
            Ok(TxStatus::Committed { height, result, .. }) => match Refusal::in_block(height, &result) {
                Some(refusal) => RequestState::Refused(refusal),
                None => RequestState::Applied { expires_at_ms: sent.expires_at_ms()? },
            },
            Ok(TxStatus::Pending) | Err(ClientError::Api { status: 404, .. }) => {
                RequestState::Pending { expires_at_ms: sent.expires_at_ms()? }
            }
            Err(e) => return Err(e.into()),
        }))
    }

    /// Brings the local ledger up to date with order `port` as the nodes report it (every
    /// step verified before it is written); the order, with the state and the rejection cause
    /// of its latest step as the local ledger holds them. A request of this wallet that the
    /// ledger refused in its block is [`WalletError::Ledger`]; one in no block yet
    /// [`WalletError::NotInABlock`].
    pub fn sync(&self, nodes: &[String], port: &PortId) -> Result<Order, WalletError> {
        let client = self.client(nodes);
        let id = port.to_string();
        let order = match client.port(&id) {
            Ok(order) => order,
            Err(e @ ClientError::Api { status: 404, .. }) => {
                return Err(match self.request_state(&client, &id)? {
                    Some(RequestState::Refused(r)) => WalletError::Ledger(r),
                    Some(RequestState::Pending { .. }) => WalletError::NotInABlock { port: id },
                    Some(RequestState::Applied { .. }) | None => e.into(),
                });
            }
            Err(e) => return Err(e.into()),
        };
        let mut have = self.recorded_steps(&id)?;
        self.record_steps(&client, port, &order, &mut have, |_| {})?;
        Ok(Order { cause: self.recorded_cause(&id)?, verified_steps: have.len(), info: order })
    }

    /// Every order that touches this wallet: those it sent, those in its local ledger, and
    /// every order of the numbers bound to its key or named in those orders (found with
    /// `GET /v1/ports?number=`: orders an operator started, say). Ids, in the order found.
    pub fn discover(&self, nodes: &[String]) -> Result<Vec<PortId>, WalletError> {
        let client = self.client(nodes);
        let mut ids: Vec<String> = Vec::new();
        let add = |ids: &mut Vec<String>, id: &str| {
            if !ids.iter().any(|i| i == id) {
                ids.push(id.to_owned());
            }
        };
        for s in self.sent()?.iter().filter(|s| s.kind == "request") {
            add(&mut ids, &s.port);
        }
        for e in self.entries()? {
            add(&mut ids, &e.port);
        }
        let key = commonware_formatting::hex(self.public_key().as_ref());
        let mut numbers: Vec<String> = client.bound_numbers(&key)?.into_iter().map(|r| r.number).collect();
        for id in &ids {
            // an order the node does not know (a request refused in its block) names none
            if let Ok(order) = client.port(id) {
                numbers.extend(order.numbers);
            }
        }
        numbers.sort();
        numbers.dedup();
        for number in &numbers {
            let mut after: Option<String> = None;
            for _ in 0..MAX_DISCOVERY_PAGES {
                let mut filters = vec![("number", number.as_str())];
                if let Some(a) = &after {
                    filters.push(("after", a.as_str()));
                }
                let page = client.ports(&filters)?;
                for order in &page.ports {
                    add(&mut ids, &order.id);
                }
                match page.next {
                    Some(next) => after = Some(next),
                    None => break,
                }
            }
        }
        ids.iter()
            .map(|id| {
                id.parse().map_err(|_| WalletError::Format {
                    path: "the node's answer".into(),
                    reason: format!("port id {id:?} is not hex"),
                })
            })
            .collect()
    }

    /// Follows the order until it is finished: each committed step is fetched with its block
    /// and certificate, checked, written to the local ledger and reported. Steps already in
    /// the ledger are skipped. A request this wallet sent that is in no block yet is waited
    /// for; one the ledger refused in its block ends the follow with that refusal.
    ///
    /// Gives up after `limit`; by default once the request has expired (while it is in no
    /// block), or once the order is past its activation deadline, by when the ledger has
    /// finished it, plus [`FOLLOW_MARGIN`]. Stops, with what is recorded kept, when `stop`
    /// is set (checked between requests).
    pub fn follow(
        &self,
        nodes: &[String],
        port: &PortId,
        limit: Option<Duration>,
        stop: &AtomicBool,
        mut report: impl FnMut(Followed<'_>),
    ) -> Result<Finished, WalletError> {
        let client = self.client(nodes);
        let started = Instant::now();
        let id = port.to_string();
        let mut have = self.recorded_steps(&id)?;
        let remaining =
            |until_ms: u64| Duration::from_millis(until_ms.saturating_sub(now_ms())) + FOLLOW_MARGIN;
        let (mut announced_pending, mut announced) = (false, false);
        let mut give_up_at: Option<Instant> = limit.map(|l| started + l);
        loop {
            if stop.load(Ordering::Relaxed) {
                return Err(WalletError::Interrupted { port: id, recorded: have.len() });
            }
            let state = match client.port(&id) {
                Ok(order) => {
                    if !announced {
                        if limit.is_none() {
                            give_up_at = Some(Instant::now() + remaining(order.activation_deadline_ms));
                        }
                        let at = give_up_at.unwrap_or(started);
                        report(Followed::Watching {
                            state: &order.state,
                            limit: at.saturating_duration_since(Instant::now()),
                        });
                        announced = true;
                    }
                    self.record_steps(&client, port, &order, &mut have, |e| report(Followed::Step(e)))?;
                    if !order.open {
                        return Ok(Finished { cause: self.recorded_cause(&id)?, state: order.state });
                    }
                    order.state
                }
                Err(e @ ClientError::Api { status: 404, .. }) if !announced => {
                    let expires = match self.request_state(&client, &id)? {
                        Some(RequestState::Refused(r)) => return Err(WalletError::Ledger(r)),
                        // applied: the node asked has not caught up with its block yet
                        Some(
                            RequestState::Pending { expires_at_ms } | RequestState::Applied { expires_at_ms },
                        ) => expires_at_ms,
                        None => return Err(e.into()),
                    };
                    if !announced_pending {
                        if limit.is_none() {
                            give_up_at = Some(Instant::now() + remaining(expires));
                        }
                        let at = give_up_at.unwrap_or(started);
                        report(Followed::Pending { limit: at.saturating_duration_since(Instant::now()) });
                        announced_pending = true;
                    }
                    "in no block yet".to_owned()
                }
                Err(e) => return Err(e.into()),
            };
            let now = Instant::now();
            if give_up_at.is_some_and(|at| now >= at) {
                return Err(WalletError::NotFinished {
                    port: id,
                    state,
                    waited: now.duration_since(started),
                });
            }
            report(Followed::Waiting { state: &state, elapsed: now.duration_since(started) });
            // 200 ms between polls, in slices, so that a stop is seen soon
            for _ in 0..4 {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }

    /// The height of the block in which `step` of order `id` happened at block time `time_ms`:
    /// a binary search on block times, then a short scan of the blocks with that time.
    fn find_step(&self, client: &Client, id: &str, step: &str, time_ms: u64) -> Result<u64, WalletError> {
        let (mut lo, mut hi) = (1, client.status()?.height);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if client.block(mid)?.block_time_ms < time_ms {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        for height in lo..lo + 64 {
            let block = client.block(height)?;
            if block.block_time_ms > time_ms {
                break;
            }
            let found = block.events.iter().any(|e| {
                matches!(e, npchain_api::json::EventInfo::Port { port, step: s, .. } if port == id && s.step == step)
            });
            if found {
                return Ok(height);
            }
        }
        Err(WalletError::Forged {
            node: client.nodes().join(","),
            height: lo,
            reason: format!(
                "the node reports step {step} of {id} at time {time_ms} ms, and no block then carries it"
            ),
        })
    }

    /// Fetches block `height` with its certificate and checks that it finalizes `step` of `port`.
    fn prove(
        &self,
        client: &Client,
        port: &PortId,
        step: &str,
        height: u64,
        needs_tx: bool,
    ) -> Result<Entry, WalletError> {
        let proof = client.finality(height)?;
        let forged = |reason: String| WalletError::Forged { node: client.nodes().join(","), height, reason };
        let block =
            self.checker.check(&proof.block, &proof.certificate).map_err(|e| forged(e.to_string()))?;
        let txs = block.transactions().map_err(|e| forged(e.to_string()))?;
        let tx_index = txs.iter().position(|t| makes_step(t, port, step));
        if tx_index.is_none() && needs_tx {
            return Err(forged(format!("the block carries no transaction that makes step {step} of {port}")));
        }
        Ok(Entry {
            port: port.to_string(),
            step: step.to_owned(),
            height,
            block: commonware_formatting::hex(&proof.block),
            certificate: commonware_formatting::hex(&proof.certificate),
            tx_index,
        })
    }
}
