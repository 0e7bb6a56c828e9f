//! The adapter's errors: advertising, looking up, routing.
//!
//! They live next to the adapter (not in `crate::error`) because
//! [`RouteError`] is generic over the router's transport error and the
//! whole module is behind the `meshara` feature.

use std::net::SocketAddr;
use std::sync::Arc;

use super::contact::ContactError;
use super::hex::Hex;
use super::traits::MesharaId;
use crate::error::DhtError;

/// Publishing a contact, authority or content announcement failed.
#[derive(Debug, thiserror::Error)]
pub enum AdvertiseError {
    /// The contact could not be built or signed (no address, too many...).
    #[error("invalid contact: {0}")]
    Contact(#[from] ContactError),
    /// The DHT did not store it.
    #[error("DHT: {0}")]
    Dht(#[from] DhtError),
}

/// A DHT lookup failed (not found is `Ok(None)`, not an error). Cheap to
/// clone, because one lookup's outcome is shared by every caller waiting
/// for the same destination.
#[derive(Debug, Clone, thiserror::Error)]
pub enum LookupError {
    /// The DHT query failed (the node shut down...).
    #[error("DHT: {0}")]
    Dht(Arc<DhtError>),
}

impl From<DhtError> for LookupError {
    fn from(e: DhtError) -> Self {
        LookupError::Dht(Arc::new(e))
    }
}

/// Why [`super::route_with_dht`] delivered nothing.
#[derive(Debug, thiserror::Error)]
pub enum RouteError<E> {
    /// No local route, and the DHT (if any) has no believable contact.
    #[error("no route to {}", Hex(.destination))]
    NoRouteToDestination {
        /// The destination.
        destination: MesharaId,
    },
    /// The contact's address is held by someone who could not prove the
    /// destination's key. Nothing was sent and the cached hint was dropped.
    #[error(
        "the peer at {addr} could not prove the key of {} (proved: {})",
        Hex(.destination),
        .proven.as_ref().map_or_else(|| "nothing".to_string(), |p| Hex(p).to_string())
    )]
    PeerKeyMismatch {
        /// The destination.
        destination: MesharaId,
        /// The address that failed the proof.
        addr: SocketAddr,
        /// The Meshara id of the key proved instead, if any.
        proven: Option<MesharaId>,
    },
    /// The DHT lookup failed.
    #[error("lookup: {0}")]
    Lookup(#[from] LookupError),
    /// Connecting or sending failed in the transport.
    #[error("transport: {0}")]
    Transport(#[source] E),
}
