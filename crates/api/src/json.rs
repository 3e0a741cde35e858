//! The JSON shapes of the HTTP API's requests and answers (governance reads included), shared by the node (which makes
//! them only at its HTTP edge) and every client. The node's `/openapi.json` documents the
//! same shapes.

use npchain_core::{
    E164, Event, Lengths, NumberEvent, OperatorId, OperatorRecord, Policy, PortOrder, Prefix, Route, Step,
    TxError,
    port::{Initiator, RejectCause},
    types::{PortId, TxId},
};
use serde::{Deserialize, Serialize};

mod stats;
pub use stats::{Durations, Stats, StatsCounts, StatsPair, StatsRow};

/// A node's view of the chain, as `GET /v1/status` shows it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Status {
    /// The operator this node belongs to (None for an observer).
    pub operator: Option<String>,
    /// This node's validator (p2p) public key, hex.
    pub node_key: String,
    /// The chain id, hex.
    pub chain_id: String,
    /// Height of the last applied (finalized) block.
    pub height: u64,
    /// Block time of that block, ms since the Unix epoch.
    pub block_time_ms: u64,
    /// State hash after that block, hex.
    pub state_hash: String,
    /// Highest finalized height this node has heard of (≥ height while catching up).
    pub finalized_tip: u64,
    /// How many finalized blocks this node has still to apply.
    pub behind: u64,
    /// Transactions waiting in the mempool.
    pub mempool: usize,
    /// The epoch of the next block: the validator set changes only between epochs.
    #[serde(default)]
    pub epoch: u64,
    /// Blocks per epoch, from the genesis (epoch `e` holds heights `e·n ..= e·n + n − 1`).
    #[serde(default)]
    pub blocks_per_epoch: u64,
    /// Validators of that epoch: operator ids (a key no operator holds any more, hex).
    pub validators: Vec<String>,
    /// The peers this node is configured to connect to.
    pub peers: Vec<PeerInfo>,
    /// Why the node stopped applying blocks, if it did.
    pub halted: Option<String>,
    /// The genesis region numbers in national form are read with (ISO 3166, e.g. `DE`).
    #[serde(default)]
    pub region: Option<String>,
}

/// The validators and what this node saw of each, as `GET /v1/validators` shows it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ValidatorList {
    /// The committed height the answer belongs to.
    pub height: u64,
    /// The epoch of the next block.
    pub epoch: u64,
    /// A validator is live when its signature is in the finalization certificate of one of the
    /// last `live_window` blocks. A certificate holds the first quorum of votes the leader
    /// gathered, so a live but slow validator can be missing from a few in a row.
    pub live_window: u64,
    /// Every key of the current epoch's set and of the pending set, sorted by key.
    pub validators: Vec<ValidatorInfo>,
}

/// One validator key.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ValidatorInfo {
    /// The validator (consensus) public key, hex.
    pub key: String,
    /// The operator that holds the key now, if any.
    pub operator: Option<String>,
    /// In the set of the current epoch (the next block's).
    pub current: bool,
    /// In the set the next epoch boundary would record as things stand.
    pub pending: bool,
    /// The highest block whose certificate, among those this node read since it started, the
    /// key signed.
    pub last_signed_height: Option<u64>,
    /// That block's time, ms since the Unix epoch.
    pub last_signed_time_ms: Option<u64>,
    /// Signed one of the last `live_window` blocks.
    pub live: bool,
}

/// A configured peer.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PeerInfo {
    /// The peer's validator key, hex.
    pub key: String,
    /// Its p2p address.
    pub address: String,
    /// The operator it belongs to, if it is a validator of the genesis.
    pub operator: Option<String>,
}

/// A finalized block, as `GET /v1/blocks/{height}` shows it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct BlockInfo {
    pub height: u64,
    /// The block's digest, hex.
    pub digest: String,
    /// The parent block's digest, hex.
    pub parent: String,
    pub block_time_ms: u64,
    /// State hash after the block, hex.
    pub state_hash: String,
    /// Every transaction in block order, with what applying it did.
    pub txs: Vec<TxResult>,
    /// Everything the block changed, timers first, then transactions in order.
    pub events: Vec<EventInfo>,
}

