//! [`MesharaDht`]: a [`Dht`] handle plus a Meshara identity ([`Signer`]),
//! speaking in Meshara ids and verified contacts.
//!
//! This file owns publishing (contact, authority, content), looking up with
//! verification, the contact cache and the sharing of concurrent lookups.
//! It never trusts what the DHT returns: every record goes through
//! [`verify_contact`] or [`MesharaBinding::from_record`] first, and a
//! contact is still only a hint until a connection proves its key
//! (see `route.rs`).

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;

use super::cache::{Cached, ContactCache};
use super::contact::{
    authority_key, contact_key, millis, sign_contact, verify_contact, ContactInfo, Freshness,
    AUTHORITY_SALT, CONTACT_SALT,
};
use super::error::{AdvertiseError, LookupError};
use super::hex::Hex;
use super::lock;
use super::traits::{meshara_id_of, MesharaId, MesharaKey, Signer};
use crate::error::DhtError;
use crate::runtime::{BootstrapReport, Dht, PutReport};

/// The adapter's source of wall-clock time, in milliseconds since the
/// Unix epoch: contact timestamps must compare across machines, so this is
/// wall time, not a monotonic clock. Replaceable for tests.
#[derive(Clone)]
pub struct WallClock(Arc<dyn Fn() -> u64 + Send + Sync>);

impl WallClock {
    /// The system clock.
    pub fn system() -> Self {
        WallClock(Arc::new(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, millis)
        }))
    }

    /// A clock that reads `f`.
    pub fn from_fn(f: impl Fn() -> u64 + Send + Sync + 'static) -> Self {
        WallClock(Arc::new(f))
    }

    /// Now, in milliseconds since the Unix epoch.
    pub fn now_ms(&self) -> u64 {
        (self.0)()
    }
}

impl Default for WallClock {
    fn default() -> Self {
        WallClock::system()
    }
}

impl fmt::Debug for WallClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WallClock({} ms)", self.now_ms())
    }
}

/// The adapter's tunables.
#[derive(Debug, Clone)]
pub struct MesharaConfig {
    /// How old a contact may be (default 2 h) and how far in the future
    /// (default 10 min).
    pub freshness: Freshness,
    /// How long a lookup that found nothing is remembered. Default 30 s:
    /// long enough to absorb a burst of messages to an unknown node, short
    /// enough that a node that just advertised is found soon.
    pub negative_cache_ttl: Duration,
    /// How long a contact offered by local discovery (mDNS) is kept.
    /// Default 5 min (mDNS re-announces every 30 s).
    pub offered_contact_ttl: Duration,
    /// Most destinations cached. Default 4096.
    pub cache_capacity: usize,
    /// Most providers resolved by one [`MesharaDht::find_providers`].
    /// Default 20 (= k).
    pub max_providers: usize,
    /// Wall clock. Default [`WallClock::system`].
    pub clock: WallClock,
}

impl Default for MesharaConfig {
    fn default() -> Self {
        MesharaConfig {
            freshness: Freshness::default(),
            negative_cache_ttl: Duration::from_secs(30),
            offered_contact_ttl: Duration::from_secs(5 * 60),
            cache_capacity: 4096,
            max_providers: 20,
            clock: WallClock::system(),
        }
    }
}

/// The adapter's counters, for [`MesharaDht::stats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MesharaStats {
    /// Contact or authority records the DHT stored.
    pub advertisements_ok: u64,
    /// Advertisements that failed.
    pub advertisements_failed: u64,
    /// Bootstraps that succeeded.
    pub bootstraps_ok: u64,
    /// Bootstraps that failed.
    pub bootstraps_failed: u64,
    /// DHT queries made to find something (contacts, authorities,
    /// providers, bindings).
    pub lookups: u64,
    /// Callers that waited for a lookup another caller had started, instead
    /// of querying themselves.
    pub lookups_shared: u64,
    /// Contact requests answered from the cache (contact or recent miss).
    pub cache_hits: u64,
    /// Contact requests the cache could not answer.
    pub cache_misses: u64,
    /// Records found but not believed (forged, stale, malformed).
    pub records_rejected: u64,
    /// Connections where the peer did not prove the expected key.
    pub key_mismatches: u64,
    /// Messages sent along a local route.
    pub routed_local: u64,
    /// Messages sent to a contact found through the DHT.
    pub routed_dht: u64,
}

