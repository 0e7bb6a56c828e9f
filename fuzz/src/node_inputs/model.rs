//! The hostile network around the node under test: a fixed set of peers
//! (each an identity at an address, so the harness can answer key proofs),
//! and the structured specs the fuzzer picks from, turned into ids,
//! contacts, records and message bodies.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::OnceLock;

use bytes::Bytes;
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use meshara_dht::id::{Distance, ID_BITS, ID_LEN};
use meshara_dht::identity::Identity;
use meshara_dht::record::{
    ImmutableRecord, MesharaPublicKey, Record, RecordPublicKey, Refusal, SignedRecord,
};
use meshara_dht::wire::{
    Body, Contact, ErrorCode, KeyProof, Nonce, Request, Response, Token, MAX_CONTACTS,
    MAX_PROVIDERS, MAX_SALT_SIZE, MAX_VALUE_SIZE,
};
use meshara_dht::NodeId;

/// Peers the harness can speak for. Their addresses span 40 distinct IPs
/// (more than the 32 the rate limiter tracks), share loopback, one IPv4 /24
/// and one IPv6 /64, and include IPv4-mapped IPv6.
pub const PEERS: usize = 48;

/// One peer: an identity at an address.
pub struct Peer {
    pub identity: Identity,
    pub addr: SocketAddr,
}

fn peer_addr(j: usize) -> SocketAddr {
    let b = u8::try_from(j).unwrap_or(0);
    let port = 7000 + u16::from(b);
    match j {
        0..=7 => SocketAddr::new(Ipv4Addr::LOCALHOST.into(), port),
        8..=15 => SocketAddr::new(Ipv4Addr::new(10, 0, 0, b).into(), 6881),
        16..=27 => SocketAddr::new(Ipv4Addr::new(203, 0, 113, b).into(), 6881),
        28..=35 => SocketAddr::new(Ipv4Addr::new(198, 51, b, 1).into(), 6881),
        36..=39 => SocketAddr::new(
            Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, j as u16).into(),
            6881,
        ),
        40..=43 => SocketAddr::new(
            Ipv6Addr::new(0x2001, 0xdb8, j as u16, 0, 0, 0, 0, 1).into(),
            6881,
        ),
        44..=45 => SocketAddr::new(Ipv4Addr::new(203, 0, 113, b).to_ipv6_mapped().into(), 6881),
        _ => SocketAddr::new(Ipv6Addr::LOCALHOST.into(), port),
    }
}

/// The peers, built once per process.
pub fn peers() -> &'static [Peer] {
    static CELL: OnceLock<Vec<Peer>> = OnceLock::new();
    CELL.get_or_init(|| {
        (0..PEERS)
            .map(|j| Peer {
                identity: Identity::from_seed(1000 + j as u64),
                addr: peer_addr(j),
            })
            .collect()
    })
}

/// The node under test's identity (not a peer).
pub fn node_identity() -> &'static Identity {
    static CELL: OnceLock<Identity> = OnceLock::new();
    CELL.get_or_init(|| Identity::from_seed(1))
}

pub fn peer(j: u8) -> &'static Peer {
    &peers()[usize::from(j) % PEERS]
}

/// The peer with node id `id`, if any.
pub fn peer_by_id(id: &NodeId) -> Option<&'static Peer> {
    peers().iter().find(|p| p.identity.node_id() == *id)
}

/// The peer listening on `addr`, if any.
pub fn peer_by_addr(addr: &SocketAddr) -> Option<&'static Peer> {
    peers().iter().find(|p| p.addr == *addr)
}

#[derive(Debug, Clone, Arbitrary)]
pub enum IdSpec {
    Peer(u8),
    Local,
    /// The key of a record built earlier in this run.
    Known(u8),
    Raw([u8; ID_LEN]),
    /// An id in bucket `bucket % 160` of the node's table.
    NearLocal {
        bucket: u8,
        low: [u8; ID_LEN],
    },
}

