//! What the block log keeps of one finalized block: a domain record (its header, each
//! transaction's outcome, the block's events as the core reported them), not any interface's
//! answer. The HTTP API's JSON is made from it at the edge, so the disk format does not change
//! when the API does. The canonical encoding (commonware-codec) is prefixed by a format version
//! byte; a record of another version is refused by name, never misread.

use bytes::BufMut;
use commonware_codec::{
    Buf, Copying, Decode, EncodeSize, Error as CodecError, RangeCfg, Read, ReadExt, ReadRangeExt, Write,
};
use npchain_api::Block;
use npchain_core::{
    BlockOutcome, E164, Event, OperatorId, Prefix, PublicKey, Step,
    ledger::MAX_OPERATORS,
    tx::MAX_GROUP,
    types::{Digest, PortId, Timestamp, TxId},
};

/// The format version written before every record.
pub const FORMAT_VERSION: u8 = 1;

/// A finalized block as the node reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockRecord {
    pub height: u64,
    pub digest: Digest,
    pub parent: Digest,
    pub time: Timestamp,
    /// The state hash after the block.
    pub state_hash: Digest,
    /// Every transaction in block order, with what applying it did.
    pub txs: Vec<TxRecord>,
    /// Everything the block changed: timers first, then transactions in order.
    pub events: Vec<Event>,
}

/// One transaction of a block and what applying it did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxRecord {
    pub id: TxId,
    pub outcome: TxOutcome,
}

/// What the ledger did with a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxOutcome {
    Applied,
    /// Refused by the ledger, state untouched: the rule's stable code
    /// ([`npchain_core::TxError::code`]) and its message. The error itself is not kept: it
    /// names rules by static text and has no decoding.
    Rejected {
        code: String,
        message: String,
    },
}

impl BlockRecord {
    /// The record of `block` (whose digest is `digest`), applied with `outcome`.
    pub fn new(block: &Block, digest: Digest, outcome: &BlockOutcome) -> Self {
        let txs = outcome
            .results
            .iter()
            .map(|(id, result)| TxRecord {
                id: *id,
                outcome: match result {
                    Ok(()) => TxOutcome::Applied,
                    Err(e) => TxOutcome::Rejected { code: e.code().to_owned(), message: e.to_string() },
                },
            })
            .collect();
        Self {
            height: block.height,
            digest,
            parent: block.parent,
            time: block.time,
            state_hash: block.state_hash,
            txs,
            events: outcome.events.clone(),
        }
    }

    /// The subscriber keys the block bound, with their numbers.
    pub fn bindings(&self) -> impl Iterator<Item = (&PublicKey, E164)> {
        self.events.iter().filter_map(|e| match e {
            Event::Bound { number, subscriber: Some(key), .. } => Some((key, *number)),
            _ => None,
        })
    }

    /// The orders the block requested, with their donor and recipient.
    pub fn requested_ports(&self) -> impl Iterator<Item = (&PortId, &OperatorId, &OperatorId)> {
        self.events.iter().filter_map(|e| match e {
            Event::Port { port, step: Step::Requested, donor, recipient, .. } => {
                Some((port, donor, recipient))
            }
            _ => None,
        })
    }

    /// The version byte and the record's canonical encoding.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(1 + self.encode_size());
        out.push(FORMAT_VERSION);
        self.write(&mut out);
        out
    }

    /// Reads what [`Self::to_bytes`] wrote. Every length is bounded by the bytes at hand (and a
    /// port's numbers by [`MAX_GROUP`]), so a corrupt length cannot make it allocate more.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, RecordError> {
        let (&version, body) = bytes.split_first().ok_or(RecordError::Codec(CodecError::EndOfBuffer))?;
        if version != FORMAT_VERSION {
            return Err(RecordError::UnknownVersion(version));
        }
        Ok(Self::decode_cfg(Copying(body), &body.len())?)
    }
}

