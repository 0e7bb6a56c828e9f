//! Test-only synthetic Kademlia network that drives a [`ClosestIter`]
//! without any engine: seeded random ids, converged routing tables (up to k
//! random members per bucket plus each node's k closest), and a seeded
//! discrete-event loop with per-request latency, dead, slow, lying and
//! duplicating peers.
//!
//! It owns nothing outside tests and never reads a clock or the OS RNG.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashSet};
use std::net::{Ipv4Addr, SocketAddr};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::id::{NodeId, ID_BITS, ID_LEN};
use crate::lookup::{ClosestIter, LookupParams, LookupStep, CANDIDATE_FACTOR};
use crate::wire::Contact;

/// A converged network: node `i` has id `ids[i]` (sorted ascending) and
/// knows the nodes in `tables[i]`.
pub(super) struct SynthNet {
    pub(super) ids: Vec<NodeId>,
    tables: Vec<Vec<u32>>,
    k: usize,
}

fn bit(id: &NodeId, b: usize) -> bool {
    id.as_bytes()[b / 8] & (0x80 >> (b % 8)) != 0
}

fn with_bit(id: &NodeId, b: usize, on: bool) -> NodeId {
    let mut bytes = *id.as_bytes();
    if on {
        bytes[b / 8] |= 0x80 >> (b % 8);
    } else {
        bytes[b / 8] &= !(0x80 >> (b % 8));
    }
    NodeId::from_bytes(bytes)
}

/// Index range in sorted `ids` of the ids whose first `len` bits equal
/// those of `prefix`.
fn prefix_range(ids: &[NodeId], prefix: &NodeId, len: usize) -> (usize, usize) {
    let (mut low, mut high) = (*prefix, *prefix);
    for b in len..ID_BITS {
        low = with_bit(&low, b, false);
        high = with_bit(&high, b, true);
    }
    (
        ids.partition_point(|x| *x < low),
        ids.partition_point(|x| *x <= high),
    )
}

/// A random id sharing its first `len` bits with `target`.
pub(super) fn id_near<R: Rng>(target: &NodeId, len: usize, rng: &mut R) -> NodeId {
    let mut id = NodeId::random(rng);
    for b in 0..len.min(ID_BITS) {
        id = with_bit(&id, b, bit(target, b));
    }
    id
}

pub(super) fn addr_of(index: u32) -> SocketAddr {
    let [a, b, c, d] = index.to_be_bytes();
    SocketAddr::from((Ipv4Addr::new(10, a ^ b, c, d), 4000))
}

impl SynthNet {
    /// `n` random nodes (fewer if ids collide) with tables of up to `k`
    /// random members per bucket plus their `k` closest.
    pub(super) fn new(n: usize, k: usize, seed: u64) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut ids: Vec<NodeId> = (0..n).map(|_| NodeId::random(&mut rng)).collect();
        ids.sort();
        ids.dedup();
        let tables = (0..ids.len())
            .map(|i| build_table(&ids, i, k, &mut rng))
            .collect();
        SynthNet { ids, tables, k }
    }

    pub(super) fn len(&self) -> usize {
        self.ids.len()
    }

    pub(super) fn contact(&self, index: u32) -> Contact {
        Contact {
            id: self.ids[index as usize],
            addr: addr_of(index),
        }
    }

    pub(super) fn index_of(&self, id: &NodeId) -> Option<u32> {
        self.ids.binary_search(id).ok().map(|i| i as u32)
    }

    /// What node `index` answers to FIND_NODE(target): the k contacts of
    /// its table closest to the target among those it `lists`.
    pub(super) fn answer(
        &self,
        index: u32,
        target: &NodeId,
        lists: impl Fn(u32) -> bool,
    ) -> Vec<Contact> {
        let mut known: Vec<u32> = self.tables[index as usize]
            .iter()
            .copied()
            .filter(|&j| lists(j))
            .collect();
        known.sort_by_key(|&j| target.distance(&self.ids[j as usize]));
        known.truncate(self.k);
        known.into_iter().map(|j| self.contact(j)).collect()
    }

    /// The `k` ids closest to `target` among the nodes `keep` accepts.
    pub(super) fn brute_force(
        &self,
        target: &NodeId,
        k: usize,
        keep: impl Fn(u32) -> bool,
    ) -> Vec<NodeId> {
        let mut all: Vec<NodeId> = (0..self.len() as u32)
            .filter(|&i| keep(i))
            .map(|i| self.ids[i as usize])
            .collect();
        all.sort_by_key(|id| target.distance(id));
        all.truncate(k);
        all
    }
}

