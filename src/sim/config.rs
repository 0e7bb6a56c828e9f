//! What a simulation is made of: [`SimConfig`] (network size, seed, the
//! engines' [`Config`], bootstrap shape), the [`LinkConfig`] of the
//! simulated internet and the [`ChurnConfig`] of nodes coming and going.
//!
//! This module owns the knobs and their validation only: no behaviour.

use std::time::Duration;

use crate::config::Config;
use crate::error::SimError;

/// Most nodes (joined over the whole run, churn included) one simulation
/// can address: node `i` gets `11.0.0.0 + ((i + 1) << 8) + 1`, and the
/// addresses must stay below `100.0.0.0`, clear of private and shared
/// ranges.
pub const MAX_SIM_NODES: usize = 5_000_000;

/// How one-way base latencies are spread over node pairs. Each pair's base
/// latency is a pure function of the pair and the seed (nothing is stored
/// per pair), symmetric, and fixed for the whole run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LatencyDistribution {
    /// Every pair has the same latency.
    Constant(Duration),
    /// Uniform between `min` and `max` (inclusive of `min`).
    Uniform {
        /// Smallest one-way latency.
        min: Duration,
        /// Largest one-way latency.
        max: Duration,
    },
    /// Log-normal around `median` with shape `sigma` (natural-log standard
    /// deviation), clamped to `max`: a long tail like the internet's.
    LogNormal {
        /// The median one-way latency.
        median: Duration,
        /// Spread; 0.5 puts the 90th percentile near 1.9x the median.
        sigma: f64,
        /// Clamp for the tail.
        max: Duration,
    },
}

impl Default for LatencyDistribution {
    /// Uniform 10 to 150 ms: intra-continent to inter-continent.
    fn default() -> Self {
        LatencyDistribution::Uniform {
            min: Duration::from_millis(10),
            max: Duration::from_millis(150),
        }
    }
}

/// The simulated links between nodes.
///
/// A datagram from `a` to `b` is dropped with probability `loss`, else
/// delivered after `base(a, b) + U[0, jitter)`, and, with probability
/// `duplicate`, delivered a second time with its own jitter. Because each
/// datagram draws its own jitter, two datagrams on the same path can arrive
/// out of order: **reordering comes from jitter** (it happens whenever two
/// datagrams on one path are sent less than `jitter` apart, and between a
/// datagram and its duplicate).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinkConfig {
    /// Per-pair one-way base latency. Default uniform 10..150 ms.
    pub latency: LatencyDistribution,
    /// Extra delay per datagram, uniform in `[0, jitter)`. Default 10 ms.
    pub jitter: Duration,
    /// Probability that a datagram is lost, 0..=1. Default 0.
    pub loss: f64,
    /// Probability that a delivered datagram is delivered twice, 0..=1.
    /// Default 0.
    pub duplicate: f64,
}

impl LinkConfig {
    /// Checks that probabilities are in 0..=1 and the latency shape makes
    /// sense.
    pub fn validate(&self) -> Result<(), SimError> {
        for (field, value) in [("link.loss", self.loss), ("link.duplicate", self.duplicate)] {
            if !(0.0..=1.0).contains(&value) {
                return Err(SimError::NotAProbability { field, value });
            }
        }
        match self.latency {
            LatencyDistribution::Uniform { min, max } if min > max => Err(SimError::LatencyOrder),
            LatencyDistribution::LogNormal { sigma, .. } if !sigma.is_finite() || sigma < 0.0 => {
                Err(SimError::NegativeRate {
                    field: "link.latency.sigma",
                    value: sigma,
                })
            }
            _ => Ok(()),
        }
    }
}

impl Default for LinkConfig {
    fn default() -> Self {
        LinkConfig {
            latency: LatencyDistribution::default(),
            jitter: Duration::from_millis(10),
            loss: 0.0,
            duplicate: 0.0,
        }
    }
}

/// Nodes leaving and joining while the simulation runs (not during the
/// initial bootstrap). Departures and arrivals are independent Poisson
/// processes in virtual time.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ChurnConfig {
    /// Departures per virtual second (whole network). Default 0.
    pub leaves_per_sec: f64,
    /// Arrivals per virtual second (whole network); each newcomer has a
    /// fresh identity and bootstraps from `SimConfig::bootstrap_contacts`
    /// random live nodes. Default 0.
    pub joins_per_sec: f64,
    /// Fraction of departures that are graceful, 0..=1. The protocol has no
    /// goodbye message, so a graceful node *just stops*: datagrams it
    /// already sent still arrive. A silent departure is a crash: the node
    /// and every datagram it still has in flight vanish at once. Default 0.
    pub graceful_fraction: f64,
}

impl ChurnConfig {
    /// Replaces `fraction` of a network of `nodes` over `period`: as many
    /// joins as leaves, at a steady rate.
    pub fn replacing(fraction: f64, nodes: usize, period: Duration) -> Self {
        let secs = period.as_secs_f64().max(1e-9);
        let rate = (fraction * nodes as f64 / secs).max(0.0);
        ChurnConfig {
            leaves_per_sec: rate,
            joins_per_sec: rate,
            graceful_fraction: 0.5,
        }
    }

    /// Checks that the rates are finite and not negative and the graceful
    /// fraction is a probability.
    pub fn validate(&self) -> Result<(), SimError> {
        for (field, value) in [
            ("churn.leaves_per_sec", self.leaves_per_sec),
            ("churn.joins_per_sec", self.joins_per_sec),
        ] {
            if !value.is_finite() || value < 0.0 {
                return Err(SimError::NegativeRate { field, value });
            }
        }
        if !(0.0..=1.0).contains(&self.graceful_fraction) {
            return Err(SimError::NotAProbability {
                field: "churn.graceful_fraction",
                value: self.graceful_fraction,
            });
        }
        Ok(())
    }

