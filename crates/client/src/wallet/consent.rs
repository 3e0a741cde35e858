//! The subscriber's consent to a port that the recipient operator requests for them: signed by
//! the wallet ([`Wallet::consent`]), handed over as a small JSON file ([`ConsentFile`]) or its
//! one-line printable form, and read back by the recipient's desk ([`read_consent`]).
//!
//! The consent itself (its canonical bytes, signatures and the checks a node makes) is
//! [`npchain_api::consent`]. The file holds the consent's fields readably and its printable
//! form; the printable form is what is signed, and a file whose readable fields say anything
//! else is refused naming the field, so the two cannot disagree unnoticed.

use super::{
    Wallet,
    error::{WalletError, io, read_jsonl},
};
use npchain_api::consent::{CONSENT_PREFIX, Consent, ConsentError};
use npchain_core::{E164, OperatorId, PortRequest, Timestamp};
use serde::{Deserialize, Serialize};
use std::{io::Read, path::Path};

/// The `format` of a consent file.
pub const CONSENT_FORMAT: &str = "npchain-consent/1";
/// Largest consent file read: a full group of numbers, twice (readable and signed), fits.
pub const MAX_CONSENT_FILE: u64 = 1 << 20;

/// A consent file: the consent's fields as a person reads them, and `consent`, its printable
/// (signed) form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsentFile {
    pub format: String,
    pub chain_id: String,
    /// The id the order will have.
    pub port: String,
    pub numbers: Vec<String>,
    pub donor: String,
    pub recipient: String,
    pub due_ms: u64,
    pub nonce: u64,
    pub subscriber: String,
    pub expires_at_ms: u64,
    /// The ledger's consent signature, hex.
    pub signature: String,
    /// The signature over the consent's terms, hex.
    pub terms: String,
    /// The printable form, `npconsent1:` and hex: what is signed.
    pub consent: String,
}

impl ConsentFile {
    pub fn of(consent: &Consent) -> Self {
        let hex = |b: &[u8]| commonware_formatting::hex(b);
        Self {
            format: CONSENT_FORMAT.into(),
            chain_id: consent.chain.to_string(),
            port: consent.port_id().to_string(),
            numbers: consent.request.numbers.iter().map(E164::to_string).collect(),
            donor: consent.request.donor.to_string(),
            recipient: consent.request.recipient.to_string(),
            due_ms: consent.request.due.millis(),
            nonce: consent.request.nonce,
            subscriber: hex(consent.subscriber.as_ref()),
            expires_at_ms: consent.expires_at.millis(),
            signature: hex(consent.signature.as_ref()),
            terms: hex(consent.terms.as_ref()),
            consent: consent.to_text(),
        }
    }
}

/// Why a consent given as a file or a string was refused. `source` names the file, or
/// "the consent string".
#[derive(Debug, thiserror::Error)]
pub enum ConsentFileError {
    #[error("{source_name}: {error}")]
    Io {
        source_name: String,
        #[source]
        error: std::io::Error,
    },
    #[error("{source_name}: {len} bytes; a consent file is at most {MAX_CONSENT_FILE} bytes")]
    TooLarge { source_name: String, len: u64 },
    #[error("{source_name}: neither a consent string nor a consent file: {error}")]
    Json {
        source_name: String,
        #[source]
        error: serde_json::Error,
    },
    #[error("{source_name}: format {found:?}; this program reads {CONSENT_FORMAT:?}")]
    Format { source_name: String, found: String },
    #[error("{source_name}: {error}")]
    Consent {
        source_name: String,
        #[source]
        error: ConsentError,
    },
    #[error("{source_name}: field {field} says {file}; the signed consent says {signed}")]
    Mismatch { source_name: String, field: String, file: String, signed: String },
}

/// Reads a consent given on a command line: its printable form, or the path of a file holding
/// it or a [`ConsentFile`] (at most [`MAX_CONSENT_FILE`] bytes).
pub fn read_consent(arg: &str) -> Result<Consent, ConsentFileError> {
    if arg.trim_start().starts_with(CONSENT_PREFIX) {
        let source_name = "the consent string".to_owned();
        return Consent::from_text(arg).map_err(|error| ConsentFileError::Consent { source_name, error });
    }
    let source_name = arg.to_owned();
    let io = |error| ConsentFileError::Io { source_name: source_name.clone(), error };
    let file = std::fs::File::open(Path::new(arg)).map_err(io)?;
    let mut text = String::new();
    file.take(MAX_CONSENT_FILE + 1).read_to_string(&mut text).map_err(io)?;
    if text.len() as u64 > MAX_CONSENT_FILE {
        return Err(ConsentFileError::TooLarge { source_name, len: text.len() as u64 });
    }
    parse_consent_file(&source_name, &text)
}

/// A consent file's text (or a file holding only the printable form).
pub fn parse_consent_file(source_name: &str, text: &str) -> Result<Consent, ConsentFileError> {
    let named = |error| ConsentFileError::Consent { source_name: source_name.to_owned(), error };
    if text.trim_start().starts_with(CONSENT_PREFIX) {
        return Consent::from_text(text).map_err(named);
    }
    let file: ConsentFile = serde_json::from_str(text)
        .map_err(|error| ConsentFileError::Json { source_name: source_name.to_owned(), error })?;
    if file.format != CONSENT_FORMAT {
        return Err(ConsentFileError::Format { source_name: source_name.to_owned(), found: file.format });
    }
    let consent = Consent::from_text(&file.consent).map_err(named)?;
    let (given, signed) = (serde_json::to_value(&file), serde_json::to_value(ConsentFile::of(&consent)));
    if let (Ok(serde_json::Value::Object(given)), Ok(serde_json::Value::Object(signed))) = (given, signed) {
        for (field, value) in &given {
            if signed.get(field) != Some(value) {
                return Err(ConsentFileError::Mismatch {
                    source_name: source_name.to_owned(),
                    field: field.clone(),
                    file: value.to_string(),
                    signed: signed.get(field).map_or_else(|| "nothing".into(), ToString::to_string),
                });
            }
        }
    }
    Ok(consent)
}