#[derive(Debug, Clone, Arbitrary)]
pub enum SenderSpec {
    Peer(u8),
    Local,
    Raw([u8; ID_LEN]),
}

#[derive(Debug, Clone, Arbitrary)]
pub enum AddrSpec {
    Peer(u8),
    V4 { ip: [u8; 4], port: u16 },
    V6 { ip: [u8; 16], port: u16 },
}

#[derive(Debug, Clone, Arbitrary)]
pub enum ContactSpec {
    /// A peer at its own address.
    Peer(u8),
    /// A peer's id at another peer's address.
    Misplaced { id: u8, addr: u8 },
    /// The node itself.
    Local(AddrSpec),
    /// An id nobody can prove, anywhere.
    Raw { id: [u8; ID_LEN], addr: AddrSpec },
}

#[derive(Debug, Clone, Arbitrary)]
pub enum ValueSpec {
    Bytes(Vec<u8>),
    Filled { byte: u8, len: u16 },
}

#[derive(Debug, Clone, Arbitrary)]
pub enum RecordSpec {
    Immutable(ValueSpec),
    Signed {
        signer: u8,
        /// `Some(x25519)`: a Meshara key.
        meshara: Option<[u8; 32]>,
        salt: Vec<u8>,
        seq: u64,
        value: ValueSpec,
        forge: bool,
    },
    /// A record built earlier; a signed one re-signed with a higher
    /// sequence number when `bump > 0`.
    Known {
        index: u8,
        bump: u8,
    },
}

#[derive(Debug, Clone, Arbitrary)]
pub enum TokenSpec {
    /// The last token the node handed to this IP.
    Issued,
    Raw([u8; 8]),
}

#[derive(Debug, Clone, Arbitrary)]
pub enum RequestSpec {
    Ping {
        challenge: Option<[u8; 32]>,
    },
    FindNode {
        target: IdSpec,
        challenge: Option<[u8; 32]>,
    },
    FindValue {
        key: IdSpec,
    },
    Store {
        token: TokenSpec,
        record: RecordSpec,
    },
    AddProvider {
        token: TokenSpec,
        key: IdSpec,
    },
    GetProviders {
        key: IdSpec,
    },
}

#[derive(Debug, Clone, Arbitrary)]
pub enum ProofSpec {
    /// Signed by the sender's key over the right nonce.
    Valid,
    Missing,
    WrongNonce([u8; 32]),
    /// Another peer's key.
    OtherPeer(u8),
}

#[derive(Debug, Clone, Arbitrary)]
pub enum ErrorSpec {
    InvalidToken,
    Refused { reason: u8, stored: u64 },
    RateLimited,
    Unsupported,
}

/// A reply to one of the node's requests.
#[derive(Debug, Clone, Arbitrary)]
pub enum ReplySpec {
    /// The kind of answer the request asks for.
    Fitting {
        nodes: Vec<ContactSpec>,
        providers: Vec<ContactSpec>,
        /// For FIND_VALUE: a record instead of nodes.
        record: Option<RecordSpec>,
        proof: ProofSpec,
        token: [u8; 8],
    },
    /// Any response or error.
    Body(BodySpec),
}

#[derive(Debug, Clone, Arbitrary)]
pub enum BodySpec {
    Pong {
        your_addr: AddrSpec,
        proof: Option<(u8, [u8; 32])>,
    },
    Nodes {
        token: [u8; 8],
        nodes: Vec<ContactSpec>,
    },
    Value {
        token: [u8; 8],
        record: RecordSpec,
    },
    Stored,
    Providers {
        token: [u8; 8],
        providers: Vec<ContactSpec>,
        nodes: Vec<ContactSpec>,
    },
    Error(ErrorSpec),
}

/// A record the run built, and how to re-sign it.
struct KnownRecord {
    record: Record,
    signer: Option<(usize, Option<[u8; 32]>)>,
}

