//! Tests of the lookup iterators, in two kinds.
//!
//! Hand-built scenarios put the target at the zero id, so the contact
//! `c(n)` is at distance `n` and the order of every candidate is obvious;
//! their helpers are below. Synthetic-network tests drive the iterators
//! against a whole converged Kademlia network with dead, refusing, slow,
//! lying and duplicating peers (`synth.rs`, test support only).
//!
//! | file | what it checks |
//! |---|---|
//! | `progress.rs` | alpha requests at a time, the fan-out, the k closest |
//! | `timeouts.rs` | overdue, failed and retransmitted requests |
//! | `depth.rs` | contact depths, hops and the deepest answer |
//! | `inputs.rs` | unsolicited answers, bad seeds, zero parameters, floods, config |
//! | `retry_invariants.rs` | property: counts and termination under any interleaving |
//! | `disjoint_paths.rs` | [`DisjointIter`](crate::lookup::DisjointIter): paths share no peer |
//! | `synthetic_networks.rs` | the exact k closest on synthetic networks; the figures report |
//! | `termination.rs` | property: every lookup on a random network terminates and keeps its invariants |
//! | `synth.rs` | test support: the synthetic network and its seeded event loop |

mod depth;
mod disjoint_paths;
mod inputs;
mod progress;
mod retry_invariants;
mod synth;
mod synthetic_networks;
mod termination;
mod timeouts;

use std::net::{Ipv4Addr, SocketAddr};

use super::{ClosestIter, LookupParams, LookupStep};
use crate::id::{NodeId, ID_LEN};
use crate::wire::Contact;

/// The id at distance `n` from the target (the zero id).
fn id(n: u32) -> NodeId {
    let mut bytes = [0u8; ID_LEN];
    bytes[ID_LEN - 4..].copy_from_slice(&n.to_be_bytes());
    NodeId::from_bytes(bytes)
}

/// The contact of [`id`]`(n)`, on a loopback port of its own.
fn c(n: u32) -> Contact {
    Contact {
        id: id(n),
        addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 1000 + (n % 60_000) as u16)),
    }
}

/// The local node: far from the target, never in any answer by accident.
fn local() -> NodeId {
    id(u32::MAX)
}

/// A lookup of the zero id from [`local`], seeded with `c(n)` for each `n`.
fn iter(seeds: &[u32], k: usize, alpha: usize) -> ClosestIter {
    ClosestIter::new(
        NodeId::ZERO,
        local(),
        seeds.iter().map(|&n| c(n)),
        LookupParams { k, alpha },
    )
}

/// The step that queries `c(n)`.
fn query(n: u32) -> LookupStep {
    LookupStep::Query(c(n))
}

/// The ids of `contacts`, in order.
fn ids(contacts: &[Contact]) -> Vec<NodeId> {
    contacts.iter().map(|c| c.id).collect()
}
