//! Retransmission of lookup requests: when a lookup request passes its soft
//! deadline, the engine sends it again to the same contact, up to
//! `Config::request_retries` times, before the contact counts as failed
//! for the lookup.
//!
//! This module owns the copies of a retransmitted request: which
//! transaction ids belong to one lookup request, the backed-off timeout of
//! each copy, and the rule that the request fails once (not once per copy)
//! and is answered once (the first answer to any copy retires the others).
//! It must never retransmit anything but a lookup step (stores, key proofs,
//! evictions and bootstrap pings have their own timeout rules), never
//! retransmit to a contact the routing table holds as stale, and never
//! touch the wire format: a copy is an ordinary request with a fresh
//! transaction id.
//!
//! Why a fresh transaction id per copy rather than the same one: each copy
//! then has its own send time, so whichever copy is answered gives an exact
//! round-trip sample (with one id for both, a sample is ambiguous and TCP's
//! Karn rule would have to discard it), and "a second answer to a completed
//! request is dropped" stays a per-txid rule of the matcher. The price is
//! this bookkeeping: the copies of one request are grouped under the txid
//! of the first copy.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::{Node, Purpose, QueryId};
use crate::id::NodeId;
use crate::wire::TxId;

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
    fn group(&self, txid: TxId) -> TxId {
        self.first.unwrap_or(txid)
    }
}

/// The copies still pending of each retransmitted lookup request, keyed by
/// the txid of its first copy. A request never retransmitted has no entry,
/// so a network without loss pays nothing here.
#[derive(Debug, Clone, Default)]
pub(super) struct Retransmissions {
    groups: HashMap<TxId, Vec<TxId>>,
}

impl Retransmissions {
    /// Copy `copy` of the request whose first copy is `first` was sent.
    fn record(&mut self, first: TxId, copy: TxId) {
        self.groups
            .entry(first)
            .or_insert_with(|| vec![first])
            .push(copy);
    }

    /// Copy `txid` was answered: forgets its group and returns the other
    /// copies, which the caller retires.
    fn answered(&mut self, txid: TxId, attempt: Attempt) -> Vec<TxId> {
        let mut copies = self.groups.remove(&attempt.group(txid)).unwrap_or_default();
        copies.retain(|&t| t != txid);
        copies
    }

    /// Copy `txid` expired (its late window is over). Returns whether
    /// another copy of the same request is still pending: then the request
    /// has not failed yet.
    fn expired(&mut self, txid: TxId, attempt: Attempt) -> bool {
        let group = attempt.group(txid);
        let Some(copies) = self.groups.get_mut(&group) else {
            return false;
        };
        copies.retain(|&t| t != txid);
        if copies.is_empty() {
            self.groups.remove(&group);
            false
        } else {
            true
        }
    }

    /// Shrinks the map when it holds under a quarter of its capacity.
    pub(super) fn release_memory(&mut self) {
        if self.groups.len() * 4 < self.groups.capacity() {
            self.groups.shrink_to(2 * self.groups.len());
        }
    }
}

impl Node {
    /// The soft deadline of copy `txid` of a lookup request of query `qid`
    /// to `peer` at `to` fired. Sends the next copy, with twice the
    /// previous copy's timeout (at most `Config::rpc_timeout_max`), when
    /// retries are left, the contact is not stale in the routing table, and
    /// the lookup still waits for the peer. Returns whether it did; if not,
    /// the caller marks the request overdue.
    pub(super) fn retransmit_lookup(
        &mut self,
        now: Instant,
        qid: QueryId,
        txid: TxId,
        attempt: Attempt,
        to: SocketAddr,
        peer: NodeId,
    ) -> bool {
        if attempt.number >= self.config.request_retries {
            return false;
        }
        // A contact that failed `max_failures` requests in a row (each
        // request with all its retries) is most likely gone: do not spend
        // more datagrams on it.
        if self.is_stale(&peer) {
            return false;
        }
        // A copy carries the first copy's challenge, if any.
        let challenge = self.pending.get(&txid).and_then(|p| p.challenge);
        let Some(q) = self.queries.get_mut(&qid) else {
            return false;
        };
        if !q.iter.on_retry(&peer) {
            return false;
        }
        let request = q.lookup_request(challenge);
        let number = attempt.number.saturating_add(1);
        let timeout = self.retransmit_timeout(&to, number);
        let first = attempt.group(txid);
        let next = Attempt {
            number,
            first: Some(first),
        };
        match self.send_request_timed(
            now,
            to,
            Some(peer),
            request,
            Purpose::Lookup(qid, next),
            timeout,
        ) {
            Some(copy) => self.retransmissions.record(first, copy),
            None => {
                // Cannot happen (the first copy encoded), but the iterator
                // must still hear that the request is overdue.
                if let Some(q) = self.queries.get_mut(&qid) {
                    q.iter.on_overdue(&peer);
                }
            }
        }
        true
    }

    /// The timeout of copy `number` (1 = first retransmission) to `to`:
    /// the adaptive timeout doubled per retransmission, as TCP backs off
    /// its RTO, capped at `Config::rpc_timeout_max` (or the adaptive
    /// timeout, if that is larger).
    fn retransmit_timeout(&self, to: &SocketAddr, number: u32) -> Duration {
        let base = self.rtt.timeout(to);
        let factor = 1u32.checked_shl(number).unwrap_or(u32::MAX);
        base.saturating_mul(factor)
            .min(self.config.rpc_timeout_max.max(base))
    }

    /// Copy `txid` of a lookup request was answered (a response or an
    /// error): the request is complete, so its other copies are retired and
    /// their answers, if any come, are dropped as unsolicited.
    pub(super) fn retire_other_copies(&mut self, txid: TxId, attempt: Attempt) {
        for copy in self.retransmissions.answered(txid, attempt) {
            self.remove_pending(copy);
        }
    }

    /// Copy `txid` of a lookup request expired. Returns whether another
    /// copy is still pending, in which case the request has not failed.
    pub(super) fn copy_superseded(&mut self, txid: TxId, attempt: Attempt) -> bool {
        self.retransmissions.expired(txid, attempt)
    }
}
