//! The tokio driver: one task owns a UDP socket and a [`crate::node::Node`] engine and
//! takes commands from cheap-to-clone [`Dht`] handles over a channel.
//!
//! No protocol logic lives here: the driver moves datagrams between the
//! socket and the engine, arms the engine's timer, and routes finished
//! queries back to the callers. Dropping the last [`Dht`] handle (or calling
//! [`Dht::shutdown`]) ends the task.

mod driver;
mod error;
mod testnet;

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};

use crate::config::Config;
use crate::id::{Key, NodeId};
use crate::identity::Identity;
use crate::node::{NodeStats, QueryOutcome, QueryStats};
pub use crate::node::{QueryOptions, QueryRequest};
use crate::record::{ImmutableRecord, Record, SignedRecord};
use crate::wire::Contact;

pub use error::DhtError;
pub use testnet::Testnet;

/// Commands from handles to the driver task.
#[derive(Debug)]
enum Command {
    Query {
        request: Box<QueryRequest>,
        options: QueryOptions,
        reply: oneshot::Sender<Result<(QueryOutcome, QueryStats), DhtError>>,
    },
    RoutingTable(oneshot::Sender<Vec<Contact>>),
    Stats(oneshot::Sender<DhtStats>),
    StopPublishing(Key),
    Shutdown(oneshot::Sender<()>),
}

/// A snapshot of a node's counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DhtStats {
    /// The engine's counters.
    pub node: NodeStats,
    /// Contacts in the routing table.
    pub routing_table_size: usize,
    /// Records stored for others.
    pub records_stored: usize,
    /// Provider entries stored.
    pub providers_stored: usize,
    /// Queries in progress.
    pub active_queries: usize,
    /// Datagrams the socket failed to send.
    pub send_errors: u64,
}

/// The result of a put: where the record went and what it cost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutReport {
    /// The key written.
    pub key: Key,
    /// Nodes that accepted the record.
    pub stored: usize,
    /// Lookup and store cost.
    pub stats: QueryStats,
}

/// The result of a bootstrap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BootstrapReport {
    /// Bootstrap addresses that answered and proved their key.
    pub reached: usize,
    /// Routing-table size afterwards.
    pub table_size: usize,
    /// Cost.
    pub stats: QueryStats,
}

/// Builds and spawns a node; see [`Dht::builder`].
#[derive(Debug)]
pub struct DhtBuilder {
    bind: SocketAddr,
    bootstrap: Vec<String>,
    identity: Option<Identity>,
    config: Config,
    seed: Option<u64>,
}

impl DhtBuilder {
    /// The UDP address to bind. Default `0.0.0.0:0` (any interface, a free
    /// port); use `[::]:0` for IPv6.
    pub fn bind(mut self, addr: SocketAddr) -> Self {
        self.bind = addr;
        self
    }

    /// Bootstrap addresses as `host:port` strings (host names are resolved
    /// at each bootstrap) or socket addresses.
    pub fn bootstrap<I, S>(mut self, addrs: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: ToString,
    {
        self.bootstrap = addrs.into_iter().map(|a| a.to_string()).collect();
        self
    }

    /// The node's identity. Default: a fresh random one.
    pub fn identity(mut self, identity: Identity) -> Self {
        self.identity = Some(identity);
        self
    }

    /// All tunables. Default [`Config::default`].
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// Client mode: the node queries but answers nothing and never enters
    /// other nodes' routing tables.
    pub fn client_mode(mut self, on: bool) -> Self {
        self.config.client_mode = on;
        self
    }

    /// Seed of the engine's RNG (transaction ids, nonces, refresh targets).
    /// Default: from the OS.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Binds the socket and starts the node's task. Does not bootstrap:
    /// call [`Dht::bootstrap`].
    pub async fn spawn(self) -> Result<Dht, DhtError> {
        self.config.validate()?;
        let socket = tokio::net::UdpSocket::bind(self.bind)
            .await
            .map_err(|source| DhtError::Bind {
                addr: self.bind,
                source,
            })?;
        let local_addr = socket.local_addr().map_err(|source| DhtError::Bind {
            addr: self.bind,
            source,
        })?;
        let identity = match self.identity {
            Some(i) => i,
            None => Identity::generate(&mut rand::rngs::OsRng),
        };
        let seed = self.seed.unwrap_or_else(rand::random);
        let (tx, rx) = mpsc::channel(1024);
        let shared = Arc::new(Shared {
            local_addr,
            identity: identity.clone(),
            bootstrap: self.bootstrap,
        });
        driver::spawn(socket, identity, self.config, seed, rx);
        Ok(Dht { tx, shared })
    }
}

#[derive(Debug)]
struct Shared {
    local_addr: SocketAddr,
    identity: Identity,
    bootstrap: Vec<String>,
}

/// A handle to a running DHT node: `Clone + Send + Sync`, cheap to clone.
/// The node stops when the last handle is dropped or on [`Dht::shutdown`].
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), meshara_dht::error::DhtError> {
/// use meshara_dht::{runtime::Dht, Config};
///
/// let a = Dht::builder().bind("127.0.0.1:0".parse().unwrap()).config(Config::local()).spawn().await?;
/// let b = Dht::builder()
///     .bind("127.0.0.1:0".parse().unwrap())
///     .config(Config::local())
///     .bootstrap([a.local_addr()])
///     .spawn()
///     .await?;
/// b.bootstrap().await?;
/// let report = b.put_immutable(&b"hello"[..]).await?;
/// assert_eq!(a.get_immutable(report.key).await?.as_deref(), Some(&b"hello"[..]));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Dht {
    tx: mpsc::Sender<Command>,
    shared: Arc<Shared>,
}