/// What applying one transaction did.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct TxResult {
    /// The transaction id, hex.
    pub id: String,
    /// `applied`, or `rejected` with the ledger's code and reason.
    pub outcome: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl TxResult {
    pub fn new(id: &TxId, result: &Result<(), TxError>) -> Self {
        match result {
            Ok(()) => Self { id: id.to_string(), outcome: "applied".into(), code: None, reason: None },
            Err(e) => Self {
                id: id.to_string(),
                outcome: "rejected".into(),
                code: Some(e.code().into()),
                reason: Some(e.to_string()),
            },
        }
    }
}

/// Where a transaction is, as `GET /v1/tx/{id}` shows it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum TxStatus {
    /// In this node's mempool, waiting for a block.
    Pending,
    /// In a finalized block: applied, or rejected by the ledger with the reason.
    Committed {
        height: u64,
        block_time_ms: u64,
        #[serde(flatten)]
        result: TxResult,
    },
}

/// Where a number routes, as `GET /v1/numbers/{e164}` shows it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct RouteInfo {
    /// The number, `+` and E.164 digits.
    pub number: String,
    /// The height the answer belongs to.
    pub height: u64,
    /// The operator that serves the number.
    pub serving: String,
    /// Its routing number (`rn` in the ENUM answer).
    pub routing_number: String,
    /// Served by someone other than the range holder.
    pub ported: bool,
    /// The holder of the longest assigned range containing the number.
    pub range_holder: Option<String>,
    /// That range's prefix.
    pub range: Option<String>,
    /// Whether a subscriber key is bound to the number.
    pub bound: bool,
    /// The open port order of the number, if any.
    pub open_port: Option<String>,
    /// The NAPTR record the node's ENUM zone answers for the number at this height.
    #[serde(default)]
    pub naptr: Option<NaptrInfo>,
}

/// A NAPTR record (RFC 3403) as the ENUM zone answers it: `dig +short` prints it as
/// `order preference "flags" "service" "regexp" replacement`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct NaptrInfo {
    pub order: u16,
    pub preference: u16,
    pub flags: String,
    pub service: String,
    pub regexp: String,
    /// `.`: the rule is terminal, the result is the regexp's URI.
    pub replacement: String,
}

impl NaptrInfo {
    /// The zone's answer for a number served under `routing_number`, ported or not.
    pub fn new(number: &E164, ported: bool, routing_number: &dyn std::fmt::Display) -> Self {
        use crate::enum_query::{NAPTR_FLAGS, NAPTR_ORDER, NAPTR_PREFERENCE, NAPTR_SERVICE, naptr_regexp};
        Self {
            order: NAPTR_ORDER,
            preference: NAPTR_PREFERENCE,
            flags: NAPTR_FLAGS.into(),
            service: NAPTR_SERVICE.into(),
            regexp: naptr_regexp(number, ported, routing_number),
            replacement: ".".into(),
        }
    }
}

impl RouteInfo {
    pub fn new(height: u64, route: &Route, bound: bool, open_port: Option<&PortId>) -> Self {
        Self {
            number: route.number.to_string(),
            height,
            serving: route.serving.to_string(),
            routing_number: route.routing_number.to_string(),
            ported: route.ported,
            range_holder: route.range_holder.as_ref().map(ToString::to_string),
            range: route.range.map(|p| p.to_string()),
            bound,
            open_port: open_port.map(ToString::to_string),
            naptr: Some(NaptrInfo::new(&route.number, route.ported, &route.routing_number)),
        }
    }
}

/// One entry of a number's history.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct HistoryEntry {
    /// Block time of the change, ms since the Unix epoch.
    pub time_ms: u64,
    #[serde(flatten)]
    pub event: NumberEventInfo,
}

/// What happened to a number.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum NumberEventInfo {
    /// Loaded from the legacy database at genesis as ported to this operator.
    Migrated { to: String },
    /// The serving operator bound (or, with no subscriber, unbound) a subscriber key.
    Bound { by: String, subscriber: Option<String> },
    /// An order for the number took a step.
    Port {
        port: String,
        #[serde(flatten)]
        step: StepInfo,
    },
    /// The serving operator returned the number to the range holder.
    Returned { from: String, to: String },
}

