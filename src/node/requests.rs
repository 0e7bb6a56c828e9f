//! Requests this node sends: transaction ids, sending, deadlines, and
//! matching each answer to its request.
//!
//! This module owns the table of outstanding requests ([`Pending`], keyed
//! by txid), why each was sent ([`Purpose`]), its soft and hard deadlines,
//! and where its answer, error or timeout goes: a query of the pool, the
//! admission of a contact, or nobody (a repair). It must never accept an
//! answer that does not match an outstanding request by txid, source
//! address and expected sender, never answer requests of others (that is
//! `serve`), and never decide what a query does next (that is `query`).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rand::Rng;

use super::{Node, QueryId, Transmit};
use crate::id::NodeId;
use crate::wire::{self, Body, Contact, Message, Nonce, Request, Response, TxId};

/// Why a request is outstanding.
#[derive(Debug, Clone, Copy)]
pub(super) enum Purpose {
    /// A lookup step of a query: one copy of it (see `retry`).
    Lookup(QueryId, Attempt),
    /// A STORE or ADD_PROVIDER of a query's store phase.
    Store(QueryId),
    /// A STORE pushing a newer record to a stale holder; nobody waits.
    Repair,
    /// A ping asking an unknown contact to prove its key: one copy of it
    /// (see `retry`).
    Proof {
        /// The challenge.
        nonce: Nonce,
        /// Which copy.
        attempt: Attempt,
    },
    /// A ping to a bootstrap address (id unknown until it proves it): one
    /// copy of it (see `retry`).
    BootstrapPing {
        query: QueryId,
        nonce: Nonce,
        attempt: Attempt,
    },
    /// Ping-before-evict of the least recently seen contact of a bucket.
    Eviction,
}

/// Which copy of a lookup request a pending request is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) struct Attempt {
    /// Retransmissions before this copy: 0 for the first send.
    pub(super) number: u32,
    /// The txid of the first copy; `None` for the first copy itself.
    pub(super) first: Option<TxId>,
}

impl Attempt {
    /// The key of the copy's group: the txid of the first copy.
    pub(super) fn group(&self, txid: TxId) -> TxId {
        self.first.unwrap_or(txid)
    }

    /// The copy after this one, which is copy `txid`.
    pub(super) fn next(&self, txid: TxId) -> Attempt {
        Attempt {
            number: self.number.saturating_add(1),
            first: Some(self.group(txid)),
        }
    }
}

/// An outstanding request: where it went, why, and until when an answer
/// is taken.
#[derive(Debug, Clone)]
pub(super) struct Pending {
    to: SocketAddr,
    expected: Option<NodeId>,
    sent_at: Instant,
    purpose: Purpose,
    /// Passed its soft deadline; its slot was freed but an answer is still
    /// taken until the hard deadline.
    overdue: bool,
    /// The deadline this request has in `Node::deadlines` (soft, then
    /// hard), so that an answered request takes it out again.
    deadline: Instant,
    /// The key-proof challenge a FIND_NODE carried, checked against the
    /// proof in its answer (and carried again by its retransmitted copies).
    pub(super) challenge: Option<Nonce>,
}

impl Node {
    /// A transaction id no outstanding request holds.
    fn new_txid(&mut self) -> TxId {
        loop {
            let t: TxId = self.rng.gen();
            if !self.pending.contains_key(&t) {
                return t;
            }
        }
    }

    /// Encodes and queues `request` to `to`, and tracks it with the
    /// adaptive timeout.
    pub(super) fn send_request(
        &mut self,
        now: Instant,
        to: SocketAddr,
        expected: Option<NodeId>,
        request: Request,
        purpose: Purpose,
    ) -> Option<TxId> {
        let timeout = self.rtt.timeout(&to);
        self.send_request_timed(now, to, expected, request, purpose, timeout)
    }

