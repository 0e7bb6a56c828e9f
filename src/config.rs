//! Every tunable of the DHT in one [`Config`], each documented with its
//! default and the reason for it.
//!
//! This module owns no behaviour: it is read by the routing table, the
//! engine, the store and the drivers. `Config::default()` is what a node on
//! the public network should run.

use std::time::Duration;

/// Well-known bootstrap nodes of the public network, as `host:port`
/// strings (host names are resolved when a node bootstraps). Empty until
/// such nodes exist: until then, pass addresses explicitly (the
/// `meshara-dht` binary takes `--bootstrap`, `MESHARA_DHT_BOOTSTRAP` or a
/// `bootstrap.txt` in its state directory). README.md says how to run a
/// bootstrap node.
pub const PUBLIC_BOOTSTRAP_NODES: &[&str] = &[];

/// The largest accepted [`Config::request_retries`] and
/// [`Config::close_request_retries`]: a contact that never answers holds
/// its lookup for `1 + retries` timeouts and costs as many datagrams.
pub const MAX_REQUEST_RETRIES: u32 = 5;

/// All tunables of a node. Build with `Config::default()` and override
/// fields; [`Config::validate`] reports inconsistent settings.
///
/// ```
/// use meshara_dht::Config;
/// let config = Config { k: 16, ..Config::default() };
/// assert!(config.validate().is_ok());
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Bucket size and replication factor. Default 20, as in the Kademlia
    /// paper: large enough that 20 nodes leaving within an hour is unlikely.
    pub k: usize,
    /// Requests a lookup keeps in flight. Default 3 (the paper's alpha).
    pub alpha: usize,
    /// Entries in each bucket's replacement cache. Default 20 (= k): enough
    /// to refill a bucket after a burst of departures.
    pub replacement_cache_size: usize,
    /// Consecutive failed requests after which a contact is stale and may be
    /// replaced. Default 2: one lost datagram is not enough to evict.
    pub max_failures: u32,
    /// Contacts from one IPv4 /24 allowed in one bucket. Default 2: a Sybil
    /// attacker with one subnet cannot fill a bucket.
    pub max_per_subnet_bucket: usize,
    /// Contacts from one IPv4 /24 (or IPv6 /64) allowed in the whole table.
    /// Default 10.
    pub max_per_subnet_table: usize,
    /// Whether the subnet caps apply to loopback and private addresses.
    /// Default `true`; tests and local testnets, whose nodes all share
    /// 127.0.0.1, turn it off.
    pub subnet_caps_on_local: bool,
    /// Initial per-request timeout before any round trip was measured.
    /// Default 1 s.
    pub rpc_timeout_initial: Duration,
    /// Floor of the adaptive timeout (SRTT + 4 RTTVAR). Default 100 ms.
    pub rpc_timeout_min: Duration,
    /// Cap of the adaptive timeout. Default 3 s.
    pub rpc_timeout_max: Duration,
    /// How long an overdue request may still be answered (and the answer
    /// used) after its slot was freed. Default 5 s.
    pub rpc_late_window: Duration,
    /// How many times a lookup request, key-proof ping or bootstrap ping
    /// that passed its timeout is sent again to the same address (with a
    /// fresh transaction id and the same adaptive timeout) before it counts
    /// as failed (for a lookup request, unless `close_request_retries`
    /// applies). The lookup moves on meanwhile but waits for the contact
    /// while it is among the k closest; a late answer to any copy is used
    /// once. A contact the routing table holds as stale (`max_failures`
    /// failed requests in a row) is not retried. Default 2: with 10%
    /// datagram loss a round trip fails 19% of the time, and two retries
    /// leave 0.7% of contacts missed, enough for contacts whose answer only
    /// names other contacts. Without loss a retry follows only a round
    /// trip slower than its timeout (jitter), and the messages per lookup
    /// stay the same within noise. At most [`MAX_REQUEST_RETRIES`]; 0 turns
    /// retransmission off.
    pub request_retries: u32,
    /// The retries instead of `request_retries` for a request whose contact
    /// is among the lookup's k closest live candidates when its copy times
    /// out, once the node has recently seen loss (an answer to a
    /// retransmitted copy among its last few dozen answered lookup
    /// requests). Only such a contact can be missing from the result
    /// because its datagrams were lost. Default 4: at 10% loss each way a
    /// contact is then missed 0.19^5 = 0.025% of the time, so a lookup
    /// misses one of its 20 closest 0.5% of the time (with 2 retries, 13%);
    /// see docs/TESTING.md. A dead contact among the k closest then holds
    /// a lookup for 5 timeouts (on a network without loss the node sees no
    /// loss and it holds it for 3). At most [`MAX_REQUEST_RETRIES`]; a
    /// value at or below `request_retries` turns the rule off.
    pub close_request_retries: u32,
    /// Hard limit on one lookup's duration. Default 30 s.
    pub lookup_timeout: Duration,
    /// A bucket with no lookup through it for this long is refreshed.
    /// Default 15 min.
    pub bucket_refresh_interval: Duration,
    /// Lifetime of a stored record. Default 2 h (publishers republish hourly).
    pub record_ttl: Duration,
    /// How often a publisher republishes its own records. Default 1 h.
    pub republish_interval: Duration,
    /// Lifetime of a provider record. Default 2 h.
    pub provider_ttl: Duration,
    /// Maximum records stored. Default 65,536.
    pub max_records: usize,
    /// Maximum bytes of stored values. Default 64 MiB.
    pub max_record_bytes: usize,
    /// Maximum records stored on behalf of one source: an IPv4 address or
    /// an IPv6 /64 (one IPv6 host holds a whole /64). Default 256.
    pub max_records_per_ip: usize,
    /// Maximum providers kept per key. Default 20 (= k).
    pub max_providers_per_key: usize,
    /// How often the secret behind STORE tokens rotates; the current and the
    /// previous secret are accepted. Default 5 min (BEP 5 uses 5-10 min).
    pub token_rotation: Duration,
    /// Requests per second accepted from one source, an IPv4 address or an
    /// IPv6 /64 (token bucket rate). Default 200.
    pub rate_limit_requests_per_sec: u32,
    /// Burst of requests accepted from one source. Default 400.
    pub rate_limit_burst: u32,
    /// Bytes per second the node sends to one source (IPv4 address or IPv6
    /// /64) that has not completed a round trip with it (anti-amplification
    /// budget). Default 8 KiB/s. Independently of this budget, such an IP never gets more than three
    /// times the bytes it sent, plus one datagram.
    pub unverified_bytes_per_sec: u32,
    /// How many per-source budgets the IPv6 /64s of one /48 share: the
    /// request rate, the anti-amplification byte budget and the store quota
    /// of a /48 are this many times those of one /64 (each /64 keeps its
    /// own too). Default 16: a site with a few busy hosts is not throttled,
    /// while one holding a /48 (65,536 /64s) gets 16 budgets, not 65,536.
    pub ipv6_budgets_per_48: usize,
    /// Sources (and IPv6 /48s) tracked by the rate limiter before the least
    /// recently seen are dropped. Default 16,384.
    pub rate_limit_tracked_ips: usize,
    /// Peers whose round-trip time is tracked individually (for per-peer
    /// adaptive timeouts); past this the per-peer estimates are forgotten
    /// and the node-wide one is used until they are measured again.
    /// Default 160 (8 k): the contacts of a few concurrent lookups.
    pub rtt_tracked_peers: usize,
    /// A client-mode node asks but answers nothing, and marks its requests
    /// read-only so it never appears in others' routing tables. Default
    /// `false`.
    pub client_mode: bool,
    /// Disjoint lookup paths (S/Kademlia) per query. Default 1 (off): each
    /// extra path costs about one more lookup's messages; raise it on
    /// networks with adversarial nodes, or per query with
    /// `node::QueryOptions`.
    pub disjoint_paths: usize,
    /// How often the engine runs its housekeeping round: the refresh of
    /// idle buckets, the republishing of due records, and memory release.
    /// Default 60 s: the intervals it serves (`bucket_refresh_interval`,
    /// `republish_interval`) are minutes to hours, so a minute's lateness
    /// costs nothing, and a node between rounds does no work at all.
    pub maintenance_interval: Duration,
    /// Most key-proof pings in flight at once. Default 64: it bounds the
    /// datagrams and verifications that senders never seen before can make
    /// this node spend (a flood of fresh ids gets at most this many pings
    /// per timeout), while a node that joins or is joined by many peers at
    /// once still proves them within a few round trips; a contact skipped
    /// when the limit is reached is asked again when it next writes.
    pub max_pending_proofs: usize,
    /// Most bucket refreshes started by one housekeeping round. Default 8:
    /// when every bucket went idle at once (a node that was quiet for a
    /// refresh interval) the refreshes spread over a few rounds instead of
    /// one burst of a lookup per bucket, and a table that lookups keep
    /// busy rarely has more than a few idle buckets per round anyway.
    pub max_refreshes_per_round: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            k: 20,
            alpha: 3,
            replacement_cache_size: 20,
            max_failures: 2,
            max_per_subnet_bucket: 2,
            max_per_subnet_table: 10,
            subnet_caps_on_local: true,
            rpc_timeout_initial: Duration::from_secs(1),
            rpc_timeout_min: Duration::from_millis(100),
            rpc_timeout_max: Duration::from_secs(3),
            rpc_late_window: Duration::from_secs(5),
            request_retries: 2,
            close_request_retries: 4,
            lookup_timeout: Duration::from_secs(30),
            bucket_refresh_interval: Duration::from_secs(15 * 60),
            record_ttl: Duration::from_secs(2 * 3600),
            republish_interval: Duration::from_secs(3600),
            provider_ttl: Duration::from_secs(2 * 3600),
            max_records: 65_536,
            max_record_bytes: 64 * 1024 * 1024,
            max_records_per_ip: 256,
            max_providers_per_key: 20,
            token_rotation: Duration::from_secs(5 * 60),
            rate_limit_requests_per_sec: 200,
            rate_limit_burst: 400,
            unverified_bytes_per_sec: 8 * 1024,
            ipv6_budgets_per_48: 16,
            rate_limit_tracked_ips: 16_384,
            rtt_tracked_peers: 160,
            client_mode: false,
            disjoint_paths: 1,
            maintenance_interval: Duration::from_secs(60),
            max_pending_proofs: 64,
            max_refreshes_per_round: 8,
        }
    }
}

