//! A subscriber's consent to a port that the recipient operator submits on their behalf
//! (`TxBody::RequestPortFor`): what the subscriber's wallet signs and hands over, and what the
//! recipient's node checks before it signs the request with its operator key.
//!
//! A [`Consent`] holds the chain, the request (numbers, donor, recipient, due time, nonce), the
//! subscriber's key, an expiry, and two signatures by the subscriber: the ledger's consent
//! signature over the chain and the request (namespace [`NAMESPACE_CONSENT`], the one the
//! transaction carries and every validator checks), and a signature over all the consent's
//! fields with its expiry ([`NAMESPACE_CONSENT_TERMS`]), which the recipient's node checks. The
//! ledger does not read the expiry: it is the recipient's node that refuses an expired consent
//! (a recipient that built the transaction by hand could still submit it; the request's nonce
//! makes one consent open at most one order, and the ledger refuses a second as
//! `duplicate-port`).
//!
//! Canonical bytes (version 1): `version:u8 | chain:[u8;32] | request | subscriber:[u8;32] |
//! expires_at:u64 | consent:[u8;64] | terms:[u8;64]`, the request in the transaction's own
//! encoding; at most [`MAX_CONSENT_BYTES`]. Its printable form is [`CONSENT_PREFIX`] followed
//! by the bytes in lowercase hex, one line ([`Consent::to_text`], [`Consent::from_text`]).

use bytes::BufMut;
use commonware_codec::{
    Buf, DecodeExt, Encode, EncodeSize, Error as CodecError, FixedSize, Read, ReadExt, Write,
};
use commonware_cryptography::{Signer, Verifier};
use npchain_core::{
    DecodeError, PortRequest,
    tx::{ChainId, MAX_GROUP, NAMESPACE_CONSENT},
    types::{
        Digest, KeyId, MAX_OPERATOR_ID_LEN, OperatorId, PortId, PrivateKey, PublicKey, Signature, Timestamp,
    },
};

/// Version of the consent's canonical bytes.
pub const CONSENT_VERSION: u8 = 1;
/// Signature namespace of the consent's terms (its fields and expiry).
pub const NAMESPACE_CONSENT_TERMS: &[u8] = b"npchain/v1/port-consent-terms";
/// What the printable form begins with.
pub const CONSENT_PREFIX: &str = "npconsent1:";
/// Largest canonical consent: a full group request of [`MAX_GROUP`] numbers, with its fields.
pub const MAX_CONSENT_BYTES: usize =
    1 + 32 + (3 + MAX_GROUP * 8) + 2 * (1 + MAX_OPERATOR_ID_LEN) + 8 + 8 + 32 + 8 + 2 * 64;
/// Longest printable form.
pub const MAX_CONSENT_TEXT: usize = CONSENT_PREFIX.len() + 2 * MAX_CONSENT_BYTES;

/// A subscriber's signed consent to one port request, carried by the recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consent {
    pub chain: ChainId,
    pub request: PortRequest,
    pub subscriber: PublicKey,
    /// Last time (Unix ms, the recipient's node's clock) at which the recipient may submit it.
    pub expires_at: Timestamp,
    /// The ledger's consent signature over the chain and the request.
    pub signature: Signature,
    /// The signature over every field above, the expiry among them.
    pub terms: Signature,
}

/// Why a consent's bytes or printable form were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConsentError {
    #[error("a consent begins with {CONSENT_PREFIX:?}; this begins with {found:?}")]
    Prefix { found: String },
    #[error("the consent is {len} characters long; the longest is {max}")]
    TextTooLong { len: usize, max: usize },
    #[error("the consent's character {at} ({found:?}) is not a hex digit")]
    NotHex { at: usize, found: char },
    #[error("the consent has an odd number of hex digits ({digits})")]
    OddLength { digits: usize },
    #[error("the consent is {len} bytes; the longest is {MAX_CONSENT_BYTES}")]
    TooLong { len: usize },
    #[error("the consent is version {found}; this program reads version {CONSENT_VERSION}")]
    Version { found: u8 },
    #[error("the consent does not decode: {0}")]
    Decode(#[source] DecodeError),
}