impl From<&NumberEvent> for NumberEventInfo {
    fn from(e: &NumberEvent) -> Self {
        match e {
            NumberEvent::Migrated { to } => Self::Migrated { to: to.to_string() },
            NumberEvent::Bound { by, subscriber } => {
                Self::Bound { by: by.to_string(), subscriber: subscriber.as_ref().map(hex_key) }
            }
            NumberEvent::Port { port, step } => Self::Port { port: port.to_string(), step: (*step).into() },
            NumberEvent::Returned { from, to } => {
                Self::Returned { from: from.to_string(), to: to.to_string() }
            }
        }
    }
}

/// A number's history, as `GET /v1/numbers/{e164}/history` shows it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct History {
    pub number: String,
    pub height: u64,
    pub entries: Vec<HistoryEntry>,
}

/// A port step: its name, and for a rejection the reason, for a release whether it was deemed.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct StepInfo {
    /// `requested`, `released`, `rejected`, `activated`, `cancelled` or `expired`.
    pub step: String,
    /// A release by the donor's silence rather than its answer.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deemed: bool,
    /// Why the order was rejected (a reason from the closed list, or `donor-silent`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The step names, as filters and JSON use them.
pub const STEP_NAMES: [&str; 6] = ["requested", "released", "rejected", "activated", "cancelled", "expired"];

/// A step's name.
pub fn step_name(step: Step) -> &'static str {
    match step {
        Step::Requested => "requested",
        Step::Released { .. } => "released",
        Step::Rejected(_) => "rejected",
        Step::Activated => "activated",
        Step::Cancelled => "cancelled",
        Step::Expired => "expired",
    }
}

impl From<Step> for StepInfo {
    fn from(step: Step) -> Self {
        Self {
            step: step_name(step).into(),
            deemed: matches!(step, Step::Released { deemed: true }),
            reason: match step {
                Step::Rejected(RejectCause::Donor(r)) => Some(r.as_str().into()),
                Step::Rejected(RejectCause::DonorSilent) => Some("donor-silent".into()),
                _ => None,
            },
        }
    }
}

/// A port order, as `GET /v1/ports/{id}` shows it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PortInfo {
    pub id: String,
    /// The current state: the name of the latest step.
    pub state: String,
    /// Whether the order still blocks its numbers.
    pub open: bool,
    pub numbers: Vec<String>,
    pub donor: String,
    pub recipient: String,
    /// The subscriber's key, hex.
    pub subscriber: String,
    /// `subscriber` (the subscriber's own node sent it) or `recipient` (with their consent).
    pub initiator: String,
    pub due_ms: u64,
    pub donor_deadline_ms: u64,
    pub activation_deadline_ms: u64,
    /// What the donor's silence means for this order.
    pub on_donor_silence: String,
    pub history: Vec<PortStep>,
}

/// One step of an order, with its block time.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PortStep {
    pub time_ms: u64,
    #[serde(flatten)]
    pub step: StepInfo,
}

impl From<&PortOrder> for PortInfo {
    fn from(o: &PortOrder) -> Self {
        Self {
            id: o.id.to_string(),
            state: step_name(o.state()).into(),
            open: o.is_open(),
            numbers: o.numbers.iter().map(ToString::to_string).collect(),
            donor: o.donor.to_string(),
            recipient: o.recipient.to_string(),
            subscriber: o.subscriber.to_string(),
            initiator: match o.initiator {
                Initiator::Subscriber => "subscriber",
                Initiator::Recipient => "recipient",
            }
            .into(),
            due_ms: o.due.millis(),
            donor_deadline_ms: o.donor_deadline.millis(),
            activation_deadline_ms: o.activation_deadline.millis(),
            on_donor_silence: match o.on_donor_silence {
                npchain_core::SilenceRule::DeemedRelease => "deemed-release",
                npchain_core::SilenceRule::DeemedReject => "deemed-reject",
            }
            .into(),
            history: o
                .history
                .iter()
                .map(|(t, s)| PortStep { time_ms: t.millis(), step: (*s).into() })
                .collect(),
        }
    }
}