    /// Whether any churn is configured.
    pub fn is_active(&self) -> bool {
        self.leaves_per_sec > 0.0 || self.joins_per_sec > 0.0
    }
}

/// How simulated engines prove their keys to each other.
///
/// Every contact proves once, to every node that admits it to its routing
/// table, that it holds the key behind its id: a signature and a
/// verification per (node, contact) pair, hundreds per node in a large
/// network. With ed25519 that is most of a large simulation's CPU time
/// (figures: docs/BENCHMARKS.md, "Simulator").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KeyProofs {
    /// Real ed25519 proofs, exactly as a deployed node makes them.
    #[default]
    Ed25519,
    /// Modelled proofs: the same challenge, answer and wire size, with a
    /// hash in place of the signature (it proves nothing, so no engine
    /// outside the simulator can use it). Every protocol decision is
    /// unchanged; only the CPU cost of the signatures is left out. Scale
    /// runs use it; the tests use [`KeyProofs::Ed25519`].
    Modelled,
}

/// Everything that defines one simulation run. Two runs with equal configs
/// produce the same event log, bit for bit.
#[derive(Debug, Clone, PartialEq)]
pub struct SimConfig {
    /// Nodes in the initial network. Default 1,000.
    pub nodes: usize,
    /// Seed of everything random: identities, engine RNGs, latencies,
    /// loss, lookup origins and targets. Default 0.
    pub seed: u64,
    /// The engines' configuration. Default [`SimConfig::node_config`].
    pub node: Config,
    /// The links. Default [`LinkConfig::default`].
    pub link: LinkConfig,
    /// Churn after the initial bootstrap. Default none.
    pub churn: ChurnConfig,
    /// Live nodes each newcomer pings in `start_bootstrap`. Default 3.
    pub bootstrap_contacts: usize,
    /// Initial bootstrap: each wave adds up to `wave_growth` times the
    /// nodes already joined (at least one); the next wave starts when every
    /// bootstrap of the current one finished. Default 1.0 (the network
    /// doubles per wave: 17 waves for 100,000 nodes).
    pub wave_growth: f64,
    /// Most nodes in one bootstrap wave. Default 4,096: later waves stop
    /// doubling, which bounds the datagrams in flight (and so the
    /// simulator's peak memory) without changing what each join does.
    pub max_wave: usize,
    /// The nodes of a wave start their bootstrap at random instants within
    /// this window. Default 1 s.
    pub wave_spread: Duration,
    /// Gap between the starts of consecutive lookups in `run_*`; lookups
    /// overlap when it is shorter than a lookup. Default 10 ms.
    pub lookup_interval: Duration,
    /// Whether finished lookups are checked against a brute-force search
    /// over all live node ids (costs O(live nodes) per lookup). Default
    /// true.
    pub verify_lookups: bool,
    /// Whether every delivered datagram and every event is hashed into the
    /// event-log hash. Default true.
    pub hash_event_log: bool,
    /// Real or modelled key proofs. Default [`KeyProofs::Ed25519`].
    pub key_proofs: KeyProofs,
    /// Threads that run the engines' work (0: one per core the machine
    /// has). Only speed depends on it: a run is the same, bit for bit, with
    /// any number of threads (see the module docs, "Lookahead windows").
    /// Default 0.
    pub threads: usize,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            nodes: 1_000,
            seed: 0,
            node: SimConfig::node_config(),
            link: LinkConfig::default(),
            churn: ChurnConfig::default(),
            bootstrap_contacts: 3,
            wave_growth: 1.0,
            max_wave: 4_096,
            wave_spread: Duration::from_secs(1),
            lookup_interval: Duration::from_millis(10),
            verify_lookups: true,
            hash_event_log: true,
            key_proofs: KeyProofs::Ed25519,
            threads: 0,
        }
    }
}

impl SimConfig {
    /// The default config for `nodes` nodes with `seed`.
    pub fn new(nodes: usize, seed: u64) -> Self {
        SimConfig {
            nodes,
            seed,
            ..SimConfig::default()
        }
    }

    /// The engine configuration simulated nodes run: [`Config::default`]
    /// (subnet caps on; every node has its own public-looking /24) with the
    /// per-node bookkeeping caps sized for a simulated peer rather than a
    /// public server: 64 rate-limited source IPs tracked instead of 16,384
    /// (every simulated node has its own IP and sends far below the limits,
    /// so the cap only bounds memory) and 32 per-peer RTT estimates instead
    /// of 160 (unmeasured peers fall back to the node-wide estimate).
    /// Protocol behaviour (k, alpha, timeouts, TTLs, caps) is the
    /// default's.
    pub fn node_config() -> Config {
        Config {
            rate_limit_tracked_ips: 64,
            rtt_tracked_peers: 32,
            ..Config::default()
        }
    }

    /// Checks that the values make sense.
    pub fn validate(&self) -> Result<(), SimError> {
        self.node.validate()?;
        if self.nodes == 0 {
            return Err(SimError::NoNodes);
        }
        if self.nodes > MAX_SIM_NODES {
            return Err(SimError::TooManyNodes { max: MAX_SIM_NODES });
        }
        if self.bootstrap_contacts == 0 {
            return Err(SimError::Zero {
                field: "bootstrap_contacts",
            });
        }
        if self.max_wave == 0 {
            return Err(SimError::Zero { field: "max_wave" });
        }
        if !self.wave_growth.is_finite() || self.wave_growth < 0.0 {
            return Err(SimError::NegativeRate {
                field: "wave_growth",
                value: self.wave_growth,
            });
        }
        self.link.validate()?;
        self.churn.validate()
    }
}
