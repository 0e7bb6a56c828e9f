//! A deterministic discrete-event network simulator that drives many
//! instances of the real protocol engine ([`Node`]) on virtual time.
//!
//! This module owns the simulated world: node slots and their addresses,
//! the event queue (datagram deliveries, engine timers, commands), the
//! link model (latency, jitter, loss, duplication; reordering comes from
//! jitter), churn, partitions, lookup batches and their verification
//! against a brute-force search, and the summary they produce. It must
//! never contain protocol logic (every datagram is produced and consumed by
//! [`Node`], exactly as the tokio driver does), never read the clock except
//! to measure its own wall time and to pick the base of virtual time, never
//! touch a socket, and never use an unseeded RNG: the same [`SimConfig`]
//! gives the same run, bit for bit ([`Simulation::event_log_hash`]).
//!
//! # Model
//!
//! - **Time** is virtual: an `Instant` taken once at construction plus a
//!   nanosecond offset. The queue orders events by `(time, seq)`; `seq`
//!   breaks ties in insertion order, so the run is deterministic.
//! - **Timers**: each node has at most one live timer event, at the instant
//!   [`Node::poll_timeout`] last reported. A node whose deadline moves
//!   earlier gets a new event; the old one is recognised as stale (its time
//!   is not the node's armed time) and skipped without touching the node.
//!   A node whose deadline moved later (an answered request takes its
//!   deadline out) is not woken when the old event comes up: the event is
//!   re-queued at the node's real deadline. Inside a lookahead window
//!   (`window.rs`) a node's timers due before the window's end fire in
//!   line, between its inputs, without a queue event.
//! - **Threads**: [`SimConfig::threads`] threads run the engines of each
//!   lookahead window; the outputs are applied in an order that does not
//!   depend on them, so the run does not either.
//! - **Addresses**: node slot `i` is `11.0.0.0 + ((i + 1) << 8) + 1`, port
//!   6881: every node in its own public-looking /24, so the engine's subnet
//!   caps behave as on the internet. Packets never leave the process.
//!   Attack tests need many ids behind one /24: [`Simulation::join_node_at`]
//!   adds a node at a chosen [`subnet_addr`] (`99.x.y.h`, outside the
//!   default plan, several slots per /24 and per IP); [`Simulation::addr_of`]
//!   and [`Simulation::slot_at`] resolve both plans.
//! - **Links**: see [`LinkConfig`]. **Churn**: see [`ChurnConfig`].
//!   **Partitions**: [`Simulation::partition`].
//! - **Bootstrap**: [`Simulation::new`] joins the nodes in waves through
//!   the real `start_bootstrap`; see [`SimConfig::wave_growth`].
//!
//! # Example
//!
//! ```
//! use meshara_dht::sim::{SimConfig, Simulation};
//!
//! let mut sim = Simulation::new(SimConfig::new(60, 7)).expect("valid config");
//! let summary = sim.run_lookups(20);
//! assert_eq!(summary.lookups, 20);
//! assert_eq!(summary.success_rate, 1.0); // every lookup found the exact 20 closest
//! assert!(summary.hops.max <= 4.0);
//! println!("{summary}");
//! assert!(summary.to_json().starts_with("{\"nodes\":60,"));
//! ```
//!
//! | file | concept |
//! |---|---|
//! | `config.rs` | [`SimConfig`], [`LinkConfig`], [`LatencyDistribution`], [`ChurnConfig`] |
//! | `link.rs` | the link model: per-pair latency from a hash, per-datagram jitter, loss, duplication |
//! | `queue.rs` | the event queue: `(time, seq)` keys in a calendar of 1 ms buckets (a heap for far ones), events in a slab |
//! | `world.rs` | the events and the loop: deliveries, timers, commands, the event-log hash |
//! | `window.rs` | lookahead windows: the engines' work of each stretch of virtual time shorter than the smallest link latency, on several threads, merged in a fixed order |
//! | `pool.rs` | the worker threads windows run on: started once, one job per window, stopped on drop |
//! | `membership.rs` | bootstrap waves, joins, departures, churn, partitions |
//! | `lookups.rs` | lookup and get batches, publishing ([`PublishReport`]), brute-force verification |
//! | `adversary.rs` | [`Misbehaviour`]: malicious nodes whose answers the simulator rewrites or drops; forged requests sent by hand ([`Simulation::send_forged`]) and the [`StoreAnswers`] they get |
//! | `summary.rs` | [`LookupRecord`] (one measured lookup) and [`Summary`]: percentiles, success, histogram, `Display`, JSON |

