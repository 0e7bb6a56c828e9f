//! Who is in the network: the initial bootstrap in waves, churn (silent
//! and graceful departures, fresh arrivals), pinned nodes, and partitions.
//!
//! This module owns node creation and removal. Joining always goes
//! through the engine's own `start_bootstrap`; it never fills a routing
//! table by hand.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use rand::Rng;

use super::config::{ChurnConfig, KeyProofs};
use super::link::mix64;
use super::lookups::Tracked;
use super::world::{Command, SimEvent};
use super::{nanos, NetworkBootstrapReport, NodeSlot, Simulation, SlotState};
use crate::error::SimError;
use crate::identity::Identity;
use crate::node::{Node, ProofScheme};

/// Virtual time one bootstrap wave may take before the simulator gives up
/// waiting on it (each engine query ends by `Config::lookup_timeout`, so
/// this is never reached unless the engine hangs).
const WAVE_LIMIT: Duration = Duration::from_secs(600);

/// A partition in force: nodes in different groups cannot reach each other
/// until `until`.
#[derive(Debug, Clone, Copy)]
pub(super) struct Partition {
    until: u64,
    groups: u32,
    salt: u64,
}

impl Partition {
    fn group(&self, slot: u32) -> u64 {
        mix64(self.salt ^ u64::from(slot)) % u64::from(self.groups.max(1))
    }
}

impl Simulation {
    /// Creates the engine of a new slot (the next one) and marks it live.
    fn add_node(&mut self) -> u32 {
        let slot = self.slots.len();
        let slot32 = u32::try_from(slot).unwrap_or(u32::MAX);
        let seed = self.cfg.seed;
        let identity = self
            .next_identity
            .take()
            .unwrap_or_else(|| Identity::from_seed(mix64(seed ^ mix64(slot as u64 ^ 0x6964))));
        let engine_seed = mix64(seed.wrapping_add(mix64(slot as u64 ^ 0x7267)));
        let mut node = Node::new(
            identity,
            self.cfg.node.clone(),
            engine_seed,
            self.instant(self.now),
        );
        if self.cfg.key_proofs == KeyProofs::Modelled {
            node.set_proof_scheme(ProofScheme::Modelled);
        }
        self.ids.push(node.id());
        self.slots.push(NodeSlot {
            node: None,
            timer: u64::MAX,
            state: SlotState::Alive,
        });
        self.live_pos
            .push(u32::try_from(self.live.len()).unwrap_or(u32::MAX));
        self.live.push(slot32);
        self.pinned.push(false);
        self.collect(slot32, Box::new(node));
        slot32
    }

    /// Starts the bootstrap of `slot` from `contacts` random entries of the
    /// first `among` live slots; the query is tracked as `tracked`.
    fn start_join(&mut self, slot: u32, among: usize, tracked: Tracked) {
        let among = among.min(self.live.len());
        let mut addrs = Vec::with_capacity(self.cfg.bootstrap_contacts);
        let mut tries = 0;
        while addrs.len() < self.cfg.bootstrap_contacts.min(among) && tries < 64 {
            tries += 1;
            let Some(&pick) = self.live.get(self.rng.gen_range(0..among)) else {
                break;
            };
            let addr = self.addr_of(pick as usize);
            if pick != slot && !addrs.contains(&addr) {
                addrs.push(addr);
            }
        }
        let now = self.instant(self.now);
        let Some(mut node) = self
            .slots
            .get_mut(slot as usize)
            .and_then(|s| s.node.take())
        else {
            return;
        };
        let qid = node.start_bootstrap(now, addrs);
        self.tracked.insert((slot, qid), tracked);
        self.collect(slot, node);
    }

