//! What the wallet signs: port requests and cancels, submitted to a node and kept in
//! `sent.jsonl` once a node accepted them (before any block holds them), so that an order
//! the nodes do not show yet can still be found and followed.

use super::{
    Wallet,
    error::{WalletError, io, read_jsonl},
};
use crate::http::Client;
use commonware_codec::Encode;
use npchain_core::{
    E164, OperatorId, PortRequest, Timestamp, Transaction, TxBody, tx::SignedTransaction, types::PortId,
};
use serde::{Deserialize, Serialize};
use std::{fs, io::Write};

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
    pub(super) fn expires_at_ms(&self) -> Result<u64, WalletError> {
        let bytes = commonware_formatting::from_hex(&self.tx).ok_or_else(|| WalletError::Format {
            path: "sent.jsonl".into(),
            reason: format!("transaction {} is not hex", self.tx_id),
        })?;
        let tx = SignedTransaction::from_bytes(&bytes)
            .map_err(|source| WalletError::SentTx { tx_id: self.tx_id.clone(), source })?;
        Ok(tx.tx.expires_at.millis())
    }
}

impl Wallet {
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
        let line = serde_json::to_string(&sent)?;
        file.write_all(format!("{line}\n").as_bytes()).and_then(|()| file.sync_all()).map_err(io(&path))?;
        Ok(tx_id)
    }

    /// What this wallet sent, oldest first.
    pub fn sent(&self) -> Result<Vec<Sent>, WalletError> {
        read_jsonl(&self.dir.join("sent.jsonl"))
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
        let first = numbers.first().ok_or(WalletError::NoNumbers)?;
        let donor = self.donor_of(&client, first)?;
        let request = PortRequest { numbers, donor, recipient: to.clone(), due, nonce: rand::random() };
        let port = request.port_id(&self.public_key());
        self.sign_and_submit(&client, "request", &port, TxBody::RequestPort(request), precheck)?;
        Ok(port)
    }

    /// The operator serving `number` now, as the node reports it: the donor of a request.
    pub(super) fn donor_of(&self, client: &Client, number: &E164) -> Result<OperatorId, WalletError> {
        let route = client.route(&number.to_string())?;
        route.serving.parse().map_err(|source| WalletError::Donor { serving: route.serving.clone(), source })
    }

    /// Cancels an order before activation (with `precheck`, tried on the committed state first).
    pub fn cancel(&self, nodes: &[String], port: &PortId, precheck: bool) -> Result<String, WalletError> {
        self.sign_and_submit(&self.client(nodes), "cancel", port, TxBody::Cancel { port: *port }, precheck)
    }
}