/// Turns specs into values; remembers the records it built so later specs
/// can name their keys.
#[derive(Default)]
pub struct Builder {
    known: Vec<KnownRecord>,
    /// The id a contact was advertised with at an address, so a reply from
    /// that address can claim it.
    pub advertised: HashMap<SocketAddr, NodeId>,
}

/// The id at distance `2^bucket + (low's bits below bucket)` from `local`.
pub fn in_bucket(local: &NodeId, bucket: usize, low: &[u8; ID_LEN]) -> NodeId {
    let bucket = bucket % ID_BITS;
    let mut d = *low;
    let top_byte = ID_LEN - 1 - bucket / 8;
    let bit = bucket % 8;
    for b in d.iter_mut().take(top_byte) {
        *b = 0;
    }
    let below = ((1u16 << bit) - 1) as u8;
    d[top_byte] = (d[top_byte] & below) | (1u8 << bit);
    local.at_distance(&Distance::from_bytes(d))
}

fn value(spec: &ValueSpec) -> Bytes {
    match spec {
        ValueSpec::Bytes(b) => Bytes::copy_from_slice(&b[..b.len().min(MAX_VALUE_SIZE)]),
        ValueSpec::Filled { byte, len } => {
            Bytes::from(vec![*byte; usize::from(*len) % (MAX_VALUE_SIZE + 1)])
        }
    }
}

fn refusal(reason: u8, stored: u64) -> Refusal {
    match reason % 6 {
        0 => Refusal::BadSignature,
        1 => Refusal::InvalidPublicKey,
        2 => Refusal::SequenceNotNewer { stored },
        3 => Refusal::TooLarge,
        4 => Refusal::StoreFull,
        _ => Refusal::QuotaExceeded,
    }
}

fn sign(
    signer: usize,
    meshara: Option<[u8; 32]>,
    salt: Bytes,
    seq: u64,
    value: Bytes,
) -> Option<Record> {
    let id = &peers().get(signer)?.identity;
    let public_key = match meshara {
        None => RecordPublicKey::Ed25519(id.public_key()),
        Some(x) => {
            let mut full = [0u8; 64];
            full[..32].copy_from_slice(&id.public_key());
            full[32..].copy_from_slice(&x);
            RecordPublicKey::Meshara(MesharaPublicKey(full))
        }
    };
    SignedRecord::sign_with(public_key, salt, seq, value, |m| id.sign(m).0)
        .ok()
        .map(Record::Mutable)
}

impl Builder {
    pub fn id(&self, local: &NodeId, spec: &IdSpec) -> NodeId {
        match spec {
            IdSpec::Peer(j) => peer(*j).identity.node_id(),
            IdSpec::Local => *local,
            IdSpec::Known(i) => match self.known.len() {
                0 => *local,
                n => self.known[usize::from(*i) % n].record.key(),
            },
            IdSpec::Raw(b) => NodeId::from_bytes(*b),
            IdSpec::NearLocal { bucket, low } => in_bucket(local, usize::from(*bucket), low),
        }
    }

    pub fn sender(&self, local: &NodeId, spec: &SenderSpec) -> NodeId {
        match spec {
            SenderSpec::Peer(j) => peer(*j).identity.node_id(),
            SenderSpec::Local => *local,
            SenderSpec::Raw(b) => NodeId::from_bytes(*b),
        }
    }

    pub fn addr(spec: &AddrSpec) -> SocketAddr {
        match spec {
            AddrSpec::Peer(j) => peer(*j).addr,
            AddrSpec::V4 { ip, port } => SocketAddr::new(IpAddr::from(*ip), *port),
            AddrSpec::V6 { ip, port } => SocketAddr::new(IpAddr::from(*ip), *port),
        }
    }

