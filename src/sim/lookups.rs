//! Lookup batches: find-node lookups and gets started from random live
//! nodes at a steady pace, publishing records to get, and the per-lookup
//! [`LookupRecord`] checked against a brute-force search over every live
//! node id.
//!
//! This module owns the measurement of lookups. It starts queries only
//! through the engine's `start_*` commands and reads results only from the
//! engine's `QueryFinished` events.

use std::time::{Duration, Instant};

use rand::Rng;

use super::summary::{BatchContext, LookupKind, LookupRecord, Summary};
use super::world::{Command, SimEvent};
use super::{nanos, Simulation};
use crate::id::{DistanceKey, NodeId};
use crate::node::{Node, QueryId, QueryOptions, QueryOutcome, QueryRequest, QueryStats};
use crate::record::{ImmutableRecord, Record};

/// How a batch of puts went ([`Simulation::publish_records`]).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct PublishReport {
    /// Puts started.
    pub records: usize,
    /// Puts whose origin left before they finished.
    pub abandoned: usize,
    /// Fewest nodes that accepted one record.
    pub stored_min: usize,
    /// Mean nodes that accepted a record.
    pub stored_mean: f64,
}

/// A record published by the simulation, to get later.
#[derive(Debug, Clone)]
pub(super) struct PublishedRecord {
    record: Record,
    publisher: u32,
}

/// A planned lookup of the current batch.
#[derive(Debug, Clone, Copy)]
enum Planned {
    FindNode { target: NodeId },
    Get { record: usize },
}

/// A user query the simulation waits for.
#[derive(Debug, Clone, Copy)]
pub(super) enum Tracked {
    WaveBootstrap,
    ChurnBootstrap,
    Lookup { index: u32, origin: u32 },
    Put,
}

/// The state of the batch being run.
#[derive(Debug, Clone, Default)]
pub(super) struct Batch {
    pub(super) wave_pending: usize,
    pub(super) wave_failed: usize,
    plan: Vec<Planned>,
    /// Planned or running lookups and puts not yet finished.
    pending: usize,
    abandoned: usize,
    records: Vec<LookupRecord>,
    stored: Vec<usize>,
}

impl Simulation {
    /// Runs `count` find-node lookups of random targets, each from a random
    /// live node, started `SimConfig::lookup_interval` apart, and waits for
    /// all of them. Each result is checked against the true k closest live
    /// nodes (unless `SimConfig::verify_lookups` is off).
    pub fn run_lookups(&mut self, count: usize) -> Summary {
        let plan = (0..count)
            .map(|_| Planned::FindNode {
                target: NodeId::random(&mut self.rng),
            })
            .collect();
        self.run_batch(plan, LookupKind::FindNode.name())
    }

    /// Runs one find-node lookup of a random target from a random live node
    /// to its end and returns its record (`None` if its origin left
    /// before it finished). For benchmarks: it builds no [`Summary`].
    pub fn lookup(&mut self) -> Option<LookupRecord> {
        let target = NodeId::random(&mut self.rng);
        self.run_plan(vec![Planned::FindNode { target }]);
        self.batch.records.pop()
    }

    /// Turns the brute-force check of find-node results on or off
    /// ([`SimConfig::verify_lookups`](super::SimConfig::verify_lookups)); off, a lookup costs only what the
    /// engines do.
    pub fn set_verify_lookups(&mut self, on: bool) {
        self.cfg.verify_lookups = on;
    }

