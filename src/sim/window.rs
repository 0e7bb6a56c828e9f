//! Lookahead windows: the engines' work of a stretch of virtual time,
//! spread over threads without changing the run.
//!
//! No datagram arrives sooner than the link model's smallest one-way
//! latency `L` after it was sent. So every event due in `[t, t + L)`, where
//! `t` is the earliest queued event, was queued before `t`: nothing that
//! happens inside the window can add a delivery to it. Within a window the
//! nodes are therefore independent, except through their own timers, and
//! each node's inputs can be run by any thread as long as they run in
//! time order.
//!
//! This module owns that schedule. A window goes in three steps:
//!
//! 1. **Collect** (one thread): pop every event due before the window's
//!    end, apply the simulator's own checks (crashed senders, partitions,
//!    departed receivers), take each addressed engine out of its slot and
//!    give it its inputs in queue order. A wave join (a brand-new node,
//!    which nobody can reach yet) runs right there, and so does a lookup
//!    start whose origin has had no input yet in the window (whatever it
//!    sends arrives after the window; its own timers join the window as
//!    inputs). Any other command, and a lookup start at a node already
//!    busy in the window, ends the window at its instant and runs after
//!    it.
//! 2. **Run** (up to [`SimConfig::threads`](super::SimConfig::threads)
//!    threads: the calling one and the long-lived workers of `pool.rs`):
//!    each engine handles its inputs in order, with its own timers fired
//!    in between as they fall due, and records, per input, what it sent
//!    and reported.
//! 3. **Merge** (one thread): the records are sorted by `(time, slot,
//!    order within the slot)` and applied: event-log hashing, the
//!    adversary's view, the link model's fate of each datagram (from the
//!    simulator's one RNG), queued deliveries, finished queries; then the
//!    engines go back to their slots and timers that outlive the window
//!    are queued.
//!
//! The merge order depends only on the records, never on which thread
//! made them, so a run is the same, bit for bit, with any number of
//! threads. It is not the order of the one-event-at-a-time loop in
//! `world.rs` (ties between nodes fall differently), which the simulator
//! uses when the link model has no lower bound on latency.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::pool::Pool;
use super::world::{Command, SimEvent};
use super::{nanos, Simulation, SlotState};
use crate::node::{Event, Node, Transmit};

/// No slot: the sentinel of [`Simulation::window_slot`].
pub(super) const NO_WORK: u32 = u32::MAX;

/// Windows with fewer inputs than this per thread run on fewer threads:
/// handing a couple of dozen datagrams to a worker (a channel message each
/// way, `pool.rs`) costs more than it saves (the threshold was measured:
/// docs/BENCHMARKS.md, "Simulator"). The unit tests use 2, so that their
/// small networks run on several threads too.
const PARALLEL_MIN_INPUTS: usize = if cfg!(test) { 2 } else { 32 };

/// One input of an engine inside a window.
#[derive(Debug, Clone)]
pub(super) enum Input {
    /// A datagram from slot `from` at `addr`.
    Datagram {
        from: u32,
        addr: SocketAddr,
        payload: Vec<u8>,
    },
    /// The timer event queued for this instant (stale unless the engine's
    /// timer is still armed for it).
    Timer,
}

/// One engine's share of a window.
pub(super) struct Work {
    slot: u32,
    node: Box<Node>,
    /// The slot's armed timer when the window began (`u64::MAX`: none).
    timer_before: u64,
    /// Its armed timer now.
    timer: u64,
    /// Whether the queue event of `timer_before` was popped into this
    /// window (then, if the timer ends up there again, it needs a new one).
    event_popped: bool,
    inputs: Inputs,
}

/// An engine's inputs in a window, in time order. The buffers go back to
/// [`Simulation`] after each window and serve the next one, so a window
/// does not allocate a buffer per engine.
pub(super) type Inputs = Vec<(u64, Input)>;

/// Most spare input buffers kept between windows, and the largest kept
/// (in inputs): enough for the windows of a large network's bootstrap
/// (over a thousand engines each, a handful of inputs per engine), and at
/// most 4,096 x 16 inputs of 72 bytes (under 5 MiB) held.
const SPARE_INPUTS: usize = 4096;
const SPARE_INPUT_CAPACITY: usize = 16;

