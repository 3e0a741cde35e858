//! Who leads each view of an epoch: the engine's round robin, shifted by one view so that the
//! epoch's first leader also leads its second view.
//!
//! Why not plain round robin: simplex nullifies a view at once, without waiting for the leader
//! timeout, when a quorum of the validators has been heard from lately and the view's leader
//! has not (`SkipPolicy::Enabled`, which spares every view of a crashed leader the full
//! timeout). A new epoch's engine starts with no record of anyone. Under plain round robin the
//! second view's leader has had only the first view to be heard, and a validator still
//! executing the first block under load often is not: the three others notarize it without
//! waiting. Then the nodes that did hear it (its finalize vote crossed) wait for its proposal
//! and notarize it, the ones that did not nullify, neither side is a quorum, and the view ends
//! only on the certification timeout. `npchain bench burst` showed this as a 2.2 s stall at the
//! second block of an epoch in 3 of 10 runs. The first view's leader has proposed in that view,
//! and its proposal is its own notarize vote, so every node that voted in view 1 has heard it
//! when view 2 starts; the third view's leader has had two views to be heard.
//!
//! Fairness is kept: from view 2 on, every validator leads once in each run of as many views as
//! there are validators, in the engine's order.

use commonware_consensus::{
    simplex::elector::{Config, Elector, RoundRobin, RoundRobinElector, Scheduled, Terms},
    types::{Participant, Round, View},
};
use commonware_cryptography::{Sha256, certificate::Scheme};
use commonware_utils::ordered::Set;

/// The leader election of every epoch's engine (see the module's documentation).
#[derive(Debug, Clone, Copy, Default)]
pub struct FirstLeaderTwice;

impl<S: Scheme> Config<S> for FirstLeaderTwice {
    type Elector = FirstLeaderTwiceElector<S>;

    fn build(self, participants: &Set<S::PublicKey>) -> Self::Elector {
        FirstLeaderTwiceElector(RoundRobin::<Sha256>::default().build(participants))
    }
}

/// [`FirstLeaderTwice`] built for one epoch's participants.
#[derive(Debug, Clone)]
pub struct FirstLeaderTwiceElector<S: Scheme>(RoundRobinElector<S>);

impl<S: Scheme> Elector<S> for FirstLeaderTwiceElector<S> {
    type Mode = Scheduled;

    fn terms(&self) -> Terms {
        self.0.terms()
    }

    fn elect(&self, round: Round, _: ()) -> Participant {
        let view = round.view().get();
        let shifted = if view >= 2 { view - 1 } else { view };
        self.0.elect(Round::new(round.epoch(), View::new(shifted)), ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consensus::Scheme as Ed25519;
    use commonware_consensus::types::Epoch;
    use commonware_cryptography::Signer as _;
    use npchain_core::types::PublicKey;

    fn participants(n: usize) -> Set<PublicKey> {
        Set::from_iter_dedup((0..n).map(|i| npchain_testkit::key(&format!("v{i}")).public_key()))
    }

    fn leader(elector: &FirstLeaderTwiceElector<Ed25519>, epoch: u64, view: u64) -> Participant {
        elector.elect(Round::new(Epoch::new(epoch), View::new(view)), ())
    }

    #[test]
    fn the_first_leader_of_every_epoch_also_leads_its_second_view() {
        for n in [1, 4, 7] {
            let elector = <FirstLeaderTwice as Config<Ed25519>>::build(FirstLeaderTwice, &participants(n));
            for epoch in 0..10 {
                assert_eq!(leader(&elector, epoch, 1), leader(&elector, epoch, 2), "n={n} epoch={epoch}");
            }
        }
    }

    #[test]
    fn from_the_second_view_every_validator_leads_once_per_round_and_the_order_is_the_engines() {
        let set = participants(4);
        let ours = <FirstLeaderTwice as Config<Ed25519>>::build(FirstLeaderTwice, &set);
        let engine = <RoundRobin<Sha256> as Config<Ed25519>>::build(RoundRobin::default(), &set);
        for epoch in 0..6 {
            for start in 2..30 {
                let mut led: Vec<Participant> = (start..start + 4).map(|v| leader(&ours, epoch, v)).collect();
                led.sort();
                led.dedup();
                assert_eq!(led.len(), 4, "epoch {epoch}, views {start}..{}", start + 4);
            }
            for view in 2..30 {
                let theirs = engine.elect(Round::new(Epoch::new(epoch), View::new(view - 1)), ());
                assert_eq!(leader(&ours, epoch, view), theirs, "epoch {epoch} view {view}");
            }
            // The epoch's first leader is the engine's, so the rotation still moves on by one
            // validator from one epoch to the next.
            let first = engine.elect(Round::new(Epoch::new(epoch), View::new(1)), ());
            assert_eq!(leader(&ours, epoch, 1), first);
        }
    }
}