/// Why a recipient's node refuses a consent that decodes. Each has a stable [`Self::code`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConsentFault {
    #[error("the consent is for chain {consent}; this node's chain is {node}")]
    OtherChain { consent: ChainId, node: ChainId },
    #[error("the consent's {which} signature does not verify for subscriber {subscriber}")]
    Forged { which: &'static str, subscriber: KeyId },
    #[error("the consent names recipient {recipient}; this node's operator is {operator}")]
    OtherRecipient { recipient: OperatorId, operator: OperatorId },
    #[error("the consent expired at {expires_at} ms; it is {now} ms")]
    Expired { expires_at: u64, now: u64 },
}

impl ConsentFault {
    /// A stable code for clients.
    pub fn code(&self) -> &'static str {
        match self {
            Self::OtherChain { .. } => "consent_other_chain",
            Self::Forged { .. } => "consent_forged",
            Self::OtherRecipient { .. } => "consent_other_recipient",
            Self::Expired { .. } => "consent_expired",
        }
    }
}

impl Consent {
    /// The subscriber `key` consents to `request` on `chain` until `expires_at`.
    pub fn sign(chain: ChainId, request: PortRequest, key: &PrivateKey, expires_at: Timestamp) -> Self {
        let signature = request.consent(&chain, key);
        let subscriber = key.public_key();
        let terms =
            key.sign(NAMESPACE_CONSENT_TERMS, &terms_payload(&chain, &request, &subscriber, expires_at));
        Self { chain, request, subscriber, expires_at, signature, terms }
    }

    /// The id the order will have.
    pub fn port_id(&self) -> PortId {
        self.request.port_id(&self.subscriber)
    }

    fn terms_payload(&self) -> Vec<u8> {
        terms_payload(&self.chain, &self.request, &self.subscriber, self.expires_at)
    }

    /// Whether the recipient's node at `chain`, of `operator`, may carry it at `now`: the
    /// chain, both signatures, the recipient and the expiry, in that order.
    pub fn check(&self, chain: &ChainId, operator: &OperatorId, now: Timestamp) -> Result<(), ConsentFault> {
        if &self.chain != chain {
            return Err(ConsentFault::OtherChain { consent: self.chain, node: *chain });
        }
        let mut ledger_message = self.chain.0.as_ref().to_vec();
        ledger_message.extend_from_slice(&self.request.encode());
        let forged = |which| ConsentFault::Forged { which, subscriber: (&self.subscriber).into() };
        if !self.subscriber.verify(NAMESPACE_CONSENT, &ledger_message, &self.signature) {
            return Err(forged("consent"));
        }
        if !self.subscriber.verify(NAMESPACE_CONSENT_TERMS, &self.terms_payload(), &self.terms) {
            return Err(forged("terms"));
        }
        if &self.request.recipient != operator {
            return Err(ConsentFault::OtherRecipient {
                recipient: self.request.recipient.clone(),
                operator: operator.clone(),
            });
        }
        if now > self.expires_at {
            return Err(ConsentFault::Expired { expires_at: self.expires_at.millis(), now: now.millis() });
        }
        Ok(())
    }

