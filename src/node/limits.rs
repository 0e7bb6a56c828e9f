//! Abuse limits of the engine: per-source request rate limits, the
//! anti-amplification byte budget toward addresses that never completed a
//! round trip, and the rotating secret behind STORE tokens.
//!
//! A source is an IPv4 address or an IPv6 /64 (one IPv6 host holds a whole
//! /64), and the /64s of one IPv6 /48 also share `ipv6_budgets_per_48`
//! budgets between them: a request or a send needs room in both
//! ([`crate::store::source_keys`], the keys the store's quotas use too).
//!
//! There is deliberately no "three times what it sent" cap on top of the
//! budget: most honest requesters are not in the answering node's routing
//! table (tables hold a few hundred of a network's nodes), so such a cap
//! throttled ordinary lookups (the simulator showed missed closest nodes);
//! under a flood the per-second budget keeps replies far below the flood's
//! own bytes.
//!
//! Everything here is bounded in memory whatever the input: the per-source
//! table holds at most `Config::rate_limit_tracked_ips` entries.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use rand::Rng;

use crate::config::Config;
use crate::id::NodeId;
use crate::store::{source_keys, SourceKey};
use crate::wire::Token;

/// An instant as signed nanoseconds from the limiter's epoch (the first
/// instant it saw): 8 bytes where an `Instant` takes 16, exact for three
/// centuries either side.
type Nanos = i64;

/// `t` in nanoseconds from `epoch`, saturating.
fn nanos_since(epoch: Instant, t: Instant) -> Nanos {
    match t.checked_duration_since(epoch) {
        Some(d) => Nanos::try_from(d.as_nanos()).unwrap_or(Nanos::MAX),
        None => Nanos::try_from(epoch.saturating_duration_since(t).as_nanos())
            .map_or(Nanos::MIN, |n| -n),
    }
}

/// `now - last` as a duration, zero if `last` is later (as
/// `Instant::saturating_duration_since`).
fn elapsed(now: Nanos, last: Nanos) -> Duration {
    Duration::from_nanos(u64::try_from(now.saturating_sub(last)).unwrap_or(0))
}

/// One token bucket: refills at `rate` per second up to `burst`.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    last: Nanos,
}

impl Bucket {
    fn full(now: Nanos, burst: f64) -> Self {
        Bucket {
            tokens: burst,
            last: now,
        }
    }

    fn refill(&mut self, now: Nanos, rate: f64, burst: f64) {
        let elapsed = elapsed(now, self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * rate).min(burst);
        self.last = now;
    }

