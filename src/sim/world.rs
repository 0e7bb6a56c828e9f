//! The events and the loop that runs them: datagram deliveries (through
//! the link model and any partition), engine timers (with stale-event
//! skipping), commands, and the event-log hash. Event by event in the
//! queue's order (`queue.rs`) when the link model has no least latency;
//! otherwise in lookahead windows (`window.rs`).
//!
//! This module owns the order in which things happen. It never decides
//! anything about the protocol: it hands datagrams and timeouts to the
//! engines and collects what they emit.

use super::link::Fate;
use super::{nanos, Simulation};
use crate::node::Event;

/// An event in the simulator's queue, run at its virtual time (not the
/// engine's [`Event`], which an engine emits).
#[derive(Debug, Clone)]
pub(super) enum SimEvent {
    /// A datagram arrives at `to`.
    Deliver {
        from: u32,
        to: u32,
        payload: Vec<u8>,
    },
    /// Node `node`'s timer, if still armed for this instant.
    Timer { node: u32 },
    /// A simulator command.
    Command(Command),
}

/// Things the simulator itself does at a given time.
#[derive(Debug, Clone, Copy)]
pub(super) enum Command {
    /// Create the next node and bootstrap it from the first `from_live`
    /// entries of the live list (a bootstrap wave).
    WaveJoin { from_live: u32 },
    /// Start planned lookup `index` of the current batch.
    StartLookup { index: u32 },
    /// Start planned lookup `index` at `origin`, chosen already (a lookup
    /// whose origin was busy in a window, see `window.rs`).
    StartLookupFrom { index: u32, origin: u32 },
    /// A churn departure of generation `generation`.
    Leave { generation: u64 },
    /// A churn arrival of generation `generation`.
    Join { generation: u64 },
}

/// Shortest lookahead worth a window (1 ms of virtual time): with a
/// smaller least latency, or none, events run one at a time.
const MIN_LOOKAHEAD: u64 = 1_000_000;

impl Simulation {
    pub(super) fn schedule(&mut self, at: u64, what: SimEvent) {
        self.queue.push(at, what);
        self.stats.peak_queue = self.stats.peak_queue.max(self.queue.len() as u64);
    }

    /// Runs events until `done` holds (checked before each event, or
    /// between windows) or the next event is later than `until`; then
    /// virtual time is `until` if the queue ran past it. Returns whether
    /// `done` held.
    pub(super) fn run_until(&mut self, until: u64, mut done: impl FnMut(&Self) -> bool) -> bool {
        loop {
            if done(self) {
                return true;
            }
            let Some(next) = self.queue.peek_time() else {
                self.now = self.now.max(until);
                return false;
            };
            if next > until {
                self.now = self.now.max(until);
                return false;
            }
            let lookahead = nanos(self.link.min_latency());
            if lookahead >= MIN_LOOKAHEAD {
                self.run_window(next, lookahead, until);
                continue;
            }
            let Some((at, what)) = self.queue.pop() else {
                return false;
            };
            self.now = self.now.max(at);
            match what {
                SimEvent::Deliver { from, to, payload } => self.deliver(from, to, &payload),
                SimEvent::Timer { node } => self.fire_timer(node, at),
                SimEvent::Command(c) => self.command(c),
            }
        }
    }

    pub(super) fn command(&mut self, c: Command) {
        match c {
            Command::WaveJoin { from_live } => self.wave_join(from_live),
            Command::StartLookup { index } => self.start_lookup(index),
            Command::StartLookupFrom { index, origin } => self.start_lookup_from(index, origin),
            Command::Leave { generation } => self.churn_leave(generation),
            Command::Join { generation } => self.churn_join(generation),
        }
    }

    fn deliver(&mut self, from: u32, to: u32, payload: &[u8]) {
        if self.delivery_blocked(from, to) {
            return;
        }
        let now = self.now;
        let instant = self.instant(now);
        let Some(mut node) = self.slots.get_mut(to as usize).and_then(|s| s.node.take()) else {
            self.stats.to_departed += 1;
            return;
        };
        self.stats.delivered += 1;
        self.witness_delivery(now, from, to, payload);
        let from_addr = self.addr_of(from as usize);
        node.handle_datagram(instant, from_addr, payload);
        self.collect(to, node);
    }