mod adversary;
mod config;
mod error;
mod link;
mod lookups;
mod membership;
mod pool;
mod queue;
mod summary;
mod window;
mod world;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::SeedableRng;

use crate::id::NodeId;
use crate::node::{Node, QueryId};

pub use adversary::{Misbehaviour, StoreAnswers};
pub use config::{
    ChurnConfig, KeyProofs, LatencyDistribution, LinkConfig, SimConfig, MAX_SIM_NODES,
};
pub use error::SimError;
pub use lookups::PublishReport;
pub use summary::{peak_rss_bytes, LookupKind, LookupRecord, Percentiles, Summary};

use link::LinkModel;
use lookups::{Batch, PublishedRecord, Tracked};
use membership::Partition;
use queue::EventQueue;
use world::SimEvent;

/// The UDP port every simulated node listens on.
pub const SIM_PORT: u16 = 6881;

/// First address of the simulated address plan (`11.0.0.0`).
const ADDR_BASE: u32 = 0x0B00_0000;

/// The address of node slot `slot`: `11.0.0.0 + ((slot + 1) << 8) + 1`,
/// port [`SIM_PORT`]. Every slot has its own /24.
pub fn node_addr(slot: usize) -> SocketAddr {
    let slot = u32::try_from(slot.min(MAX_SIM_NODES)).unwrap_or(u32::MAX >> 9);
    let ip = ADDR_BASE + ((slot + 1) << 8) + 1;
    SocketAddr::from((Ipv4Addr::from(ip), SIM_PORT))
}

/// First address of the shared-subnet plan (`99.0.0.0`), above every
/// [`node_addr`] and below `100.0.0.0`.
const SHARED_BASE: u32 = 0x6300_0000;

/// An address of the shared-subnet plan, for [`Simulation::join_node_at`]:
/// `99.{subnet >> 8}.{subnet & 255}.{host}`, port `SIM_PORT + port_offset`
/// (host 0 and 255 are moved to 1 and 254). Many slots can sit in one such
/// /24, and on one IP with different ports; no [`node_addr`] is one of
/// them.
pub fn subnet_addr(subnet: u16, host: u8, port_offset: u16) -> SocketAddr {
    let ip = SHARED_BASE + (u32::from(subnet) << 8) + u32::from(host.clamp(1, 254));
    let port = SIM_PORT.saturating_add(port_offset);
    SocketAddr::from((Ipv4Addr::from(ip), port))
}

/// The slot whose address is `addr`, if it is one of [`node_addr`]'s.
pub fn slot_of(addr: &SocketAddr) -> Option<usize> {
    let IpAddr::V4(v4) = addr.ip() else {
        return None;
    };
    if addr.port() != SIM_PORT {
        return None;
    }
    let offset = u32::from(v4).checked_sub(ADDR_BASE)?;
    let slot = usize::try_from((offset >> 8).checked_sub(1)?).ok()?;
    (slot < MAX_SIM_NODES && node_addr(slot) == *addr).then_some(slot)
}

/// Where a node slot stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SlotState {
    /// Running.
    Alive,
    /// Left gracefully: datagrams it sent still arrive.
    Stopped,
    /// Crashed: datagrams it sent that are still in flight are dropped.
    Crashed,
}

/// One simulated node: the engine, boxed so slots stay small, and its
/// armed timer.
#[derive(Debug, Clone)]
struct NodeSlot {
    node: Option<Box<Node>>,
    /// The virtual time of the node's live timer event; `u64::MAX` if none.
    timer: u64,
    state: SlotState,
}

/// Datagram and timer counters of a simulation, since it was created.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NetworkStats {
    /// Datagrams handed to a live node.
    pub delivered: u64,
    /// Datagrams dropped by the link's loss.
    pub lost: u64,
    /// Extra copies made by the link's duplication.
    pub duplicated: u64,
    /// Datagrams dropped because their destination was gone (or their
    /// sender crashed while they were in flight).
    pub to_departed: u64,
    /// Datagrams dropped by a partition.
    pub partitioned: u64,
    /// Datagrams to an address that is no simulated node.
    pub unroutable: u64,
    /// Engine timers fired.
    pub timers: u64,
    /// Timers that did not wake their node: a queue event superseded by an
    /// earlier one, or a timer whose deadline had moved later (then
    /// re-armed there).
    pub stale_timers: u64,
    /// Most events (datagrams in flight, armed timers, commands) queued at
    /// once.
    pub peak_queue: u64,
}

