//! `meshara-dht node`: a long-running node, for example a bootstrap node.
//!
//! It keeps its identity (`node.key`) and its routing table
//! (`routing.bin`, see [`crate::state`]) in the state directory. At start it
//! re-pings the saved contacts together with the bootstrap addresses, so a
//! restart does not need the bootstrap nodes; it advertises its address
//! under its own id (see [`crate::advert`]), prints a one-line status
//! every `--status-interval`, saves the routing table every
//! `--save-interval` and at shutdown, and stops cleanly on Ctrl-C or
//! SIGTERM.
//!
//! Lines meant for the operator (start, join, status, stop) go to stdout;
//! `tracing` logs go to stderr.

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::Args;
use meshara_dht::error::DhtError;
use meshara_dht::identity::Identity;
use meshara_dht::runtime::{Dht, DhtStats};

use crate::advert::NodeAdvert;
use crate::bootstrap;
use crate::error::CliError;
use crate::state::{self, Loaded, KEY_FILE, ROUTING_FILE};
use crate::Outcome;

/// Options of `meshara-dht node`.
#[derive(Debug, Args)]
pub(crate) struct NodeArgs {
    /// UDP address to listen on, e.g. 0.0.0.0:4500 or [::]:4500 (port 0
    /// picks a free port, printed at start).
    #[arg(long, value_name = "ADDR")]
    bind: SocketAddr,
    /// Bootstrap node as HOST:PORT (repeat the flag or separate with
    /// commas); MESHARA_DHT_BOOTSTRAP and <state-dir>/bootstrap.txt add more.
    #[arg(long, value_name = "ADDR", value_delimiter = ',')]
    bootstrap: Vec<String>,
    /// Directory for the key file, the saved routing table and
    /// bootstrap.txt. Default: $XDG_STATE_HOME/meshara-dht, else
    /// ~/.local/state/meshara-dht.
    #[arg(long, value_name = "DIR")]
    state_dir: Option<PathBuf>,
    /// Address to advertise under the node id (for a node behind NAT or
    /// port forwarding). Default: the bound address, or, when bound to a
    /// wildcard address, the local address that routes to the first
    /// contact.
    #[arg(long, value_name = "ADDR")]
    public_addr: Option<SocketAddr>,
    /// Seconds between status lines.
    #[arg(long, value_name = "SECS", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..))]
    status_interval: u64,
    /// Seconds between saves of the routing table.
    #[arg(long, value_name = "SECS", default_value_t = 60,
          value_parser = clap::value_parser!(u64).range(1..))]
    save_interval: u64,
}

/// The node's state-directory files and join targets.
struct NodeState {
    routing_file: PathBuf,
    bootstrap: Vec<String>,
    saved: Vec<SocketAddr>,
    advertised: bool,
    public_addr: Option<SocketAddr>,
}

pub(crate) async fn run(args: NodeArgs) -> Result<Outcome, CliError> {
    let mut signals = Signals::install();
    let dir = bootstrap::state_dir(args.state_dir.as_deref())?;
    bootstrap::create_state_dir(&dir)?;
    let key_file = dir.join(KEY_FILE);
    let (identity, created) = Identity::load_or_generate(&key_file, &mut rand::rngs::OsRng)?;
    if created {
        println!("created key file {}", key_file.display());
    }
    let routing_file = dir.join(ROUTING_FILE);
    let saved = load_saved(&routing_file)?;
    let bootstrap = bootstrap::gather(&args.bootstrap, &dir)?;

    let dht = Dht::builder()
        .bind(args.bind)
        .identity(identity)
        .spawn()
        .await?;
    println!(
        "node {} listening on {} (state in {})",
        dht.node_id(),
        dht.local_addr(),
        dir.display()
    );
    let mut node = NodeState {
        routing_file,
        bootstrap,
        saved,
        advertised: false,
        public_addr: args.public_addr,
    };
    if node.bootstrap.is_empty() && node.saved.is_empty() {
        println!(
            "no bootstrap address and no saved contacts: this node starts a new network \
             (others join with --bootstrap {})",
            dht.local_addr()
        );
        node.advertised = node.advertise(&dht).await;
    } else {
        node.join(&dht).await;
    }

    let mut status = tokio::time::interval(Duration::from_secs(args.status_interval));
    let mut save = tokio::time::interval(Duration::from_secs(args.save_interval));
    // Both intervals fire at once on their first tick: skip those.
    status.tick().await;
    save.tick().await;
    let mut last = (Instant::now(), dht.stats().await?);
    loop {
        tokio::select! {
            signal = signals.recv() => {
                println!("received {signal}, shutting down");
                break;
            }
            _ = status.tick() => {
                let stats = dht.stats().await?;
                println!("{}", status_line(&last.1, &stats, last.0.elapsed()));
                last = (Instant::now(), stats);
                if stats.routing_table_size == 0 && !node.targets_empty() {
                    node.join(&dht).await;
                }
            }
            _ = save.tick() => node.save(&dht).await,
        }
    }
    node.save(&dht).await;
    dht.shutdown().await;
    println!("stopped");
    Ok(Outcome::Done)
}

