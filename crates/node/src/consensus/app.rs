//! The consensus-facing application: builds and verifies blocks for simplex (through marshal's
//! [`Inline`](commonware_consensus::marshal::standard::Inline) wrapper; executing runs on the
//! runtime's blocking pool), and the reporter that applies the finalized blocks marshal
//! delivers in order, acknowledging each only after the ledger committed it.

use super::epochs::{Transition, Transitions};
use crate::chain::{BlockLog, Chain, Finalized};
use commonware_actor::Feedback;
use commonware_consensus::{
    Heightable, Reporter,
    marshal::Update,
    marshal::ancestry::Ancestry,
    simplex::types::Context,
    types::{Epocher as _, FixedEpocher, Height},
};
use commonware_cryptography::{Digested, Digestible};
use commonware_runtime::{Clock, Spawner};
use commonware_utils::Acknowledgement;
use futures::StreamExt;
use npchain_api::Block;
use npchain_core::{
    Store,
    types::{Digest, PublicKey, Timestamp},
};
use std::{
    sync::Arc,
    time::{Duration, UNIX_EPOCH},
};
use tracing::{debug, error, info, warn};

/// The shortest gap between two blocks when there is nothing to put in them.
pub const EMPTY_BLOCK_INTERVAL_MS: u64 = 500;
/// How often a proposer with nothing to propose looks at the mempool again.
const IDLE_POLL_MS: u64 = 20;

/// The simplex signing scheme: ed25519, attributable (each certificate lists its signers).
pub type Scheme = commonware_consensus::simplex::scheme::ed25519::Scheme;

/// The node's application, shared by consensus tasks.
pub struct App<S: Store, L: BlockLog> {
    chain: Chain<S, L>,
}

impl<S: Store, L: BlockLog> std::fmt::Debug for App<S, L> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App").field("chain", &self.chain).finish()
    }
}

impl<S: Store, L: BlockLog, E> std::fmt::Debug for Finalizer<S, L, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Finalizer").field("chain", &self.chain).finish()
    }
}

impl<S: Store, L: BlockLog> Clone for App<S, L> {
    fn clone(&self) -> Self {
        Self { chain: self.chain.clone() }
    }
}

impl<S: Store + Send + 'static, L: BlockLog> App<S, L> {
    pub fn new(chain: Chain<S, L>) -> Self {
        Self { chain }
    }

    /// Takes ancestors from the stream (newest first) until one this node already executed
    /// or committed; returns the unknown ones oldest first and the newest block seen.
    async fn unknown_ancestors(
        &self,
        mut ancestry: impl Ancestry<Block>,
    ) -> Option<(Vec<Arc<Block>>, Digested<Block>)> {
        let first = ancestry.next().await?;
        let mut unknown = Vec::new();
        let mut next = Some(first.clone());
        while let Some(block) = next {
            if self.chain.knows(&block.digest(), block.height().get()) {
                break;
            }
            unknown.push(block.inner_shared());
            next = ancestry.next().await;
        }
        unknown.reverse();
        Some((unknown, first))
    }
}

/// Runs block execution on the runtime's pool for blocking work, so that a long block does
/// not hold a worker that consensus timers and networking need. `None` if the task failed.
async fn off_the_workers<E: Spawner, T: Send + 'static>(
    context: &E,
    work: impl FnOnce() -> T + Send + 'static,
) -> Option<T> {
    match context.child("execute").shared(true).spawn(move |_| async move { work() }).await {
        Ok(out) => Some(out),
        Err(e) => {
            error!(error = %e, "block execution task failed");
            None
        }
    }
}

fn now_ms(clock: &impl Clock) -> Timestamp {
    Timestamp(clock.current().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0))
}

