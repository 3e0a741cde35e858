//! Small domain types: operator ids, routing numbers, block time, ids and keys.

use bytes::BufMut;
use commonware_codec::{Buf, EncodeSize, Error as CodecError, FixedSize, Read, ReadExt, Write};
use std::{fmt, str::FromStr};

pub use crate::day::UtcDay;
pub use commonware_cryptography::ed25519::{PrivateKey, PublicKey, Signature};
pub use commonware_cryptography::sha256::Digest;

/// Implements `Serialize`/`Deserialize` through `Display`/`FromStr`.
#[macro_export]
#[doc(hidden)]
macro_rules! serde_via_str {
    ($t:ty) => {
        impl serde::Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
        impl<'de> serde::Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

/// A problem with an identifier, key or routing number given as text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdError {
    #[error("operator id {0:?} must be 1 to {MAX_OPERATOR_ID_LEN} characters of A-Z, 0-9, '-' or '_'")]
    OperatorId(String),
    #[error(transparent)]
    RoutingNumber(#[from] RoutingNumberError),
    #[error("public key {0:?} must be 64 hex characters of a valid ed25519 key")]
    PublicKey(String),
    #[error("id {0:?} must be 64 hex characters")]
    Digest(String),
}

/// Longest operator id.
pub const MAX_OPERATOR_ID_LEN: usize = 16;

/// An operator's short, stable identifier (`OPA`, `TELEKOM-DE`), upper case.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OperatorId(String);

impl OperatorId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for OperatorId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let up = s.trim().to_ascii_uppercase();
        let ok = !up.is_empty()
            && up.len() <= MAX_OPERATOR_ID_LEN
            && up.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if ok { Ok(Self(up)) } else { Err(IdError::OperatorId(s.to_owned())) }
    }
}

impl fmt::Display for OperatorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for OperatorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Writes a short ASCII string as a one-byte length and its bytes.
fn write_short_str(s: &str, buf: &mut impl BufMut) {
    (s.len() as u8).write(buf);
    buf.put_slice(s.as_bytes());
}

/// Reads what [`write_short_str`] wrote, at most `max` bytes of ASCII.
fn read_short_str(buf: &mut impl Buf, max: usize, what: &'static str) -> Result<String, CodecError> {
    let len = usize::from(u8::read(buf)?);
    if len > max {
        return Err(CodecError::InvalidLength(len));
    }
    commonware_codec::util::at_least(buf, len)?;
    let mut bytes = vec![0u8; len];
    buf.copy_to_slice(&mut bytes);
    String::from_utf8(bytes).map_err(|_| CodecError::Invalid(what, "not ASCII"))
}

impl Write for OperatorId {
    fn write(&self, buf: &mut impl BufMut) {
        write_short_str(&self.0, buf);
    }
}

impl EncodeSize for OperatorId {
    fn encode_size(&self) -> usize {
        1 + self.0.len()
    }
}

impl Read for OperatorId {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        let s = read_short_str(buf, MAX_OPERATOR_ID_LEN, "OperatorId")?;
        s.parse::<Self>()
            .ok()
            .filter(|id| id.0 == s)
            .ok_or(CodecError::Invalid("OperatorId", "not a canonical operator id"))
    }
}

/// Most hex digits in a routing number: a global one (country code included) or a local one,
/// and a global `rn-context` descriptor. E.164's bound, which a routing number standing in for a
/// number's prefix does not need to exceed.
pub const MAX_RN_DIGITS: usize = 15;
/// Longest domain name an `rn-context` may carry (RFC 1035 allows 253; a network's context
/// domain is short, and the bound keeps a routing number in a one-byte-length string).
pub const MAX_RN_DOMAIN_LEN: usize = 100;
/// The parameter that gives a local routing number its context (RFC 4694 §4).
const RN_CONTEXT: &str = ";rn-context=";
/// Longest canonical routing number: local hex digits, `;rn-context=` and a domain name.
pub const MAX_RN_LEN: usize = MAX_RN_DIGITS + RN_CONTEXT.len() + MAX_RN_DOMAIN_LEN;

/// The two forms RFC 4694 allows, for the messages.
const RN_FORMS: &str = "RFC 4694 allows a global routing number, + then its country code and hex digits \
     (+49D002), or a local one with its context (D002;rn-context=+49, D002;rn-context=example.net)";

/// Which part of a routing number a refusal is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RnPart {
    /// The routing number itself (global or local hex digits).
    Digits,
    /// A global-hex-digits `rn-context` descriptor.
    Context,
}

