//! [`ClosestIter`]: the closest-peers iterator behind every Kademlia lookup
//! (FIND_NODE, FIND_VALUE, GET_PROVIDERS, the first half of a STORE).
//!
//! It owns the candidate list of one lookup and the rules that drive it. It
//! must never do I/O, read a clock or draw randomness, and never panics on
//! any sequence of calls.

use std::collections::btree_map::{BTreeMap, Entry};

use crate::config::Config;
use crate::id::{DistanceKey, NodeId};
use crate::wire::Contact;

/// How many not-yet-queried candidates a lookup keeps, as a multiple of `k`:
/// a candidate that is not among the `CANDIDATE_FACTOR * k` closest live
/// (not failed, not overdue) candidates is forgotten. It can be learned
/// again from a later answer; it could only have been queried had more than
/// `(CANDIDATE_FACTOR - 1) * k` closer candidates failed.
pub const CANDIDATE_FACTOR: usize = 3;

/// The two numbers that shape a lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LookupParams {
    /// How many closest peers the lookup looks for (and waits for). Values
    /// below 1 are treated as 1.
    pub k: usize,
    /// Requests in flight while the lookup still makes progress. Values
    /// below 1 are treated as 1.
    pub alpha: usize,
}

impl LookupParams {
    /// The `k` and `alpha` of a node's [`Config`].
    pub fn from_config(config: &Config) -> Self {
        LookupParams {
            k: config.k,
            alpha: config.alpha,
        }
    }
}

impl Default for LookupParams {
    /// k = 20, alpha = 3, as in the Kademlia paper and [`Config::default`].
    fn default() -> Self {
        LookupParams { k: 20, alpha: 3 }
    }
}

/// What the engine should do next for a lookup, as returned by
/// [`ClosestIter::next`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LookupStep {
    /// Send a request to this contact now. The iterator counts it as one
    /// message and marks it in flight.
    Query(Contact),
    /// Nothing to send until an answer, an overdue notice or a failure
    /// arrives. Never returned while no request is outstanding.
    Waiting,
    /// The lookup is over; read [`ClosestIter::closest_succeeded`].
    Finished,
}

/// Where a candidate stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PeerState {
    /// Known, never asked.
    NotContacted,
    /// Asked; counts toward alpha.
    InFlight,
    /// Asked, past its soft deadline, and asked again (a retransmission):
    /// no longer counts toward alpha, but still counts toward termination
    /// (the lookup waits for it while it is among the k closest).
    Retrying,
    /// Asked, past its soft deadline: no longer counts toward alpha nor
    /// toward termination, but its late answer is still used.
    Overdue,
    /// Answered.
    Succeeded,
    /// Will never answer (or answered with an error).
    Failed,
}

impl PeerState {
    /// Whether the candidate may still be one of the k closest *answering*
    /// peers: the ones that termination waits for.
    fn is_live(self) -> bool {
        matches!(
            self,
            PeerState::NotContacted
                | PeerState::InFlight
                | PeerState::Retrying
                | PeerState::Succeeded
        )
    }

    /// Whether a request to the candidate is outstanding.
    fn is_outstanding(self) -> bool {
        matches!(
            self,
            PeerState::InFlight | PeerState::Retrying | PeerState::Overdue
        )
    }
}

#[derive(Debug, Clone)]
struct Candidate {
    contact: Contact,
    /// Seeds are at depth 1; a contact learned from an answer at depth d is
    /// at depth d + 1 (the smallest such d while it is not yet queried).
    depth: u32,
    state: PeerState,
}

