//! Transactions: what each party may sign, their canonical encoding and their signatures.
//!
//! Wire form (version 1), all integers big-endian, lengths as varints:
//! `version:u8 | nonce:u64 | expires_at:u64 | signer:[u8;32] | kind:u8 | fields… | signature:[u8;64]`.
//! The signature covers `chain_id | everything before the signature` in the namespace
//! [`NAMESPACE_TX`]. The encoding is frozen by the fixtures in `tests/it/fixtures.rs`.

mod body;
mod import;
mod signer_keys;

pub use crate::error::InvalidTx;
use crate::{
    number::E164,
    types::{Digest, OperatorId, PortId, PrivateKey, PublicKey, Signature, Timestamp, TxId},
};
pub use body::TxBody;
use bytes::BufMut;
use commonware_codec::{
    Buf, DecodeExt, Encode, EncodeSize, Error as CodecError, FixedSize, RangeCfg, Read, ReadExt, Write,
};
use commonware_cryptography::{Hasher, Sha256, Signer, Verifier};
pub use import::{ImportGroup, MAX_IMPORT, NUMBER_SIZE, import_len};

/// Current transaction format version.
pub const TX_VERSION: u8 = 1;
/// Most numbers in one (group) port request.
pub const MAX_GROUP: usize = 10_000;
/// Longest operator display name, in bytes of UTF-8.
pub const MAX_NAME_LEN: usize = 64;
/// Largest encoded transaction, in bytes (a full group request fits with room to spare).
pub const MAX_TX_BYTES: usize = 128 * 1024;

/// Whether `name` is an acceptable operator display name: 1 to [`MAX_NAME_LEN`] bytes, no
/// control characters, no surrounding blanks.
pub fn valid_operator_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && !name.chars().any(char::is_control)
        && name.trim() == name
}

/// Signature namespace of transactions.
pub const NAMESPACE_TX: &[u8] = b"npchain/v1/tx";
/// Signature namespace of a subscriber's consent carried by an operator-initiated request.
pub const NAMESPACE_CONSENT: &[u8] = b"npchain/v1/port-consent";
/// Hash domain of port ids.
const DOMAIN_PORT_ID: &[u8] = b"npchain/v1/port-id";
/// Hash domain of transaction ids.
const DOMAIN_TX_ID: &[u8] = b"npchain/v1/tx-id";

/// Identifies one network: the hash of its genesis. Signatures bind to it, so a transaction
/// signed for one network is worthless on another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ChainId(pub Digest);

impl std::fmt::Display for ChainId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(&self.0, f)
    }
}

/// What a subscriber asks for: move these numbers from the donor to the recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortRequest {
    /// Strictly ascending, 1 to [`MAX_GROUP`] numbers; more than one is a group port.
    pub numbers: Vec<E164>,
    pub donor: OperatorId,
    pub recipient: OperatorId,
    /// Wanted due time (earliest activation); a time in the past means "as soon as possible".
    pub due: Timestamp,
    /// Makes each request unique, so that a subscriber's consent cannot be used twice.
    pub nonce: u64,
}

impl PortRequest {
    /// The id the order will have when this subscriber requests it.
    pub fn port_id(&self, subscriber: &PublicKey) -> PortId {
        PortId(Sha256::hash(&[DOMAIN_PORT_ID, subscriber.as_ref(), &self.encode()]))
    }

    /// The subscriber's consent to this request, for an operator to submit.
    pub fn consent(&self, chain: &ChainId, subscriber: &PrivateKey) -> Signature {
        subscriber.sign(NAMESPACE_CONSENT, &signing_payload(chain, &self.encode()))
    }
}

impl Write for PortRequest {
    fn write(&self, buf: &mut impl BufMut) {
        self.numbers.write(buf);
        self.donor.write(buf);
        self.recipient.write(buf);
        self.due.write(buf);
        self.nonce.write(buf);
    }
}

impl EncodeSize for PortRequest {
    fn encode_size(&self) -> usize {
        self.numbers.encode_size()
            + self.donor.encode_size()
            + self.recipient.encode_size()
            + Timestamp::SIZE
            + u64::SIZE
    }
}

impl Read for PortRequest {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        let numbers = Vec::<E164>::read_cfg(buf, &(RangeCfg::from(1..=MAX_GROUP), ()))?;
        if numbers.windows(2).any(|w| w[0] >= w[1]) {
            return Err(CodecError::Invalid("PortRequest", "numbers must be strictly ascending"));
        }
        Ok(Self {
            numbers,
            donor: OperatorId::read(buf)?,
            recipient: OperatorId::read(buf)?,
            due: Timestamp::read(buf)?,
            nonce: u64::read(buf)?,
        })
    }
}