impl fmt::Display for RnPart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Digits => "routing number",
            Self::Context => "rn-context",
        })
    }
}

/// Why a text is not a routing number (RFC 4694 §4). Every message quotes the input
/// Debug-escaped and says which form is expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RoutingNumberError {
    #[error("the routing number is empty; {RN_FORMS}")]
    Empty,
    #[error(
        "{input:?} is a local routing number; RFC 4694 needs its context: {digits};rn-context=+<country code> \
         (e.g. {digits};rn-context=+49), or the global form +<country code>{digits} (e.g. +49{digits})"
    )]
    NeedsContext { input: String, digits: String },
    #[error(
        "routing number {input:?}: the visual separator {found:?} at character {position} is not accepted; \
         write the hex digits without separators"
    )]
    VisualSeparator { input: String, position: usize, found: char },
    #[error(
        "routing number {input:?}: character {position}, {found:?}, cannot be part of the {part}, which is hex \
         digits 0-9 A-F; {RN_FORMS}"
    )]
    BadCharacter { input: String, position: usize, found: char, part: RnPart },
    #[error("routing number {input:?}: the {part} has no hex digits; {RN_FORMS}")]
    NoDigits { input: String, part: RnPart },
    #[error(
        "routing number {input:?}: the {part} has {digits} hex digits; at most {MAX_RN_DIGITS} are allowed"
    )]
    TooManyDigits { input: String, part: RnPart, digits: usize },
    #[error(
        "routing number {input:?}: the {part} must begin with + and an assigned country code (1 to 3 digits); \
         {RN_FORMS}"
    )]
    NoCountryCode { input: String, part: RnPart },
    #[error(
        "routing number {input:?}: a global routing number (beginning with +) takes no parameter after it"
    )]
    GlobalWithParameter { input: String },
    #[error(
        "routing number {input:?}: after the digits only ;rn-context=<descriptor> may follow; {RN_FORMS}"
    )]
    BadParameter { input: String },
    #[error(
        "routing number {input:?}: the rn-context {descriptor:?} is neither + and hex digits nor a domain name \
         (letters, digits and hyphens in dot-separated labels, the last beginning with a letter, at most \
         {MAX_RN_DOMAIN_LEN} characters)"
    )]
    BadDomain { input: String, descriptor: String },
}

/// A routing number exactly as RFC 4694 §4 writes it after `;rn=` in a tel URI, in canonical
/// form:
///
/// - global: `+`, a country code and hex digits (`+49D002`); the 1 to 3 leading digits must
///   form an assigned country code;
/// - local: hex digits and the context they are read in, itself global hex digits or a domain
///   name (`D002;rn-context=+49`, `D002;rn-context=example.net`).
///
/// Hex digits are upper case, a domain lower case (a trailing dot dropped); visual separators
/// (`-`, `.`, `(`, `)`), which the grammar allows between hex digits, are refused, so that one
/// routing number has one text. A bare local number (`D002`) is refused: without its context it
/// is not RFC 4694. At most [`MAX_RN_DIGITS`] hex digits per part and a domain of at most
/// [`MAX_RN_DOMAIN_LEN`] characters; the ledger stores the canonical text (at most
/// [`MAX_RN_LEN`] bytes), and decoding accepts only canonical text.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RoutingNumber(String);

impl RoutingNumber {
    /// The canonical text: what follows `;rn=` in a tel URI.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this is a global routing number (`+…`), not a local one with its context.
    pub fn is_global(&self) -> bool {
        self.0.starts_with('+')
    }
}

/// Reads hex digits (upper-cased into `out`) from `text`, which starts at character
/// `offset` (0-based) of `input`.
fn read_hex(
    input: &str,
    text: &str,
    offset: usize,
    part: RnPart,
    out: &mut String,
) -> Result<(), RoutingNumberError> {
    let start = out.len();
    for (i, c) in text.chars().enumerate() {
        let position = offset + i + 1;
        match c {
            c if c.is_ascii_hexdigit() => out.push(c.to_ascii_uppercase()),
            '-' | '.' | '(' | ')' => {
                return Err(RoutingNumberError::VisualSeparator {
                    input: input.to_owned(),
                    position,
                    found: c,
                });
            }
            found => {
                return Err(RoutingNumberError::BadCharacter {
                    input: input.to_owned(),
                    position,
                    found,
                    part,
                });
            }
        }
    }
    let digits = out.len() - start;
    if digits == 0 {
        return Err(RoutingNumberError::NoDigits { input: input.to_owned(), part });
    }
    if digits > MAX_RN_DIGITS {
        return Err(RoutingNumberError::TooManyDigits { input: input.to_owned(), part, digits });
    }
    Ok(())
}

