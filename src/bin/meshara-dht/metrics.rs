//! Figures for reports: percentiles of samples, and the process's peak
//! memory and CPU time read from `/proc` (Linux; `None` elsewhere).
//!
//! CPU time is the sum over the process's live threads of the first field
//! of `/proc/self/task/<tid>/schedstat`: nanoseconds spent on a CPU, exact,
//! with no clock-tick unit to assume. Threads that already exited are not
//! counted; the tokio worker threads that do the work are alive when the
//! figure is read. Where schedstat is missing (kernels without
//! `CONFIG_SCHED_INFO`), it falls back to `utime + stime` of
//! `/proc/self/stat`, which counts every thread but is in clock ticks:
//! that fallback assumes `USER_HZ` = 100, the value Linux exposes to user
//! space on every mainstream architecture (x86, ARM, RISC-V, POWER).

use std::time::Duration;

/// The value at quantile `q` (0..=1) of `sorted` (ascending), by the
/// nearest-rank method; 0 for no samples.
pub(crate) fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (q.clamp(0.0, 1.0) * sorted.len() as f64).ceil() as usize;
    let i = rank.saturating_sub(1).min(sorted.len() - 1);
    sorted.get(i).copied().unwrap_or(0.0)
}

/// Sorts samples for [`quantile`] (NaNs last).
pub(crate) fn sorted(mut samples: Vec<f64>) -> Vec<f64> {
    samples.sort_by(|a, b| a.total_cmp(b));
    samples
}

/// Peak resident set size (`VmHWM`), in MiB.
pub(crate) fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    parse_vm_hwm_kib(&status).map(|kib| kib as f64 / 1024.0)
}

fn parse_vm_hwm_kib(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let mut fields = line.split_whitespace().skip(1);
    let value = fields.next()?.parse().ok()?;
    (fields.next() == Some("kB")).then_some(value)
}

/// CPU time used by the process so far (see the module docs).
pub(crate) fn cpu_time() -> Option<Duration> {
    cpu_time_schedstat().or_else(cpu_time_stat)
}

fn cpu_time_schedstat() -> Option<Duration> {
    let mut total_ns: u64 = 0;
    let mut any = false;
    for entry in std::fs::read_dir("/proc/self/task").ok()? {
        let Ok(entry) = entry else { continue };
        // A thread may exit between listing and reading: skip it.
        let Ok(text) = std::fs::read_to_string(entry.path().join("schedstat")) else {
            continue;
        };
        let ns: u64 = text.split_whitespace().next()?.parse().ok()?;
        total_ns = total_ns.saturating_add(ns);
        any = true;
    }
    any.then(|| Duration::from_nanos(total_ns))
}

/// Clock ticks per second assumed for `/proc/self/stat` (see module docs).
const USER_HZ: u64 = 100;

fn cpu_time_stat() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let ticks = parse_stat_ticks(&stat)?;
    Some(Duration::from_millis(ticks.saturating_mul(1000) / USER_HZ))
}

/// `utime + stime` (fields 14 and 15) of a `/proc/<pid>/stat` line. The
/// command name (field 2) may hold spaces and parentheses, so fields are
/// counted from the last `)`.
fn parse_stat_ticks(stat: &str) -> Option<u64> {
    let after = stat.get(stat.rfind(')')? + 1..)?;
    // After the name: field 3 (state) is index 0, so field n is n - 3.
    let mut fields = after.split_whitespace().skip(14 - 3);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime.saturating_add(stime))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantile_uses_nearest_rank() {
        let s: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(quantile(&s, 0.5), 50.0);
        assert_eq!(quantile(&s, 0.9), 90.0);
        assert_eq!(quantile(&s, 0.99), 99.0);
        assert_eq!(quantile(&s, 1.0), 100.0);
        assert_eq!(quantile(&s, 0.0), 1.0);
        assert_eq!(quantile(&[7.0], 0.99), 7.0);
        assert_eq!(quantile(&[], 0.5), 0.0);
    }

    #[test]
    fn vm_hwm_is_read_in_kib() {
        let status = "Name:\tx\nVmPeak:\t  9 kB\nVmHWM:\t   41234 kB\nVmRSS:\t 1 kB\n";
        assert_eq!(parse_vm_hwm_kib(status), Some(41234));
        assert_eq!(parse_vm_hwm_kib("VmHWM: 12 MB\n"), None);
        assert_eq!(parse_vm_hwm_kib("Name: x\n"), None);
    }

    #[test]
    fn stat_ticks_skip_a_name_with_spaces_and_parens() {
        let stat = "1234 (a b) c) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 1 0";
        assert_eq!(parse_stat_ticks(stat), Some(300));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn process_figures_are_available_on_linux() {
        assert!(peak_rss_mib().is_some_and(|mb| mb > 0.0));
        assert!(cpu_time().is_some());
    }
}