    /// The initial bootstrap: node 0 alone, then waves of newcomers, each
    /// bootstrapping from random nodes of earlier waves.
    pub(super) fn bootstrap_network(&mut self, mut progress: impl FnMut(&NetworkBootstrapReport)) {
        let wall = Instant::now();
        let start = self.now;
        let delivered = self.stats.delivered;
        let target = self.cfg.nodes;
        self.add_node();
        let mut waves = 0;
        while self.slots.len() < target {
            let joined = self.slots.len();
            let grow = ((joined as f64) * self.cfg.wave_growth).ceil() as usize;
            let wave = grow.clamp(1, self.cfg.max_wave).min(target - joined);
            let spread = nanos(self.cfg.wave_spread);
            for _ in 0..wave {
                let offset = if spread == 0 {
                    0
                } else {
                    self.rng.gen_range(0..spread)
                };
                let from_live = u32::try_from(joined).unwrap_or(u32::MAX);
                self.schedule(
                    self.now + offset,
                    SimEvent::Command(Command::WaveJoin { from_live }),
                );
            }
            self.batch.wave_pending = wave;
            let limit = self.now.saturating_add(nanos(WAVE_LIMIT));
            self.run_until(limit, |s| s.batch.wave_pending == 0);
            waves += 1;
            progress(&self.bootstrap_so_far(waves, wall, start, delivered, false));
        }
        self.bootstrap = self.bootstrap_so_far(waves, wall, start, delivered, true);
    }

    fn bootstrap_so_far(
        &self,
        waves: usize,
        wall: Instant,
        start: u64,
        delivered: u64,
        tables: bool,
    ) -> NetworkBootstrapReport {
        let mean_table_size = if tables {
            let sum: usize = self
                .slots
                .iter()
                .filter_map(|s| s.node.as_ref())
                .map(|n| n.routing_table().len())
                .sum();
            sum as f64 / self.live.len().max(1) as f64
        } else {
            0.0
        };
        NetworkBootstrapReport {
            nodes: self.live.len(),
            waves,
            failed: self.batch.wave_failed,
            wall: wall.elapsed(),
            virtual_time: Duration::from_nanos(self.now - start),
            datagrams: self.stats.delivered - delivered,
            mean_table_size,
        }
    }

    pub(super) fn wave_join(&mut self, from_live: u32) {
        let slot = self.add_node();
        self.start_join(slot, from_live as usize, Tracked::WaveBootstrap);
    }

    /// Replaces the link model from now on (datagrams already in flight
    /// keep their fate). Per-pair base latencies stay a function of the
    /// pair and the seed.
    pub fn set_link(&mut self, link: super::LinkConfig) -> Result<(), SimError> {
        link.validate()?;
        self.cfg.link = link;
        self.link = super::link::LinkModel::new(link, self.cfg.seed);
        Ok(())
    }

    /// Sets the churn rates from now on (replacing any earlier setting).
    pub fn set_churn(&mut self, churn: ChurnConfig) -> Result<(), SimError> {
        churn.validate()?;
        self.cfg.churn = churn;
        self.churn_generation += 1;
        let generation = self.churn_generation;
        if churn.leaves_per_sec > 0.0 {
            let at = self.next_arrival(churn.leaves_per_sec);
            self.schedule(at, SimEvent::Command(Command::Leave { generation }));
        }
        if churn.joins_per_sec > 0.0 {
            let at = self.next_arrival(churn.joins_per_sec);
            self.schedule(at, SimEvent::Command(Command::Join { generation }));
        }
        Ok(())
    }

    /// The time of the next event of a Poisson process of `rate` per second.
    fn next_arrival(&mut self, rate: f64) -> u64 {
        let u: f64 = self.rng.gen_range(f64::MIN_POSITIVE..1.0);
        let secs = (-u.ln() / rate).min(1e9);
        self.now
            .saturating_add(nanos(Duration::from_secs_f64(secs)))
    }

    pub(super) fn churn_leave(&mut self, generation: u64) {
        if generation != self.churn_generation {
            return;
        }
        let graceful = self.rng.gen_bool(self.cfg.churn.graceful_fraction);
        // A few tries to find a node churn may remove.
        for _ in 0..16 {
            if self.live.len() <= 1 {
                break;
            }
            let Some(&slot) = self.live.get(self.rng.gen_range(0..self.live.len())) else {
                break;
            };
            if !self.pinned.get(slot as usize).copied().unwrap_or(true) {
                self.remove_node(slot as usize, graceful);
                self.left += 1;
                break;
            }
        }
        let at = self.next_arrival(self.cfg.churn.leaves_per_sec);
        self.schedule(at, SimEvent::Command(Command::Leave { generation }));
    }

