//! Queries: the user commands (`start_*`), the per-kind state around a
//! [`ClosestIter`] lookup, the store phase of puts, bootstrap phases, and
//! the outcome each kind reports.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Instant;

use super::retry::Attempt;
use super::{
    Event, Node, Published, Purpose, QueryId, QueryOptions, QueryOutcome, QueryRequest, QueryStats,
};
use crate::id::{Key, NodeId, ID_BITS};
use crate::lookup::{DisjointIter, LookupParams, LookupStep};
use crate::record::{Record, Refusal};
use crate::wire::{Contact, ErrorCode, Nonce, Request, Response, Token};

/// A query in progress.
#[derive(Debug, Clone)]
pub(super) struct Query {
    target: NodeId,
    pub(super) iter: DisjointIter,
    kind: QueryKind,
    started: Instant,
    deadline: Instant,
    pub(super) timed_out: bool,
    /// User queries emit an event when they end; internal ones do not.
    notify: bool,
    /// Requests of the store phase (the lookup counts its own).
    pub(super) extra_messages: u32,
}

/// The store phase of a put or add-provider.
#[derive(Debug, Clone, Default)]
pub(super) struct StorePhase {
    started: bool,
    outstanding: usize,
    stored: usize,
    refused: Vec<Refusal>,
    failed: usize,
}

/// A value seen during a get.
#[derive(Debug, Clone)]
pub(super) struct Holder {
    contact: Contact,
    token: Token,
    seq: u64,
}

#[derive(Debug, Clone)]
pub(super) enum BootstrapPhase {
    Pinging { outstanding: usize },
    SelfLookup,
    Refreshing { children: usize },
}

/// What a query does around its lookup.
#[derive(Debug, Clone)]
pub(super) enum QueryKind {
    FindNode,
    Refresh {
        parent: Option<QueryId>,
    },
    Get {
        mutable: bool,
        best: Option<Record>,
        holders: Vec<Holder>,
    },
    Put {
        record: Record,
        tokens: HashMap<NodeId, Token>,
        phase: StorePhase,
    },
    AddProvider {
        tokens: HashMap<NodeId, Token>,
        phase: StorePhase,
    },
    GetProviders {
        providers: Vec<Contact>,
        seen: HashSet<NodeId>,
    },
    Bootstrap {
        phase: BootstrapPhase,
        reached: usize,
    },
}

impl QueryKind {
    pub(super) fn refresh(parent: Option<QueryId>) -> Self {
        QueryKind::Refresh { parent }
    }

    pub(super) fn put(record: Record) -> Self {
        QueryKind::Put {
            record,
            tokens: HashMap::new(),
            phase: StorePhase::default(),
        }
    }

    pub(super) fn add_provider(_key: Key) -> Self {
        QueryKind::AddProvider {
            tokens: HashMap::new(),
            phase: StorePhase::default(),
        }
    }

    /// The request a lookup step sends.
    fn lookup_request(&self, target: NodeId, challenge: Option<Nonce>) -> Request {
        match self {
            QueryKind::Get { .. } => Request::FindValue { key: target },
            QueryKind::GetProviders { .. } => Request::GetProviders { key: target },
            _ => Request::FindNode { target, challenge },
        }
    }

    /// Whether this query's lookup steps are FIND_NODEs, which can carry a
    /// key-proof challenge.
    fn asks_find_node(&self) -> bool {
        !matches!(self, QueryKind::Get { .. } | QueryKind::GetProviders { .. })
    }
}

impl Query {
    /// The request each lookup step of this query sends (and a
    /// retransmission sends again), with `challenge` when it is a
    /// FIND_NODE.
    pub(super) fn lookup_request(&self, challenge: Option<Nonce>) -> Request {
        self.kind.lookup_request(self.target, challenge)
    }

    pub(super) fn store_failed(&mut self) {
        if let Some(phase) = self.store_phase_mut() {
            phase.outstanding = phase.outstanding.saturating_sub(1);
            phase.failed += 1;
        }
    }