    /// Publishes `count` immutable records, each from a different random
    /// live node (which is then pinned: churn never removes it, so it keeps
    /// republishing), and waits for the puts.
    pub fn publish_records(&mut self, count: usize) -> PublishReport {
        let mut plan = Vec::with_capacity(count);
        for i in 0..count {
            let value = format!("meshara-dht sim record {i} of seed {}", self.cfg.seed);
            let Ok(record) = ImmutableRecord::new(value.into_bytes()) else {
                continue;
            };
            let Some(publisher) = self.random_live(|s, slot| !s.is_pinned(slot)) else {
                break;
            };
            self.pin(publisher as usize);
            self.published.push(PublishedRecord {
                record: Record::Immutable(record),
                publisher,
            });
            plan.push(self.published.len() - 1);
        }
        self.batch.pending = plan.len();
        self.batch.abandoned = 0;
        self.batch.stored.clear();
        let now = self.instant(self.now);
        for index in &plan {
            let Some(p) = self.published.get(*index) else {
                continue;
            };
            let (slot, record) = (p.publisher, p.record.clone());
            let Some(mut node) = self
                .slots
                .get_mut(slot as usize)
                .and_then(|s| s.node.take())
            else {
                continue;
            };
            match node.start_put(now, record) {
                Ok(qid) => {
                    self.tracked.insert((slot, qid), Tracked::Put);
                }
                Err(_) => self.batch.pending -= 1,
            }
            self.collect(slot, node);
        }
        let limit = self.now.saturating_add(nanos(self.batch_limit()));
        self.run_until(limit, |s| s.batch.pending == 0);
        let stored = &self.batch.stored;
        PublishReport {
            records: plan.len(),
            abandoned: self.batch.abandoned,
            stored_min: stored.iter().copied().min().unwrap_or(0),
            stored_mean: stored.iter().sum::<usize>() as f64 / stored.len().max(1) as f64,
        }
    }

    /// Publishes `record` (immutable or signed) from live slot `publisher`,
    /// which is pinned, and waits for the put; later [`Simulation::run_gets`]
    /// get it (a signed record with `start_get_mutable`). A record with the
    /// key of one published earlier by the same slot replaces it: the gets
    /// then expect the new version. `None` if the slot is not live or the
    /// record does not verify; else how many nodes stored it.
    pub fn publish_record(&mut self, publisher: usize, record: Record) -> Option<usize> {
        let slot = u32::try_from(publisher).ok()?;
        let now = self.instant(self.now);
        let mut node = self.slots.get_mut(publisher)?.node.take()?;
        self.batch.pending = 1;
        self.batch.abandoned = 0;
        self.batch.stored.clear();
        let put = node.start_put(now, record.clone());
        if let Ok(qid) = put {
            self.tracked.insert((slot, qid), Tracked::Put);
        }
        self.collect(slot, node);
        if put.is_err() {
            self.batch.pending = 0;
            return None;
        }
        self.pin(publisher);
        let key = record.key();
        let entry = PublishedRecord {
            record,
            publisher: slot,
        };
        match self
            .published
            .iter_mut()
            .find(|p| p.publisher == slot && p.record.key() == key)
        {
            Some(p) => *p = entry,
            None => self.published.push(entry),
        }
        let limit = self.now.saturating_add(nanos(self.batch_limit()));
        self.run_until(limit, |s| s.batch.pending == 0);
        self.batch.stored.first().copied()
    }

    /// Runs `count` gets of records published with
    /// [`Simulation::publish_records`] or [`Simulation::publish_record`]
    /// (picked at random), each from a random live node other than the
    /// record's publisher. Success means the record (for a signed record,
    /// the version published last) came back.
    pub fn run_gets(&mut self, count: usize) -> Summary {
        let published = self.published.len();
        let plan = if published == 0 {
            Vec::new()
        } else {
            (0..count)
                .map(|_| Planned::Get {
                    record: self.rng.gen_range(0..published),
                })
                .collect()
        };
        self.run_batch(plan, LookupKind::Get.name())
    }

    /// The records of the last batch's finished lookups, in finishing
    /// order.
    pub fn lookup_records(&self) -> &[LookupRecord] {
        &self.batch.records
    }

    /// Virtual time a batch may run past its last start: a lookup ends by
    /// `Config::lookup_timeout`, so this is only reached if one hangs.
    fn batch_limit(&self) -> Duration {
        self.cfg.node.lookup_timeout * 4 + Duration::from_secs(60)
    }

