//! Routing a message: the router's own table first, then a contact found
//! through the DHT, else [`RouteError::NoRouteToDestination`].
//!
//! The rule this file enforces: a DHT contact is a hint. The message goes
//! out only on a connection on which the peer proved the destination's
//! key; a peer at the advertised address that cannot is reported as
//! [`RouteError::PeerKeyMismatch`], its hint is dropped, and nothing is
//! sent.

use std::net::SocketAddr;

use super::adapter::MesharaDht;
use super::contact::ContactInfo;
use super::error::RouteError;
use super::hex::Hex;
use super::traits::{ConnectError, Connector, LocalRoutes, MesharaId, PeerConn};

/// How a message was delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Sent to the next hop of a local route (no DHT query was made).
    Local {
        /// The neighbour it was handed to.
        next_hop: MesharaId,
    },
    /// Sent directly to the destination, at an address found in the DHT
    /// (or the contact cache), after the peer proved its key.
    Dht {
        /// The address it went to.
        addr: SocketAddr,
    },
}

/// Routes `message` to `destination`:
///
/// 1. If `local` has a route and `connector` a live connection to its next
///    hop, send it there. No DHT query is made. (A route whose next hop
///    has no live connection counts as no route.)
/// 2. Else, with a `dht`, find the destination's verified contact (cache,
///    then one shared DHT lookup) and connect to its addresses in order;
///    the connector must prove the contact's key before anything is sent.
///    If a cached contact fails, one fresh lookup is made and a newer
///    contact tried.
/// 3. Else [`RouteError::NoRouteToDestination`].
///
/// A failed send is not retried on another address (the message may have
/// partly gone out; duplicates are worse than an error the caller sees).
pub async fn route_with_dht<L, C>(
    local: &L,
    connector: &C,
    dht: Option<&MesharaDht>,
    destination: &MesharaId,
    message: C::Msg,
) -> Result<Delivery, RouteError<C::Error>>
where
    L: LocalRoutes + ?Sized,
    C: Connector + ?Sized,
{
    if let Some(next_hop) = local.next_hop(destination) {
        if let Some(conn) = connector.direct(&next_hop) {
            conn.send(&message).await.map_err(RouteError::Transport)?;
            if let Some(dht) = dht {
                dht.note_routed(true);
            }
            tracing::trace!(dest = %Hex(destination), hop = %Hex(&next_hop), "sent on local route");
            return Ok(Delivery::Local { next_hop });
        }
        tracing::debug!(
            dest = %Hex(destination),
            hop = %Hex(&next_hop),
            "local route without a live connection; trying the DHT"
        );
    }
    let no_route = || RouteError::NoRouteToDestination {
        destination: *destination,
    };
    let Some(dht) = dht else {
        return Err(no_route());
    };
    let Some((info, cached)) = dht.resolve(destination).await? else {
        return Err(no_route());
    };
    let failure = match try_contact(connector, dht, destination, &info, &message).await {
        Ok(addr) => return Ok(delivered(dht, addr)),
        Err(f) => f,
    };
    dht.forget_contact(destination, &info);
    if cached {
        // The cached hint may be out of date: ask the DHT once more.
        if let Some(fresh) = dht.lookup_peer(destination).await? {
            if fresh.advertised_at > info.advertised_at {
                return match try_contact(connector, dht, destination, &fresh, &message).await {
                    Ok(addr) => Ok(delivered(dht, addr)),
                    Err(f) => {
                        dht.forget_contact(destination, &fresh);
                        Err(f.into_route_error(destination))
                    }
                };
            }
        }
    }
    Err(failure.into_route_error(destination))
}

fn delivered(dht: &MesharaDht, addr: SocketAddr) -> Delivery {
    dht.note_routed(false);
    Delivery::Dht { addr }
}

impl MesharaDht {
    /// [`route_with_dht`] with this adapter as the DHT.
    pub async fn route<L, C>(
        &self,
        local: &L,
        connector: &C,
        destination: &MesharaId,
        message: C::Msg,
    ) -> Result<Delivery, RouteError<C::Error>>
    where
        L: LocalRoutes + ?Sized,
        C: Connector + ?Sized,
    {
        route_with_dht(local, connector, Some(self), destination, message).await
    }
}

/// Why no address of a contact took the message.
struct Failure<E> {
    /// The last address where the peer did not prove the key.
    mismatch: Option<(SocketAddr, Option<MesharaId>)>,
    /// The last transport error.
    transport: Option<E>,
}

impl<E> Failure<E> {
    fn into_route_error(self, destination: &MesharaId) -> RouteError<E> {
        match (self.mismatch, self.transport) {
            (Some((addr, proven)), _) => RouteError::PeerKeyMismatch {
                destination: *destination,
                addr,
                proven,
            },
            (None, Some(e)) => RouteError::Transport(e),
            (None, None) => RouteError::NoRouteToDestination {
                destination: *destination,
            },
        }
    }
}

/// Connects to the contact's addresses in order until one proves the key,
/// and sends `message` there.
async fn try_contact<C: Connector + ?Sized>(
    connector: &C,
    dht: &MesharaDht,
    destination: &MesharaId,
    info: &ContactInfo,
    message: &C::Msg,
) -> Result<SocketAddr, Failure<C::Error>> {
    let mut failure = Failure {
        mismatch: None,
        transport: None,
    };
    for &addr in &info.addresses {
        match connector
            .get_or_connect(destination, addr, &info.public_key)
            .await
        {
            Ok(conn) => {
                return match conn.send(message).await {
                    Ok(()) => Ok(addr),
                    Err(e) => {
                        failure.transport = Some(e);
                        Err(failure)
                    }
                };
            }
            Err(ConnectError::KeyMismatch { addr, proven, .. }) => {
                dht.note_key_mismatch();
                tracing::warn!(
                    dest = %Hex(destination),
                    %addr,
                    proven = ?proven.as_ref().map(|p| Hex(p)),
                    "peer did not prove the destination's key; nothing sent"
                );
                failure.mismatch = Some((addr, proven));
            }
            Err(ConnectError::Transport(e)) => {
                tracing::debug!(dest = %Hex(destination), %addr, error = %e, "connect failed");
                failure.transport = Some(e);
            }
        }
    }
    Err(failure)
}
