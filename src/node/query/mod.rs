//! The query pool: every query in progress, what each kind does around its
//! lookup, and the outcome it reports.
//!
//! This module owns the per-query state (a [`DisjointIter`] lookup plus the
//! kind's own state: a get's best record and holders in `get`, a put's
//! tokens and store phase in `put`, a bootstrap's phases in `bootstrap`),
//! the query ids and the query deadlines. It decides and the engine acts:
//! [`QueryPool::poll`] hands back the next [`Action`] of a query (send a
//! lookup request, start the store phase, start a bootstrap's refreshes,
//! finish), and the engine reports what came of each through the `on_*`
//! methods. It must never send a datagram, draw from the RNG, write to the
//! routing table or the record store, or emit an event: the engine
//! (`node::commands`) does all of that. It only reads the routing table,
//! for the seeds of a bootstrap's self-lookup and the buckets it refreshes.

mod bootstrap;
mod get;
mod put;

use std::collections::HashMap;
use std::ops::Range;
use std::time::Instant;

use super::deadlines::DeadlineSet;
use super::types::{QueryId, QueryOutcome, QueryStats};
use crate::id::NodeId;
use crate::lookup::{DisjointIter, LookupParams, LookupStep};
use crate::record::Record;
use crate::routing::RoutingTable;
use crate::wire::{Contact, ErrorCode, Nonce, Request, Response, Token};

use bootstrap::{BootstrapPhase, BootstrapState};
use get::{GetState, ProvidersState};
use put::PutState;

/// A query in progress.
#[derive(Debug, Clone)]
struct Query {
    target: NodeId,
    iter: DisjointIter,
    kind: QueryKind,
    started: Instant,
    deadline: Instant,
    timed_out: bool,
    /// User queries emit an event when they end; internal ones do not.
    notify: bool,
    /// Requests outside the lookup (store phase, bootstrap pings); the
    /// lookup counts its own.
    extra_messages: u32,
}

impl Query {
    fn stats(&self, now: Instant) -> QueryStats {
        QueryStats {
            hops: self.iter.hops(),
            messages: self.iter.messages() + self.extra_messages,
            duration: now.saturating_duration_since(self.started),
            timed_out: self.timed_out,
        }
    }
}

/// What a query does around its lookup.
#[derive(Debug, Clone)]
pub(super) enum QueryKind {
    /// The k closest nodes to the target.
    FindNode,
    /// A bucket refresh: a find-node nobody waits for, except the
    /// bootstrap that started it, if any.
    Refresh { parent: Option<QueryId> },
    /// A get of a record.
    Get(GetState),
    /// A search for the providers of a key.
    GetProviders(ProvidersState),
    /// A put of a record, or a provider announcement.
    Put(PutState),
    /// A join.
    Bootstrap(BootstrapState),
}

impl QueryKind {
    /// A bucket refresh, child of bootstrap `parent` if any.
    pub(super) fn refresh(parent: Option<QueryId>) -> Self {
        QueryKind::Refresh { parent }
    }

    /// A get of the record under the target, mutable or not, starting from
    /// the local copy `best` if any.
    pub(super) fn get(mutable: bool, best: Option<Record>) -> Self {
        QueryKind::Get(GetState::new(mutable, best))
    }

    /// A search for providers.
    pub(super) fn get_providers() -> Self {
        QueryKind::GetProviders(ProvidersState::default())
    }

    /// A put of `record`.
    pub(super) fn put(record: Record) -> Self {
        QueryKind::Put(PutState::new(Some(record)))
    }

    /// An announcement of this node as a provider of the target.
    pub(super) fn add_provider() -> Self {
        QueryKind::Put(PutState::new(None))
    }

    /// A join that first waits for `pings` bootstrap pings.
    pub(super) fn bootstrap(pings: usize) -> Self {
        QueryKind::Bootstrap(BootstrapState::new(pings))
    }

    /// Whether the query waits for its bootstrap pings before it looks up
    /// (its lookup then starts without seeds).
    pub(super) fn is_bootstrap(&self) -> bool {
        matches!(self, QueryKind::Bootstrap(_))
    }

    /// The request a lookup step sends.
    fn lookup_request(&self, target: NodeId) -> LookupRequest {
        match self {
            QueryKind::Get(_) => LookupRequest::FindValue(target),
            QueryKind::GetProviders(_) => LookupRequest::GetProviders(target),
            _ => LookupRequest::FindNode(target),
        }
    }
}

/// The request of a lookup step, before the engine decides whether a
/// FIND_NODE carries a key-proof challenge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum LookupRequest {
    /// FIND_NODE of the target.
    FindNode(NodeId),
    /// FIND_VALUE of the key.
    FindValue(NodeId),
    /// GET_PROVIDERS of the key.
    GetProviders(NodeId),
}