/// An unsigned transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transaction {
    /// Any value that makes the transaction unique for its signer (a counter or random).
    pub nonce: u64,
    /// Last block time at which it may be applied; it is remembered until then to refuse
    /// replays, so it may lie at most the policy's `tx_ttl_max_secs` ahead.
    pub expires_at: Timestamp,
    pub signer: PublicKey,
    pub body: TxBody,
}

impl Transaction {
    /// Signs the transaction for `chain`. `key` must be the key of `signer`.
    pub fn sign(self, chain: &ChainId, key: &PrivateKey) -> SignedTransaction {
        debug_assert_eq!(key.public_key(), self.signer, "signing key must match signer");
        let signature = key.sign(NAMESPACE_TX, &signing_payload(chain, &self.encode()));
        SignedTransaction { tx: self, signature }
    }
}

fn signing_payload(chain: &ChainId, encoded: &[u8]) -> Vec<u8> {
    let mut payload = Vec::with_capacity(32 + encoded.len());
    payload.extend_from_slice(chain.0.as_ref());
    payload.extend_from_slice(encoded);
    payload
}

impl Write for Transaction {
    fn write(&self, buf: &mut impl BufMut) {
        TX_VERSION.write(buf);
        self.nonce.write(buf);
        self.expires_at.write(buf);
        self.signer.write(buf);
        self.body.write(buf);
    }
}

impl EncodeSize for Transaction {
    fn encode_size(&self) -> usize {
        1 + u64::SIZE + Timestamp::SIZE + PublicKey::SIZE + self.body.encode_size()
    }
}

impl Read for Transaction {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        let version = u8::read(buf)?;
        if version != TX_VERSION {
            return Err(CodecError::Invalid("Transaction", "unsupported version (expected 1)"));
        }
        Ok(Self {
            nonce: u64::read(buf)?,
            expires_at: Timestamp::read(buf)?,
            signer: signer_keys::read(buf)?,
            body: TxBody::read(buf)?,
        })
    }
}

/// A transaction and its signature, as submitted and as carried in blocks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedTransaction {
    pub tx: Transaction,
    pub signature: Signature,
}

impl Write for SignedTransaction {
    fn write(&self, buf: &mut impl BufMut) {
        self.tx.write(buf);
        self.signature.write(buf);
    }
}

impl EncodeSize for SignedTransaction {
    fn encode_size(&self) -> usize {
        self.tx.encode_size() + Signature::SIZE
    }
}

impl Read for SignedTransaction {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Ok(Self { tx: Transaction::read(buf)?, signature: Signature::read(buf)? })
    }
}

impl SignedTransaction {
    /// Decodes a transaction from the wire, bounded in size, refusing trailing bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, InvalidTx> {
        if bytes.len() > MAX_TX_BYTES {
            return Err(InvalidTx::TooLarge { size: bytes.len() });
        }
        Self::decode(commonware_codec::Copying(bytes)).map_err(|e| InvalidTx::Malformed(e.into()))
    }

    /// The id a transaction with these wire bytes has, read without decoding it: the hash of
    /// everything before the signature. For canonical bytes (all that [`Self::from_bytes`]
    /// accepts) it equals [`Self::id`]; for anything else it is merely some hash, so use it as
    /// a lookup key to be confirmed, never as a check.
    pub fn id_of_encoded(bytes: &[u8]) -> Option<TxId> {
        let payload = bytes.len().checked_sub(Signature::SIZE)?;
        Some(tx_id(&bytes[..payload]))
    }

    /// The transaction's id (over the signed payload, not the signature).
    pub fn id(&self) -> TxId {
        tx_id(&self.tx.encode())
    }

    /// Everything that can be checked without the ledger: signatures and self-consistency.
    /// Nodes do this once, when a transaction enters the pool or arrives in a block.
    pub fn verify(self, chain: &ChainId) -> Result<VerifiedTx, InvalidTx> {
        let encoded = self.tx.encode();
        self.check_form(encoded.len())?;
        self.check_signatures(chain, &encoded)?;
        Ok(VerifiedTx { id: tx_id(&encoded), signed: self })
    }

    /// Size and self-consistency, without the signatures.
    fn check_form(&self, encoded_len: usize) -> Result<(), InvalidTx> {
        if encoded_len + Signature::SIZE > MAX_TX_BYTES {
            return Err(InvalidTx::TooLarge { size: encoded_len + Signature::SIZE });
        }
        match &self.tx.body {
            TxBody::RequestPort(request) | TxBody::RequestPortFor { request, .. } => check_request(request),
            TxBody::SetPolicy(policy) => Ok(policy.validate()?),
            _ => Ok(()),
        }
    }

    /// The signatures this transaction carries: the signer's, and a subscriber's consent.
    fn signatures(&self, chain: &ChainId, encoded: &[u8]) -> Vec<SignatureCheck<'_>> {
        let mut out = vec![SignatureCheck {
            key: &self.tx.signer,
            namespace: NAMESPACE_TX,
            message: signing_payload(chain, encoded),
            signature: &self.signature,
        }];
        if let TxBody::RequestPortFor { request, subscriber, consent } = &self.tx.body {
            out.push(SignatureCheck {
                key: subscriber,
                namespace: NAMESPACE_CONSENT,
                message: signing_payload(chain, &request.encode()),
                signature: consent,
            });
        }
        out
    }

    fn check_signatures(&self, chain: &ChainId, encoded: &[u8]) -> Result<(), InvalidTx> {
        for check in self.signatures(chain, encoded) {
            if !check.key.verify(check.namespace, &check.message, check.signature) {
                return Err(if check.namespace == NAMESPACE_TX {
                    InvalidTx::BadSignature { signer: check.key.into() }
                } else {
                    InvalidTx::BadConsent { subscriber: check.key.into() }
                });
            }
        }
        Ok(())
    }
}

