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
use std::time::Duration;

use rand::Rng;

use super::link::Fate;
use super::world::SimEvent;
use super::{nanos, Simulation};
use crate::id::Key;
use crate::record::{ImmutableRecord, Record, Refusal};
use crate::wire::{
    self, Body, Contact, ErrorCode, Message, Request, Response, Token, TxId, MAX_CONTACTS,
};

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
    /// Answer like an honest node: the attack is only what the test sends
    /// by hand with [`Simulation::send_forged`] (forged or replayed STOREs,
    /// floods, requests that spread the attackers' ids).
    AnswerHonestly,
}

/// The answers malicious slots received to STOREs (whether sent by hand
/// with [`Simulation::send_forged`] or by their engines), counted as they
/// arrive.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreAnswers {
    /// `Stored`: the record was accepted.
    pub stored: u64,
    /// Refused: the signature does not verify.
    pub bad_signature: u64,
    /// Refused: an equal or higher sequence is stored.
    pub sequence_not_newer: u64,
    /// Refused: the writer's IP has used its quota.
    pub quota_exceeded: u64,
    /// Refused: the store is full.
    pub store_full: u64,
    /// Refused for another reason (size, public key).
    pub other_refusal: u64,
    /// Refused: the token was not valid for the writer's IP.
    pub invalid_token: u64,
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
    /// The last STORE token each node handed each malicious slot, by
    /// (malicious slot, node).
    tokens: HashMap<(u32, u32), Token>,
    answers: StoreAnswers,
}

/// Most pending requests remembered per adversary (bounds the map).
const MAX_ASKED: usize = 100_000;

impl Adversary {
    pub(super) fn is_malicious(&self, slot: u32) -> bool {
        self.malicious.get(slot as usize).copied().unwrap_or(false)
    }

    /// Notes the target of a lookup request delivered to a malicious slot,
    /// and the tokens and STORE answers it receives.
    pub(super) fn observe(&mut self, from: u32, to: u32, payload: &[u8]) {
        if !self.is_malicious(to) {
            return;
        }
        let Ok(msg) = wire::decode(payload) else {
            return;
        };
        let request = match msg.body {
            Body::Request { request, .. } => request,
            Body::Response(response) => {
                self.note_answer(from, to, Ok(&response));
                return;
            }
            Body::Error(code) => {
                self.note_answer(from, to, Err(code));
                return;
            }
        };
        if self.asked.len() >= MAX_ASKED {
            return;
        }
        let target = match request {
            Request::FindNode { target, .. } => (target, false),
            Request::FindValue { key } => (key, true),
            Request::GetProviders { key } => (key, false),
            _ => return,
        };
        self.asked.insert((to, from, msg.txid), target);
    }

