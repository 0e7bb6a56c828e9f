//! Round-trip-time estimation and the adaptive request timeout derived from
//! it (SRTT + 4 RTTVAR, clamped to the configured floor and cap, as TCP's
//! RFC 6298 does). Per peer where one was measured, else the node-wide
//! estimate, else the configured initial timeout.

use std::collections::HashMap;
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

/// RTT estimates, per peer (bounded) and node-wide.
#[derive(Debug)]
pub(crate) struct RttEstimator {
    global: Option<Estimate>,
    peers: HashMap<SocketAddr, Estimate>,
    capacity: usize,
    initial: Duration,
    min: Duration,
    max: Duration,
}

impl RttEstimator {
    pub(crate) fn new(initial: Duration, min: Duration, max: Duration, capacity: usize) -> Self {
        RttEstimator {
            global: None,
            peers: HashMap::new(),
            capacity,
            initial,
            min,
            max,
        }
    }

    /// Records a measured round trip to `peer`.
    pub(crate) fn sample(&mut self, peer: SocketAddr, rtt: Duration) {
        let s = rtt.as_secs_f64();
        match &mut self.global {
            Some(g) => g.update(s),
            None => self.global = Some(Estimate::first(s)),
        }
        if let Some(e) = self.peers.get_mut(&peer) {
            e.update(s);
        } else {
            if self.peers.len() >= self.capacity {
                // Forget everything rather than track unboundedly; the
                // node-wide estimate carries over.
                self.peers.clear();
            }
            self.peers.insert(peer, Estimate::first(s));
        }
    }

    /// The timeout for a request to `peer`.
    pub(crate) fn timeout(&self, peer: &SocketAddr) -> Duration {
        let rto = match self.peers.get(peer).or(self.global.as_ref()) {
            Some(e) => Duration::from_secs_f64(e.rto().clamp(0.0, 3600.0)),
            None => self.initial,
        };
        rto.clamp(self.min, self.max)
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
        // An unmeasured peer uses the node-wide estimate.
        assert_eq!(r.timeout(&addr(2)), t);
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
