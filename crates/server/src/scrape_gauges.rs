//! Gauges read at each scrape of `/metrics`: whether the database answers, whether this
//! instance runs with a cluster bus, and the process's memory against its cgroup's limit.
//!
//! The alerts of `deploy/prometheus/alerts.yml` need them: "database down" must fire while
//! nobody edits (no failed commit to count), "bus disconnected" only on an instance that has
//! a bus (`tandem_bus_connected` is 0 on a single instance too), and "memory near the limit"
//! needs both the memory and the limit. Reading them when Prometheus asks keeps them exact
//! without a timer of their own.

use std::time::Duration;

use metrics::{describe_gauge, gauge, Unit};

use crate::state::SharedState;

pub(crate) const DATABASE_UP: &str = "tandem_database_up";
pub(crate) const BUS_ENABLED: &str = "tandem_bus_enabled";
pub(crate) const RESIDENT_MEMORY: &str = "tandem_resident_memory_bytes";
pub(crate) const MEMORY_LIMIT: &str = "tandem_memory_limit_bytes";

/// How long a scrape waits for the database (as `/readyz` does).
const PING_TIMEOUT: Duration = Duration::from_secs(2);

/// A cgroup limit above this is "no limit" (cgroup v1 writes a page-rounded `i64::MAX`).
const UNLIMITED_ABOVE: u64 = 1 << 60;

pub(crate) fn describe() {
    describe_gauge!(
        DATABASE_UP,
        "1 when the database answered a ping at the last scrape (within 2 s), else 0"
    );
    describe_gauge!(
        BUS_ENABLED,
        "1 when this instance runs with a cluster bus (TANDEM_NATS_URL), else 0"
    );
    describe_gauge!(
        RESIDENT_MEMORY,
        Unit::Bytes,
        "Resident memory of the server process (VmRSS)"
    );
    describe_gauge!(
        MEMORY_LIMIT,
        Unit::Bytes,
        "Memory limit of the server's cgroup (a container's --memory); 0 when there is none"
    );
}

/// Sets every gauge of this file; called by the `/metrics` handler before it renders.
pub(crate) async fn refresh(state: &SharedState) {
    let up = matches!(
        tokio::time::timeout(PING_TIMEOUT, state.store.ping()).await,
        Ok(Ok(()))
    );
    gauge!(DATABASE_UP).set(if up { 1.0 } else { 0.0 });
    gauge!(BUS_ENABLED).set(if state.cluster.is_some() { 1.0 } else { 0.0 });
    if let Some(rss) = resident_bytes() {
        gauge!(RESIDENT_MEMORY).set(rss as f64);
    }
    gauge!(MEMORY_LIMIT).set(cgroup_memory_limit().unwrap_or(0) as f64);
}

/// VmRSS of /proc/self/status, in bytes (Linux only; `None` elsewhere).
fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    parse_vm_rss(&status)
}

fn parse_vm_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// The memory limit of this process's cgroup: v2 `memory.max`, else v1
/// `memory.limit_in_bytes`; `None` when there is none or it cannot be read.
fn cgroup_memory_limit() -> Option<u64> {
    let read = |p: &str| std::fs::read_to_string(p).ok();
    read("/sys/fs/cgroup/memory.max")
        .or_else(|| read("/sys/fs/cgroup/memory/memory.limit_in_bytes"))
        .and_then(|text| parse_limit(&text))
}

fn parse_limit(text: &str) -> Option<u64> {
    let n: u64 = text.trim().parse().ok()?; // "max" (cgroup v2, no limit) does not parse
    (n > 0 && n <= UNLIMITED_ABOVE).then_some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_vm_rss_in_bytes() {
        let status = "Name:\ttandem\nVmPeak:\t  9000 kB\nVmRSS:\t    1234 kB\nThreads:\t4\n";
        assert_eq!(parse_vm_rss(status), Some(1234 * 1024));
        assert_eq!(parse_vm_rss("Name:\ttandem\n"), None);
    }

    #[test]
    fn a_cgroup_without_a_limit_has_none() {
        assert_eq!(parse_limit("536870912\n"), Some(536_870_912));
        assert_eq!(parse_limit("max\n"), None);
        assert_eq!(parse_limit("9223372036854771712\n"), None);
        assert_eq!(parse_limit("0\n"), None);
    }
}