/// The saved contacts' addresses; a corrupt file is moved aside and
/// reported, and the node starts fresh.
fn load_saved(path: &Path) -> Result<Vec<SocketAddr>, CliError> {
    Ok(match state::load(path)? {
        Loaded::Missing => Vec::new(),
        Loaded::Contacts(contacts) => {
            println!(
                "loaded {} saved contacts from {}",
                contacts.len(),
                path.display()
            );
            contacts.into_iter().map(|c| c.addr).collect()
        }
        Loaded::Corrupt { reason, moved_to } => {
            println!(
                "routing table file {} is corrupt ({reason}); moved it to {} and starting \
                 without saved contacts",
                path.display(),
                moved_to.display()
            );
            Vec::new()
        }
    })
}

impl NodeState {
    fn targets_empty(&self) -> bool {
        self.bootstrap.is_empty() && self.saved.is_empty()
    }

    /// Pings the saved contacts and the bootstrap addresses (host names
    /// resolved now) and looks itself up; on success saves the table and
    /// advertises the node once.
    async fn join(&mut self, dht: &Dht) {
        let mut targets = self.saved.clone();
        match bootstrap::resolve_all(&self.bootstrap).await {
            Ok(found) => targets.extend(found),
            Err(e) => tracing::warn!("{e}"),
        }
        let own = dht.local_addr();
        targets.retain(|a| *a != own);
        targets.sort();
        targets.dedup();
        let tried = targets.len();
        match dht.bootstrap_from(targets).await {
            Ok(report) => {
                println!(
                    "joined: {} of {tried} addresses answered; routing table {} contacts",
                    report.reached, report.table_size
                );
                self.save(dht).await;
                if !self.advertised {
                    self.advertised = self.advertise(dht).await;
                }
            }
            Err(DhtError::BootstrapFailed { tried }) => println!(
                "join failed: none of the {tried} addresses answered; retrying at each status line"
            ),
            Err(e) => println!("join failed: {e}"),
        }
    }

    /// Writes the routing table, unless it is empty (an empty table would
    /// only replace contacts that may come back).
    async fn save(&mut self, dht: &Dht) {
        let contacts = match dht.routing_table().await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!("cannot read the routing table: {e}");
                return;
            }
        };
        if contacts.is_empty() {
            tracing::debug!("routing table empty, not saved");
            return;
        }
        match state::save(&self.routing_file, &contacts) {
            Ok(()) => {
                tracing::debug!(contacts = contacts.len(), "routing table saved");
                self.saved = contacts.iter().map(|c| c.addr).collect();
            }
            Err(e) => tracing::warn!("{e}"),
        }
    }

    /// Starts putting the node's advertisement (in the background: a put
    /// on a large network takes a while). Returns whether it started.
    async fn advertise(&self, dht: &Dht) -> bool {
        let Some(addr) = self.advertised_addr(dht).await else {
            println!(
                "not advertising: bound to a wildcard address and no contact to route to; \
                 pass --public-addr"
            );
            return false;
        };
        let record = match NodeAdvert::now(addr).sign(dht) {
            Ok(r) => r,
            Err(e) => {
                println!("not advertising: {e}");
                return false;
            }
        };
        let dht = dht.clone();
        tokio::spawn(async move {
            match dht.put_mutable(record).await {
                Ok(report) => println!(
                    "advertised {addr} under {} on {} nodes",
                    report.key, report.stored
                ),
                Err(e) => println!("advertising {addr} failed: {e}"),
            }
        });
        true
    }

    /// The address to advertise (see `--public-addr`).
    async fn advertised_addr(&self, dht: &Dht) -> Option<SocketAddr> {
        if let Some(addr) = self.public_addr {
            return Some(addr);
        }
        let local = dht.local_addr();
        if !local.ip().is_unspecified() {
            return Some(local);
        }
        let contact = dht.routing_table().await.ok()?.into_iter().next()?;
        route_local_ip(contact.addr).map(|ip| SocketAddr::new(ip, local.port()))
    }
}