/// One signature to check.
struct SignatureCheck<'a> {
    key: &'a PublicKey,
    namespace: &'static [u8],
    message: Vec<u8>,
    signature: &'a Signature,
}

/// [`SignedTransaction::verify`] for many transactions at once, with the same results.
///
/// All signatures are checked in one ed25519 batch equation, about twice as fast as one by
/// one. Only when the batch fails is each transaction checked alone, to say which one is bad.
/// `rng` draws the batch's random coefficients: it decides nothing but how unlikely a forged
/// signature is to slip through (2^-128), so the results do not depend on it.
pub fn verify_batch(
    txs: Vec<SignedTransaction>,
    chain: &ChainId,
    rng: &mut impl rand_core::CryptoRng,
) -> Vec<Result<VerifiedTx, InvalidTx>> {
    use commonware_cryptography::{BatchEntry, BatchVerifier};
    let encoded: Vec<Vec<u8>> = txs.iter().map(|t| t.tx.encode().to_vec()).collect();
    let forms: Vec<Result<(), InvalidTx>> =
        txs.iter().zip(&encoded).map(|(t, e)| t.check_form(e.len())).collect();
    let batch_valid = {
        let checks: Vec<SignatureCheck<'_>> = txs
            .iter()
            .zip(&encoded)
            .zip(&forms)
            .filter(|(_, form)| form.is_ok())
            .flat_map(|((t, e), _)| t.signatures(chain, e))
            .collect();
        !checks.is_empty()
            && PublicKey::verify_batch(
                rng,
                &checks,
                |_, c| BatchEntry {
                    namespace: c.namespace,
                    message: &c.message,
                    public_key: c.key,
                    signature: c.signature,
                },
                &commonware_parallel::Sequential,
            )
    };
    txs.into_iter()
        .zip(encoded)
        .zip(forms)
        .map(|((tx, e), form)| {
            form?;
            if !batch_valid {
                tx.check_signatures(chain, &e)?;
            }
            Ok(VerifiedTx { id: tx_id(&e), signed: tx })
        })
        .collect()
}

fn tx_id(encoded: &[u8]) -> TxId {
    TxId(Sha256::hash(&[DOMAIN_TX_ID, encoded]))
}

fn check_request(request: &PortRequest) -> Result<(), InvalidTx> {
    if request.donor == request.recipient {
        return Err(InvalidTx::SameOperator { operator: request.donor.clone() });
    }
    Ok(())
}

/// A transaction whose signatures and form have been checked; only [`SignedTransaction::verify`]
/// makes one, so the state machine never re-verifies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedTx {
    id: TxId,
    signed: SignedTransaction,
}

impl VerifiedTx {
    pub fn id(&self) -> TxId {
        self.id
    }
    pub fn tx(&self) -> &Transaction {
        &self.signed.tx
    }
    pub fn signed(&self) -> &SignedTransaction {
        &self.signed
    }
}
