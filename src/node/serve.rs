//! Serving the RPCs other nodes send: PING, FIND_NODE, FIND_VALUE, STORE,
//! ADD_PROVIDER, GET_PROVIDERS.
//!
//! This module owns the answer to each request: key proofs, the contacts
//! listed, STORE tokens and what the store accepts. Every request passes
//! the per-source rate limit first; every answer passes the
//! anti-amplification budget. It must never answer in client mode or as
//! ourselves, never store without a valid token, and never list the
//! requester or a contact that stopped answering.

use std::net::SocketAddr;
use std::time::Instant;

use super::Node;
use crate::id::NodeId;
use crate::wire::{Body, Contact, ErrorCode, Request, Response, TxId};

impl Node {
    pub(super) fn handle_request(
        &mut self,
        now: Instant,
        from: SocketAddr,
        txid: TxId,
        sender: NodeId,
        read_only: bool,
        request: Request,
    ) {
        // A client-mode node answers nothing, and nobody talks as us.
        if self.config.client_mode || sender == self.id {
            return;
        }
        if !self.limiter.allow_request(now, from.ip()) {
            self.stats.requests_rate_limited += 1;
            return;
        }
        self.stats.requests_served += 1;
        let body = match request {
            Request::Ping { challenge } => Body::Response(Response::Pong {
                your_addr: from,
                proof: challenge.map(|n| self.proofs.prove(&self.identity, &n)),
            }),
            Request::FindNode { target, challenge } => Body::Response(Response::Nodes {
                token: self.tokens.issue(now, from.ip(), &mut self.rng),
                nodes: self.closest_for(&target, &sender),
                proof: challenge.map(|n| self.proofs.prove(&self.identity, &n)),
            }),
            Request::FindValue { key } => {
                let token = self.tokens.issue(now, from.ip(), &mut self.rng);
                match self.store.get(now, &key) {
                    Some(record) => Body::Response(Response::Value {
                        token,
                        record: record.clone(),
                    }),
                    None => Body::Response(Response::Nodes {
                        token,
                        nodes: self.closest_for(&key, &sender),
                        proof: None,
                    }),
                }
            }
            Request::Store { token, record } => {
                if !self.tokens.check(now, from.ip(), &token, &mut self.rng) {
                    self.stats.stores_refused += 1;
                    Body::Error(ErrorCode::InvalidToken)
                } else {
                    match self.store.put(now, from.ip(), record) {
                        Ok(_) => {
                            self.stats.stores_accepted += 1;
                            Body::Response(Response::Stored)
                        }
                        Err(refusal) => {
                            self.stats.stores_refused += 1;
                            Body::Error(ErrorCode::Refused(refusal))
                        }
                    }
                }
            }
            Request::AddProvider { token, key } => {
                if !self.tokens.check(now, from.ip(), &token, &mut self.rng) {
                    self.stats.stores_refused += 1;
                    Body::Error(ErrorCode::InvalidToken)
                } else {
                    let provider = Contact {
                        id: sender,
                        addr: from,
                    };
                    match self.store.add_provider(now, key, provider) {
                        Ok(_) => {
                            self.stats.stores_accepted += 1;
                            Body::Response(Response::Stored)
                        }
                        Err(refusal) => {
                            self.stats.stores_refused += 1;
                            Body::Error(ErrorCode::Refused(refusal))
                        }
                    }
                }
            }
            Request::GetProviders { key } => {
                let token = self.tokens.issue(now, from.ip(), &mut self.rng);
                let providers = self.store.providers(now, &key);
                let nodes = self.closest_for(&key, &sender);
                self.codec
                    .providers_answer(txid, self.id, token, &providers, &nodes)
            }
        };
        self.send_response(now, from, sender, txid, body);
        // A node that talks to us may belong in our table: ask it to prove
        // its key (read-only clients never enter).
        if !read_only && !self.table.contains(&sender) {
            self.start_proof(
                now,
                Contact {
                    id: sender,
                    addr: from,
                },
            );
        }
    }

    /// The contacts closest to `target` for an answer, without the requester
    /// itself and without contacts that failed `max_failures` requests in a
    /// row (they stay in the table until a spare replaces them, but sending
    /// a requester to a node that stopped answering only costs it a
    /// timeout).
    ///
    /// Contacts are taken in distance order from one lazy walk of the
    /// table: the nearest `n + 1`, and if fewer than `n` of them are usable
    /// (rare: only after failures), twice as many more as were left out.
    fn closest_for(&self, target: &NodeId, requester: &NodeId) -> Vec<Contact> {
        let n = self.config.k.min(self.codec.max_contacts());
        let max_failures = self.config.max_failures;
        let mut nodes = Vec::with_capacity(n);
        let mut limit = n + 1;
        let mut asked = 0;
        let mut walk = self.table.closest_iter(target);
        while nodes.len() < n {
            if asked == limit {
                if limit > n + 1 {
                    break;
                }
                limit = n + 1 + (n + 1 - nodes.len()) * 2;
            }
            let Some((contact, failures)) = walk.next_contact() else {
                break;
            };
            asked += 1;
            if contact.id != *requester && failures < max_failures {
                nodes.push(contact);
            }
        }
        nodes
    }
}
