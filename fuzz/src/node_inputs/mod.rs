//! One node on a hostile network: arbitrary sequences of raw datagrams,
//! well-formed requests of every kind, replies (fitting or not) to the
//! node's own requests, stray responses with random transaction ids, time
//! steps and user commands. The node must never panic, and after every step
//! (see `node_inputs/harness.rs`) its memory stays within the configured
//! caps (store entries and bytes, per-IP quotas, k per bucket, pending
//! requests and queries bounded by their deadlines), only key-proven peers
//! enter its table, every request gets at most one correct answer, an
//! unverified address never gets more than its byte budget
//! (`Config::unverified_bytes_per_sec`), every user query ends by its deadline with exactly one
//! event, and every datagram it sends decodes.

pub mod harness;
pub mod model;

use std::net::SocketAddr;
use std::time::Duration;

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use meshara_dht::node::{QueryOptions, QueryRequest};
use meshara_dht::wire::{Body, Message};
use meshara_dht::{Config, NodeId};

use harness::Harness;
use model::{peer, peer_by_addr, BodySpec, IdSpec, RecordSpec, ReplySpec, RequestSpec, SenderSpec};

#[derive(Debug, Arbitrary)]
pub struct Input {
    pub k: u8,
    /// Client mode when `mode & 7 == 0` (one run in eight).
    pub mode: u8,
    pub caps_on_local: bool,
    pub paths: u8,
    pub seed: u64,
    pub ops: Vec<Op>,
}

#[derive(Debug, Arbitrary)]
pub enum Op {
    /// Any bytes, from peer `from`'s address.
    Raw {
        from: u8,
        bytes: Vec<u8>,
    },
    /// A well-formed request.
    Request {
        from: u8,
        sender: SenderSpec,
        txid: u64,
        read_only: bool,
        request: RequestSpec,
    },
    /// A reply to one of the node's recent requests (`pick`), from its
    /// destination unless `from` is set, as the id the node expects unless
    /// `sender` is set; `keep` lets the same request be answered again.
    Reply {
        pick: u8,
        keep: bool,
        from: Option<u8>,
        sender: Option<SenderSpec>,
        reply: ReplySpec,
    },
    /// A response or error with an arbitrary transaction id.
    Stray {
        from: u8,
        sender: SenderSpec,
        txid: u64,
        body: BodySpec,
    },
    /// A well-formed request with some bytes changed or cut off.
    Mutated {
        from: u8,
        sender: SenderSpec,
        txid: u64,
        request: RequestSpec,
        edits: Vec<(u16, u8)>,
        cut: Option<u16>,
    },
    Tick {
        millis: u8,
    },
    /// Up to 20 minutes.
    Advance {
        millis: u32,
    },
    /// `handle_timeout(now)` with nothing due.
    Spurious,
    Command {
        command: Command,
        paths: Option<u8>,
    },
}

#[derive(Debug, Arbitrary)]
pub enum Command {
    FindNode(IdSpec),
    GetImmutable(IdSpec),
    GetMutable(IdSpec),
    Put(RecordSpec),
    AddProvider(IdSpec),
    GetProviders(IdSpec),
    Bootstrap(Vec<u8>),
    StopPublishing(IdSpec),
}

fn config(input: &Input) -> Config {
    let k = [1, 2, 3, 4, 8, 20][usize::from(input.k) % 6];
    Config {
        k,
        alpha: k.min(3),
        replacement_cache_size: k,
        max_records: 64,
        max_record_bytes: 16 * 1024,
        max_records_per_ip: 16,
        max_providers_per_key: 8,
        rate_limit_tracked_ips: 32,
        rate_limit_requests_per_sec: 10,
        rate_limit_burst: 20,
        record_ttl: Duration::from_secs(600),
        provider_ttl: Duration::from_secs(600),
        republish_interval: Duration::from_secs(300),
        bucket_refresh_interval: Duration::from_secs(120),
        token_rotation: Duration::from_secs(60),
        client_mode: input.mode & 7 == 0,
        subnet_caps_on_local: input.caps_on_local,
        disjoint_paths: usize::from(input.paths % 3) + 1,
        ..Config::default()
    }
}