impl LookupRequest {
    /// Whether the request can carry a key-proof challenge.
    pub(super) fn carries_challenge(&self) -> bool {
        matches!(self, LookupRequest::FindNode(_))
    }

    /// The request, with `challenge` when it is a FIND_NODE.
    pub(super) fn with_challenge(self, challenge: Option<Nonce>) -> Request {
        match self {
            LookupRequest::FindNode(target) => Request::FindNode { target, challenge },
            LookupRequest::FindValue(key) => Request::FindValue { key },
            LookupRequest::GetProviders(key) => Request::GetProviders { key },
        }
    }
}

/// What the engine must do next for a query, as [`QueryPool::poll`] says.
#[derive(Debug)]
pub(super) enum Action {
    /// Send a lookup step to `contact`; if it cannot be sent, report
    /// [`QueryPool::on_lookup_failed`].
    Lookup {
        contact: Contact,
        request: LookupRequest,
    },
    /// The lookup of a put or an add-provider finished. Store `local` here
    /// too if this node is among `closest`, send each request, and report
    /// [`QueryPool::on_stores_sent`].
    Store {
        closest: Vec<Contact>,
        local: Option<Record>,
        requests: Vec<(Contact, Request)>,
    },
    /// A bootstrap's self-lookup finished: start a refresh of one random id
    /// in each bucket of `buckets`, each a child of this query, and report
    /// [`QueryPool::on_refreshes_started`].
    Refresh { buckets: Range<usize> },
    /// The query ended; the pool no longer holds it.
    Finish(Finished),
}

/// A query the pool let go of, and what the engine still owes it.
#[derive(Debug)]
pub(super) struct Finished {
    pub(super) id: QueryId,
    /// Whether the user waits for its event.
    pub(super) notify: bool,
    pub(super) stats: QueryStats,
    pub(super) end: End,
}

/// How a finished query ends.
#[derive(Debug)]
pub(super) enum End {
    /// Its outcome, complete.
    Outcome(QueryOutcome),
    /// A get: push `record` to the `stale` holders (with the token each
    /// gave), then report it with the number of pushes sent.
    Get {
        record: Option<Record>,
        stale: Vec<(Contact, Token)>,
    },
    /// A join: release the burst's memory, then report with the routing
    /// table's size.
    Bootstrap { reached: usize },
    /// A refresh: tell its bootstrap, if any; nobody else waits.
    Refresh { parent: Option<QueryId> },
}

/// Every query in progress, by id, with their deadlines.
#[derive(Debug, Clone)]
pub(super) struct QueryPool {
    queries: HashMap<QueryId, Query>,
    deadlines: DeadlineSet<QueryId>,
    next_id: u64,
}

impl Default for QueryPool {
    fn default() -> Self {
        QueryPool {
            queries: HashMap::new(),
            deadlines: DeadlineSet::default(),
            next_id: 1,
        }
    }
}

impl QueryPool {
    /// Queries in progress.
    pub(super) fn len(&self) -> usize {
        self.queries.len()
    }

    /// The earliest query deadline.
    pub(super) fn next_deadline(&self) -> Option<Instant> {
        self.deadlines.earliest()
    }

    /// Takes out the earliest deadline if it is due at `now`, marks its
    /// query timed out (its lookup is over) and returns the query.
    pub(super) fn pop_timed_out(&mut self, now: Instant) -> Option<QueryId> {
        if self.deadlines.earliest().is_none_or(|when| when > now) {
            return None;
        }
        let (_, qid) = self.deadlines.pop_first()?;
        if let Some(q) = self.queries.get_mut(&qid) {
            q.timed_out = true;
            q.iter.finish();
        }
        Some(qid)
    }

    /// Adds a query of `kind` looking up `target` with `iter`, which must
    /// end by `deadline`.
    pub(super) fn insert(
        &mut self,
        now: Instant,
        target: NodeId,
        iter: DisjointIter,
        kind: QueryKind,
        notify: bool,
        deadline: Instant,
    ) -> QueryId {
        let qid = QueryId(self.next_id);
        self.next_id += 1;
        let query = Query {
            target,
            iter,
            kind,
            started: now,
            deadline,
            timed_out: false,
            notify,
            extra_messages: 0,
        };
        self.queries.insert(qid, query);
        self.deadlines.insert((deadline, qid));
        qid
    }