/// A page of port orders, as `GET /v1/ports` shows it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PortList {
    pub height: u64,
    pub ports: Vec<PortInfo>,
    /// Pass as `after` for the next page; absent on the last page.
    pub next: Option<String>,
}

/// Which orders `GET /v1/ports` lists.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PortQuery {
    /// Orders in which this operator is donor or recipient.
    pub operator: Option<String>,
    /// Orders in this state (a step name, or `open`).
    pub state: Option<String>,
    /// Orders that contain this number.
    pub number: Option<E164>,
    /// Start after this port id (from `next`).
    pub after: Option<PortId>,
    pub limit: usize,
}

/// Something a committed block changed.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventInfo {
    OperatorAdmitted {
        operator: String,
    },
    OperatorUpdated {
        operator: String,
    },
    OperatorRetired {
        operator: String,
    },
    RangeAssigned {
        prefix: String,
        holder: String,
    },
    PolicySet,
    RangeWithdrawn {
        prefix: String,
        holder: String,
    },
    Bound {
        number: String,
        operator: String,
        subscriber: Option<String>,
    },
    /// A port order took a step.
    Port {
        port: String,
        #[serde(flatten)]
        step: StepInfo,
        donor: String,
        recipient: String,
        numbers: Vec<String>,
    },
    Returned {
        number: String,
        from: String,
        to: String,
    },
    /// The regulator's import moved the number from `from` to its new serving operator `to`.
    Imported {
        number: String,
        from: String,
        to: String,
    },
    /// The last block of an epoch recorded a changed validator set for epoch `epoch`.
    ValidatorSetChanged {
        epoch: u64,
        added: Vec<String>,
        removed: Vec<String>,
    },
}

impl From<&Event> for EventInfo {
    fn from(e: &Event) -> Self {
        match e {
            Event::OperatorAdmitted { operator } => Self::OperatorAdmitted { operator: operator.to_string() },
            Event::OperatorUpdated { operator } => Self::OperatorUpdated { operator: operator.to_string() },
            Event::OperatorRetired { operator } => Self::OperatorRetired { operator: operator.to_string() },
            Event::RangeAssigned { prefix, holder } => {
                Self::RangeAssigned { prefix: prefix.to_string(), holder: holder.to_string() }
            }
            Event::PolicySet => Self::PolicySet,
            Event::RangeWithdrawn { prefix, holder } => {
                Self::RangeWithdrawn { prefix: prefix.to_string(), holder: holder.to_string() }
            }
            Event::Bound { number, operator, subscriber } => Self::Bound {
                number: number.to_string(),
                operator: operator.to_string(),
                subscriber: subscriber.as_ref().map(hex_key),
            },
            Event::Port { port, step, donor, recipient, numbers } => Self::Port {
                port: port.to_string(),
                step: (*step).into(),
                donor: donor.to_string(),
                recipient: recipient.to_string(),
                numbers: numbers.iter().map(ToString::to_string).collect(),
            },
            Event::ValidatorSetChanged { epoch, added, removed } => Self::ValidatorSetChanged {
                epoch: *epoch,
                added: added.iter().map(hex_key).collect(),
                removed: removed.iter().map(hex_key).collect(),
            },
            Event::Returned { number, from, to } => {
                Self::Returned { number: number.to_string(), from: from.to_string(), to: to.to_string() }
            }
            Event::Imported { number, from, to } => {
                Self::Imported { number: number.to_string(), from: from.to_string(), to: to.to_string() }
            }
        }
    }
}

impl EventInfo {
    /// Whether the event concerns this operator (policy and validator-set changes concern
    /// everyone).
    pub fn involves_operator(&self, op: &str) -> bool {
        match self {
            Self::OperatorAdmitted { operator }
            | Self::OperatorUpdated { operator }
            | Self::OperatorRetired { operator }
            | Self::Bound { operator, .. } => operator == op,
            Self::RangeAssigned { holder, .. } | Self::RangeWithdrawn { holder, .. } => holder == op,
            Self::PolicySet | Self::ValidatorSetChanged { .. } => true,
            Self::Port { donor, recipient, .. } => donor == op || recipient == op,
            Self::Returned { from, to, .. } | Self::Imported { from, to, .. } => from == op || to == op,
        }
    }