fn build_table(ids: &[NodeId], me: usize, k: usize, rng: &mut StdRng) -> Vec<u32> {
    let my_id = ids[me];
    let mut table = Vec::new();
    let mut buckets = Vec::new();
    for b in 0..ID_BITS {
        // Nodes sharing my first b bits and differing at bit b.
        let flipped = with_bit(&my_id, b, !bit(&my_id, b));
        let (lo, hi) = prefix_range(ids, &flipped, b + 1);
        let members = hi - lo;
        if members <= k {
            table.extend((lo..hi).map(|i| i as u32));
        } else {
            let picked = rand::seq::index::sample(rng, members, k);
            table.extend(picked.into_iter().map(|i| (lo + i) as u32));
        }
        buckets.push((lo, hi));
        let (slo, shi) = prefix_range(ids, &my_id, b + 1);
        if shi - slo <= 1 {
            break;
        }
    }
    // The k closest: whole buckets from the nearest one outwards.
    let mut near = Vec::new();
    for &(lo, hi) in buckets.iter().rev() {
        near.extend((lo..hi).map(|i| i as u32));
        if near.len() >= k {
            break;
        }
    }
    near.sort_by_key(|&j| my_id.distance(&ids[j as usize]));
    near.truncate(k);
    table.extend(near);
    table.sort_unstable();
    table.dedup();
    table
}

/// How a peer treats a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Behaviour {
    /// Answers within the soft deadline.
    Live,
    /// Never answers: overdue, then failed.
    Dead,
    /// Answers with an error right away: failed, never overdue.
    Refuses,
    /// Overdue first, then answers within the late window.
    Slow,
    /// Answers with made-up contacts very close to the target (all dead).
    Liar,
    /// Answers twice (datagram duplication).
    Duplicates,
}

impl Behaviour {
    /// Whether a request to such a peer is ever answered.
    pub(super) fn answers(self) -> bool {
        !matches!(self, Behaviour::Dead | Behaviour::Refuses)
    }
}

/// How every node behaves, and which stale entries the others still list.
pub(super) struct Peers {
    /// Behaviour of node `i`.
    pub(super) who: Vec<Behaviour>,
    /// Percent of the table entries pointing at a non-answering node that
    /// are still listed in answers (not yet evicted). 100 = never evicted.
    pub(super) stale_percent: u64,
}