/// The closest-peers iterator of one lookup.
///
/// It keeps the candidates sorted by XOR distance to the target and decides
/// whom to ask. The engine drives it:
///
/// - **pull requests**: call [`next`](Self::next) until it returns
///   [`LookupStep::Waiting`] or [`LookupStep::Finished`]; send a request to
///   each [`LookupStep::Query`] contact;
/// - **report outcomes**: [`on_success`](Self::on_success) with the contacts
///   an answer carried, [`on_retry`](Self::on_retry) when a request passed
///   its soft deadline and was sent again, [`on_overdue`](Self::on_overdue)
///   when it passed its soft deadline and will not be sent again,
///   [`on_failure`](Self::on_failure) when it will never be answered; then
///   call `next` again ([`is_among_closest`](Self::is_among_closest) tells
///   whether a peer's answer can still change the result);
/// - **stop early**: [`finish`](Self::finish) (e.g. FIND_VALUE found a value);
/// - **read results**: [`closest_succeeded`](Self::closest_succeeded),
///   [`hops`](Self::hops), [`messages`](Self::messages),
///   [`in_flight`](Self::in_flight) (to drop pending requests at the end).
///
/// # Rules
///
/// - While answers keep bringing contacts closer than the closest seen so
///   far, at most `alpha` requests are in flight; an overdue request frees
///   its slot.
/// - An answer that brings nothing closer than the closest seen starts the
///   **fan-out**: every one of the k closest live candidates not yet queried
///   is queried at once. An answer that does bring a closer contact returns
///   the lookup to alpha-at-a-time (as rust-libp2p's iterator does), so a
///   fan-out that discovers a better region does not flood it. (The
///   measurements behind this rule are in `docs/BENCHMARKS.md`, "Lookup
///   iterator".)
/// - A retransmitted request frees its slot like an overdue one, but the
///   peer stays live: the lookup moves on meanwhile, yet does not finish
///   without the peer's answer (or its final overdue notice or failure)
///   while it is among the k closest. A retransmission is at the peer's
///   depth and counts as a message.
/// - The lookup is **finished** when the k closest live candidates (not
///   failed, not overdue) have all answered, or when none is left.
///
/// # Invariants (checked by property tests)
///
/// - A peer is queried at most once (retransmissions aside); the local id
///   is never queried nor returned.
/// - [`LookupStep::Waiting`] is only returned while a request is outstanding
///   (in flight or overdue), so a lookup whose requests all end (by answer,
///   overdue or failure) always finishes.
/// - Memory: every queried peer is kept, plus at most
///   [`CANDIDATE_FACTOR`]` * k` not-yet-queried candidates after each call.
/// - `closest_succeeded` is sorted by distance and holds at most k contacts.
#[derive(Debug, Clone)]
pub struct ClosestIter {
    target: NodeId,
    local_id: NodeId,
    k: usize,
    alpha: usize,
    /// `target` as integers, to compute the keys of `candidates`.
    target_key: DistanceKey,
    /// Keyed by distance to `target` (one id per distance), so iteration
    /// is closest first. A `BTreeMap`, so an insertion never shifts the
    /// candidates behind it. The key is the distance as words
    /// ([`DistanceKey`], same order and size as
    /// [`Distance`](crate::id::Distance)): a search compares words inline
    /// instead of calling `memcmp` on the id's bytes, and the key stays as
    /// small as the distance itself. (Measurements of the alternatives:
    /// `docs/BENCHMARKS.md`, "Lookup iterator".)
    candidates: BTreeMap<DistanceKey, Candidate>,
    /// Candidates whose state is live ([`PeerState::is_live`]), so that
    /// [`prune`](Self::prune) knows in O(1) when nothing can be pruned.
    live: usize,
    /// Candidates in state `InFlight` (the ones counting toward alpha).
    active: usize,
    fanning_out: bool,
    /// The smallest distance of any contact ever added (failed or not).
    closest_seen: Option<DistanceKey>,
    finished: bool,
    /// Set when the lookup finishes.
    hops: Option<u32>,
    deepest: u32,
    /// [`LookupStep::Query`] steps returned (peers queried).
    messages: u32,
    /// Retransmissions accepted by [`ClosestIter::on_retry`].
    retries: u32,
}

impl ClosestIter {
    /// A lookup of `target` started from `seeds` (usually the closest
    /// contacts of our own routing table). `local_id` is never queried nor
    /// returned; duplicate seeds are ignored. With no usable seed the lookup
    /// is finished at once.
    pub fn new(
        target: NodeId,
        local_id: NodeId,
        seeds: impl IntoIterator<Item = Contact>,
        params: LookupParams,
    ) -> Self {
        let mut iter = ClosestIter {
            target,
            target_key: DistanceKey::of(&target),
            local_id,
            k: params.k.max(1),
            alpha: params.alpha.max(1),
            candidates: BTreeMap::new(),
            live: 0,
            active: 0,
            fanning_out: false,
            closest_seen: None,
            finished: false,
            hops: None,
            deepest: 0,
            messages: 0,
            retries: 0,
        };
        for seed in seeds {
            iter.add(seed, 1);
        }
        iter.prune();
        iter.check_finished(None);
        iter
    }