/// A [`Config`] whose values contradict each other.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A field that must be positive is zero.
    #[error("config field `{field}` must be greater than zero")]
    Zero {
        /// The field.
        field: &'static str,
    },
    /// The timeout floor is above the cap, or the initial value outside them.
    #[error("rpc timeouts must satisfy min <= initial <= max")]
    TimeoutOrder,
    /// `request_retries` above [`MAX_REQUEST_RETRIES`].
    #[error("request_retries ({retries}) must not exceed {max}")]
    TooManyRetries {
        /// The configured value.
        retries: u32,
        /// [`MAX_REQUEST_RETRIES`].
        max: u32,
    },
    /// `close_request_retries` above [`MAX_REQUEST_RETRIES`].
    #[error("close_request_retries ({retries}) must not exceed {max}")]
    TooManyCloseRetries {
        /// The configured value.
        retries: u32,
        /// [`MAX_REQUEST_RETRIES`].
        max: u32,
    },
    /// More requests in flight than contacts per lookup.
    #[error("alpha ({alpha}) must not exceed k ({k})")]
    AlphaAboveK {
        /// alpha
        alpha: usize,
        /// k
        k: usize,
    },
}

impl Config {
    /// A configuration for nodes that all live on one machine (tests,
    /// `testnet`, examples): every node shares one IP address, so the
    /// per-address defences would treat the whole network as one peer. The
    /// subnet caps (which would let only a few 127.0.0.1 nodes into each
    /// table) are off, and the per-IP request rate and unverified-byte
    /// budget are lifted. Never use it on a public network.
    pub fn local() -> Self {
        Config {
            subnet_caps_on_local: false,
            rate_limit_requests_per_sec: 1_000_000,
            rate_limit_burst: 1_000_000,
            unverified_bytes_per_sec: u32::MAX,
            ..Config::default()
        }
    }

