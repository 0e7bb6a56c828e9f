//! Disjoint-path lookups (S/Kademlia): `d` independent [`ClosestIter`]s
//! that never share a peer, so a lookup succeeds when at least one path
//! avoids the adversary's nodes.
//!
//! This module owns the split of seeds and peers between paths and the
//! merging of their results. Like `closest`, it does no I/O, reads no clock
//! and draws no randomness.

use std::collections::HashMap;

use super::{ClosestIter, LookupParams, LookupStep};
use crate::id::NodeId;
use crate::wire::Contact;

/// `d` lookups of one target over disjoint sets of peers.
///
/// Seeds are dealt round-robin, closest first, so each path starts from
/// different peers. A contact learned by a path stays with that path; a
/// peer already queried by one path is never queried by another (the path
/// that would have picked it sees it as failed). The lookup ends when every
/// path has ended; its result is the k closest peers that answered on any
/// path.
#[derive(Debug, Clone)]
pub struct DisjointIter {
    paths: Vec<ClosestIter>,
    /// Which path queried each peer.
    owner: HashMap<NodeId, usize>,
    /// The path `next` asks first, rotated for fairness.
    turn: usize,
    k: usize,
    messages: u32,
}

impl DisjointIter {
    /// A lookup of `target` over `paths` disjoint paths (at least 1), each
    /// with `params`.
    pub fn new(
        target: NodeId,
        local_id: NodeId,
        seeds: impl IntoIterator<Item = Contact>,
        params: LookupParams,
        paths: usize,
    ) -> Self {
        let d = paths.max(1);
        let mut seeds: Vec<Contact> = seeds.into_iter().collect();
        seeds.sort_by_key(|c| c.id.distance(&target));
        seeds.dedup_by_key(|c| c.id);
        let mut dealt: Vec<Vec<Contact>> = vec![Vec::new(); d];
        for (i, seed) in seeds.into_iter().enumerate() {
            dealt[i % d].push(seed);
        }
        DisjointIter {
            paths: dealt
                .into_iter()
                .map(|s| ClosestIter::new(target, local_id, s, params))
                .collect(),
            owner: HashMap::new(),
            turn: 0,
            k: params.k.max(1),
            messages: 0,
        }
    }

    /// Number of paths.
    pub fn paths(&self) -> usize {
        self.paths.len()
    }

    /// The next request to send, from any path that has one.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> LookupStep {
        let d = self.paths.len();
        let mut all_finished = true;
        for offset in 0..d {
            let p = (self.turn + offset) % d;
            loop {
                match self.paths[p].next() {
                    LookupStep::Query(c) => {
                        if self.owner.get(&c.id).is_some_and(|&o| o != p) {
                            // Another path has this peer: not ours to ask.
                            self.paths[p].on_failure(&c.id);
                            continue;
                        }
                        self.owner.insert(c.id, p);
                        self.messages = self.messages.saturating_add(1);
                        self.turn = (p + 1) % d;
                        return LookupStep::Query(c);
                    }
                    LookupStep::Waiting => {
                        all_finished = false;
                        break;
                    }
                    LookupStep::Finished => break,
                }
            }
        }
        if all_finished {
            LookupStep::Finished
        } else {
            LookupStep::Waiting
        }
    }

    /// `peer` answered; its path takes the contacts.
    pub fn on_success(&mut self, peer: &NodeId, closer: &[Contact]) -> bool {
        match self.owner.get(peer) {
            Some(&p) => self.paths[p].on_success(peer, closer),
            None => false,
        }
    }

    /// `peer`'s request passed its soft deadline and is sent again; see
    /// [`ClosestIter::on_retry`]. Counts one message when accepted.
    pub fn on_retry(&mut self, peer: &NodeId) -> bool {
        let accepted = match self.owner.get(peer) {
            Some(&p) => self.paths[p].on_retry(peer),
            None => false,
        };
        if accepted {
            self.messages = self.messages.saturating_add(1);
        }
        accepted
    }

    /// Whether `peer` is one of the k closest live candidates of its own
    /// path; see [`ClosestIter::is_among_closest`]. `false` for a peer no
    /// path holds.
    pub fn is_among_closest(&self, peer: &NodeId) -> bool {
        self.owner
            .get(peer)
            .and_then(|&p| self.paths.get(p))
            .is_some_and(|path| path.is_among_closest(peer))
    }

    /// `peer`'s request is overdue.
    pub fn on_overdue(&mut self, peer: &NodeId) {
        if let Some(&p) = self.owner.get(peer) {
            self.paths[p].on_overdue(peer);
        }
    }

    /// `peer`'s request failed.
    pub fn on_failure(&mut self, peer: &NodeId) {
        if let Some(&p) = self.owner.get(peer) {
            self.paths[p].on_failure(peer);
        }
    }

    /// Stops every path.
    pub fn finish(&mut self) {
        for p in &mut self.paths {
            p.finish();
        }
    }

    /// Whether every path has ended.
    pub fn is_finished(&self) -> bool {
        self.paths.iter().all(ClosestIter::is_finished)
    }

    /// The k closest peers that answered on any path, closest first.
    pub fn closest_succeeded(&self) -> Vec<Contact> {
        let target = self.paths.first().map(ClosestIter::target);
        let mut all: Vec<Contact> = self
            .paths
            .iter()
            .flat_map(ClosestIter::closest_succeeded)
            .collect();
        if let Some(t) = target {
            all.sort_by_key(|c| c.id.distance(&t));
        }
        all.dedup_by_key(|c| c.id);
        all.truncate(self.k);
        all
    }

    /// The deepest path's hops.
    pub fn hops(&self) -> u32 {
        self.paths.iter().map(ClosestIter::hops).max().unwrap_or(0)
    }

    /// Requests issued over all paths, retransmissions included.
    pub fn messages(&self) -> u32 {
        self.messages
    }

    /// The path that queried `peer`.
    pub fn path_of(&self, peer: &NodeId) -> Option<usize> {
        self.owner.get(peer).copied()
    }
}