/// Reads global hex digits (`+`, an assigned country code, hex digits) into `out`.
fn read_global(
    input: &str,
    text: &str,
    offset: usize,
    part: RnPart,
    out: &mut String,
) -> Result<(), RoutingNumberError> {
    let rest = text.strip_prefix('+').expect("the caller saw the +");
    out.push('+');
    let start = out.len();
    read_hex(input, rest, offset + 1, part, out)?;
    let lead: String = out[start..].chars().take_while(char::is_ascii_digit).take(3).collect();
    if !crate::number::has_country_code(&lead) {
        return Err(RoutingNumberError::NoCountryCode { input: input.to_owned(), part });
    }
    Ok(())
}

/// Whether `name` is a domain name by RFC 3966's `domainname` (lower case, no trailing dot):
/// dot-separated labels of letters, digits and inner hyphens, the last beginning with a letter.
fn is_domain_name(name: &str) -> bool {
    let labels: Vec<&str> = name.split('.').collect();
    let label_ok = |l: &str| {
        let b = l.as_bytes();
        !b.is_empty()
            && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
            && b[0] != b'-'
            && b[b.len() - 1] != b'-'
    };
    labels.iter().all(|l| label_ok(l)) && labels.last().is_some_and(|l| l.as_bytes()[0].is_ascii_lowercase())
}

impl FromStr for RoutingNumber {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s).map_err(IdError::from)
    }
}

impl RoutingNumber {
    /// Reads a routing number in either RFC 4694 form (surrounding whitespace ignored), as
    /// [`FromStr`] does, with the refusal's own type.
    pub fn parse(s: &str) -> Result<Self, RoutingNumberError> {
        let t = s.trim();
        if t.is_empty() {
            return Err(RoutingNumberError::Empty);
        }
        let (digits, param) = match t.find(';') {
            Some(i) => (&t[..i], Some(&t[i..])),
            None => (t, None),
        };
        let offset = s[..s.len() - s.trim_start().len()].chars().count();
        let mut out = String::with_capacity(t.len());
        if digits.starts_with('+') {
            read_global(s, digits, offset, RnPart::Digits, &mut out)?;
            if param.is_some() {
                return Err(RoutingNumberError::GlobalWithParameter { input: s.to_owned() });
            }
            return Ok(Self(out));
        }
        read_hex(s, digits, offset, RnPart::Digits, &mut out)?;
        let Some(param) = param else {
            return Err(RoutingNumberError::NeedsContext { input: s.to_owned(), digits: out });
        };
        let descriptor = match param.get(..RN_CONTEXT.len()) {
            Some(name) if name.eq_ignore_ascii_case(RN_CONTEXT) => &param[RN_CONTEXT.len()..],
            _ => return Err(RoutingNumberError::BadParameter { input: s.to_owned() }),
        };
        out.push_str(RN_CONTEXT);
        if descriptor.starts_with('+') {
            let at = offset + digits.chars().count() + RN_CONTEXT.len();
            read_global(s, descriptor, at, RnPart::Context, &mut out)?;
        } else {
            let lower = descriptor.to_ascii_lowercase();
            let name = lower.strip_suffix('.').unwrap_or(&lower);
            if name.len() > MAX_RN_DOMAIN_LEN || !is_domain_name(name) {
                return Err(RoutingNumberError::BadDomain {
                    input: s.to_owned(),
                    descriptor: descriptor.to_owned(),
                });
            }
            out.push_str(name);
        }
        Ok(Self(out))
    }
}

impl fmt::Display for RoutingNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for RoutingNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Write for RoutingNumber {
    fn write(&self, buf: &mut impl BufMut) {
        write_short_str(&self.0, buf);
    }
}

impl EncodeSize for RoutingNumber {
    fn encode_size(&self) -> usize {
        1 + self.0.len()
    }
}

impl Read for RoutingNumber {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        let s = read_short_str(buf, MAX_RN_LEN, "RoutingNumber")?;
        s.parse::<Self>()
            .ok()
            .filter(|rn| rn.0 == s)
            .ok_or(CodecError::Invalid("RoutingNumber", "not a canonical routing number"))
    }
}