    fn run_batch(&mut self, plan: Vec<Planned>, kind: &'static str) -> Summary {
        let wall = Instant::now();
        let start = self.now;
        let delivered = self.stats.delivered;
        let churned = (self.left, self.joined);
        self.run_plan(plan);
        let context = BatchContext {
            kind,
            nodes: self.live.len(),
            seed: self.cfg.seed,
            loss: self.cfg.link.loss,
            abandoned: self.batch.abandoned,
            unfinished: self.batch.pending,
            left: self.left - churned.0,
            joined: self.joined - churned.1,
            datagrams: self.stats.delivered - delivered,
            wall: wall.elapsed(),
            bootstrap_wall: self.bootstrap.wall,
            virtual_time: Duration::from_nanos(self.now - start),
        };
        Summary::from_records(&self.batch.records, &context)
    }

    /// Starts the lookups of `plan` `lookup_interval` apart and runs until
    /// they all finished.
    fn run_plan(&mut self, plan: Vec<Planned>) {
        let count = plan.len();
        self.batch.plan = plan;
        self.batch.pending = count;
        self.batch.abandoned = 0;
        self.batch.records.clear();
        let interval = nanos(self.cfg.lookup_interval);
        for i in 0..count {
            let at = self.now.saturating_add(interval.saturating_mul(i as u64));
            let index = u32::try_from(i).unwrap_or(u32::MAX);
            self.schedule(at, SimEvent::Command(Command::StartLookup { index }));
        }
        let limit = self
            .now
            .saturating_add(interval.saturating_mul(count as u64))
            .saturating_add(nanos(self.batch_limit()));
        self.run_until(limit, |s| s.batch.pending == 0);
    }

    /// A random live slot satisfying `ok`, if one is found in a few tries.
    fn random_live(&mut self, ok: impl Fn(&Self, u32) -> bool) -> Option<u32> {
        for _ in 0..64 {
            if self.live.is_empty() {
                return None;
            }
            let slot = self
                .live
                .get(self.rng.gen_range(0..self.live.len()))
                .copied()?;
            if ok(self, slot) {
                return Some(slot);
            }
        }
        None
    }

    fn is_pinned(&self, slot: u32) -> bool {
        self.pinned.get(slot as usize).copied().unwrap_or(false)
    }

    pub(super) fn start_lookup(&mut self, index: u32) {
        if let Some(origin) = self.lookup_origin(index) {
            self.start_lookup_from(index, origin);
        }
    }

    /// Picks the origin of planned lookup `index`: a random live node,
    /// neither the record's publisher nor malicious. `None` (and the
    /// lookup counted as abandoned) if there is none.
    pub(super) fn lookup_origin(&mut self, index: u32) -> Option<u32> {
        let planned = self.batch.plan.get(index as usize).copied()?;
        let publisher = match planned {
            Planned::Get { record } => self.published.get(record).map(|p| p.publisher),
            Planned::FindNode { .. } => None,
        };
        let origin = self.random_live(|s, slot| {
            Some(slot) != publisher && !s.adversary.as_ref().is_some_and(|a| a.is_malicious(slot))
        });
        if origin.is_none() {
            self.batch.pending = self.batch.pending.saturating_sub(1);
            self.batch.abandoned += 1;
        }
        origin
    }

    /// Starts planned lookup `index` at `origin` now.
    pub(super) fn start_lookup_from(&mut self, index: u32, origin: u32) {
        let Some(planned) = self.batch.plan.get(index as usize).copied() else {
            return;
        };
        let now = self.instant(self.now);
        let Some(mut node) = self
            .slots
            .get_mut(origin as usize)
            .and_then(|s| s.node.take())
        else {
            return;
        };
        let qid = match planned {
            Planned::FindNode { target } => node.start_find_node(now, target),
            Planned::Get { record } => {
                let (key, mutable) = self
                    .published
                    .get(record)
                    .map_or((NodeId::ZERO, false), |p| {
                        (p.record.key(), matches!(p.record, Record::Mutable(_)))
                    });
                let (request, get): (_, fn(&mut Node, Instant, NodeId) -> QueryId) = if mutable {
                    (QueryRequest::GetMutable(key), Node::start_get_mutable)
                } else {
                    (QueryRequest::GetImmutable(key), Node::start_get_immutable)
                };
                let options = QueryOptions {
                    disjoint_paths: self.get_paths,
                };
                match self.get_paths {
                    None => get(&mut node, now, key),
                    Some(_) => node
                        .start(now, request, options)
                        .unwrap_or_else(|_| get(&mut node, now, key)),
                }
            }
        };
        self.tracked
            .insert((origin, qid), Tracked::Lookup { index, origin });
        self.collect(origin, node);
    }

