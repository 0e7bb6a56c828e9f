//! [`Summary`]: what a batch of simulated lookups measured (each lookup a
//! [`LookupRecord`]; percentiles of
//! hops, messages and latency, success, a hop histogram, wall time and
//! peak memory), shown for humans by `Display` and for machines by
//! [`Summary::to_json`] (one JSON object; the fields are documented in
//! `docs/TESTING.md`).
//!
//! This module owns the statistics and their formats; it never runs
//! anything.

use std::fmt::{self, Write as _};
use std::time::Duration;

/// What a lookup looked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LookupKind {
    /// `start_find_node` of a random target.
    FindNode,
    /// `start_get_immutable` of a published record.
    Get,
}

impl LookupKind {
    /// `"find_node"` or `"get"`.
    pub fn name(self) -> &'static str {
        match self {
            LookupKind::FindNode => "find_node",
            LookupKind::Get => "get",
        }
    }
}

/// One finished lookup, as measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LookupRecord {
    /// What it looked for.
    pub kind: LookupKind,
    /// Rounds: the engine's `QueryStats::hops`.
    pub hops: u32,
    /// Requests sent: the engine's `QueryStats::messages`.
    pub messages: u32,
    /// Virtual time from start to finish.
    pub latency: Duration,
    /// Whether it hit `Config::lookup_timeout`.
    pub timed_out: bool,
    /// Find-node: the result is exactly the k live nodes closest to the
    /// target (the origin excluded), in order (or, with
    /// `SimConfig::verify_lookups` off, merely non-empty). Get: the
    /// published record was returned.
    pub success: bool,
    /// Find-node with verification: the fraction of the true k closest
    /// live nodes found. `None` otherwise.
    pub recall: Option<f64>,
}

/// p50, p90, p99, max and mean of a sample (nearest-rank percentiles; all
/// zero for an empty sample).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Percentiles {
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Largest value.
    pub max: f64,
    /// Arithmetic mean.
    pub mean: f64,
}

impl Percentiles {
    /// The percentiles of `values` (sorted in place).
    pub fn of(values: &mut [f64]) -> Self {
        if values.is_empty() {
            return Percentiles::default();
        }
        values.sort_by(f64::total_cmp);
        let rank = |p: f64| {
            let n = values.len();
            let idx = ((p / 100.0) * n as f64).ceil() as usize;
            values.get(idx.clamp(1, n) - 1).copied().unwrap_or(0.0)
        };
        Percentiles {
            p50: rank(50.0),
            p90: rank(90.0),
            p99: rank(99.0),
            max: values.last().copied().unwrap_or(0.0),
            mean: values.iter().sum::<f64>() / values.len() as f64,
        }
    }
}

/// What a batch run knows beyond its lookup records.
#[derive(Debug, Clone, Copy)]
pub(super) struct BatchContext {
    pub(super) kind: &'static str,
    pub(super) nodes: usize,
    pub(super) seed: u64,
    pub(super) loss: f64,
    pub(super) abandoned: usize,
    pub(super) unfinished: usize,
    pub(super) left: u64,
    pub(super) joined: u64,
    pub(super) datagrams: u64,
    pub(super) wall: Duration,
    pub(super) bootstrap_wall: Duration,
    pub(super) virtual_time: Duration,
}

/// The measurements of one batch of lookups.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// `"find_node"` or `"get"`.
    pub kind: &'static str,
    /// Live nodes at the end of the batch.
    pub nodes: usize,
    /// Lookups that finished (and were measured).
    pub lookups: usize,
    /// Lookups whose origin node left (churn) before they finished; not
    /// measured.
    pub abandoned: usize,
    /// Lookups still running when the batch gave up (a hung engine; 0).
    pub unfinished: usize,
    /// The simulation's seed.
    pub seed: u64,
    /// The link's loss probability.
    pub loss: f64,
    /// Nodes that left through churn during the batch.
    pub nodes_left: u64,
    /// Nodes that joined through churn during the batch.
    pub nodes_joined: u64,
    /// Rounds per lookup (`QueryStats::hops`).
    pub hops: Percentiles,
    /// Requests sent per lookup (`QueryStats::messages`).
    pub messages: Percentiles,
    /// Virtual milliseconds per lookup.
    pub latency_ms: Percentiles,
    /// Fraction of measured lookups that succeeded (see
    /// [`LookupRecord::success`]), 0..=1.
    pub success_rate: f64,
    /// Mean fraction of the true k closest found (verified find-node
    /// batches only).
    pub recall_mean: Option<f64>,
    /// Lookups that hit the engine's lookup timeout.
    pub timed_out: usize,
    /// `hop_histogram[h]` lookups took `h` hops.
    pub hop_histogram: Vec<usize>,
    /// Datagrams delivered during the batch.
    pub datagrams: u64,
    /// Wall-clock time of the batch.
    pub wall: Duration,
    /// Wall-clock time of the simulation's initial bootstrap.
    pub bootstrap_wall: Duration,
    /// Virtual time the batch spanned.
    pub virtual_time: Duration,
    /// Peak resident memory of the process so far (`VmHWM`), if known.
    pub peak_rss_bytes: Option<u64>,
    /// Resident memory of the process at the end of the batch (`VmRSS`),
    /// if known.
    pub rss_bytes: Option<u64>,
}