    pub(super) fn store_answered(&mut self, result: Result<(), ErrorCode>) {
        if let Some(phase) = self.store_phase_mut() {
            phase.outstanding = phase.outstanding.saturating_sub(1);
            match result {
                Ok(()) => phase.stored += 1,
                Err(ErrorCode::Refused(r)) => phase.refused.push(r),
                Err(_) => phase.failed += 1,
            }
        }
    }

    pub(super) fn bootstrap_ping_done(&mut self, proved: bool) {
        if let QueryKind::Bootstrap {
            phase: BootstrapPhase::Pinging { outstanding },
            reached,
        } = &mut self.kind
        {
            *outstanding = outstanding.saturating_sub(1);
            if proved {
                *reached += 1;
            }
        }
    }

    fn store_phase_mut(&mut self) -> Option<&mut StorePhase> {
        match &mut self.kind {
            QueryKind::Put { phase, .. } | QueryKind::AddProvider { phase, .. } => Some(phase),
            _ => None,
        }
    }

    fn stats(&self, now: Instant) -> QueryStats {
        QueryStats {
            hops: self.iter.hops(),
            messages: self.iter.messages() + self.extra_messages,
            duration: now.saturating_duration_since(self.started),
            timed_out: self.timed_out,
        }
    }
}

/// The address charged for records this node stores for itself.
const LOCAL_SOURCE: IpAddr = IpAddr::V4(Ipv4Addr::UNSPECIFIED);

impl Node {
    // ----- commands ------------------------------------------------------

    /// Starts any query with per-query options (e.g. disjoint paths on a
    /// hostile network); the `start_*` methods are shorthands with the
    /// defaults of [`crate::Config`]. Only a put can fail: a record that does
    /// not verify is refused.
    pub fn start(
        &mut self,
        now: Instant,
        request: QueryRequest,
        options: QueryOptions,
    ) -> Result<QueryId, Refusal> {
        self.paths_override = options.disjoint_paths;
        let id = match request {
            QueryRequest::FindNode(target) => Ok(self.start_find_node(now, target)),
            QueryRequest::GetImmutable(key) => Ok(self.start_get_immutable(now, key)),
            QueryRequest::GetMutable(key) => Ok(self.start_get_mutable(now, key)),
            QueryRequest::Put(record) => self.start_put(now, record),
            QueryRequest::AddProvider(key) => Ok(self.start_add_provider(now, key)),
            QueryRequest::GetProviders(key) => Ok(self.start_get_providers(now, key)),
            QueryRequest::Bootstrap(addrs) => Ok(self.start_bootstrap(now, addrs)),
        };
        self.paths_override = None;
        id
    }

    /// Starts a lookup of the k nodes closest to `target`.
    pub fn start_find_node(&mut self, now: Instant, target: NodeId) -> QueryId {
        self.start_query(now, target, QueryKind::FindNode, true)
    }

    /// Starts a get of the immutable record under `key`; it stops at the
    /// first valid record.
    pub fn start_get_immutable(&mut self, now: Instant, key: Key) -> QueryId {
        let best = self
            .store
            .get(now, &key)
            .filter(|r| matches!(r, Record::Immutable(_)))
            .cloned();
        let found = best.is_some();
        let qid = self.start_query(
            now,
            key,
            QueryKind::Get {
                mutable: false,
                best,
                holders: Vec::new(),
            },
            true,
        );
        if found {
            if let Some(q) = self.queries.get_mut(&qid) {
                q.iter.finish();
            }
            self.drive_query(now, qid);
        }
        qid
    }

    /// Starts a get of the signed record under `key`: it asks the k closest
    /// nodes, returns the highest valid sequence, and pushes that version
    /// to holders that answered with an older one.
    pub fn start_get_mutable(&mut self, now: Instant, key: Key) -> QueryId {
        let best = self
            .store
            .get(now, &key)
            .filter(|r| matches!(r, Record::Mutable(_)))
            .cloned();
        self.start_query(
            now,
            key,
            QueryKind::Get {
                mutable: true,
                best,
                holders: Vec::new(),
            },
            true,
        )
    }