    /// Counts a STORE answer or keeps a token that `from` sent malicious
    /// slot `to`.
    fn note_answer(&mut self, from: u32, to: u32, answer: Result<&Response, ErrorCode>) {
        let a = &mut self.answers;
        match answer {
            Ok(Response::Nodes { token, .. })
            | Ok(Response::Value { token, .. })
            | Ok(Response::Providers { token, .. }) => {
                if self.tokens.len() < MAX_ASKED || self.tokens.contains_key(&(to, from)) {
                    self.tokens.insert((to, from), *token);
                }
            }
            Ok(Response::Stored) => a.stored += 1,
            Ok(Response::Pong { .. }) => {}
            Err(ErrorCode::InvalidToken) => a.invalid_token += 1,
            Err(ErrorCode::Refused(r)) => match r {
                Refusal::BadSignature => a.bad_signature += 1,
                Refusal::SequenceNotNewer { .. } => a.sequence_not_newer += 1,
                Refusal::QuotaExceeded => a.quota_exceeded += 1,
                Refusal::StoreFull => a.store_full += 1,
                Refusal::InvalidPublicKey | Refusal::TooLarge => a.other_refusal += 1,
            },
            Err(ErrorCode::RateLimited | ErrorCode::Unsupported) => {}
        }
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
            Misbehaviour::DropRequests | Misbehaviour::AnswerHonestly => false,
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
            // A colluder still proves its own key when asked to.
            Response::Nodes { token, proof, .. } => Response::Nodes {
                token: *token,
                nodes: ours,
                proof: *proof,
            },
            Response::Value { token, .. } => Response::Nodes {
                token: *token,
                nodes: ours,
                proof: None,
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
        let mut candidates: Vec<usize> = self
            .live
            .iter()
            .map(|&s| s as usize)
            .filter(|&s| !self.pinned.get(s).copied().unwrap_or(false))
            .collect();
        candidates.sort_unstable();
        let mut chosen = Vec::with_capacity(count);
        for _ in 0..count {
            if candidates.is_empty() {
                break;
            }
            chosen.push(candidates.swap_remove(self.rng.gen_range(0..candidates.len())));
        }
        self.make_malicious_slots(&chosen, behaviour)
    }

    /// Turns exactly the live slots `slots` malicious with `behaviour`
    /// (attackers placed with [`Simulation::join_node_at`], say), replacing
    /// any earlier adversary. Returns how many were turned (slots not live
    /// are skipped).
    pub fn make_malicious_slots(&mut self, slots: &[usize], behaviour: Misbehaviour) -> usize {
        let mut malicious = vec![false; self.slots.len()];
        let mut contacts = Vec::with_capacity(slots.len());
        for &slot in slots {
            let live = self.slots.get(slot).is_some_and(|s| s.node.is_some());
            if let (true, Some(m), Some(id)) = (live, malicious.get_mut(slot), self.ids.get(slot)) {
                if !*m {
                    *m = true;
                    contacts.push(Contact {
                        id: *id,
                        addr: self.addr_of(slot),
                    });
                }
            }
        }
        let turned = contacts.len();
        self.adversary = Some(Adversary {
            behaviour,
            malicious,
            contacts,
            asked: HashMap::new(),
            tokens: HashMap::new(),
            answers: StoreAnswers::default(),
        });
        turned
    }

    /// Sends `request` from malicious slot `from` to slot `to`, `after`
    /// from now, built by hand rather than by `from`'s engine: an
    /// attacker's forged datagram (with `from`'s id and a fresh
    /// transaction id) that travels the link model like any other. The
    /// answer reaches `from`'s engine, which drops it as unsolicited, after
    /// the adversary noted its token or STORE outcome
    /// ([`Simulation::sniffed_token`], [`Simulation::store_answers`]).
    /// Returns false (nothing sent) if `from` is not malicious, either slot
    /// is not live, or the link lost the datagram.
    pub fn send_forged(
        &mut self,
        from: usize,
        to: usize,
        request: Request,
        after: Duration,
    ) -> bool {
        let live = |s: usize| self.slots.get(s).is_some_and(|s| s.node.is_some());
        if !self.is_malicious(from) || !live(from) || !live(to) {
            return false;
        }
        let (Ok(from32), Ok(to32), Some(&sender)) =
            (u32::try_from(from), u32::try_from(to), self.ids.get(from))
        else {
            return false;
        };
        let msg = Message {
            txid: self.rng.gen(),
            sender,
            body: Body::Request {
                read_only: false,
                request,
            },
        };
        let Ok(payload) = wire::encode(&msg) else {
            return false;
        };
        let at = self.now.saturating_add(nanos(after));
        let delays = match self.link.fate(&mut self.rng, from32, to32) {
            Fate::Lost => {
                self.stats.lost += 1;
                return false;
            }
            Fate::Once(d) => vec![d],
            Fate::Twice(d1, d2) => {
                self.stats.duplicated += 1;
                vec![d1, d2]
            }
        };
        for d in delays {
            let what = SimEvent::Deliver {
                from: from32,
                to: to32,
                payload: payload.clone(),
            };
            self.schedule(at.saturating_add(nanos(d)), what);
        }
        true
    }

    /// The last STORE token node `from` handed malicious slot `attacker`.
    pub fn sniffed_token(&self, attacker: usize, from: usize) -> Option<Token> {
        let key = (u32::try_from(attacker).ok()?, u32::try_from(from).ok()?);
        self.adversary.as_ref()?.tokens.get(&key).copied()
    }

    /// The STORE answers malicious slots received so far (since the last
    /// `make_malicious*`).
    pub fn store_answers(&self) -> StoreAnswers {
        self.adversary
            .as_ref()
            .map(|a| a.answers)
            .unwrap_or_default()
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
