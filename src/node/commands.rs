//! The user commands (`start`, the `start_*` shorthands, `stop_publishing`)
//! and the engine's side of queries: it starts them in the query pool and
//! carries out the [`Action`]s the pool hands back.
//!
//! This module owns turning a command into a query (the local copy a get
//! starts from, the record a put keeps republishing, the pings of a
//! bootstrap) and executing actions: sending lookup steps with or without a
//! key-proof challenge, the store phase, a bootstrap's refreshes, read
//! repair, and the event of a finished user query. It must never keep
//! query state of its own (that is `query`'s) and never decide what a
//! query does next: it only asks the pool.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Instant;

use rand::Rng;

use super::housekeeping::Published;
use super::query::{Action, End, Finished, QueryKind};
use super::requests::Attempt;
use super::requests::Purpose;
use super::{Event, Node, QueryId, QueryOptions, QueryOutcome, QueryRequest};
use crate::id::{Key, NodeId};
use crate::lookup::{DisjointIter, LookupParams};
use crate::record::{Record, Refusal};
use crate::wire::{Contact, Nonce, Request};

/// The address charged for records this node stores for itself.
const LOCAL_SOURCE: IpAddr = IpAddr::V4(Ipv4Addr::UNSPECIFIED);

impl Node {
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
        match request {
            QueryRequest::FindNode(target) => {
                Ok(self.start_query(now, target, QueryKind::FindNode, true, options))
            }
            QueryRequest::GetImmutable(key) => Ok(self.get(now, key, false, options)),
            QueryRequest::GetMutable(key) => Ok(self.get(now, key, true, options)),
            QueryRequest::Put(record) => self.put(now, record, options),
            QueryRequest::AddProvider(key) => Ok(self.add_provider(now, key, options)),
            QueryRequest::GetProviders(key) => {
                Ok(self.start_query(now, key, QueryKind::get_providers(), true, options))
            }
            QueryRequest::Bootstrap(addrs) => Ok(self.bootstrap(now, addrs, options)),
        }
    }

    /// Starts a lookup of the k nodes closest to `target`.
    pub fn start_find_node(&mut self, now: Instant, target: NodeId) -> QueryId {
        self.start_query(
            now,
            target,
            QueryKind::FindNode,
            true,
            QueryOptions::default(),
        )
    }

    /// Starts a get of the immutable record under `key`; it stops at the
    /// first valid record.
    pub fn start_get_immutable(&mut self, now: Instant, key: Key) -> QueryId {
        self.get(now, key, false, QueryOptions::default())
    }

    /// Starts a get of the signed record under `key`: it asks the k closest
    /// nodes, returns the highest valid sequence, and pushes that version
    /// to holders that answered with an older one.
    pub fn start_get_mutable(&mut self, now: Instant, key: Key) -> QueryId {
        self.get(now, key, true, QueryOptions::default())
    }

    /// Starts storing `record` on the k nodes closest to its key, and keeps
    /// republishing it every `Config::republish_interval` until
    /// [`Node::stop_publishing`]. Refuses a record that does not verify.
    pub fn start_put(&mut self, now: Instant, record: Record) -> Result<QueryId, Refusal> {
        self.put(now, record, QueryOptions::default())
    }

    /// Starts announcing this node as a provider of `key` to the k closest
    /// nodes, republished like a record.
    pub fn start_add_provider(&mut self, now: Instant, key: Key) -> QueryId {
        self.add_provider(now, key, QueryOptions::default())
    }

    /// Starts a search for the providers of `key`.
    pub fn start_get_providers(&mut self, now: Instant, key: Key) -> QueryId {
        self.start_query(
            now,
            key,
            QueryKind::get_providers(),
            true,
            QueryOptions::default(),
        )
    }

    /// Joins the network: pings `addrs` asking each to prove its key, adds
    /// those that do, looks up this node's own id, then refreshes every
    /// bucket farther than the closest neighbour found.
    pub fn start_bootstrap(&mut self, now: Instant, addrs: Vec<SocketAddr>) -> QueryId {
        self.bootstrap(now, addrs, QueryOptions::default())
    }

    /// Stops republishing `key` (the record then expires from the DHT after
    /// its TTL).
    pub fn stop_publishing(&mut self, key: &Key) -> bool {
        self.published.remove(key).is_some()
    }

    /// A get starting from the local copy, if any; an immutable get that
    /// holds one is over at once.
    fn get(&mut self, now: Instant, key: Key, mutable: bool, options: QueryOptions) -> QueryId {
        let best = self
            .store
            .get(now, &key)
            .filter(|r| matches!(r, Record::Mutable(_)) == mutable)
            .cloned();
        let found = best.is_some();
        let qid = self.start_query(now, key, QueryKind::get(mutable, best), true, options);
        if found && !mutable {
            self.queries.finish_lookup(qid);
            self.drive_query(now, qid);
        }
        qid
    }

    fn put(
        &mut self,
        now: Instant,
        record: Record,
        options: QueryOptions,
    ) -> Result<QueryId, Refusal> {
        record.verify()?;
        let key = record.key();
        self.published.insert(
            key,
            (
                Published::Record(Box::new(record.clone())),
                now + self.config.republish_interval,
            ),
        );
        Ok(self.start_query(now, key, QueryKind::put(record), true, options))
    }

    fn add_provider(&mut self, now: Instant, key: Key, options: QueryOptions) -> QueryId {
        self.published.insert(
            key,
            (Published::Provider, now + self.config.republish_interval),
        );
        self.start_query(now, key, QueryKind::add_provider(), true, options)
    }

    fn bootstrap(
        &mut self,
        now: Instant,
        addrs: Vec<SocketAddr>,
        options: QueryOptions,
    ) -> QueryId {
        let qid = self.start_query(
            now,
            self.id,
            QueryKind::bootstrap(addrs.len()),
            true,
            options,
        );
        let mut sent = 0;
        for addr in addrs {
            let nonce: Nonce = self.rng.gen();
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
        self.queries.on_pings_sent(qid, sent);
        self.drive_query(now, qid);
        qid
    }

    /// Starts a query of `kind` toward `target` and drives it (a bootstrap
    /// waits for its pings first). `notify`: a user query, which emits an
    /// event when it ends.
    pub(super) fn start_query(
        &mut self,
        now: Instant,
        target: NodeId,
        kind: QueryKind,
        notify: bool,
        options: QueryOptions,
    ) -> QueryId {
        self.stats.queries_started += 1;
        if let Some(index) = self.id.bucket_index(&target) {
            self.table.touch_bucket(index, now);
        }
        let bootstrap = kind.is_bootstrap();
        let seeds = if bootstrap {
            Vec::new()
        } else {
            self.table.closest(&target, self.config.k)
        };
        let paths = options
            .disjoint_paths
            .unwrap_or(self.config.disjoint_paths)
            .max(1);
        let iter = DisjointIter::new(target, self.id, seeds, self.lookup_params(), paths);
        let deadline = now + self.config.lookup_timeout;
        let qid = self
            .queries
            .insert(now, target, iter, kind, notify, deadline);
        if !bootstrap {
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

    /// Advances query `qid` as far as it can go now: carries out the pool's
    /// actions until it waits for answers or ends.
    pub(super) fn drive_query(&mut self, now: Instant, qid: QueryId) {
        loop {
            let params = self.lookup_params();
            let Some(action) = self.queries.poll(now, qid, self.id, &self.table, params) else {
                return;
            };
            match action {
                Action::Lookup { contact, request } => {
                    let challenge = if request.carries_challenge() {
                        self.lookup_challenge(now, &contact)
                    } else {
                        None
                    };
                    if self
                        .send_request(
                            now,
                            contact.addr,
                            Some(contact.id),
                            request.with_challenge(challenge),
                            Purpose::Lookup(qid, Attempt::default()),
                        )
                        .is_none()
                    {
                        self.queries.on_lookup_failed(qid, &contact.id);
                    }
                }
                Action::Store {
                    closest,
                    local,
                    requests,
                } => {
                    let local = local.and_then(|r| self.store_locally_if_close(now, &closest, r));
                    let mut sent = 0;
                    for (c, request) in requests {
                        if self
                            .send_request(now, c.addr, Some(c.id), request, Purpose::Store(qid))
                            .is_some()
                        {
                            sent += 1;
                        }
                    }
                    self.queries.on_stores_sent(qid, sent, local);
                }
                Action::Refresh { buckets } => {
                    for index in buckets {
                        if let Some(target) = self.id.random_in_bucket(index, &mut self.rng) {
                            self.start_query(
                                now,
                                target,
                                QueryKind::refresh(Some(qid)),
                                false,
                                QueryOptions::default(),
                            );
                        }
                    }
                    self.queries.on_refreshes_started(qid);
                }
                Action::Finish(finished) => return self.finish_query(now, finished),
            }
        }
    }

    /// Stores `record` here too when this node is among the k closest to
    /// its key (it is not in its own lookup results, `closest`). A
    /// client-mode node never does: it answers no FIND_VALUE, so its copy
    /// would help nobody and would count as a store that did not happen.
    fn store_locally_if_close(
        &mut self,
        now: Instant,
        closest: &[Contact],
        record: Record,
    ) -> Option<Result<(), Refusal>> {
        if self.config.client_mode {
            return None;
        }
        let key = record.key();
        let mine = self.id.distance(&key);
        let close = closest.len() < self.config.k
            || closest
                .last()
                .is_some_and(|far| mine < far.id.distance(&key));
        close.then(|| self.store.put(now, LOCAL_SOURCE, record).map(|_| ()))
    }

    /// Ends a query the pool let go of: repairs stale holders, notifies a
    /// bootstrap parent, and emits the event of a user query.
    fn finish_query(&mut self, now: Instant, finished: Finished) {
        let Finished {
            id,
            notify,
            stats,
            end,
        } = finished;
        let outcome = match end {
            End::Outcome(outcome) => outcome,
            End::Refresh { parent } => {
                if let Some(parent) = parent {
                    if self.queries.on_child_finished(parent) {
                        self.drive_query(now, parent);
                    }
                }
                return;
            }
            End::Get { record, stale } => {
                let mut repaired = 0;
                if let Some(best) = &record {
                    for (contact, token) in stale {
                        let request = Request::Store {
                            token,
                            record: best.clone(),
                        };
                        if self
                            .send_request(
                                now,
                                contact.addr,
                                Some(contact.id),
                                request,
                                Purpose::Repair,
                            )
                            .is_some()
                        {
                            repaired += 1;
                        }
                    }
                }
                QueryOutcome::Get { record, repaired }
            }
            End::Bootstrap { reached } => {
                self.release_memory(now);
                QueryOutcome::Bootstrap {
                    reached,
                    table_size: self.table.len(),
                }
            }
        };
        if notify {
            self.events
                .push_back(Event::QueryFinished { id, outcome, stats });
        }
    }
}