impl<E, S, L> commonware_consensus::Application<E> for App<S, L>
where
    E: Clock + Spawner,
    S: Store + Send + 'static,
    L: BlockLog,
{
    type SigningScheme = Scheme;
    type Context = Context<Digest, PublicKey>;
    type Block = Block;
    type Input = ();

    async fn propose(
        &mut self,
        (clock, _context): (E, Self::Context),
        ancestry: impl Ancestry<Self::Block>,
        _input: (),
    ) -> Option<Digested<Self::Block>> {
        let (unknown, parent) = self.unknown_ancestors(ancestry).await?;
        // An idle network makes a few empty blocks a second, not one per round trip: with
        // nothing to carry, wait (well inside the leader timeout) for a transaction.
        let idle_until = parent.inner().time.millis() + EMPTY_BLOCK_INTERVAL_MS;
        while self.chain.mempool_len() == 0 && now_ms(&clock).millis() < idle_until {
            clock.sleep(Duration::from_millis(IDLE_POLL_MS)).await;
        }
        let now = now_ms(&clock);
        let chain = self.chain.clone();
        if let Err(e) = off_the_workers(&clock, move || chain.absorb(&unknown)).await? {
            warn!(error = %e, "cannot build on this parent");
            return None;
        }
        let started = clock.current();
        let (chain, on) = (self.chain.clone(), parent.clone());
        match off_the_workers(&clock, move || chain.build(on.inner(), on.digest(), now)).await? {
            Ok(block) => {
                let elapsed = clock.current().duration_since(started).unwrap_or_default();
                self.chain.note_build(elapsed);
                debug!(height = block.height, txs = block.txs.len(), "proposing");
                let digest = block.digest();
                Some(Digested::precomputed(block, digest))
            }
            Err(e) => {
                warn!(error = %e, "cannot build a block");
                None
            }
        }
    }

    async fn verify(
        &mut self,
        (clock, _context): (E, Self::Context),
        ancestry: impl Ancestry<Self::Block>,
    ) -> bool {
        let now = now_ms(&clock);
        let Some((mut unknown, block)) = self.unknown_ancestors(ancestry).await else {
            return false;
        };
        // The first block of the stream is the one to verify; the rest are its ancestors.
        if unknown.last().map(|b| b.height) != Some(block.height().get()) {
            // Known: valid only if it is the block this node executed or finalized there.
            return self.chain.holds_valid(&block.digest(), block.height().get());
        }
        unknown.pop();
        let chain = self.chain.clone();
        let checked = off_the_workers(&clock, move || {
            chain.absorb(&unknown).map_err(|e| ("ancestor of a proposal is invalid", e))?;
            chain.verify(block.inner(), block.digest(), now).map_err(|e| ("refusing proposal", e))
        });
        match checked.await {
            Some(Ok(())) => true,
            Some(Err((what, e))) => {
                warn!(error = %e, "{what}");
                false
            }
            None => false,
        }
    }
}

/// Receives finalized blocks from marshal, in height order, at least once each. The clock
/// only measures commit latency (the block's proposal time to its commit here).
pub struct Finalizer<S: Store, L: BlockLog, E> {
    chain: Chain<S, L>,
    clock: E,
    /// Told when the ledger has committed the last block of an epoch.
    transitions: Transitions,
    epocher: FixedEpocher,
}

impl<S: Store, L: BlockLog, E: commonware_runtime::Supervisor> Clone for Finalizer<S, L, E> {
    /// Runtime contexts are not `Clone`: a copy gets a child context.
    fn clone(&self) -> Self {
        Self {
            chain: self.chain.clone(),
            clock: self.clock.child("finalizer"),
            transitions: self.transitions.clone(),
            epocher: self.epocher.clone(),
        }
    }
}

impl<S: Store + Send + 'static, L: BlockLog, E: Clock> Finalizer<S, L, E> {
    pub fn new(chain: Chain<S, L>, clock: E, transitions: Transitions, epocher: FixedEpocher) -> Self {
        Self { chain, clock, transitions, epocher }
    }

    /// After the last block of an epoch is committed (or found committed on a replay), the
    /// orchestrator moves consensus to the next epoch.
    fn after_commit(&self, height: u64) {
        if let Some(info) = self.epocher.containing(Height::new(height))
            && info.last().get() == height
        {
            let _ = self.transitions.unbounded_send(Transition { epoch: info.epoch().get() + 1 });
        }
    }
}

impl<S: Store + Send + 'static, L: BlockLog, E: Clock + commonware_runtime::Supervisor + Send + 'static>
    Reporter for Finalizer<S, L, E>
{
    type Activity = Update<Block>;

    fn report(&mut self, activity: Self::Activity) -> Feedback {
        match activity {
            Update::Tip(_, height, _) => self.chain.note_tip(height.get()),
            Update::Block(block, ack) => match self.chain.finalize(block.inner(), block.digest()) {
                Ok(Finalized::Applied(outcome)) => {
                    let latency_ms = now_ms(&self.clock).millis().saturating_sub(outcome.block_time.millis());
                    self.chain.metrics().commit_latency.observe(latency_ms as f64 / 1000.0);
                    info!(
                        height = outcome.height,
                        txs = outcome.results.len(),
                        state = %outcome.state_hash,
                        "applied finalized block"
                    );
                    self.after_commit(outcome.height);
                    ack.acknowledge();
                }
                Ok(Finalized::AlreadyApplied) => {
                    self.after_commit(block.height().get());
                    ack.acknowledge();
                }
                Err(e) => {
                    // Dropping the acknowledgement stops marshal: the node must not go on
                    // from a state it could not reach.
                    error!(height = block.height().get(), error = %e, "cannot apply finalized block; halting");
                    drop(ack);
                }
            },
        }
        Feedback::Ok
    }
}