    /// Decodes canonical bytes, bounded, refusing trailing bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ConsentError> {
        if bytes.len() > MAX_CONSENT_BYTES {
            return Err(ConsentError::TooLong { len: bytes.len() });
        }
        match bytes.first() {
            Some(&v) if v != CONSENT_VERSION => return Err(ConsentError::Version { found: v }),
            _ => {}
        }
        Self::decode(commonware_codec::Copying(bytes)).map_err(|e| ConsentError::Decode(e.into()))
    }

    /// The printable form: [`CONSENT_PREFIX`] and the canonical bytes in hex.
    pub fn to_text(&self) -> String {
        format!("{CONSENT_PREFIX}{}", commonware_formatting::hex(&self.encode()))
    }

    /// Reads the printable form (surrounding blanks ignored), bounded before anything is
    /// decoded; a refusal names the position of the first bad character.
    pub fn from_text(text: &str) -> Result<Self, ConsentError> {
        let text = text.trim();
        if text.len() > MAX_CONSENT_TEXT {
            return Err(ConsentError::TextTooLong { len: text.len(), max: MAX_CONSENT_TEXT });
        }
        let Some(hex) = text.strip_prefix(CONSENT_PREFIX) else {
            return Err(ConsentError::Prefix { found: text.chars().take(CONSENT_PREFIX.len()).collect() });
        };
        if let Some((i, c)) = hex.char_indices().find(|(_, c)| !c.is_ascii_hexdigit()) {
            let at = CONSENT_PREFIX.len() + hex[..i].chars().count() + 1;
            return Err(ConsentError::NotHex { at, found: c });
        }
        if hex.len() % 2 == 1 {
            return Err(ConsentError::OddLength { digits: hex.len() });
        }
        let bytes =
            commonware_formatting::from_hex(hex).ok_or(ConsentError::OddLength { digits: hex.len() })?;
        Self::from_bytes(&bytes)
    }
}

/// What the terms signature covers: every byte of the consent before its signatures.
fn terms_payload(
    chain: &ChainId,
    request: &PortRequest,
    subscriber: &PublicKey,
    expires_at: Timestamp,
) -> Vec<u8> {
    let mut buf = Vec::new();
    write_fields(&mut buf, chain, request, subscriber, expires_at);
    buf
}

fn write_fields(
    buf: &mut impl BufMut,
    chain: &ChainId,
    request: &PortRequest,
    subscriber: &PublicKey,
    expires_at: Timestamp,
) {
    CONSENT_VERSION.write(buf);
    chain.0.write(buf);
    request.write(buf);
    subscriber.write(buf);
    expires_at.write(buf);
}

impl Write for Consent {
    fn write(&self, buf: &mut impl BufMut) {
        write_fields(buf, &self.chain, &self.request, &self.subscriber, self.expires_at);
        self.signature.write(buf);
        self.terms.write(buf);
    }
}

impl EncodeSize for Consent {
    fn encode_size(&self) -> usize {
        1 + Digest::SIZE
            + self.request.encode_size()
            + PublicKey::SIZE
            + Timestamp::SIZE
            + 2 * Signature::SIZE
    }
}

