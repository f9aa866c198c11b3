//! `tandem backup`: a consistent copy of a running server's database.

use std::{
    io::{BufWriter, Write},
    path::{Path, PathBuf},
};

use anyhow::{bail, Context};
use tandem_persistence::copy::{transfer, Backend, Database, DbSource, Options, PortableWriter};

use super::{progress::Progress, BackupArgs, BackupFormat};

/// A database URL fit for messages: the password of a PostgreSQL URL left out.
pub(super) fn shown(url: &str) -> String {
    match (url.split_once("://"), url.rfind('@')) {
        (Some((scheme, _)), Some(at)) => format!("{scheme}://…{}", &url[at..]),
        _ => url.to_string(),
    }
}

pub async fn backup(args: BackupArgs) -> anyhow::Result<()> {
    let url = args.db.url()?;
    let db = Database::open(&url, false)
        .await
        .with_context(|| format!("opening {}", shown(&url)))?;
    let format = match (args.format, db.backend()) {
        (BackupFormat::Auto, Backend::Sqlite) => BackupFormat::Sqlite,
        (BackupFormat::Auto, Backend::Postgres) => BackupFormat::Portable,
        (format, _) => format,
    };
    let to_stdout = args.output == Path::new("-");
    if to_stdout && format == BackupFormat::Sqlite {
        bail!("a SQLite backup is a file: give --output FILE, or --format portable for standard output");
    }
    if !to_stdout && args.output.exists() {
        bail!(
            "{} already exists: a backup never overwrites a file",
            args.output.display()
        );
    }
    // Written under another name, and renamed once complete: a file under the name asked
    // for is always a whole backup.
    let partial = PathBuf::from(format!("{}.partial", args.output.display()));
    if !to_stdout && partial.exists() {
        std::fs::remove_file(&partial)
            .with_context(|| format!("removing {} (left by an earlier run)", partial.display()))?;
    }
    let what = if format == BackupFormat::Sqlite {
        let mut db = db;
        db.vacuum_into(&partial).await?;
        db.close().await;
        "a SQLite database".to_string()
    } else {
        let out: Box<dyn Write + Send> = if to_stdout {
            Box::new(std::io::stdout())
        } else {
            Box::new(
                std::fs::File::create_new(&partial)
                    .with_context(|| format!("creating {}", partial.display()))?,
            )
        };
        let mut source = DbSource::open(db).await?;
        let header = tandem_persistence::copy::Source::header(&source).clone();
        let mut progress = Progress::new("backup", header.documents, header.bytes);
        let mut writer = PortableWriter::new(BufWriter::new(out));
        let summary = transfer(&mut source, &mut writer, &Options::default(), &mut |s| {
            progress.step(s)
        })
        .await?;
        progress.finish();
        writer
            .into_inner()
            .into_inner()
            .map_err(|e| e.into_error())?
            .flush()?;
        source.close().await?.close().await;
        format!(
            "portable, {} documents, {} rows",
            summary.documents, summary.rows
        )
    };
    if !to_stdout {
        sync(&partial)?;
        std::fs::rename(&partial, &args.output).with_context(|| {
            format!(
                "renaming {} to {}",
                partial.display(),
                args.output.display()
            )
        })?;
        eprintln!("backup written to {} ({what})", args.output.display());
    }
    Ok(())
}

/// The backup reaches the disk before it takes its name.
fn sync(path: &Path) -> anyhow::Result<()> {
    std::fs::File::open(path)?
        .sync_all()
        .with_context(|| format!("syncing {}", path.display()))
}
