//! How long automatic versions are kept. Named and restore versions are always kept (a
//! person asked for them), and so is each document's latest version.

use std::time::Duration;

use clap::Args;
use tandem_persistence::VersionRetention;

/// Both limits default to 0, "keep every automatic version", which is what every earlier
/// Tandem did: an upgrade never deletes history nobody asked to delete.
#[derive(Debug, Clone, Copy, Args)]
pub struct RetentionArgs {
    /// Keep at most this many automatic versions per document (the newest); older ones are
    /// deleted when a new one is made and by an hourly sweep. Named and restore versions
    /// are never deleted, nor a document's latest version. 0: no limit.
    #[arg(long, env = "TANDEM_KEEP_VERSIONS_COUNT", default_value_t = 0)]
    pub keep_versions_count: u64,
    /// Delete automatic versions older than this many days (same rules). 0: no limit.
    #[arg(long, env = "TANDEM_KEEP_VERSIONS_DAYS", default_value_t = 0)]
    pub keep_versions_days: u64,
}

impl RetentionArgs {
    /// The policy as of `now`: the age limit becomes an instant.
    pub fn at(&self, now: chrono::DateTime<chrono::Utc>) -> VersionRetention {
        VersionRetention {
            keep_count: self.keep_versions_count,
            older_than: (self.keep_versions_days > 0).then(|| {
                now - chrono::Duration::days(self.keep_versions_days.min(1_000_000) as i64)
            }),
        }
    }

    pub fn prunes(&self) -> bool {
        self.keep_versions_count > 0 || self.keep_versions_days > 0
    }
}

/// How often every document's automatic versions are swept (documents no longer edited
/// get no new version that would prune them).
pub const SWEEP_EVERY: Duration = Duration::from_secs(3600);