    fn take(&mut self, amount: f64) -> bool {
        if self.tokens >= amount {
            self.tokens -= amount;
            true
        } else {
            false
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct SourceState {
    requests: Bucket,
    unverified_bytes: Bucket,
}

/// Which bucket of a [`SourceState`] a check draws on.
#[derive(Debug, Clone, Copy)]
enum Budget {
    Requests,
    UnverifiedBytes,
}

/// Per-source limits: a request rate, and a budget of bytes the node may
/// send to an address that has not proved it receives our datagrams; an
/// IPv6 /48 holds `ipv6_budgets_per_48` times both, shared by its /64s.
///
/// A tracked source costs 56 bytes of table (times are [`Nanos`]), and the
/// table is kept from growing past what `capacity` sources need.
#[derive(Debug, Clone)]
pub(crate) struct RateLimiter {
    sources: HashMap<SourceKey, SourceState>,
    /// The first instant seen; every stored time is relative to it.
    epoch: Option<Instant>,
    request_rate: f64,
    request_burst: f64,
    byte_rate: f64,
    byte_burst: f64,
    /// How many times a source's rates and bursts an IPv6 /48 holds.
    site_scale: f64,
    capacity: usize,
}

impl RateLimiter {
    pub(crate) fn new(config: &Config) -> Self {
        let byte_rate = f64::from(config.unverified_bytes_per_sec);
        RateLimiter {
            sources: HashMap::new(),
            epoch: None,
            request_rate: f64::from(config.rate_limit_requests_per_sec),
            request_burst: f64::from(config.rate_limit_burst.max(1)),
            byte_rate,
            // One second of budget, but always room for one full datagram.
            byte_burst: byte_rate.max(crate::wire::MAX_DATAGRAM_SIZE as f64),
            site_scale: config.ipv6_budgets_per_48.max(1) as f64,
            // Room for an IPv6 source and its /48 at once.
            capacity: config.rate_limit_tracked_ips.max(2),
        }
    }

    /// `now` as [`Nanos`], fixing the epoch on first use.
    fn nanos(&mut self, now: Instant) -> Nanos {
        nanos_since(*self.epoch.get_or_insert(now), now)
    }

    /// The rate and burst of `budget` for `key`: a /48's are
    /// `site_scale` times a source's.
    fn rate_and_burst(&self, key: SourceKey, budget: Budget) -> (f64, f64) {
        let scale = if key.is_site() { self.site_scale } else { 1.0 };
        let (rate, burst) = match budget {
            Budget::Requests => (self.request_rate, self.request_burst),
            Budget::UnverifiedBytes => (self.byte_rate, self.byte_burst),
        };
        (rate * scale, burst * scale)
    }

    /// Runs `f` on the state of `key`, tracking `key` first (with full
    /// buckets) if it is not. A known source costs one hash lookup.
    fn with_state<R>(
        &mut self,
        now: Nanos,
        key: SourceKey,
        f: impl FnOnce(&mut SourceState) -> R,
    ) -> R {
        if let Some(s) = self.sources.get_mut(&key) {
            return f(s);
        }
        let fresh = SourceState {
            requests: Bucket::full(now, self.rate_and_burst(key, Budget::Requests).1),
            unverified_bytes: Bucket::full(
                now,
                self.rate_and_burst(key, Budget::UnverifiedBytes).1,
            ),
        };
        if self.sources.len() >= self.capacity {
            // A source forgotten while active gets a fresh budget if it
            // comes back: the price of bounded memory (see
            // SECURITY.md). Starting newcomers empty instead starved
            // honest peers of simulated nodes, which track only 64
            // sources.
            self.make_room(now);
        }
        let _ = self.sources.insert(key, fresh);
        // A full table that keeps replacing sources fills with
        // tombstones, and the hash table then doubles although the
        // count stays at `capacity` (simulated nodes tracking 64
        // sources ended up with 256 slots). Rehash back to what
        // `capacity` sources need.
        if self.sources.capacity() > 2 * self.capacity.max(8) {
            self.sources.shrink_to(self.capacity);
        }
        f(self.sources.entry(key).or_insert(fresh))
    }

    /// How long a bucket takes to refill from empty: a source idle that
    /// long is back to a fresh entry's state.
    fn full_after(&self) -> Duration {
        Duration::from_secs_f64(
            (self.request_burst / self.request_rate.max(1e-9))
                .max(self.byte_burst / self.byte_rate.max(1e-9))
                .min(3600.0),
        )
    }

    /// Drops sources whose buckets have refilled (forgetting them loses
    /// nothing); if none has, drops the one idle longest (ties: the lowest
    /// address, so the choice does not depend on hash order).
    ///
    /// One read-only pass finds both whether any source has refilled and
    /// the one idle longest; the table is only rewritten when a refilled
    /// source is dropped (this runs for every new source while the table
    /// is full, which in the simulator is most requests).
    fn make_room(&mut self, now: Nanos) {
        let full_after = self.full_after();
        let mut any_refilled = false;
        let mut oldest: Option<(Nanos, SourceKey)> = None;
        for (key, s) in &self.sources {
            if elapsed(now, s.requests.last) >= full_after {
                any_refilled = true;
                break;
            }
            let candidate = (s.requests.last, *key);
            if oldest.is_none_or(|o| candidate < o) {
                oldest = Some(candidate);
            }
        }
        if any_refilled {
            self.forget_refilled(now);
        }
        if self.sources.len() >= self.capacity {
            if let Some((_, oldest)) = oldest {
                self.sources.remove(&oldest);
            }
        }
    }

    /// Drops the sources whose buckets are full again: a fresh entry would
    /// be identical.
    fn forget_refilled(&mut self, now: Nanos) {
        let full_after = self.full_after();
        self.sources
            .retain(|_, s| elapsed(now, s.requests.last) < full_after);
    }

    /// Forgets refilled sources and shrinks the map when it holds under a
    /// quarter of its capacity.
    pub(crate) fn release_memory(&mut self, now: Instant) {
        let now = self.nanos(now);
        self.forget_refilled(now);
        if self.sources.len() * 4 < self.sources.capacity() {
            self.sources.shrink_to(2 * self.sources.len());
        }
    }

    /// Refills `key`'s `budget` and, when `take` is set, takes `amount`
    /// from it if it holds that much; returns whether it did (or could).
    fn draw(
        &mut self,
        now: Nanos,
        key: SourceKey,
        budget: Budget,
        amount: f64,
        take: bool,
    ) -> bool {
        let (rate, burst) = self.rate_and_burst(key, budget);
        self.with_state(now, key, |s| {
            let bucket = match budget {
                Budget::Requests => &mut s.requests,
                Budget::UnverifiedBytes => &mut s.unverified_bytes,
            };
            bucket.refill(now, rate, burst);
            if take {
                bucket.take(amount)
            } else {
                bucket.tokens >= amount
            }
        })
    }

    /// Takes `amount` of `budget` from `ip`'s source and, for IPv6, from its
    /// /48, if both hold that much; otherwise takes nothing.
    fn allow(&mut self, now: Instant, ip: IpAddr, budget: Budget, amount: f64) -> bool {
        let now = self.nanos(now);
        let (source, site) = source_keys(ip);
        let Some(site) = site else {
            return self.draw(now, source, budget, amount, true);
        };
        self.draw(now, source, budget, amount, false)
            && self.draw(now, site, budget, amount, true)
            && self.draw(now, source, budget, amount, true)
    }

    /// Whether a request from `ip` may be served now (takes one token).
    pub(crate) fn allow_request(&mut self, now: Instant, ip: IpAddr) -> bool {
        self.allow(now, ip, Budget::Requests, 1.0)
    }

    /// Whether `bytes` may be sent to `ip`, which has not completed a round
    /// trip with us (takes the bytes from its budget).
    pub(crate) fn allow_unverified_send(&mut self, now: Instant, ip: IpAddr, bytes: usize) -> bool {
        self.allow(now, ip, Budget::UnverifiedBytes, bytes as f64)
    }

    /// Sources currently tracked.
    #[cfg(test)]
    pub(crate) fn tracked(&self) -> usize {
        self.sources.len()
    }
}

/// The rotating secret behind STORE tokens: a token is the first 8 bytes of
/// `SHA-1(secret || ip)`; tokens made with the current or the previous
/// secret are accepted, so a token lives between one and two rotations.
#[derive(Debug, Clone)]
pub(crate) struct TokenSecrets {
    current: [u8; 16],
    previous: [u8; 16],
    next_rotation: Instant,
    rotation: Duration,
}

impl TokenSecrets {
    pub(crate) fn new<R: Rng>(now: Instant, rotation: Duration, rng: &mut R) -> Self {
        TokenSecrets {
            current: rng.gen(),
            previous: rng.gen(),
            next_rotation: now + rotation,
            rotation,
        }
    }

    fn rotate_if_due<R: Rng>(&mut self, now: Instant, rng: &mut R) {
        while now >= self.next_rotation {
            self.previous = self.current;
            self.current = rng.gen();
            self.next_rotation += self.rotation.max(Duration::from_millis(1));
        }
    }

    fn token_with(secret: &[u8; 16], ip: IpAddr) -> Token {
        let ip_bytes: Vec<u8> = match ip {
            IpAddr::V4(v4) => v4.octets().to_vec(),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => v4.octets().to_vec(),
                None => v6.octets().to_vec(),
            },
        };
        let digest = NodeId::sha1_parts(&[secret, &ip_bytes]);
        let mut token = [0u8; 8];
        token.copy_from_slice(&digest.as_bytes()[..8]);
        token
    }

    /// The token to hand to `ip` now.
    pub(crate) fn issue<R: Rng>(&mut self, now: Instant, ip: IpAddr, rng: &mut R) -> Token {
        self.rotate_if_due(now, rng);
        Self::token_with(&self.current, ip)
    }

    /// Whether `token` was issued to `ip` under the current or the previous
    /// secret.
    pub(crate) fn check<R: Rng>(
        &mut self,
        now: Instant,
        ip: IpAddr,
        token: &Token,
        rng: &mut R,
    ) -> bool {
        self.rotate_if_due(now, rng);
        Self::token_with(&self.current, ip) == *token
            || Self::token_with(&self.previous, ip) == *token
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;
    use std::net::Ipv4Addr;

    fn ip(last: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(10, 0, 0, last))
    }

    #[test]
    fn rate_limiter_allows_burst_then_refills_at_rate() {
        let config = Config {
            rate_limit_requests_per_sec: 10,
            rate_limit_burst: 5,
            ..Config::default()
        };
        let mut rl = RateLimiter::new(&config);
        let t0 = Instant::now();
        for _ in 0..5 {
            assert!(rl.allow_request(t0, ip(1)));
        }
        assert!(!rl.allow_request(t0, ip(1)));
        // Another source is unaffected.
        assert!(rl.allow_request(t0, ip(2)));
        // 100 ms later, one token is back.
        let t1 = t0 + Duration::from_millis(100);
        assert!(rl.allow_request(t1, ip(1)));
        assert!(!rl.allow_request(t1, ip(1)));
    }

    #[test]
    fn rate_limiter_tracks_a_bounded_number_of_sources() {
        let config = Config {
            rate_limit_tracked_ips: 8,
            ..Config::default()
        };
        let mut rl = RateLimiter::new(&config);
        let t0 = Instant::now();
        for i in 0..100u8 {
            rl.allow_request(t0, ip(i));
            assert!(rl.tracked() <= 8);
        }
    }

    #[test]
    fn rate_limiter_table_stays_sized_for_its_capacity_under_source_churn() {
        let config = Config {
            rate_limit_tracked_ips: 64,
            ..Config::default()
        };
        let mut rl = RateLimiter::new(&config);
        let t0 = Instant::now();
        // 20,000 distinct sources, 100 us apart: none refills in time to be
        // forgotten, so each newcomer evicts the oldest.
        for i in 0..20_000u32 {
            let now = t0 + Duration::from_micros(100 * u64::from(i));
            let ip = IpAddr::V4(Ipv4Addr::from(0x0B00_0000 + i));
            assert!(rl.allow_request(now, ip));
            assert!(rl.tracked() <= 64);
            assert!(rl.sources.capacity() <= 2 * 64, "{}", rl.sources.capacity());
        }
    }

    #[test]
    fn rate_limiter_treats_an_instant_before_its_first_as_no_time_elapsed() {
        let config = Config {
            rate_limit_requests_per_sec: 10,
            rate_limit_burst: 2,
            ..Config::default()
        };
        let mut rl = RateLimiter::new(&config);
        let t0 = Instant::now();
        let t1 = t0 + Duration::from_secs(10);
        assert!(rl.allow_request(t1, ip(1)));
        assert!(rl.allow_request(t1, ip(1)));
        // Earlier than anything seen: no refill, as with
        // `Instant::saturating_duration_since`.
        assert!(!rl.allow_request(t0, ip(1)));
        // A source first seen before the epoch starts full.
        assert!(rl.allow_request(t0, ip(2)));
        assert!(rl.allow_request(t0, ip(2)));
        assert!(!rl.allow_request(t0, ip(2)));
        // The refill at t0 moved the first source's clock back to t0 (as
        // it would with `Instant`s): at t1 it is full again, and 100 ms
        // later one token is back.
        let t2 = t1 + Duration::from_millis(100);
        assert!(rl.allow_request(t1, ip(1)));
        assert!(rl.allow_request(t1, ip(1)));
        assert!(!rl.allow_request(t1, ip(1)));
        assert!(rl.allow_request(t2, ip(1)));
        assert!(!rl.allow_request(t2, ip(1)));
    }

    /// `2001:db8:{site}:{net}::{host}`.
    fn ip6(site: u16, net: u16, host: u16) -> IpAddr {
        IpAddr::V6(std::net::Ipv6Addr::new(
            0x2001, 0xdb8, site, net, 0, 0, 0, host,
        ))
    }

    #[test]
    fn rotating_addresses_within_one_ipv6_64_gets_one_request_budget() {
        let config = Config {
            rate_limit_requests_per_sec: 10,
            rate_limit_burst: 5,
            ..Config::default()
        };
        let mut rl = RateLimiter::new(&config);
        let t0 = Instant::now();
        let allowed = (1..=100)
            .filter(|&host| rl.allow_request(t0, ip6(1, 1, host)))
            .count();
        assert_eq!(allowed, 5);
        // Another /64 of the same /48 has its own budget.
        assert!(rl.allow_request(t0, ip6(1, 2, 1)));
    }

    #[test]
    fn rotating_64s_within_one_ipv6_48_share_the_48s_budgets() {
        // Default `ipv6_budgets_per_48`: 16.
        let config = Config {
            rate_limit_requests_per_sec: 10,
            rate_limit_burst: 5,
            ..Config::default()
        };
        let mut rl = RateLimiter::new(&config);
        let t0 = Instant::now();
        let allowed = (1..=200)
            .filter(|&net| rl.allow_request(t0, ip6(1, net, 1)))
            .count();
        assert_eq!(allowed, 5 * 16);
        // Another /48 is unaffected; a /64 refused for its /48 was not
        // charged.
        assert!(rl.allow_request(t0, ip6(2, 1, 1)));
        let t1 = t0 + Duration::from_secs(1);
        assert!(rl.allow_request(t1, ip6(1, 200, 1)));
    }

    #[test]
    fn spoofing_many_addresses_of_one_ipv6_64_reflects_one_byte_budget() {
        let config = Config {
            unverified_bytes_per_sec: 2000,
            ..Config::default()
        };
        let mut rl = RateLimiter::new(&config);
        let t0 = Instant::now();
        let sent = (1..=100)
            .filter(|&host| rl.allow_unverified_send(t0, ip6(1, 1, host), 1000))
            .count();
        assert_eq!(sent, 2);
    }

    #[test]
    fn unverified_byte_budget_is_enforced() {
        let config = Config {
            unverified_bytes_per_sec: 2000,
            ..Config::default()
        };
        let mut rl = RateLimiter::new(&config);
        let t0 = Instant::now();
        assert!(rl.allow_unverified_send(t0, ip(1), 1500));
        assert!(!rl.allow_unverified_send(t0, ip(1), 1000));
        assert!(rl.allow_unverified_send(t0 + Duration::from_secs(1), ip(1), 1000));
    }

    #[test]
    fn tokens_are_bound_to_ip_and_expire_after_two_rotations() {
        let mut rng = StdRng::seed_from_u64(7);
        let t0 = Instant::now();
        let rot = Duration::from_secs(300);
        let mut secrets = TokenSecrets::new(t0, rot, &mut rng);
        let token = secrets.issue(t0, ip(1), &mut rng);
        assert!(secrets.check(t0, ip(1), &token, &mut rng));
        assert!(!secrets.check(t0, ip(2), &token, &mut rng));
        // After one rotation the previous secret still accepts it.
        assert!(secrets.check(t0 + rot, ip(1), &token, &mut rng));
        // After two it is stale.
        assert!(!secrets.check(t0 + rot * 2, ip(1), &token, &mut rng));
    }
}