impl Peers {
    /// Node `i` behaves as `other` with probability `percent`% (node
    /// `spare` is always live); stale entries are all listed.
    pub(super) fn mixed(n: usize, percent: u32, other: Behaviour, spare: u32, seed: u64) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let who = (0..n as u32)
            .map(|i| {
                if i != spare && rng.gen_range(0..100) < percent {
                    other
                } else {
                    Behaviour::Live
                }
            })
            .collect();
        Peers {
            who,
            stale_percent: 100,
        }
    }

    pub(super) fn behaviour(&self, i: u32) -> Behaviour {
        self.who.get(i as usize).copied().unwrap_or(Behaviour::Dead)
    }

    /// Whether node `a` lists node `b` in its answers.
    pub(super) fn lists(&self, a: u32, b: u32) -> bool {
        if self.behaviour(b).answers() {
            return true;
        }
        // A fixed pseudo-random choice per (a, b) pair (splitmix64).
        let mut z = (u64::from(a) << 32 | u64::from(b)).wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (z ^ (z >> 31)) % 100 < self.stale_percent
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Event {
    Answer(NodeId),
    Overdue(NodeId),
    Fail(NodeId),
}

/// Timing of the event loop, in abstract ticks.
pub(super) const LATENCY: std::ops::Range<u64> = 10..30;
pub(super) const SOFT_DEADLINE: u64 = 100;
pub(super) const SLOW_ANSWER: u64 = 150;
pub(super) const LATE_WINDOW: u64 = 300;

/// What a driven lookup did.
#[derive(Debug)]
pub(super) struct Outcome {
    pub(super) closest: Vec<NodeId>,
    pub(super) hops: u32,
    pub(super) messages: u32,
    pub(super) queried: Vec<NodeId>,
    /// Most requests counting toward alpha before the first fan-out.
    pub(super) max_active_before_fan_out: usize,
    /// Every id that answered (and was accepted) before the end.
    pub(super) answered: HashSet<NodeId>,
    /// Every id any accepted answer carried, plus the seeds.
    pub(super) learned: HashSet<NodeId>,
    pub(super) steps: usize,
    /// Virtual time from start to finish, in ticks (one answer takes
    /// `LATENCY` ticks).
    pub(super) elapsed: u64,
    /// The lookup's inputs, to replay it against the iterator alone.
    pub(super) trace: Trace,
}

/// Everything a lookup fed its iterator, in order.
#[derive(Debug, Clone)]
pub(super) struct Trace {
    pub(super) target: NodeId,
    pub(super) local: NodeId,
    pub(super) seeds: Vec<Contact>,
    pub(super) params: LookupParams,
    pub(super) calls: Vec<Call>,
}

/// One call into the iterator after `new`.
#[derive(Debug, Clone)]
pub(super) enum Call {
    /// `next()` until it stops returning `Query`.
    Pump,
    Success(NodeId, Vec<Contact>),
    Overdue(NodeId),
    Failure(NodeId),
}

impl Trace {
    /// Replays the calls on a fresh iterator; returns its messages so the
    /// work cannot be optimised away.
    pub(super) fn replay(&self) -> u32 {
        let mut iter = ClosestIter::new(
            self.target,
            self.local,
            self.seeds.iter().copied(),
            self.params,
        );
        for call in &self.calls {
            match call {
                Call::Pump => while let LookupStep::Query(_) = iter.next() {},
                Call::Success(id, closer) => {
                    iter.on_success(id, closer);
                }
                Call::Overdue(id) => iter.on_overdue(id),
                Call::Failure(id) => iter.on_failure(id),
            }
        }
        iter.closest_succeeded();
        iter.messages()
    }
}

/// Runs one lookup of `target` from node `from` to completion, checking
/// the iterator's invariants at every step. Panics (failing the test) on a
/// violation or when `step_limit` events pass without finishing.
pub(super) fn drive(
    net: &SynthNet,
    from: u32,
    target: NodeId,
    params: LookupParams,
    peers: &Peers,
    seed: u64,
    step_limit: usize,
) -> Outcome {
    let mut rng = StdRng::seed_from_u64(seed);
    let local = net.ids[from as usize];
    let seeds = net.answer(from, &target, |j| peers.lists(from, j));
    let mut learned: HashSet<NodeId> = seeds.iter().map(|c| c.id).collect();
    let mut trace = Trace {
        target,
        local,
        seeds: seeds.clone(),
        params,
        calls: Vec::new(),
    };
    let mut iter = ClosestIter::new(target, local, seeds, params);
    let mut queue: BinaryHeap<Reverse<(u64, u64, Event)>> = BinaryHeap::new();
    let (mut now, mut seq) = (0u64, 0u64);
    let mut queried = Vec::new();
    let mut seen = HashSet::new();
    let mut active: HashSet<NodeId> = HashSet::new();
    let mut fanned_out = false;
    let mut max_active = 0;
    let mut answered = HashSet::new();
    let mut fakes: HashSet<NodeId> = HashSet::new();
    let mut steps = 0;
    let unqueried_cap = params.k.max(1) * CANDIDATE_FACTOR;
    loop {
        trace.calls.push(Call::Pump);
        loop {
            match iter.next() {
                LookupStep::Query(contact) => {
                    let id = contact.id;
                    assert_ne!(id, local, "queried the local id");
                    assert!(seen.insert(id), "queried {id} twice");
                    queried.push(id);
                    active.insert(id);
                    if !fanned_out {
                        max_active = max_active.max(active.len());
                    }
                    let who = net
                        .index_of(&id)
                        .filter(|_| !fakes.contains(&id))
                        .map(|i| peers.behaviour(i))
                        .unwrap_or(Behaviour::Dead);
                    let mut at = |delay: u64, event: Event| {
                        seq += 1;
                        queue.push(Reverse((now + delay, seq, event)));
                    };
                    match who {
                        Behaviour::Live | Behaviour::Liar => {
                            at(rng.gen_range(LATENCY), Event::Answer(id));
                        }
                        Behaviour::Duplicates => {
                            at(rng.gen_range(LATENCY), Event::Answer(id));
                            at(rng.gen_range(LATENCY), Event::Answer(id));
                        }
                        Behaviour::Dead => {
                            at(SOFT_DEADLINE, Event::Overdue(id));
                            at(SOFT_DEADLINE + LATE_WINDOW, Event::Fail(id));
                        }
                        Behaviour::Refuses => at(rng.gen_range(LATENCY), Event::Fail(id)),
                        Behaviour::Slow => {
                            at(SOFT_DEADLINE, Event::Overdue(id));
                            at(SLOW_ANSWER, Event::Answer(id));
                        }
                    }
                }
                LookupStep::Waiting => {
                    assert!(
                        !iter.in_flight().is_empty(),
                        "Waiting with no request outstanding"
                    );
                    break;
                }
                LookupStep::Finished => break,
            }
        }
        if iter.is_finished() {
            break;
        }
        assert!(
            steps < step_limit,
            "lookup still running after {steps} events"
        );
        let Some(Reverse((time, _, event))) = queue.pop() else {
            panic!("Waiting but no event can ever arrive");
        };
        now = time;
        steps += 1;
        match event {
            Event::Answer(id) => {
                let index = net.index_of(&id);
                let closer = match index.map(|i| peers.behaviour(i)) {
                    Some(Behaviour::Liar) => (0..params.k.max(1))
                        .map(|n| {
                            let fake = id_near(&target, 40 + rng.gen_range(0..40), &mut rng);
                            fakes.insert(fake);
                            Contact {
                                id: fake,
                                addr: addr_of(n as u32 | 0xff00_0000),
                            }
                        })
                        .collect(),
                    _ => {
                        let index = index.unwrap_or(0);
                        net.answer(index, &target, |j| peers.lists(index, j))
                    }
                };
                let was_new = !answered.contains(&id);
                let accepted = iter.on_success(&id, &closer);
                assert_eq!(accepted, was_new, "answer acceptance of {id}");
                if accepted {
                    answered.insert(id);
                    learned.extend(closer.iter().map(|c| c.id));
                }
                trace.calls.push(Call::Success(id, closer));
                active.remove(&id);
            }
            Event::Overdue(id) => {
                active.remove(&id);
                iter.on_overdue(&id);
                trace.calls.push(Call::Overdue(id));
            }
            Event::Fail(id) => {
                active.remove(&id);
                iter.on_failure(&id);
                trace.calls.push(Call::Failure(id));
            }
        }
        if iter.is_fanning_out() {
            fanned_out = true;
        }
        assert!(
            iter.num_candidates() <= iter.messages() as usize + unqueried_cap,
            "candidate memory bound broken"
        );
    }
    Outcome {
        closest: iter.closest_succeeded().iter().map(|c| c.id).collect(),
        hops: iter.hops(),
        messages: iter.messages(),
        queried,
        max_active_before_fan_out: max_active,
        answered,
        learned,
        steps,
        elapsed: now,
        trace,
    }
}

/// A target and a starting node for lookup number `n` of a seeded series.
pub(super) fn random_lookup(net: &SynthNet, rng: &mut StdRng) -> (u32, NodeId) {
    let from = rng.gen_range(0..net.len() as u32);
    let mut bytes = [0u8; ID_LEN];
    rng.fill(&mut bytes[..]);
    (from, NodeId::from_bytes(bytes))
}