crate::serde_via_str!(OperatorId);
crate::serde_via_str!(RoutingNumber);

/// Block time: milliseconds since the Unix epoch, taken from the block, never from a clock.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(pub u64);

impl Timestamp {
    pub fn millis(self) -> u64 {
        self.0
    }
    /// This time plus `secs` seconds, saturating.
    pub fn plus_secs(self, secs: u64) -> Self {
        Self(self.0.saturating_add(secs.saturating_mul(1000)))
    }
    /// The UTC day this time falls in.
    pub fn utc_day(self) -> UtcDay {
        UtcDay(self.0 / UtcDay::MILLIS)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}ms", self.0)
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Write for Timestamp {
    fn write(&self, buf: &mut impl BufMut) {
        self.0.write(buf);
    }
}

impl FixedSize for Timestamp {
    const SIZE: usize = u64::SIZE;
}

impl Read for Timestamp {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Ok(Self(u64::read(buf)?))
    }
}

macro_rules! digest_id {
    ($(#[$m:meta])* $name:ident) => {
        $(#[$m])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(pub Digest);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }
        impl FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                parse_digest(s).map(Self)
            }
        }
        impl Write for $name {
            fn write(&self, buf: &mut impl BufMut) {
                self.0.write(buf);
            }
        }
        impl FixedSize for $name {
            const SIZE: usize = Digest::SIZE;
        }
        impl Read for $name {
            type Cfg = ();
            fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
                Ok(Self(Digest::read(buf)?))
            }
        }
        crate::serde_via_str!($name);
    };
}

digest_id!(
    /// A port order's id: the hash of the subscriber's key and the signed request.
    PortId
);
digest_id!(
    /// A transaction's id: the hash of its signed payload (not of the signature, which could be
    /// re-encoded).
    TxId
);

fn parse_digest(s: &str) -> Result<Digest, IdError> {
    let bytes = commonware_formatting::from_hex(s.trim()).ok_or_else(|| IdError::Digest(s.to_owned()))?;
    let arr: [u8; 32] = bytes.try_into().map_err(|_| IdError::Digest(s.to_owned()))?;
    Ok(Digest(arr))
}

/// A public key as errors and logs name it: its 32 bytes, shown as hex. (The key type itself
/// carries a decompressed point, too large to travel in every error.)
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyId(pub [u8; 32]);

impl From<&PublicKey> for KeyId {
    fn from(key: &PublicKey) -> Self {
        let mut bytes = [0u8; 32];
        bytes.copy_from_slice(key.as_ref());
        Self(bytes)
    }
}

impl KeyId {
    /// Whether this is the id of `key`.
    pub fn is(&self, key: &PublicKey) -> bool {
        self.0.as_slice() == key.as_ref()
    }
}

/// Stored records keep keys as their 32 bytes: decoding a [`PublicKey`] decompresses a curve
/// point (about 20 µs), and records are read for every transaction, only to compare keys.
impl Write for KeyId {
    fn write(&self, buf: &mut impl BufMut) {
        buf.put_slice(&self.0);
    }
}

impl FixedSize for KeyId {
    const SIZE: usize = 32;
}

