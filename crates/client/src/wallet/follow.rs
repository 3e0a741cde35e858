//! Following orders: [`Wallet::sync`] brings the local ledger up to date with one order,
//! [`Wallet::discover`] finds every order that touches the wallet, and [`Wallet::follow`]
//! waits for an order to finish, writing each step, proven, as it is committed. A step a
//! node reports is found in its block by block time, then proven ([`Wallet::prove`]).

use super::{
    Wallet,
    error::{Fault, WalletError},
    ledger::Entry,
};
use crate::http::{Client, ClientError, Refusal};
use npchain_api::json::{PortInfo, StepInfo, TxStatus};
use npchain_core::{RejectCause, types::PortId};
use std::{
    sync::atomic::{AtomicBool, Ordering},
    time::{Duration, Instant},
};

/// Pages of `GET /v1/ports?number=` read per number when discovering orders (a node's page
/// holds up to 100 orders by default): a bound on what one node can make the wallet read.
pub const MAX_DISCOVERY_PAGES: usize = 10;

/// How long `follow` waits by default past a request's expiry or an order's activation
/// deadline for the block that settles it (block times and this machine's clock may differ).
pub const FOLLOW_MARGIN: Duration = Duration::from_secs(600);

/// Where a request this wallet sent (or a consent it signed) is, while no node shows its order.
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

/// Whether a deadline, not a message, made the step: an expiry and the donor's deemed answers
/// (no transaction in the block makes them).
pub(super) fn by_deadline(step: &StepInfo) -> bool {
    step.step == "expired" || step.deemed || step.reason.as_deref() == Some("donor-silent")
}

pub(super) fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

impl Wallet {
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
            let entry = self.prove(client, port, &step.step.step, height, !by_deadline(&step.step))?;
            self.append(&entry)?;
            on_step(&entry);
            have.push(step.step.step.clone());
        }
        Ok(())
    }

    /// Where the request of order `id` is, if this wallet sent it or signed its consent: for
    /// an order the node does not know (yet).
    fn request_state(&self, client: &Client, id: &str) -> Result<Option<RequestState>, WalletError> {
        let Some(sent) = self.sent()?.into_iter().find(|s| s.kind == "request" && s.port == id) else {
            // a consent this wallet signed: the recipient may submit it until it expires
            return Ok(self
                .consents()?
                .into_iter()
                .find(|g| g.port == id)
                .map(|g| RequestState::Pending { expires_at_ms: g.expires_at_ms }));
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

    /// The orders this wallet knows of itself: those it sent, those of consents still usable,
    /// those in its local ledger. Ids, in the order found.
    fn own_orders(&self) -> Result<Vec<String>, WalletError> {
        let mut ids: Vec<String> = Vec::new();
        let sent = self.sent()?;
        let requests = sent.iter().filter(|s| s.kind == "request").map(|s| s.port.clone());
        // consents still usable (an order submitted with one is found by its numbers)
        let now = now_ms();
        let consents = self.consents()?.into_iter().filter(|g| g.expires_at_ms > now).map(|g| g.port);
        let recorded = self.entries()?.into_iter().map(|e| e.port);
        for id in requests.chain(consents).chain(recorded) {
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        Ok(ids)
    }

    /// The wallet's numbers as the nodes report them: those bound to its key now, and those
    /// named in the orders `ids`; sorted, each once.
    pub(super) fn numbers_of(&self, client: &Client, ids: &[String]) -> Result<Vec<String>, WalletError> {
        let key = commonware_formatting::hex(self.public_key().as_ref());
        let mut numbers: Vec<String> = client.bound_numbers(&key)?.into_iter().map(|r| r.number).collect();
        for id in ids {
            // an order the node does not know (a request refused in its block) names none
            if let Ok(order) = client.port(id) {
                numbers.extend(order.numbers);
            }
        }
        numbers.sort();
        numbers.dedup();
        Ok(numbers)
    }

    /// The numbers [`Self::discover`] reads the orders of: those bound to the key, and those
    /// of the orders the wallet knows of itself.
    pub fn numbers(&self, nodes: &[String]) -> Result<Vec<String>, WalletError> {
        self.numbers_of(&self.client(nodes), &self.own_orders()?)
    }

    /// Every order that touches this wallet: those it sent, those in its local ledger, and
    /// every order of the numbers bound to its key or named in those orders (found with
    /// `GET /v1/ports?number=`: orders an operator started, say). Ids, in the order found.
    pub fn discover(&self, nodes: &[String]) -> Result<Vec<PortId>, WalletError> {
        let client = self.client(nodes);
        let mut ids = self.own_orders()?;
        let add = |ids: &mut Vec<String>, id: &str| {
            if !ids.iter().any(|i| i == id) {
                ids.push(id.to_owned());
            }
        };
        let numbers = self.numbers_of(&client, &ids)?;
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
            fault: Fault::NoBlock { step: step.to_owned(), port: id.to_owned(), time_ms },
        })
    }
}