#[derive(Debug, Default)]
struct Counters {
    advertisements_ok: AtomicU64,
    advertisements_failed: AtomicU64,
    bootstraps_ok: AtomicU64,
    bootstraps_failed: AtomicU64,
    lookups: AtomicU64,
    lookups_shared: AtomicU64,
    cache_hits: AtomicU64,
    cache_misses: AtomicU64,
    records_rejected: AtomicU64,
    key_mismatches: AtomicU64,
    routed_local: AtomicU64,
    routed_dht: AtomicU64,
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

/// One lookup's outcome, shared with every caller that waited for it.
type SharedLookup = Option<Result<Option<ContactInfo>, LookupError>>;

#[derive(Debug, Default)]
struct PublishState {
    /// The last sequence number used; the next is higher.
    last_seq: u64,
    /// Whether this node advertises itself as an authority too.
    authority: bool,
    /// Whether the DHT-node-to-Meshara binding was stored.
    binding_published: bool,
}

struct Inner {
    dht: Dht,
    signer: Arc<dyn Signer>,
    config: MesharaConfig,
    id: MesharaId,
    public_key: MesharaKey,
    cache: Mutex<ContactCache>,
    inflight: Mutex<HashMap<MesharaId, watch::Receiver<SharedLookup>>>,
    publish: Mutex<PublishState>,
    counters: Counters,
}

/// A DHT node that speaks Meshara: it advertises this node's contact under
/// its Meshara id and finds (verified) contacts of others. Cheap to clone.
///
/// | method | what |
/// |---|---|
/// | [`advertise_self`](Self::advertise_self), [`advertise_authority`](Self::advertise_authority), [`announce_content`](Self::announce_content) | publish |
/// | [`find_peer`](Self::find_peer) (cached, shared), [`lookup_peer`](Self::lookup_peer), [`find_authority`](Self::find_authority), [`find_providers`](Self::find_providers) | look up, verified |
/// | [`route`](Self::route) / [`super::route_with_dht`] | local route, else DHT, else no route |
/// | [`spawn_maintenance`](Self::spawn_maintenance) | re-advertise, bootstrap |
/// | [`offer_contact`](Self::offer_contact) | feed a local-discovery (mDNS) contact |
#[derive(Clone)]
pub struct MesharaDht {
    inner: Arc<Inner>,
}

impl fmt::Debug for MesharaDht {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MesharaDht")
            .field("meshara_id", &Hex(&self.inner.id))
            .field("dht_node", &self.inner.dht.node_id())
            .finish_non_exhaustive()
    }
}

/// Removes a lookup from the in-flight map when its leader finishes or is
/// cancelled.
struct InflightGuard<'a> {
    map: &'a Mutex<HashMap<MesharaId, watch::Receiver<SharedLookup>>>,
    id: MesharaId,
}

impl Drop for InflightGuard<'_> {
    fn drop(&mut self) {
        lock(self.map).remove(&self.id);
    }
}

impl MesharaDht {
    /// An adapter over `dht` for the Meshara identity held by `signer`,
    /// with the default configuration.
    pub fn new(dht: Dht, signer: Arc<dyn Signer>) -> Self {
        Self::with_config(dht, signer, MesharaConfig::default())
    }

    /// An adapter with `config`.
    pub fn with_config(dht: Dht, signer: Arc<dyn Signer>, config: MesharaConfig) -> Self {
        let public_key = signer.public_key();
        MesharaDht {
            inner: Arc::new(Inner {
                dht,
                id: meshara_id_of(&public_key),
                public_key,
                cache: Mutex::new(ContactCache::new(config.cache_capacity)),
                inflight: Mutex::new(HashMap::new()),
                publish: Mutex::new(PublishState::default()),
                counters: Counters::default(),
                signer,
                config,
            }),
        }
    }