    /// The next thing query `qid` needs done, or `None` while it waits
    /// for answers (or no longer exists). `local` is this node's id; the
    /// table and `params` seed a bootstrap's self-lookup.
    pub(super) fn poll(
        &mut self,
        now: Instant,
        qid: QueryId,
        local: NodeId,
        table: &RoutingTable,
        params: LookupParams,
    ) -> Option<Action> {
        let q = self.queries.get_mut(&qid)?;
        if let QueryKind::Bootstrap(b) = &mut q.kind {
            match b.before_lookup(q.timed_out) {
                bootstrap::Next::Wait => return None,
                bootstrap::Next::Finish => return self.finish(now, qid).map(Action::Finish),
                bootstrap::Next::SelfLookup => {
                    let seeds = table.closest(&local, params.k);
                    q.iter = DisjointIter::new(local, local, seeds, params, q.iter.paths());
                    if q.timed_out {
                        q.iter.finish();
                    }
                }
                bootstrap::Next::Continue => {}
            }
        }
        if let QueryKind::Put(put) = &q.kind {
            if put.phase.started {
                if put.phase.outstanding > 0 && !q.timed_out {
                    return None;
                }
                return self.finish(now, qid).map(Action::Finish);
            }
        }
        match q.iter.next() {
            LookupStep::Query(contact) => Some(Action::Lookup {
                contact,
                request: q.kind.lookup_request(q.target),
            }),
            LookupStep::Waiting => None,
            LookupStep::Finished => match &mut q.kind {
                QueryKind::Put(put) => {
                    let closest = q.iter.closest_succeeded();
                    let (local, requests) = put.start_stores(q.target, &closest);
                    Some(Action::Store {
                        closest,
                        local,
                        requests,
                    })
                }
                QueryKind::Bootstrap(b) if !q.timed_out => {
                    let closest = q.iter.closest_succeeded();
                    match bootstrap::buckets_to_refresh(local, table, &closest, params.k) {
                        Some(buckets) => {
                            b.phase = BootstrapPhase::StartingRefreshes;
                            Some(Action::Refresh { buckets })
                        }
                        None => self.finish(now, qid).map(Action::Finish),
                    }
                }
                _ => self.finish(now, qid).map(Action::Finish),
            },
        }
    }

    /// Takes query `qid` out of the pool and says how it ends.
    fn finish(&mut self, now: Instant, qid: QueryId) -> Option<Finished> {
        let q = self.queries.remove(&qid)?;
        self.deadlines.remove(&(q.deadline, qid));
        let stats = q.stats(now);
        let end = match q.kind {
            QueryKind::FindNode => End::Outcome(QueryOutcome::FindNode {
                closest: q.iter.closest_succeeded(),
            }),
            QueryKind::Refresh { parent } => End::Refresh { parent },
            QueryKind::Get(get) => get.end(),
            QueryKind::GetProviders(found) => End::Outcome(QueryOutcome::Providers {
                providers: found.providers,
            }),
            QueryKind::Put(put) => End::Outcome(put.outcome(q.target)),
            QueryKind::Bootstrap(b) => End::Bootstrap { reached: b.reached },
        };
        Some(Finished {
            id: qid,
            notify: q.notify,
            stats,
            end,
        })
    }

    /// Ends the lookup of query `qid` at once (a get that holds its answer).
    pub(super) fn finish_lookup(&mut self, qid: QueryId) {
        if let Some(q) = self.queries.get_mut(&qid) {
            q.iter.finish();
        }
    }

    /// A lookup step of query `qid` was answered by `from`.
    pub(super) fn on_lookup_answer(&mut self, qid: QueryId, from: Contact, answer: Response) {
        let Some(q) = self.queries.get_mut(&qid) else {
            return;
        };
        match answer {
            Response::Nodes { token, nodes, .. } => {
                let nodes = usable_contacts(nodes);
                q.iter.on_success(&from.id, &nodes);
                if let QueryKind::Put(put) = &mut q.kind {
                    put.tokens.insert(from.id, token);
                }
            }
            Response::Value { token, record } => match &mut q.kind {
                QueryKind::Get(get) => get.on_value(&mut q.iter, q.target, from, token, record),
                _ => get::on_unasked_value(&mut q.iter, from),
            },
            Response::Providers {
                token: _,
                providers,
                nodes,
            } => {
                let nodes = usable_contacts(nodes);
                q.iter.on_success(&from.id, &nodes);
                if let QueryKind::GetProviders(found) = &mut q.kind {
                    found.add(usable_contacts(providers));
                }
            }
            Response::Pong { .. } | Response::Stored => q.iter.on_failure(&from.id),
        }
    }

    /// A lookup step of query `qid` to `peer` failed or could not be sent.
    pub(super) fn on_lookup_failed(&mut self, qid: QueryId, peer: &NodeId) {
        if let Some(q) = self.queries.get_mut(&qid) {
            q.iter.on_failure(peer);
        }
    }