impl Summary {
    pub(super) fn from_records(records: &[LookupRecord], ctx: &BatchContext) -> Self {
        let mut hops: Vec<f64> = records.iter().map(|r| f64::from(r.hops)).collect();
        let mut msgs: Vec<f64> = records.iter().map(|r| f64::from(r.messages)).collect();
        let mut lat: Vec<f64> = records
            .iter()
            .map(|r| r.latency.as_secs_f64() * 1000.0)
            .collect();
        let mut hop_histogram = Vec::new();
        for r in records {
            let h = r.hops as usize;
            if hop_histogram.len() <= h {
                hop_histogram.resize(h + 1, 0);
            }
            if let Some(slot) = hop_histogram.get_mut(h) {
                *slot += 1;
            }
        }
        let n = records.len();
        let successes = records.iter().filter(|r| r.success).count();
        let recalls: Vec<f64> = records.iter().filter_map(|r| r.recall).collect();
        Summary {
            kind: ctx.kind,
            nodes: ctx.nodes,
            lookups: n,
            abandoned: ctx.abandoned,
            unfinished: ctx.unfinished,
            seed: ctx.seed,
            loss: ctx.loss,
            nodes_left: ctx.left,
            nodes_joined: ctx.joined,
            hops: Percentiles::of(&mut hops),
            messages: Percentiles::of(&mut msgs),
            latency_ms: Percentiles::of(&mut lat),
            success_rate: if n == 0 {
                0.0
            } else {
                successes as f64 / n as f64
            },
            recall_mean: (!recalls.is_empty())
                .then(|| recalls.iter().sum::<f64>() / recalls.len() as f64),
            timed_out: records.iter().filter(|r| r.timed_out).count(),
            hop_histogram,
            datagrams: ctx.datagrams,
            wall: ctx.wall,
            bootstrap_wall: ctx.bootstrap_wall,
            virtual_time: ctx.virtual_time,
            peak_rss_bytes: peak_rss_bytes(),
            rss_bytes: proc_status_bytes("VmRSS:"),
        }
    }

    /// Peak RSS in MiB, if known.
    pub fn peak_rss_mb(&self) -> Option<f64> {
        self.peak_rss_bytes.map(|b| b as f64 / (1024.0 * 1024.0))
    }

    /// Peak RSS divided by live nodes, in KiB, if known. An upper bound of
    /// the memory per node: it includes the simulator's own queue and the
    /// peak of the bootstrap.
    pub fn peak_rss_per_node_kb(&self) -> Option<f64> {
        self.peak_rss_bytes
            .map(|b| b as f64 / 1024.0 / self.nodes.max(1) as f64)
    }

    /// RSS at the end of the batch divided by live nodes, in KiB, if known:
    /// the memory per bootstrapped node, plus the process's baseline and
    /// whatever the allocator kept from the bootstrap's peak.
    pub fn rss_per_node_kb(&self) -> Option<f64> {
        self.rss_bytes
            .map(|b| b as f64 / 1024.0 / self.nodes.max(1) as f64)
    }

    /// The summary as one JSON object on one line; every field is
    /// documented in `docs/TESTING.md` (section "Simulation").
    pub fn to_json(&self) -> String {
        let mut s = String::with_capacity(1024);
        s.push('{');
        let mut field = |name: &str, value: String| {
            if s.len() > 1 {
                s.push(',');
            }
            let _ = write!(s, "\"{name}\":{value}");
        };
        field("nodes", self.nodes.to_string());
        field("lookups", self.lookups.to_string());
        field("kind", format!("\"{}\"", self.kind));
        field("seed", self.seed.to_string());
        field("loss", num(self.loss));
        field("hops_p50", num(self.hops.p50));
        field("hops_p90", num(self.hops.p90));
        field("hops_p99", num(self.hops.p99));
        field("hops_max", num(self.hops.max));
        field("hops_mean", num(self.hops.mean));
        field("msgs_p50", num(self.messages.p50));
        field("msgs_p90", num(self.messages.p90));
        field("msgs_p99", num(self.messages.p99));
        field("msgs_max", num(self.messages.max));
        field("msgs_mean", num(self.messages.mean));
        field("latency_p50_ms", num(self.latency_ms.p50));
        field("latency_p90_ms", num(self.latency_ms.p90));
        field("latency_p99_ms", num(self.latency_ms.p99));
        field("latency_max_ms", num(self.latency_ms.max));
        field("success_rate", num(self.success_rate));
        field("recall_mean", self.recall_mean.map_or("null".into(), num));
        field("timed_out", self.timed_out.to_string());
        field("abandoned", self.abandoned.to_string());
        field("unfinished", self.unfinished.to_string());
        field("nodes_left", self.nodes_left.to_string());
        field("nodes_joined", self.nodes_joined.to_string());
        let hist: Vec<String> = self.hop_histogram.iter().map(|c| c.to_string()).collect();
        field("hop_histogram", format!("[{}]", hist.join(",")));
        field("datagrams", self.datagrams.to_string());
        field("virtual_s", num(self.virtual_time.as_secs_f64()));
        field("wall_s", num(self.wall.as_secs_f64()));
        field("bootstrap_wall_s", num(self.bootstrap_wall.as_secs_f64()));
        field("peak_rss_mb", self.peak_rss_mb().map_or("null".into(), num));
        field(
            "peak_rss_per_node_kb",
            self.peak_rss_per_node_kb().map_or("null".into(), num),
        );
        let rss_mb = self.rss_bytes.map(|b| b as f64 / (1024.0 * 1024.0));
        field("rss_mb", rss_mb.map_or("null".into(), num));
        field(
            "rss_per_node_kb",
            self.rss_per_node_kb().map_or("null".into(), num),
        );
        s.push('}');
        s
    }
}