    /// The DHT handle underneath.
    pub fn dht(&self) -> &Dht {
        &self.inner.dht
    }

    /// This node's Meshara id.
    pub fn meshara_id(&self) -> MesharaId {
        self.inner.id
    }

    /// This node's Meshara key.
    pub fn public_key(&self) -> MesharaKey {
        self.inner.public_key
    }

    /// The configuration.
    pub fn config(&self) -> &MesharaConfig {
        &self.inner.config
    }

    fn now_ms(&self) -> u64 {
        self.inner.config.clock.now_ms()
    }

    /// A sequence number (= timestamp) above every one used before.
    pub(super) fn next_seq(&self) -> u64 {
        let now = self.now_ms();
        let mut p = lock(&self.inner.publish);
        let seq = now.max(p.last_seq.saturating_add(1));
        p.last_seq = seq;
        seq
    }

    // ----- publishing ----------------------------------------------------

    /// Publishes this node's contact (`addresses`, its key, now) under its
    /// Meshara id, replacing any older one. The DHT node republishes it
    /// until [`MesharaDht::stop_advertising`]; readers consider it stale
    /// after `freshness.max_age`, so call this again (or run
    /// [`MesharaDht::spawn_maintenance`]) at least that often.
    pub async fn advertise_self(
        &self,
        addresses: &[SocketAddr],
    ) -> Result<PutReport, AdvertiseError> {
        self.advertise(CONTACT_SALT, addresses).await
    }

    /// Publishes this node as an authority reachable at `addresses` (the
    /// same record format under the salt `authority`); maintenance then
    /// re-advertises it with the contact.
    pub async fn advertise_authority(
        &self,
        addresses: &[SocketAddr],
    ) -> Result<PutReport, AdvertiseError> {
        lock(&self.inner.publish).authority = true;
        self.advertise(AUTHORITY_SALT, addresses).await
    }

    pub(crate) fn advertises_authority(&self) -> bool {
        lock(&self.inner.publish).authority
    }

    async fn advertise(
        &self,
        salt: &'static [u8],
        addresses: &[SocketAddr],
    ) -> Result<PutReport, AdvertiseError> {
        let result = self.try_advertise(salt, addresses).await;
        let c = &self.inner.counters;
        match &result {
            Ok(report) => {
                bump(&c.advertisements_ok);
                tracing::debug!(
                    id = %Hex(&self.inner.id),
                    salt = %String::from_utf8_lossy(salt),
                    stored = report.stored,
                    ?addresses,
                    "advertised"
                );
            }
            Err(e) => {
                bump(&c.advertisements_failed);
                tracing::warn!(id = %Hex(&self.inner.id), error = %e, "advertisement failed");
            }
        }
        result
    }

    async fn try_advertise(
        &self,
        salt: &[u8],
        addresses: &[SocketAddr],
    ) -> Result<PutReport, AdvertiseError> {
        let info = ContactInfo::new(addresses.to_vec(), self.inner.public_key, self.next_seq())?;
        let record = sign_contact(&*self.inner.signer, salt, &info)?;
        Ok(self.inner.dht.put_mutable(record).await?)
    }

    /// Stops republishing this node's contact and authority records; they
    /// disappear from the DHT when their TTL runs out.
    pub async fn stop_advertising(&self) -> Result<(), DhtError> {
        lock(&self.inner.publish).authority = false;
        self.inner
            .dht
            .stop_publishing(contact_key(&self.inner.id))
            .await?;
        self.inner
            .dht
            .stop_publishing(authority_key(&self.inner.id))
            .await
    }

