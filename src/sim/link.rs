//! The link model: how long a datagram between two simulated nodes takes,
//! whether it is lost, and whether it arrives twice.
//!
//! This module owns the per-pair base latency (a pure function of the pair
//! and the seed, so nothing is stored per pair) and the per-datagram draws
//! (jitter, loss, duplication) from the RNG it is handed. It never keeps
//! state of its own beyond the configuration.

use std::time::Duration;

use rand::Rng;

use super::config::{LatencyDistribution, LinkConfig};

/// SplitMix64's finaliser: a fast, well-mixed 64-bit permutation.
pub(crate) fn mix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A hash of `(seed, a, b)`, the same for `(seed, b, a)`.
pub(crate) fn pair_hash(seed: u64, a: u32, b: u32) -> u64 {
    let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
    mix64(seed ^ mix64((u64::from(lo) << 32) | u64::from(hi)))
}

/// A uniform float in `[0, 1)` from 53 bits of `h`.
fn unit(h: u64) -> f64 {
    (h >> 11) as f64 / (1u64 << 53) as f64
}

/// The links of one simulation.
#[derive(Debug, Clone)]
pub(crate) struct LinkModel {
    config: LinkConfig,
    seed: u64,
}

/// What happens to one datagram: delivered after each delay listed (none
/// when lost, two when duplicated).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fate {
    Lost,
    Once(Duration),
    Twice(Duration, Duration),
}

impl LinkModel {
    pub(crate) fn new(config: LinkConfig, seed: u64) -> Self {
        LinkModel {
            config,
            seed: mix64(seed ^ 0x6c69_6e6b),
        }
    }

    /// The smallest delay any datagram can have: the distribution's lower
    /// bound (jitter only adds). Zero for the log-normal distribution,
    /// which has none.
    pub(crate) fn min_latency(&self) -> Duration {
        match self.config.latency {
            LatencyDistribution::Constant(d) => d,
            LatencyDistribution::Uniform { min, .. } => min,
            LatencyDistribution::LogNormal { .. } => Duration::ZERO,
        }
    }

    /// The fixed one-way latency between nodes `a` and `b` (symmetric).
    pub(crate) fn base_latency(&self, a: u32, b: u32) -> Duration {
        let h = pair_hash(self.seed, a, b);
        match self.config.latency {
            LatencyDistribution::Constant(d) => d,
            LatencyDistribution::Uniform { min, max } => {
                let span = max.saturating_sub(min).as_secs_f64();
                min + Duration::from_secs_f64(span * unit(h))
            }
            LatencyDistribution::LogNormal { median, sigma, max } => {
                // Box-Muller from two independent uniforms of the pair.
                let u1 = unit(h).max(f64::MIN_POSITIVE);
                let u2 = unit(mix64(h));
                let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
                let secs = median.as_secs_f64() * (sigma * z).exp();
                if secs.is_finite() {
                    Duration::from_secs_f64(secs.clamp(0.0, max.as_secs_f64()))
                } else {
                    max
                }
            }
        }
    }

    /// Draws the fate of one datagram from `a` to `b`.
    pub(crate) fn fate<R: Rng>(&self, rng: &mut R, a: u32, b: u32) -> Fate {
        if self.config.loss > 0.0 && rng.gen_bool(self.config.loss) {
            return Fate::Lost;
        }
        let base = self.base_latency(a, b);
        let first = base + self.jitter(rng);
        if self.config.duplicate > 0.0 && rng.gen_bool(self.config.duplicate) {
            Fate::Twice(first, base + self.jitter(rng))
        } else {
            Fate::Once(first)
        }
    }

    fn jitter<R: Rng>(&self, rng: &mut R) -> Duration {
        let nanos = u64::try_from(self.config.jitter.as_nanos()).unwrap_or(u64::MAX);
        if nanos == 0 {
            Duration::ZERO
        } else {
            Duration::from_nanos(rng.gen_range(0..nanos))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    #[test]
    fn base_latency_is_symmetric_seeded_and_in_range() {
        let link = LinkModel::new(LinkConfig::default(), 7);
        let other = LinkModel::new(LinkConfig::default(), 8);
        let mut differs = 0;
        for a in 0..50u32 {
            for b in 0..50u32 {
                let d = link.base_latency(a, b);
                assert_eq!(d, link.base_latency(b, a));
                assert!(d >= Duration::from_millis(10) && d <= Duration::from_millis(150));
                if d != other.base_latency(a, b) {
                    differs += 1;
                }
            }
        }
        assert!(differs > 2000, "only {differs} pairs differ across seeds");
    }

    #[test]
    fn uniform_latencies_cover_the_range() {
        let link = LinkModel::new(LinkConfig::default(), 1);
        let ms: Vec<u128> = (0..10_000u32)
            .map(|i| link.base_latency(i, i + 1).as_millis())
            .collect();
        let mean = ms.iter().sum::<u128>() as f64 / ms.len() as f64;
        assert!((75.0..85.0).contains(&mean), "mean {mean}");
        assert!(ms.iter().any(|&m| m < 12) && ms.iter().any(|&m| m >= 148));
    }

    #[test]
    fn lognormal_latencies_have_the_median_and_respect_the_cap() {
        let config = LinkConfig {
            latency: LatencyDistribution::LogNormal {
                median: Duration::from_millis(50),
                sigma: 0.5,
                max: Duration::from_millis(400),
            },
            ..LinkConfig::default()
        };
        let link = LinkModel::new(config, 3);
        let mut ms: Vec<Duration> = (0..10_001u32).map(|i| link.base_latency(i, 0)).collect();
        ms.sort();
        let median = ms[5_000].as_secs_f64() * 1000.0;
        assert!((45.0..55.0).contains(&median), "median {median}");
        assert!(ms[10_000] <= Duration::from_millis(400));
    }

    #[test]
    fn extreme_lognormal_shapes_stay_within_the_cap() {
        let config = LinkConfig {
            latency: LatencyDistribution::LogNormal {
                median: Duration::ZERO,
                sigma: 1e6,
                max: Duration::from_secs(1),
            },
            ..LinkConfig::default()
        };
        let link = LinkModel::new(config, 9);
        for i in 0..1_000u32 {
            assert!(link.base_latency(i, i + 1) <= Duration::from_secs(1));
        }
    }

    #[test]
    fn loss_and_duplication_happen_at_their_rates() {
        let config = LinkConfig {
            loss: 0.1,
            duplicate: 0.05,
            ..LinkConfig::default()
        };
        let link = LinkModel::new(config, 0);
        let mut rng = StdRng::seed_from_u64(5);
        let (mut lost, mut twice) = (0, 0);
        for i in 0..100_000u32 {
            match link.fate(&mut rng, i, i + 7) {
                Fate::Lost => lost += 1,
                Fate::Twice(a, b) => {
                    twice += 1;
                    let base = link.base_latency(i, i + 7);
                    assert!(a >= base && b >= base);
                    assert!(a < base + Duration::from_millis(10));
                }
                Fate::Once(_) => {}
            }
        }
        assert!((9_500..10_500).contains(&lost), "lost {lost}");
        assert!((4_000..5_000).contains(&twice), "twice {twice}");
    }
}