/// Why stored bytes are not a block record.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("format version {0} is not one this node reads (it reads version {FORMAT_VERSION})")]
    UnknownVersion(u8),
    #[error(transparent)]
    Codec(#[from] CodecError),
}

fn write_text(text: &str, buf: &mut impl BufMut) {
    text.as_bytes().write(buf);
}

fn text_size(text: &str) -> usize {
    text.as_bytes().encode_size()
}

fn read_text(buf: &mut impl Buf, max: usize) -> Result<String, CodecError> {
    let bytes = Vec::<u8>::read_range(buf, ..=max)?;
    String::from_utf8(bytes).map_err(|_| CodecError::Invalid("TxOutcome", "text is not UTF-8"))
}

impl Write for TxRecord {
    fn write(&self, buf: &mut impl BufMut) {
        self.id.write(buf);
        match &self.outcome {
            TxOutcome::Applied => 0u8.write(buf),
            TxOutcome::Rejected { code, message } => {
                1u8.write(buf);
                write_text(code, buf);
                write_text(message, buf);
            }
        }
    }
}

impl EncodeSize for TxRecord {
    fn encode_size(&self) -> usize {
        self.id.encode_size()
            + 1
            + match &self.outcome {
                TxOutcome::Applied => 0,
                TxOutcome::Rejected { code, message } => text_size(code) + text_size(message),
            }
    }
}

impl Read for TxRecord {
    /// The longest text it may hold.
    type Cfg = usize;
    fn read_cfg(buf: &mut impl Buf, max: &usize) -> Result<Self, CodecError> {
        let id = TxId::read(buf)?;
        let outcome = match u8::read(buf)? {
            0 => TxOutcome::Applied,
            1 => TxOutcome::Rejected { code: read_text(buf, *max)?, message: read_text(buf, *max)? },
            t => return Err(CodecError::InvalidEnum(t)),
        };
        Ok(Self { id, outcome })
    }
}

/// [`Event`] has no codec of its own (the core never stores events); the log's is here.
struct EventCodec<'a>(&'a Event);

impl Write for EventCodec<'_> {
    fn write(&self, buf: &mut impl BufMut) {
        match self.0 {
            Event::OperatorAdmitted { operator } => {
                0u8.write(buf);
                operator.write(buf);
            }
            Event::OperatorUpdated { operator } => {
                1u8.write(buf);
                operator.write(buf);
            }
            Event::OperatorRetired { operator } => {
                2u8.write(buf);
                operator.write(buf);
            }
            Event::RangeAssigned { prefix, holder } => {
                3u8.write(buf);
                prefix.write(buf);
                holder.write(buf);
            }
            Event::PolicySet => 4u8.write(buf),
            Event::Bound { number, operator, subscriber } => {
                5u8.write(buf);
                number.write(buf);
                operator.write(buf);
                subscriber.write(buf);
            }
            Event::Port { port, step, donor, recipient, numbers } => {
                6u8.write(buf);
                port.write(buf);
                step.write(buf);
                donor.write(buf);
                recipient.write(buf);
                numbers.write(buf);
            }
            Event::Returned { number, from, to } => {
                7u8.write(buf);
                number.write(buf);
                from.write(buf);
                to.write(buf);
            }
            Event::RangeWithdrawn { prefix, holder } => {
                8u8.write(buf);
                prefix.write(buf);
                holder.write(buf);
            }
            Event::ValidatorSetChanged { epoch, added, removed } => {
                9u8.write(buf);
                epoch.write(buf);
                added.write(buf);
                removed.write(buf);
            }
            Event::Imported { number, from, to } => {
                10u8.write(buf);
                number.write(buf);
                from.write(buf);
                to.write(buf);
            }
        }
    }
}