    pub(super) fn churn_join(&mut self, generation: u64) {
        if generation != self.churn_generation {
            return;
        }
        self.join_node();
        let at = self.next_arrival(self.cfg.churn.joins_per_sec);
        self.schedule(at, SimEvent::Command(Command::Join { generation }));
    }

    /// A fresh node (new identity, new slot and address) joins now,
    /// bootstrapping from random live nodes. Returns its slot.
    pub fn join_node(&mut self) -> usize {
        let among = self.live.len();
        let slot = self.add_node();
        self.start_join(slot, among, Tracked::ChurnBootstrap);
        self.joined += 1;
        slot as usize
    }

    /// A node with `identity` joins now at `addr` (a [`super::subnet_addr`],
    /// so that attack tests can put many ids behind one /24 or one IP),
    /// bootstrapping from random live nodes like [`Simulation::join_node`].
    /// Returns its slot, or `None` (nothing done) if `addr` is taken or is
    /// not in the shared-subnet plan.
    pub fn join_node_at(&mut self, identity: Identity, addr: SocketAddr) -> Option<usize> {
        let taken = self.placed_at.contains_key(&addr);
        let in_plan = super::slot_of(&addr).is_none()
            && matches!(addr.ip(), IpAddr::V4(v4) if v4.octets()[0] == 99);
        if taken || !in_plan {
            return None;
        }
        let among = self.live.len();
        let slot = u32::try_from(self.slots.len()).ok()?;
        self.placed.insert(slot, addr);
        self.placed_at.insert(addr, slot);
        self.next_identity = Some(identity);
        let slot = self.add_node();
        self.start_join(slot, among, Tracked::ChurnBootstrap);
        Some(slot as usize)
    }

    /// Node `slot` leaves now: gracefully (it just stops; what it already
    /// sent still arrives) or silently (a crash: its datagrams in flight
    /// vanish too). Returns false if it was not live.
    pub fn remove_node(&mut self, slot: usize, graceful: bool) -> bool {
        let Some(s) = self.slots.get_mut(slot) else {
            return false;
        };
        if s.node.is_none() {
            return false;
        }
        s.node = None;
        s.timer = u64::MAX;
        s.state = if graceful {
            SlotState::Stopped
        } else {
            SlotState::Crashed
        };
        let pos = self.live_pos.get(slot).copied().unwrap_or(u32::MAX) as usize;
        if pos < self.live.len() {
            self.live.swap_remove(pos);
            if let Some(&moved) = self.live.get(pos) {
                if let Some(p) = self.live_pos.get_mut(moved as usize) {
                    *p = pos as u32;
                }
            }
        }
        if let Some(p) = self.live_pos.get_mut(slot) {
            *p = u32::MAX;
        }
        // Queries it was running will never report.
        let slot32 = slot as u32;
        let gone: Vec<_> = self
            .tracked
            .range((slot32, crate::node::QueryId(0))..=(slot32, crate::node::QueryId(u64::MAX)))
            .map(|(k, _)| *k)
            .collect();
        for key in gone {
            if let Some(t) = self.tracked.remove(&key) {
                self.query_abandoned(t);
            }
        }
        true
    }

    /// Marks `slot` as never removed by churn (e.g. a record's publisher).
    pub fn pin(&mut self, slot: usize) {
        if let Some(p) = self.pinned.get_mut(slot) {
            *p = true;
        }
    }

    /// Splits the live network into `groups` groups (by a seeded hash of
    /// each slot) that cannot exchange datagrams for `duration` of virtual
    /// time, starting now. Datagrams already in flight across groups are
    /// dropped on arrival while the partition holds. Nodes joining meanwhile
    /// fall into a group by the same hash.
    pub fn partition(&mut self, groups: u32, duration: Duration) {
        let salt = self.rng.gen();
        self.partition = Some(Partition {
            until: self.now.saturating_add(nanos(duration)),
            groups,
            salt,
        });
    }

    /// The partition group of `slot` while a partition holds.
    pub fn partition_group(&self, slot: usize) -> Option<u64> {
        let p = self.partition.filter(|p| self.now < p.until)?;
        Some(p.group(u32::try_from(slot).ok()?))
    }

    pub(super) fn partition_blocks(&self, from: u32, to: u32) -> bool {
        match self.partition {
            Some(p) if self.now < p.until => p.group(from) != p.group(to),
            _ => false,
        }
    }
}
