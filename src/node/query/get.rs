//! Gets: the state of a get of a record (the best version seen and who
//! holds which sequence, for read repair) and of a search for providers.
//!
//! This module owns how an answer to a FIND_VALUE or GET_PROVIDERS step
//! changes a get: which record counts as valid and best, when an
//! immutable get stops, and which holders a mutable get repairs. It must
//! never send the repairs itself: it names the stale holders and the
//! engine sends.

use std::collections::HashSet;

use super::End;
use crate::id::NodeId;
use crate::lookup::DisjointIter;
use crate::record::Record;
use crate::wire::{Contact, Token};

/// A holder that answered a get with a record.
#[derive(Debug, Clone)]
struct Holder {
    contact: Contact,
    token: Token,
    seq: u64,
}

/// A get of the record under the query's target.
#[derive(Debug, Clone)]
pub(in crate::node) struct GetState {
    /// A signed (mutable) record or an immutable one.
    mutable: bool,
    /// The valid record with the highest sequence seen so far.
    best: Option<Record>,
    holders: Vec<Holder>,
}

impl GetState {
    /// A get starting from `best` (the local copy, if any).
    pub(super) fn new(mutable: bool, best: Option<Record>) -> Self {
        GetState {
            mutable,
            best,
            holders: Vec::new(),
        }
    }

    /// `from` answered a lookup step with `record` and a STORE `token`.
    /// A valid record of the kind asked for is kept (the best sequence
    /// wins) and ends an immutable get's lookup; a forged or misplaced one
    /// makes the peer useless to the lookup.
    pub(super) fn on_value(
        &mut self,
        iter: &mut DisjointIter,
        target: NodeId,
        from: Contact,
        token: Token,
        record: Record,
    ) {
        // A byte-identical copy of the best record so far was verified
        // already: skip the signature check.
        let seen = self.best.as_ref().is_some_and(|b| *b == record);
        let valid = record.key() == target && (seen || record.verify().is_ok());
        if !valid {
            tracing::debug!(peer = %from.id, "invalid record in answer");
            iter.on_failure(&from.id);
            return;
        }
        iter.on_success(&from.id, &[]);
        if matches!(record, Record::Mutable(_)) != self.mutable {
            return;
        }
        self.holders.push(Holder {
            contact: from,
            token,
            seq: record.seq(),
        });
        if self.best.as_ref().is_none_or(|b| record.seq() > b.seq()) {
            self.best = Some(record);
        }
        if !self.mutable {
            iter.finish();
        }
    }

    /// How the get ends: its best record, to be pushed to the holders of
    /// an older sequence when it is a signed record.
    pub(super) fn end(self) -> End {
        let stale = match &self.best {
            Some(best @ Record::Mutable(_)) => self
                .holders
                .iter()
                .filter(|h| h.seq < best.seq())
                .map(|h| (h.contact, h.token))
                .collect(),
            _ => Vec::new(),
        };
        End::Get {
            record: self.best,
            stale,
        }
    }
}

/// A value answered to a query that did not ask for one: the peer is
/// useless to the lookup.
pub(super) fn on_unasked_value(iter: &mut DisjointIter, from: Contact) {
    tracing::debug!(peer = %from.id, "invalid record in answer");
    iter.on_failure(&from.id);
}

/// A search for the providers of the query's target.
#[derive(Debug, Clone, Default)]
pub(in crate::node) struct ProvidersState {
    /// Providers found, in the order answers named them, one per node id.
    pub(super) providers: Vec<Contact>,
    seen: HashSet<NodeId>,
}

impl ProvidersState {
    /// Adds the providers an answer named, skipping ids already found.
    pub(super) fn add(&mut self, providers: Vec<Contact>) {
        for p in providers {
            if self.seen.insert(p.id) {
                self.providers.push(p);
            }
        }
    }
}