/// The local address the OS would send from to reach `to` (no datagram is
/// sent: connecting a UDP socket only picks a route).
fn route_local_ip(to: SocketAddr) -> Option<IpAddr> {
    let any = if to.is_ipv6() {
        SocketAddr::from(([0u16; 8], 0))
    } else {
        SocketAddr::from(([0u8; 4], 0))
    };
    let socket = UdpSocket::bind(any).ok()?;
    socket.connect(to).ok()?;
    Some(socket.local_addr().ok()?.ip())
}

/// The periodic status line: table size, stored records, requests served
/// per second since the previous line, and error counters (totals).
fn status_line(prev: &DhtStats, now: &DhtStats, elapsed: Duration) -> String {
    let served = |s: &DhtStats| s.node.requests_served + s.node.requests_rate_limited;
    let secs = elapsed.as_secs_f64().max(1e-3);
    let rate = served(now).saturating_sub(served(prev)) as f64 / secs;
    let n = &now.node;
    let errors = n.decode_errors + now.send_errors + n.requests_timed_out + n.key_proofs_failed;
    format!(
        "status: routing table {} contacts, {} records, {} providers, {rate:.1} req/s, \
         errors {errors} (decode {}, send {}, timeouts {}, bad key proofs {}, rate-limited {})",
        now.routing_table_size,
        now.records_stored,
        now.providers_stored,
        n.decode_errors,
        now.send_errors,
        n.requests_timed_out,
        n.key_proofs_failed,
        n.requests_rate_limited,
    )
}

/// Ctrl-C and SIGTERM, listened for from the start of `run`: a signal
/// that arrives while the node is still joining is kept until the main
/// loop reads it, instead of killing the process before it saved.
struct Signals {
    #[cfg(unix)]
    interrupt: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    terminate: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    fn install() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let listen = |kind, name| match signal(kind) {
                Ok(s) => Some(s),
                Err(e) => {
                    tracing::warn!("cannot listen for {name}: {e}");
                    None
                }
            };
            Signals {
                interrupt: listen(SignalKind::interrupt(), "Ctrl-C"),
                terminate: listen(SignalKind::terminate(), "SIGTERM"),
            }
        }
        #[cfg(not(unix))]
        Signals {}
    }

    /// Waits for the next signal and names it.
    async fn recv(&mut self) -> &'static str {
        #[cfg(unix)]
        {
            async fn next(s: &mut Option<tokio::signal::unix::Signal>) {
                match s {
                    Some(s) => {
                        s.recv().await;
                    }
                    None => std::future::pending().await,
                }
            }
            tokio::select! {
                _ = next(&mut self.interrupt) => "Ctrl-C",
                _ = next(&mut self.terminate) => "SIGTERM",
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            "Ctrl-C"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_line_reports_rate_since_last_line() {
        let mut prev = DhtStats::default();
        prev.node.requests_served = 100;
        let mut now = prev;
        now.node.requests_served = 400;
        now.node.decode_errors = 2;
        now.send_errors = 1;
        now.routing_table_size = 42;
        now.records_stored = 7;
        let line = status_line(&prev, &now, Duration::from_secs(30));
        assert_eq!(
            line,
            "status: routing table 42 contacts, 7 records, 0 providers, 10.0 req/s, \
             errors 3 (decode 2, send 1, timeouts 0, bad key proofs 0, rate-limited 0)"
        );
    }
}
