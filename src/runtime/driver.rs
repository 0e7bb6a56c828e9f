//! The task that owns the socket and the engine. It only moves bytes and
//! time between tokio and [`Node`]; all protocol decisions are the engine's.

use std::collections::HashMap;
use std::io::ErrorKind;
use std::time::Instant;

use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};

use super::DhtError;
use super::{Command, DhtStats};
use crate::config::Config;
use crate::identity::Identity;
use crate::node::{Event, Node, QueryId, QueryOutcome, QueryStats};

/// Datagrams read without yielding before the engine's output is flushed.
const RECV_BATCH: usize = 64;

type Reply = oneshot::Sender<Result<(QueryOutcome, QueryStats), DhtError>>;

/// The clock: tokio's, so `tokio::time::pause()` drives the engine too.
fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

pub(super) fn spawn(
    socket: UdpSocket,
    identity: Identity,
    config: Config,
    seed: u64,
    commands: mpsc::Receiver<Command>,
) {
    let node = Node::new(identity, config, seed, now());
    tokio::spawn(run(socket, node, commands));
}

struct Driver {
    socket: UdpSocket,
    node: Node,
    waiting: HashMap<QueryId, Reply>,
    send_errors: u64,
}

async fn run(socket: UdpSocket, node: Node, mut commands: mpsc::Receiver<Command>) {
    let mut d = Driver {
        socket,
        node,
        waiting: HashMap::new(),
        send_errors: 0,
    };
    let mut buf = vec![0u8; 2048];
    loop {
        d.flush().await;
        let deadline = d
            .node
            .poll_timeout()
            .map(tokio::time::Instant::from_std)
            .unwrap_or_else(|| tokio::time::Instant::now() + std::time::Duration::from_secs(3600));
        tokio::select! {
            received = d.socket.recv_from(&mut buf) => {
                match received {
                    Ok((n, from)) => {
                        d.node.handle_datagram(now(), from, &buf[..n]);
                        // Drain what is already queued before flushing.
                        for _ in 0..RECV_BATCH {
                            match d.socket.try_recv_from(&mut buf) {
                                Ok((n, from)) => d.node.handle_datagram(now(), from, &buf[..n]),
                                Err(_) => break,
                            }
                        }
                    }
                    // ICMP port unreachable and friends surface here on some
                    // platforms; they say nothing the timeouts don't.
                    Err(e) => tracing::trace!(error = %e, "recv error"),
                }
            }
            command = commands.recv() => {
                match command {
                    None => break,
                    Some(Command::Shutdown(done)) => {
                        let _ = done.send(());
                        break;
                    }
                    Some(c) => d.command(c),
                }
            }
            _ = tokio::time::sleep_until(deadline) => {
                d.node.handle_timeout(now());
            }
        }
    }
    tracing::debug!(id = %d.node.id(), "DHT node task ended");
}

impl Driver {
    fn command(&mut self, command: Command) {
        let t = now();
        match command {
            Command::Query {
                request,
                options,
                reply,
            } => {
                let id = match self.node.start(t, *request, options) {
                    Ok(id) => id,
                    Err(refusal) => {
                        let _ = reply.send(Err(DhtError::InvalidRecord(refusal)));
                        return;
                    }
                };
                self.waiting.insert(id, reply);
            }
            Command::RoutingTable(reply) => {
                let contacts = self
                    .node
                    .routing_table()
                    .iter()
                    .map(|e| e.contact)
                    .collect();
                let _ = reply.send(contacts);
            }
            Command::Stats(reply) => {
                let _ = reply.send(DhtStats {
                    node: self.node.stats(),
                    routing_table_size: self.node.routing_table().len(),
                    records_stored: self.node.store().len(),
                    providers_stored: self.node.store().provider_count(),
                    active_queries: self.node.active_queries(),
                    send_errors: self.send_errors,
                });
            }
            Command::StopPublishing(key) => {
                self.node.stop_publishing(&key);
            }
            Command::Shutdown(_) => {}
        }
    }

    /// Sends every queued datagram and delivers every finished query.
    async fn flush(&mut self) {
        while let Some(t) = self.node.poll_transmit() {
            let sent = match self.socket.try_send_to(&t.payload, t.dest) {
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    self.socket.send_to(&t.payload, t.dest).await
                }
                other => other,
            };
            if let Err(e) = sent {
                self.send_errors += 1;
                tracing::trace!(dest = %t.dest, error = %e, "send failed");
            }
        }
        while let Some(Event::QueryFinished { id, outcome, stats }) = self.node.poll_event() {
            if let Some(reply) = self.waiting.remove(&id) {
                let _ = reply.send(Ok((outcome, stats)));
            }
        }
    }
}