    pub fn contacts(&mut self, local: &NodeId, specs: &[ContactSpec], max: usize) -> Vec<Contact> {
        let out: Vec<Contact> = specs
            .iter()
            .take(max)
            .map(|s| match s {
                ContactSpec::Peer(j) => Contact {
                    id: peer(*j).identity.node_id(),
                    addr: peer(*j).addr,
                },
                ContactSpec::Misplaced { id, addr } => Contact {
                    id: peer(*id).identity.node_id(),
                    addr: peer(*addr).addr,
                },
                ContactSpec::Local(a) => Contact {
                    id: *local,
                    addr: Self::addr(a),
                },
                ContactSpec::Raw { id, addr } => Contact {
                    id: NodeId::from_bytes(*id),
                    addr: Self::addr(addr),
                },
            })
            .collect();
        for c in &out {
            self.advertised.insert(c.addr, c.id);
        }
        out
    }

    /// Builds a record; `None` when a spec cannot be built (e.g. an index
    /// into an empty list).
    pub fn record(&mut self, spec: &RecordSpec) -> Option<Record> {
        let built = match spec {
            RecordSpec::Immutable(v) => KnownRecord {
                record: Record::Immutable(ImmutableRecord { value: value(v) }),
                signer: None,
            },
            RecordSpec::Signed {
                signer,
                meshara,
                salt,
                seq,
                value: v,
                forge,
            } => {
                let signer = usize::from(*signer) % PEERS;
                let salt = Bytes::copy_from_slice(&salt[..salt.len().min(MAX_SALT_SIZE)]);
                let mut record = sign(signer, *meshara, salt, *seq, value(v))?;
                if *forge {
                    if let Record::Mutable(r) = &mut record {
                        r.signature.0[0] ^= 1;
                    }
                    return Some(record);
                }
                KnownRecord {
                    record,
                    signer: Some((signer, *meshara)),
                }
            }
            RecordSpec::Known { index, bump } => {
                let n = self.known.len();
                let k = self.known.get(usize::from(*index) % n.max(1))?;
                match (&k.record, k.signer, *bump) {
                    (Record::Mutable(r), Some((signer, meshara)), b) if b > 0 => KnownRecord {
                        record: sign(
                            signer,
                            meshara,
                            r.salt.clone(),
                            r.seq.saturating_add(u64::from(b)),
                            r.value.clone(),
                        )?,
                        signer: k.signer,
                    },
                    _ => return Some(k.record.clone()),
                }
            }
        };
        let record = built.record.clone();
        if self.known.len() >= 32 {
            self.known.remove(0);
        }
        self.known.push(built);
        Some(record)
    }

    pub fn request(
        &mut self,
        local: &NodeId,
        spec: &RequestSpec,
        issued: Option<Token>,
    ) -> Option<Request> {
        let token = |t: &TokenSpec| match t {
            TokenSpec::Issued => issued.unwrap_or_default(),
            TokenSpec::Raw(t) => *t,
        };
        Some(match spec {
            RequestSpec::Ping { challenge } => Request::Ping {
                challenge: *challenge,
            },
            RequestSpec::FindNode { target, challenge } => Request::FindNode {
                target: self.id(local, target),
                challenge: *challenge,
            },
            RequestSpec::FindValue { key } => Request::FindValue {
                key: self.id(local, key),
            },
            RequestSpec::Store { token: t, record } => Request::Store {
                token: token(t),
                record: self.record(record)?,
            },
            RequestSpec::AddProvider { token: t, key } => Request::AddProvider {
                token: token(t),
                key: self.id(local, key),
            },
            RequestSpec::GetProviders { key } => Request::GetProviders {
                key: self.id(local, key),
            },
        })
    }

    fn error(spec: &ErrorSpec) -> ErrorCode {
        match spec {
            ErrorSpec::InvalidToken => ErrorCode::InvalidToken,
            ErrorSpec::Refused { reason, stored } => ErrorCode::Refused(refusal(*reason, *stored)),
            ErrorSpec::RateLimited => ErrorCode::RateLimited,
            ErrorSpec::Unsupported => ErrorCode::Unsupported,
        }
    }

