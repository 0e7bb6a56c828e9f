//! Admission to the routing table: a contact enters only after it proved
//! it holds the key behind its id, and a full bucket pings its least
//! recently seen contact before evicting it.
//!
//! This module owns when a key proof is asked (a PING with a challenge, or
//! a challenge riding on a lookup's FIND_NODE), when it is not worth asking
//! (it could not change the table), checking the proof (`proof`: ed25519,
//! or the simulator's modelled stand-in), offering a proven contact to the
//! table, and ping-before-evict. It must never let a contact into the
//! table without a verified proof, never ask a contact again while its
//! proof is under way, and never keep more than
//! `Config::max_pending_proofs` proofs in flight.

mod proof;

use std::time::Instant;

use rand::Rng;

use super::requests::Attempt;
use super::requests::Purpose;
use super::Node;
use crate::routing::InsertOutcome;
use crate::wire::{Contact, KeyProof, Nonce, Request, Response};

pub(crate) use proof::ProofScheme;

impl Node {
    /// Whether `contact` waits in a replacement cache, at that address: it
    /// proved its key when it was parked there.
    pub(in crate::node) fn is_spare(&self, contact: &Contact) -> bool {
        self.id
            .bucket_index(&contact.id)
            .and_then(|i| self.table.bucket(i))
            .is_some_and(|b| b.has_replacement(contact))
    }

    /// Whether a key proof of `contact` could change the routing table.
    /// Not when it is already a spare (it proved its key then), and not
    /// when its bucket is full of entries with no failed request and the
    /// bucket's replacement cache is full of spares seen within the
    /// refresh interval: the newcomer would at best displace a fresh spare.
    /// A proof costs the peer a signature, us a verification, and both a
    /// round trip, so it is asked only when it can change the table.
    fn proof_could_matter(&self, now: Instant, contact: &Contact) -> bool {
        let Some(bucket) = self
            .id
            .bucket_index(&contact.id)
            .and_then(|i| self.table.bucket(i))
        else {
            return false;
        };
        if bucket.has_replacement(contact) {
            return false;
        }
        let bucket_settled = bucket.len() >= self.config.k && bucket.no_failures();
        let spares_fresh = bucket.replacements().len() >= self.config.replacement_cache_size
            && bucket.replacements().all(|e| {
                now.saturating_duration_since(e.last_seen) < self.config.bucket_refresh_interval
            });
        !(bucket_settled && spares_fresh)
    }

    /// The challenge a FIND_NODE to `contact` should carry: a fresh nonce
    /// when `contact` is a stranger whose key proof could change the table
    /// and no proof of it is under way, so that its answer proves its key
    /// and no separate PING is needed.
    pub(in crate::node) fn lookup_challenge(
        &mut self,
        now: Instant,
        contact: &Contact,
    ) -> Option<Nonce> {
        let wanted = !self.table.contains(&contact.id)
            && !self.proving.contains(&contact.id)
            && self.proof_could_matter(now, contact);
        wanted.then(|| self.rng.gen())
    }

    /// Asks `contact` to prove its key, unless that is already under way or
    /// could not change the table.
    pub(in crate::node) fn start_proof(&mut self, now: Instant, contact: Contact) {
        if !self.proof_could_matter(now, &contact) {
            return;
        }
        if self.proving.len() >= self.config.max_pending_proofs || !self.proving.insert(contact.id)
        {
            return;
        }
        let nonce: Nonce = self.rng.gen();
        if self
            .send_request(
                now,
                contact.addr,
                Some(contact.id),
                Request::Ping {
                    challenge: Some(nonce),
                },
                Purpose::Proof {
                    nonce,
                    attempt: Attempt::default(),
                },
            )
            .is_none()
        {
            self.proving.remove(&contact.id);
        }
    }

    /// Checks a key proof in a Pong and, if it holds, offers the contact to
    /// the routing table. Returns whether the proof held.
    pub(in crate::node) fn proof_answer(
        &mut self,
        now: Instant,
        contact: Contact,
        nonce: &Nonce,
        answer: &Response,
    ) -> bool {
        let proof = match answer {
            Response::Pong { proof, .. } => proof.as_ref(),
            _ => None,
        };
        self.check_proof(now, contact, nonce, proof)
    }

    /// Checks `proof` (from a Pong or a Nodes answer) against the `nonce`
    /// we sent and, if it holds, offers the contact to the routing table.
    /// A missing proof counts as a failed one. Returns whether it held.
    pub(in crate::node) fn check_proof(
        &mut self,
        now: Instant,
        contact: Contact,
        nonce: &Nonce,
        proof: Option<&KeyProof>,
    ) -> bool {
        let Some(proof) = proof else {
            self.stats.key_proofs_failed += 1;
            return false;
        };
        if !self.proofs.verify(&contact.id, nonce, proof) {
            self.stats.key_proofs_failed += 1;
            return false;
        }
        self.stats.key_proofs_verified += 1;
        self.offer_contact(now, contact);
        true
    }

    /// Offers a proven contact to the table, running ping-before-evict when
    /// its bucket is full.
    fn offer_contact(&mut self, now: Instant, contact: Contact) {
        match self.table.insert(contact, now) {
            InsertOutcome::PendingEviction { candidate } => {
                if !self.evicting.insert(candidate.id) {
                    return;
                }
                let _ = self.send_request(
                    now,
                    candidate.addr,
                    Some(candidate.id),
                    Request::Ping { challenge: None },
                    Purpose::Eviction,
                );
            }
            InsertOutcome::Rejected(reason) => {
                tracing::trace!(id = %contact.id, ?reason, "contact not admitted");
            }
            InsertOutcome::Inserted | InsertOutcome::Updated => {}
        }
    }
}
