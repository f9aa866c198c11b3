//! How far a commit has to get before the store reports it done.
//!
//! The server relays an update only after its commit returns, so this decides which crash
//! an update that clients have seen survives. See docs/guarantees.md.

use std::{fmt, str::FromStr};

/// The durability level of every write transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// The commit is in the database's hands but not yet flushed to disk: SQLite in WAL
    /// mode with `synchronous=NORMAL` (the WAL is written to the operating system, only
    /// checkpoints fsync), PostgreSQL with `synchronous_commit=off` for the append
    /// transaction. Survives a crash of the Tandem process (`kill -9`); an operating
    /// system crash or power cut of the database host (or, for PostgreSQL, a crash of the
    /// database server) may lose the last fraction of a second of commits.
    #[default]
    Process,
    /// Every commit waits for the disk flush: SQLite `synchronous=FULL`, PostgreSQL
    /// `synchronous_commit` as configured on the server (`on` by default). Also survives
    /// an operating system crash, as far as the disk honours its flushes.
    Disk,
}

impl Durability {
    pub fn as_str(self) -> &'static str {
        match self {
            Durability::Process => "process",
            Durability::Disk => "disk",
        }
    }
}

impl fmt::Display for Durability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A durability name that is neither `process` nor `disk`.
#[derive(Debug, thiserror::Error)]
#[error("unknown durability level {0:?}: expected \"process\" or \"disk\"")]
pub struct UnknownDurability(String);

impl FromStr for Durability {
    type Err = UnknownDurability;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "process" => Ok(Durability::Process),
            "disk" => Ok(Durability::Disk),
            other => Err(UnknownDurability(other.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_are_refused() {
        for d in [Durability::Process, Durability::Disk] {
            assert_eq!(d.as_str().parse::<Durability>().unwrap(), d);
        }
        let err = "fsync".parse::<Durability>().unwrap_err();
        assert!(err.to_string().contains("\"fsync\""), "{err}");
    }
}
