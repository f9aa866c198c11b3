//! CPU of the PostgreSQL processes that work for the server under test, from /proc: the
//! backends of its database (process title `postgres: ... <user> <database> <host> ...`,
//! autovacuum workers on it included) and the cluster's background writers (WAL writer,
//! checkpointer, background writer), which flush what every database commits. Tandem's
//! own CPU leaves out what its commits cost in the database; on PostgreSQL that is a
//! large part of the work per update, so the benchmarks report it beside.

use std::{collections::HashMap, fs};

use crate::procstat::{self, CpuSample};

/// Process titles of the cluster-wide processes counted as background work.
const BACKGROUND: [&str; 3] = ["walwriter", "checkpointer", "background writer"];

/// CPU of every matching process at one moment, by process id.
#[derive(Debug, Default, Clone)]
pub struct DbSample {
    backends: HashMap<u32, CpuSample>,
    background: HashMap<u32, CpuSample>,
}

/// CPU nanoseconds between two samples.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DbCpu {
    pub backend_ns: u64,
    pub background_ns: u64,
    /// Backends seen in the later sample.
    pub backends: usize,
}

/// Which of the database's processes a title names, if any.
#[derive(Debug, PartialEq, Eq)]
enum Role {
    Backend,
    Background,
}

fn role(title: &str, database: &str) -> Option<Role> {
    let title = title.trim();
    if !title.starts_with("postgres:") {
        return None;
    }
    if title.split_whitespace().any(|word| word == database) {
        return Some(Role::Backend);
    }
    // `postgres: 15/main: walwriter` (cluster name optional).
    let tail = title.rsplit(':').next().unwrap_or("").trim();
    BACKGROUND.contains(&tail).then_some(Role::Background)
}

/// Samples the processes of `database` (and the cluster's background writers).
pub fn sample(database: &str) -> DbSample {
    let mut s = DbSample::default();
    let Ok(dir) = fs::read_dir("/proc") else {
        return s;
    };
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(raw) = fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        let title: String = String::from_utf8_lossy(&raw).replace('\0', " ");
        let map = match role(&title, database) {
            Some(Role::Backend) => &mut s.backends,
            Some(Role::Background) => &mut s.background,
            None => continue,
        };
        if let Some(cpu) = procstat::cpu(pid) {
            map.insert(pid, cpu);
        }
    }
    s
}

impl DbSample {
    /// CPU used between `self` and `later`. A process that appeared in between counts from
    /// its start (a connection opened during the window); one that exited is lost (the
    /// pool keeps its connections, so that is rare).
    pub fn delta(&self, later: &DbSample) -> DbCpu {
        let sum = |before: &HashMap<u32, CpuSample>, after: &HashMap<u32, CpuSample>| {
            after
                .iter()
                .map(|(pid, b)| before.get(pid).copied().unwrap_or_default().delta_ns(b))
                .sum()
        };
        DbCpu {
            backend_ns: sum(&self.backends, &later.backends),
            background_ns: sum(&self.background, &later.background),
            backends: later.backends.len(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{role, Role};

    #[test]
    fn titles_name_the_backends_of_one_database_and_the_background_writers() {
        let db = "tandem_bench_1_18401";
        let backend = "postgres: 15/main: postgres tandem_bench_1_18401 127.0.0.1(40112) idle";
        assert_eq!(role(backend, db), Some(Role::Backend));
        let vacuum = "postgres: 15/main: autovacuum worker tandem_bench_1_18401";
        assert_eq!(role(vacuum, db), Some(Role::Backend));
        // Another database whose name starts the same is not ours.
        let other = "postgres: 15/main: postgres tandem_bench_1_184011 127.0.0.1(4) idle";
        assert_eq!(role(other, db), None);
        assert_eq!(
            role("postgres: 15/main: walwriter   ", db),
            Some(Role::Background)
        );
        assert_eq!(role("postgres: checkpointer", db), Some(Role::Background));
        assert_eq!(
            role("postgres: 15/main: logical replication launcher", db),
            None
        );
        assert_eq!(role("/usr/lib/postgresql/15/bin/postgres -D /x", db), None);
        assert_eq!(role("tandem serve tandem_bench_1_18401", db), None);
    }
}
