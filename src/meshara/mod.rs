//! The adapter into Meshara's Router (feature `meshara`): Meshara ids,
//! signed contact records, verified lookups, routing through the DHT, and
//! the maintenance task.
//!
//! This module owns the meeting point of the two identities: a DHT node id
//! is SHA-1 of an ed25519 key, a Meshara id is BLAKE3 of a 64-byte key
//! (ed25519 || x25519). It never trusts a DHT answer as identity: records
//! are verified on read, and a found contact is only a hint until the
//! connection proves the key ([`Connector`]'s contract). It depends on no
//! Meshara crate: Meshara implements small traits ([`Signer`],
//! [`LocalRoutes`], and [`Dialer`] + [`Channel`] for [`ProvenConnector`], or
//! [`Connector`] + [`PeerConn`] directly) for its own types;
//! `docs/MESHARA.md` shows the glue, compiled in `meshara-glue/`.
//!
//! | item | role |
//! |---|---|
//! | [`MesharaDht`] | advertise / find contacts, authorities, content providers; cache; stats |
//! | [`route_with_dht`] | local route, else DHT contact + key proof, else [`RouteError::NoRouteToDestination`] |
//! | [`spawn_maintenance`] / [`MesharaDht::spawn_maintenance`] | hourly re-advertisement, bootstrap every 5 min, backoff |
//! | [`Signer`], [`LocalRoutes`], [`Connector`], [`PeerConn`] | what the router implements |
//! | [`ProvenConnector`] over [`Dialer`] + [`Channel`] | a [`Connector`] from a router's plain transport: key proof, pool, dead-connection recovery |
//! | [`ContactInfo`], [`verify_contact`], [`MesharaBinding`] | record formats and checks |
//! | [`TcpConnector`], [`TcpEndpoint`], [`KeySigner`], [`MapRoutes`] | reference implementations (TCP with a mutual key proof) |
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use meshara_dht::meshara::{KeySigner, MapRoutes, MesharaDht, Signer, TcpConfig, TcpEndpoint};
//! use meshara_dht::runtime::Testnet;
//!
//! let net = Testnet::new(10).await?;
//! let alice_key: Arc<dyn Signer> = Arc::new(KeySigner::from_seed(1));
//! let bob_key: Arc<dyn Signer> = Arc::new(KeySigner::from_seed(2));
//! let mut alice_tcp = TcpEndpoint::bind("127.0.0.1:0".parse()?, alice_key.clone(), TcpConfig::default()).await?;
//! let alice = MesharaDht::new(net.nodes[1].clone(), alice_key);
//! alice.advertise_self(&[alice_tcp.local_addr()]).await?;
//!
//! let bob = MesharaDht::new(net.nodes[7].clone(), bob_key.clone());
//! let bob_tcp = TcpEndpoint::bind("127.0.0.1:0".parse()?, bob_key, TcpConfig::default()).await?;
//! bob.route(&MapRoutes::new(), &bob_tcp.connector(), &alice.meshara_id(), b"hi".to_vec()).await?;
//! assert_eq!(alice_tcp.recv().await.unwrap().payload, b"hi");
//! # Ok(()) }
//! ```

mod adapter;
mod cache;
mod contact;
mod content;
mod error;
mod hex;
mod maintenance;
mod proven;
mod reference;
mod route;
mod tcp;
mod traits;

use std::sync::{Mutex, MutexGuard, PoisonError};

pub use adapter::{MesharaConfig, MesharaDht, MesharaStats, WallClock};
pub use contact::{
    authority_key, contact_key, content_key, sign_contact, verify_contact,
    verify_meshara_signature, ContactError, ContactInfo, Freshness, MesharaBinding, AUTHORITY_SALT,
    BINDING_DOMAIN, CONTACT_SALT, CONTENT_KEY_DOMAIN, MAX_ADDRESSES,
};
pub use error::{AdvertiseError, LookupError, RouteError};
pub use maintenance::{
    spawn_maintenance, Maintain, MaintenanceConfig, MaintenanceError, MaintenanceHandle,
};
pub use proven::{
    answer_key_challenge, check_key_answer, Channel, ChannelError, Dialer, ProvenConfig,
    ProvenConn, ProvenConnector, ProvenError, CHANNEL_KEY_PROOF_DOMAIN, KEY_ANSWER_LEN,
};
pub use reference::{KeySigner, MapRoutes};
pub use route::{route_with_dht, Delivery};
pub use tcp::{Inbound, TcpConfig, TcpConn, TcpConnector, TcpEndpoint, TcpError, HANDSHAKE_DOMAIN};
pub use traits::{
    meshara_id_of, ConnectError, Connector, LocalRoutes, MesharaId, MesharaKey, PeerConn, Signer,
};

/// Locks a mutex, recovering the data if a panicking thread poisoned it
/// (every critical section here leaves the data consistent).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// `docs/MESHARA.md`, compiled as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../docs/MESHARA.md")]
struct MesharaGuide;

#[cfg(test)]
mod tests;