/// A finite float as JSON (6 decimals, trailing zeros trimmed, so a
/// success rate of 0.9998 is not rounded to 1); `null` if not finite.
fn num(x: f64) -> String {
    if !x.is_finite() {
        return "null".into();
    }
    let s = format!("{x:.6}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".into()
    } else {
        s.into()
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} {} lookups on {} nodes (seed {}, loss {:.1}%, churn: {} left, {} joined)",
            self.lookups,
            self.kind,
            self.nodes,
            self.seed,
            self.loss * 100.0,
            self.nodes_left,
            self.nodes_joined
        )?;
        writeln!(
            f,
            "{:<14}{:>9}{:>9}{:>9}{:>9}{:>9}",
            "", "p50", "p90", "p99", "max", "mean"
        )?;
        for (name, p) in [
            ("hops", &self.hops),
            ("messages", &self.messages),
            ("latency ms", &self.latency_ms),
        ] {
            writeln!(
                f,
                "{:<14}{:>9.0}{:>9.0}{:>9.0}{:>9.0}{:>9.2}",
                name, p.p50, p.p90, p.p99, p.max, p.mean
            )?;
        }
        write!(f, "success {:.2}%", self.success_rate * 100.0)?;
        if let Some(r) = self.recall_mean {
            write!(f, " (mean recall of the true k closest {:.4})", r)?;
        }
        writeln!(
            f,
            ", timed out {}, abandoned {}, unfinished {}",
            self.timed_out, self.abandoned, self.unfinished
        )?;
        write!(
            f,
            "wall {:.2} s (bootstrap {:.2} s), virtual {:.1} s, {} datagrams",
            self.wall.as_secs_f64(),
            self.bootstrap_wall.as_secs_f64(),
            self.virtual_time.as_secs_f64(),
            self.datagrams
        )?;
        if let (Some(mb), Some(kb)) = (self.peak_rss_mb(), self.peak_rss_per_node_kb()) {
            write!(f, ", peak RSS {mb:.0} MiB ({kb:.1} KiB/node)")?;
        }
        if let (Some(b), Some(kb)) = (self.rss_bytes, self.rss_per_node_kb()) {
            let mb = b as f64 / (1024.0 * 1024.0);
            write!(f, ", RSS now {mb:.0} MiB ({kb:.1} KiB/node)")?;
        }
        writeln!(f)?;
        writeln!(f, "hops histogram:")?;
        let most = self.hop_histogram.iter().copied().max().unwrap_or(0).max(1);
        for (h, &count) in self.hop_histogram.iter().enumerate() {
            let bar = "#".repeat((count * 50).div_ceil(most));
            let pct = count as f64 * 100.0 / self.lookups.max(1) as f64;
            writeln!(f, "{h:>4} | {count:>7} {pct:>6.2}% {bar}")?;
        }
        Ok(())
    }
}

/// The process's peak resident set size (`VmHWM` in `/proc/self/status`),
/// or `None` where that file does not exist.
pub fn peak_rss_bytes() -> Option<u64> {
    proc_status_bytes("VmHWM:")
}

/// A `kB` field of `/proc/self/status`, in bytes.
fn proc_status_bytes(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kb: u64 = line
        .trim_start_matches(field)
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_nearest_rank() {
        let mut v: Vec<f64> = (1..=100).map(f64::from).collect();
        let p = Percentiles::of(&mut v);
        assert_eq!((p.p50, p.p90, p.p99, p.max), (50.0, 90.0, 99.0, 100.0));
        assert_eq!(p.mean, 50.5);
        let mut one = [7.0];
        let p = Percentiles::of(&mut one);
        assert_eq!((p.p50, p.p99, p.max), (7.0, 7.0, 7.0));
        assert_eq!(Percentiles::of(&mut []), Percentiles::default());
    }

    #[test]
    fn json_numbers_are_trimmed() {
        assert_eq!(num(3.0), "3");
        assert_eq!(num(0.5), "0.5");
        assert_eq!(num(0.9998), "0.9998");
        assert_eq!(num(1.23456789), "1.234568");
        assert_eq!(num(f64::NAN), "null");
        assert_eq!(num(-0.0000001), "0");
    }
}