    /// Shows a delivered datagram to the adversary (if any) and adds it to
    /// the event-log hash (if on).
    pub(super) fn witness_delivery(&mut self, at: u64, from: u32, to: u32, payload: &[u8]) {
        if let Some(adv) = self.adversary.as_mut() {
            adv.observe(from, to, payload);
        }
        if self.cfg.hash_event_log {
            self.log.update(&at.to_le_bytes());
            self.log.update(&from.to_le_bytes());
            self.log.update(&to.to_le_bytes());
            self.log.update(&(payload.len() as u32).to_le_bytes());
            self.log.update(payload);
        }
    }

    fn fire_timer(&mut self, slot: u32, at: u64) {
        let Some(s) = self.slots.get_mut(slot as usize) else {
            return;
        };
        if s.timer != at {
            self.stats.stale_timers += 1;
            return;
        }
        s.timer = u64::MAX;
        let Some(mut node) = s.node.take() else {
            return;
        };
        // The node's deadline may have moved later since this event was
        // queued (an answered request takes its deadline out): then nothing
        // is due, so re-arm for the real deadline instead of waking it.
        let deadline = node.poll_timeout().map(|t| self.offset(t));
        if let Some(real) = deadline.filter(|&d| d > at) {
            self.stats.stale_timers += 1;
            if let Some(s) = self.slots.get_mut(slot as usize) {
                s.node = Some(node);
                s.timer = real;
            }
            self.schedule(real, SimEvent::Timer { node: slot });
            return;
        }
        self.stats.timers += 1;
        node.handle_timeout(self.instant(at));
        self.collect(slot, node);
    }

    /// Drains `node`'s datagrams and events after an input, re-arms its
    /// timer, and puts it back into `slot`.
    pub(super) fn collect(&mut self, slot: u32, mut node: Box<crate::node::Node>) {
        while let Some(t) = node.poll_transmit() {
            self.send(slot, t);
        }
        let mut events = Vec::new();
        while let Some(e) = node.poll_event() {
            events.push(e);
        }
        let deadline = node.poll_timeout().map(|t| self.offset(t).max(self.now));
        if let Some(s) = self.slots.get_mut(slot as usize) {
            s.node = Some(node);
            if let Some(at) = deadline {
                if at < s.timer {
                    s.timer = at;
                    self.schedule(at, SimEvent::Timer { node: slot });
                }
            }
        }
        for e in events {
            self.on_event(slot, e);
        }
    }

    /// Puts one datagram that `slot` sent now on the wire: resolves the
    /// destination, lets a malicious sender's rewrite apply, draws its fate
    /// from the link model and queues its deliveries.
    pub(super) fn send(&mut self, slot: u32, t: crate::node::Transmit) {
        let Some(to) = self.slot_at(&t.dest).and_then(|s| u32::try_from(s).ok()) else {
            self.stats.unroutable += 1;
            return;
        };
        let mut t = t;
        if let Some(adv) = self.adversary.as_mut() {
            match adv.rewrite(slot, to, t.payload) {
                Some(p) => t.payload = p,
                None => return,
            }
        }
        match self.link.fate(&mut self.rng, slot, to) {
            Fate::Lost => self.stats.lost += 1,
            Fate::Once(d) => {
                let at = self.now.saturating_add(nanos(d));
                self.schedule(
                    at,
                    SimEvent::Deliver {
                        from: slot,
                        to,
                        payload: t.payload,
                    },
                );
            }
            Fate::Twice(d1, d2) => {
                self.stats.duplicated += 1;
                let (at1, at2) = (
                    self.now.saturating_add(nanos(d1)),
                    self.now.saturating_add(nanos(d2)),
                );
                self.schedule(
                    at1,
                    SimEvent::Deliver {
                        from: slot,
                        to,
                        payload: t.payload.clone(),
                    },
                );
                self.schedule(
                    at2,
                    SimEvent::Deliver {
                        from: slot,
                        to,
                        payload: t.payload,
                    },
                );
            }
        }
    }

    pub(super) fn on_event(&mut self, slot: u32, event: Event) {
        if self.cfg.hash_event_log {
            self.log.update(&self.now.to_le_bytes());
            self.log.update(&slot.to_le_bytes());
            self.log.update(format!("{event:?}").as_bytes());
        }
        let Event::QueryFinished { id, outcome, stats } = event;
        if let Some(t) = self.tracked.remove(&(slot, id)) {
            self.query_finished(slot, t, outcome, stats);
        }
    }
}