    /// Starts storing `record` on the k nodes closest to its key, and keeps
    /// republishing it every `Config::republish_interval` until
    /// [`Node::stop_publishing`]. Refuses a record that does not verify.
    pub fn start_put(&mut self, now: Instant, record: Record) -> Result<QueryId, Refusal> {
        record.verify()?;
        let key = record.key();
        self.published.insert(
            key,
            (
                Published::Record(Box::new(record.clone())),
                now + self.config.republish_interval,
            ),
        );
        Ok(self.start_query(now, key, QueryKind::put(record), true))
    }

    /// Starts announcing this node as a provider of `key` to the k closest
    /// nodes, republished like a record.
    pub fn start_add_provider(&mut self, now: Instant, key: Key) -> QueryId {
        self.published.insert(
            key,
            (Published::Provider, now + self.config.republish_interval),
        );
        self.start_query(now, key, QueryKind::add_provider(key), true)
    }

    /// Starts a search for the providers of `key`.
    pub fn start_get_providers(&mut self, now: Instant, key: Key) -> QueryId {
        self.start_query(
            now,
            key,
            QueryKind::GetProviders {
                providers: Vec::new(),
                seen: HashSet::new(),
            },
            true,
        )
    }

    /// Joins the network: pings `addrs` asking each to prove its key, adds
    /// those that do, looks up this node's own id, then refreshes every
    /// bucket farther than the closest neighbour found.
    pub fn start_bootstrap(&mut self, now: Instant, addrs: Vec<SocketAddr>) -> QueryId {
        let qid = self.start_query(
            now,
            self.id,
            QueryKind::Bootstrap {
                phase: BootstrapPhase::Pinging {
                    outstanding: addrs.len(),
                },
                reached: 0,
            },
            true,
        );
        let mut sent = 0;
        for addr in addrs {
            let nonce: crate::wire::Nonce = rand::Rng::gen(&mut self.rng);
            if self
                .send_request(
                    now,
                    addr,
                    None,
                    Request::Ping {
                        challenge: Some(nonce),
                    },
                    Purpose::BootstrapPing {
                        query: qid,
                        nonce,
                        attempt: Attempt::default(),
                    },
                )
                .is_some()
            {
                sent += 1;
            }
        }
        if let Some(q) = self.queries.get_mut(&qid) {
            q.extra_messages += sent;
            if let QueryKind::Bootstrap {
                phase: BootstrapPhase::Pinging { outstanding },
                ..
            } = &mut q.kind
            {
                *outstanding = sent as usize;
            }
        }
        self.drive_query(now, qid);
        qid
    }

    pub(super) fn start_query(
        &mut self,
        now: Instant,
        target: NodeId,
        kind: QueryKind,
        notify: bool,
    ) -> QueryId {
        let qid = QueryId(self.next_query_id);
        self.next_query_id += 1;
        self.stats.queries_started += 1;
        if let Some(index) = self.id.bucket_index(&target) {
            self.table.touch_bucket(index, now);
        }
        let seeds = if matches!(
            kind,
            QueryKind::Bootstrap {
                phase: BootstrapPhase::Pinging { .. },
                ..
            }
        ) {
            Vec::new()
        } else {
            self.table.closest(&target, self.config.k)
        };
        let deadline = now + self.config.lookup_timeout;
        let paths = self
            .paths_override
            .take()
            .unwrap_or(self.config.disjoint_paths)
            .max(1);
        let query = Query {
            target,
            iter: DisjointIter::new(target, self.id, seeds, self.lookup_params(), paths),
            kind,
            started: now,
            deadline,
            timed_out: false,
            notify,
            extra_messages: 0,
        };
        self.queries.insert(qid, query);
        self.query_deadlines.insert((deadline, qid));
        if !matches!(
            self.queries.get(&qid).map(|q| &q.kind),
            Some(QueryKind::Bootstrap { .. })
        ) {
            self.drive_query(now, qid);
        }
        qid
    }

