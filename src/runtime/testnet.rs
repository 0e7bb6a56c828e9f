//! A local network of real nodes on loopback UDP, bootstrapped to each
//! other: for tests, examples and docs.

use std::net::SocketAddr;

use super::Dht;
use super::DhtError;
use crate::config::Config;
use crate::identity::Identity;

/// `n` nodes on 127.0.0.1 (or `::1`), each bootstrapped from the first.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), meshara_dht::error::DhtError> {
/// let net = meshara_dht::runtime::Testnet::new(8).await?;
/// let record = net.nodes[3].sign("", 1, "hello")?;
/// let key = record.key();
/// net.nodes[3].put_mutable(record).await?;
/// let found = net.nodes[6].get_mutable(key).await?.expect("found");
/// assert_eq!(&found.value[..], b"hello");
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Testnet {
    /// The nodes; `nodes[0]` is the bootstrap node.
    pub nodes: Vec<Dht>,
}

impl Testnet {
    /// `n` IPv4 loopback nodes with [`Config::local`] and deterministic
    /// identities.
    pub async fn new(n: usize) -> Result<Self, DhtError> {
        Self::with(n, SocketAddr::from(([127, 0, 0, 1], 0)), Config::local(), 0).await
    }

    /// `n` nodes bound to `bind` (port 0 for free ports), with `config`;
    /// identities and RNGs derive from `seed`.
    pub async fn with(
        n: usize,
        bind: SocketAddr,
        config: Config,
        seed: u64,
    ) -> Result<Self, DhtError> {
        let mut nodes: Vec<Dht> = Vec::with_capacity(n);
        for i in 0..n as u64 {
            let mut builder = Dht::builder()
                .bind(bind)
                .config(config.clone())
                .identity(Identity::from_seed(
                    seed.wrapping_mul(1_000_003).wrapping_add(i + 1),
                ))
                .seed(seed.wrapping_add(i));
            if let Some(first) = nodes.first() {
                builder = builder.bootstrap([first.local_addr()]);
            }
            let node = builder.spawn().await?;
            if i > 0 {
                node.bootstrap().await?;
            }
            nodes.push(node);
        }
        // The first nodes joined a small network: let them learn the rest.
        // Node 0 joined nobody, so it looks itself up through node 1.
        let settle = n.min(config.k);
        for (i, node) in nodes.iter().enumerate().take(settle) {
            let through = match (i, nodes.get(1)) {
                (0, Some(second)) => vec![second.local_addr()],
                _ => Vec::new(),
            };
            node.bootstrap_from(through).await?;
        }
        Ok(Testnet { nodes })
    }

    /// The bootstrap node's address.
    pub fn bootstrap_addr(&self) -> Option<SocketAddr> {
        self.nodes.first().map(Dht::local_addr)
    }

    /// Shuts every node down.
    pub async fn shutdown(&self) {
        for n in &self.nodes {
            n.shutdown().await;
        }
    }
}
