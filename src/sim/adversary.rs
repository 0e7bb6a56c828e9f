//! Malicious nodes in the simulator: a wrapper around the datagrams of
//! real engines that the simulator rewrites or drops on their way out.
//!
//! This module owns the [`Misbehaviour`] models and the rewriting of a
//! malicious node's answers (through [`crate::wire`]). A malicious node is
//! still a real [`crate::node::Node`]: it joins, routes and stores like any
//! other; only what it answers is changed. This module must never touch an
//! honest node's datagrams, never contain protocol logic of its own beyond
//! the rewrite, and never use an unseeded RNG.

use std::collections::HashMap;

use rand::Rng;

use super::{node_addr, Simulation};
use crate::id::Key;
use crate::record::{ImmutableRecord, Record};
use crate::wire::{self, Body, Contact, Message, Request, Response, TxId, MAX_CONTACTS};

/// What malicious nodes do with the requests they are sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Misbehaviour {
    /// Answer every lookup (FIND_NODE, FIND_VALUE, GET_PROVIDERS) with the
    /// malicious contacts closest to the target only, and withhold stored
    /// records (a FIND_VALUE hit becomes a contacts answer).
    Collude,
    /// Never answer.
    DropRequests,
    /// Answer every FIND_VALUE with a forged record (a valid-looking value
    /// that is not the one stored under the key); other answers honest.
    ForgeRecords,
}

/// The malicious slots of a simulation and what they do.
#[derive(Debug, Clone)]
pub(super) struct Adversary {
    behaviour: Misbehaviour,
    malicious: Vec<bool>,
    contacts: Vec<Contact>,
    /// Lookup targets of requests delivered to malicious slots and not yet
    /// answered, by (slot, requester slot, txid).
    asked: HashMap<(u32, u32, TxId), (Key, bool)>,
}

/// Most pending requests remembered per adversary (bounds the map).
const MAX_ASKED: usize = 100_000;

impl Adversary {
    pub(super) fn is_malicious(&self, slot: u32) -> bool {
        self.malicious.get(slot as usize).copied().unwrap_or(false)
    }

    /// Notes the target of a lookup request delivered to a malicious slot.
    pub(super) fn observe(&mut self, from: u32, to: u32, payload: &[u8]) {
        if !self.is_malicious(to) || self.asked.len() >= MAX_ASKED {
            return;
        }
        let Ok(msg) = wire::decode(payload) else {
            return;
        };
        let Body::Request { request, .. } = msg.body else {
            return;
        };
        let target = match request {
            Request::FindNode { target } => (target, false),
            Request::FindValue { key } => (key, true),
            Request::GetProviders { key } => (key, false),
            _ => return,
        };
        self.asked.insert((to, from, msg.txid), target);
    }

    /// What a malicious slot `from` really sends to `to` instead of
    /// `payload`: `None` drops it. Datagrams of honest slots pass as they
    /// are.
    pub(super) fn rewrite(&mut self, from: u32, to: u32, payload: Vec<u8>) -> Option<Vec<u8>> {
        if !self.is_malicious(from) {
            return Some(payload);
        }
        let Ok(mut msg) = wire::decode(&payload) else {
            return Some(payload);
        };
        if matches!(msg.body, Body::Request { .. }) {
            return Some(payload);
        }
        let asked = self.asked.remove(&(from, to, msg.txid));
        if self.behaviour == Misbehaviour::DropRequests {
            return None;
        }
        let Some((target, find_value)) = asked else {
            return Some(payload);
        };
        let changed = match self.behaviour {
            Misbehaviour::Collude => self.collude(&mut msg, &target),
            Misbehaviour::ForgeRecords => find_value && forge(&mut msg, &target),
            Misbehaviour::DropRequests => false,
        };
        if !changed {
            return Some(payload);
        }
        wire::encode(&msg).ok().or(Some(payload))
    }

    /// The malicious contacts closest to `target`, at most
    /// [`MAX_CONTACTS`].
    fn closest(&self, target: &Key) -> Vec<Contact> {
        let mut all = self.contacts.clone();
        all.sort_by_key(|c| c.id.distance(target));
        all.truncate(MAX_CONTACTS);
        all
    }

    fn collude(&self, msg: &mut Message, target: &Key) -> bool {
        let Body::Response(response) = &mut msg.body else {
            return false;
        };
        let ours = self.closest(target);
        *response = match response {
            Response::Nodes { token, .. } | Response::Value { token, .. } => Response::Nodes {
                token: *token,
                nodes: ours,
            },
            Response::Providers { token, .. } => Response::Providers {
                token: *token,
                providers: Vec::new(),
                nodes: ours,
            },
            _ => return false,
        };
        true
    }
}

/// Turns an answer to FIND_VALUE for `key` into a forged record.
fn forge(msg: &mut Message, key: &Key) -> bool {
    let Body::Response(response) = &mut msg.body else {
        return false;
    };
    let token = match response {
        Response::Nodes { token, .. } | Response::Value { token, .. } => *token,
        _ => return false,
    };
    let value = format!("forged record for {key:?}");
    let Ok(record) = ImmutableRecord::new(value.into_bytes()) else {
        return false;
    };
    *response = Response::Value {
        token,
        record: Record::Immutable(record),
    };
    true
}

impl Simulation {
    /// Turns `count` live, unpinned nodes (chosen with the simulation's
    /// seeded RNG) malicious with `behaviour`, replacing any earlier
    /// adversary. Returns how many were turned. Publishers of records
    /// (pinned) stay honest, and gets are always started from honest nodes.
    pub fn make_malicious(&mut self, count: usize, behaviour: Misbehaviour) -> usize {
        let mut malicious = vec![false; self.slots.len()];
        let mut contacts = Vec::with_capacity(count);
        let mut candidates: Vec<u32> = self
            .live
            .iter()
            .copied()
            .filter(|&s| !self.pinned.get(s as usize).copied().unwrap_or(false))
            .collect();
        candidates.sort_unstable();
        for _ in 0..count {
            if candidates.is_empty() {
                break;
            }
            let slot = candidates.swap_remove(self.rng.gen_range(0..candidates.len()));
            if let (Some(m), Some(id)) = (
                malicious.get_mut(slot as usize),
                self.ids.get(slot as usize),
            ) {
                *m = true;
                contacts.push(Contact {
                    id: *id,
                    addr: node_addr(slot as usize),
                });
            }
        }
        let turned = contacts.len();
        self.adversary = Some(Adversary {
            behaviour,
            malicious,
            contacts,
            asked: HashMap::new(),
        });
        turned
    }

    /// Whether `slot` is malicious.
    pub fn is_malicious(&self, slot: usize) -> bool {
        let slot = u32::try_from(slot).unwrap_or(u32::MAX);
        self.adversary
            .as_ref()
            .is_some_and(|a| a.is_malicious(slot))
    }

    /// Sets the number of disjoint paths gets started by
    /// [`Simulation::run_gets`] use (`None`: the engines' configured
    /// `Config::disjoint_paths`).
    pub fn set_get_paths(&mut self, paths: Option<usize>) {
        self.get_paths = paths;
    }
}