    fn lookup_params(&self) -> LookupParams {
        LookupParams {
            k: self.config.k,
            alpha: self.config.alpha,
        }
    }

    // ----- driving -------------------------------------------------------

    /// Advances query `qid` as far as it can go now.
    pub(super) fn drive_query(&mut self, now: Instant, qid: QueryId) {
        let Some(mut q) = self.queries.remove(&qid) else {
            return;
        };
        loop {
            // Bootstrap waits for its pings before looking up.
            if let QueryKind::Bootstrap { phase, .. } = &mut q.kind {
                if let BootstrapPhase::Pinging { outstanding } = phase {
                    if *outstanding > 0 && !q.timed_out {
                        break;
                    }
                    *phase = BootstrapPhase::SelfLookup;
                    let seeds = self.table.closest(&self.id, self.config.k);
                    let paths = q.iter.paths();
                    q.iter =
                        DisjointIter::new(self.id, self.id, seeds, self.lookup_params(), paths);
                    if q.timed_out {
                        q.iter.finish();
                    }
                }
                if let BootstrapPhase::Refreshing { children } = phase {
                    if *children > 0 && !q.timed_out {
                        break;
                    }
                    return self.finish_query(now, qid, q);
                }
            }
            // A put waits for its STOREs once they are sent.
            if let Some(phase) = q.store_phase_mut() {
                if phase.started {
                    if phase.outstanding > 0 && !q.timed_out {
                        break;
                    }
                    return self.finish_query(now, qid, q);
                }
            }
            match q.iter.next() {
                LookupStep::Query(contact) => {
                    let challenge = if q.kind.asks_find_node() {
                        self.lookup_challenge(now, &contact)
                    } else {
                        None
                    };
                    let request = q.lookup_request(challenge);
                    if self
                        .send_request(
                            now,
                            contact.addr,
                            Some(contact.id),
                            request,
                            Purpose::Lookup(qid, Attempt::default()),
                        )
                        .is_none()
                    {
                        q.iter.on_failure(&contact.id);
                    }
                }
                LookupStep::Waiting => break,
                LookupStep::Finished => {
                    if !self.lookup_finished(now, qid, &mut q) {
                        return self.finish_query(now, qid, q);
                    }
                    // The query moved to its next phase: loop to check it.
                }
            }
        }
        self.queries.insert(qid, q);
    }

    /// The lookup of `q` finished. Starts the next phase and returns true,
    /// or returns false when the query is complete.
    fn lookup_finished(&mut self, now: Instant, qid: QueryId, q: &mut Query) -> bool {
        let closest = q.iter.closest_succeeded();
        match &mut q.kind {
            QueryKind::Put {
                record,
                tokens,
                phase,
            } => {
                let request = |token| Request::Store {
                    token,
                    record: record.clone(),
                };
                let local = self.store_locally_if_close(now, &q.target, &closest, record);
                let sent = self.send_stores(now, qid, &closest, tokens, request);
                phase.started = true;
                phase.outstanding = sent;
                match local {
                    Some(Ok(())) => phase.stored += 1,
                    Some(Err(r)) => phase.refused.push(r),
                    None => {}
                }
                q.extra_messages += sent as u32;
                !q.timed_out && sent > 0
            }
            QueryKind::AddProvider { tokens, phase } => {
                let key = q.target;
                let request = |token| Request::AddProvider { token, key };
                let sent = self.send_stores(now, qid, &closest, tokens, request);
                phase.started = true;
                phase.outstanding = sent;
                q.extra_messages += sent as u32;
                !q.timed_out && sent > 0
            }
            QueryKind::Bootstrap { phase, .. } => {
                if q.timed_out {
                    return false;
                }
                // Refresh every bucket farther than the closest neighbour,
                // except those the self-lookup already completed: it found
                // every node nearer than its k-th result, so a bucket whose
                // whole range lies inside that radius (index below the k-th
                // result's bucket) holds all the nodes it could ever have.
                // The nearest neighbour is the lookup's first result or a
                // table entry: responders enter the table only once their
                // key proof is back, which may be after this point.
                let nearest = self
                    .table
                    .closest(&self.id, 1)
                    .iter()
                    .chain(closest.first())
                    .filter_map(|c| self.id.bucket_index(&c.id))
                    .min();
                let Some(nearest) = nearest else {
                    return false;
                };
                let complete_below = if closest.len() >= self.config.k {
                    closest
                        .iter()
                        .filter_map(|c| self.id.bucket_index(&c.id))
                        .max()
                        .unwrap_or(0)
                } else {
                    0
                };
                for index in (nearest + 1).max(complete_below)..ID_BITS {
                    if let Some(target) = self.id.random_in_bucket(index, &mut self.rng) {
                        self.start_query(now, target, QueryKind::refresh(Some(qid)), false);
                    }
                }
                // Children that finished synchronously reported to a parent
                // that was not in the map: count the live ones instead.
                let live = self
                    .queries
                    .values()
                    .filter(
                        |c| matches!(c.kind, QueryKind::Refresh { parent: Some(p) } if p == qid),
                    )
                    .count();
                *phase = BootstrapPhase::Refreshing { children: live };
                true
            }
            _ => false,
        }
    }

