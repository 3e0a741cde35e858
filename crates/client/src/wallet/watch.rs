//! Watching the wallet's numbers: [`Wallet::watch`] follows a node's event stream
//! (`GET /v1/events`) and raises an [`Alert`] for every step of an order that touches one of
//! the wallet's numbers — requested, released, rejected, activated, cancelled, expired —
//! whether this wallet sent it or not (a request it did not send is the port-out fraud case).
//!
//! An alert is an early warning on the word of one node; each is then proven as `follow`
//! proves a step (the block and its finalization certificate, checked against the validators
//! of its epoch) and written to the local ledger only if the proof holds, so the verified
//! ledger's rules are unchanged. The alert says which ([`Alert::proven`]).
//!
//! The numbers watched are those [`Wallet::numbers`] finds (bound to the key, named in the
//! wallet's own orders), refreshed when a bind or a port changes them; none is dropped while
//! watching. The stream is read on a thread of its own, with bounded lines and events
//! ([`MAX_EVENT_BYTES`]) and at most [`QUEUE`] events queued; a dropped stream is opened again
//! after the last event id seen, on the next of the wallet's nodes, after a backoff from
//! [`RECONNECT_INITIAL`] doubling to [`RECONNECT_MAX`] (reset once a stream delivers).

use super::{Wallet, error::WalletError, follow::by_deadline};
use crate::{
    Client,
    sse::{SseError, SseEvent, SseReader},
};
use npchain_api::json::{EventEnvelope, EventInfo};
use npchain_core::types::PortId;
use serde::Serialize;
use std::{
    collections::BTreeSet,
    io::BufReader,
    sync::{
        atomic::{AtomicBool, Ordering},
        mpsc,
    },
    time::{Duration, Instant},
};

/// The largest line, and event, read from a stream: a group port of 10,000 numbers is an
/// event of about 200 KiB.
pub const MAX_EVENT_BYTES: usize = 512 * 1024;
/// Events read from the stream and not yet handled, at most.
pub const QUEUE: usize = 256;
/// A read of the stream that waits longer fails (the node sends a keep-alive every 15 s).
pub const STALL: Duration = Duration::from_secs(40);
/// The first wait before opening a dropped stream again.
pub const RECONNECT_INITIAL: Duration = Duration::from_millis(250);
/// The longest wait between attempts.
pub const RECONNECT_MAX: Duration = Duration::from_secs(30);

/// A step of an order that touches the wallet's numbers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Alert {
    /// The event id in the stream (`<height>:<index>`), the same on every node.
    pub event_id: String,
    pub height: u64,
    pub block_time_ms: u64,
    pub port: String,
    /// `requested`, `released`, `rejected`, `activated`, `cancelled` or `expired`.
    pub step: String,
    /// A release by the donor's silence.
    pub deemed: bool,
    /// A rejection's reason code.
    pub reason: Option<String>,
    pub donor: String,
    pub recipient: String,
    /// The order's numbers.
    pub numbers: Vec<String>,
    /// Those of them the wallet watches.
    pub watched: Vec<String>,
    /// This wallet signed the request (`sent.jsonl`).
    pub sent_by_wallet: bool,
    /// This wallet signed the consent the recipient submitted (`consents.jsonl`).
    pub consented: bool,
    /// The node whose stream reported it.
    pub node: String,
    /// The block and its certificate were checked, and the step is in the local ledger.
    pub proven: bool,
    /// Why it could not be proven (the alert stands: it is the node's word).
    pub proof_error: Option<String>,
}

impl Alert {
    /// A request this wallet neither sent nor consented to: the case to act on.
    pub fn unexpected_request(&self) -> bool {
        self.step == "requested" && !self.sent_by_wallet && !self.consented
    }
}

