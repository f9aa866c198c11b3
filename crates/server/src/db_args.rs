//! Where the database is: shared by `tandem serve` and every offline command (`history`,
//! `export`, `check`, `backup`, `restore`), which is why it is not in `config` (the commands'
//! own modules would otherwise import `config`, which imports them).

use std::path::PathBuf;

use clap::Args;

/// Where the database is, shared by `serve` and the offline commands.
#[derive(Debug, Clone, Args)]
pub struct DbArgs {
    /// `postgres://...` for PostgreSQL, `sqlite://path` for SQLite. Default: SQLite file
    /// `tandem.db` in the data directory.
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<String>,
    /// Directory for the default SQLite database.
    #[arg(long, env = "TANDEM_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
}

impl DbArgs {
    pub fn url(&self) -> anyhow::Result<String> {
        if let Some(url) = &self.database_url {
            return Ok(url.clone());
        }
        std::fs::create_dir_all(&self.data_dir).map_err(|e| {
            anyhow::anyhow!(
                "cannot create data directory {}: {e}",
                self.data_dir.display()
            )
        })?;
        Ok(format!(
            "sqlite://{}",
            self.data_dir.join("tandem.db").display()
        ))
    }
}