/// What one input (or one timer firing) made an engine do.
struct Record {
    at: u64,
    slot: u32,
    /// Position among the slot's records in this window.
    order: u32,
    /// The delivered datagram (sender, bytes), kept only when the merge
    /// needs it (event-log hashing or an adversary watching).
    delivered: Option<(u32, Vec<u8>)>,
    /// Its datagrams: `Output::transmits[first..first + count]`.
    first: u32,
    count: u32,
    events: Vec<Event>,
}

/// What one thread produced.
#[derive(Default)]
pub(super) struct Output {
    records: Vec<Record>,
    /// Every record's datagrams, one after the other (one buffer per
    /// thread instead of one per record).
    transmits: Vec<Transmit>,
    /// The latest instant an engine of this thread handled.
    latest: u64,
    timers: u64,
    stale_timers: u64,
}

/// The fixed inputs every thread reads.
#[derive(Clone, Copy)]
pub(super) struct Frame {
    base: Instant,
    end: u64,
    keep_payloads: bool,
}

impl Frame {
    fn instant(&self, t: u64) -> Instant {
        self.base + Duration::from_nanos(t)
    }

    fn offset(&self, t: Instant) -> u64 {
        nanos(t.saturating_duration_since(self.base))
    }
}

impl Simulation {
    /// Runs one window starting at `start` (the earliest queued event),
    /// ending at `start + lookahead` or just after `until`, whichever is
    /// first (or at a command that must run alone).
    pub(super) fn run_window(&mut self, start: u64, lookahead: u64, until: u64) {
        let mut end = start.saturating_add(lookahead).min(until.saturating_add(1));
        let mut works: Vec<Work> = Vec::new();
        let mut after: Option<(u64, Command)> = None;
        // 1. Collect.
        while let Some(at) = self.queue.peek_time() {
            if at >= end {
                break;
            }
            let Some((at, what)) = self.queue.pop() else {
                break;
            };
            self.now = self.now.max(at);
            match what {
                SimEvent::Deliver { from, to, payload } => {
                    if self.delivery_blocked(from, to) {
                        continue;
                    }
                    let Some(w) = self.work_for(&mut works, to) else {
                        self.stats.to_departed += 1;
                        continue;
                    };
                    self.stats.delivered += 1;
                    let addr = self.addr_of(from as usize);
                    w.inputs.push((
                        at,
                        Input::Datagram {
                            from,
                            addr,
                            payload,
                        },
                    ));
                }
                SimEvent::Timer { node } => {
                    if let Some(w) = self.work_for(&mut works, node) {
                        w.event_popped |= at == w.timer_before;
                        w.inputs.push((at, Input::Timer));
                    }
                }
                SimEvent::Command(Command::WaveJoin { from_live }) => self.wave_join(from_live),
                SimEvent::Command(Command::StartLookup { index }) => {
                    let Some(origin) = self.lookup_origin(index) else {
                        continue;
                    };
                    if self.in_window(origin) {
                        end = at;
                        after = Some((at, Command::StartLookupFrom { index, origin }));
                        break;
                    }
                    self.start_lookup_from(index, origin);
                }
                SimEvent::Command(c) => {
                    end = at;
                    after = Some((at, c));
                    break;
                }
            }
        }
        // 2. Run.
        let frame = Frame {
            base: self.base,
            end,
            keep_payloads: self.cfg.hash_event_log || self.adversary.is_some(),
        };
        let (mut works, outputs) = run_works(&mut self.pool, works, frame, self.cfg.threads);
        // 3. Merge.
        self.merge(outputs);
        // Back in slot order, so that timer events queued at the same
        // nanosecond get their sequence numbers in an order that does not
        // depend on the threads.
        works.sort_unstable_by_key(|w| w.slot);
        for w in works {
            if let Some(i) = self.window_slot.get_mut(w.slot as usize) {
                *i = NO_WORK;
            }
            // Every armed timer has a queue event at its instant: the one it
            // had, if still queued, else a new one. (The last loop of
            // `run_work` leaves no timer armed before `end`.)
            let still_queued = w.timer == w.timer_before && !w.event_popped;
            let requeue = w.timer != u64::MAX && !still_queued;
            if let Some(s) = self.slots.get_mut(w.slot as usize) {
                s.node = Some(w.node);
                s.timer = w.timer;
            }
            if self.spare_inputs.len() < SPARE_INPUTS && w.inputs.capacity() <= SPARE_INPUT_CAPACITY
            {
                self.spare_inputs.push(w.inputs);
            }
            if requeue {
                self.schedule(w.timer, SimEvent::Timer { node: w.slot });
            }
        }
        if let Some((at, c)) = after {
            self.now = self.now.max(at);
            self.command(c);
        }
    }