/// A consent this wallet signed, kept in `consents.jsonl`, so that `show` lists its order and
/// `follow` waits for the recipient to submit it (until it expires).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Given {
    pub port: String,
    pub recipient: String,
    pub expires_at_ms: u64,
}

impl Wallet {
    /// The consents this wallet signed, oldest first.
    pub fn consents(&self) -> Result<Vec<Given>, WalletError> {
        read_jsonl(&self.dir.join("consents.jsonl"))
    }

    fn record_consent(&self, consent: &Consent) -> Result<(), WalletError> {
        let given = Given {
            port: consent.port_id().to_string(),
            recipient: consent.request.recipient.to_string(),
            expires_at_ms: consent.expires_at.millis(),
        };
        let path = self.dir.join("consents.jsonl");
        let mut file =
            std::fs::OpenOptions::new().create(true).append(true).open(&path).map_err(io(&path))?;
        let line = serde_json::to_string(&given)? + "\n";
        std::io::Write::write_all(&mut file, line.as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(io(&path))
    }

    /// Signs the subscriber's consent to port `numbers` (one, or a group) to `to`, due at `due`,
    /// for the recipient to submit until `expires_at`. The donor is the operator serving the
    /// first number now (asked of the wallet's nodes); nothing is submitted. The consent is
    /// kept in `consents.jsonl` ([`Given`]).
    pub fn consent(
        &self,
        nodes: &[String],
        numbers: &[E164],
        to: &OperatorId,
        due: Timestamp,
        expires_at: Timestamp,
    ) -> Result<Consent, WalletError> {
        let mut numbers = numbers.to_vec();
        numbers.sort();
        numbers.dedup();
        let first = numbers.first().ok_or(WalletError::NoNumbers)?;
        let donor = self.donor_of(&self.client(nodes), first)?;
        let request = PortRequest { numbers, donor, recipient: to.clone(), due, nonce: rand::random() };
        let consent = Consent::sign(self.chain_id()?, request, &self.key, expires_at);
        self.record_consent(&consent)?;
        Ok(consent)
    }

    /// Writes `consent` to `path` as a [`ConsentFile`] (not over an existing file).
    pub fn write_consent(&self, path: &Path, consent: &Consent) -> Result<(), WalletError> {
        let text = serde_json::to_string_pretty(&ConsentFile::of(consent))? + "\n";
        let mut file =
            std::fs::OpenOptions::new().write(true).create_new(true).open(path).map_err(io(path))?;
        std::io::Write::write_all(&mut file, text.as_bytes()).map_err(io(path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use commonware_cryptography::{Hasher, Sha256, Signer as _};
    use npchain_core::tx::ChainId;

    fn consent() -> Consent {
        let request = PortRequest {
            numbers: vec!["+4930100001".parse().unwrap()],
            donor: "OPA".parse().unwrap(),
            recipient: "OPB".parse().unwrap(),
            due: Timestamp(0),
            nonce: 3,
        };
        Consent::sign(
            ChainId(Sha256::hash(&[b"c".as_slice()])),
            request,
            &npchain_core::PrivateKey::from_seed(1),
            Timestamp(9),
        )
    }

    #[test]
    fn the_file_and_the_string_read_the_same() {
        let c = consent();
        let file = serde_json::to_string_pretty(&ConsentFile::of(&c)).unwrap();
        assert_eq!(parse_consent_file("c.json", &file).unwrap(), c);
        assert_eq!(parse_consent_file("c.txt", &format!("{}\n", c.to_text())).unwrap(), c);
        assert_eq!(read_consent(&c.to_text()).unwrap(), c);
    }

    #[test]
    fn a_file_that_says_other_than_it_signs_is_refused_by_field() {
        let mut file = ConsentFile::of(&consent());
        file.recipient = "OPC".into();
        let err = parse_consent_file("c.json", &serde_json::to_string(&file).unwrap()).unwrap_err();
        assert_eq!(err.to_string(), r#"c.json: field recipient says "OPC"; the signed consent says "OPB""#);
        let mut file = ConsentFile::of(&consent());
        file.format = "npchain-consent/2".into();
        let err = parse_consent_file("c.json", &serde_json::to_string(&file).unwrap()).unwrap_err();
        assert!(matches!(err, ConsentFileError::Format { .. }), "{err}");
        let err = parse_consent_file("c.json", "{\"format\": 1}").unwrap_err();
        assert!(
            err.to_string().starts_with("c.json: neither a consent string nor a consent file: "),
            "{err}"
        );
        let err = read_consent("npconsent1:0").unwrap_err();
        assert_eq!(err.to_string(), "the consent string: the consent has an odd number of hex digits (1)");
    }

    #[test]
    fn a_large_file_is_refused_before_it_is_parsed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.json");
        std::fs::write(&path, vec![b' '; MAX_CONSENT_FILE as usize + 10]).unwrap();
        let err = read_consent(path.to_str().unwrap()).unwrap_err();
        assert!(
            matches!(err, ConsentFileError::TooLarge { len, .. } if len == MAX_CONSENT_FILE + 1),
            "{err}"
        );
        let err = read_consent(dir.path().join("none.json").to_str().unwrap()).unwrap_err();
        assert!(matches!(err, ConsentFileError::Io { .. }), "{err}");
    }
}