/// How the initial bootstrap of the whole simulated network went (or, in a
/// progress callback, how far it got). Not the runtime's per-node
/// `BootstrapReport`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct NetworkBootstrapReport {
    /// Nodes in the network (joined so far).
    pub nodes: usize,
    /// Waves used.
    pub waves: usize,
    /// Bootstraps that reached none of their contacts.
    pub failed: usize,
    /// Wall-clock time of the bootstrap (identity generation included).
    pub wall: Duration,
    /// Virtual time it took.
    pub virtual_time: Duration,
    /// Datagrams delivered during it.
    pub datagrams: u64,
    /// Mean routing-table size at the end.
    pub mean_table_size: f64,
}

/// A simulated network of real engines. See the module docs.
///
/// `Clone` copies the whole world (engines, queue, RNG, event log): the copy
/// continues exactly as the original would, so one bootstrapped network can
/// serve several experiments.
#[derive(Debug, Clone)]
pub struct Simulation {
    cfg: SimConfig,
    base: Instant,
    /// Virtual now, in nanoseconds since `base`.
    now: u64,
    rng: StdRng,
    link: LinkModel,
    queue: EventQueue<SimEvent>,
    slots: Vec<NodeSlot>,
    /// Node id per slot (dense, for brute-force checks).
    ids: Vec<NodeId>,
    /// Live slots, in no meaningful order; `live_pos[slot]` is the index
    /// into it (`u32::MAX` when not live).
    live: Vec<u32>,
    live_pos: Vec<u32>,
    /// Slots churn never removes (publishers of tracked records).
    pinned: Vec<bool>,
    /// User queries being waited for, by (slot, query id).
    tracked: BTreeMap<(u32, QueryId), Tracked>,
    batch: Batch,
    published: Vec<PublishedRecord>,
    partition: Option<Partition>,
    /// Bumped when the churn config changes; churn events of an older
    /// generation are stale.
    churn_generation: u64,
    left: u64,
    joined: u64,
    log: blake3::Hasher,
    stats: NetworkStats,
    bootstrap: NetworkBootstrapReport,
    /// Reused buffer for brute-force closest searches (distances as
    /// [`DistanceKey`](crate::id::DistanceKey): compared a word at a time,
    /// not by `memcmp`).
    scratch: Vec<(crate::id::DistanceKey, u32)>,
    /// Malicious slots and what they do, if any.
    adversary: Option<adversary::Adversary>,
    /// Disjoint paths of gets (`None`: the engines' config).
    get_paths: Option<usize>,
    /// Slots placed at a [`subnet_addr`] instead of their [`node_addr`],
    /// both ways (lookups only, never iterated: order cannot leak).
    placed: HashMap<u32, SocketAddr>,
    placed_at: HashMap<SocketAddr, u32>,
    /// The identity the next [`Simulation::join_node_at`] node gets.
    next_identity: Option<crate::identity::Identity>,
    /// Per slot, its index in the current window's work list
    /// (`window::NO_WORK` outside a window).
    window_slot: Vec<u32>,
    /// The threads windows run on (a clone starts with none).
    pool: window::WindowPool,
    /// Empty input buffers left by earlier windows, for the next.
    spare_inputs: Vec<window::Inputs>,
}

impl Simulation {
    /// Builds the network of `cfg.nodes` engines and bootstraps it in
    /// waves through the real protocol (see [`SimConfig::wave_growth`]).
    /// Churn, if configured, starts after the bootstrap.
    pub fn new(cfg: SimConfig) -> Result<Self, SimError> {
        Self::with_progress(cfg, |_| {})
    }