fn run_op(h: &mut Harness, op: Op) {
    let local = h.id();
    match op {
        Op::Raw { from, bytes } => h.deliver(peer(from).addr, &bytes),
        Op::Request {
            from,
            sender,
            txid,
            read_only,
            request,
        } => {
            let from = peer(from).addr;
            let issued = h.tokens.get(&from.ip()).copied();
            let Some(request) = h.builder.request(&local, &request, issued) else {
                return;
            };
            let sender = h.builder.sender(&local, &sender);
            let msg = Message {
                txid,
                sender,
                body: Body::Request { read_only, request },
            };
            h.deliver_message(from, &msg);
        }
        Op::Reply {
            pick,
            keep,
            from,
            sender,
            reply,
        } => {
            if h.outstanding.is_empty() {
                return;
            }
            let i = usize::from(pick) % h.outstanding.len();
            let (dest, txid, request) = {
                let s = &h.outstanding[i];
                (s.dest, s.txid, s.request.clone())
            };
            if !keep {
                h.outstanding.remove(i);
            }
            let from: SocketAddr = from.map_or(dest, |j| peer(j).addr);
            let sender = match sender {
                Some(s) => h.builder.sender(&local, &s),
                None => peer_by_addr(&dest)
                    .map(|p| p.identity.node_id())
                    .or_else(|| h.builder.advertised.get(&dest).copied())
                    .unwrap_or(NodeId::ZERO),
            };
            let Some(body) = h.builder.reply(&local, &request, &sender, &reply) else {
                return;
            };
            h.deliver_message(from, &Message { txid, sender, body });
        }
        Op::Stray {
            from,
            sender,
            txid,
            body,
        } => {
            let sender = h.builder.sender(&local, &sender);
            let Some(body) = h.builder.body(&local, &body) else {
                return;
            };
            h.deliver_message(peer(from).addr, &Message { txid, sender, body });
        }
        Op::Mutated {
            from,
            sender,
            txid,
            request,
            edits,
            cut,
        } => {
            let from = peer(from).addr;
            let Some(request) = h.builder.request(&local, &request, None) else {
                return;
            };
            let sender = h.builder.sender(&local, &sender);
            let msg = Message {
                txid,
                sender,
                body: Body::Request {
                    read_only: false,
                    request,
                },
            };
            let Ok(mut bytes) = meshara_dht::wire::encode(&msg) else {
                return;
            };
            for (at, mask) in edits.into_iter().take(8) {
                let len = bytes.len();
                if let Some(b) = bytes.get_mut(usize::from(at) % len.max(1)) {
                    *b ^= mask;
                }
            }
            if let Some(cut) = cut {
                bytes.truncate(usize::from(cut));
            }
            h.deliver(from, &bytes);
        }
        Op::Tick { millis } => {
            let to = h.now + Duration::from_millis(u64::from(millis));
            h.advance(to);
        }
        Op::Advance { millis } => {
            let to = h.now + Duration::from_millis(u64::from(millis % 1_200_000));
            h.advance(to);
        }
        Op::Spurious => h.fire(),
        Op::Command { command, paths } => {
            let options = QueryOptions {
                disjoint_paths: paths.map(|p| usize::from(p % 4)),
            };
            let request = match command {
                Command::FindNode(t) => QueryRequest::FindNode(h.builder.id(&local, &t)),
                Command::GetImmutable(t) => QueryRequest::GetImmutable(h.builder.id(&local, &t)),
                Command::GetMutable(t) => QueryRequest::GetMutable(h.builder.id(&local, &t)),
                Command::Put(r) => {
                    let Some(record) = h.builder.record(&r) else {
                        return;
                    };
                    QueryRequest::Put(record)
                }
                Command::AddProvider(t) => QueryRequest::AddProvider(h.builder.id(&local, &t)),
                Command::GetProviders(t) => QueryRequest::GetProviders(h.builder.id(&local, &t)),
                Command::Bootstrap(peers) => QueryRequest::Bootstrap(
                    peers.into_iter().take(8).map(|j| peer(j).addr).collect(),
                ),
                Command::StopPublishing(t) => {
                    let key = h.builder.id(&local, &t);
                    let _ = h.node.stop_publishing(&key);
                    return;
                }
            };
            let valid = match &request {
                QueryRequest::Put(record) => record.verify().is_ok(),
                _ => true,
            };
            let now = h.now;
            match h.node.start(now, request, options) {
                Ok(id) => {
                    assert!(valid, "a put of an invalid record was started");
                    assert!(h.open.insert(id, now).is_none(), "query id reused");
                }
                Err(e) => assert!(!valid, "a valid put was refused: {e}"),
            }
            h.drain_after_command();
        }
    }
}

/// Runs one input: builds the node, applies the operations (at most 256),
/// checking after each step.
pub fn run(input: Input) {
    let _ = run_with(input);
}

/// [`run`], handing back the harness so tests can look at the node.
pub fn run_with(input: Input) -> Harness {
    let config = config(&input);
    assert_eq!(config.validate(), Ok(()));
    let mut h = Harness::new(config, input.seed);
    for op in input.ops.into_iter().take(256) {
        run_op(&mut h, op);
    }
    h
}
