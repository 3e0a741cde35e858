//! Epochs: the validator set changes only between them, and each epoch runs its own simplex
//! instance over the set the ledger recorded for it.
//!
//! The ledger derives every epoch's set (the last block of epoch `e` records the set of `e + 1`),
//! so every node switches at the same height without any message of its own. [`EpochSchemes`]
//! holds the signing scheme of each epoch learned so far; marshal verifies certificates of any
//! epoch through it. The [`Orchestrator`] runs one simplex engine at a time: when the finalizer
//! has committed the last block of an epoch it sends a [`Transition`], and the orchestrator stops
//! the old engine, tells the p2p layer the new epoch's peers, and starts the next engine on
//! per-epoch subchannels of the vote, certificate and resolver channels, with the boundary block
//! as its floor. Traffic of an epoch this node has not reached yet means it is behind: it asks
//! marshal for the finalization of its own epoch's last block from that peer, once per peer and
//! epoch.

use super::{app::Scheme, elector::FirstLeaderTwice};
use crate::{
    chain::{BlockLog, Chain},
    config::Timing,
};
use commonware_consensus::{
    CertifiableAutomaton, Relay,
    simplex::{
        self, Plan,
        config::{ForwardPolicy, SkipBudget, SkipPolicy},
        types::{Activity, Context},
    },
    types::{Epoch, Epocher as _, FixedEpocher, Height, ViewDelta},
};
use commonware_cryptography::certificate::{Provider, Scoped};
use commonware_p2p::{
    Blocker, Receiver, Sender,
    utils::mux::{Builder as _, MuxHandle, Muxer},
};
use commonware_parallel::Sequential;
use commonware_runtime::{Clock, Handle, Metrics, Spawner, Storage, buffer::paged::CacheRef};
use commonware_utils::{NZDuration, ordered::Set, vec::NonEmptyVec};
use futures::{StreamExt, channel::mpsc};
use npchain_api::CONSENSUS_NAMESPACE;
use npchain_core::{
    Store,
    types::{Digest, PrivateKey, PublicKey},
};
use rand_core::CryptoRng;
use std::{
    collections::{BTreeMap, BTreeSet, HashSet},
    num::NonZeroUsize,
    sync::{Arc, RwLock},
};
use tracing::{debug, info};

/// The consensus scheme of every epoch this node has learned, by epoch. A node in an epoch's
/// set signs with its key; any other node verifies only.
#[derive(Clone)]
pub struct EpochSchemes {
    signer: PrivateKey,
    known: Arc<RwLock<BTreeMap<u64, Arc<Scheme>>>>,
}

impl std::fmt::Debug for EpochSchemes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let epochs: Vec<u64> = self.read().keys().copied().collect();
        f.debug_struct("EpochSchemes").field("epochs", &epochs).finish()
    }
}

