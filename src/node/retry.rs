//! Retransmission of lookup requests, key proofs and bootstrap pings: when
//! one passes its soft deadline, the engine sends it again to the same
//! address before it counts as failed: `Config::request_retries` times, or,
//! for a lookup request, `Config::close_request_retries` times when the
//! contact is among the lookup's k closest candidates and the node has
//! recently seen datagram loss.
//!
//! This module owns the copies of a retransmitted request: which
//! transaction ids belong to one lookup request, the timeout of each copy,
//! how many copies a request gets, the node's recent-loss estimate that
//! decides it, and the rule that the request fails once (not once per copy)
//! and is answered once (the first answer to any copy retires the others).
//! It must never retransmit a store, an add-provider, a repair or an
//! eviction ping (they have their own timeout rules), never retransmit a
//! lookup request to a contact the routing table holds as stale, and never
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
//!
//! Why extra retries only for the k closest, and only after loss was seen:
//! a lookup's result is the k closest peers that answered, so only a peer
//! among the k closest candidates can be missing from it because its
//! answer was lost; a peer ranked beyond them changes nothing by failing
//! (its answer would only have named contacts, which other answers name
//! too). Spending the extra copies is worth it only when a silent contact
//! is likely alive but unlucky, which is what an answer to a retransmitted
//! copy shows; dead contacts (churn) never answer, so on a network without
//! loss the estimate stays at zero and a dead contact costs no extra
//! datagram.
//!
//! Why every copy waits the same adaptive timeout instead of doubling it:
//! independent loss is not congestion, and the adaptive timeout (SRTT + 4
//! RTTVAR, or 1.5 times the largest recent round trip for an unmeasured
//! peer) already bounds a live round trip with margin. A copy sent too
//! early costs one datagram, never the answer: every earlier copy stays
//! matchable until its own timeout plus `Config::rpc_late_window`. So a
//! contact that never answers holds its lookup for at most
//! `(1 + retries)` timeouts: 3 by default, 5 with the close budget, where
//! doubling would take 7 and 31.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::requests::{Attempt, Purpose};
use super::txmap::TxIdMap;
use super::{Node, QueryId};
use crate::id::NodeId;
use crate::wire::{Request, TxId};

impl Purpose {
    /// Which copy the request is, for the requests sent in copies: lookup
    /// steps, key proofs and bootstrap pings.
    pub(super) fn attempt(&self) -> Option<Attempt> {
        match *self {
            Purpose::Lookup(_, attempt)
            | Purpose::Proof { attempt, .. }
            | Purpose::BootstrapPing { attempt, .. } => Some(attempt),
            Purpose::Store(_) | Purpose::Repair | Purpose::Eviction => None,
        }
    }
}

/// Weight of one answered request in [`RecentLoss`]: the estimate follows
/// about the last 32 answered requests (a lookup's worth), so it
/// notices loss within the lookup that meets it and forgets it after a
/// few lossless lookups.
const RECENT_LOSS_WEIGHT: f64 = 1.0 / 32.0;

/// The [`RecentLoss`] estimate at and above which loss counts as seen.
/// One answer to a retransmitted copy raises the estimate from 0 to 1/32
/// (it then stays above 1/64 for the next 21 answered requests).
const LOSS_SEEN: f64 = 1.0 / 64.0;

/// The node's estimate of how often a round trip to a live contact fails:
/// an exponentially weighted average over answered requests sent in copies
/// (lookup steps, key proofs, bootstrap pings) of "the answer came to a
/// retransmitted copy" (then the first copy's round trip failed). Requests
/// never answered do not count, so departed contacts (churn) do not look
/// like loss.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(super) struct RecentLoss {
    rate: f64,
}

impl RecentLoss {
    /// A request sent in copies was answered on copy `attempt`.
    fn answered(&mut self, attempt: Attempt) {
        let sample = if attempt.number > 0 { 1.0 } else { 0.0 };
        self.rate += (sample - self.rate) * RECENT_LOSS_WEIGHT;
    }

    /// Whether loss was seen recently: a silent contact may then well be
    /// alive, and one among the k closest gets the close retry budget.
    pub(super) fn seen(&self) -> bool {
        self.rate >= LOSS_SEEN
    }

    /// The estimate, 0 to 1.
    #[cfg(test)]
    pub(super) fn rate(&self) -> f64 {
        self.rate
    }
}

/// The copies still pending of each retransmitted request, keyed by
/// the txid of its first copy, and the recent-loss estimate their answers
/// feed. A request never retransmitted has no entry, so a network without
/// loss pays nothing here.
#[derive(Debug, Clone, Default)]
pub(super) struct Retransmissions {
    groups: TxIdMap<Vec<TxId>>,
    pub(super) recent_loss: RecentLoss,
}

impl Retransmissions {
    /// Copy `copy` of the request whose first copy is `first` was sent.
    fn record(&mut self, first: TxId, copy: TxId) {
        self.groups
            .entry(first)
            .or_insert_with(|| vec![first])
            .push(copy);
    }

