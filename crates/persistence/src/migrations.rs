//! The schema migrations of both databases, embedded in the binary.
//!
//! `sqlx::migrate!` would embed them too, but its proc-macro crate compiles a second copy of
//! sqlx (core, both drivers, tokio and their dependencies) for the build host, about a tenth
//! of a clean build. So the files are listed here and read with `include_str!`, and each is
//! turned into a [`Migration`] the way sqlx reads a migrations folder (version and description
//! from the file name, the checksum from the text), so databases migrated by either agree. A
//! test compares this list with sqlx's own reading of the folders: a migration file added
//! without a line here fails it.

use std::{borrow::Cow, future::Future, pin::Pin};

use sqlx::{
    error::BoxDynError,
    migrate::{MigrateError, Migration, MigrationSource, MigrationType, Migrator},
};

/// One database's migrations: (file name, SQL), in order.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Embedded(&'static [(&'static str, &'static str)]);

macro_rules! migrations {
    ($dir:literal: $($file:literal),+ $(,)?) => {
        Embedded(&[$(($file, include_str!(concat!("../../../migrations/", $dir, "/", $file)))),+])
    };
}

pub(crate) const SQLITE: Embedded = migrations!("sqlite":
    "0001_initial.sql",
    "0002_titles_and_authors.sql",
    "0003_last_seq.sql",
    "0004_content_kind.sql",
    "0005_webhooks.sql",
    "0006_update_authors.sql",
    "0007_share_links.sql",
);

pub(crate) const POSTGRES: Embedded = migrations!("postgres":
    "0001_initial.sql",
    "0002_titles_and_authors.sql",
    "0003_last_seq.sql",
    "0004_content_kind.sql",
    "0005_webhooks.sql",
    "0006_update_authors.sql",
    "0007_share_links.sql",
);

impl Embedded {
    pub(crate) async fn migrator(self) -> Result<Migrator, MigrateError> {
        Migrator::new(self).await
    }
}

impl MigrationSource<'static> for Embedded {
    fn resolve(
        self,
    ) -> Pin<Box<dyn Future<Output = Result<Vec<Migration>, BoxDynError>> + Send + 'static>> {
        Box::pin(async move {
            let mut out = self
                .0
                .iter()
                .map(|(file, sql)| parse(file, sql))
                .collect::<Result<Vec<_>, _>>()?;
            out.sort_by_key(|m| m.version);
            Ok(out)
        })
    }
}

/// `0002_titles_and_authors.sql` is version 2, "titles and authors", as sqlx names it.
fn parse(file: &str, sql: &'static str) -> Result<Migration, BoxDynError> {
    let (version, rest) = file
        .split_once('_')
        .ok_or_else(|| format!("migration {file:?} is not named VERSION_DESCRIPTION.sql"))?;
    let version: i64 = version
        .parse()
        .map_err(|_| format!("migration {file:?} does not start with a version number"))?;
    let kind = MigrationType::from_filename(rest);
    let description = rest.trim_end_matches(kind.suffix()).replace('_', " ");
    let no_tx = sql.starts_with("-- no-transaction");
    Ok(Migration::new(
        version,
        description.into(),
        kind,
        Cow::Borrowed(sql),
        no_tx,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What sqlx itself reads from a folder, to compare with.
    async fn from_folder(dir: &str) -> Vec<Migration> {
        let path =
            std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../migrations"))
                .join(dir);
        Migrator::new(path).await.unwrap().iter().cloned().collect()
    }

    fn summary(m: &[Migration]) -> Vec<(i64, String, String, Vec<u8>, bool)> {
        m.iter()
            .map(|m| {
                (
                    m.version,
                    m.description.to_string(),
                    format!("{:?}", m.migration_type),
                    m.checksum.to_vec(),
                    m.no_tx,
                )
            })
            .collect()
    }

    #[tokio::test]
    async fn embedded_migrations_are_the_folders_as_sqlx_reads_them() {
        for (dir, embedded) in [("sqlite", SQLITE), ("postgres", POSTGRES)] {
            let ours: Vec<Migration> = embedded.migrator().await.unwrap().iter().cloned().collect();
            let theirs = from_folder(dir).await;
            assert!(!theirs.is_empty(), "no migrations found in {dir}");
            assert_eq!(summary(&ours), summary(&theirs), "migrations/{dir}");
        }
    }

    #[test]
    fn names_that_are_not_migrations_are_refused() {
        assert!(parse("initial.sql", "").is_err());
        assert!(parse("x1_initial.sql", "").is_err());
        let m = parse(
            "0007_add_index.up.sql",
            "-- no-transaction\nCREATE INDEX i ON t (c);",
        )
        .unwrap();
        assert_eq!(
            (m.version, m.description.as_ref(), m.no_tx),
            (7, "add index", true)
        );
    }
}