    /// Checks that the values are consistent.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let positive = [
            ("k", self.k),
            ("alpha", self.alpha),
            ("max_per_subnet_bucket", self.max_per_subnet_bucket),
            ("max_per_subnet_table", self.max_per_subnet_table),
            ("max_records", self.max_records),
            ("max_record_bytes", self.max_record_bytes),
            ("max_records_per_ip", self.max_records_per_ip),
            ("rate_limit_tracked_ips", self.rate_limit_tracked_ips),
            ("ipv6_budgets_per_48", self.ipv6_budgets_per_48),
            ("disjoint_paths", self.disjoint_paths),
        ];
        for (field, value) in positive {
            if value == 0 {
                return Err(ConfigError::Zero { field });
            }
        }
        if self.maintenance_interval.is_zero() {
            return Err(ConfigError::Zero {
                field: "maintenance_interval",
            });
        }
        if self.max_failures == 0 {
            return Err(ConfigError::Zero {
                field: "max_failures",
            });
        }
        if self.request_retries > MAX_REQUEST_RETRIES {
            return Err(ConfigError::TooManyRetries {
                retries: self.request_retries,
                max: MAX_REQUEST_RETRIES,
            });
        }
        if self.close_request_retries > MAX_REQUEST_RETRIES {
            return Err(ConfigError::TooManyCloseRetries {
                retries: self.close_request_retries,
                max: MAX_REQUEST_RETRIES,
            });
        }
        if self.alpha > self.k {
            return Err(ConfigError::AlphaAboveK {
                alpha: self.alpha,
                k: self.k,
            });
        }
        if !(self.rpc_timeout_min <= self.rpc_timeout_initial
            && self.rpc_timeout_initial <= self.rpc_timeout_max)
        {
            return Err(ConfigError::TimeoutOrder);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_config_is_valid() {
        assert_eq!(Config::default().validate(), Ok(()));
        assert_eq!(Config::local().validate(), Ok(()));
    }

    #[test]
    fn validate_rejects_zero_k_and_bad_timeouts() {
        let c = Config {
            k: 0,
            ..Config::default()
        };
        assert_eq!(c.validate(), Err(ConfigError::Zero { field: "k" }));
        let c = Config {
            rpc_timeout_min: Duration::from_secs(10),
            ..Config::default()
        };
        assert_eq!(c.validate(), Err(ConfigError::TimeoutOrder));
        let c = Config {
            alpha: 30,
            ..Config::default()
        };
        assert_eq!(
            c.validate(),
            Err(ConfigError::AlphaAboveK { alpha: 30, k: 20 })
        );
    }

    #[test]
    fn validate_bounds_request_retries() {
        for retries in [0, 1, MAX_REQUEST_RETRIES] {
            let c = Config {
                request_retries: retries,
                ..Config::default()
            };
            assert_eq!(c.validate(), Ok(()), "{retries}");
        }
        let c = Config {
            request_retries: MAX_REQUEST_RETRIES + 1,
            ..Config::default()
        };
        assert_eq!(
            c.validate(),
            Err(ConfigError::TooManyRetries {
                retries: MAX_REQUEST_RETRIES + 1,
                max: MAX_REQUEST_RETRIES
            })
        );
    }

    #[test]
    fn validate_bounds_close_request_retries_but_not_against_request_retries() {
        // Below request_retries is accepted: it turns the close rule off.
        for (retries, close) in [(2, 0), (0, 0), (5, 4), (0, MAX_REQUEST_RETRIES)] {
            let c = Config {
                request_retries: retries,
                close_request_retries: close,
                ..Config::default()
            };
            assert_eq!(c.validate(), Ok(()), "{retries} {close}");
        }
        let c = Config {
            close_request_retries: MAX_REQUEST_RETRIES + 1,
            ..Config::default()
        };
        assert_eq!(
            c.validate(),
            Err(ConfigError::TooManyCloseRetries {
                retries: MAX_REQUEST_RETRIES + 1,
                max: MAX_REQUEST_RETRIES
            })
        );
    }
}
