//! Server process figures from /proc: CPU time and memory.

use std::fs;

#[derive(Clone, Copy, Debug, Default)]
pub struct CpuSample {
    /// utime + stime of the whole process (includes exited threads), clock-tick precision.
    stat_ns: u64,
    /// Sum of the live threads' run time from schedstat, nanosecond precision.
    sched_ns: u64,
}

impl CpuSample {
    /// CPU nanoseconds between two samples: the precise schedstat figure, unless threads
    /// exited in between (then the tick-based one is larger and is used).
    pub fn delta_ns(&self, later: &CpuSample) -> u64 {
        let stat = later.stat_ns.saturating_sub(self.stat_ns);
        let sched = later.sched_ns.saturating_sub(self.sched_ns);
        if stat > sched + 20_000_000 {
            stat
        } else {
            sched
        }
    }
}

/// CPU of several processes (the instances of one cluster), summed; `None` when there are
/// none or one is gone.
pub fn cpu_sum(pids: &[u32]) -> Option<CpuSample> {
    if pids.is_empty() {
        return None;
    }
    pids.iter().try_fold(CpuSample::default(), |sum, pid| {
        let one = cpu(*pid)?;
        Some(CpuSample {
            stat_ns: sum.stat_ns + one.stat_ns,
            sched_ns: sum.sched_ns + one.sched_ns,
        })
    })
}

/// A `/proc/<pid>/status` figure summed over several processes; `None` as for `cpu_sum`.
pub fn kib_sum(pids: &[u32], one: fn(u32) -> Option<u64>) -> Option<u64> {
    if pids.is_empty() {
        return None;
    }
    pids.iter().map(|p| one(*p)).sum()
}

pub fn cpu(pid: u32) -> Option<CpuSample> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the ")" of the command name: state is field 3; utime 14, stime 15.
    let after = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    let stat_ns = (utime + stime) * 1_000_000_000 / hz;
    let mut sched_ns = 0;
    if let Ok(dir) = fs::read_dir(format!("/proc/{pid}/task")) {
        for entry in dir.flatten() {
            if let Ok(s) = fs::read_to_string(entry.path().join("schedstat")) {
                sched_ns += s
                    .split_whitespace()
                    .next()
                    .and_then(|v| v.parse::<u64>().ok())
                    .unwrap_or(0);
            }
        }
    }
    Some(CpuSample { stat_ns, sched_ns })
}

/// A `/proc/<pid>/status` field in KiB (`VmRSS`, `VmHWM`).
pub fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|l| {
        let rest = l.strip_prefix(field)?.strip_prefix(':')?;
        rest.split_whitespace().next()?.parse().ok()
    })
}

/// Sum of RSS over the process and its descendants is not needed: every server under
/// test is one process. This reads the live RSS in KiB.
pub fn rss_kib(pid: u32) -> Option<u64> {
    status_kib(pid, "VmRSS")
}

pub fn hwm_kib(pid: u32) -> Option<u64> {
    status_kib(pid, "VmHWM")
}
