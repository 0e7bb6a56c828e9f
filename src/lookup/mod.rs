//! Iterative lookup state machines: [`ClosestIter`] walks the id space
//! towards a target, alpha requests at a time, then fans out to the k
//! closest, and reports the k closest peers that answered.
//!
//! This module owns the *decisions* of a lookup (whom to ask next, when the
//! lookup is done, how deep it went) and nothing else. It never touches a
//! socket, never reads a clock and never draws randomness: the engine sends
//! the requests, owns the timers, and tells the iterator when an answer
//! arrived, when a request was sent again after its timeout, when it
//! became overdue and when it failed.

mod closest;
mod disjoint;

pub use closest::{ClosestIter, LookupParams, LookupStep, CANDIDATE_FACTOR};
pub use disjoint::DisjointIter;

#[cfg(test)]
mod tests;