impl Read for KeyId {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, CodecError> {
        Ok(Self(<[u8; 32]>::read(buf)?))
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&commonware_formatting::Hex(&self.0), f)
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Parses an ed25519 public key written as 64 hex characters.
pub fn parse_public_key(s: &str) -> Result<PublicKey, IdError> {
    use commonware_codec::DecodeExt;
    let bytes = commonware_formatting::from_hex(s.trim()).ok_or_else(|| IdError::PublicKey(s.to_owned()))?;
    PublicKey::decode(bytes).map_err(|_| IdError::PublicKey(s.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use commonware_codec::{DecodeExt, Encode};

    #[test]
    fn operator_ids_are_normalised_and_bounded() {
        assert_eq!("opa".parse::<OperatorId>().unwrap().as_str(), "OPA");
        for bad in ["", "OP A", "ÖPA", "A234567890123456X", "op.a"] {
            assert!(bad.parse::<OperatorId>().is_err(), "{bad}");
        }
        let id: OperatorId = "OPB-2".parse().unwrap();
        assert_eq!(OperatorId::decode(id.encode()).unwrap(), id);
        // non-canonical (lower case) bytes on the wire are refused
        let raw = [3u8, b'o', b'p', b'a'];
        assert!(OperatorId::decode(raw.to_vec()).is_err());
        // length byte beyond the bound is refused before reading
        assert!(OperatorId::decode(vec![200u8]).is_err());
    }

    #[test]
    fn routing_numbers_follow_rfc4694_forms() {
        let canonical = [
            ("+4930999", "+4930999"),
            ("+49d002", "+49D002"),
            ("+1abc", "+1ABC"),
            ("d002;rn-context=+49", "D002;rn-context=+49"),
            ("D002;RN-CONTEXT=+49a", "D002;rn-context=+49A"),
            ("0f;rn-context=Example.NET.", "0F;rn-context=example.net"),
            ("1;rn-context=a", "1;rn-context=a"),
            ("1;rn-context=x-1.de", "1;rn-context=x-1.de"),
        ];
        for (input, text) in canonical {
            let rn: RoutingNumber = input.parse().unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(rn.to_string(), text, "{input}");
            assert_eq!(rn.is_global(), text.starts_with('+'));
            assert_eq!(RoutingNumber::decode(rn.encode()).unwrap(), rn);
        }
        for bad in [
            "",
            "+",
            "+12G",
            "G12",
            "+4912345678901234",
            "rn=1",
            "+D002",
            "+0D002",
            "+4930;rn-context=+49",
            "D002;rn-context=",
            "D002;rn-context=+",
            "D002;rn-context=+0",
            "D002;rn-context=de.1",
            "D002;rn-context=-a.de",
            "D002;rn-context=a..de",
            "D002;npdi",
            "D002;rn-context=+49;x=1",
            "D0-02;rn-context=+49",
            "+49(30)999",
            "\u{200b}D002",
        ] {
            assert!(bad.parse::<RoutingNumber>().is_err(), "{bad:?}");
        }
        let long_domain = format!("1;rn-context={}", "a".repeat(MAX_RN_DOMAIN_LEN));
        assert_eq!(long_domain.parse::<RoutingNumber>().unwrap().as_str().len(), 1 + RN_CONTEXT.len() + 100);
        let too_long = format!("1;rn-context={}", "a".repeat(MAX_RN_DOMAIN_LEN + 1));
        assert!(too_long.parse::<RoutingNumber>().is_err());
        let widest = format!("{};rn-context={}", "F".repeat(MAX_RN_DIGITS), "a".repeat(MAX_RN_DOMAIN_LEN));
        let rn: RoutingNumber = widest.parse().unwrap();
        assert_eq!(rn.as_str().len(), MAX_RN_LEN);
        assert_eq!(RoutingNumber::decode(rn.encode()).unwrap(), rn);
    }

    #[test]
    fn a_bare_local_routing_number_is_refused_with_both_forms() {
        let err = RoutingNumber::parse("d002").unwrap_err();
        assert_eq!(err, RoutingNumberError::NeedsContext { input: "d002".into(), digits: "D002".into() });
        let text = err.to_string();
        assert!(text.starts_with("\"d002\" is a local routing number; RFC 4694 needs its context"), "{text}");
        assert!(text.contains("D002;rn-context=+49") && text.contains("+49D002"), "{text}");
        assert_eq!(text, IdError::from(err).to_string(), "the id error says the same");
        let sep = RoutingNumber::parse("+49-30").unwrap_err();
        assert_eq!(
            sep,
            RoutingNumberError::VisualSeparator { input: "+49-30".into(), position: 4, found: '-' }
        );
    }

    #[test]
    fn only_canonical_routing_numbers_decode() {
        for raw in ["D002", "+49d002", "d002;rn-context=+49", "1;rn-context=A.de", "1;RN-CONTEXT=+49"] {
            let mut bytes = vec![raw.len() as u8];
            bytes.extend_from_slice(raw.as_bytes());
            assert!(RoutingNumber::decode(bytes).is_err(), "{raw}");
        }
        assert!(RoutingNumber::decode(vec![(MAX_RN_LEN + 1) as u8]).is_err(), "length bound before reading");
    }

    #[test]
    fn keys_and_ids_parse_from_hex() {
        assert!(parse_public_key("zz").is_err());
        assert!(parse_public_key(&"00".repeat(31)).is_err());
        let id: PortId = "ab".repeat(32).parse().unwrap();
        assert_eq!(id.to_string(), "ab".repeat(32));
        assert!("ab".parse::<PortId>().is_err());
    }
}