impl Read for Consent {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        let version = u8::read(buf)?;
        if version != CONSENT_VERSION {
            return Err(CodecError::Invalid("Consent", "unknown version"));
        }
        Ok(Self {
            chain: ChainId(Digest::read(buf)?),
            request: PortRequest::read(buf)?,
            subscriber: PublicKey::read(buf)?,
            expires_at: Timestamp::read(buf)?,
            signature: Signature::read(buf)?,
            terms: Signature::read(buf)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use commonware_cryptography::{Hasher, Sha256};
    use npchain_testkit::key;

    fn chain(tag: &[u8]) -> ChainId {
        ChainId(Sha256::hash(&[tag]))
    }

    fn consent() -> Consent {
        let request = PortRequest {
            numbers: vec!["+4930100001".parse().unwrap(), "+4930100002".parse().unwrap()],
            donor: "OPA".parse().unwrap(),
            recipient: "OPB".parse().unwrap(),
            due: Timestamp(5),
            nonce: 9,
        };
        Consent::sign(chain(b"one"), request, &key("alice"), Timestamp(1_000))
    }

    #[test]
    fn round_trips_through_bytes_and_text() {
        let c = consent();
        assert_eq!(Consent::from_bytes(&c.encode()).unwrap(), c);
        let text = c.to_text();
        assert!(text.starts_with(CONSENT_PREFIX) && !text.contains(char::is_whitespace));
        assert_eq!(Consent::from_text(&format!("  {text}\n")).unwrap(), c);
        assert_eq!(c.port_id(), c.request.port_id(&key("alice").public_key()));
    }

    #[test]
    fn checks_chain_signatures_recipient_and_expiry_in_order() {
        let c = consent();
        let opb: OperatorId = "OPB".parse().unwrap();
        assert_eq!(c.check(&chain(b"one"), &opb, Timestamp(1_000)), Ok(()));
        let e = c.check(&chain(b"two"), &opb, Timestamp(0)).unwrap_err();
        assert_eq!(e.code(), "consent_other_chain");
        let e = c.check(&chain(b"one"), &"OPC".parse().unwrap(), Timestamp(0)).unwrap_err();
        assert_eq!(e.to_string(), "the consent names recipient OPB; this node's operator is OPC");
        let e = c.check(&chain(b"one"), &opb, Timestamp(1_001)).unwrap_err();
        assert_eq!(e.to_string(), "the consent expired at 1000 ms; it is 1001 ms");
        // a longer expiry, a changed number, a consent by another key: forged
        let mut later = c.clone();
        later.expires_at = Timestamp(9_999);
        assert_eq!(
            later.check(&chain(b"one"), &opb, Timestamp(0)),
            Err(ConsentFault::Forged { which: "terms", subscriber: (&c.subscriber).into() })
        );
        let mut other = c.clone();
        other.request.numbers.pop();
        assert_eq!(other.check(&chain(b"one"), &opb, Timestamp(0)).unwrap_err().code(), "consent_forged");
        let mut bob = c.clone();
        bob.subscriber = key("bob").public_key();
        assert!(matches!(
            bob.check(&chain(b"one"), &opb, Timestamp(0)),
            Err(ConsentFault::Forged { which: "consent", .. })
        ));
    }

    #[test]
    fn refusals_name_what_is_wrong() {
        let text = consent().to_text();
        let err = |t: &str| Consent::from_text(t).unwrap_err().to_string();
        assert_eq!(
            err("consent:abcd"),
            format!("a consent begins with {CONSENT_PREFIX:?}; this begins with \"consent:abc\"")
        );
        let mut bad = text.clone();
        bad.replace_range(CONSENT_PREFIX.len() + 4..CONSENT_PREFIX.len() + 5, "g");
        assert_eq!(
            err(&bad),
            format!("the consent's character {} ('g') is not a hex digit", CONSENT_PREFIX.len() + 5)
        );
        assert_eq!(
            err(&text[..text.len() - 1]),
            format!(
                "the consent has an odd number of hex digits ({})",
                text.len() - CONSENT_PREFIX.len() - 1
            )
        );
        assert!(
            err(&text[..text.len() - 2]).starts_with("the consent does not decode"),
            "{}",
            err(&text[..text.len() - 2])
        );
        assert!(err(&format!("{text}00")).starts_with("the consent does not decode"));
        let mut v2 = text.clone();
        v2.replace_range(CONSENT_PREFIX.len()..CONSENT_PREFIX.len() + 2, "02");
        assert_eq!(err(&v2), "the consent is version 2; this program reads version 1");
        let long = format!("{CONSENT_PREFIX}{}", "0".repeat(2 * MAX_CONSENT_BYTES + 2));
        assert_eq!(
            Consent::from_text(&long),
            Err(ConsentError::TextTooLong { len: long.len(), max: MAX_CONSENT_TEXT })
        );
        assert_eq!(
            Consent::from_bytes(&vec![1; MAX_CONSENT_BYTES + 1]),
            Err(ConsentError::TooLong { len: MAX_CONSENT_BYTES + 1 })
        );
    }

    #[test]
    fn a_full_group_fits_the_bound() {
        let numbers: Vec<_> = (0..MAX_GROUP as u64)
            .map(|i| npchain_core::E164::from_value(4_930_000_000_000 + i).unwrap())
            .collect();
        let request = PortRequest {
            numbers,
            donor: "A".repeat(MAX_OPERATOR_ID_LEN).parse().unwrap(),
            recipient: "B".repeat(MAX_OPERATOR_ID_LEN).parse().unwrap(),
            due: Timestamp(u64::MAX),
            nonce: u64::MAX,
        };
        let c = Consent::sign(chain(b"one"), request, &key("alice"), Timestamp(u64::MAX));
        assert!(c.encode().len() <= MAX_CONSENT_BYTES, "{}", c.encode().len());
        assert_eq!(Consent::from_text(&c.to_text()).unwrap(), c);
    }
}