    /// Copy `txid` was answered: feeds the recent-loss estimate, forgets
    /// the copy's group and returns the other copies, which the caller
    /// retires.
    fn answered(&mut self, txid: TxId, attempt: Attempt) -> Vec<TxId> {
        self.recent_loss.answered(attempt);
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
    /// to `peer` at `to` fired. Sends the next copy, with the peer's
    /// adaptive timeout, when the request has retries left (see
    /// [`retry_budget`](Self::retry_budget)), the contact is not stale in
    /// the routing table, and the lookup still waits for the peer. Returns
    /// whether it did; if not, the caller marks the request overdue.
    pub(super) fn retransmit_lookup(
        &mut self,
        now: Instant,
        qid: QueryId,
        txid: TxId,
        attempt: Attempt,
        to: SocketAddr,
        peer: NodeId,
    ) -> bool {
        if attempt.number >= self.retry_budget(qid, &peer) {
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
        let Some(request) = self.queries.on_lookup_retry(qid, &peer) else {
            return false;
        };
        let request = request.with_challenge(challenge);
        let timeout = self.rtt.timeout(&to);
        let first = attempt.group(txid);
        let next = attempt.next(txid);
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
                self.queries.on_lookup_overdue(qid, &peer);
            }
        }
        true
    }

    /// How many retransmissions a lookup request of query `qid` to `peer`
    /// gets, decided afresh at each copy's deadline:
    /// `Config::close_request_retries` when loss was seen recently and the
    /// peer is among the lookup's k closest live candidates (its answer is
    /// part of the result), `Config::request_retries` otherwise (a peer
    /// ranked beyond the k closest cannot change the result by failing,
    /// and without loss a silent peer is most likely gone).
    fn retry_budget(&self, qid: QueryId, peer: &NodeId) -> u32 {
        let base = self.config.request_retries;
        let close = self.config.close_request_retries;
        if close <= base || !self.retransmissions.recent_loss.seen() {
            return base;
        }
        if self.queries.is_among_closest(qid, peer) {
            close
        } else {
            base
        }
    }

    /// The soft deadline of copy `txid` of a key-proof or bootstrap ping
    /// (`purpose`) to `to` fired. Sends the next copy (the same challenge,
    /// a fresh txid, the adaptive timeout) when `Config::request_retries`
    /// allows one more, and returns its timeout; `None` when it did not.
    /// The contact just sent us a datagram (a key proof is asked of a
    /// contact that wrote to us) or was given as a bootstrap address, so a
    /// silent ping is most likely a lost datagram, and a lost proof would
    /// keep a live node out of the routing table.
    pub(super) fn retransmit_ping(
        &mut self,
        now: Instant,
        txid: TxId,
        purpose: Purpose,
        to: SocketAddr,
        expected: Option<NodeId>,
    ) -> Option<Duration> {
        let (nonce, attempt) = match purpose {
            Purpose::Proof { nonce, attempt } | Purpose::BootstrapPing { nonce, attempt, .. } => {
                (nonce, attempt)
            }
            Purpose::Lookup(..) | Purpose::Store(_) | Purpose::Repair | Purpose::Eviction => {
                return None
            }
        };
        if attempt.number >= self.config.request_retries {
            return None;
        }
        let next = attempt.next(txid);
        let purpose = match purpose {
            Purpose::BootstrapPing { query, .. } => {
                self.queries.on_extra_message(query);
                Purpose::BootstrapPing {
                    query,
                    nonce,
                    attempt: next,
                }
            }
            _ => Purpose::Proof {
                nonce,
                attempt: next,
            },
        };
        let timeout = self.rtt.timeout(&to);
        let request = Request::Ping {
            challenge: Some(nonce),
        };
        let copy = self.send_request_timed(now, to, expected, request, purpose, timeout)?;
        self.retransmissions.record(attempt.group(txid), copy);
        Some(timeout)
    }

    /// Copy `txid` of a request sent in copies was answered (a response or an
    /// error): the request is complete, so its other copies are retired and
    /// their answers, if any come, are dropped as unsolicited.
    pub(super) fn retire_other_copies(&mut self, txid: TxId, purpose: Purpose) {
        let Some(attempt) = purpose.attempt() else {
            return;
        };
        for copy in self.retransmissions.answered(txid, attempt) {
            self.remove_pending(copy);
        }
    }

    /// Copy `txid` of a request sent in copies expired. Returns whether another
    /// copy is still pending, in which case the request has not failed.
    pub(super) fn copy_superseded(&mut self, txid: TxId, attempt: Attempt) -> bool {
        self.retransmissions.expired(txid, attempt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answered_on(number: u32) -> Attempt {
        Attempt {
            number,
            first: None,
        }
    }

    #[test]
    fn no_loss_is_seen_before_any_answer_or_after_first_copy_answers_only() {
        let mut loss = RecentLoss::default();
        assert!(!loss.seen());
        for _ in 0..1_000 {
            loss.answered(answered_on(0));
        }
        assert_eq!(loss.rate(), 0.0);
        assert!(!loss.seen());
    }

    #[test]
    fn one_answer_to_a_copy_is_seen_for_the_next_21_answered_requests() {
        let mut loss = RecentLoss::default();
        loss.answered(answered_on(2));
        assert_eq!(loss.rate(), RECENT_LOSS_WEIGHT);
        assert!(loss.seen());
        // 1/32 * (31/32)^n >= 1/64 holds up to n = 21.
        for n in 1..=21 {
            loss.answered(answered_on(0));
            assert!(loss.seen(), "after {n} lossless answers");
        }
        loss.answered(answered_on(0));
        assert!(!loss.seen());
    }

    #[test]
    fn steady_loss_drives_the_estimate_to_the_share_of_rescued_requests() {
        let mut loss = RecentLoss::default();
        // One request in five answered on a copy (10% loss each way makes
        // it 19%).
        for i in 0..2_000 {
            loss.answered(answered_on(u32::from(i % 5 == 0)));
        }
        assert!((loss.rate() - 0.2).abs() < 0.03, "{}", loss.rate());
        assert!(loss.seen());
    }
}