impl EpochSchemes {
    pub fn new(signer: PrivateKey) -> Self {
        Self { signer, known: Arc::default() }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<u64, Arc<Scheme>>> {
        self.known.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Records the validators of `epoch` (a second call for the same epoch changes nothing:
    /// a ledger records each epoch's set once).
    pub fn learn(&self, epoch: u64, validators: &[PublicKey]) -> Arc<Scheme> {
        if let Some(scheme) = self.get(epoch) {
            return scheme;
        }
        let participants = Set::from_iter_dedup(validators.iter().cloned());
        let scheme = Scheme::signer(CONSENSUS_NAMESPACE, participants.clone(), self.signer.clone())
            .unwrap_or_else(|| Scheme::verifier(CONSENSUS_NAMESPACE, participants));
        let scheme = Arc::new(scheme);
        self.known.write().unwrap_or_else(|e| e.into_inner()).insert(epoch, scheme.clone());
        scheme
    }

    pub fn get(&self, epoch: u64) -> Option<Arc<Scheme>> {
        self.read().get(&epoch).cloned()
    }
}

impl Provider for EpochSchemes {
    type Scope = Epoch;
    type Scheme = Scheme;

    fn scoped(&self, epoch: Epoch) -> Option<Scoped<Scheme>> {
        self.get(epoch.get()).map(Scoped::scheme)
    }
}

/// The peers of one epoch: its validators drive consensus; every other allowed peer (observers,
/// validators of a later epoch catching up) follows and is served blocks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EpochPeers {
    pub epoch: u64,
    pub validators: Vec<PublicKey>,
    pub followers: Vec<PublicKey>,
}

/// Whom this node allows on the network in `epoch`: the epoch's validators, and every peer of the
/// address book that is not a removed validator. A key the ledger ever had in a validator set
/// but has neither in this epoch's set nor among the validators the next boundary will record
/// belongs to a retired or removed validator, and is dropped.
pub fn epoch_peers(
    epoch: u64,
    address_book: &[PublicKey],
    sets: &[(u64, Vec<PublicKey>)],
    pending: &[PublicKey],
) -> EpochPeers {
    let current: BTreeSet<&PublicKey> =
        sets.iter().filter(|(e, _)| *e == epoch).flat_map(|(_, set)| set).collect();
    let ever: HashSet<&PublicKey> = sets.iter().flat_map(|(_, set)| set).collect();
    let validators: Vec<PublicKey> = current.iter().map(|k| (*k).clone()).collect();
    let mut followers: Vec<PublicKey> = address_book
        .iter()
        .filter(|k| !current.contains(k) && (!ever.contains(k) || pending.contains(k)))
        .cloned()
        .collect();
    followers.sort();
    followers.dedup();
    EpochPeers { epoch, validators, followers }
}

/// Sent by the finalizer once the ledger committed the last block of `epoch - 1`.
#[derive(Debug, Clone, Copy)]
pub struct Transition {
    pub epoch: u64,
}

/// The sending half the finalizer uses. Unbounded: one message per epoch boundary.
pub type Transitions = mpsc::UnboundedSender<Transition>;

/// Tells the p2p layer the peers of a new epoch (production: their addresses from the address
/// book; simulation: the simulated network's peer manager).
pub type TrackPeers = Box<dyn FnMut(&EpochPeers) + Send>;

/// Everything an epoch's simplex engine is built from, but its scheme, epoch and floor.
pub struct EngineParts<A, B> {
    pub application: A,
    pub blocker: B,
    pub partition: String,
    pub timing: Timing,
    pub page_cache: CacheRef,
    pub mailbox: NonZeroUsize,
    pub io_buffer: NonZeroUsize,
}

/// Runs one simplex engine per epoch and moves to the next at each boundary.
pub struct Orchestrator<E, S: Store, L: BlockLog, A, B> {
    pub context: E,
    pub chain: Chain<S, L>,
    pub schemes: EpochSchemes,
    pub marshal: super::Marshal,
    pub genesis: Digest,
    pub epocher: FixedEpocher,
    pub address_book: Vec<PublicKey>,
    pub track: TrackPeers,
    pub transitions: mpsc::UnboundedReceiver<Transition>,
    pub parts: EngineParts<A, B>,
}

enum Event {
    Transition(Option<Transition>),
    /// The current epoch's engine stopped by itself.
    EngineStopped,
    /// Traffic on the vote or certificate channel for an epoch without an engine here.
    Ahead(Option<(u64, PublicKey)>),
}

struct ActiveEpoch {
    epoch: u64,
    handle: Handle<()>,
    hinted: HashSet<PublicKey>,
}

/// The partition of one epoch's consensus journal.
fn journal_partition(prefix: &str, epoch: u64) -> String {
    format!("{prefix}-consensus-{epoch}")
}

impl<E, S, L, A, B> Orchestrator<E, S, L, A, B>
where
    E: Clock + CryptoRng + Spawner + Storage + Metrics + commonware_runtime::Supervisor,
    S: Store + Send + 'static,
    L: BlockLog,
    A: CertifiableAutomaton<Context = Context<Digest, PublicKey>, Digest = Digest>
        + Relay<Digest = Digest, PublicKey = PublicKey, Plan = Plan<PublicKey>>
        + commonware_consensus::Reporter<Activity = Activity<Scheme, Digest>>
        + Clone,
    B: Blocker<PublicKey = PublicKey>,
{
    /// The epoch the next block to apply belongs to.
    fn resume(&self) -> u64 {
        let next = Height::new(self.chain.height() + 1);
        self.epocher.containing(next).map_or(0, |info| info.epoch().get())
    }

    /// The floor an epoch's engine starts from: the last block of the epoch before, which the
    /// ledger committed (the genesis block in epoch 0).
    fn floor(&self, epoch: u64) -> Digest {
        let Some(boundary) = epoch.checked_sub(1).and_then(|e| self.epocher.last(Epoch::new(e))) else {
            return self.genesis;
        };
        let boundary = boundary.get();
        match self.chain.block(boundary) {
            Ok(Some(record)) => record.digest,
            other => panic!("the block log lacks the committed boundary block {boundary}: {other:?}"),
        }
    }

    /// Runs until the node stops: the engine of the current epoch, then each next one.
    pub async fn run<Sn, Rc>(mut self, votes: (Sn, Rc), certificates: (Sn, Rc), resolver: (Sn, Rc))
    where
        Sn: Sender<PublicKey = PublicKey>,
        Rc: Receiver<PublicKey = PublicKey>,
    {
        let (mux, mut vote_mux, mut vote_backup) =
            Muxer::builder(self.context.child("vote_mux"), votes.0, votes.1).with_backup().build();
        mux.start();
        let (mux, mut certificate_mux, mut certificate_backup) =
            Muxer::builder(self.context.child("certificate_mux"), certificates.0, certificates.1)
                .with_backup()
                .build();
        mux.start();
        let (mux, mut resolver_mux) = Muxer::new(self.context.child("resolver_mux"), resolver.0, resolver.1);
        mux.start();

        let epoch = self.resume();
        let Some(mut active) =
            self.enter(epoch, &mut vote_mux, &mut certificate_mux, &mut resolver_mux).await
        else {
            return;
        };
        loop {
            let event = commonware_macros::select! {
                transition = self.transitions.next() => Event::Transition(transition),
                message = vote_backup.recv() => Event::Ahead(message.map(|(epoch, (from, _))| (epoch, from))),
                message = certificate_backup.recv() => Event::Ahead(message.map(|(epoch, (from, _))| (epoch, from))),
                _ = &mut active.handle => Event::EngineStopped,
            };
            match event {
                Event::Transition(None) | Event::Ahead(None) => return,
                Event::EngineStopped => {
                    // Without its engine the node would follow no more; stopping the
                    // orchestrator stops the node, which the operator sees and restarts.
                    tracing::error!(epoch = active.epoch, "the consensus engine stopped");
                    return;
                }
                Event::Transition(Some(Transition { epoch })) if epoch > active.epoch => {
                    active.handle.abort();
                    match self.enter(epoch, &mut vote_mux, &mut certificate_mux, &mut resolver_mux).await {
                        Some(next) => active = next,
                        None => return,
                    }
                }
                Event::Transition(Some(_)) => {}
                Event::Ahead(Some((their_epoch, from))) => {
                    if their_epoch > active.epoch
                        && active.hinted.insert(from.clone())
                        && let Some(last) = self.epocher.last(Epoch::new(active.epoch))
                    {
                        debug!(%from, their_epoch, our_epoch = active.epoch, "a peer is in a later epoch; fetching our boundary");
                        self.marshal.hint_finalized(last, NonEmptyVec::new(from));
                    }
                }
            }
        }
    }

    /// Starts the engine of `epoch` on its subchannels, after the p2p layer knows its peers.
    /// `None` if the muxers stopped (the node is shutting down).
    async fn enter<Sn: Sender<PublicKey = PublicKey>>(
        &mut self,
        epoch: u64,
        votes: &mut MuxHandle<Sn>,
        certificates: &mut MuxHandle<Sn>,
        resolver: &mut MuxHandle<Sn>,
    ) -> Option<ActiveEpoch> {
        let (sets, pending) = self.chain.validator_sets();
        for (e, set) in &sets {
            self.schemes.learn(*e, set);
        }
        let scheme = self
            .schemes
            .get(epoch)
            .unwrap_or_else(|| panic!("the ledger has no validator set for epoch {epoch}"));
        let peers = epoch_peers(epoch, &self.address_book, &sets, &pending);
        (self.track)(&peers);
        let floor = self.floor(epoch);
        let engine = self.engine(epoch, floor, scheme.as_ref().clone());
        let votes = votes.register(epoch).await.ok()?;
        let certificates = certificates.register(epoch).await.ok()?;
        let resolver = resolver.register(epoch).await.ok()?;
        let handle = engine.start(votes, certificates, resolver);
        if let Some(previous) = epoch.checked_sub(1) {
            // The journal of an epoch that ended is never read again: this node re-enters
            // only epochs after the last boundary its ledger committed.
            let partition = journal_partition(&self.parts.partition, previous);
            if let Err(e) = self.context.remove(&partition, None).await {
                debug!(epoch = previous, error = %e, "no journal of the previous epoch to remove");
            }
        }
        self.chain.note_epoch(epoch, peers.validators.len());
        let me = commonware_cryptography::Signer::public_key(&self.schemes.signer);
        let role = if peers.validators.contains(&me) { "validator" } else { "follower" };
        info!(
            epoch,
            role,
            validators = peers.validators.len(),
            followers = peers.followers.len(),
            "entered epoch"
        );
        Some(ActiveEpoch { epoch, handle, hinted: HashSet::new() })
    }

    /// The simplex engine of one epoch.
    fn engine(
        &self,
        epoch: u64,
        floor: Digest,
        scheme: Scheme,
    ) -> simplex::Engine<E, Scheme, FirstLeaderTwice, B, Digest, A, A, A, Sequential> {
        let parts = &self.parts;
        let timing = parts.timing;
        simplex::Engine::new(
            self.context.child("consensus").with_attribute("epoch", epoch),
            simplex::Config {
                scheme,
                elector: FirstLeaderTwice,
                blocker: parts.blocker.clone(),
                automaton: parts.application.clone(),
                relay: parts.application.clone(),
                reporter: parts.application.clone(),
                track_historical_votes: false,
                strategy: Sequential,
                partition: journal_partition(&parts.partition, epoch),
                mailbox_size: parts.mailbox,
                epoch: Epoch::new(epoch),
                floor: simplex::config::Floor::Genesis(floor),
                replay_buffer: parts.io_buffer,
                write_buffer: parts.io_buffer,
                page_cache: parts.page_cache.clone(),
                leader_timeout: timing.leader_timeout(),
                certification_timeout: timing.certification_timeout(),
                timeout_retry: timing.timeout_retry(),
                view_retention: ViewDelta::new(10),
                skip: SkipPolicy::Enabled {
                    timeout: timing.certification_timeout().max(timing.timeout_retry()) * 2,
                    budget: SkipBudget::Participants,
                },
                fetch_timeout: NZDuration!(timing.fetch_timeout()),
                fetch_retry_delay: std::time::Duration::from_millis(100),
                forward: ForwardPolicy::Disabled,
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use commonware_cryptography::Signer;

    fn keys(n: usize) -> Vec<PublicKey> {
        let mut keys: Vec<PublicKey> =
            (0..n).map(|i| npchain_testkit::key(&format!("v{i}")).public_key()).collect();
        keys.sort();
        keys
    }

    #[test]
    fn a_removed_validator_leaves_the_allowlist_and_a_new_one_joins_it_before_its_epoch() {
        let k = keys(6);
        let observer = npchain_testkit::key("observer").public_key();
        let book: Vec<PublicKey> = k.iter().cloned().chain([observer.clone()]).collect();
        // Epoch 0: k0..k3. Epoch 1: k4 joined. Epoch 2: k1 removed; k5 is pending for epoch 3.
        let sets = vec![
            (0, k[..4].to_vec()),
            (1, k[..5].to_vec()),
            (2, vec![k[0].clone(), k[2].clone(), k[3].clone(), k[4].clone()]),
        ];
        let pending = vec![k[0].clone(), k[2].clone(), k[3].clone(), k[4].clone(), k[5].clone()];
        let peers = epoch_peers(2, &book, &sets, &pending);
        assert_eq!(peers.validators, sets[2].1);
        let mut followers = vec![k[5].clone(), observer];
        followers.sort();
        assert_eq!(peers.followers, followers, "k1 was removed; k5 follows until its epoch");
        let early = epoch_peers(0, &book, &sets, &pending);
        assert!(!early.followers.contains(&k[1]) && early.validators.contains(&k[1]));
    }

    #[test]
    fn schemes_sign_only_in_epochs_whose_set_holds_the_key() {
        let me = npchain_testkit::key("v0");
        let k = keys(5);
        let schemes = EpochSchemes::new(me.clone());
        schemes.learn(0, &k[..4]);
        let without: Vec<PublicKey> = k.iter().filter(|p| **p != me.public_key()).cloned().collect();
        schemes.learn(1, &without);
        use commonware_cryptography::certificate::Scheme as _;
        assert!(schemes.get(0).unwrap().me().is_some() == k[..4].contains(&me.public_key()));
        assert!(schemes.get(1).unwrap().me().is_none());
        assert!(schemes.scoped(Epoch::new(2)).is_none(), "an epoch not learned has no scheme");
    }
}
