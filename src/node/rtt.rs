//! Round-trip-time estimation and the adaptive request timeout derived from
//! it (SRTT + 4 RTTVAR, clamped to the configured floor and cap, as TCP's
//! RFC 6298 does). Per peer where one was measured; for a peer never
//! measured, the larger of the node-wide estimate and 1.5 times the
//! largest of the last [`RECENT_SAMPLES`] round trips; before any sample,
//! the configured initial timeout.
//!
//! Why not the node-wide SRTT + 4 RTTVAR alone: a lookup sends its next
//! requests right after an answer arrives, and the fastest peers answer
//! first, so the node-wide average is updated with a biased, fast-first
//! sample order just before it is used, and a timeout below a live peer's
//! round trip makes lookups skip live closest nodes and key proofs and
//! ping-before-evict fail against live contacts. The recent maximum does
//! not depend on the order of the samples.
//!
//! This module owns the estimates only; it must never decide what a
//! timeout triggers (that is `requests` and `retry`), and its memory is
//! bounded by `Config::rtt_tracked_peers` whatever the traffic.

use std::net::SocketAddr;
use std::time::Duration;

/// A smoothed RTT and its variation.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Estimate {
    srtt: f64,
    rttvar: f64,
}

impl Estimate {
    fn first(sample: f64) -> Self {
        Estimate {
            srtt: sample,
            rttvar: sample / 2.0,
        }
    }

    fn update(&mut self, sample: f64) {
        self.rttvar = 0.75 * self.rttvar + 0.25 * (self.srtt - sample).abs();
        self.srtt = 0.875 * self.srtt + 0.125 * sample;
    }

    fn rto(&self) -> f64 {
        self.srtt + 4.0 * self.rttvar
    }
}

/// Round trips remembered for the timeout of unmeasured peers.
pub(crate) const RECENT_SAMPLES: usize = 32;

/// RTT estimates, per peer (bounded) and node-wide.
#[derive(Debug, Clone)]
pub(crate) struct RttEstimator {
    global: Option<Estimate>,
    /// The last `RECENT_SAMPLES` round trips (any peer), in seconds, as a
    /// ring; `recent_len` of them are filled.
    recent: [f32; RECENT_SAMPLES],
    recent_len: usize,
    recent_next: usize,
    peers: PeerEstimates,
    capacity: usize,
    initial: Duration,
    min: Duration,
    max: Duration,
}

impl RttEstimator {
    pub(crate) fn new(initial: Duration, min: Duration, max: Duration, capacity: usize) -> Self {
        RttEstimator {
            global: None,
            recent: [0.0; RECENT_SAMPLES],
            recent_len: 0,
            recent_next: 0,
            peers: PeerEstimates::default(),
            capacity,
            initial,
            min,
            max,
        }
    }

    /// Shrinks the per-peer map when it holds under a quarter of its
    /// capacity.
    pub(crate) fn release_memory(&mut self) {
        self.peers.release_memory();
    }

    /// Records a measured round trip to `peer`.
    pub(crate) fn sample(&mut self, peer: SocketAddr, rtt: Duration) {
        let s = rtt.as_secs_f64();
        match &mut self.global {
            Some(g) => g.update(s),
            None => self.global = Some(Estimate::first(s)),
        }
        if let Some(slot) = self.recent.get_mut(self.recent_next) {
            *slot = s as f32;
        }
        self.recent_next = (self.recent_next + 1) % RECENT_SAMPLES;
        self.recent_len = (self.recent_len + 1).min(RECENT_SAMPLES);
        if let Some(e) = self.peers.get_mut(&peer) {
            e.update(s);
        } else {
            if self.peers.len() >= self.capacity {
                // Forget everything rather than track unboundedly; the
                // node-wide estimate carries over.
                self.peers.clear();
            }
            self.peers.insert(peer, Estimate::first(s), self.capacity);
        }
    }

    /// The timeout for a request to `peer`.
    pub(crate) fn timeout(&self, peer: &SocketAddr) -> Duration {
        let secs = match (self.peers.get(peer), &self.global) {
            (Some(e), _) => e.rto(),
            (None, Some(g)) => {
                let recent_max = self
                    .recent
                    .iter()
                    .take(self.recent_len)
                    .fold(0.0f32, |m, &s| m.max(s));
                g.rto().max(1.5 * f64::from(recent_max))
            }
            (None, None) => return self.initial.clamp(self.min, self.max),
        };
        Duration::from_secs_f64(secs.clamp(0.0, 3600.0)).clamp(self.min, self.max)
    }
}