    /// [`Simulation::new`], calling `progress` after each bootstrap wave
    /// (for progress bars on large networks).
    pub fn with_progress(
        cfg: SimConfig,
        progress: impl FnMut(&NetworkBootstrapReport),
    ) -> Result<Self, SimError> {
        cfg.validate()?;
        let seed = cfg.seed;
        let mut sim = Simulation {
            link: LinkModel::new(cfg.link, seed),
            rng: StdRng::seed_from_u64(link::mix64(seed ^ 0x7369_6d75_6c61_7465)),
            base: Instant::now(),
            now: 0,
            queue: EventQueue::default(),
            slots: Vec::with_capacity(cfg.nodes),
            ids: Vec::with_capacity(cfg.nodes),
            live: Vec::with_capacity(cfg.nodes),
            live_pos: Vec::with_capacity(cfg.nodes),
            pinned: Vec::with_capacity(cfg.nodes),
            tracked: BTreeMap::new(),
            batch: Batch::default(),
            published: Vec::new(),
            partition: None,
            churn_generation: 0,
            left: 0,
            joined: 0,
            log: blake3::Hasher::new(),
            stats: NetworkStats::default(),
            bootstrap: NetworkBootstrapReport::default(),
            scratch: Vec::new(),
            adversary: None,
            get_paths: None,
            placed: HashMap::new(),
            placed_at: HashMap::new(),
            next_identity: None,
            window_slot: Vec::new(),
            pool: window::new_pool(),
            spare_inputs: Vec::new(),
            cfg,
        };
        sim.bootstrap_network(progress);
        let churn = sim.cfg.churn;
        sim.set_churn(churn)?;
        Ok(sim)
    }

    /// The configuration.
    pub fn config(&self) -> &SimConfig {
        &self.cfg
    }

    /// Virtual time elapsed since the simulation started.
    pub fn elapsed(&self) -> Duration {
        Duration::from_nanos(self.now)
    }

    /// The virtual `Instant` now (what the engines are told).
    pub fn now(&self) -> Instant {
        self.instant(self.now)
    }

    /// Live nodes.
    pub fn live_nodes(&self) -> usize {
        self.live.len()
    }

    /// Slots ever used (live or departed).
    pub fn slots(&self) -> usize {
        self.slots.len()
    }

    /// The engine in `slot`, if that node is live.
    pub fn node(&self, slot: usize) -> Option<&Node> {
        self.slots.get(slot).and_then(|s| s.node.as_deref())
    }

    /// The live slots, in no meaningful order.
    pub fn live_slots(&self) -> impl Iterator<Item = usize> + '_ {
        self.live.iter().map(|&s| s as usize)
    }

    /// Datagram and timer counters.
    pub fn network_stats(&self) -> NetworkStats {
        self.stats
    }

    /// How the initial bootstrap went.
    pub fn bootstrap_report(&self) -> NetworkBootstrapReport {
        self.bootstrap
    }

    /// Nodes that left and joined through churn so far.
    pub fn churned(&self) -> (u64, u64) {
        (self.left, self.joined)
    }

    /// BLAKE3 of the event log so far: every delivered datagram (virtual
    /// time, sender slot, receiver slot, bytes) and every engine event
    /// (virtual time, slot, the event's `Debug` text), in the order the
    /// simulator applied them (within a lookahead window: by time, then
    /// slot). Equal
    /// hashes mean equal runs. All zeros when
    /// [`SimConfig::hash_event_log`] is off.
    pub fn event_log_hash(&self) -> [u8; 32] {
        if self.cfg.hash_event_log {
            *self.log.finalize().as_bytes()
        } else {
            [0; 32]
        }
    }

    /// Advances virtual time by `d`, running everything due (timers,
    /// republishing, churn, queries in progress).
    pub fn run_for(&mut self, d: Duration) {
        let until = self.now.saturating_add(nanos(d));
        self.run_until(until, |_| false);
    }

    /// The address of `slot`: its [`node_addr`], or the [`subnet_addr`] it
    /// joined at.
    pub fn addr_of(&self, slot: usize) -> SocketAddr {
        let placed = u32::try_from(slot)
            .ok()
            .and_then(|s| self.placed.get(&s).copied());
        placed.unwrap_or_else(|| node_addr(slot))
    }

    /// The slot at `addr`, in either address plan.
    pub fn slot_at(&self, addr: &SocketAddr) -> Option<usize> {
        if self.placed.is_empty() {
            return slot_of(addr);
        }
        if let Some(&slot) = self.placed_at.get(addr) {
            return Some(slot as usize);
        }
        // A placed slot is not reachable at its default address.
        slot_of(addr).filter(|&s| u32::try_from(s).map_or(true, |s| !self.placed.contains_key(&s)))
    }

    fn instant(&self, t: u64) -> Instant {
        self.base + Duration::from_nanos(t)
    }

    fn offset(&self, t: Instant) -> u64 {
        nanos(t.saturating_duration_since(self.base))
    }
}

/// A duration in nanoseconds, saturating.
fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}