impl EncodeSize for EventCodec<'_> {
    fn encode_size(&self) -> usize {
        1 + match self.0 {
            Event::OperatorAdmitted { operator }
            | Event::OperatorUpdated { operator }
            | Event::OperatorRetired { operator } => operator.encode_size(),
            Event::RangeAssigned { prefix, holder } | Event::RangeWithdrawn { prefix, holder } => {
                prefix.encode_size() + holder.encode_size()
            }
            Event::PolicySet => 0,
            Event::Bound { number, operator, subscriber } => {
                number.encode_size() + operator.encode_size() + subscriber.encode_size()
            }
            Event::Port { port, step, donor, recipient, numbers } => {
                port.encode_size()
                    + step.encode_size()
                    + donor.encode_size()
                    + recipient.encode_size()
                    + numbers.encode_size()
            }
            Event::Returned { number, from, to } | Event::Imported { number, from, to } => {
                number.encode_size() + from.encode_size() + to.encode_size()
            }
            Event::ValidatorSetChanged { epoch, added, removed } => {
                epoch.encode_size() + added.encode_size() + removed.encode_size()
            }
        }
    }
}

fn read_event(buf: &mut impl Buf) -> Result<Event, CodecError> {
    Ok(match u8::read(buf)? {
        0 => Event::OperatorAdmitted { operator: OperatorId::read(buf)? },
        1 => Event::OperatorUpdated { operator: OperatorId::read(buf)? },
        2 => Event::OperatorRetired { operator: OperatorId::read(buf)? },
        3 => Event::RangeAssigned { prefix: Prefix::read(buf)?, holder: OperatorId::read(buf)? },
        4 => Event::PolicySet,
        5 => Event::Bound {
            number: E164::read(buf)?,
            operator: OperatorId::read(buf)?,
            subscriber: Option::<PublicKey>::read(buf)?,
        },
        6 => Event::Port {
            port: PortId::read(buf)?,
            step: Step::read(buf)?,
            donor: OperatorId::read(buf)?,
            recipient: OperatorId::read(buf)?,
            numbers: Vec::<E164>::read_range(buf, ..=MAX_GROUP)?,
        },
        7 => Event::Returned {
            number: E164::read(buf)?,
            from: OperatorId::read(buf)?,
            to: OperatorId::read(buf)?,
        },
        8 => Event::RangeWithdrawn { prefix: Prefix::read(buf)?, holder: OperatorId::read(buf)? },
        9 => Event::ValidatorSetChanged {
            epoch: u64::read(buf)?,
            added: Vec::<PublicKey>::read_range(buf, ..=MAX_OPERATORS)?,
            removed: Vec::<PublicKey>::read_range(buf, ..=MAX_OPERATORS)?,
        },
        10 => Event::Imported {
            number: E164::read(buf)?,
            from: OperatorId::read(buf)?,
            to: OperatorId::read(buf)?,
        },
        t => return Err(CodecError::InvalidEnum(t)),
    })
}

impl Write for BlockRecord {
    fn write(&self, buf: &mut impl BufMut) {
        self.height.write(buf);
        self.digest.write(buf);
        self.parent.write(buf);
        self.time.write(buf);
        self.state_hash.write(buf);
        self.txs.write(buf);
        self.events.len().write(buf);
        for event in &self.events {
            EventCodec(event).write(buf);
        }
    }
}

impl EncodeSize for BlockRecord {
    fn encode_size(&self) -> usize {
        self.height.encode_size()
            + self.digest.encode_size()
            + self.parent.encode_size()
            + self.time.encode_size()
            + self.state_hash.encode_size()
            + self.txs.encode_size()
            + self.events.len().encode_size()
            + self.events.iter().map(|e| EventCodec(e).encode_size()).sum::<usize>()
    }
}