    /// Stores `record` here too when this node is among the k closest to
    /// its key (it is not in its own lookup results). A client-mode node
    /// never does: it answers no FIND_VALUE, so its copy would help nobody
    /// and would count as a store that did not happen.
    fn store_locally_if_close(
        &mut self,
        now: Instant,
        key: &Key,
        closest: &[Contact],
        record: &Record,
    ) -> Option<Result<(), Refusal>> {
        if self.config.client_mode {
            return None;
        }
        let mine = self.id.distance(key);
        let close = closest.len() < self.config.k
            || closest
                .last()
                .is_some_and(|far| mine < far.id.distance(key));
        close.then(|| {
            self.store
                .put(now, LOCAL_SOURCE, record.clone())
                .map(|_| ())
        })
    }

    /// Sends the store-phase request to every closest contact that gave a
    /// token; returns how many were sent.
    fn send_stores(
        &mut self,
        now: Instant,
        qid: QueryId,
        closest: &[Contact],
        tokens: &HashMap<NodeId, Token>,
        request: impl Fn(Token) -> Request,
    ) -> usize {
        let mut sent = 0;
        for c in closest {
            if let Some(token) = tokens.get(&c.id) {
                if self
                    .send_request(
                        now,
                        c.addr,
                        Some(c.id),
                        request(*token),
                        Purpose::Store(qid),
                    )
                    .is_some()
                {
                    sent += 1;
                }
            }
        }
        sent
    }

