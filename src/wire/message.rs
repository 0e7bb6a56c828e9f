//! The protocol's messages as Rust types. Their byte layout (postcard) and
//! limits are described in `docs/PROTOCOL.md`; the codec lives in
//! `codec.rs`. This file owns the vocabulary only: no encoding logic.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use super::Contact;
use crate::id::{Key, NodeId};
use crate::identity::{KeyProof, Nonce};
use crate::record::{Record, Refusal};

/// A transaction id: random per request, echoed by the response.
pub type TxId = u64;

/// A STORE token handed out in lookup responses: a short MAC of the
/// requester's IP address under the responder's rotating secret.
pub type Token = [u8; 8];

/// One datagram: a protocol version (implicit, the first byte on the wire),
/// a transaction id, the sender's node id and the body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// Random per request; a response carries its request's id.
    pub txid: TxId,
    /// The sender's node id.
    pub sender: NodeId,
    /// What the message says.
    pub body: Body,
}

/// The three kinds of message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Body {
    /// A request; `read_only` senders (client mode) must not be added to
    /// the receiver's routing table.
    Request {
        /// Set by client-mode nodes (BEP 43's "ro").
        read_only: bool,
        /// The request.
        request: Request,
    },
    /// A successful response.
    Response(Response),
    /// A refusal or failure, answering a request.
    Error(ErrorCode),
}

/// The RPCs a node serves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    /// Liveness check; with a challenge, also asks for a [`KeyProof`].
    Ping {
        /// A nonce to sign, when the requester wants proof of the key.
        challenge: Option<Nonce>,
    },
    /// The k contacts closest to `target` the responder knows; with a
    /// challenge, also asks for a [`KeyProof`] (saves the separate PING a
    /// requester would send to admit an unknown responder to its table).
    FindNode {
        /// The id looked up.
        target: NodeId,
        /// A nonce to sign, when the requester wants proof of the key.
        challenge: Option<Nonce>,
    },
    /// The record stored under `key`, or else the closest contacts.
    FindValue {
        /// The key looked up.
        key: Key,
    },
    /// Store `record` under its key (derived from the record itself).
    Store {
        /// A token the responder gave to this IP in an earlier response.
        token: Token,
        /// The record.
        record: Record,
    },
    /// Record the sender (at its source address) as a provider of `key`.
    AddProvider {
        /// A token the responder gave to this IP in an earlier response.
        token: Token,
        /// The content key.
        key: Key,
    },
    /// The providers of `key` the responder knows, and closer contacts.
    GetProviders {
        /// The content key.
        key: Key,
    },
}

/// Answers to the requests, in request order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Response {
    /// Answer to [`Request::Ping`].
    Pong {
        /// The requester's address as the responder sees it.
        your_addr: SocketAddr,
        /// Present when the ping carried a challenge.
        proof: Option<KeyProof>,
    },
    /// Answer to FIND_NODE, and to FIND_VALUE when no record is stored.
    Nodes {
        /// Token for a later STORE or ADD_PROVIDER from this IP.
        token: Token,
        /// Closest contacts known, at most [`super::MAX_CONTACTS`].
        #[serde(deserialize_with = "super::bounded::contacts")]
        nodes: Vec<Contact>,
        /// Present when a FIND_NODE carried a challenge (never in an
        /// answer to FIND_VALUE).
        proof: Option<KeyProof>,
    },
    /// Answer to FIND_VALUE when a record is stored.
    Value {
        /// Token for a later STORE from this IP.
        token: Token,
        /// The record.
        record: Record,
    },
    /// Answer to STORE and ADD_PROVIDER: accepted.
    Stored,
    /// Answer to GET_PROVIDERS.
    Providers {
        /// Token for a later ADD_PROVIDER from this IP.
        token: Token,
        /// Known providers, at most [`super::MAX_PROVIDERS`].
        #[serde(deserialize_with = "super::bounded::providers")]
        providers: Vec<Contact>,
        /// Closer contacts, at most [`super::MAX_CONTACTS`].
        #[serde(deserialize_with = "super::bounded::contacts")]
        nodes: Vec<Contact>,
    },
}

/// Why a request was not served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ErrorCode {
    /// The STORE/ADD_PROVIDER token is missing, forged, or too old.
    InvalidToken,
    /// The record was refused, with the reason.
    Refused(Refusal),
    /// The sender exceeded its request budget; retry later.
    RateLimited,
    /// The request is well-formed but this node does not serve it.
    Unsupported,
}