impl Read for BlockRecord {
    /// The most items (transactions, events, text bytes) it may hold: the stored bytes' length
    /// bounds them all, since each takes at least one byte.
    type Cfg = usize;
    fn read_cfg(buf: &mut impl Buf, max: &usize) -> Result<Self, CodecError> {
        let height = u64::read(buf)?;
        let digest = Digest::read(buf)?;
        let parent = Digest::read(buf)?;
        let time = Timestamp::read(buf)?;
        let state_hash = Digest::read(buf)?;
        let txs = Vec::<TxRecord>::read_cfg(buf, &(RangeCfg::from(..=*max), *max))?;
        let count = usize::read_cfg(buf, &RangeCfg::from(..=*max))?;
        let events = (0..count).map(|_| read_event(buf)).collect::<Result<_, _>>()?;
        Ok(Self { height, digest, parent, time, state_hash, txs, events })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use commonware_cryptography::Signer;
    use npchain_core::{RejectCause, RejectReason};

    fn record() -> BlockRecord {
        let op = |s: &str| s.parse::<OperatorId>().unwrap();
        let number: E164 = "+4930123".parse().unwrap();
        BlockRecord {
            height: 3,
            digest: Digest([1; 32]),
            parent: Digest([2; 32]),
            time: Timestamp(5),
            state_hash: Digest([3; 32]),
            txs: vec![
                TxRecord { id: TxId(Digest([7; 32])), outcome: TxOutcome::Applied },
                TxRecord {
                    id: TxId(Digest([8; 32])),
                    outcome: TxOutcome::Rejected { code: "not-bound".into(), message: "number ä".into() },
                },
            ],
            events: vec![
                Event::OperatorAdmitted { operator: op("OPA") },
                Event::OperatorUpdated { operator: op("OPA") },
                Event::OperatorRetired { operator: op("OPB") },
                Event::RangeAssigned { prefix: "+49301".parse().unwrap(), holder: op("OPA") },
                Event::PolicySet,
                Event::Bound {
                    number,
                    operator: op("OPA"),
                    subscriber: Some(npchain_testkit::key("OPA").public_key()),
                },
                Event::Bound { number, operator: op("OPA"), subscriber: None },
                Event::Port {
                    port: PortId(Digest([9; 32])),
                    step: Step::Rejected(RejectCause::Donor(RejectReason::CourtOrder)),
                    donor: op("OPA"),
                    recipient: op("OPB"),
                    numbers: vec![number],
                },
                Event::Returned { number, from: op("OPB"), to: op("OPA") },
                Event::Imported { number, from: op("OPA"), to: op("OPB") },
                Event::RangeWithdrawn { prefix: "+49302".parse().unwrap(), holder: op("OPB") },
                Event::ValidatorSetChanged {
                    epoch: 2,
                    added: vec![npchain_testkit::key("OPE/validator").public_key()],
                    removed: Vec::new(),
                },
            ],
        }
    }

    #[test]
    fn a_record_reads_back_as_written_and_nothing_else_does() {
        let r = record();
        let bytes = r.to_bytes();
        assert_eq!(bytes[0], FORMAT_VERSION);
        assert_eq!(bytes.len(), 1 + r.encode_size());
        assert_eq!(BlockRecord::from_bytes(&bytes).unwrap(), r);
        for cut in 0..bytes.len() {
            assert!(BlockRecord::from_bytes(&bytes[..cut]).is_err(), "truncated at {cut}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(matches!(
            BlockRecord::from_bytes(&longer),
            Err(RecordError::Codec(CodecError::ExtraData(1)))
        ));
    }

    #[test]
    fn another_format_version_is_refused_by_name() {
        let mut bytes = record().to_bytes();
        bytes[0] = 2;
        let e = BlockRecord::from_bytes(&bytes).unwrap_err();
        assert!(matches!(e, RecordError::UnknownVersion(2)));
        assert!(e.to_string().contains("format version 2"), "{e}");
        // the JSON the log held before it had format versions
        assert!(matches!(
            BlockRecord::from_bytes(br#"{"height":1}"#),
            Err(RecordError::UnknownVersion(b'{'))
        ));
    }
}