    /// A lookup step of query `qid` was answered by `from`.
    pub(super) fn lookup_answer(
        &mut self,
        now: Instant,
        qid: QueryId,
        from: Contact,
        answer: Response,
    ) {
        let Some(q) = self.queries.get_mut(&qid) else {
            return;
        };
        match answer {
            Response::Nodes { token, nodes, .. } => {
                let nodes = usable_contacts(nodes);
                q.iter.on_success(&from.id, &nodes);
                match &mut q.kind {
                    QueryKind::Put { tokens, .. } | QueryKind::AddProvider { tokens, .. } => {
                        tokens.insert(from.id, token);
                    }
                    _ => {}
                }
            }
            Response::Value { token, record } => {
                // A byte-identical copy of the best record so far was
                // verified already: skip the signature check.
                let seen = matches!(&q.kind, QueryKind::Get { best: Some(b), .. } if *b == record);
                let valid = record.key() == q.target && (seen || record.verify().is_ok());
                match (&mut q.kind, valid) {
                    (
                        QueryKind::Get {
                            mutable,
                            best,
                            holders,
                        },
                        true,
                    ) => {
                        let is_mutable = matches!(record, Record::Mutable(_));
                        if is_mutable == *mutable {
                            q.iter.on_success(&from.id, &[]);
                            holders.push(Holder {
                                contact: from,
                                token,
                                seq: record.seq(),
                            });
                            if best.as_ref().is_none_or(|b| record.seq() > b.seq()) {
                                *best = Some(record);
                            }
                            if !*mutable {
                                q.iter.finish();
                            }
                        } else {
                            q.iter.on_success(&from.id, &[]);
                        }
                    }
                    _ => {
                        // A forged or misplaced record: the peer is useless
                        // to this lookup.
                        tracing::debug!(peer = %from.id, "invalid record in answer");
                        q.iter.on_failure(&from.id);
                    }
                }
            }
            Response::Providers {
                token: _,
                providers,
                nodes,
            } => {
                let nodes = usable_contacts(nodes);
                q.iter.on_success(&from.id, &nodes);
                if let QueryKind::GetProviders {
                    providers: found,
                    seen,
                } = &mut q.kind
                {
                    for p in usable_contacts(providers) {
                        if seen.insert(p.id) {
                            found.push(p);
                        }
                    }
                }
            }
            Response::Pong { .. } | Response::Stored => q.iter.on_failure(&from.id),
        }
        self.drive_query(now, qid);
    }

    /// Ends query `qid`: repairs stale holders, notifies a bootstrap parent,
    /// and emits the event of a user query.
    fn finish_query(&mut self, now: Instant, qid: QueryId, q: Query) {
        self.query_deadlines.remove(&(q.deadline, qid));
        let stats = q.stats(now);
        let outcome = match q.kind {
            QueryKind::FindNode => QueryOutcome::FindNode {
                closest: q.iter.closest_succeeded(),
            },
            QueryKind::Refresh { parent } => {
                if let Some(parent) = parent {
                    if let Some(p) = self.queries.get_mut(&parent) {
                        if let QueryKind::Bootstrap {
                            phase: BootstrapPhase::Refreshing { children },
                            ..
                        } = &mut p.kind
                        {
                            *children = children.saturating_sub(1);
                        }
                        self.drive_query(now, parent);
                    }
                }
                return;
            }
            QueryKind::Get { best, holders, .. } => {
                let mut repaired = 0;
                if let Some(best @ Record::Mutable(_)) = &best {
                    for h in holders.iter().filter(|h| h.seq < best.seq()) {
                        let request = Request::Store {
                            token: h.token,
                            record: best.clone(),
                        };
                        if self
                            .send_request(
                                now,
                                h.contact.addr,
                                Some(h.contact.id),
                                request,
                                Purpose::Repair,
                            )
                            .is_some()
                        {
                            repaired += 1;
                        }
                    }
                }
                QueryOutcome::Get {
                    record: best,
                    repaired,
                }
            }
            QueryKind::Put { phase, record, .. } => QueryOutcome::Put {
                key: record.key(),
                stored: phase.stored,
                refused: phase.refused,
                failed: phase.failed + phase.outstanding,
            },
            QueryKind::AddProvider { phase, .. } => QueryOutcome::Put {
                key: q.target,
                stored: phase.stored,
                refused: phase.refused,
                failed: phase.failed + phase.outstanding,
            },
            QueryKind::GetProviders { providers, .. } => QueryOutcome::Providers { providers },
            QueryKind::Bootstrap { reached, .. } => {
                self.release_memory(now);
                QueryOutcome::Bootstrap {
                    reached,
                    table_size: self.table.len(),
                }
            }
        };
        if q.notify {
            self.events.push_back(Event::QueryFinished {
                id: qid,
                outcome,
                stats,
            });
        }
    }
}

/// Contacts worth querying: no unspecified address, no port 0.
fn usable_contacts(mut contacts: Vec<Contact>) -> Vec<Contact> {
    contacts.retain(|c| !c.addr.ip().is_unspecified() && c.addr.port() != 0);
    contacts
}