    /// Runs a bootstrap of the DHT node (from its configured addresses, or
    /// a refresh from its table) and counts the outcome.
    pub async fn bootstrap(&self) -> Result<BootstrapReport, DhtError> {
        let result = self.inner.dht.bootstrap().await;
        match &result {
            Ok(r) => {
                bump(&self.inner.counters.bootstraps_ok);
                tracing::debug!(table = r.table_size, "bootstrapped");
            }
            Err(e) => {
                bump(&self.inner.counters.bootstraps_failed);
                tracing::warn!(error = %e, "bootstrap failed");
            }
        }
        result
    }

    // ----- looking up ----------------------------------------------------

    /// The verified contact of Meshara node `id`: from the cache when it
    /// has one (or a recent miss), else from one DHT lookup shared with
    /// every concurrent caller asking for the same `id`.
    pub async fn find_peer(&self, id: &MesharaId) -> Result<Option<ContactInfo>, LookupError> {
        Ok(self.resolve(id).await?.map(|(info, _)| info))
    }

    /// Like [`MesharaDht::find_peer`], also saying whether the contact came
    /// from the cache.
    pub(crate) async fn resolve(
        &self,
        id: &MesharaId,
    ) -> Result<Option<(ContactInfo, bool)>, LookupError> {
        let now = self.now_ms();
        let cached = lock(&self.inner.cache).get(id, now);
        match cached {
            Some(Cached::Found(info)) => {
                bump(&self.inner.counters.cache_hits);
                return Ok(Some((info, true)));
            }
            Some(Cached::Missing) => {
                bump(&self.inner.counters.cache_hits);
                return Ok(None);
            }
            None => bump(&self.inner.counters.cache_misses),
        }
        Ok(self.lookup_shared(id).await?.map(|info| (info, false)))
    }

    /// One DHT lookup per `id` at a time: the first caller queries, later
    /// ones wait for its outcome.
    async fn lookup_shared(&self, id: &MesharaId) -> Result<Option<ContactInfo>, LookupError> {
        loop {
            let leader = {
                let mut map = lock(&self.inner.inflight);
                match map.get(id) {
                    Some(rx) => Err(rx.clone()),
                    None => {
                        let (tx, rx) = watch::channel(None);
                        map.insert(*id, rx);
                        Ok(tx)
                    }
                }
            };
            match leader {
                Ok(tx) => {
                    let guard = InflightGuard {
                        map: &self.inner.inflight,
                        id: *id,
                    };
                    let result = self.lookup_peer(id).await;
                    let _ = tx.send(Some(result.clone()));
                    drop(guard);
                    return result;
                }
                Err(mut rx) => {
                    bump(&self.inner.counters.lookups_shared);
                    let shared = rx
                        .wait_for(Option::is_some)
                        .await
                        .ok()
                        .and_then(|v| v.clone());
                    if let Some(result) = shared {
                        return result;
                    }
                    // The leader was cancelled before it finished: retry.
                }
            }
        }
    }

    /// Queries the DHT for `id`'s contact now (no cache read), verifies it,
    /// and caches the outcome.
    pub async fn lookup_peer(&self, id: &MesharaId) -> Result<Option<ContactInfo>, LookupError> {
        bump(&self.inner.counters.lookups);
        let record = self.inner.dht.get_mutable(contact_key(id)).await?;
        let now = self.now_ms();
        let found = record.and_then(|r| self.believe(&r, id, CONTACT_SALT, now));
        let mut cache = lock(&self.inner.cache);
        match &found {
            Some(info) => cache.insert_found(
                *id,
                info.clone(),
                info.expires_at(self.inner.config.freshness.max_age),
                now,
            ),
            None => cache.insert_missing(
                *id,
                now.saturating_add(millis(self.inner.config.negative_cache_ttl)),
                now,
            ),
        }
        Ok(found)
    }

    /// The verified authority record of `id` (not cached).
    pub async fn find_authority(&self, id: &MesharaId) -> Result<Option<ContactInfo>, LookupError> {
        bump(&self.inner.counters.lookups);
        let record = self.inner.dht.get_mutable(authority_key(id)).await?;
        let now = self.now_ms();
        Ok(record.and_then(|r| self.believe(&r, id, AUTHORITY_SALT, now)))
    }