impl Dht {
    /// A builder with the defaults.
    pub fn builder() -> DhtBuilder {
        DhtBuilder {
            bind: SocketAddr::from(([0, 0, 0, 0], 0)),
            bootstrap: Vec::new(),
            identity: None,
            config: Config::default(),
            seed: None,
        }
    }

    /// The bound UDP address.
    pub fn local_addr(&self) -> SocketAddr {
        self.shared.local_addr
    }

    /// This node's id.
    pub fn node_id(&self) -> NodeId {
        self.shared.identity.node_id()
    }

    /// This node's identity (to sign its own records).
    pub fn identity(&self) -> &Identity {
        &self.shared.identity
    }

    async fn call<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, DhtError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(make(reply))
            .await
            .map_err(|_| DhtError::Shutdown)?;
        rx.await.map_err(|_| DhtError::Shutdown)
    }

    /// Runs any query and returns its raw outcome and cost.
    pub async fn query(
        &self,
        request: QueryRequest,
    ) -> Result<(QueryOutcome, QueryStats), DhtError> {
        self.query_with(request, QueryOptions::default()).await
    }

    /// Runs any query with per-query options (e.g. disjoint paths).
    pub async fn query_with(
        &self,
        request: QueryRequest,
        options: QueryOptions,
    ) -> Result<(QueryOutcome, QueryStats), DhtError> {
        self.call(|reply| Command::Query {
            request: Box::new(request),
            options,
            reply,
        })
        .await?
    }

    /// Joins the network through the builder's bootstrap addresses (host
    /// names resolved now).
    pub async fn bootstrap(&self) -> Result<BootstrapReport, DhtError> {
        let addrs = resolve(&self.shared.bootstrap).await?;
        self.bootstrap_from(addrs).await
    }

    /// Joins the network through `addrs`. With no address, it refreshes
    /// from the routing table alone.
    pub async fn bootstrap_from(
        &self,
        addrs: Vec<SocketAddr>,
    ) -> Result<BootstrapReport, DhtError> {
        let tried = addrs.len();
        match self.query(QueryRequest::Bootstrap(addrs)).await? {
            (
                QueryOutcome::Bootstrap {
                    reached,
                    table_size,
                },
                stats,
            ) => {
                if tried > 0 && reached == 0 && table_size == 0 {
                    return Err(DhtError::BootstrapFailed { tried });
                }
                Ok(BootstrapReport {
                    reached,
                    table_size,
                    stats,
                })
            }
            _ => Err(DhtError::Shutdown),
        }
    }

    /// The k nodes closest to `target` that answered, closest first.
    pub async fn find_node(&self, target: NodeId) -> Result<Vec<Contact>, DhtError> {
        match self.query(QueryRequest::FindNode(target)).await? {
            (QueryOutcome::FindNode { closest }, _) => Ok(closest),
            _ => Err(DhtError::Shutdown),
        }
    }

    /// Stores `value` under `SHA-1(value)` on the k closest nodes and keeps
    /// republishing it.
    pub async fn put_immutable(&self, value: impl Into<Bytes>) -> Result<PutReport, DhtError> {
        let record = Record::Immutable(ImmutableRecord::new(value)?);
        self.put(record).await
    }

    /// Stores a signed record on the k closest nodes and keeps republishing
    /// it. Build one with [`SignedRecord::sign_ed25519`] or
    /// [`Dht::sign`].
    pub async fn put_mutable(&self, record: SignedRecord) -> Result<PutReport, DhtError> {
        self.put(Record::Mutable(record)).await
    }

    /// Signs `value` as this node's record under `salt` (key =
    /// `SHA-1(public key || salt)`; the node id for an empty salt).
    pub fn sign(
        &self,
        salt: impl Into<Bytes>,
        seq: u64,
        value: impl Into<Bytes>,
    ) -> Result<SignedRecord, DhtError> {
        Ok(SignedRecord::sign_ed25519(
            self.shared.identity.signing_key(),
            salt,
            seq,
            value,
        )?)
    }

    async fn put(&self, record: Record) -> Result<PutReport, DhtError> {
        record.verify()?;
        self.store_query(QueryRequest::Put(record)).await
    }

    /// Runs a put or add-provider query; no node storing it is an error.
    async fn store_query(&self, request: QueryRequest) -> Result<PutReport, DhtError> {
        match self.query(request).await? {
            (
                QueryOutcome::Put {
                    key,
                    stored,
                    refused,
                    failed,
                },
                stats,
            ) => {
                if stored == 0 {
                    return Err(DhtError::NotStored { refused, failed });
                }
                Ok(PutReport { key, stored, stats })
            }
            _ => Err(DhtError::Shutdown),
        }
    }

    /// The value stored under `key` (= SHA-1 of the value), if any node has
    /// it.
    pub async fn get_immutable(&self, key: Key) -> Result<Option<Bytes>, DhtError> {
        match self.query(QueryRequest::GetImmutable(key)).await? {
            (QueryOutcome::Get { record, .. }, _) => Ok(record.map(|r| r.value().clone())),
            _ => Err(DhtError::Shutdown),
        }
    }

    /// The highest-sequence valid signed record under `key`, if any.
    pub async fn get_mutable(&self, key: Key) -> Result<Option<SignedRecord>, DhtError> {
        match self.query(QueryRequest::GetMutable(key)).await? {
            (QueryOutcome::Get { record, .. }, _) => Ok(match record {
                Some(Record::Mutable(r)) => Some(r),
                _ => None,
            }),
            _ => Err(DhtError::Shutdown),
        }
    }

    /// Announces this node as a provider of `key` and keeps re-announcing.
    pub async fn add_provider(&self, key: Key) -> Result<PutReport, DhtError> {
        self.store_query(QueryRequest::AddProvider(key)).await
    }

    /// The providers of `key` found among the k closest nodes.
    pub async fn get_providers(&self, key: Key) -> Result<Vec<Contact>, DhtError> {
        match self.query(QueryRequest::GetProviders(key)).await? {
            (QueryOutcome::Providers { providers }, _) => Ok(providers),
            _ => Err(DhtError::Shutdown),
        }
    }

    /// Stops republishing `key`; the record expires from the DHT after its
    /// TTL.
    pub async fn stop_publishing(&self, key: Key) -> Result<(), DhtError> {
        self.tx
            .send(Command::StopPublishing(key))
            .await
            .map_err(|_| DhtError::Shutdown)
    }

    /// A snapshot of the routing table's contacts.
    pub async fn routing_table(&self) -> Result<Vec<Contact>, DhtError> {
        self.call(Command::RoutingTable).await
    }

    /// The node's counters.
    pub async fn stats(&self) -> Result<DhtStats, DhtError> {
        self.call(Command::Stats).await
    }

    /// Stops the node (for every handle) and waits for its task to end.
    pub async fn shutdown(&self) {
        let _ = self.call(Command::Shutdown).await;
    }
}

/// Resolves `host:port` strings (or literal socket addresses).
pub async fn resolve(addrs: &[String]) -> Result<Vec<SocketAddr>, DhtError> {
    let mut out = Vec::new();
    for host in addrs {
        if let Ok(a) = host.parse::<SocketAddr>() {
            out.push(a);
            continue;
        }
        let found = tokio::net::lookup_host(host.as_str())
            .await
            .map_err(|source| DhtError::Resolve {
                host: host.clone(),
                source,
            })?;
        out.extend(found);
    }
    out.sort();
    out.dedup();
    Ok(out)
}
