//! Puts: the store phase that follows the lookup of a put or a provider
//! announcement, and the outcome it reports.
//!
//! This module owns the STORE tokens the lookup collected, the requests of
//! the store phase (one per closest contact that gave a token) and the
//! count of stores, refusals and failures. It must never send those
//! requests or write the local store itself: it hands the requests and the
//! record to the engine, which reports back.

use std::collections::HashMap;

use super::super::types::QueryOutcome;
use crate::id::{Key, NodeId};
use crate::record::{Record, Refusal};
use crate::wire::{Contact, ErrorCode, Request, Token};

/// The store phase of a put or add-provider.
#[derive(Debug, Clone, Default)]
pub(super) struct StorePhase {
    /// Whether its requests were sent (the lookup is over).
    pub(super) started: bool,
    /// Requests not answered yet.
    pub(super) outstanding: usize,
    stored: usize,
    refused: Vec<Refusal>,
    failed: usize,
}

impl StorePhase {
    /// `sent` requests went out, and the local store gave `local` (`None`:
    /// this node is not among the closest).
    pub(super) fn sent(&mut self, sent: usize, local: Option<Result<(), Refusal>>) {
        self.outstanding = sent;
        match local {
            Some(Ok(())) => self.stored += 1,
            Some(Err(r)) => self.refused.push(r),
            None => {}
        }
    }

    /// A request got no answer.
    pub(super) fn failed_one(&mut self) {
        self.outstanding = self.outstanding.saturating_sub(1);
        self.failed += 1;
    }

    /// A request was answered: stored, or refused with a reason, or another
    /// error.
    pub(super) fn answered(&mut self, result: Result<(), ErrorCode>) {
        self.outstanding = self.outstanding.saturating_sub(1);
        match result {
            Ok(()) => self.stored += 1,
            Err(ErrorCode::Refused(r)) => self.refused.push(r),
            Err(_) => self.failed += 1,
        }
    }
}

/// A put of a record, or (without a record) an announcement of this node
/// as a provider of the target.
#[derive(Debug, Clone)]
pub(in crate::node) struct PutState {
    record: Option<Record>,
    /// The STORE token each contact of the lookup gave.
    pub(super) tokens: HashMap<NodeId, Token>,
    pub(super) phase: StorePhase,
}

impl PutState {
    /// A put of `record`, or a provider announcement when `None`.
    pub(super) fn new(record: Option<Record>) -> Self {
        PutState {
            record,
            tokens: HashMap::new(),
            phase: StorePhase::default(),
        }
    }

    /// The lookup found `closest`: starts the store phase. Returns the
    /// record to store locally (if this node is close enough, which the
    /// engine decides) and the request for each contact that gave a token,
    /// in `closest` order.
    pub(super) fn start_stores(
        &mut self,
        key: Key,
        closest: &[Contact],
    ) -> (Option<Record>, Vec<(Contact, Request)>) {
        self.phase.started = true;
        let requests = closest
            .iter()
            .filter_map(|c| {
                let token = *self.tokens.get(&c.id)?;
                let request = match &self.record {
                    Some(record) => Request::Store {
                        token,
                        record: record.clone(),
                    },
                    None => Request::AddProvider { token, key },
                };
                Some((*c, request))
            })
            .collect();
        (self.record.clone(), requests)
    }

    /// The outcome of the put of `key`; requests never answered count as
    /// failed.
    pub(super) fn outcome(self, key: Key) -> QueryOutcome {
        QueryOutcome::Put {
            key,
            stored: self.phase.stored,
            refused: self.phase.refused,
            failed: self.phase.failed + self.phase.outstanding,
        }
    }
}