    fn believe(
        &self,
        record: &crate::record::SignedRecord,
        id: &MesharaId,
        salt: &[u8],
        now: u64,
    ) -> Option<ContactInfo> {
        match verify_contact(record, id, salt, now, &self.inner.config.freshness) {
            Ok(info) => Some(info),
            Err(e) => {
                bump(&self.inner.counters.records_rejected);
                tracing::debug!(id = %Hex(id), error = %e, "contact record not believed");
                None
            }
        }
    }

    // ----- the cache -----------------------------------------------------

    /// Offers a contact found by local discovery (Meshara's mDNS gives a
    /// node id, a 64-byte key and an address). Accepted only if
    /// `BLAKE3(public_key) == id`; it is an unsigned hint, so it is kept
    /// for `offered_contact_ttl` and, like any contact, used only after the
    /// connection proves the key. Never blocks (callable from mDNS's
    /// synchronous callback). Returns whether it was accepted.
    pub fn offer_contact(&self, id: &MesharaId, public_key: &MesharaKey, addr: SocketAddr) -> bool {
        if meshara_id_of(public_key) != *id || *id == self.inner.id {
            return false;
        }
        let now = self.now_ms();
        let info = ContactInfo {
            addresses: vec![addr],
            public_key: *public_key,
            advertised_at: now,
        };
        let expires = now.saturating_add(millis(self.inner.config.offered_contact_ttl));
        lock(&self.inner.cache).insert_found(*id, info, expires, now);
        true
    }

    /// The cached contact of `id`, if any (no lookup).
    pub fn cached_contact(&self, id: &MesharaId) -> Option<ContactInfo> {
        match lock(&self.inner.cache).get(id, self.now_ms()) {
            Some(Cached::Found(info)) => Some(info),
            _ => None,
        }
    }

    /// Drops whatever is cached about `id`.
    pub fn forget_peer(&self, id: &MesharaId) {
        lock(&self.inner.cache).remove(id);
    }

    /// Drops the cached contact of `id` if it is still `info`.
    pub(crate) fn forget_contact(&self, id: &MesharaId, info: &ContactInfo) {
        lock(&self.inner.cache).remove_if(id, info);
    }

    // ----- for the other files of the adapter ----------------------------

    pub(super) fn signer(&self) -> &dyn Signer {
        &*self.inner.signer
    }

    pub(super) fn binding_published(&self) -> bool {
        lock(&self.inner.publish).binding_published
    }

    pub(super) fn set_binding_published(&self) {
        lock(&self.inner.publish).binding_published = true;
    }

    pub(super) fn note_lookup(&self) {
        bump(&self.inner.counters.lookups);
    }

    pub(super) fn note_rejected(&self) {
        bump(&self.inner.counters.records_rejected);
    }

    // ----- counters ------------------------------------------------------

    pub(crate) fn note_key_mismatch(&self) {
        bump(&self.inner.counters.key_mismatches);
    }

    pub(crate) fn note_routed(&self, local: bool) {
        let c = &self.inner.counters;
        bump(if local {
            &c.routed_local
        } else {
            &c.routed_dht
        });
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> MesharaStats {
        let c = &self.inner.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        MesharaStats {
            advertisements_ok: get(&c.advertisements_ok),
            advertisements_failed: get(&c.advertisements_failed),
            bootstraps_ok: get(&c.bootstraps_ok),
            bootstraps_failed: get(&c.bootstraps_failed),
            lookups: get(&c.lookups),
            lookups_shared: get(&c.lookups_shared),
            cache_hits: get(&c.cache_hits),
            cache_misses: get(&c.cache_misses),
            records_rejected: get(&c.records_rejected),
            key_mismatches: get(&c.key_mismatches),
            routed_local: get(&c.routed_local),
            routed_dht: get(&c.routed_dht),
        }
    }
}