    /// [`Node::send_request`] with an explicit soft timeout.
    pub(super) fn send_request_timed(
        &mut self,
        now: Instant,
        to: SocketAddr,
        expected: Option<NodeId>,
        request: Request,
        purpose: Purpose,
        timeout: Duration,
    ) -> Option<TxId> {
        let txid = self.new_txid();
        let challenge = match request {
            Request::FindNode { challenge, .. } => challenge,
            _ => None,
        };
        let msg = Message {
            txid,
            sender: self.id,
            body: Body::Request {
                read_only: self.config.client_mode,
                request,
            },
        };
        let payload = match self.codec.encode(&msg) {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(error = %e, "request does not fit a datagram; not sent");
                return None;
            }
        };
        self.transmits.push_back(Transmit { dest: to, payload });
        self.pending.insert(
            txid,
            Pending {
                to,
                expected,
                sent_at: now,
                purpose,
                overdue: false,
                deadline: now + timeout,
                challenge,
            },
        );
        self.deadlines.insert((now + timeout, txid));
        Some(txid)
    }

    /// Encodes and queues an answer to request `txid` of `requester` at
    /// `to`, within the anti-amplification budget.
    pub(super) fn send_response(
        &mut self,
        now: Instant,
        to: SocketAddr,
        requester: NodeId,
        txid: TxId,
        body: Body,
    ) {
        let msg = Message {
            txid,
            sender: self.id,
            body,
        };
        let payload = match self.codec.encode(&msg) {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(error = %e, "response does not fit a datagram; not sent");
                return;
            }
        };
        // Anti-amplification: an address that never completed a round trip
        // with us (it may be a spoofed victim) gets a bounded byte budget.
        if !self.is_verified(&requester, &to)
            && !self
                .limiter
                .allow_unverified_send(now, to.ip(), payload.len())
        {
            self.stats.responses_throttled += 1;
            return;
        }
        self.transmits.push_back(Transmit { dest: to, payload });
    }

    /// Whether `id` at `addr` is a contact of our table (it answered us
    /// from that address, so the address is not spoofed).
    pub(super) fn is_verified(&self, id: &NodeId, addr: &SocketAddr) -> bool {
        self.table.addr_of(id).is_some_and(|a| a == *addr)
    }

    /// Stops tracking request `txid` (answered or retired) and takes its
    /// deadline out, so that no timer fires for it.
    pub(super) fn remove_pending(&mut self, txid: TxId) -> Option<Pending> {
        let p = self.pending.remove(&txid)?;
        self.deadlines.remove(&(p.deadline, txid));
        Some(p)
    }

    /// A soft or hard request deadline fired.
    pub(super) fn request_deadline(&mut self, now: Instant, txid: TxId) {
        let Some(p) = self.pending.get_mut(&txid) else {
            return;
        };
        if !p.overdue {
            match p.purpose {
                Purpose::Lookup(qid, attempt) => {
                    // Soft deadline of a lookup request: free its slot, keep
                    // listening for a late answer, and send it again if
                    // retries are left (the lookup then still waits for
                    // this peer); otherwise it is overdue.
                    p.overdue = true;
                    let hard = now + self.config.rpc_late_window;
                    p.deadline = hard;
                    let (peer, to) = (p.expected, p.to);
                    self.deadlines.insert((hard, txid));
                    if let Some(peer) = peer {
                        if !self.retransmit_lookup(now, qid, txid, attempt, to, peer) {
                            self.queries.on_lookup_overdue(qid, &peer);
                        }
                    }
                    self.drive_query(now, qid);
                    return;
                }
                Purpose::Proof { .. } | Purpose::Eviction | Purpose::Repair => {
                    // Nobody waits on these, and failing them early is
                    // costly (a live contact evicted, a proof lost): they
                    // get the late window too, and a key proof is sent
                    // again if retries are left.
                    p.overdue = true;
                    let (purpose, to, expected) = (p.purpose, p.to, p.expected);
                    p.deadline = now + self.config.rpc_late_window;
                    self.deadlines.insert((p.deadline, txid));
                    self.retransmit_ping(now, txid, purpose, to, expected);
                    return;
                }
                Purpose::BootstrapPing { .. } => {
                    // The bootstrap waits on it: a copy keeps it matchable
                    // only until the next copy's timeout.
                    let (purpose, to, expected) = (p.purpose, p.to, p.expected);
                    if let Some(timeout) = self.retransmit_ping(now, txid, purpose, to, expected) {
                        if let Some(p) = self.pending.get_mut(&txid) {
                            p.overdue = true;
                            p.deadline = now + timeout;
                        }
                        self.deadlines.insert((now + timeout, txid));
                        return;
                    }
                }
                Purpose::Store(_) => {}
            }
        }
        let Some(p) = self.pending.remove(&txid) else {
            return;
        };
        // A request sent in copies fails once, when its last copy expires.
        if let Some(attempt) = p.purpose.attempt() {
            if self.copy_superseded(txid, attempt) {
                return;
            }
        }
        self.stats.requests_timed_out += 1;
        self.request_failed(now, p);
    }

    /// An outstanding request failed (timeout or error answer).
    fn request_failed(&mut self, now: Instant, p: Pending) {
        if let Some(id) = p.expected {
            let _ = self.table.on_failure(&id);
        }
        match p.purpose {
            Purpose::Lookup(qid, _) => {
                if let Some(peer) = p.expected {
                    self.queries.on_lookup_failed(qid, &peer);
                }
                self.drive_query(now, qid);
            }
            Purpose::Store(qid) => {
                self.queries.on_store_failed(qid);
                self.drive_query(now, qid);
            }
            Purpose::Proof { .. } => {
                if let Some(id) = p.expected {
                    self.proving.remove(&id);
                }
            }
            Purpose::BootstrapPing { query, .. } => {
                self.queries.on_bootstrap_ping(query, false);
                self.drive_query(now, query);
            }
            Purpose::Eviction => {
                if let Some(id) = p.expected {
                    self.evicting.remove(&id);
                    let _ = self.table.resolve_eviction(&id, false, now);
                }
            }
            Purpose::Repair => {}
        }
    }

    /// An answer (a response or an error) came from `from` for request
    /// `txid`: matches it to its request and hands it to whoever waits.
    pub(super) fn handle_answer(
        &mut self,
        now: Instant,
        from: SocketAddr,
        txid: TxId,
        sender: NodeId,
        answer: Result<Response, wire::ErrorCode>,
    ) {
        let matches = self.pending.get(&txid).is_some_and(|p| {
            p.to == from && p.expected.is_none_or(|e| e == sender) && sender != self.id
        });
        if !matches {
            self.stats.responses_unsolicited += 1;
            return;
        }
        let Some(p) = self.remove_pending(txid) else {
            return;
        };
        // Any answer to one copy of a request completes it: the other
        // copies' answers will be unsolicited.
        self.retire_other_copies(txid, p.purpose);
        self.rtt
            .sample(from, now.saturating_duration_since(p.sent_at));
        let contact = Contact {
            id: sender,
            addr: from,
        };
        // Any answer proves liveness; a contact not yet in the table must
        // prove its key before it enters (a spare in a replacement cache
        // already did).
        if self.table.contains(&sender) || self.is_spare(&contact) {
            self.table.on_success(&sender, now);
        } else if let (Some(nonce), Ok(Response::Nodes { proof, .. })) = (&p.challenge, &answer) {
            // A FIND_NODE that carried a challenge: its answer holds the
            // proof (or, from a peer that left it out, a PING asks again).
            match proof {
                Some(proof) => {
                    self.check_proof(now, contact, nonce, Some(proof));
                }
                None => self.start_proof(now, contact),
            }
        } else if !matches!(
            p.purpose,
            Purpose::Proof { .. } | Purpose::BootstrapPing { .. }
        ) {
            self.start_proof(now, contact);
        }
        let answer = match answer {
            Ok(r) => r,
            Err(code) => {
                tracing::debug!(%from, ?code, "error answer");
                match p.purpose {
                    Purpose::Store(qid) => {
                        self.queries.on_store_answered(qid, Err(code));
                        self.drive_query(now, qid);
                    }
                    _ => self.request_failed(now, p),
                }
                return;
            }
        };
        match p.purpose {
            Purpose::Lookup(qid, _) => {
                self.queries.on_lookup_answer(qid, contact, answer);
                self.drive_query(now, qid);
            }
            Purpose::Store(qid) => {
                self.queries.on_store_answered(qid, Ok(()));
                self.drive_query(now, qid);
            }
            Purpose::Repair => {}
            Purpose::Proof { nonce, .. } => {
                self.proving.remove(&sender);
                self.proof_answer(now, contact, &nonce, &answer);
            }
            Purpose::BootstrapPing { query, nonce, .. } => {
                let ok = self.proof_answer(now, contact, &nonce, &answer);
                self.queries.on_bootstrap_ping(query, ok);
                self.drive_query(now, query);
            }
            Purpose::Eviction => {
                self.evicting.remove(&sender);
                let _ = self.table.resolve_eviction(&sender, true, now);
            }
        }
    }

    /// Whether `id` is a table entry that failed `max_failures` requests in
    /// a row: most likely gone, so neither retried nor listed in answers.
    pub(super) fn is_stale(&self, id: &NodeId) -> bool {
        self.table
            .failures_of(id)
            .is_some_and(|f| f >= self.config.max_failures)
    }
}