    /// Whether the event concerns this number (`+` and digits).
    pub fn involves_number(&self, n: &str) -> bool {
        match self {
            Self::Bound { number, .. } | Self::Returned { number, .. } | Self::Imported { number, .. } => {
                number == n
            }
            Self::Port { numbers, .. } => numbers.iter().any(|x| x == n),
            Self::RangeAssigned { prefix, .. } | Self::RangeWithdrawn { prefix, .. } => {
                n.starts_with(prefix.as_str())
            }
            _ => false,
        }
    }
}

/// An event in the stream `GET /v1/events`: where it happened, and what.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct EventEnvelope {
    pub height: u64,
    pub block_time_ms: u64,
    /// Position among the block's events.
    pub index: usize,
    #[serde(flatten)]
    pub event: EventInfo,
}

/// A finalized block's canonical bytes and its finalization certificate (the engine's
/// `Finalization`: the proposal and a quorum of validator signatures), checkable offline with
/// [`crate::ProofChecker`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FinalityProof {
    pub block: Vec<u8>,
    pub certificate: Vec<u8>,
}

/// Most transactions in one `POST /v1/txs`.
pub const MAX_BATCH_TXS: usize = 10_000;

/// `POST /v1/txs`: signed transactions, hex.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubmitBatch {
    pub txs: Vec<String>,
}

/// One transaction's result in a batch: its id when accepted, or the refusal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchResult {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// The answer to `POST /v1/txs`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BatchResults {
    pub accepted: usize,
    pub results: Vec<BatchResult>,
}

/// A public key in hex.
pub fn hex_key(key: &npchain_core::PublicKey) -> String {
    commonware_formatting::hex(key.as_ref())
}

/// One operator as `GET /v1/operators` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperatorInfo {
    pub id: String,
    pub name: String,
    /// Signs the operator's transactions (hex).
    pub operator_key: String,
    /// Signs its validator node's consensus messages (hex); `null`: it runs no validator.
    pub validator_key: Option<String>,
    pub routing_number: String,
    /// Retired operators stay listed with `false`.
    pub active: bool,
}

impl From<&OperatorRecord> for OperatorInfo {
    fn from(r: &OperatorRecord) -> Self {
        Self {
            id: r.id.to_string(),
            name: r.name.clone(),
            operator_key: commonware_formatting::hex(&r.operator_key.0),
            validator_key: r.validator_key.as_ref().map(|k| commonware_formatting::hex(&k.0)),
            routing_number: r.routing_number.to_string(),
            active: r.active,
        }
    }
}

/// `GET /v1/operators`: every operator ever admitted, in admission order, and the regulator's
/// key, at one committed height.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperatorList {
    pub height: u64,
    /// The key that signs governance transactions (hex).
    pub regulator: String,
    pub operators: Vec<OperatorInfo>,
}

/// One assigned range.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RangeInfo {
    /// `+` and the leading digits of every number in the range.
    pub prefix: String,
    pub holder: String,
    /// The digit counts (international form, country code included) of the range's numbers:
    /// `11-12`, `10,12`; another name under the prefix is not a number.
    pub lengths: String,
}

/// `GET /v1/ranges`: the assigned ranges, by prefix (digits in order, shorter first), at one
/// committed height. A number belongs to the longest prefix that contains it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RangeList {
    pub height: u64,
    pub ranges: Vec<RangeInfo>,
}

impl RangeList {
    /// The list of `ranges` at `height`, in the order of the answer.
    pub fn new(height: u64, ranges: Vec<(Prefix, OperatorId, Lengths)>) -> Self {
        let mut ranges: Vec<RangeInfo> = ranges
            .into_iter()
            .map(|(p, h, l)| RangeInfo {
                prefix: p.to_string(),
                holder: h.to_string(),
                lengths: l.to_string(),
            })
            .collect();
        ranges.sort_by(|a, b| a.prefix.cmp(&b.prefix));
        Self { height, ranges }
    }
}

/// `GET /v1/policy`: the policy in force at one committed height (for orders requested from
/// then on), each field by the name `npchain regulator policy set` takes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyInfo {
    pub height: u64,
    pub policy: Policy,
}