/// What [`Wallet::watch`] reports.
#[derive(Debug)]
pub enum Watched<'a> {
    /// The numbers watched (at the start, and each time they change).
    Numbers(&'a [String]),
    /// A stream is open on `node`, from `from` (`height H` or `after event H:I`).
    Streaming {
        node: &'a str,
        from: &'a str,
    },
    Alert(&'a Alert),
    /// A stream failed or could not be opened; the next node is tried after `retry_in`.
    Lost {
        node: &'a str,
        error: &'a str,
        retry_in: Duration,
    },
}

/// What the stream thread hands over.
enum Read {
    Event(SseEvent),
    End(Option<SseError>),
}

/// Why one stream ended.
enum Ended {
    Stopped,
    Failed(String),
}

impl Wallet {
    /// Watches the wallet's numbers until `stop` is set (checked every 200 ms): events from
    /// `from_height` (default: the block after the committed one), alerts through `report`.
    /// Fails only if no node can be asked for the numbers at the start; a stream that fails
    /// later is opened again, resuming after its last event.
    pub fn watch(
        &self,
        nodes: &[String],
        from_height: Option<u64>,
        stop: &AtomicBool,
        mut report: impl FnMut(Watched<'_>),
    ) -> Result<(), WalletError> {
        let client = self.client(nodes);
        let start = match from_height {
            Some(h) => h.max(1),
            None => client.status()?.height + 1,
        };
        let mut numbers: BTreeSet<String> = self.numbers(nodes)?.into_iter().collect();
        report(Watched::Numbers(&numbers.iter().cloned().collect::<Vec<_>>()));
        let key = commonware_formatting::hex(self.public_key().as_ref());
        let count = client.nodes().len().max(1);
        let (mut node, mut backoff) = (0, RECONNECT_INITIAL);
        let mut last: Option<(u64, usize)> = None;
        while !stop.load(Ordering::Relaxed) {
            let name = client.nodes()[node % count].clone();
            let last_id = last.map(|(h, i)| format!("{h}:{i}"));
            let from =
                last_id.as_ref().map_or_else(|| format!("height {start}"), |id| format!("after event {id}"));
            let mut delivered = false;
            let ended = match client.open_events(node % count, start, last_id.as_deref(), STALL) {
                Ok(body) => {
                    report(Watched::Streaming { node: &name, from: &from });
                    let rx = spawn_reader(body);
                    let mut on_event = |ev: SseEvent| -> Result<(), String> {
                        delivered = true;
                        self.handle(&client, node % count, &key, &mut numbers, &mut last, ev, &mut report)
                    };
                    pump(&rx, stop, &mut on_event)
                }
                Err(e) => Ended::Failed(e.to_string()),
            };
            match ended {
                Ended::Stopped => break,
                Ended::Failed(error) => {
                    if delivered {
                        backoff = RECONNECT_INITIAL;
                    }
                    report(Watched::Lost { node: &name, error: &error, retry_in: backoff });
                    pause(backoff, stop);
                    backoff = (backoff * 2).min(RECONNECT_MAX);
                    node += 1;
                }
            }
        }
        Ok(())
    }

    /// One event of the stream: an alert if it is a step of an order of a watched number,
    /// the numbers refreshed if it changes them. An `error` event, or one that does not read,
    /// ends the stream (`Err`).
    #[allow(clippy::too_many_arguments)]
    fn handle(
        &self,
        client: &Client,
        node: usize,
        key: &str,
        numbers: &mut BTreeSet<String>,
        last: &mut Option<(u64, usize)>,
        ev: SseEvent,
        report: &mut impl FnMut(Watched<'_>),
    ) -> Result<(), String> {
        if ev.event == "error" {
            return Err(format!("the node ended the stream: {}", ev.data));
        }
        let envelope: EventEnvelope =
            serde_json::from_str(&ev.data).map_err(|e| format!("an event that does not read ({e})"))?;
        let at = (envelope.height, envelope.index);
        if last.is_some_and(|l| at <= l) {
            return Ok(()); // seen before the stream was opened again
        }
        *last = Some(at);
        let changes_numbers = match &envelope.event {
            EventInfo::Bound { number, subscriber, .. } => {
                subscriber.as_deref() == Some(key) || numbers.contains(number)
            }
            EventInfo::Returned { number, .. } => numbers.contains(number),
            _ => false,
        };
        if let EventInfo::Port { port, step, donor, recipient, numbers: of_order } = &envelope.event {
            let watched: Vec<String> = of_order.iter().filter(|n| numbers.contains(*n)).cloned().collect();
            if !watched.is_empty() {
                let mut alert = Alert {
                    event_id: format!("{}:{}", envelope.height, envelope.index),
                    height: envelope.height,
                    block_time_ms: envelope.block_time_ms,
                    port: port.clone(),
                    step: step.step.clone(),
                    deemed: step.deemed,
                    reason: step.reason.clone(),
                    donor: donor.clone(),
                    recipient: recipient.clone(),
                    numbers: of_order.clone(),
                    watched,
                    sent_by_wallet: self
                        .sent()
                        .is_ok_and(|s| s.iter().any(|s| s.kind == "request" && &s.port == port)),
                    consented: self.consents().is_ok_and(|c| c.iter().any(|g| &g.port == port)),
                    node: client.nodes()[node].clone(),
                    proven: false,
                    proof_error: None,
                };
                match self.prove_alert(client, node, &alert, by_deadline(step)) {
                    Ok(()) => alert.proven = true,
                    Err(e) => alert.proof_error = Some(e.to_string()),
                }
                report(Watched::Alert(&alert));
            }
        }
        if changes_numbers
            || matches!(&envelope.event, EventInfo::Port { step, .. } if step.step == "activated")
        {
            let before = numbers.len();
            // a node that cannot say keeps the numbers as they are; none is dropped
            if let Ok(now) = self.numbers(&rotated(client, node)) {
                numbers.extend(now);
            }
            if let EventInfo::Bound { number, subscriber: Some(s), .. } = &envelope.event
                && s == key
            {
                numbers.insert(number.clone());
            }
            if numbers.len() != before {
                report(Watched::Numbers(&numbers.iter().cloned().collect::<Vec<_>>()));
            }
        }
        Ok(())
    }

    /// Proves the alert's step from its block and certificate (the stream's node asked first)
    /// and writes it to the local ledger unless it is there already.
    fn prove_alert(
        &self,
        client: &Client,
        node: usize,
        alert: &Alert,
        by_deadline: bool,
    ) -> Result<(), WalletError> {
        let port: PortId = alert.port.parse().map_err(|_| WalletError::Format {
            path: "the node's event".into(),
            reason: format!("port id {:?} is not hex", alert.port),
        })?;
        let asked = self.client(&rotated(client, node));
        let entry = self.prove(&asked, &port, &alert.step, alert.height, !by_deadline)?;
        if !self.recorded_steps(&alert.port)?.contains(&alert.step) {
            self.append(&entry)?;
        }
        Ok(())
    }
}

/// The client's nodes, starting at `first`.
fn rotated(client: &Client, first: usize) -> Vec<String> {
    let nodes = client.nodes();
    (0..nodes.len()).map(|i| nodes[(first + i) % nodes.len()].clone()).collect()
}

/// Reads the stream on a thread of its own into a bounded queue, so that a stop is seen at
/// once while a read blocks (the thread ends with the stream, or with the process).
fn spawn_reader(body: ureq::BodyReader<'static>) -> mpsc::Receiver<Read> {
    let (tx, rx) = mpsc::sync_channel(QUEUE);
    std::thread::spawn(move || {
        let mut reader = SseReader::new(BufReader::new(body), MAX_EVENT_BYTES);
        loop {
            let next = match reader.next_event() {
                Ok(Some(ev)) => Read::Event(ev),
                Ok(None) => Read::End(None),
                Err(e) => Read::End(Some(e)),
            };
            let end = matches!(next, Read::End(_));
            if tx.send(next).is_err() || end {
                return;
            }
        }
    });
    rx
}

/// Hands each event read to `on_event` until the stream ends, `on_event` refuses one, or
/// `stop` is set.
fn pump(
    rx: &mpsc::Receiver<Read>,
    stop: &AtomicBool,
    on_event: &mut impl FnMut(SseEvent) -> Result<(), String>,
) -> Ended {
    loop {
        if stop.load(Ordering::Relaxed) {
            return Ended::Stopped;
        }
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(Read::Event(ev)) => {
                if let Err(e) = on_event(ev) {
                    return Ended::Failed(e);
                }
            }
            Ok(Read::End(None)) | Err(mpsc::RecvTimeoutError::Disconnected) => {
                return Ended::Failed("the node closed the stream".into());
            }
            Ok(Read::End(Some(e))) => return Ended::Failed(e.to_string()),
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
    }
}

/// Waits `d`, in slices of at most 100 ms so that a stop is seen soon.
fn pause(d: Duration, stop: &AtomicBool) {
    let until = Instant::now() + d;
    while !stop.load(Ordering::Relaxed) {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        std::thread::sleep(left.min(Duration::from_millis(100)));
    }
}