    /// Whether a datagram from `from` to `to` is dropped on arrival now: its
    /// sender crashed while it was in flight, or a partition separates them.
    pub(super) fn delivery_blocked(&mut self, from: u32, to: u32) -> bool {
        let sender_crashed = self
            .slots
            .get(from as usize)
            .is_some_and(|s| s.state == SlotState::Crashed);
        if sender_crashed {
            self.stats.to_departed += 1;
            return true;
        }
        if self.partition_blocks(from, to) {
            self.stats.partitioned += 1;
            return true;
        }
        false
    }

    /// Whether `slot`'s engine is out of its slot, busy in this window.
    fn in_window(&self, slot: u32) -> bool {
        self.window_slot
            .get(slot as usize)
            .is_some_and(|&i| i != NO_WORK)
    }

    /// The window's work for `slot`, taking its engine out of the slot on
    /// first use; `None` if the slot holds no engine.
    fn work_for<'w>(&mut self, works: &'w mut Vec<Work>, slot: u32) -> Option<&'w mut Work> {
        let index = slot as usize;
        if self.window_slot.len() < self.slots.len() {
            self.window_slot.resize(self.slots.len(), NO_WORK);
        }
        let existing = *self.window_slot.get(index)?;
        if existing != NO_WORK {
            return works.get_mut(existing as usize);
        }
        let s = self.slots.get_mut(index)?;
        let node = s.node.take()?;
        let position = u32::try_from(works.len()).unwrap_or(NO_WORK);
        if let Some(i) = self.window_slot.get_mut(index) {
            *i = position;
        }
        works.push(Work {
            slot,
            node,
            timer_before: s.timer,
            timer: s.timer,
            event_popped: false,
            inputs: self.spare_inputs.pop().unwrap_or_default(),
        });
        works.last_mut()
    }

    /// Applies the records of a window in their canonical order.
    fn merge(&mut self, outputs: Vec<Output>) {
        let mut records = Vec::with_capacity(outputs.iter().map(|o| o.records.len()).sum());
        let mut transmits = Vec::with_capacity(outputs.len());
        let mut outputs_latest = 0;
        for (thread, o) in outputs.into_iter().enumerate() {
            outputs_latest = outputs_latest.max(o.latest);
            self.stats.timers += o.timers;
            self.stats.stale_timers += o.stale_timers;
            records.extend(o.records.into_iter().map(|r| (thread, r)));
            transmits.push(o.transmits);
        }
        records.sort_unstable_by_key(|(_, r)| (r.at, r.slot, r.order));
        // The latest instant any engine was told, records or not: virtual
        // time never goes back behind what an engine has seen.
        let last = outputs_latest.max(self.now);
        for (thread, r) in records {
            self.now = r.at;
            if let Some((from, payload)) = &r.delivered {
                self.witness_delivery(r.at, *from, r.slot, payload);
            }
            let (first, count) = (r.first as usize, r.count as usize);
            let sent = transmits
                .get_mut(thread)
                .and_then(|t| t.get_mut(first..first + count))
                .unwrap_or_default();
            for t in sent.iter_mut() {
                let t = Transmit {
                    dest: t.dest,
                    payload: std::mem::take(&mut t.payload),
                };
                self.send(r.slot, t);
            }
            for e in r.events {
                self.on_event(r.slot, e);
            }
        }
        self.now = self.now.max(last);
    }
}

/// The machine's cores, asked once (on Linux the answer reads cgroup
/// files).
fn cores() -> usize {
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, usize::from))
}

/// The worker threads windows run on.
pub(super) type WindowPool = Pool<(Vec<Work>, Frame), (Vec<Work>, Output)>;

/// A pool for [`Simulation`]'s windows, without threads until one is
/// needed.
pub(super) fn new_pool() -> WindowPool {
    Pool::new(run_chunk)
}