    pub(super) fn query_finished(
        &mut self,
        slot: u32,
        tracked: Tracked,
        outcome: QueryOutcome,
        stats: QueryStats,
    ) {
        match tracked {
            Tracked::WaveBootstrap => {
                self.batch.wave_pending = self.batch.wave_pending.saturating_sub(1);
                if matches!(outcome, QueryOutcome::Bootstrap { reached: 0, .. }) {
                    self.batch.wave_failed += 1;
                }
            }
            Tracked::ChurnBootstrap => {}
            Tracked::Put => {
                self.batch.pending = self.batch.pending.saturating_sub(1);
                if let QueryOutcome::Put { stored, .. } = outcome {
                    self.batch.stored.push(stored);
                }
            }
            Tracked::Lookup { index, origin } => {
                self.batch.pending = self.batch.pending.saturating_sub(1);
                let record = self.measure(index, origin, &outcome, stats);
                debug_assert_eq!(slot, origin);
                self.batch.records.push(record);
            }
        }
    }

    pub(super) fn query_abandoned(&mut self, tracked: Tracked) {
        match tracked {
            Tracked::WaveBootstrap => {
                self.batch.wave_pending = self.batch.wave_pending.saturating_sub(1);
            }
            Tracked::ChurnBootstrap => {}
            Tracked::Put | Tracked::Lookup { .. } => {
                self.batch.pending = self.batch.pending.saturating_sub(1);
                self.batch.abandoned += 1;
            }
        }
    }

    fn measure(
        &mut self,
        index: u32,
        origin: u32,
        outcome: &QueryOutcome,
        stats: QueryStats,
    ) -> LookupRecord {
        let planned = self.batch.plan.get(index as usize).copied();
        let (kind, success, recall) = match (planned, outcome) {
            (Some(Planned::FindNode { target }), QueryOutcome::FindNode { closest }) => {
                if self.cfg.verify_lookups {
                    let found: Vec<NodeId> = closest.iter().map(|c| c.id).collect();
                    let truth = self.true_closest(&target, origin, self.cfg.node.k);
                    let hits = found.iter().filter(|id| truth.contains(id)).count();
                    let recall = hits as f64 / truth.len().max(1) as f64;
                    (LookupKind::FindNode, found == truth, Some(recall))
                } else {
                    (LookupKind::FindNode, !closest.is_empty(), None)
                }
            }
            (Some(Planned::Get { record }), QueryOutcome::Get { record: got, .. }) => {
                let expected = self.published.get(record).map(|p| &p.record);
                (LookupKind::Get, got.as_ref() == expected, None)
            }
            (Some(Planned::Get { .. }), _) => (LookupKind::Get, false, None),
            _ => (LookupKind::FindNode, false, None),
        };
        LookupRecord {
            kind,
            hops: stats.hops,
            messages: stats.messages,
            latency: stats.duration,
            timed_out: stats.timed_out,
            success,
            recall,
        }
    }

    /// The `k` live node ids closest to `target`, closest first, leaving
    /// out `exclude` (a lookup never returns its origin).
    pub(super) fn true_closest(&mut self, target: &NodeId, exclude: u32, k: usize) -> Vec<NodeId> {
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        let target = DistanceKey::of(target);
        scratch.extend(
            self.live
                .iter()
                .filter(|&&s| s != exclude)
                .filter_map(|&s| {
                    self.ids
                        .get(s as usize)
                        .map(|id| (DistanceKey::of(id).xor(target), s))
                }),
        );
        if k == 0 {
            scratch.clear();
        } else if scratch.len() > k {
            scratch.select_nth_unstable(k - 1);
            scratch.truncate(k);
        }
        scratch.sort_unstable();
        let out = scratch
            .iter()
            .filter_map(|&(_, s)| self.ids.get(s as usize).copied())
            .collect();
        self.scratch = scratch;
        out
    }
}