    pub fn body(&mut self, local: &NodeId, spec: &BodySpec) -> Option<Body> {
        Some(Body::Response(match spec {
            BodySpec::Pong { your_addr, proof } => Response::Pong {
                your_addr: Self::addr(your_addr),
                proof: proof.map(|(j, nonce)| peer(j).identity.key_proof(&nonce)),
            },
            BodySpec::Nodes { token, nodes } => Response::Nodes {
                token: *token,
                nodes: self.contacts(local, nodes, MAX_CONTACTS),
                proof: None,
            },
            BodySpec::Value { token, record } => Response::Value {
                token: *token,
                record: self.record(record)?,
            },
            BodySpec::Stored => Response::Stored,
            BodySpec::Providers {
                token,
                providers,
                nodes,
            } => Response::Providers {
                token: *token,
                providers: self.contacts(local, providers, MAX_PROVIDERS),
                nodes: self.contacts(local, nodes, MAX_CONTACTS),
            },
            BodySpec::Error(e) => return Some(Body::Error(Self::error(e))),
        }))
    }

    /// The answer `spec` gives to `request`, sent as `sender`. A challenge
    /// (in a PING or a FIND_NODE) is answered as `ProofSpec` says.
    pub fn reply(
        &mut self,
        local: &NodeId,
        request: &Request,
        sender: &NodeId,
        spec: &ReplySpec,
    ) -> Option<Body> {
        let ReplySpec::Fitting {
            nodes,
            providers,
            record,
            proof,
            token,
        } = spec
        else {
            let ReplySpec::Body(b) = spec else {
                return None;
            };
            return self.body(local, b);
        };
        let token = *token;
        Some(Body::Response(match request {
            Request::Ping { challenge } => Response::Pong {
                your_addr: peer(0).addr,
                proof: reply_proof(challenge, proof, sender),
            },
            Request::FindNode { challenge, .. } => Response::Nodes {
                token,
                nodes: self.contacts(local, nodes, MAX_CONTACTS),
                proof: reply_proof(challenge, proof, sender),
            },
            Request::FindValue { .. } => match record {
                Some(r) => Response::Value {
                    token,
                    record: self.record(r)?,
                },
                None => Response::Nodes {
                    token,
                    nodes: self.contacts(local, nodes, MAX_CONTACTS),
                    proof: None,
                },
            },
            Request::Store { .. } | Request::AddProvider { .. } => Response::Stored,
            Request::GetProviders { .. } => Response::Providers {
                token,
                providers: self.contacts(local, providers, MAX_PROVIDERS),
                nodes: self.contacts(local, nodes, MAX_CONTACTS),
            },
        }))
    }
}

/// The key proof a reply by `sender` carries for `challenge`, as `spec`
/// says: none without a challenge, else valid, missing, over another
/// nonce, or by another peer's key.
fn reply_proof(challenge: &Option<Nonce>, spec: &ProofSpec, sender: &NodeId) -> Option<KeyProof> {
    let by = |id: &Identity, nonce: &Nonce| -> KeyProof { id.key_proof(nonce) };
    let signer = peer_by_id(sender).map(|p| &p.identity);
    match (challenge, spec, signer) {
        (None, _, _) | (_, ProofSpec::Missing, _) => None,
        (Some(n), ProofSpec::Valid, Some(id)) => Some(by(id, n)),
        (Some(n), ProofSpec::Valid, None) => Some(by(&peer(0).identity, n)),
        (Some(_), ProofSpec::WrongNonce(other), Some(id)) => Some(by(id, other)),
        (Some(_), ProofSpec::WrongNonce(other), None) => Some(by(&peer(0).identity, other)),
        (Some(n), ProofSpec::OtherPeer(j), _) => Some(by(&peer(*j).identity, n)),
    }
}