    /// The id being looked up.
    pub fn target(&self) -> NodeId {
        self.target
    }

    /// The parameters in force (after raising zeros to 1).
    pub fn params(&self) -> LookupParams {
        LookupParams {
            k: self.k,
            alpha: self.alpha,
        }
    }

    /// The next request to send. Call repeatedly until it returns
    /// [`LookupStep::Waiting`] or [`LookupStep::Finished`]. Each
    /// [`LookupStep::Query`] counts as one message and marks the peer in
    /// flight. Candidates are queried closest first.
    // Not an `Iterator`: `Waiting` is not the end, and the name is the one
    // the engine and rust-libp2p use for this step.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> LookupStep {
        if self.finished {
            return LookupStep::Finished;
        }
        if !self.fanning_out && self.active >= self.alpha {
            return LookupStep::Waiting;
        }
        let k = self.k;
        let pick = self
            .candidates
            .values_mut()
            .filter(|c| c.state.is_live())
            .take(k)
            .find(|c| c.state == PeerState::NotContacted);
        match pick {
            Some(candidate) => {
                candidate.state = PeerState::InFlight;
                self.active += 1;
                self.messages = self.messages.saturating_add(1);
                LookupStep::Query(candidate.contact)
            }
            None => LookupStep::Waiting,
        }
    }

    /// `peer` answered with `closer`, the contacts it knows closest to the
    /// target. Late answers (after [`on_overdue`](Self::on_overdue)) are
    /// used too. Returns `false`, and changes nothing, when the answer is
    /// ignored: the lookup is finished, `peer` was never queried, it already
    /// answered, or it was reported failed.
    pub fn on_success(&mut self, peer: &NodeId, closer: &[Contact]) -> bool {
        if self.finished {
            return false;
        }
        let Some(candidate) = self.candidates.get_mut(&self.key(peer)) else {
            return false;
        };
        match candidate.state {
            PeerState::InFlight => self.active = self.active.saturating_sub(1),
            PeerState::Retrying => {}
            // A late answer makes the candidate live again.
            PeerState::Overdue => self.live += 1,
            PeerState::NotContacted | PeerState::Succeeded | PeerState::Failed => return false,
        }
        candidate.state = PeerState::Succeeded;
        let depth = candidate.depth;
        self.deepest = self.deepest.max(depth);

        let before = self.closest_seen;
        let learned_depth = depth.saturating_add(1);
        // A misbehaving peer could send any number of contacts: prune as we
        // go so memory stays bounded whatever the slice holds.
        let prune_at = self.unqueried_cap().saturating_mul(2);
        for contact in closer {
            self.add(*contact, learned_depth);
            if self.candidates.len().saturating_sub(self.messages as usize) > prune_at {
                self.prune();
            }
        }
        let improved = match (before, self.closest_seen) {
            (Some(b), Some(a)) => a < b,
            (None, Some(_)) => true,
            (_, None) => false,
        };
        self.fanning_out = !improved;
        self.prune();
        self.check_finished(Some(depth));
        true
    }

    /// The request to `peer` passed its soft deadline and the engine sends
    /// it again (a retransmission, at the same depth). The peer no longer
    /// counts toward alpha (so [`next`](Self::next) may issue another
    /// request) but stays live: termination still waits for it. Counts one
    /// message. Returns `false`, and changes nothing, unless the lookup is
    /// running and `peer` is in flight or already retrying: the engine must
    /// then not resend.
    pub fn on_retry(&mut self, peer: &NodeId) -> bool {
        if self.finished {
            return false;
        }
        let Some(candidate) = self.candidates.get_mut(&self.key(peer)) else {
            return false;
        };
        match candidate.state {
            PeerState::InFlight => {
                candidate.state = PeerState::Retrying;
                self.active = self.active.saturating_sub(1);
            }
            PeerState::Retrying => {}
            PeerState::NotContacted
            | PeerState::Overdue
            | PeerState::Succeeded
            | PeerState::Failed => return false,
        }
        self.retries = self.retries.saturating_add(1);
        true
    }

    /// The request to `peer` passed its soft deadline and will not be sent
    /// again: it no longer counts toward alpha (so [`next`](Self::next) may
    /// issue another request) and, for termination, counts as failed. A
    /// late answer is still accepted by [`on_success`](Self::on_success).
    /// Ignored unless `peer` is in flight or retrying.
    pub fn on_overdue(&mut self, peer: &NodeId) {
        if let Some(candidate) = self.candidate_mut(peer) {
            match candidate.state {
                PeerState::InFlight => {
                    candidate.state = PeerState::Overdue;
                    self.active = self.active.saturating_sub(1);
                    self.live = self.live.saturating_sub(1);
                }
                PeerState::Retrying => {
                    candidate.state = PeerState::Overdue;
                    self.live = self.live.saturating_sub(1);
                }
                PeerState::NotContacted
                | PeerState::Overdue
                | PeerState::Succeeded
                | PeerState::Failed => return,
            }
            self.check_finished(None);
        }
    }

    /// The request to `peer` definitively failed (its late window is over,
    /// or it answered with an error). Ignored unless `peer` is in flight,
    /// retrying or overdue.
    pub fn on_failure(&mut self, peer: &NodeId) {
        if let Some(candidate) = self.candidate_mut(peer) {
            match candidate.state {
                PeerState::InFlight => {
                    candidate.state = PeerState::Failed;
                    self.active = self.active.saturating_sub(1);
                    self.live = self.live.saturating_sub(1);
                }
                PeerState::Retrying => {
                    candidate.state = PeerState::Failed;
                    self.live = self.live.saturating_sub(1);
                }
                PeerState::Overdue => candidate.state = PeerState::Failed,
                PeerState::NotContacted | PeerState::Succeeded | PeerState::Failed => return,
            }
            self.check_finished(None);
        }
    }

    /// Whether `peer` is one of the k closest live candidates (not failed,
    /// not overdue): the peers whose answers termination waits for and
    /// [`closest_succeeded`](Self::closest_succeeded) would return. Only
    /// such a peer's answer can still change the result; a peer ranked
    /// beyond them can only re-enter if closer ones fail. `false` when the
    /// lookup is finished or the iterator does not hold `peer`.
    pub fn is_among_closest(&self, peer: &NodeId) -> bool {
        if self.finished {
            return false;
        }
        let distance = self.key(peer);
        self.candidates
            .iter()
            .filter(|(_, c)| c.state.is_live())
            .take(self.k)
            .any(|(d, _)| *d == distance)
    }

    /// Stops the lookup now (e.g. a value was found). [`hops`](Self::hops)
    /// then reports the deepest answer received so far.
    pub fn finish(&mut self) {
        if !self.finished {
            self.finished = true;
            self.hops = Some(self.deepest);
        }
    }

    /// Whether the lookup is over (by its own rule or by [`finish`](Self::finish)).
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// Whether the final fan-out is under way: the last answer brought
    /// nothing closer, so every one of the k closest not yet queried is
    /// being queried regardless of alpha.
    pub fn is_fanning_out(&self) -> bool {
        self.fanning_out
    }

    /// The closest contacts that answered, closest first, at most k.
    pub fn closest_succeeded(&self) -> Vec<Contact> {
        self.candidates
            .values()
            .filter(|c| c.state == PeerState::Succeeded)
            .take(self.k)
            .map(|c| c.contact)
            .collect()
    }

    /// Peers with a request outstanding: in flight, retrying or overdue.
    pub fn in_flight(&self) -> Vec<NodeId> {
        self.candidates
            .values()
            .filter(|c| c.state.is_outstanding())
            .map(|c| c.contact.id)
            .collect()
    }

    /// The lookup's hop count. Once finished by its own rule: the depth of
    /// the answer that completed it, or, when a failure or an overdue
    /// notice completed it, the deepest answer received. Once stopped by
    /// [`finish`](Self::finish), and while still running: the deepest
    /// answer received so far. 0 when nobody answered.
    pub fn hops(&self) -> u32 {
        self.hops.unwrap_or(self.deepest)
    }

    /// The depth of the deepest answer received so far (0 if none).
    pub fn deepest_answer(&self) -> u32 {
        self.deepest
    }

    /// Requests issued so far: the number of [`LookupStep::Query`]
    /// returned plus the retransmissions accepted by
    /// [`on_retry`](Self::on_retry).
    pub fn messages(&self) -> u32 {
        self.messages.saturating_add(self.retries)
    }

    /// Retransmissions accepted by [`on_retry`](Self::on_retry).
    pub fn retries(&self) -> u32 {
        self.retries
    }

    /// The depth at which `peer` was (or will be) queried: 1 for a seed,
    /// d + 1 for a contact learned from an answer at depth d. `None` when
    /// the iterator does not (or no longer) hold `peer`.
    pub fn depth_of(&self, peer: &NodeId) -> Option<u32> {
        self.candidates.get(&self.key(peer)).map(|c| c.depth)
    }

    /// Number of candidates held (queried or not), for memory accounting.
    pub fn num_candidates(&self) -> usize {
        self.candidates.len()
    }

    /// The key of `peer` in `candidates`: its distance to the target.
    fn key(&self, peer: &NodeId) -> DistanceKey {
        self.target_key.xor(DistanceKey::of(peer))
    }

    fn candidate_mut(&mut self, peer: &NodeId) -> Option<&mut Candidate> {
        self.candidates.get_mut(&self.key(peer))
    }

    /// Inserts `contact` at `depth`, or lowers the depth of a known,
    /// not-yet-queried one.
    fn add(&mut self, contact: Contact, depth: u32) {
        if contact.id == self.local_id {
            return;
        }
        let distance = self.key(&contact.id);
        match self.candidates.entry(distance) {
            Entry::Occupied(mut known) => {
                let known = known.get_mut();
                if known.state == PeerState::NotContacted {
                    known.depth = known.depth.min(depth);
                }
            }
            Entry::Vacant(slot) => {
                slot.insert(Candidate {
                    contact,
                    depth,
                    state: PeerState::NotContacted,
                });
                self.live += 1;
                if self.closest_seen.is_none_or(|best| distance < best) {
                    self.closest_seen = Some(distance);
                }
            }
        }
    }

    fn unqueried_cap(&self) -> usize {
        self.k.saturating_mul(CANDIDATE_FACTOR)
    }

    /// Forgets the not-yet-queried candidates ranked beyond the
    /// `CANDIDATE_FACTOR * k` closest live ones.
    ///
    /// Nothing is ranked beyond the cap while at most `cap` candidates are
    /// live, which then costs no walk at all; otherwise a read-only walk
    /// finds the candidates to forget (a `retain` rewrote the whole map).
    fn prune(&mut self) {
        debug_assert_eq!(
            self.live,
            self.candidates
                .values()
                .filter(|c| c.state.is_live())
                .count()
        );
        let cap = self.unqueried_cap();
        if self.live <= cap {
            return;
        }
        let mut live_rank = 0usize;
        let doomed: Vec<DistanceKey> = self
            .candidates
            .iter()
            .filter(|(_, c)| c.state.is_live())
            .filter_map(|(d, c)| {
                live_rank += 1;
                (c.state == PeerState::NotContacted && live_rank > cap).then_some(*d)
            })
            .collect();
        for d in &doomed {
            self.candidates.remove(d);
        }
        self.live = self.live.saturating_sub(doomed.len());
    }

    /// Finishes the lookup when the k closest live candidates have all
    /// answered. `completing_depth` is the depth of the answer being
    /// processed, if the call comes from one.
    fn check_finished(&mut self, completing_depth: Option<u32>) {
        if self.finished {
            return;
        }
        let done = self
            .candidates
            .values()
            .filter(|c| c.state.is_live())
            .take(self.k)
            .all(|c| c.state == PeerState::Succeeded);
        if done {
            self.finished = true;
            self.hops = Some(completing_depth.unwrap_or(self.deepest));
        }
    }
}