/// The per-peer estimates: a plain list searched linearly. It holds at
/// most `rtt_tracked_peers` entries, few enough that a scan costs little
/// next to the decoding and signature work around each sample, and a list
/// holds them in less memory than a hash table would.
#[derive(Debug, Clone, Default)]
struct PeerEstimates(Vec<(SocketAddr, Estimate)>);

impl PeerEstimates {
    fn len(&self) -> usize {
        self.0.len()
    }

    fn get(&self, peer: &SocketAddr) -> Option<&Estimate> {
        self.0.iter().find(|(a, _)| a == peer).map(|(_, e)| e)
    }

    fn get_mut(&mut self, peer: &SocketAddr) -> Option<&mut Estimate> {
        self.0.iter_mut().find(|(a, _)| a == peer).map(|(_, e)| e)
    }

    fn clear(&mut self) {
        self.0.clear();
    }

    /// Adds `peer` (the caller checked it is absent), growing the list by
    /// doubling but never past `limit` slots.
    fn insert(&mut self, peer: SocketAddr, estimate: Estimate, limit: usize) {
        if self.0.len() == self.0.capacity() {
            let room = limit.saturating_sub(self.0.len()).max(1);
            self.0.reserve_exact(self.0.len().max(4).min(room));
        }
        self.0.push((peer, estimate));
    }

    /// Shrinks the list when it holds under a quarter of its capacity.
    fn release_memory(&mut self) {
        if self.0.len() * 4 < self.0.capacity() {
            self.0.shrink_to(2 * self.0.len());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    #[test]
    fn timeout_starts_at_initial_then_follows_samples() {
        let mut r = RttEstimator::new(
            Duration::from_secs(1),
            Duration::from_millis(50),
            Duration::from_secs(3),
            16,
        );
        assert_eq!(r.timeout(&addr(1)), Duration::from_secs(1));
        for _ in 0..20 {
            r.sample(addr(1), Duration::from_millis(100));
        }
        let t = r.timeout(&addr(1));
        assert!(
            t >= Duration::from_millis(100) && t < Duration::from_millis(200),
            "{t:?}"
        );
        // An unmeasured peer gets at least 1.5 times the recent maximum.
        let unmeasured = r.timeout(&addr(2));
        assert!(
            unmeasured >= Duration::from_millis(149) && unmeasured <= Duration::from_millis(151),
            "{unmeasured:?}"
        );
    }

    #[test]
    fn unmeasured_peer_timeout_covers_recent_slow_answers_whatever_their_order() {
        let mut r = RttEstimator::new(
            Duration::from_secs(1),
            Duration::from_millis(100),
            Duration::from_secs(3),
            64,
        );
        // One slow answer, then many fast ones (fast peers answer first
        // and keep the node-wide average low).
        r.sample(addr(1), Duration::from_millis(300));
        for port in 2..20 {
            r.sample(addr(port), Duration::from_millis(40));
        }
        assert!(r.timeout(&addr(99)) >= Duration::from_millis(450));
        // Measured peers keep their own, tighter, estimate.
        assert!(r.timeout(&addr(5)) < Duration::from_millis(200));
        // The slow sample ages out after RECENT_SAMPLES newer ones.
        for i in 0..RECENT_SAMPLES as u16 {
            r.sample(addr(100 + i), Duration::from_millis(40));
        }
        assert!(r.timeout(&addr(99)) < Duration::from_millis(200));
    }

    #[test]
    fn timeout_is_clamped() {
        let mut r = RttEstimator::new(
            Duration::from_secs(1),
            Duration::from_millis(200),
            Duration::from_secs(2),
            16,
        );
        r.sample(addr(1), Duration::from_millis(1));
        assert_eq!(r.timeout(&addr(1)), Duration::from_millis(200));
        r.sample(addr(3), Duration::from_secs(30));
        assert_eq!(r.timeout(&addr(3)), Duration::from_secs(2));
    }
}