    /// A lookup step of query `qid` to `peer` passed its soft deadline and
    /// is not sent again.
    pub(super) fn on_lookup_overdue(&mut self, qid: QueryId, peer: &NodeId) {
        if let Some(q) = self.queries.get_mut(&qid) {
            q.iter.on_overdue(peer);
        }
    }

    /// The lookup step of query `qid` to `peer` is about to be sent again:
    /// the request to send, or `None` when the lookup no longer waits for
    /// the peer.
    pub(super) fn on_lookup_retry(&mut self, qid: QueryId, peer: &NodeId) -> Option<LookupRequest> {
        let q = self.queries.get_mut(&qid)?;
        q.iter
            .on_retry(peer)
            .then(|| q.kind.lookup_request(q.target))
    }

    /// Whether `peer` is among the k closest live candidates of query
    /// `qid`'s lookup.
    pub(super) fn is_among_closest(&self, qid: QueryId, peer: &NodeId) -> bool {
        self.queries
            .get(&qid)
            .is_some_and(|q| q.iter.is_among_closest(peer))
    }

    /// A request of query `qid`'s store phase got no answer.
    pub(super) fn on_store_failed(&mut self, qid: QueryId) {
        if let Some(QueryKind::Put(put)) = self.queries.get_mut(&qid).map(|q| &mut q.kind) {
            put.phase.failed_one();
        }
    }

    /// A request of query `qid`'s store phase was answered: stored, or the
    /// error the holder gave.
    pub(super) fn on_store_answered(&mut self, qid: QueryId, result: Result<(), ErrorCode>) {
        if let Some(QueryKind::Put(put)) = self.queries.get_mut(&qid).map(|q| &mut q.kind) {
            put.phase.answered(result);
        }
    }

    /// The engine sent `sent` requests of query `qid`'s store phase, and
    /// stored the record here with result `local` (`None`: not here).
    pub(super) fn on_stores_sent(
        &mut self,
        qid: QueryId,
        sent: usize,
        local: Option<Result<(), crate::record::Refusal>>,
    ) {
        let Some(q) = self.queries.get_mut(&qid) else {
            return;
        };
        if let QueryKind::Put(put) = &mut q.kind {
            put.phase.sent(sent, local);
            q.extra_messages += sent as u32;
        }
    }

    /// The engine sent `sent` bootstrap pings for query `qid`.
    pub(super) fn on_pings_sent(&mut self, qid: QueryId, sent: u32) {
        let Some(q) = self.queries.get_mut(&qid) else {
            return;
        };
        q.extra_messages += sent;
        if let QueryKind::Bootstrap(b) = &mut q.kind {
            b.pings_sent(sent as usize);
        }
    }

    /// The engine sent query `qid` one more request outside its lookup (a
    /// bootstrap ping's copy).
    pub(super) fn on_extra_message(&mut self, qid: QueryId) {
        if let Some(q) = self.queries.get_mut(&qid) {
            q.extra_messages += 1;
        }
    }

    /// A bootstrap ping of query `qid` ended: the address proved its key,
    /// or not.
    pub(super) fn on_bootstrap_ping(&mut self, qid: QueryId, proved: bool) {
        if let Some(QueryKind::Bootstrap(b)) = self.queries.get_mut(&qid).map(|q| &mut q.kind) {
            b.ping_done(proved);
        }
    }

    /// The engine started the refreshes of bootstrap `qid`: it now waits
    /// for those still running (some may have finished already).
    pub(super) fn on_refreshes_started(&mut self, qid: QueryId) {
        let live = self
            .queries
            .values()
            .filter(|c| matches!(c.kind, QueryKind::Refresh { parent: Some(p) } if p == qid))
            .count();
        if let Some(QueryKind::Bootstrap(b)) = self.queries.get_mut(&qid).map(|q| &mut q.kind) {
            b.phase = BootstrapPhase::Refreshing { children: live };
        }
    }

    /// A refresh started by bootstrap `parent` finished. Returns whether
    /// the parent should be driven: not while it is still starting its
    /// refreshes (it counts the live ones when done), nor once it is gone.
    pub(super) fn on_child_finished(&mut self, parent: QueryId) -> bool {
        let Some(q) = self.queries.get_mut(&parent) else {
            return false;
        };
        match &mut q.kind {
            QueryKind::Bootstrap(b) => b.child_finished(),
            _ => true,
        }
    }

    /// Gives back the map's spare capacity after a burst.
    pub(super) fn release_memory(&mut self) {
        if self.queries.len() * 4 < self.queries.capacity() {
            self.queries.shrink_to(2 * self.queries.len());
        }
    }
}

/// Contacts worth querying: no unspecified address, no port 0.
fn usable_contacts(mut contacts: Vec<Contact>) -> Vec<Contact> {
    contacts.retain(|c| !c.addr.ip().is_unspecified() && c.addr.port() != 0);
    contacts
}
