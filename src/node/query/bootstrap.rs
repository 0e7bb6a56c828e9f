//! The join: a bootstrap pings its addresses (each must prove its key),
//! looks up this node's own id, then refreshes the buckets that lookup did
//! not complete, and waits for those refreshes.
//!
//! This module owns the phases of a bootstrap query and the choice of the
//! buckets it refreshes. It must never send the pings or start the
//! refreshes itself: the engine does, and reports back.

use std::ops::Range;

use crate::id::{NodeId, ID_BITS};
use crate::routing::RoutingTable;
use crate::wire::Contact;

/// Where a bootstrap is.
#[derive(Debug, Clone)]
pub(super) enum BootstrapPhase {
    /// Waiting for the answers to its pings.
    Pinging { outstanding: usize },
    /// Looking up this node's own id.
    SelfLookup,
    /// The engine is starting its refreshes: a refresh that finishes
    /// meanwhile does not drive it (it counts the live ones afterwards).
    StartingRefreshes,
    /// Waiting for `children` refreshes.
    Refreshing { children: usize },
}

/// A bootstrap query's own state.
#[derive(Debug, Clone)]
pub(in crate::node) struct BootstrapState {
    pub(super) phase: BootstrapPhase,
    /// Bootstrap addresses that proved their key.
    pub(super) reached: usize,
}

/// What a bootstrap does before its lookup takes the next step.
pub(super) enum Next {
    /// Wait for answers.
    Wait,
    /// Seed a fresh self-lookup from the routing table.
    SelfLookup,
    /// Take the lookup's next step.
    Continue,
    /// The join is over.
    Finish,
}

impl BootstrapState {
    /// A bootstrap that sends `pings` pings.
    pub(super) fn new(pings: usize) -> Self {
        BootstrapState {
            phase: BootstrapPhase::Pinging { outstanding: pings },
            reached: 0,
        }
    }

    /// Only `sent` of the pings could be sent.
    pub(super) fn pings_sent(&mut self, sent: usize) {
        if let BootstrapPhase::Pinging { outstanding } = &mut self.phase {
            *outstanding = sent;
        }
    }

    /// A ping ended; `proved` when the address proved its key.
    pub(super) fn ping_done(&mut self, proved: bool) {
        if let BootstrapPhase::Pinging { outstanding } = &mut self.phase {
            *outstanding = outstanding.saturating_sub(1);
            if proved {
                self.reached += 1;
            }
        }
    }

    /// A refresh it started finished. Returns whether the bootstrap should
    /// be driven.
    pub(super) fn child_finished(&mut self) -> bool {
        match &mut self.phase {
            BootstrapPhase::StartingRefreshes => false,
            BootstrapPhase::Refreshing { children } => {
                *children = children.saturating_sub(1);
                true
            }
            BootstrapPhase::Pinging { .. } | BootstrapPhase::SelfLookup => true,
        }
    }

    /// The step before the lookup's next one: the pings and the refreshes
    /// are waited for (until the query times out), and the self-lookup
    /// starts once the pings are done.
    pub(super) fn before_lookup(&mut self, timed_out: bool) -> Next {
        match self.phase {
            BootstrapPhase::Pinging { outstanding } => {
                if outstanding > 0 && !timed_out {
                    return Next::Wait;
                }
                self.phase = BootstrapPhase::SelfLookup;
                Next::SelfLookup
            }
            BootstrapPhase::SelfLookup => Next::Continue,
            BootstrapPhase::StartingRefreshes => Next::Wait,
            BootstrapPhase::Refreshing { children } => {
                if children > 0 && !timed_out {
                    Next::Wait
                } else {
                    Next::Finish
                }
            }
        }
    }
}

/// The buckets a join refreshes after its self-lookup found `closest`, or
/// `None` when it knows no neighbour at all.
///
/// Every bucket farther than the closest neighbour, except those the
/// self-lookup already completed: it found every node nearer than its k-th
/// result, so a bucket whose whole range lies inside that radius (index
/// below the k-th result's bucket) holds all the nodes it could ever have.
/// The nearest neighbour is the lookup's first result or a table entry:
/// responders enter the table only once their key proof is back, which may
/// be after this point.
pub(super) fn buckets_to_refresh(
    local: NodeId,
    table: &RoutingTable,
    closest: &[Contact],
    k: usize,
) -> Option<Range<usize>> {
    let nearest = table
        .closest(&local, 1)
        .iter()
        .chain(closest.first())
        .filter_map(|c| local.bucket_index(&c.id))
        .min()?;
    let complete_below = if closest.len() >= k {
        closest
            .iter()
            .filter_map(|c| local.bucket_index(&c.id))
            .max()
            .unwrap_or(0)
    } else {
        0
    };
    Some((nearest + 1).max(complete_below)..ID_BITS)
}