/// Runs every work, on up to `threads` threads (0: as many as the machine
/// has), and returns the works and what each thread produced.
fn run_works(
    pool: &mut WindowPool,
    works: Vec<Work>,
    frame: Frame,
    threads: usize,
) -> (Vec<Work>, Vec<Output>) {
    let inputs: usize = works.iter().map(|w| w.inputs.len()).sum();
    let threads = if threads == 0 { cores() } else { threads };
    let threads = threads.min(inputs / PARALLEL_MIN_INPUTS).max(1);
    if threads == 1 {
        let (works, out) = run_chunk((works, frame));
        return (works, vec![out]);
    }
    // Each engine runs on the thread its slot number picks (window after
    // window, while windows are large enough for all threads): what it
    // allocates stays in that thread's malloc arena
    // (engines moving between threads made the threads contend for each
    // other's arena locks).
    let count = works.len();
    let mut chunks: Vec<Vec<Work>> = (0..threads).map(|_| Vec::new()).collect();
    for w in works {
        if let Some(chunk) = chunks.get_mut(w.slot as usize % threads) {
            chunk.push(w);
        }
    }
    let jobs = chunks.into_iter().map(|c| (c, frame)).collect();
    let mut works = Vec::with_capacity(count);
    let mut outputs = Vec::with_capacity(threads);
    for (chunk, out) in pool.run_all(jobs) {
        works.extend(chunk);
        outputs.push(out);
    }
    (works, outputs)
}

/// Runs a chunk of works on the current thread.
fn run_chunk((mut works, frame): (Vec<Work>, Frame)) -> (Vec<Work>, Output) {
    let mut out = Output::default();
    for w in &mut works {
        run_work(w, frame, &mut out);
    }
    (works, out)
}

/// Runs one engine's inputs in order, firing its own timers as they fall
/// due (before an input at a later instant, and up to the window's end).
fn run_work(w: &mut Work, frame: Frame, out: &mut Output) {
    let mut order = 0u32;
    let mut inputs = std::mem::take(&mut w.inputs);
    for (at, input) in inputs.drain(..) {
        while w.timer < at {
            fire(w, w.timer, frame, out, &mut order);
        }
        match input {
            Input::Timer => {
                if w.timer == at {
                    fire(w, at, frame, out, &mut order);
                } else {
                    out.stale_timers += 1;
                }
            }
            Input::Datagram {
                from,
                addr,
                payload,
            } => {
                out.latest = out.latest.max(at);
                w.node.handle_datagram(frame.instant(at), addr, &payload);
                let delivered = frame.keep_payloads.then_some((from, payload));
                drain(w, at, delivered, frame, out, &mut order);
            }
        }
    }
    // Empty, with its capacity, for the next window.
    w.inputs = inputs;
    while w.timer < frame.end {
        fire(w, w.timer, frame, out, &mut order);
    }
}

/// Fires the engine's timer armed for `at`, unless its deadline has moved
/// later (then the timer is re-armed there without waking it).
fn fire(w: &mut Work, at: u64, frame: Frame, out: &mut Output, order: &mut u32) {
    w.timer = u64::MAX;
    if let Some(real) = w
        .node
        .poll_timeout()
        .map(|t| frame.offset(t))
        .filter(|&d| d > at)
    {
        out.stale_timers += 1;
        w.timer = real;
        return;
    }
    out.timers += 1;
    out.latest = out.latest.max(at);
    w.node.handle_timeout(frame.instant(at));
    drain(w, at, None, frame, out, order);
}

/// Takes what the engine sent and reported after an input at `at` into a
/// record, and re-arms its timer if its deadline moved earlier.
fn drain(
    w: &mut Work,
    at: u64,
    delivered: Option<(u32, Vec<u8>)>,
    frame: Frame,
    out: &mut Output,
    order: &mut u32,
) {
    let first = out.transmits.len();
    while let Some(t) = w.node.poll_transmit() {
        out.transmits.push(t);
    }
    let count = out.transmits.len() - first;
    let mut events = Vec::new();
    while let Some(e) = w.node.poll_event() {
        events.push(e);
    }
    if let Some(deadline) = w.node.poll_timeout().map(|t| frame.offset(t).max(at)) {
        if deadline < w.timer {
            w.timer = deadline;
        }
    }
    if delivered.is_some() || count > 0 || !events.is_empty() {
        out.records.push(Record {
            at,
            slot: w.slot,
            order: *order,
            delivered,
            first: u32::try_from(first).unwrap_or(u32::MAX),
            count: u32::try_from(count).unwrap_or(0),
            events,
        });
    }
    *order += 1;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spare_input_buffers_stay_under_five_mib() {
        let held = SPARE_INPUTS * SPARE_INPUT_CAPACITY * std::mem::size_of::<(u64, Input)>();
        assert!(held < 5 << 20, "{held} bytes");
    }
}
